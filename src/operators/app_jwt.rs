//! The Vonage application JWT: RS256 with the application's private key, claims
//! `application_id`, `iat`, `exp` (15 minutes), `jti`. Minted once and reused until
//! shortly before it expires, as Vonage allows; or a pre-made token from `VONAGE_JWT`.

use std::{
    sync::Mutex,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use super::AppJwt;
use crate::config::{VonageConfig, VonageCredentials};

pub const LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Re-mint this long before expiry, so a token never expires in flight.
pub const RENEW_BEFORE: Duration = Duration::from_secs(60);

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
    Fixed(AppJwt),
    Minted {
        key: EncodingKey,
        cached: Mutex<Option<(AppJwt, u64)>>,
    },
}

#[derive(Debug, thiserror::Error)]
#[error("VONAGE_PRIVATE_KEY is not a usable RSA private key: {0}")]
pub struct KeyError(String);

impl AppJwtSource {
    pub fn new(config: &VonageConfig) -> Result<Self, KeyError> {
        let kind = match &config.credentials {
            VonageCredentials::Jwt(jwt) => Kind::Fixed(AppJwt::new(jwt.expose())),
            VonageCredentials::PrivateKey(pem) => Kind::Minted {
                key: EncodingKey::from_rsa_pem(pem.expose().as_bytes()).map_err(|e| KeyError(e.to_string()))?,
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
        self.current_at(now())
    }

    pub(crate) fn current_at(&self, now: u64) -> Result<AppJwt, KeyError> {
        let (key, cached) = match &self.kind {
            Kind::Fixed(jwt) => return Ok(jwt.clone()),
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
            iat: now,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".into());
        let jwt = AppJwt::new(jsonwebtoken::encode(&header, &claims, key).map_err(|e| KeyError(e.to_string()))?);
        tracing::debug!("minted a new Vonage application JWT");
        *cached = Some((jwt.clone(), exp));
        Ok(jwt)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
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
        assert_eq!(exp - iat, 900);
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

    #[test]
    fn a_premade_token_is_used_as_is() {
        let source = AppJwtSource::new(&VonageConfig {
            api_base: url::Url::parse("https://vg.example").unwrap(),
            application_id: "app-1".into(),
            credentials: VonageCredentials::Jwt(Secret::new("pre.made.jwt")),
            hashed: false,
        })
        .unwrap();
        assert_eq!(source.current().unwrap().secret(), "pre.made.jwt");
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
