//! The Vonage application JWT: RS256 with the application's private key, claims
//! `application_id`, `iat`, `exp` (15 minutes), `jti`. Minted once and reused until
//! shortly before it expires, as Vonage allows; or a pre-made token from `VONAGE_JWT`,
//! which start-up refuses when it has less than 5 minutes left and which, once expired,
//! is no longer sent (each verification then fails with `operator_error`, logged).

use std::{sync::Mutex, time::Duration};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::AppJwt;
use crate::config::{VonageConfig, VonageCredentials};

pub const LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Re-mint this long before expiry, so a token never expires in flight.
pub const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// Minted tokens' `iat` lies this far in the past, so an operator whose clock is a little
/// behind ours does not refuse a token "issued in the future".
pub const CLOCK_SKEW: Duration = Duration::from_secs(30);

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
        key: EncodingKey,
        cached: Mutex<Option<(AppJwt, u64)>>,
    },
}

/// Why no application JWT can be had; names the variable, never shows the token or key.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl AppJwtSource {
    pub fn new(config: &VonageConfig) -> Result<Self, KeyError> {
        let kind = match &config.credentials {
            VonageCredentials::Jwt(jwt) => {
                let exp = crate::config::vonage_jwt_expiry(jwt.secret())
                    .map_err(|reason| KeyError(format!("VONAGE_JWT {reason}")))?;
                Kind::Fixed(AppJwt::new(jwt.secret()), exp)
            }
            VonageCredentials::PrivateKey(pem) => Kind::Minted {
                key: EncodingKey::from_rsa_pem(pem.secret().as_bytes())
                    .map_err(|e| KeyError(format!("VONAGE_PRIVATE_KEY is not a usable RSA private key: {e}")))?,
                cached: Mutex::new(None),
            },
        };
        Ok(Self {
            application_id: config.application_id.clone(),
            kind,
        })
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
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        let jwt = AppJwt::new(
            jsonwebtoken::encode(&header, &claims, key)
                .map_err(|e| KeyError(format!("cannot sign the Vonage application JWT: {e}")))?,
        );
        tracing::debug!("minted a new Vonage application JWT");
        *cached = Some((jwt.clone(), exp));
        Ok(jwt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        config::Secret,
        sandbox_shared::credentials::{
            VONAGE_PRIVATE_KEY as SANDBOX_VONAGE_PRIVATE_KEY, VONAGE_PUBLIC_KEY as SANDBOX_VONAGE_PUBLIC_KEY,
        },
    };
    use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};

    fn source() -> AppJwtSource {
        AppJwtSource::new(&VonageConfig {
            api_base: url::Url::parse("https://vg.example").unwrap(),
            application_id: "app-1".into(),
            credentials: VonageCredentials::PrivateKey(Secret::new(SANDBOX_VONAGE_PRIVATE_KEY)),
            hashed: false,
        })
        .unwrap()
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

    fn premade(claims: serde_json::Value) -> Result<AppJwtSource, KeyError> {
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::RS256),
            &claims,
            &EncodingKey::from_rsa_pem(SANDBOX_VONAGE_PRIVATE_KEY.as_bytes()).unwrap(),
        )
        .unwrap();
        AppJwtSource::new(&VonageConfig {
            api_base: url::Url::parse("https://vg.example").unwrap(),
            application_id: "app-1".into(),
            credentials: VonageCredentials::Jwt(Secret::new(jwt)),
            hashed: false,
        })
    }

    #[test]
    fn a_premade_token_is_used_as_is_until_it_expires() {
        let t0 = 1_800_000_000;
        let source = premade(serde_json::json!({"application_id": "app-1", "iat": t0, "exp": t0 + 3600})).unwrap();
        let jwt = source.current_at(t0 + 10).unwrap();
        assert_eq!(crate::config::vonage_jwt_expiry(jwt.secret()), Ok(t0 + 3600));
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
        let result = AppJwtSource::new(&VonageConfig {
            api_base: url::Url::parse("https://vg.example").unwrap(),
            application_id: "app-1".into(),
            credentials: VonageCredentials::PrivateKey(Secret::new("not a key")),
            hashed: false,
        });
        assert!(result.is_err());
    }
}
