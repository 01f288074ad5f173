//! The credential's encrypted operator token: a compact JWE (RFC 7516 §7.1) with
//! `alg: ECDH-ES` (direct key agreement, RFC 7518 §4.6) and `enc: A128GCM` (RFC 7518
//! §5.3), made by the wallet to the ephemeral P-256 key this server created for one
//! request. Only these two algorithms are accepted: anything else is refused before any
//! key is used (RFC 8725 §3.1).

use aes_gcm::{aead::Aead, Aes128Gcm, KeyInit, Nonce};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use p256::{
    ecdh::diffie_hellman,
    elliptic_curve::sec1::{FromEncodedPoint, ToEncodedPoint},
    PublicKey, SecretKey,
};
use serde::Deserialize;
use sha2::Sha256;

use super::CredentialError;

/// The protected header as far as this decryption reads it.
#[derive(Deserialize)]
struct Header {
    alg: String,
    enc: String,
    epk: EcJwk,
    #[serde(default)]
    apu: Option<String>,
    #[serde(default)]
    apv: Option<String>,
}

/// A public EC JWK's members this reads; others (`kid`, `use`, `alg`) are ignored.
#[derive(Deserialize)]
struct EcJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
}

impl EcJwk {
    /// The point, checked on P-256 (RFC 7518 §4.6.1.1: an off-curve point leaks the
    /// private key it is combined with).
    fn public_key(&self) -> Option<PublicKey> {
        if self.kty != "EC" || self.crv != "P-256" {
            return None;
        }
        let (x, y) = (decode(&self.x)?, decode(&self.y)?);
        if x.len() != 32 || y.len() != 32 {
            return None;
        }
        let point = p256::EncodedPoint::from_affine_coordinates(x.as_slice().into(), y.as_slice().into(), false);
        Option::from(PublicKey::from_encoded_point(&point))
    }
}

/// An ephemeral P-256 key pair for one credential request: the public half goes to the
/// wallet (through the request), the private half stays with the pending verification
/// and decrypts exactly one answer.
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

    /// The public half as a JWK for the wallet: `use: enc`, `alg: ECDH-ES`.
    pub fn public_jwk(&self) -> serde_json::Value {
        let point = self.0.public_key().to_encoded_point(false);
        let (x, y) = (point.x().map(|x| x.to_vec()), point.y().map(|y| y.to_vec()));
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x.unwrap_or_default()),
            "y": URL_SAFE_NO_PAD.encode(y.unwrap_or_default()),
            "use": "enc",
            "alg": "ECDH-ES",
        })
    }

    /// Decrypts a compact JWE made to this key; its plaintext.
    pub fn decrypt(&self, jwe: &str) -> Result<Vec<u8>, CredentialError> {
        let parts: Vec<&str> = jwe.split('.').collect();
        let [protected, encrypted_key, iv, ciphertext, tag] = parts[..] else {
            return Err(CredentialError::Malformed(
                "the encrypted credential is not a compact JWE",
            ));
        };
        let header: Header = decode(protected)
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(CredentialError::Malformed(
                "the encrypted credential's header does not decode",
            ))?;
        if header.alg != "ECDH-ES" || header.enc != "A128GCM" {
            return Err(CredentialError::Unsupported(
                "the encrypted credential is not ECDH-ES with A128GCM",
            ));
        }
        // RFC 7518 §4.6: direct key agreement carries no encrypted key.
        if !encrypted_key.is_empty() {
            return Err(CredentialError::Malformed(
                "an ECDH-ES credential carries an encrypted key",
            ));
        }
        let sender = header.epk.public_key().ok_or(CredentialError::Malformed(
            "the encrypted credential's epk is not a P-256 key",
        ))?;
        let apu = header.apu.as_deref().map(decode).unwrap_or(Some(Vec::new()));
        let apv = header.apv.as_deref().map(decode).unwrap_or(Some(Vec::new()));
        let (Some(apu), Some(apv)) = (apu, apv) else {
            return Err(CredentialError::Malformed("apu or apv is not base64url"));
        };
        let key = content_key(&self.0, &sender, &apu, &apv)?;
        let iv = decode(iv).and_then(|iv| <[u8; 12]>::try_from(iv).ok());
        let (Some(iv), Some(mut sealed), Some(tag)) = (iv, decode(ciphertext), decode(tag).filter(|t| t.len() == 16))
        else {
            return Err(CredentialError::Malformed(
                "the encrypted credential's iv, ciphertext or tag",
            ));
        };
        sealed.extend_from_slice(&tag);
        // RFC 7516 §5.2 step 14: the AAD is the ASCII of the encoded protected header.
        Aes128Gcm::new((&key).into())
            .decrypt(
                &Nonce::from(iv),
                aes_gcm::aead::Payload {
                    msg: &sealed,
                    aad: protected.as_bytes(),
                },
            )
            .map_err(|_| CredentialError::Invalid("the encrypted credential was not made to this request's key"))
    }
}

/// The A128GCM key agreed by ECDH-ES between `ours` and `theirs` (RFC 7518 §4.6.2: the
/// Concat KDF of NIST SP 800-56A over SHA-256, through the `concat-kdf` crate).
fn content_key(ours: &SecretKey, theirs: &PublicKey, apu: &[u8], apv: &[u8]) -> Result<[u8; 16], CredentialError> {
    let shared = diffie_hellman(ours.to_nonzero_scalar(), theirs.as_affine());
    let mut key = [0u8; 16];
    concat_kdf::derive_key_into::<Sha256>(
        shared.raw_secret_bytes(),
        &other_info("A128GCM", apu, apv, 128),
        &mut key,
    )
    .map_err(|_| CredentialError::Malformed("the content key could not be derived"))?;
    Ok(key)
}

/// RFC 7518 §4.6.2's OtherInfo for direct key agreement: AlgorithmID (the `enc`),
/// PartyUInfo, PartyVInfo, each length-prefixed, then SuppPubInfo (the key's bit length).
fn other_info(enc: &str, apu: &[u8], apv: &[u8], key_bits: u32) -> Vec<u8> {
    let mut info = Vec::new();
    for field in [enc.as_bytes(), apu, apv] {
        info.extend_from_slice(&(field.len() as u32).to_be_bytes());
        info.extend_from_slice(field);
    }
    info.extend_from_slice(&key_bits.to_be_bytes());
    info
}

fn decode(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part).ok()
}

/// A JWE made to `recipient`, the way a wallet makes one: for tests of the decryption
/// (the virtual operator has its own, as a wallet would).
#[cfg(test)]
pub(super) fn encrypt_for_tests(recipient: &serde_json::Value, plaintext: &[u8]) -> String {
    let recipient: EcJwk = serde_json::from_value(recipient.clone()).unwrap();
    let recipient = recipient.public_key().unwrap();
    let ephemeral = EphemeralKey::random();
    let epk = ephemeral.public_jwk();
    let header = serde_json::json!({
        "alg": "ECDH-ES", "enc": "A128GCM", "apu": "", "apv": "",
        "epk": {"kty": "EC", "crv": "P-256", "x": epk["x"], "y": epk["y"]},
    });
    let protected = URL_SAFE_NO_PAD.encode(header.to_string());
    let key = content_key(&ephemeral.0, &recipient, &[], &[]).unwrap();
    let iv: [u8; 12] = rand::random();
    let sealed = Aes128Gcm::new((&key).into())
        .encrypt(
            &Nonce::from(iv),
            aes_gcm::aead::Payload {
                msg: plaintext,
                aad: protected.as_bytes(),
            },
        )
        .unwrap();
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    format!(
        "{protected}..{}.{}.{}",
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ciphertext),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7518 Appendix C: Bob's key and Alice's ephemeral key, `apu` "Alice", `apv`
    /// "Bob", agree on the content key `VqqN6vgjbSBcIijNcacQGg`.
    #[test]
    fn the_content_key_is_rfc_7518_appendix_c() {
        let bob = SecretKey::from_slice(&decode("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw").unwrap()).unwrap();
        let alice = EcJwk {
            kty: "EC".into(),
            crv: "P-256".into(),
            x: "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0".into(),
            y: "SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps".into(),
        };
        let key = content_key(&bob, &alice.public_key().unwrap(), b"Alice", b"Bob").unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(key), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn a_jwe_made_to_the_key_decrypts() {
        let key = EphemeralKey::random();
        let jwe = encrypt_for_tests(&key.public_jwk(), br#"{"temp_token":"t"}"#);
        assert_eq!(key.decrypt(&jwe).unwrap(), br#"{"temp_token":"t"}"#);
        let again = EphemeralKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(again.decrypt(&jwe).unwrap(), br#"{"temp_token":"t"}"#);
    }

    #[test]
    fn a_jwe_made_to_another_key_is_refused() {
        let (key, other) = (EphemeralKey::random(), EphemeralKey::random());
        let jwe = encrypt_for_tests(&other.public_jwk(), b"secret");
        assert!(matches!(key.decrypt(&jwe), Err(CredentialError::Invalid(_))));
    }

    #[test]
    fn a_tampered_jwe_is_refused() {
        let key = EphemeralKey::random();
        let jwe = encrypt_for_tests(&key.public_jwk(), b"secret");
        let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        let mut ciphertext = URL_SAFE_NO_PAD.decode(&parts[3]).unwrap();
        ciphertext[0] ^= 1;
        parts[3] = URL_SAFE_NO_PAD.encode(ciphertext);
        assert!(matches!(
            key.decrypt(&parts.join(".")),
            Err(CredentialError::Invalid(_))
        ));
    }

    #[test]
    fn other_algorithms_are_refused_before_any_key_is_used() {
        let key = EphemeralKey::random();
        let header = URL_SAFE_NO_PAD
            .encode(r#"{"alg":"RSA-OAEP","enc":"A128GCM","epk":{"kty":"EC","crv":"P-256","x":"","y":""}}"#);
        let refused = key.decrypt(&format!("{header}..AAAAAAAAAAAAAAAA.AA.AAAAAAAAAAAAAAAAAAAAAA"));
        assert!(matches!(refused, Err(CredentialError::Unsupported(_))), "{refused:?}");
        assert!(matches!(key.decrypt("a.b.c"), Err(CredentialError::Malformed(_))));
    }
}
