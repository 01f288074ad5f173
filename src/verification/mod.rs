//! A verification from start to verdict, for either protocol:
//!
//! start (number, protocol, who) → pending[state] → the operator's URL
//! /callback (code, state) → take pending[state] → token → check → verdict
//!
//! Pending verifications are kept per `state`, single use, for ten minutes; there is no
//! process-wide "current number".

pub mod error;
pub mod store;

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use governor::{DefaultKeyedRateLimiter, Quota};

pub use error::{StateProblem, VerifyError};
use store::{Taken, TtlStore, WhenFull};

use crate::{
    config::Config,
    operators::{app_jwt::AppJwtSource, camara, mobile_connect, AuthCode},
    phone::{normalise, E164},
    protocol::Protocol,
};

pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// Live verifications at once; past this, new ones are refused (`rate_limited`).
pub const PENDING_CAP: usize = 10_000;

/// An opaque random value that ties the operator's callback to one verification.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State(String);

impl State {
    fn random() -> Self {
        Self(random_token())
    }
    pub fn from_callback(value: &str) -> Self {
        Self(value.to_owned())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 128 random bits, URL-safe.
pub fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Who started a verification, so its callback answers them the right way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The page, in the browser holding this session cookie value.
    Browser { session: String },
    /// The mobile-app JSON API (`POST /login`).
    Api,
}

#[derive(Debug, Clone)]
struct Pending {
    protocol: Protocol,
    number: E164,
    nonce: String,
    origin: Origin,
}

/// Where the browser must go next.
#[derive(Debug)]
pub struct Started {
    pub url: String,
    pub number: E164,
}

/// The operator's answer at `/callback`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The end of a verification: who started it (when known) and the verdict.
#[derive(Debug)]
pub struct Completed {
    pub origin: Option<Origin>,
    pub number: Option<E164>,
    pub result: Result<bool, VerifyError>,
}

pub struct Verifier {
    config: Arc<Config>,
    http: reqwest::Client,
    app_jwt: Option<AppJwtSource>,
    pending: TtlStore<State, Pending>,
    /// States already completed, to tell a replay from an unknown state.
    completed: TtlStore<State, ()>,
    /// Starts per client address: each start costs an operator request and a pending entry.
    start_limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl Verifier {
    pub fn new(config: Arc<Config>) -> Result<Self, String> {
        Self::with_pending_ttl(config, PENDING_TTL)
    }

    /// As `new`, with another lifetime for pending verifications (tests use a short one).
    pub fn with_pending_ttl(config: Arc<Config>, pending_ttl: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.operator_timeout.min(Duration::from_secs(5)))
            .timeout(config.operator_timeout)
            // Operator APIs answer directly; a redirect here would be a misconfiguration.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("number-verify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let app_jwt = config
            .vonage
            .as_ref()
            .map(AppJwtSource::new)
            .transpose()
            .map_err(|e| e.to_string())?;
        let per_minute = NonZeroU32::new(config.rate_limit_per_minute).unwrap_or(NonZeroU32::MIN);
        Ok(Self {
            config,
            http,
            app_jwt,
            pending: TtlStore::new(pending_ttl, PENDING_CAP),
            completed: TtlStore::new(pending_ttl, PENDING_CAP),
            start_limiter: DefaultKeyedRateLimiter::keyed(Quota::per_minute(per_minute)),
        })
    }

    /// The protocols configured, Mobile Connect first (the page's default).
    pub fn protocols(&self) -> Vec<Protocol> {
        let mut available = Vec::new();
        if self.config.mobile_connect.is_some() {
            available.push(Protocol::MobileConnect);
        }
        if self.config.vonage.is_some() {
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
        let nonce = random_token();
        let redirect_uri = self.config.redirect_uri();

        let url = match protocol {
            Protocol::MobileConnect => {
                let mc = self.mobile_connect()?;
                mobile_connect::authorize_url(mc, &redirect_uri, state.as_str(), &nonce)
            }
            Protocol::Camara => {
                let (vonage, jwt) = self.camara()?;
                camara::network_enablement(&self.http, vonage, &jwt, &number, state.as_str()).await?
            }
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

    /// Consumes the pending verification named by `state` and finishes it. A
    /// verification started on the page finishes only in the browser that started it
    /// (`browser_session`, from its cookie).
    pub async fn complete(&self, params: CallbackParams, browser_session: Option<&str>) -> Completed {
        let failed = |origin, number, error| Completed {
            origin,
            number,
            result: Err(error),
        };

        let Some(state) = params.state.as_deref().filter(|s| !s.is_empty()) else {
            return failed(None, None, VerifyError::InvalidState(StateProblem::Missing));
        };
        let state = State::from_callback(state);
        let pending = match self.pending.take(&state) {
            Taken::Found(p) => p,
            Taken::Expired => return failed(None, None, VerifyError::InvalidState(StateProblem::Expired)),
            Taken::Missing if self.completed.contains(&state) => {
                return failed(None, None, VerifyError::InvalidState(StateProblem::Replayed))
            }
            Taken::Missing => return failed(None, None, VerifyError::InvalidState(StateProblem::Unknown)),
        };
        let _ = self.completed.insert(state, (), WhenFull::EvictOldest);
        let (origin, number) = (Some(pending.origin.clone()), Some(pending.number.clone()));
        if let Origin::Browser { session } = &pending.origin {
            if browser_session != Some(session.as_str()) {
                let error = VerifyError::OtherBrowser;
                error.log();
                return failed(origin, number, error);
            }
        }

        if let Some(error) = params.error.filter(|e| !e.is_empty()) {
            return failed(
                origin,
                number,
                VerifyError::OperatorDenied {
                    error,
                    description: params.error_description,
                },
            );
        }
        let Some(code) = params.code.filter(|c| !c.is_empty()) else {
            let failure = crate::operators::OperatorFailure::Malformed {
                step: "callback",
                reason: "neither code nor error".into(),
            };
            return failed(origin, number, VerifyError::OperatorError(failure));
        };
        let code = AuthCode::new(code);

        let result = self.check(&pending, &code).await;
        match &result {
            Ok(verified) => tracing::info!(
                protocol = pending.protocol.as_str(),
                number = %pending.number,
                verified,
                "verification completed"
            ),
            Err(e) => e.log(),
        }
        Completed { origin, number, result }
    }

    async fn check(&self, pending: &Pending, code: &AuthCode) -> Result<bool, VerifyError> {
        let redirect_uri = self.config.redirect_uri();
        match pending.protocol {
            Protocol::MobileConnect => {
                let mc = self.mobile_connect()?;
                let token = mobile_connect::exchange_code(&self.http, mc, &redirect_uri, code, &pending.nonce).await?;
                Ok(mobile_connect::check_number(&self.http, mc, &token, &pending.number).await?)
            }
            Protocol::Camara => {
                let (vonage, jwt) = self.camara()?;
                let token = camara::exchange_code(&self.http, vonage, &jwt, &redirect_uri, code).await?;
                Ok(camara::verify(&self.http, vonage, &token, &pending.number).await?)
            }
        }
    }

    fn mobile_connect(&self) -> Result<&crate::config::MobileConnectConfig, VerifyError> {
        self.config
            .mobile_connect
            .as_ref()
            .ok_or(VerifyError::ProtocolUnavailable)
    }

    fn camara(&self) -> Result<(&crate::config::VonageConfig, crate::operators::AppJwt), VerifyError> {
        let vonage = self.config.vonage.as_ref().ok_or(VerifyError::ProtocolUnavailable)?;
        let source = self.app_jwt.as_ref().ok_or(VerifyError::ProtocolUnavailable)?;
        let jwt = source.current().map_err(|e| {
            VerifyError::OperatorError(crate::operators::OperatorFailure::Malformed {
                step: "Vonage application JWT",
                reason: e.to_string(),
            })
        })?;
        Ok((vonage, jwt))
    }
}
