//! The credential's encrypted operator token, opened with the request's ephemeral key.
//! The JWE itself (compact, `ECDH-ES` + `A128GCM`, RFC 7518 §4.6) is `support::jwe`, which
//! the virtual operator's wallet uses to make one: this module owns the key and says what
//! a failure means for a credential.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use p256::{elliptic_curve::sec1::ToEncodedPoint, SecretKey};

use super::CredentialError;
use crate::support::jwe::{self, JweError};

/// An ephemeral P-256 key pair for one credential request: the public half goes to the
/// aggregator and the wallet (through the request), the private half stays with the
/// pending verification and opens exactly one answer.
pub struct EphemeralKey(SecretKey);

impl EphemeralKey {
    pub fn random() -> Self {
        Self(SecretKey::random(&mut rand::rngs::OsRng))
    }

    /// The key as stored with a pending verification (its 32 secret bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CredentialError> {
        SecretKey::from_slice(bytes)
            .map(Self)
            .map_err(|_| CredentialError::Malformed("the request's key does not decode"))
    }

    /// The public half as a JWK: `use: enc`, `alg: ECDH-ES`.
    pub fn public_jwk(&self) -> serde_json::Value {
        let point = self.0.public_key().to_encoded_point(false);
        let coordinate =
            |c: Option<&p256::FieldBytes>| URL_SAFE_NO_PAD.encode(c.map(|c| c.to_vec()).unwrap_or_default());
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": coordinate(point.x()),
            "y": coordinate(point.y()),
            "use": "enc",
            "alg": jwe::ALG,
        })
    }

    /// Opens a compact JWE made to this key.
    pub fn decrypt(&self, sealed: &str) -> Result<Vec<u8>, CredentialError> {
        jwe::decrypt(sealed, &self.0).map_err(|error| match error {
            JweError::Decrypt => {
                CredentialError::Invalid("the encrypted credential was not made to this request's key")
            }
            JweError::UnsupportedAlgorithm => {
                CredentialError::Unsupported("the encrypted credential is not ECDH-ES with A128GCM")
            }
            JweError::NotCompact | JweError::BadHeader => {
                CredentialError::Malformed("the encrypted credential is not a compact JWE")
            }
            JweError::BadEphemeralKey => {
                CredentialError::Malformed("the encrypted credential's epk is not a P-256 key")
            }
            JweError::UnexpectedEncryptedKey => {
                CredentialError::Malformed("an ECDH-ES credential carries an encrypted key")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed_to(key: &EphemeralKey, plaintext: &[u8]) -> String {
        let public = jwe::public_key_from_jwk(&key.public_jwk()).unwrap();
        jwe::encrypt(plaintext, &public, None).unwrap()
    }

    #[test]
    fn a_jwe_made_to_the_key_opens_and_the_key_survives_the_store() {
        let key = EphemeralKey::random();
        let sealed = sealed_to(&key, br#"{"temp_token":"t"}"#);
        assert_eq!(key.decrypt(&sealed).unwrap(), br#"{"temp_token":"t"}"#);
        let again = EphemeralKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(again.decrypt(&sealed).unwrap(), br#"{"temp_token":"t"}"#);
    }

    #[test]
    fn a_jwe_made_to_another_key_is_invalid() {
        let (key, other) = (EphemeralKey::random(), EphemeralKey::random());
        let sealed = sealed_to(&other, b"secret");
        assert!(matches!(key.decrypt(&sealed), Err(CredentialError::Invalid(_))));
        assert!(matches!(key.decrypt("a.b.c"), Err(CredentialError::Malformed(_))));
    }
}
