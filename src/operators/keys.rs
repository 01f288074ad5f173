//! Private keys ready to sign, parsed once from configuration: the Vonage application's
//! RSA key and the standard CAMARA client's assertion key.

use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// A private key and the algorithm it signs with. `Debug` names the algorithm only.
#[derive(Clone)]
pub struct SigningKey {
    key: EncodingKey,
    alg: Algorithm,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?})", self.alg)
    }
}

impl SigningKey {
    /// An RSA private key in PEM form, for RS256.
    pub fn rsa_from_pem(pem: &str) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self {
            key: EncodingKey::from_rsa_pem(pem.as_bytes())?,
            alg: Algorithm::RS256,
        })
    }

    /// A P-256 key (ES256) or an RSA key (RS256) in PEM form: what CAMARA's security
    /// profile allows for `private_key_jwt`. `None`: it is neither.
    pub fn ec_or_rsa_from_pem(pem: &str) -> Option<Self> {
        if let Ok(key) = EncodingKey::from_ec_pem(pem.as_bytes()) {
            return Some(Self {
                key,
                alg: Algorithm::ES256,
            });
        }
        Self::rsa_from_pem(pem).ok()
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// A JWS header for this key's algorithm, for the caller to add `typ`/`kid` to.
    pub fn header(&self) -> Header {
        Header::new(self.alg)
    }

    /// The public half as a JWK (the caller adds `kid` and `use`). Only ES256 and RS256
    /// keys are ever built here, both of which jsonwebtoken exports.
    pub fn public_jwk(&self) -> Result<jsonwebtoken::jwk::Jwk, jsonwebtoken::errors::Error> {
        jsonwebtoken::jwk::Jwk::from_encoding_key(&self.key, self.alg)
    }

    pub fn sign(&self, header: &Header, claims: &impl serde::Serialize) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(header, claims, &self.key)
    }
}
