//! A verification from start to verdict, for any protocol:
//!
//! start (number, protocol, who) → pending[state] → the operator's URL
//! /callback (code, state) → take pending[state] → token → check → [`Completion`]
//!
//! Pending verifications are kept per `state`, single use, for ten minutes, in the
//! [`store`] (this process's memory, or Redis shared by every instance); there is no
//! process-wide "current number". Who may see the verdict is decided here, once.

pub mod callback_query;
pub mod error;
pub mod ids;
pub mod store;

use std::{net::IpAddr, time::Duration};

use serde::{Deserialize, Serialize};

pub use error::{PageError, StateProblem, VerifyError};
pub use ids::{ResultId, SessionId};
use store::{now_ms, ClientKey, Store, StoreError, StoredResult, Taken};

use crate::{
    config::{CamaraProfile, Config},
    operators::{
        self,
        camara::{CodeVerifier, Correlator, Purpose},
        AuthCode, CamaraClient, MobileConnectClient, Nonce, OperatorFailure, State, VonageClient,
    },
    outcome::Outcome,
    phone::{normalise, E164},
    protocol::Protocol,
};

pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
pub const RESULT_TTL: Duration = Duration::from_secs(10 * 60);

/// Who started a verification, so its callback answers them the right way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// The page, in the browser holding this session cookie value.
    Browser { session: SessionId },
    /// The mobile-app JSON API (`POST /login`).
    Api,
}

/// What a flow asks the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wanted {
    /// Is the device on this number?
    Verify(E164),
    /// Which number is the device on? (standard CAMARA, API only)
    Share,
}

/// What the operator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Whether the device is on the number asked about.
    Verified(bool),
    /// The number of the device's SIM.
    Shared(E164),
}

/// A started verification, as the store keeps it until its callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredPending")]
pub struct Pending {
    /// The protocol the flow runs ("camara" already resolved to its profile).
    protocol: Protocol,
    wanted: Wanted,
    nonce: Nonce,
    /// Standard CAMARA: the PKCE verifier of this flow's authorization.
    #[serde(default)]
    pkce: Option<CodeVerifier>,
    /// In this verification's log lines, and sent to the operator as `x-correlator`.
    correlator: Correlator,
    origin: Origin,
    /// When it stops being completable, on every instance's clock.
    expires_at_ms: u64,
}

/// A pending verification as stored, by this version or by the one before it (which kept
/// `number` and had no `wanted` or `correlator`): during a rolling upgrade on one Redis,
/// a flow started on an old instance still completes on a new one.
#[derive(Deserialize)]
struct StoredPending {
    protocol: Protocol,
    #[serde(default)]
    wanted: Option<Wanted>,
    #[serde(default)]
    number: Option<E164>,
    nonce: Nonce,
    #[serde(default)]
    pkce: Option<CodeVerifier>,
    #[serde(default)]
    correlator: Option<Correlator>,
    origin: Origin,
    expires_at_ms: u64,
}

impl TryFrom<StoredPending> for Pending {
    type Error = &'static str;

    fn try_from(stored: StoredPending) -> Result<Self, Self::Error> {
        let wanted = match (stored.wanted, stored.number) {
            (Some(wanted), _) => wanted,
            (None, Some(number)) => Wanted::Verify(number),
            (None, None) => return Err("a pending verification with neither wanted nor number"),
        };
        Ok(Pending {
            protocol: stored.protocol,
            wanted,
            nonce: stored.nonce,
            pkce: stored.pkce,
            correlator: stored.correlator.unwrap_or_else(Correlator::random),
            origin: stored.origin,
            expires_at_ms: stored.expires_at_ms,
        })
    }
}

/// Where the browser must go next.
#[derive(Debug)]
pub struct Started {
    pub url: String,
}

/// The operator's answer at `/callback` (read by [`callback_query::parse`]).
#[derive(Default, PartialEq, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Which parameters are there, never their values (the code and state are secrets).
impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("code", &self.code.as_ref().map(|_| "…"))
            .field("state", &self.state.as_ref().map(|_| "…"))
            .field("error", &self.error)
            .field("error_description", &self.error_description.as_ref().map(|_| "…"))
            .finish()
    }
}

/// How a callback ends, for whoever is asking.
#[derive(Debug)]
pub enum Completion {
    /// Started by the JSON API: whoever follows the URL gets the answer.
    Api(Result<Answer, VerifyError>),
    /// Started on the page, in the browser that is asking now.
    Browser {
        session: SessionId,
        number: E164,
        result: Result<bool, VerifyError>,
    },
    /// Nothing this request may complete or learn about (or the store did not answer).
    Unusable(PageError),
}

pub struct Verifier {
    mobile_connect: Option<MobileConnectClient>,
    vonage: Option<VonageClient>,
    camara_standard: Option<CamaraClient>,
    /// What "camara" means.
    camara_profile: CamaraProfile,
    /// Pending verifications, finished results, starts per client.
    store: Store,
}

impl Verifier {
    /// Builds the operator clients (one HTTP client, each operator's endpoints once) over
    /// `store`.
    pub fn new(config: &Config, store: Store) -> Result<Self, reqwest::Error> {
        let http = operators::http_client(config.operator_timeout)?;
        let redirect_uri = config.redirect_uri();
        let mobile_connect = config
            .mobile_connect
            .as_ref()
            .map(|mc| MobileConnectClient::new(mc, redirect_uri.clone(), http.clone()));
        let vonage = config
            .vonage
            .as_ref()
            .map(|vg| VonageClient::new(vg, redirect_uri.clone(), http.clone()));
        let camara_standard = config
            .camara_standard
            .as_ref()
            .map(|c| CamaraClient::new(c, redirect_uri.clone(), http.clone()));
        Ok(Self {
            mobile_connect,
            vonage,
            camara_standard,
            camara_profile: config.camara_profile,
            store,
        })
    }

    /// Reads the standard CAMARA operator's discovery document, as start-up must: a
    /// failure names `CAMARA_ISSUER`. The virtual operator mounted in this process is
    /// read at its first use instead (it answers only once the server listens).
    pub async fn discover_at_start_up(&self, config: &Config) -> Result<(), (String, OperatorFailure)> {
        let (Some(client), Some(standard)) = (&self.camara_standard, &config.camara_standard) else {
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
    /// [`operators::camara::DISCOVERY_REFRESH`], for as long as `verifier` lives. A
    /// failed refresh keeps the previous document (and says so).
    pub fn refresh_discovery(verifier: &std::sync::Arc<Self>) {
        Self::refresh_discovery_every(verifier, operators::camara::DISCOVERY_REFRESH);
    }

    fn refresh_discovery_every(verifier: &std::sync::Arc<Self>, period: Duration) {
        if verifier.camara_standard.is_none() {
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
                if let Some(client) = &verifier.camara_standard {
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
        if self.mobile_connect.is_some() {
            available.push(Protocol::MobileConnect);
        }
        if self.supports(Protocol::Camara) {
            available.push(Protocol::Camara);
        }
        if self.camara_standard.is_some() && self.camara_profile != CamaraProfile::Standard {
            available.push(Protocol::CamaraStandard);
        }
        available
    }

    /// The protocol a request for `protocol` runs: "camara" is the configured profile.
    fn resolve(&self, protocol: Protocol) -> Protocol {
        self.camara_profile.resolve(protocol)
    }

    fn supports(&self, protocol: Protocol) -> bool {
        match self.resolve(protocol) {
            Protocol::MobileConnect => self.mobile_connect.is_some(),
            Protocol::Camara => self.vonage.is_some(),
            Protocol::CamaraStandard => self.camara_standard.is_some(),
        }
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
        protocol: Protocol,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<Started, VerifyError> {
        self.begin(Some(typed), protocol, origin, client).await
    }

    /// Starts a flow that asks the operator for the device's number (`"purpose":
    /// "share"`, the API only): standard CAMARA's `device-phone-number`.
    pub async fn start_share(&self, protocol: Protocol, client: Option<IpAddr>) -> Result<Started, VerifyError> {
        self.begin(None, protocol, Origin::Api, client).await
    }

    /// `typed`: the number to verify, or `None` to share the device's.
    async fn begin(
        &self,
        typed: Option<&str>,
        protocol: Protocol,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<Started, VerifyError> {
        let client = client.map(ClientKey::from);
        if let Some(key) = client {
            if !self.store.allow_start(key).await? {
                return Err(VerifyError::RateLimited);
            }
        }
        let wanted = match typed {
            Some(typed) => Wanted::Verify(normalise(typed).map_err(VerifyError::InvalidPhone)?),
            None => Wanted::Share,
        };
        let protocol = self.resolve(protocol);
        if !self.supports(protocol) {
            return Err(VerifyError::ProtocolUnavailable);
        }
        if wanted == Wanted::Share && protocol != Protocol::CamaraStandard {
            return Err(VerifyError::ShareUnsupported);
        }
        let state = State::random();
        let nonce = Nonce::random();
        let pkce = (protocol == Protocol::CamaraStandard).then(CodeVerifier::random);
        let correlator = Correlator::random();
        let pending = Pending {
            protocol,
            wanted: wanted.clone(),
            nonce: nonce.clone(),
            pkce: pkce.clone(),
            correlator: correlator.clone(),
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
                return Err(StoreError::Full.into());
            }
            Err(e) => return Err(e.into()),
        }

        let number = match &wanted {
            Wanted::Verify(number) => Some(number),
            Wanted::Share => None,
        };
        let url = match (protocol, number, &pkce) {
            (Protocol::MobileConnect, _, _) => Ok(self.mobile_connect()?.authorize_url(&state, &nonce)),
            (Protocol::Camara, Some(number), _) => self.vonage()?.network_enablement(number, &state).await,
            (Protocol::CamaraStandard, _, Some(verifier)) => {
                let purpose = if number.is_some() {
                    Purpose::Verify
                } else {
                    Purpose::Share
                };
                self.camara_standard()?
                    .authorize_url(purpose, number, &state, &nonce, verifier)
                    .await
            }
            // Refused above: a share is standard CAMARA's, which always has a verifier.
            (Protocol::Camara, None, _) | (Protocol::CamaraStandard, _, None) => Err(OperatorFailure::Refused {
                step: "start",
                reason: "this protocol cannot run this flow".into(),
            }),
        };
        let url = match url {
            Ok(url) => url,
            Err(failure) => {
                if let Err(e) = self.store.release_pending(&state, client).await {
                    tracing::warn!(error = %e, "a failed start's slot stays held until it expires");
                }
                return Err(failure.into());
            }
        };
        match number {
            Some(number) => tracing::info!(
                protocol = protocol.as_str(),
                number = %number,
                correlator = correlator.secret(),
                "verification started"
            ),
            None => tracing::info!(
                protocol = protocol.as_str(),
                correlator = correlator.secret(),
                "number share started"
            ),
        }
        Ok(Started { url })
    }

    /// Consumes the pending verification named by the callback's `state` and finishes
    /// it. A verification started on the page finishes only in the browser that started
    /// it (`browser`, from its session cookie); any other browser consumes it and learns
    /// nothing. Every failure is logged here, once.
    pub async fn complete(&self, params: CallbackParams, browser: Option<&SessionId>) -> Completion {
        self.complete_with_protocol(params, browser).await.1
    }

    /// [`Verifier::complete`], and the protocol of the verification it completed (`None`
    /// when nothing was completed): the callback marks a result as a test result by how
    /// the configuration backs that protocol, never by anything the request carries.
    pub async fn complete_with_protocol(
        &self,
        params: CallbackParams,
        browser: Option<&SessionId>,
    ) -> (Option<Protocol>, Completion) {
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
        if let Origin::Browser { session } = &pending.origin {
            if browser != Some(session) {
                VerifyError::InvalidState(StateProblem::OtherBrowser).log();
                return (None, Completion::Unusable(PageError::State(StateProblem::OtherBrowser)));
            }
        }

        let result = self.finish(&pending, params).await;
        let correlator = pending.correlator.secret();
        match (&result, &pending.wanted) {
            (Ok(Answer::Verified(verified)), Wanted::Verify(number)) => tracing::info!(
                protocol = pending.protocol.as_str(),
                number = %number,
                verified,
                correlator,
                "verification completed"
            ),
            (Ok(_), _) => tracing::info!(protocol = pending.protocol.as_str(), correlator, "number shared"),
            (Err(e), _) => {
                // The failure's own line, with what the operator's support needs to find it.
                let _span =
                    tracing::info_span!("verification", protocol = pending.protocol.as_str(), correlator).entered();
                e.log()
            }
        }
        let completion = match (pending.origin, pending.wanted) {
            (Origin::Api, _) => Completion::Api(result),
            (Origin::Browser { session }, Wanted::Verify(number)) => Completion::Browser {
                session,
                number,
                result: result.map(|answer| matches!(answer, Answer::Verified(true))),
            },
            // The page never starts a share.
            (Origin::Browser { .. }, Wanted::Share) => Completion::Unusable(PageError::State(StateProblem::Unknown)),
        };
        (Some(pending.protocol), completion)
    }

    /// The pending verification for `state`, at most once across every instance.
    async fn take_pending(&self, state: Option<&str>) -> Result<Pending, VerifyError> {
        let Some(state) = state.filter(|s| !s.is_empty()) else {
            return Err(VerifyError::InvalidState(StateProblem::Missing));
        };
        match self.store.take_pending(&State::new(state)).await? {
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
        let code = AuthCode::new(code);
        match (pending.protocol, &pending.wanted) {
            (Protocol::MobileConnect, Wanted::Verify(number)) => {
                let mc = self.mobile_connect()?;
                let token = mc.exchange_code(&code, &pending.nonce).await?;
                Ok(Answer::Verified(mc.check_number(&token, number).await?))
            }
            (Protocol::Camara, Wanted::Verify(number)) => {
                let vonage = self.vonage()?;
                let token = vonage.exchange_code(&code).await?;
                Ok(Answer::Verified(vonage.verify(&token, number).await?))
            }
            (Protocol::CamaraStandard, wanted) => {
                let camara = self.camara_standard()?;
                let verifier = pending.pkce.as_ref().ok_or_else(|| {
                    VerifyError::OperatorError(OperatorFailure::Malformed {
                        step: "callback",
                        reason: "a standard CAMARA flow without its PKCE verifier".into(),
                    })
                })?;
                let token = camara.exchange_code(&code, verifier, &pending.nonce).await?;
                match wanted {
                    Wanted::Verify(number) => Ok(Answer::Verified(
                        camara.verify(&token, number, &pending.correlator).await?,
                    )),
                    Wanted::Share => Ok(Answer::Shared(
                        camara.device_phone_number(&token, &pending.correlator).await?,
                    )),
                }
            }
            (_, Wanted::Share) => Err(VerifyError::ShareUnsupported),
        }
    }

    fn mobile_connect(&self) -> Result<&MobileConnectClient, VerifyError> {
        self.mobile_connect.as_ref().ok_or(VerifyError::ProtocolUnavailable)
    }

    fn vonage(&self) -> Result<&VonageClient, VerifyError> {
        self.vonage.as_ref().ok_or(VerifyError::ProtocolUnavailable)
    }

    fn camara_standard(&self) -> Result<&CamaraClient, VerifyError> {
        self.camara_standard.as_ref().ok_or(VerifyError::ProtocolUnavailable)
    }
}

#[cfg(test)]
mod tests;
