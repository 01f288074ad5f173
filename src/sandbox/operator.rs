//! The virtual operator's state: its registered clients, its keys, and what it remembers
//! between requests (authorizations in flight, codes, tokens, client assertion `jti`s,
//! TS.43 credential requests and operator tokens), each in a bounded store.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};
use rand::RngCore;

use super::{
    client_assertion,
    device::Fault,
    error::SandboxError,
    id_token,
    sms::Inbox,
    ts43::{self, CredentialRequest, OperatorToken},
    SandboxConfig, CAMARA_V2_TOKEN_TTL_SECS, MC_TOKEN_TTL_SECS, VONAGE_TOKEN_TTL_SECS,
};
use crate::{
    phone::E164,
    sandbox_contract::CAMARA_V2_PATH,
    support::ttl_map::{TtlMap, WhenFull},
};

/// Which of the operator's APIs a code or token belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Api {
    MobileConnect,
    /// CAMARA Number Verification through Vonage (v0.3.1).
    VonageCamara,
    /// Standard CAMARA NumberVerification v2.1.
    CamaraV2,
}

impl Api {
    /// Access tokens' lifetime, as each operator's.
    pub(crate) fn token_ttl_secs(self) -> u64 {
        match self {
            Api::MobileConnect => MC_TOKEN_TTL_SECS,
            Api::VonageCamara => VONAGE_TOKEN_TTL_SECS,
            Api::CamaraV2 => CAMARA_V2_TOKEN_TTL_SECS,
        }
    }
}

/// What an authorization decided: the grant a code stands for.
#[derive(Clone)]
pub(crate) struct Grant {
    pub api: Api,
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

/// A grant, or the error redirect the hop answers instead of a code.
pub(crate) type AuthorizationOutcome = Result<Grant, SandboxError>;

/// An authorization between its first redirect and its hop.
pub(crate) struct PendingAuthorization {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub outcome: AuthorizationOutcome,
}

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
    pub api: Api,
    pub sim: E164,
    pub scope: String,
    pub fault: Option<Fault>,
    pub delay: Duration,
    /// When the token stops being accepted, where that is sooner than the store forgets
    /// it (standard CAMARA tells an expired token apart from an unknown one).
    pub expires_at: Option<Instant>,
}

pub(crate) struct VirtualOperator {
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
    /// Signs id_tokens: HS256 with the client secret (as OIDC allows), or RS256/ES256
    /// with keys it publishes as a JWKS.
    pub signing: id_token::Signing,
    /// Salt of the pseudonymous `sub` (PCR) derived from the SIM.
    sub_salt: [u8; 16],
    /// Keyed by hop id.
    pub authorizations: TtlMap<String, PendingAuthorization>,
    pub codes: TtlMap<String, CodeState>,
    pub tokens: TtlMap<String, TokenGrant>,
    /// Client assertion `jti`s seen, until their assertion expires (replay protection).
    pub assertion_jtis: TtlMap<String, ()>,
    /// The TS.43 aggregator's and wallet's signing key and `x5c` chain; `None` when the
    /// committed sandbox key does not load (logged): TS.43 requests then fail.
    pub ts43_issuer: Option<ts43::Issuer>,
    /// TS.43 credential requests the wallet may answer, keyed by credential id.
    pub credential_requests: TtlMap<String, CredentialRequest>,
    /// TS.43 operator tokens, until redeemed by a JWT-bearer grant (and a while after).
    pub operator_tokens: TtlMap<String, OperatorToken>,
    /// The SMS gateway's account (Vonage SMS API `api_key`, `api_secret`).
    pub sms_api_key: String,
    pub sms_api_secret: String,
    /// The SMS gateway's inboxes, keyed by the E.164 number.
    pub sms_inboxes: TtlMap<String, Inbox>,
}

impl VirtualOperator {
    pub(crate) fn new(config: SandboxConfig) -> Self {
        let vonage_key = DecodingKey::from_rsa_pem(config.vonage_public_key_pem.as_bytes())
            .inspect_err(|e| {
                tracing::error!(
                    target: "sandbox",
                    "the Vonage application's public key does not parse ({e}); every application JWT will be refused"
                );
            })
            .ok();
        let camara_client_key = client_assertion::registered_key(&config.camara_client_public_key_pem);
        let mut sub_salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut sub_salt);
        let cap = config.store_cap.max(1);
        Self {
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
            authorizations: TtlMap::new(cap),
            codes: TtlMap::new(cap),
            tokens: TtlMap::new(cap),
            assertion_jtis: TtlMap::new(cap),
            ts43_issuer: ts43::Issuer::load(),
            credential_requests: TtlMap::new(cap),
            operator_tokens: TtlMap::new(cap),
            sms_api_key: config.sms_api_key,
            sms_api_secret: config.sms_api_secret,
            sms_inboxes: TtlMap::new(cap),
        }
    }

    /// The client registered for `api`.
    pub(crate) fn client_id_of(&self, api: Api) -> &str {
        match api {
            Api::MobileConnect => &self.mc_client_id,
            Api::VonageCamara => &self.vonage_application_id,
            Api::CamaraV2 => &self.camara_client_id,
        }
    }

    pub(crate) fn is_registered_redirect(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }

    /// The standard CAMARA operator's issuer, which is also its API root.
    pub(crate) fn camara_v2_issuer(&self) -> String {
        format!("{}{CAMARA_V2_PATH}", self.public_base)
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
