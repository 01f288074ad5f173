//! The OpenID Provider's settings: signing keys (`OIDC_SIGNING_KEYS`), the key pairwise
//! subjects derive from (`OIDC_SUBJECT_KEY`), the registered relying parties
//! (`RELYING_PARTIES`) and the codes' lifetime (`OIDC_CODE_TTL_SECONDS`).
//!
//! In sandbox mode (the virtual operator mounted) the provider is on with the documented
//! sandbox key and demo client, unless those variables say otherwise. Live, it is on when
//! `OIDC_SIGNING_KEYS` is set, and then needs `OIDC_SUBJECT_KEY` too.

use std::{sync::Arc, time::Duration};

use sha2::{Digest, Sha256};

use super::{keys::read_pem, settings::Vars, ConfigError, SandboxMode};
use crate::{
    operators::SigningKey,
    relying_parties::{ClientAuth, RedirectRule, RelyingParties, RelyingParty, SCOPES},
    sandbox_contract::oidc as sandbox,
    support::redacted::Secret,
    tokens::TokenKeys,
};

/// The OpenID Provider's configuration.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// The first signs; all are published.
    pub keys: Arc<TokenKeys>,
    /// The deployment's key for pairwise `sub` values (OIDC Core 1.0 §8.1).
    pub subject_key: Secret,
    pub clients: Arc<RelyingParties>,
    /// How long an authorization code may wait for its redemption (at most 60 s).
    pub code_ttl: Duration,
    /// The keys and demo client are the sandbox's published ones.
    pub sandbox: bool,
}

/// A pairwise subject key shorter than this is refused: it must not be guessable.
const SUBJECT_KEY_MIN: usize = 32;

pub(super) fn oidc(vars: &Vars, sandbox_mode: SandboxMode) -> Result<Option<OidcSettings>, ConfigError> {
    let sandboxed = sandbox_mode == SandboxMode::Mounted;
    if sandbox_mode == SandboxMode::Only {
        return Ok(None);
    }
    let signing = vars.get("OIDC_SIGNING_KEYS");
    if signing.is_none() && !sandboxed {
        for needs_keys in ["RELYING_PARTIES", "OIDC_SUBJECT_KEY"] {
            if vars.is_set(needs_keys) {
                return Err(ConfigError::missing(
                    "OIDC_SIGNING_KEYS",
                    &format!(
                        "the OpenID Provider's signing keys (kid=PEM-path, comma-separated, current first), \
                         since {needs_keys} is set"
                    ),
                ));
            }
        }
        return Ok(None);
    }
    let keys = match &signing {
        Some(value) => signing_keys(value)?,
        None => {
            let key = SigningKey::ec_or_rsa_from_pem(sandbox::SIGNING_KEY)
                .ok_or_else(|| ConfigError::new("OIDC_SIGNING_KEYS", "the sandbox key does not read".into()))?;
            vec![(sandbox::SIGNING_KEY_ID.to_owned(), key)]
        }
    };
    let keys = TokenKeys::new(keys).map_err(|e| ConfigError::new("OIDC_SIGNING_KEYS", e.to_string()))?;
    let subject_key = match vars.get("OIDC_SUBJECT_KEY") {
        Some(key) if key.len() >= SUBJECT_KEY_MIN => Secret::new(key),
        Some(_) => {
            return Err(ConfigError::new(
                "OIDC_SUBJECT_KEY",
                format!("must be at least {SUBJECT_KEY_MIN} random characters (e.g. `openssl rand -hex 32`)"),
            ))
        }
        None if sandboxed => Secret::new(sandbox::SUBJECT_KEY),
        None => {
            return Err(ConfigError::missing(
                "OIDC_SUBJECT_KEY",
                "at least 32 random characters (e.g. `openssl rand -hex 32`): the key pairwise subject \
                 identifiers derive from; keep it for as long as relying parties keep their users",
            ))
        }
    };
    let mut clients = match vars.get("RELYING_PARTIES") {
        Some(value) => relying_parties(&value)?,
        None => RelyingParties::default(),
    };
    if sandboxed {
        clients
            .push(demo_client())
            .map_err(|e| ConfigError::new("RELYING_PARTIES", format!("{e} (the sandbox's demo client)")))?;
    }
    let code_ttl = Duration::from_secs(vars.count("OIDC_CODE_TTL_SECONDS", 1..=60, 60)?);
    Ok(Some(OidcSettings {
        keys: Arc::new(keys),
        subject_key,
        clients: Arc::new(clients),
        code_ttl,
        sandbox: signing.is_none(),
    }))
}

/// The sandbox's demo relying party: `nv-demo-rp` / `nv-demo-rp-secret`, any loopback
/// redirect URI (RFC 8252 §7.3).
fn demo_client() -> RelyingParty {
    RelyingParty {
        id: sandbox::DEMO_CLIENT_ID.to_owned(),
        name: sandbox::DEMO_CLIENT_NAME.to_owned(),
        redirects: RedirectRule::AnyLoopback,
        auth: ClientAuth::SecretBasic {
            sha256: Sha256::digest(sandbox::DEMO_CLIENT_SECRET.as_bytes()).into(),
        },
        scopes: SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        sms_fallback: false,
    }
}

/// `kid=PEM-or-path,kid=…`, current first; an entry without `kid=` gets its JWK
/// thumbprint (RFC 7638) as its key id.
fn signing_keys(value: &str) -> Result<Vec<(String, SigningKey)>, ConfigError> {
    let mut keys = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (kid, pem) = match entry.split_once('=') {
            Some((kid, pem)) if !entry.starts_with("-----BEGIN") => (Some(kid.trim().to_owned()), pem.trim()),
            _ => (None, entry),
        };
        if kid.as_deref().is_some_and(|k| k.is_empty() || k.len() > 64) {
            return Err(ConfigError::new(
                "OIDC_SIGNING_KEYS",
                "has an empty or over-long key id (kid=PEM-path)".into(),
            ));
        }
        let pem = read_pem("OIDC_SIGNING_KEYS", pem)?;
        let key = SigningKey::ec_or_rsa_from_pem(&pem).ok_or_else(|| {
            ConfigError::new(
                "OIDC_SIGNING_KEYS",
                format!(
                    "key {} is not a P-256 (ES256) or RSA (RS256) private key in PEM form",
                    keys.len() + 1
                ),
            )
        })?;
        let kid = match kid {
            Some(kid) => kid,
            None => key
                .public_jwk()
                .map(|jwk| jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256))
                .map_err(|e| ConfigError::new("OIDC_SIGNING_KEYS", format!("a key has no public JWK: {e}")))?,
        };
        keys.push((kid, key));
    }
    if keys.is_empty() {
        return Err(ConfigError::new("OIDC_SIGNING_KEYS", "names no key".into()));
    }
    Ok(keys)
}

/// `RELYING_PARTIES`: a `.toml` or `.json` file, or the TOML or JSON itself.
fn relying_parties(value: &str) -> Result<RelyingParties, ConfigError> {
    let inline = value.starts_with('{') || value.starts_with('[');
    let (text, toml) = if inline {
        (value.to_owned(), value.starts_with('['))
    } else {
        let toml = if value.ends_with(".toml") {
            true
        } else if value.ends_with(".json") {
            false
        } else {
            return Err(ConfigError::new(
                "RELYING_PARTIES",
                format!("“{value}” must name a .toml or .json file"),
            ));
        };
        let text = std::fs::read_to_string(value)
            .map_err(|e| ConfigError::new("RELYING_PARTIES", format!("cannot read “{value}”: {e}")))?;
        (text, toml)
    };
    RelyingParties::parse(&text, toml, |pem| {
        read_pem("RELYING_PARTIES", pem).map_err(|e| e.reason)
    })
    .map_err(|reason| ConfigError::new("RELYING_PARTIES", reason))
}
