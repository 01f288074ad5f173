//! TS.43 phone-number credentials through the W3C Digital Credentials API, as an
//! aggregator and an operator's wallet give them (docs/reference.md §2.4):
//!
//! - the aggregator's credential request ([`credentials`]): a DCQL credential query whose
//!   `credential_authorization_jwt` (ES256, `x5c` from the sandbox CA) names the key the
//!   answer is encrypted to;
//! - the **virtual wallet** ([`wallet`]): given the DC API request and the simulated SIM,
//!   the SD-JWT a TS.43 wallet returns ([`sd_jwt`]), whose disclosed
//!   `encrypted_credential` is a JWE holding a single-use operator token;
//! - the operator token is redeemed at the standard CAMARA token endpoint with the
//!   JWT-bearer grant (`super::camara_v2`).

mod credentials;
mod sd_jwt;
mod wallet;

use std::time::{Duration, Instant};

use base64::{engine::general_purpose::STANDARD, Engine};
use jsonwebtoken::{encode, Algorithm, DecodingKey, EncodingKey, Header};
use p256::{pkcs8::DecodePrivateKey, SecretKey};
use serde_json::Value;

use super::device::Fault;
use crate::phone::E164;

pub(crate) use credentials::credentials;
pub(crate) use wallet::{preflight, wallet};

/// The virtual operator's carrier, as `carrier_ids` and the `carrier_hint` name it: MCC
/// 001, MNC 01, the ITU-T test network.
pub(crate) const CARRIER_ID: &str = "00101";
/// A credential request can be answered by the wallet this long.
pub(crate) const REQUEST_TTL: Duration = Duration::from_secs(5 * 60);
/// An operator token lives this long (CAMARA: at most 5 minutes) and serves one grant.
pub(crate) const OPERATOR_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);
/// The issuer JWT's and the authorization JWT's lifetime.
pub(crate) const JWT_TTL_SECS: u64 = 300;
/// What a relying party can do instead when the carrier is not served.
pub(crate) const FALLBACK_OPTIONS: &[&str] = &["network_redirect", "handoff", "sms"];
/// Longest accepted nonce (it is stored with the request).
pub(crate) const MAX_NONCE_LEN: usize = 512;

/// `typ` of the aggregator's credential authorization JWT.
pub(crate) const AUTHZ_JWT_TYP: &str = "oauth-authz-req+jwt";

const ISSUER_KEY: &str = include_str!("../../../sandbox-keys/ts43-issuer-private.pem");
const ISSUER_CERT: &str = include_str!("../../../sandbox-keys/ts43-issuer-cert.pem");
const CA_CERT: &str = include_str!("../../../sandbox-keys/ts43-sandbox-ca.pem");

/// The key and certificate chain that sign both the aggregator's authorization JWTs and
/// the wallet's issuer JWTs (one sandbox identity plays both parts).
pub(crate) struct Issuer {
    key: EncodingKey,
    /// The public half, for the wallet to check an authorization JWT.
    public: DecodingKey,
    /// RFC 7515 §4.1.6: base64 (not base64url) DER, the signer's certificate first.
    x5c: Vec<String>,
}

impl Issuer {
    /// The committed sandbox key and chain; `None` (logged) if they do not parse, and
    /// then every TS.43 request fails with a server error.
    pub(crate) fn load() -> Option<Self> {
        let loaded = (|| -> Result<Self, String> {
            let secret = SecretKey::from_pkcs8_pem(ISSUER_KEY).map_err(|e| format!("issuer key: {e}"))?;
            let key = EncodingKey::from_ec_pem(ISSUER_KEY.as_bytes()).map_err(|e| format!("issuer key: {e}"))?;
            let jwk: Value =
                serde_json::to_value(secret.public_key().to_jwk()).map_err(|e| format!("issuer key: {e}"))?;
            let coordinate = |name: &str| jwk[name].as_str().unwrap_or_default().to_owned();
            let public = DecodingKey::from_ec_components(&coordinate("x"), &coordinate("y"))
                .map_err(|e| format!("issuer key: {e}"))?;
            let mut x5c = Vec::new();
            for pem in [ISSUER_CERT, CA_CERT] {
                let cert = pem::parse(pem).map_err(|e| format!("certificate: {e}"))?;
                if cert.tag() != "CERTIFICATE" {
                    return Err("certificate: not a CERTIFICATE PEM".into());
                }
                x5c.push(STANDARD.encode(cert.contents()));
            }
            Ok(Self { key, public, x5c })
        })();
        loaded
            .inspect_err(|e| {
                tracing::error!(target: "sandbox", "the TS.43 sandbox issuer does not load ({e}); every credential request will fail")
            })
            .ok()
    }

    /// `claims` signed ES256 with header `typ` and the `x5c` chain.
    pub(crate) fn sign(&self, typ: &str, claims: &Value) -> Result<String, String> {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(typ.to_owned());
        header.x5c = Some(self.x5c.clone());
        encode(&header, claims, &self.key).map_err(|e| e.to_string())
    }

    pub(crate) fn public(&self) -> &DecodingKey {
        &self.public
    }
}

/// A credential request the wallet may answer, keyed by its DCQL credential id.
#[derive(Clone)]
pub(crate) struct CredentialRequest {
    pub client_id: String,
    pub nonce: String,
    /// The number the relying party expects (rule 3 of docs/reference.md §5 when the SIM
    /// is not explicit).
    pub hint: Option<E164>,
    /// The private half of the response encryption key, when the aggregator made it
    /// (the relying party brought no `encryption_jwk`). Never leaves the process.
    pub response_key: Option<SecretKey>,
}

/// What an operator token stands for.
#[derive(Clone)]
pub(crate) enum OperatorToken {
    Fresh(OperatorGrant),
    /// Redeemed once: a second grant is refused (until the store forgets it).
    Spent,
}

#[derive(Clone)]
pub(crate) struct OperatorGrant {
    /// The relying party whose credential request it answers.
    pub client_id: String,
    pub sim: E164,
    pub expires_at: Instant,
    pub fault: Option<Fault>,
    pub delay: Duration,
}
