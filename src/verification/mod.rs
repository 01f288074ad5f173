//! A verification from start to verdict, for either protocol:
//!
//! start (number, protocol, who) → pending[state] → the operator's URL
//! /callback (code, state) → take pending[state] → token → check → [`Completion`]
//!
//! Pending verifications are kept per `state`, single use, for ten minutes; there is no
//! process-wide "current number". Who may see the verdict is decided here, once.

pub mod error;
pub mod ids;
pub mod results;
pub mod store;

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota};

pub use error::{StateProblem, VerifyError};
pub use ids::{ResultId, SessionId};
use store::{Taken, TtlStore, WhenFull};

use crate::{
    config::Config,
    operators::{self, AuthCode, MobileConnectClient, Nonce, OperatorFailure, State, VonageClient},
    phone::{normalise, E164},
    protocol::Protocol,
};

pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// Live verifications at once; past this, new ones are refused (`rate_limited`).
pub const PENDING_CAP: usize = 10_000;

/// Who started a verification, so its callback answers them the right way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The page, in the browser holding this session cookie value.
    Browser { session: SessionId },
    /// The mobile-app JSON API (`POST /login`).
    Api,
}

#[derive(Debug, Clone)]
struct Pending {
    protocol: Protocol,
    number: E164,
    nonce: Nonce,
    origin: Origin,
}

/// Where the browser must go next.
#[derive(Debug)]
pub struct Started {
    pub url: String,
    pub number: E164,
}

/// The operator's answer at `/callback`.
#[derive(Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
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
    /// Nothing this request may complete or learn about.
    Unusable(StateProblem),
}

pub struct Verifier {
    mobile_connect: Option<MobileConnectClient>,
    vonage: Option<VonageClient>,
    pending: TtlStore<State, Pending>,
    /// States already completed, to tell a replay from an unknown state.
    completed: TtlStore<State, ()>,
    /// Starts per client address: each start costs an operator request and a pending entry.
    start_limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Verifier {
    pub fn new(config: &Config) -> Result<Self, String> {
        Self::with_pending_ttl(config, PENDING_TTL)
    }

    /// As `new`, with another lifetime for pending verifications (tests use a short one).
    /// Builds the operator clients: one HTTP client, each operator's endpoints once.
    pub fn with_pending_ttl(config: &Config, pending_ttl: Duration) -> Result<Self, String> {
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
        let per_minute = NonZeroU32::new(config.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            mobile_connect,
            vonage,
            pending: TtlStore::new(pending_ttl, PENDING_CAP),
            completed: TtlStore::new(pending_ttl, PENDING_CAP),
            start_limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
        })
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
    /// `client` is the address the request came from, for the per-client rate limit.
    pub async fn start(
        &self,
        typed: &str,
        protocol: Protocol,
        origin: Origin,
        client: Option<IpAddr>,
    ) -> Result<Started, VerifyError> {
        if let Some(ip) = client {
            if self.start_limiter.check_key(&ip).is_err() {
                return Err(VerifyError::RateLimited);
            }
            // Forget quiet clients now and then, so the limiter's map stays small.
            if self.start_limiter.len() > 10_000 {
                self.start_limiter.retain_recent();
            }
        }
        let number = normalise(typed).map_err(VerifyError::InvalidPhone)?;
        let state = State::random();
        let nonce = Nonce::random();

        let url = match protocol {
            Protocol::MobileConnect => self.mobile_connect()?.authorize_url(&state, &nonce),
            Protocol::Camara => self.vonage()?.network_enablement(&number, &state).await?,
        };

        let pending = Pending {
            protocol,
            number: number.clone(),
            nonce,
            origin,
        };
        self.pending
            .insert(state, pending, WhenFull::Refuse)
            .map_err(|_| VerifyError::RateLimited)?;
        tracing::info!(protocol = protocol.as_str(), number = %number, "verification started");
        Ok(Started { url, number })
    }

    /// Consumes the pending verification named by the callback's `state` and finishes
    /// it. A verification started on the page finishes only in the browser that started
    /// it (`browser`, from its session cookie); any other browser consumes it and learns
    /// nothing. Every failure is logged here, once.
    pub async fn complete(&self, params: CallbackParams, browser: Option<&SessionId>) -> Completion {
        let pending = match self.take_pending(params.state.as_deref()) {
            Ok(pending) => pending,
            Err(problem) => {
                VerifyError::InvalidState(problem).log();
                return Completion::Unusable(problem);
            }
        };
        if let Origin::Browser { session } = &pending.origin {
            if browser != Some(session) {
                VerifyError::InvalidState(StateProblem::OtherBrowser).log();
                return Completion::Unusable(StateProblem::OtherBrowser);
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
        match pending.origin {
            Origin::Api => Completion::Api(result),
            Origin::Browser { session } => Completion::Browser {
                session,
                number: pending.number,
                result,
            },
        }
    }

    /// The pending verification for `state`, at most once.
    fn take_pending(&self, state: Option<&str>) -> Result<Pending, StateProblem> {
        let state = State::new(state.filter(|s| !s.is_empty()).ok_or(StateProblem::Missing)?);
        match self.pending.take(&state) {
            Taken::Found(pending) => {
                let _ = self.completed.insert(state, (), WhenFull::EvictOldest);
                Ok(pending)
            }
            Taken::Expired => Err(StateProblem::Expired),
            Taken::Missing if self.completed.contains(&state) => Err(StateProblem::Replayed),
            Taken::Missing => Err(StateProblem::Unknown),
        }
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
