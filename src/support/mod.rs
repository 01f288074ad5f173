//! Small building blocks both systems use (the app and the virtual operator): wall-clock
//! seconds, random values, digests, expiring maps, redacting newtypes and the JWE of a
//! TS.43 credential. Imports nothing else of this crate.

pub mod jwe;
pub mod redacted;
pub mod redis_connection;
pub mod signed_body;
pub mod ttl_map;
pub mod urls;

/// Seconds since the Unix epoch: JWT `iat`/`exp`/`nbf` and expiry checks.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Lowercase hex SHA-256 of a string (hashed phone numbers, client-key ids).
pub fn sha256_hex(value: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// 128 random bits as 32 lowercase hex digits: states, nonces, session and result ids.
pub fn random_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether `value` has the shape [`random_token`] gives.
pub fn is_token_shaped(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `bytes` of entropy as URL-safe base64 without padding (codes, hop ids, access tokens).
pub fn random_value(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Compares secrets in time that does not depend on where they differ (`subtle`).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_hex_matches_the_gsma_vector() {
        assert_eq!(
            sha256_hex("+44123456789"),
            "3d84a3838599719df7deacc7fb91903bde5430a8c0e007c3eba93bce0c69c5a2"
        );
    }

    #[test]
    fn tokens_have_their_shape() {
        let token = random_token();
        assert!(is_token_shaped(&token), "{token}");
        assert_ne!(token, random_token());
        assert!(!is_token_shaped("ABCDEF0123456789abcdef0123456789"));
        assert!(!is_token_shaped("abc"));
        assert_eq!(random_value(32).len(), 43);
        assert_ne!(random_value(16), random_value(16));
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn the_clock_is_past_2020() {
        assert!(unix_now() > 1_577_836_800);
    }
}
