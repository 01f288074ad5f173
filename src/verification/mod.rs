//! A verification from start to verdict, for either protocol:
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
    config::Config,
    operators::{self, AuthCode, MobileConnectClient, Nonce, OperatorFailure, State, VonageClient},
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

/// A started verification, as the store keeps it until its callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    protocol: Protocol,
    number: E164,
    nonce: Nonce,
    origin: Origin,
    /// When it stops being completable, on every instance's clock.
    expires_at_ms: u64,
}

/// Where the browser must go next.
#[derive(Debug)]
pub struct Started {
    pub url: String,
    pub number: E164,
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
    /// Started by the JSON API: whoever follows the URL gets the verdict.
    Api(Result<bool, VerifyError>),
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
    /// Pending verifications, finished results, starts per client.
    store: Store,
}

impl Verifier {
    /// Builds the operator clients (one HTTP client, each operator's endpoints once) over
    /// `store`.
    pub fn new(config: &Config, store: Store) -> Result<Self, String> {
        let http = operators::http_client(config.operator_timeout)?;
        let redirect_uri = config.redirect_uri();
        let mobile_connect = config
            .mobile_connect
            .as_ref()
            .map(|mc| MobileConnectClient::new(mc, redirect_uri.clone(), http.clone()));
        let vonage = config
            .vonage
            .as_ref()
            .map(|vg| VonageClient::new(vg, redirect_uri.clone(), http.clone()))
            .transpose()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            mobile_connect,
            vonage,
            store,
        })
    }

    /// Whether the store answers (for `/healthz`).
    pub async fn health(&self) -> Result<(), StoreError> {
        self.store.health().await
    }

    /// The protocols configured, Mobile Connect first (the page's default).
    pub fn protocols(&self) -> Vec<Protocol> {
        let mut available = Vec::new();
        if self.mobile_connect.is_some() {
            available.push(Protocol::MobileConnect);
        }
        if self.vonage.is_some() {
            available.push(Protocol::Camara);
        }
        available
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
        let client = client.map(ClientKey::from);
        if let Some(key) = client {
            if !self.store.allow_start(key).await? {
                return Err(VerifyError::RateLimited);
            }
        }
        let number = normalise(typed).map_err(VerifyError::InvalidPhone)?;
        match protocol {
            Protocol::MobileConnect => self.mobile_connect().map(|_| ())?,
            Protocol::Camara => self.vonage().map(|_| ())?,
        }
        let state = State::random();
        let nonce = Nonce::random();
        let pending = Pending {
            protocol,
            number: number.clone(),
            nonce: nonce.clone(),
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

        let url = match protocol {
            Protocol::MobileConnect => self.mobile_connect()?.authorize_url(&state, &nonce),
            Protocol::Camara => match self.vonage()?.network_enablement(&number, &state).await {
                Ok(url) => url,
                Err(failure) => {
                    if let Err(e) = self.store.release_pending(&state, client).await {
                        tracing::warn!(error = %e, "a failed start's slot stays held until it expires");
                    }
                    return Err(failure.into());
                }
            },
        };
        tracing::info!(protocol = protocol.as_str(), number = %number, "verification started");
        Ok(Started { url, number })
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
        match &result {
            Ok(verified) => tracing::info!(
                protocol = pending.protocol.as_str(),
                number = %pending.number,
                verified,
                "verification completed"
            ),
            Err(e) => e.log(),
        }
        let completion = match pending.origin {
            Origin::Api => Completion::Api(result),
            Origin::Browser { session } => Completion::Browser {
                session,
                number: pending.number,
                result,
            },
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
    async fn finish(&self, pending: &Pending, params: CallbackParams) -> Result<bool, VerifyError> {
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
        match pending.protocol {
            Protocol::MobileConnect => {
                let mc = self.mobile_connect()?;
                let token = mc.exchange_code(&code, &pending.nonce).await?;
                Ok(mc.check_number(&token, &pending.number).await?)
            }
            Protocol::Camara => {
                let vonage = self.vonage()?;
                let token = vonage.exchange_code(&code).await?;
                Ok(vonage.verify(&token, &pending.number).await?)
            }
        }
    }

    fn mobile_connect(&self) -> Result<&MobileConnectClient, VerifyError> {
        self.mobile_connect.as_ref().ok_or(VerifyError::ProtocolUnavailable)
    }

    fn vonage(&self) -> Result<&VonageClient, VerifyError> {
        self.vonage.as_ref().ok_or(VerifyError::ProtocolUnavailable)
    }
}

#[cfg(test)]
mod tests;
