//! Private keys from configuration, parsed once into keys ready to sign: a variable holds
//! the PEM itself or a path to it.

use super::ConfigError;
use crate::operators::SigningKey;

/// A PEM given as itself or as a path to it.
pub(super) fn read_pem(name: &'static str, value: &str) -> Result<String, ConfigError> {
    if value.contains("-----BEGIN") {
        // `.env` files often carry the PEM on one line with literal `\n`s.
        Ok(value.replace("\\n", "\n"))
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| ConfigError::new(name, format!("cannot read the key file “{value}”: {e}")))
    }
}

/// `VONAGE_PRIVATE_KEY`: the Vonage application's RSA private key.
pub(super) fn vonage_private_key(value: &str) -> Result<SigningKey, ConfigError> {
    let pem = read_pem("VONAGE_PRIVATE_KEY", value)?;
    SigningKey::rsa_from_pem(&pem).map_err(|e| {
        ConfigError::new(
            "VONAGE_PRIVATE_KEY",
            format!("is not an RSA private key in PEM form: {e}"),
        )
    })
}

/// `CAMARA_CLIENT_KEY`: a P-256 (ES256) or RSA (RS256) private key in PKCS#8 PEM, as
/// CAMARA's security profile allows for `private_key_jwt`.
pub(super) fn camara_client_key(value: &str) -> Result<SigningKey, ConfigError> {
    let pem = read_pem("CAMARA_CLIENT_KEY", value)?;
    SigningKey::ec_or_rsa_from_pem(&pem).ok_or_else(|| {
        ConfigError::new(
            "CAMARA_CLIENT_KEY",
            "is not a P-256 (ES256) or RSA (RS256) private key in PEM form".into(),
        )
    })
}

/// `TS43_TRUST_ANCHORS`: the certificates (PEM, one or more) a phone-number credential
/// issuer's chain must end in.
pub(super) fn ts43_trust_anchors(value: &str) -> Result<crate::operators::ts43::TrustAnchors, ConfigError> {
    let pem = if value.contains("-----BEGIN") {
        value.replace("\\n", "\n")
    } else {
        std::fs::read_to_string(value)
            .map_err(|e| ConfigError::new("TS43_TRUST_ANCHORS", format!("cannot read the file “{value}”: {e}")))?
    };
    crate::operators::ts43::TrustAnchors::from_pem(&pem)
        .map_err(|reason| ConfigError::new("TS43_TRUST_ANCHORS", reason))
}
