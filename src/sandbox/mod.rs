//! The virtual operator: Mobile Connect (device-initiated), CAMARA through Vonage,
//! standard CAMARA NumberVerification v2.1 (with the CAMARA ICM security profile) and
//! TS.43 phone-number credentials (an aggregator, a virtual wallet, the JWT-bearer grant)
//! over real HTTP, with documented sandbox semantics (docs/reference.md §2 and §5).
//!
//! A separate system: the app reaches it over HTTP only, through the same client and
//! code path as a live operator, and this module knows nothing of the app (it uses only
//! [`crate::phone`], [`crate::sandbox_contract`] and [`crate::support`]).
//! [`Sandbox::router`] gives an axum router with paths relative to its mount point (the
//! app nests it at `/sandbox`); its routes are listed in docs/virtual-operator.md.
//!
//! It also stands in for an SMS gateway (Vonage's SMS API, with an inbox to read what
//! it "delivered": `sms`).
//!
//! Memory is bounded: each store (in-flight authorizations, codes, tokens, seen client
//! assertion `jti`s, credential requests, operator tokens, SMS inboxes) holds at most
//! [`SandboxConfig::store_cap`] entries ([`DEFAULT_STORE_CAP`] by default).

mod authorize;
mod camara;
mod camara_v2;
mod client_assertion;
mod device;
mod error;
mod id_token;
mod jwt;
mod mobile_connect;
mod operator;
mod respond;
mod sms;
mod token;
mod ts43;

use std::{sync::Arc, time::Duration};

use axum::{
    routing::{get, post},
    Router,
};

use crate::{
    phone::E164,
    sandbox_contract::{
        CAMARA_V2_PATH, MC_JWKS_PATH, SMS_INBOX_PATH, SMS_SEND_PATH, TS43_CREDENTIALS_PATH, VIRTUAL_WALLET_PATH,
    },
};
use operator::VirtualOperator;

pub use device::{Fault, DEFAULT_DELAY_MS, MAX_DELAY_MS};
pub use sms::{INBOX_PER_NUMBER, INBOX_TTL, MAX_TEXT_CHARS, SLOW_DELIVERY_MS};

/// The default cap on each store (in-flight authorizations, codes, tokens).
pub const DEFAULT_STORE_CAP: usize = 4096;
/// Authorization codes live this long (and are single use).
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// An authorization's intermediate hop must be followed within this time.
pub const HOP_TTL: Duration = Duration::from_secs(5 * 60);

/// Mobile Connect access tokens' lifetime, as the operator's.
pub const MC_TOKEN_TTL_SECS: u64 = 3599;
/// Vonage (CAMARA) access tokens' lifetime, as Vonage's.
pub const VONAGE_TOKEN_TTL_SECS: u64 = 3600;
/// Standard CAMARA v2.1 access tokens' lifetime (and they serve one API call only).
pub const CAMARA_V2_TOKEN_TTL_SECS: u64 = 300;

/// The Mobile Connect scope the number match needs (besides `openid`).
pub const MC_SCOPE: &str = "mc_vm_match_hash";
/// The CAMARA Number Verification scope as Vonage names it.
pub const CAMARA_VERIFY_SCOPE: &str = "dpv:FraudPreventionAndDetection#number-verification-verify-read";

/// The registered applications and the simulated device's defaults.
#[derive(Clone)]
pub struct SandboxConfig {
    /// Absolute URL where the sandbox is reachable, no trailing slash, e.g.
    /// "http://127.0.0.1:3000/sandbox".
    pub public_base: String,
    /// Registered redirect URIs; the first is the Vonage application's redirect URI
    /// (network enablement has no redirect_uri param). Default in the app:
    /// "{APP_PUBLIC_URL}/callback".
    pub redirect_uris: Vec<String>,
    /// The SIM of the simulated device when nothing else decides (docs/reference.md §5, rule 4).
    pub default_sim: E164,
    pub mc_client_id: String,
    pub mc_client_secret: String,
    pub vonage_application_id: String,
    /// PEM (SPKI) of the Vonage application's RSA public key, to check application JWTs.
    pub vonage_public_key_pem: String,
    /// The standard CAMARA v2.1 client (`private_key_jwt`): its id, the `kid` of its
    /// registered key, and that key's public half (PEM, SPKI; P-256 → ES256, RSA → RS256).
    pub camara_client_id: String,
    pub camara_client_key_id: String,
    pub camara_client_public_key_pem: String,
    /// The SMS gateway's account: Vonage SMS API `api_key` and `api_secret`.
    pub sms_api_key: String,
    pub sms_api_secret: String,
    /// Cap on each store (codes, tokens, in-flight authorizations);
    /// [`DEFAULT_STORE_CAP`] (4096) is the documented default. 0 is treated as 1.
    pub store_cap: usize,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("public_base", &self.public_base)
            .field("redirect_uris", &self.redirect_uris)
            .field("default_sim", &self.default_sim)
            .field("mc_client_id", &self.mc_client_id)
            .field("mc_client_secret", &"<set>")
            .field("vonage_application_id", &self.vonage_application_id)
            .field("camara_client_id", &self.camara_client_id)
            .field("camara_client_key_id", &self.camara_client_key_id)
            .field("sms_api_key", &self.sms_api_key)
            .field("sms_api_secret", &"<set>")
            .field("store_cap", &self.store_cap)
            .finish_non_exhaustive()
    }
}

/// Entries currently held in each store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxStats {
    pub codes: usize,
    pub tokens: usize,
    /// Authorizations whose hop has not been followed.
    pub pending: usize,
    /// Numbers with an SMS inbox (each holds at most [`INBOX_PER_NUMBER`] messages).
    pub sms_inboxes: usize,
}

/// The virtual operator, to mount; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    operator: Arc<VirtualOperator>,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Self {
        Self {
            operator: Arc::new(VirtualOperator::new(config)),
        }
    }

    /// Router with paths relative to the mount point; the app nests it at "/sandbox".
    pub fn router(&self) -> Router {
        Router::new()
            .route("/deviceinitiated/v1/authorize", get(mobile_connect::authorize))
            .route("/deviceinitiated/v1/token", post(mobile_connect::token))
            .route("/premiuminfo/v1/", post(mobile_connect::premium_info))
            .route("/premiuminfo/v1", post(mobile_connect::premium_info))
            .route("/v0.1/network-enablement", post(camara::network_enablement))
            .route("/oauth2/auth", get(camara::authorize))
            .route("/oauth2/token", post(camara::token))
            .route("/camara/number-verification/v031/verify", post(camara::verify))
            .route("/hop/{id}", get(authorize::hop))
            .route("/device", post(device::device_form))
            .route(MC_JWKS_PATH, get(id_token::jwks))
            .route(&v2("/.well-known/openid-configuration"), get(camara_v2::discovery))
            .route(&v2("/authorize"), get(camara_v2::authorize))
            .route(&v2("/token"), post(camara_v2::token))
            .route(&v2("/jwks"), get(id_token::jwks))
            .route(&v2("/number-verification/v2/verify"), post(camara_v2::verify))
            .route(
                &v2("/number-verification/v2/device-phone-number"),
                get(camara_v2::device_phone_number),
            )
            .route(TS43_CREDENTIALS_PATH, post(ts43::credentials))
            .route(VIRTUAL_WALLET_PATH, post(ts43::wallet).options(ts43::preflight))
            .route(SMS_SEND_PATH, post(sms::send))
            .route(SMS_INBOX_PATH, get(sms::messages))
            .with_state(self.operator.clone())
    }

    /// Test-only: the private response key (a JWK with `d`) the aggregator made for the
    /// TS.43 credential request `id`, when the relying party brought none. In process
    /// only: no route serves it, so a test that holds the [`Sandbox`] can open the
    /// wallet's JWE as the aggregator would.
    #[doc(hidden)]
    pub fn ts43_response_key_for_tests(&self, id: &str) -> Option<String> {
        let request = self.operator.credential_requests.get(id)?;
        request.response_key.map(|k| k.to_jwk_string().to_string())
    }

    /// Number of entries currently in each store, for tests and the flood test.
    pub fn stats(&self) -> SandboxStats {
        SandboxStats {
            codes: self.operator.codes.len(),
            tokens: self.operator.tokens.len(),
            pending: self.operator.authorizations.len(),
            sms_inboxes: self.operator.sms_inboxes.len(),
        }
    }
}

/// A path of the standard CAMARA v2.1 operator, relative to the sandbox's mount point.
fn v2(path: &str) -> String {
    format!("{CAMARA_V2_PATH}{path}")
}
