//! Compact JWE (RFC 7516 §7.1) with direct key agreement `ECDH-ES` on P-256 and the
//! content cipher `A128GCM` (RFC 7518 §4.6 and §5.3): the encrypted credential of a TS.43
//! phone-number credential. Both directions: the virtual operator's wallet encrypts, a
//! relying party decrypts. The primitives are RustCrypto's (`p256` ECDH, `concat-kdf`,
//! `aes-gcm`); this module only assembles them as the RFCs say.

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes128Gcm, Nonce,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use p256::{ecdh::diffie_hellman, PublicKey, SecretKey};
use serde_json::{json, Value};

/// The only key management and content encryption algorithms this module speaks.
pub const ALG: &str = "ECDH-ES";
pub const ENC: &str = "A128GCM";

/// Why a JWE was not opened (never echoes the JWE or a key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweError {
    #[error("the JWE is not in compact serialization (five base64url parts)")]
    NotCompact,
    #[error("the JWE's protected header is not a JSON object")]
    BadHeader,
    #[error("the JWE's alg must be ECDH-ES and its enc A128GCM")]
    UnsupportedAlgorithm,
    #[error("the JWE's epk is not a P-256 public key")]
    BadEphemeralKey,
    #[error("a JWE with direct key agreement carries no encrypted key")]
    UnexpectedEncryptedKey,
    #[error("the JWE does not decrypt with this key (or was altered)")]
    Decrypt,
}

/// A P-256 public key from a JWK object, whatever other members it has (`use`, `alg`,
/// `kid`: `p256` reads only `kty`, `crv`, `x`, `y`); `None` if it is not one (or holds
/// a private key, `d`).
pub fn public_key_from_jwk(jwk: &Value) -> Option<PublicKey> {
    if jwk.get("d").is_some() {
        return None;
    }
    let core = json!({ "kty": jwk.get("kty")?, "crv": jwk.get("crv")?, "x": jwk.get("x")?, "y": jwk.get("y")? });
    PublicKey::from_jwk_str(&core.to_string()).ok()
}

/// The Concat KDF's `OtherInfo` (RFC 7518 §4.6.2; NIST SP 800-56A §5.8.1): `AlgorithmID`
/// (here, direct key agreement, the `enc` value), `PartyUInfo`, `PartyVInfo`, each as a
/// 32-bit big-endian length and the octets, then `SuppPubInfo`, the key length in bits.
fn other_info(enc: &str, apu: &[u8], apv: &[u8], key_bits: u32) -> Vec<u8> {
    let mut info = Vec::with_capacity(16 + enc.len() + apu.len() + apv.len());
    for part in [enc.as_bytes(), apu, apv] {
        info.extend_from_slice(&(part.len() as u32).to_be_bytes());
        info.extend_from_slice(part);
    }
    info.extend_from_slice(&key_bits.to_be_bytes());
    info
}

/// The content encryption key agreed between `secret` and `public` (RFC 7518 §4.6.2).
fn agree(secret: &SecretKey, public: &PublicKey, apu: &[u8], apv: &[u8]) -> Result<[u8; 16], JweError> {
    let shared = diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    let mut key = [0u8; 16];
    concat_kdf::derive_key_into::<sha2::Sha256>(shared.raw_secret_bytes(), &other_info(ENC, apu, apv, 128), &mut key)
        .map_err(|_| JweError::Decrypt)?;
    Ok(key)
}

/// Encrypts `plaintext` to `recipient` (a fresh ephemeral key each time, no `apu`/`apv`);
/// `kid` names the recipient key if given. The compact serialization.
pub fn encrypt(plaintext: &[u8], recipient: &PublicKey, kid: Option<&str>) -> Result<String, JweError> {
    use rand::RngCore;
    let ephemeral = SecretKey::random(&mut rand::thread_rng());
    let epk: Value = serde_json::to_value(ephemeral.public_key().to_jwk()).map_err(|_| JweError::BadEphemeralKey)?;
    let mut header = json!({ "alg": ALG, "enc": ENC, "epk": epk });
    if let Some(kid) = kid {
        header["kid"] = json!(kid);
    }
    let protected = B64.encode(header.to_string());
    let key = agree(&ephemeral, recipient, &[], &[])?;
    let mut iv = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut iv);
    let cipher = Aes128Gcm::new_from_slice(&key).map_err(|_| JweError::Decrypt)?;
    // RFC 7516 §5.1 step 14: the AAD is ASCII(BASE64URL(UTF8(JWE Protected Header))).
    let sealed = cipher
        .encrypt(
            &Nonce::from(iv),
            Payload {
                msg: plaintext,
                aad: protected.as_bytes(),
            },
        )
        .map_err(|_| JweError::Decrypt)?;
    // aes-gcm appends the 128-bit tag; JWE carries it as its own part.
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    Ok(format!(
        "{protected}..{}.{}.{}",
        B64.encode(iv),
        B64.encode(ciphertext),
        B64.encode(tag)
    ))
}

/// Opens a compact JWE made with [`encrypt`] (or any `ECDH-ES` + `A128GCM` JWE, `apu` and
/// `apv` honoured) with the recipient's `secret`.
pub fn decrypt(jwe: &str, secret: &SecretKey) -> Result<Vec<u8>, JweError> {
    let parts: Vec<&str> = jwe.split('.').collect();
    let [protected, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(JweError::NotCompact);
    };
    let decode = |part: &str| B64.decode(part).map_err(|_| JweError::NotCompact);
    let header: Value = serde_json::from_slice(&decode(protected)?).map_err(|_| JweError::BadHeader)?;
    if !header.is_object() {
        return Err(JweError::BadHeader);
    }
    if header["alg"] != ALG || header["enc"] != ENC {
        return Err(JweError::UnsupportedAlgorithm);
    }
    // RFC 7518 §4.6: with direct key agreement the JWE Encrypted Key is empty.
    if !encrypted_key.is_empty() {
        return Err(JweError::UnexpectedEncryptedKey);
    }
    let epk = public_key_from_jwk(&header["epk"]).ok_or(JweError::BadEphemeralKey)?;
    let party = |name: &str| match header.get(name).and_then(Value::as_str) {
        Some(v) => B64.decode(v).map_err(|_| JweError::BadHeader),
        None => Ok(Vec::new()),
    };
    let key = agree(secret, &epk, &party("apu")?, &party("apv")?)?;
    let (iv, ciphertext, tag) = (decode(iv)?, decode(ciphertext)?, decode(tag)?);
    // A128GCM: a 96-bit IV and a 128-bit tag (RFC 7518 §5.3).
    let iv: [u8; 12] = iv.try_into().map_err(|_| JweError::Decrypt)?;
    if tag.len() != 16 {
        return Err(JweError::Decrypt);
    }
    let mut sealed = ciphertext;
    sealed.extend_from_slice(&tag);
    let cipher = Aes128Gcm::new_from_slice(&key).map_err(|_| JweError::Decrypt)?;
    cipher
        .decrypt(
            &Nonce::from(iv),
            Payload {
                msg: &sealed,
                aad: protected.as_bytes(),
            },
        )
        .map_err(|_| JweError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7518 Appendix C: the key Alice and Bob agree with ECDH-ES for A128GCM, with
    /// `apu` "Alice" and `apv` "Bob".
    #[test]
    fn key_agreement_is_rfc_7518_appendix_c() {
        let bob = SecretKey::from_jwk_str(
            r#"{"kty":"EC","crv":"P-256","x":"weNJy2HscCSM6AEDTDg04biOvhFhyyWvOHQfeF_PxMQ","y":"e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck","d":"VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw"}"#,
        )
        .unwrap();
        let alice_epk = PublicKey::from_jwk_str(
            r#"{"kty":"EC","crv":"P-256","x":"gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0","y":"SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps"}"#,
        )
        .unwrap();
        let key = agree(&bob, &alice_epk, b"Alice", b"Bob").unwrap();
        assert_eq!(B64.encode(key), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn round_trip_and_refusals() {
        let recipient = SecretKey::random(&mut rand::thread_rng());
        let jwe = encrypt(br#"{"temp_token":"t"}"#, &recipient.public_key(), Some("k1")).unwrap();
        assert_eq!(jwe.split('.').count(), 5);
        assert_eq!(decrypt(&jwe, &recipient).unwrap(), br#"{"temp_token":"t"}"#);

        let other = SecretKey::random(&mut rand::thread_rng());
        assert_eq!(decrypt(&jwe, &other), Err(JweError::Decrypt));
        // A flipped ciphertext bit fails the tag.
        let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        let mut ct = B64.decode(&parts[3]).unwrap();
        ct[0] ^= 1;
        parts[3] = B64.encode(ct);
        assert_eq!(decrypt(&parts.join("."), &recipient), Err(JweError::Decrypt));
        // The header is authenticated too.
        let header = json!({"alg": ALG, "enc": ENC, "epk": serde_json::from_str::<Value>(
            &String::from_utf8(B64.decode(jwe.split('.').next().unwrap()).unwrap()).unwrap()).unwrap()["epk"], "kid": "k2"});
        let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        parts[0] = B64.encode(header.to_string());
        assert_eq!(decrypt(&parts.join("."), &recipient), Err(JweError::Decrypt));
        assert_eq!(decrypt("a.b.c", &recipient), Err(JweError::NotCompact));
        let rsa = format!("{}..a.b.c", B64.encode(r#"{"alg":"RSA-OAEP","enc":"A128GCM"}"#));
        assert_eq!(decrypt(&rsa, &recipient), Err(JweError::UnsupportedAlgorithm));
    }
}
