//! The SD-JWT a TS.43 wallet presents (RFC 9901, SD-JWT with key binding): the issuer
//! JWT, one disclosure (`encrypted_credential`) and the key-binding JWT, as
//! `IssuerJWT~Disclosure~KB-JWT`.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use p256::{pkcs8::EncodePrivateKey, SecretKey};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Issuer, JWT_TTL_SECS};
use crate::{
    sandbox_contract::{TS43_FORMAT, TS43_VCT},
    support::{random_value, unix_now},
};

/// `typ` of the key-binding JWT (RFC 9901 §4.3).
const KB_JWT_TYP: &str = "kb+jwt";

/// What the presentation binds to: the issuer's `iss`, the verifier's origin (`aud`) and
/// its nonce.
pub(crate) struct Binding<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    pub nonce: &'a str,
}

/// RFC 9901 §4.2.1: a disclosure is base64url of the JSON array `[salt, name, value]`.
fn disclosure(name: &str, value: &str) -> String {
    B64.encode(json!([random_value(16), name, value]).to_string())
}

/// RFC 9901 §4.2.3 and §4.3.1: base64url of SHA-256 over the ASCII text.
fn digest(text: &str) -> String {
    B64.encode(Sha256::digest(text.as_bytes()))
}

/// The presentation `IssuerJWT~Disclosure~KB-JWT`, disclosing `encrypted_credential`,
/// bound to a fresh holder key (`cnf.jwk`) that signs the key-binding JWT.
pub(crate) fn present(issuer: &Issuer, binding: &Binding<'_>, encrypted_credential: &str) -> Result<String, String> {
    let holder = SecretKey::random(&mut rand::thread_rng());
    let disclosure = disclosure("encrypted_credential", encrypted_credential);
    let now = unix_now();
    let claims = json!({
        "iss": binding.iss,
        "iat": now,
        "exp": now + JWT_TTL_SECS,
        "vct": TS43_VCT,
        // RFC 9901 §4.1.2 and RFC 7800 §3.2: the holder's key, for key binding.
        "cnf": { "jwk": holder.public_key().to_jwk() },
        "_sd": [digest(&disclosure)],
        "_sd_alg": "sha-256",
    });
    let issuer_jwt = issuer.sign(TS43_FORMAT, &claims)?;
    // RFC 9901 §4.3.1: `sd_hash` covers the issuer JWT and the disclosures, with the
    // final `~`.
    let presented = format!("{issuer_jwt}~{disclosure}~");
    let kb_claims = json!({
        "iat": now,
        "aud": binding.aud,
        "nonce": binding.nonce,
        "sd_hash": digest(&presented),
    });
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some(KB_JWT_TYP.to_owned());
    let holder_der = holder.to_pkcs8_der().map_err(|e| e.to_string())?;
    let kb_jwt =
        encode(&header, &kb_claims, &EncodingKey::from_ec_der(holder_der.as_bytes())).map_err(|e| e.to_string())?;
    Ok(format!("{presented}{kb_jwt}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disclosures_and_digests_are_rfc_9901() {
        let d = disclosure("encrypted_credential", "a.b.c.d.e");
        let array: serde_json::Value = serde_json::from_slice(&B64.decode(&d).unwrap()).unwrap();
        assert_eq!(array[1], "encrypted_credential");
        assert_eq!(array[2], "a.b.c.d.e");
        assert!(array[0].as_str().unwrap().len() >= 16, "a salt of 128 bits");
        // RFC 9901 §4.2.3's example disclosure and its digest.
        assert_eq!(
            digest("WyI2cU1RdlJMNWhhaiIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"),
            "uutlBuYeMDyjLLTpf6Jxi7yNkEF35jdyWMn9U7b_RYY"
        );
    }
}
