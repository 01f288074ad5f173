//! The Vonage application JWT: RS256 with the application's private key, claims
//! `application_id`, `iat`, `exp` (15 minutes), `jti`. Minted once and reused until
//! shortly before it expires, as Vonage allows; or a pre-made token from `VONAGE_JWT`,
//! which start-up refuses when it has less than 5 minutes left and which, once expired,
//! is no longer sent (each verification then fails with `operator_error`, logged).

use std::{sync::Mutex, time::Duration};

use serde::Serialize;

use super::{AppJwt, SigningKey, VonageCredentials, VonageSettings};

pub const LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Re-mint this long before expiry, so a token never expires in flight.
pub const RENEW_BEFORE: Duration = Duration::from_secs(60);
pub use super::CLOCK_SKEW;

#[derive(Serialize)]
struct Claims<'a> {
    application_id: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

pub struct AppJwtSource {
    application_id: String,
    kind: Kind,
}

enum Kind {
    /// `VONAGE_JWT` and when it expires (seconds since the epoch).
    Fixed(AppJwt, u64),
    Minted {
        key: SigningKey,
        cached: Mutex<Option<(AppJwt, u64)>>,
    },
}

/// Why no application JWT can be had; names the variable, never shows the token or key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl AppJwtSource {
    pub fn new(settings: &VonageSettings) -> Self {
        let kind = match &settings.credentials {
            VonageCredentials::Jwt { jwt, expires_at } => Kind::Fixed(AppJwt::new(jwt.secret()), *expires_at),
            VonageCredentials::PrivateKey(key) => Kind::Minted {
                key: key.clone(),
                cached: Mutex::new(None),
            },
        };
        Self {
            application_id: settings.application_id.clone(),
            kind,
        }
    }

    /// The JWT to send now.
    pub fn current(&self) -> Result<AppJwt, KeyError> {
        self.current_at(crate::support::unix_now())
    }

    pub(crate) fn current_at(&self, now: u64) -> Result<AppJwt, KeyError> {
        let (key, cached) = match &self.kind {
            // Vonage would refuse it anyway; saying why here beats an opaque 401.
            Kind::Fixed(_, exp) if now >= *exp => {
                return Err(KeyError(format!(
                    "VONAGE_JWT expired {} s ago: configure a new one (or VONAGE_PRIVATE_KEY) and restart",
                    now - exp
                )))
            }
            Kind::Fixed(jwt, _) => return Ok(jwt.clone()),
            Kind::Minted { key, cached } => (key, cached),
        };
        let mut cached = cached.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((jwt, exp)) = cached.as_ref() {
            if now + RENEW_BEFORE.as_secs() < *exp {
                return Ok(jwt.clone());
            }
        }
        let exp = now + LIFETIME.as_secs();
        let claims = Claims {
            application_id: &self.application_id,
            iat: now.saturating_sub(CLOCK_SKEW.as_secs()),
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = key.header();
        header.typ = Some("JWT".into());
        let jwt = AppJwt::new(
            key.sign(&header, &claims)
                .map_err(|e| KeyError(format!("cannot sign the Vonage application JWT: {e}")))?,
        );
        tracing::debug!("minted a new Vonage application JWT");
        *cached = Some((jwt.clone(), exp));
        Ok(jwt)
    }
}

/// A pre-made `VONAGE_JWT` must outlive start-up by this much: a token about to expire
/// would fail every verification moments after a successful start.
pub const PREMADE_MIN_REMAINING_SECS: u64 = 5 * 60;
/// Vonage's default lifetime of an application JWT without `exp`: 15 minutes after `iat`.
const DEFAULT_LIFETIME_SECS: u64 = 15 * 60;

/// When the application JWT `jwt` stops being valid (seconds since the epoch): its `exp`,
/// else `iat` + 15 minutes as Vonage reads it. `Err` says why it cannot be known; never
/// repeats the token.
pub fn expiry(jwt: &str) -> Result<u64, String> {
    use base64::Engine;
    let mut parts = jwt.split('.');
    let (Some(_), Some(payload), Some(_), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err("is not a JWT (three dot-separated parts)".into());
    };
    let claims: serde_json::Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(serde_json::Value::is_object)
        .ok_or("is not a JWT: its payload is not base64url JSON")?;
    let seconds = |name: &str| {
        claims
            .get(name)
            .map(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)))
    };
    match (seconds("exp"), seconds("iat")) {
        (Some(Some(exp)), _) => Ok(exp),
        (Some(None), _) => Err("has an exp claim that is not a number of seconds".into()),
        (None, Some(Some(iat))) => Ok(iat.saturating_add(DEFAULT_LIFETIME_SECS)),
        _ => Err("has neither exp nor iat, so when it expires cannot be known".into()),
    }
}

/// A pre-made `VONAGE_JWT` must be a JWT valid for at least 5 more minutes at `now`;
/// `Ok` is when it expires.
pub fn check_premade(jwt: &str, now: u64) -> Result<u64, String> {
    let exp = expiry(jwt)?;
    if exp <= now {
        return Err(format!(
            "expired {} s ago: mint a new application JWT, or set VONAGE_PRIVATE_KEY instead so the server mints its own",
            now - exp
        ));
    }
    if exp - now < PREMADE_MIN_REMAINING_SECS {
        return Err(format!(
            "expires in {} s (less than 5 minutes): mint one that lives longer, or set VONAGE_PRIVATE_KEY instead",
            exp - now
        ));
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        sandbox_contract::credentials::{
            VONAGE_PRIVATE_KEY as SANDBOX_VONAGE_PRIVATE_KEY, VONAGE_PUBLIC_KEY as SANDBOX_VONAGE_PUBLIC_KEY,
        },
        support::redacted::Secret,
    };
    use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, EncodingKey, Header, Validation};

    fn source() -> AppJwtSource {
        AppJwtSource::new(&VonageSettings {
            api_base: url::Url::parse("https://vg.example").unwrap(),
            application_id: "app-1".into(),
            credentials: VonageCredentials::PrivateKey(SigningKey::rsa_from_pem(SANDBOX_VONAGE_PRIVATE_KEY).unwrap()),
            hashed: false,
            auth_hosts: Vec::new(),
        })
    }

    #[test]
    fn mints_rs256_with_the_vonage_claims() {
        let before = crate::support::unix_now();
        let jwt = source().current().unwrap();
        let header = decode_header(jwt.secret()).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        let claims = decode::<serde_json::Value>(
            jwt.secret(),
            &DecodingKey::from_rsa_pem(SANDBOX_VONAGE_PUBLIC_KEY.as_bytes()).unwrap(),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!(claims["application_id"], "app-1");
        let (iat, exp) = (claims["iat"].as_u64().unwrap(), claims["exp"].as_u64().unwrap());
        // iat is backdated by the clock skew; the lifetime counts from now.
        assert!(
            iat + CLOCK_SKEW.as_secs() <= crate::support::unix_now(),
            "iat {iat} is not backdated"
        );
        assert!(iat + CLOCK_SKEW.as_secs() >= before);
        assert_eq!(exp - iat, LIFETIME.as_secs() + CLOCK_SKEW.as_secs());
        assert!(uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok());
    }

    #[test]
    fn reuses_the_token_then_remints_before_expiry() {
        let source = source();
        let t0 = 1_800_000_000;
        let first = source.current_at(t0).unwrap();
        assert_eq!(source.current_at(t0 + 60).unwrap(), first, "reused while fresh");
        let late = t0 + LIFETIME.as_secs() - RENEW_BEFORE.as_secs();
        assert_ne!(source.current_at(late).unwrap(), first, "re-minted near expiry");
    }

    fn premade(claims: serde_json::Value) -> Result<AppJwtSource, String> {
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(SANDBOX_VONAGE_PRIVATE_KEY.as_bytes()).unwrap(),
        )
        .unwrap();
        let expires_at = expiry(&jwt)?;
        Ok(AppJwtSource::new(&VonageSettings {
            api_base: url::Url::parse("https://vg.example").unwrap(),
            application_id: "app-1".into(),
            credentials: VonageCredentials::Jwt {
                jwt: Secret::new(jwt),
                expires_at,
            },
            hashed: false,
            auth_hosts: Vec::new(),
        }))
    }

    #[test]
    fn a_premade_token_is_used_as_is_until_it_expires() {
        let t0 = 1_800_000_000;
        let source = premade(serde_json::json!({"application_id": "app-1", "iat": t0, "exp": t0 + 3600})).unwrap();
        let jwt = source.current_at(t0 + 10).unwrap();
        assert_eq!(expiry(jwt.secret()), Ok(t0 + 3600));
        assert_eq!(source.current_at(t0 + 3599).unwrap(), jwt);
        let err = source.current_at(t0 + 3600).unwrap_err().to_string();
        assert!(err.contains("VONAGE_JWT expired"), "{err}");
        assert!(!err.contains(jwt.secret()), "the token is never in the message");
        // Without exp, Vonage's default: 15 minutes after iat.
        let source = premade(serde_json::json!({"application_id": "app-1", "iat": t0})).unwrap();
        assert!(source.current_at(t0 + 899).is_ok());
        assert!(source.current_at(t0 + 900).is_err());
    }

    #[test]
    fn a_bad_key_is_refused() {
        assert!(SigningKey::rsa_from_pem("not a key").is_err());
    }
}
