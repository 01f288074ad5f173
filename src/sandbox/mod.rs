//! The virtual operator: Mobile Connect (device-initiated), CAMARA-through-Vonage and
//! standard CAMARA NumberVerification v2.1 (with the CAMARA ICM security profile) over
//! real HTTP, with documented sandbox semantics (docs/reference.md §2 and §5).
//!
//! A separate system: the app reaches it over HTTP only, through the same client and
//! code path as a live operator, and this module knows nothing of the app (it uses only
//! [`crate::phone`]). [`Sandbox::router`] gives an axum router with paths relative to
//! its mount point (the app nests it at `/sandbox`):
//!
//! | method | path | what |
//! |---|---|---|
//! | GET  | `/deviceinitiated/v1/authorize` | Mobile Connect authorization (the device navigates) |
//! | POST | `/deviceinitiated/v1/token` | Mobile Connect token (HTTP Basic client auth) |
//! | POST | `/premiuminfo/v1/` | Mobile Connect number match (`mc_vm_match_hash`) |
//! | POST | `/v0.1/network-enablement` | Vonage network enablement (application JWT) |
//! | GET  | `/oauth2/auth` | Vonage/CAMARA authorization (the device navigates) |
//! | POST | `/oauth2/token` | Vonage token (application JWT) |
//! | POST | `/camara/number-verification/v031/verify` | CAMARA Number Verification v0.3.1 |
//! | GET  | `/hop/{id}` | the intermediate redirect of every authorization |
//! | POST | `/device` | the page's "Simulated SIM" form: sets/clears the sandbox cookies |
//! | GET  | `/.well-known/jwks.json` | the Mobile Connect id_token signing keys (RS256, ES256) |
//! | GET  | `/camara/v2/.well-known/openid-configuration` | standard CAMARA v2.1: OIDC discovery (issuer `{base}/camara/v2`) |
//! | GET  | `/camara/v2/authorize` | standard CAMARA: authorization code flow, PKCE `S256` (the device navigates) |
//! | POST | `/camara/v2/token` | standard CAMARA: token, `private_key_jwt` client authentication |
//! | GET  | `/camara/v2/jwks` | standard CAMARA id_token keys (the same set as the Mobile Connect JWKS) |
//! | POST | `/camara/v2/number-verification/v2/verify` | CAMARA NumberVerification v2.1 `phoneNumberVerify` |
//! | GET  | `/camara/v2/number-verification/v2/device-phone-number` | CAMARA NumberVerification v2.1 `phoneNumberShare` |
//!
//! Memory is bounded: each store (in-flight authorizations, codes, tokens, seen client
//! assertion `jti`s) holds at most [`SandboxConfig::store_cap`] entries
//! ([`DEFAULT_STORE_CAP`] by default).

mod authorize;
mod camara;
mod camara_v2;
mod client_assertion;
mod device;
mod id_token;
mod jwt;
mod mobile_connect;
mod respond;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    routing::{get, post},
    Router,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use rand::RngCore;

use crate::{
    phone::E164,
    support::ttl_map::{TtlMap, WhenFull},
};

pub use device::{Fault, DEFAULT_DELAY_MS, MAX_DELAY_MS};

/// The default cap on each store (in-flight authorizations, codes, tokens).
pub const DEFAULT_STORE_CAP: usize = 4096;
/// Authorization codes live this long (and are single use).
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);
/// An authorization's intermediate hop must be followed within this time.
pub const PENDING_TTL: Duration = Duration::from_secs(5 * 60);
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
            .field("store_cap", &self.store_cap)
            .finish_non_exhaustive()
    }
}

/// Entries currently held in each store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxStats {
    pub codes: usize,
    pub tokens: usize,
    pub pending: usize,
}

/// The virtual operator's shared state; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

/// Which operator API a code or token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    MobileConnect,
    /// CAMARA through Vonage (v0.3.1).
    Camara,
    /// Standard CAMARA NumberVerification v2.1.
    CamaraV2,
}

/// What an authorization decided: the grant a code stands for.
#[derive(Clone)]
pub(crate) struct Grant {
    pub protocol: Protocol,
    pub client_id: String,
    pub redirect_uri: String,
    pub sim: E164,
    pub nonce: Option<String>,
    pub scope: String,
    pub fault: Option<Fault>,
    pub delay: Duration,
    /// How the id_token (Mobile Connect, standard CAMARA) is signed, and what is wrong
    /// with it on purpose.
    pub id_token: id_token::Spec,
    /// The PKCE `S256` challenge of the authorization (standard CAMARA), if it had one.
    pub code_challenge: Option<String>,
}

/// An authorization between its first answer and its hop.
pub(crate) struct Pending {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub outcome: PendingOutcome,
}

/// A grant, or the OAuth error (`error`, `error_description`) the hop will redirect with.
pub(crate) type PendingOutcome = Result<Grant, (&'static str, String)>;

#[derive(Clone)]
pub(crate) enum CodeState {
    Fresh(Box<Grant>),
    /// Already exchanged; a replay revokes the token it gave (RFC 6749 §4.1.2).
    Redeemed {
        access_token: Option<String>,
    },
}

/// What an access token stands for.
#[derive(Clone)]
pub(crate) struct TokenGrant {
    pub protocol: Protocol,
    pub sim: E164,
    pub scope: String,
    pub fault: Option<Fault>,
    pub delay: Duration,
    /// When the token stops being accepted, where that is sooner than the store forgets
    /// it (standard CAMARA: an expired token is told apart from an unknown one).
    pub expires_at: Option<Instant>,
}

pub(crate) struct Inner {
    pub public_base: String,
    pub redirect_uris: Vec<String>,
    pub default_sim: E164,
    pub mc_client_id: String,
    pub mc_client_secret: String,
    pub vonage_application_id: String,
    /// `None` when the configured PEM does not parse: every application JWT is refused.
    pub vonage_key: Option<DecodingKey>,
    pub camara_client_id: String,
    pub camara_client_key_id: String,
    /// The standard CAMARA client's registered key and the algorithm it signs with;
    /// `None` when the PEM does not parse: every client assertion is refused.
    pub camara_client_key: Option<(DecodingKey, Algorithm)>,
    /// Signs Mobile Connect id_tokens: HS256 with the client secret (as OIDC allows), or
    /// RS256/ES256 with keys it publishes as a JWKS.
    pub signing: id_token::Signing,
    /// Salt of the pseudonymous `sub` (PCR) derived from the SIM.
    pub sub_salt: [u8; 16],
    pub pending: TtlMap<String, Pending>,
    pub codes: TtlMap<String, CodeState>,
    pub tokens: TtlMap<String, TokenGrant>,
    /// Client assertion `jti`s seen, until their assertion expires (replay protection).
    pub assertion_jtis: TtlMap<String, ()>,
}

impl Sandbox {
    pub fn new(config: SandboxConfig) -> Self {
        let vonage_key = match DecodingKey::from_rsa_pem(config.vonage_public_key_pem.as_bytes()) {
            Ok(key) => Some(key),
            Err(e) => {
                tracing::error!(
                    target: "sandbox",
                    "the Vonage application's public key does not parse ({e}); every application JWT will be refused"
                );
                None
            }
        };
        let camara_client_key = client_assertion::registered_key(&config.camara_client_public_key_pem);
        let mut sub_salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut sub_salt);
        let cap = config.store_cap.max(1);
        let inner = Inner {
            public_base: config.public_base.trim_end_matches('/').to_owned(),
            redirect_uris: config.redirect_uris,
            default_sim: config.default_sim,
            signing: id_token::Signing::new(&config.mc_client_secret),
            mc_client_id: config.mc_client_id,
            mc_client_secret: config.mc_client_secret,
            vonage_application_id: config.vonage_application_id,
            vonage_key,
            camara_client_id: config.camara_client_id,
            camara_client_key_id: config.camara_client_key_id,
            camara_client_key,
            sub_salt,
            pending: TtlMap::new(cap),
            codes: TtlMap::new(cap),
            tokens: TtlMap::new(cap),
            assertion_jtis: TtlMap::new(cap),
        };
        Self { inner: Arc::new(inner) }
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
            .route(crate::sandbox_shared::MC_JWKS_PATH, get(id_token::jwks))
            .route(&v2("/.well-known/openid-configuration"), get(camara_v2::discovery))
            .route(&v2("/authorize"), get(camara_v2::authorize))
            .route(&v2("/token"), post(camara_v2::token))
            .route(&v2("/jwks"), get(id_token::jwks))
            .route(&v2("/number-verification/v2/verify"), post(camara_v2::verify))
            .route(
                &v2("/number-verification/v2/device-phone-number"),
                get(camara_v2::device_phone_number),
            )
            .with_state(self.clone())
    }

    /// Number of entries currently in each store, for tests and the flood test.
    pub fn stats(&self) -> SandboxStats {
        SandboxStats {
            codes: self.inner.codes.len(),
            tokens: self.inner.tokens.len(),
            pending: self.inner.pending.len(),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }
}

/// A path of the standard CAMARA v2.1 operator, relative to the sandbox's mount point.
fn v2(path: &str) -> String {
    format!("{}{path}", crate::sandbox_shared::CAMARA_V2_PATH)
}

impl Inner {
    pub(crate) fn is_registered_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// The standard CAMARA operator's issuer, which is also its API root.
    pub(crate) fn camara_v2_issuer(&self) -> String {
        format!("{}{}", self.public_base, crate::sandbox_shared::CAMARA_V2_PATH)
    }

    /// The pseudonymous subject (PCR) of a SIM: stable for this sandbox's lifetime,
    /// not the number.
    pub(crate) fn sub_for(&self, sim: &E164) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.sub_salt);
        h.update(sim.as_str().as_bytes());
        let digest = hex::encode(h.finalize());
        digest[..32].to_owned()
    }
}

/// The virtual operator's stores are bounded: a full one forgets the entry that expires
/// soonest, so that no flood grows memory and an insert never fails.
pub(crate) trait Keep<V> {
    fn keep(&self, key: String, value: V, ttl: Duration);
    fn keep_until(&self, key: String, value: V, expires_at: Instant);
}

impl<V> Keep<V> for TtlMap<String, V> {
    fn keep(&self, key: String, value: V, ttl: Duration) {
        // `EvictOldest` makes room rather than answering `Full`.
        let _ = self.insert(key, value, ttl, WhenFull::EvictOldest);
    }

    fn keep_until(&self, key: String, value: V, expires_at: Instant) {
        self.keep(key, value, expires_at.saturating_duration_since(Instant::now()));
    }
}
