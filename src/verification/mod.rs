//! A verification from start to verdict, for any operator:
//!
//! start (number, operator, who) → pending[state] → the operator's URL
//! /callback (code, state) → take pending[state] → token → check → [`Completion`]
//!
//! Pending verifications are kept per `state`, single use, for ten minutes, in the
//! [`store`] (this process's memory, or Redis shared by every instance); there is no
//! process-wide "current number". Who may see the verdict is decided here, once.

pub mod callback_query;
mod clients;
pub mod code;
pub mod code_channel;
mod completion;
pub mod credential;
pub mod error;
mod flow;
pub mod handoff;
pub mod ids;
mod journal;
pub mod notices;
mod origin;
pub mod reason;
pub mod relying;
pub mod store;

use std::{net::IpAddr, time::Duration};

use clients::Clients;
pub use code_channel::{CodeRefusal, CodeSent, CodeWait, Fallback};
pub use completion::{Answer, CallbackParams, Completion, StartFailure, StartedVerification};
pub use error::{PageError, Refusal, StateProblem, VerifyError};
pub use flow::{Flow, Pending, Wanted};
pub use handoff::{HandoffProblem, HandoffRefusal, HandoffSecret, WatchId};
pub use ids::{ResultId, SessionId};
pub use origin::Origin;
pub use relying::{CodeChallenge, RelyingPartyRequest, RpNonce, RpState};
use store::{now_ms, Budget, ClientKey, Store, StoreError, StoredResult, Taken};

use crate::{
    config::Config,
    operators::{
        camara::{Correlator, DISCOVERY_REFRESH},
        AuthCode, Nonce, OAuthState, OperatorFailure,
    },
    outcome::Outcome,
    phone::normalise,
    protocol::{Operator, Protocol},
};

pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
pub const RESULT_TTL: Duration = Duration::from_secs(10 * 60);

pub struct Verifier {
    clients: Clients,
    /// What "camara" runs here (`CAMARA_PROFILE`).
    camara: Operator,
    /// The operators whose answers are test results.
    virtual_operators: Vec<Operator>,
    /// Pending verifications, finished results, starts per client.
    store: Store,
    /// Wakes the desktops' live streams when their handoffs change.
    pub notices: notices::Notices,
    /// Where starts and ends are told (metrics, signed events).
    journal: journal::Journal,
    /// The last resort, a one-time code by SMS, when configured.
    code: Option<code_channel::CodeChannel>,
}

impl Verifier {
    /// Builds the operator clients (one HTTP client, each operator's endpoints once) over
    /// `store`.
    pub fn new(config: &Config, store: Store) -> Result<Self, reqwest::Error> {
        let camara = config.camara_profile.operator();
        let virtual_operators = Operator::ALL
            .into_iter()
            .filter(|&operator| config.sandbox_backed(operator))
            .collect();
        let clients = Clients::new(config)?;
        let code = config
            .sms
            .as_ref()
            .map(|sms| code_channel::CodeChannel::new(sms, &config.public_url, clients.http.clone()));
        Ok(Self {
            code,
            clients,
            camara,
            virtual_operators,
            notices: notices::Notices::new(&store),
            store,
            journal: journal::Journal {
                metrics: std::sync::Arc::new(crate::metrics::Metrics::new()),
                events: None,
            },
        })
    }

    /// Counts this verifier's flows in `metrics` (the app's, which `METRICS_ADDR` shows).
    pub fn with_metrics(mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.journal.metrics = metrics;
        self
    }

    /// Tells every start and end to the integrator's backend as signed events.
    pub fn with_events(mut self, events: Option<std::sync::Arc<crate::events::Events>>) -> Self {
        self.journal.events = events;
        self
    }

    /// Runs `work` (calls to `operator`) with its operator calls timed in the metrics.
    async fn timed<F: std::future::Future>(&self, operator: Operator, work: F) -> F::Output {
        crate::metrics::attributed(&self.journal.metrics, crate::metrics::operator_label(operator), work).await
    }

    /// Reads the standard CAMARA operator's discovery document, as start-up must: a
    /// failure names `CAMARA_ISSUER`. The virtual operator mounted in this process is
    /// read at its first use instead (it answers only once the server listens).
    pub async fn discover_at_start_up(&self, config: &Config) -> Result<(), (String, OperatorFailure)> {
        let (Some(client), Some(standard)) = (&self.clients.camara_standard, &config.camara_standard) else {
            return Ok(());
        };
        if standard.issuer_in_process {
            return Ok(());
        }
        client
            .discover()
            .await
            .map_err(|failure| (client.issuer().to_string(), failure))
    }

    /// Reads the standard CAMARA operator's discovery document again every
    /// [`DISCOVERY_REFRESH`], for as long as `verifier` lives. A failed refresh keeps the
    /// previous document (and says so).
    pub fn refresh_discovery(verifier: &std::sync::Arc<Self>) {
        Self::refresh_discovery_every(verifier, DISCOVERY_REFRESH);
    }

    fn refresh_discovery_every(verifier: &std::sync::Arc<Self>, period: Duration) {
        if verifier.clients.camara_standard.is_none() {
            return;
        }
        let weak = std::sync::Arc::downgrade(verifier);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period);
            // The first tick is now: start-up (or the first use) has just read it.
            every.tick().await;
            loop {
                every.tick().await;
                let Some(verifier) = weak.upgrade() else { return };
                if let Some(client) = &verifier.clients.camara_standard {
                    if let Err(failure) = client.discover().await {
                        tracing::warn!(%failure, "CAMARA discovery refresh failed; keeping the previous document");
                    }
                }
            }
        });
    }

    /// Whether the store answers (for `/healthz`).
    pub async fn health(&self) -> Result<(), StoreError> {
        self.store.health().await
    }

    /// The choices to offer, Mobile Connect first (the page's default): "CAMARA" when its
    /// profile is configured, and "CAMARA (standard)" too when that is another operator.
    pub fn protocols(&self) -> Vec<Protocol> {
        let mut available = Vec::new();
        if self.clients.offers(Operator::MobileConnect) {
            available.push(Protocol::MobileConnect);
        }
        if self.clients.offers(self.camara) {
            available.push(Protocol::Camara);
        }
        if self.clients.offers(Operator::CamaraStandard) && self.camara != Operator::CamaraStandard {
            available.push(Protocol::CamaraStandard);
        }
        available
    }

    /// The operator a request for `protocol` runs ("camara" is the configured profile),
    /// if it is configured here: where a request is read, once.
    pub fn operator_for(&self, protocol: Protocol) -> Result<Operator, VerifyError> {
        let operator = match protocol {
            Protocol::MobileConnect => Operator::MobileConnect,
            Protocol::Camara => self.camara,
            Protocol::CamaraStandard => Operator::CamaraStandard,
        };
        if self.clients.offers(operator) {
            Ok(operator)
        } else {
            Err(VerifyError::ProtocolUnavailable)
        }
    }

    /// Whether `operator`'s answers are test results from the virtual operator, by how
    /// the configuration backs it — never by anything a request carries.
    pub fn sandbox_backed(&self, operator: Operator) -> bool {
        self.virtual_operators.contains(&operator)
    }

    /// Normalises the number, records the pending verification and returns the URL the
    /// device must visit top-level.
    /// `client` is the address the request came from: its IPv4 address or IPv6 /64 is
    /// rate limited and holds at most `max_pending_per_client` verifications in flight —
    /// a start past that drops the client's oldest (see [`store`]), never this one.
    /// The pending record is written before any operator call, so a start the store
    /// refuses costs the operator nothing; if the operator call then fails, it is
    /// released.
    pub async fn start(
        &self,
        typed: &str,
        operator: Operator,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, VerifyError> {
        self.charge(&origin, client).await?;
        self.begin(Some(typed), operator, origin, client).await
    }

    /// Spends one start from `client`'s budget for starts from `origin` (`rate_limited`
    /// once it is spent). Called where a request is read, before anything else is looked
    /// at: a start refused for any reason costs as much as one accepted.
    pub async fn charge(&self, origin: &Origin, client: Option<IpAddr>) -> Result<(), VerifyError> {
        let budget = match origin {
            Origin::Browser { .. } | Origin::RelyingParty { .. } | Origin::Handoff { .. } => Budget::Page,
            Origin::Api | Origin::ApiFor { .. } => Budget::Api,
        };
        if let Some(key) = client.map(ClientKey::from) {
            if !self.store.allow_start(key, budget).await? {
                return Err(VerifyError::RateLimited);
            }
        }
        Ok(())
    }

    /// [`Verifier::start`] once [`Verifier::charge`] has been paid for this request.
    pub async fn start_charged(
        &self,
        typed: &str,
        operator: Operator,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, VerifyError> {
        self.begin(Some(typed), operator, origin, client).await
    }

    /// [`Verifier::start_charged`], and when the operator failed the start, the one-time
    /// code that may still verify the number.
    pub async fn start_charged_or_offer(
        &self,
        typed: &str,
        operator: Operator,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, StartFailure> {
        self.begin_or_offer(Some(typed), operator, origin, client).await
    }

    /// Starts a flow that asks the operator for the device's number (`"purpose":
    /// "share"`, the API only): standard CAMARA's `device-phone-number`.
    pub async fn start_share(
        &self,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, VerifyError> {
        self.charge(&Origin::Api, client).await?;
        self.begin(None, operator, Origin::Api, client).await
    }

    /// [`Verifier::start_share`] once [`Verifier::charge`] has been paid for this
    /// request, for `origin` (the API, or a relying party's hosted page).
    pub async fn start_share_charged(
        &self,
        operator: Operator,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, VerifyError> {
        self.begin(None, operator, origin, client).await
    }

    async fn begin(
        &self,
        typed: Option<&str>,
        operator: Operator,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, VerifyError> {
        self.begin_or_offer(typed, operator, origin, client)
            .await
            .map_err(|failure| failure.error)
    }

    /// `typed`: the number to verify, or `None` to share the device's.
    async fn begin_or_offer(
        &self,
        typed: Option<&str>,
        operator: Operator,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, StartFailure> {
        // An API flow's slot is its address's; a page flow's is its browser session's, so
        // that others behind the same address (carrier NAT) cannot push it out.
        let client = match &origin {
            Origin::Browser { session } | Origin::RelyingParty { session, .. } | Origin::Handoff { session, .. } => {
                Some(ClientKey::session(session))
            }
            Origin::Api | Origin::ApiFor { .. } => client.map(ClientKey::from),
        };
        let wanted = match typed {
            Some(typed) => Wanted::Verify(normalise(typed).map_err(VerifyError::InvalidPhone)?),
            None => Wanted::Share,
        };
        if !self.clients.offers(operator) {
            return Err(VerifyError::ProtocolUnavailable.into());
        }
        let state = OAuthState::random();
        let pending = Pending {
            flow: Flow::new(operator, wanted)?,
            nonce: Nonce::random(),
            correlator: Correlator::random(),
            origin,
            expires_at_ms: now_ms() + self.store.settings().pending_ttl.as_millis() as u64,
        };
        match self.store.put_pending(&state, &pending, client).await {
            Ok(0) => {}
            // Not the client's address: logs carry no addresses.
            Ok(dropped) => tracing::info!(dropped, "a client past its verifications in flight: its oldest dropped"),
            Err(StoreError::Full) => {
                let max = self.store.settings().max_pending;
                tracing::warn!(max, "verification refused: MAX_PENDING verifications in flight");
                return Err(VerifyError::from(StoreError::Full).into());
            }
            Err(e) => return Err(e.into()),
        }

        let entry = journal::Entry {
            operator,
            channel: crate::metrics::Channel::Network,
            id: pending.correlator.secret(),
            client_ref: pending.origin.client_ref(),
            started_at_ms: Some(now_ms()),
        };
        self.journal.started(&entry, pending.expires_at_ms).await;
        let authorized = self
            .timed(operator, self.clients.authorize(&pending.flow, &state, &pending.nonce))
            .await;
        let url = match authorized {
            Ok(url) => url,
            Err(e) => {
                self.journal
                    .ended(&entry, Err(&e), crate::outcome::Proof::NetworkRedirect.amr())
                    .await;
                if let Err(e) = self.store.release_pending(&state, client).await {
                    tracing::warn!(error = %e, "a failed start's slot stays held until it expires");
                }
                let fallback = match pending.flow.number() {
                    Some(number) => {
                        self.offer_code(&e, number, &pending.origin, &pending.correlator, operator)
                            .await
                    }
                    None => None,
                };
                return Err(StartFailure { error: e, fallback });
            }
        };
        let protocol = operator.protocol().as_str();
        let correlator = pending.correlator.secret();
        match pending.flow.number() {
            Some(number) => tracing::info!(protocol, number = %number, correlator, "verification started"),
            None => tracing::info!(protocol, correlator, "number share started"),
        }
        Ok(StartedVerification { url })
    }

    /// Consumes the pending verification named by the callback's `state` and finishes
    /// it. A verification started on the page finishes only in the browser that started
    /// it (`browser`, from its session cookie); any other browser consumes it and learns
    /// nothing. Every failure is logged here, once.
    pub async fn complete(&self, params: CallbackParams, browser: Option<&SessionId>) -> Completion {
        self.complete_with_operator(params, browser).await.1
    }

    /// [`Verifier::complete`], and the operator of the verification it completed (`None`
    /// when nothing was completed): the callback marks a result as a test result by
    /// [`Verifier::sandbox_backed`], never by anything the request carries.
    pub async fn complete_with_operator(
        &self,
        params: CallbackParams,
        browser: Option<&SessionId>,
    ) -> (Option<Operator>, Completion) {
        let pending = match self.take_pending(params.state.as_deref()).await {
            Ok(pending) => pending,
            Err(e) => {
                e.log();
                let error = match e {
                    VerifyError::InvalidState(problem) => PageError::State(problem),
                    _ => PageError::StoreUnavailable,
                };
                return (None, Completion::Unusable(error));
            }
        };
        if let Some(session) = pending.origin.session() {
            if browser != Some(session) {
                VerifyError::InvalidState(StateProblem::OtherBrowser).log();
                return (None, Completion::Unusable(PageError::State(StateProblem::OtherBrowser)));
            }
        }

        let operator = pending.flow.operator();
        let result = self.timed(operator, self.finish(&pending, params)).await;
        let started_at_ms = pending
            .expires_at_ms
            .checked_sub(self.store.settings().pending_ttl.as_millis() as u64);
        let entry = journal::Entry {
            operator,
            channel: crate::metrics::Channel::Network,
            id: pending.correlator.secret(),
            client_ref: pending.origin.client_ref(),
            started_at_ms,
        };
        self.journal
            .ended(&entry, result.as_ref(), crate::outcome::Proof::NetworkRedirect.amr())
            .await;
        let protocol = operator.protocol().as_str();
        let correlator = pending.correlator.secret();
        let number = pending.flow.number();
        match (&result, number) {
            (Ok(Answer::Verified(verified)), Some(number)) => tracing::info!(
                protocol,
                number = %number,
                verified,
                correlator,
                "verification completed"
            ),
            (Ok(_), _) => tracing::info!(protocol, correlator, "number shared"),
            (Err(e), _) => {
                // The failure's own line, with what the operator's support needs to find it.
                let reason = reason::Reason::of(e).map_or("none", reason::Reason::code);
                let _span = tracing::info_span!("verification", protocol, correlator, reason).entered();
                e.log()
            }
        }
        let asked = number.cloned();
        let fallback = match (&result, number) {
            (Err(error), Some(number)) => {
                self.offer_code(error, number, &pending.origin, &pending.correlator, operator)
                    .await
            }
            _ => None,
        };
        let completion = match (pending.origin, number) {
            (Origin::Api, _) => Completion::Api {
                result,
                asked,
                correlator: pending.correlator,
                audience: None,
                fallback,
            },
            (Origin::ApiFor { audience }, _) => Completion::Api {
                result,
                asked,
                correlator: pending.correlator,
                audience: Some(audience),
                fallback,
            },
            (Origin::RelyingParty { request, .. }, _) => Completion::RelyingParty {
                request: *request,
                result,
                asked,
                correlator: pending.correlator,
                fallback,
            },
            (Origin::Browser { session }, Some(number)) => Completion::Browser {
                session,
                number: number.clone(),
                result: result.map(|answer| matches!(answer, Answer::Verified(true))),
                fallback,
            },
            (Origin::Handoff { watch, .. }, Some(number)) => Completion::Handoff {
                watch,
                number: number.clone(),
                result: result.map(|answer| matches!(answer, Answer::Verified(true))),
            },
            // The page never starts a share.
            (Origin::Browser { .. } | Origin::Handoff { .. }, None) => {
                Completion::Unusable(PageError::State(StateProblem::Unknown))
            }
        };
        (Some(operator), completion)
    }

    /// The pending verification for `state`, at most once across every instance.
    async fn take_pending(&self, state: Option<&str>) -> Result<Pending, VerifyError> {
        let Some(state) = state.filter(|s| !s.is_empty()) else {
            return Err(VerifyError::InvalidState(StateProblem::Missing));
        };
        match self.store.take_pending(&OAuthState::new(state)).await? {
            Taken::Found(pending) => Ok(pending),
            Taken::Expired => Err(VerifyError::InvalidState(StateProblem::Expired)),
            Taken::Replayed => Err(VerifyError::InvalidState(StateProblem::Replayed)),
            Taken::Missing => Err(VerifyError::InvalidState(StateProblem::Unknown)),
        }
    }

    /// Keeps a finished verification for the page of the browser that started it.
    pub async fn keep_result(&self, owner: &SessionId, outcome: Outcome) -> Result<ResultId, VerifyError> {
        let id = ResultId::random();
        let result = StoredResult {
            owner: owner.clone(),
            outcome,
        };
        self.store.put_result(&id, &result).await?;
        Ok(id)
    }

    /// A finished verification, if it exists, is fresh and belongs to `reader`.
    pub async fn result_for(&self, id: &ResultId, reader: Option<&SessionId>) -> Result<Option<Outcome>, VerifyError> {
        let found = self.store.get_result(id).await?;
        Ok(found.filter(|r| Some(&r.owner) == reader).map(|r| r.outcome))
    }

    /// The operator's answer → the verdict: its error, or code → token → check.
    async fn finish(&self, pending: &Pending, params: CallbackParams) -> Result<Answer, VerifyError> {
        if let Some(error) = params.error.filter(|e| !e.is_empty()) {
            return Err(VerifyError::OperatorDenied {
                error,
                description: params.error_description,
            });
        }
        let code = params.code.filter(|c| !c.is_empty()).ok_or_else(|| {
            VerifyError::OperatorError(OperatorFailure::Malformed {
                step: "callback",
                reason: "neither code nor error".into(),
            })
        })?;
        self.clients.answer(pending, &AuthCode::new(code)).await
    }
}

#[cfg(test)]
mod tests;
