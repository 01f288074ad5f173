//! What the tokens say: the verdict of one verification, and each token's claims.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::TOKEN_LIFETIME_SECS;
use crate::{outcome::Proof, phone::E164, support::unix_now};

/// What one finished verification proved, as every token carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The number asked about, or the number the operator shared.
    pub phone_number: E164,
    /// `true`: the operator confirmed the device is on `phone_number`; `false`: it said
    /// the device has another number.
    pub verified: bool,
    /// The verification's correlation id (its log lines carry it too).
    pub txn: String,
    /// When the operator answered (seconds since the epoch).
    pub auth_time: u64,
    /// How it was proven (`amr`). Absent in records written before it existed: all
    /// network redirects.
    #[serde(default)]
    pub proof: Proof,
}

/// The number masked: a verdict is logged only this way.
impl std::fmt::Debug for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verdict")
            .field("phone_number", &self.phone_number.redacted())
            .field("verified", &self.verified)
            .field("txn", &self.txn)
            .finish()
    }
}

/// The pairwise subject identifier (OIDC Core 1.0 §8.1): an HMAC of the number under the
/// deployment's key, per relying party, so two relying parties cannot correlate one
/// person and `sub` never reveals the number.
pub struct Subject;

impl Subject {
    /// The subject of a verified number: the same for one relying party every time.
    pub fn pairwise(key: &[u8], client_id: &str, number: &E164) -> String {
        Self::mac(key, &[client_id.as_bytes(), number.as_str().as_bytes()])
    }

    /// The subject of a number that was *not* verified (the device is on another one):
    /// never the number's own, or a relying party that keys accounts by `sub` alone would
    /// let anyone who asks about a number into its holder's account. One-off: derived from
    /// the verification's correlator, so it matches nobody.
    pub fn unverified(key: &[u8], client_id: &str, txn: &str) -> String {
        Self::mac(key, &[client_id.as_bytes(), b"unverified", txn.as_bytes()])
    }

    fn mac(key: &[u8], parts: &[&[u8]]) -> String {
        use base64::Engine;
        // new_from_slice accepts a key of any length for HMAC.
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(&[0]);
            }
            mac.update(part);
        }
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

/// The id_token (OIDC Core 1.0 §2, §5.1): the verdict for one relying party.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    pub auth_time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub phone_number: String,
    pub phone_number_verified: bool,
    pub amr: Vec<String>,
    pub txn: String,
}

impl IdTokenClaims {
    pub fn new(issuer: &str, client_id: &str, sub: String, nonce: Option<String>, verdict: &Verdict) -> Self {
        let now = unix_now();
        Self {
            iss: issuer.to_owned(),
            sub,
            aud: client_id.to_owned(),
            exp: now + TOKEN_LIFETIME_SECS,
            iat: now,
            auth_time: verdict.auth_time,
            nonce,
            phone_number: verdict.phone_number.as_str().to_owned(),
            phone_number_verified: verdict.verified,
            amr: vec![verdict.proof.amr().to_owned()],
            txn: verdict.txn.clone(),
        }
    }
}

/// The access token `/userinfo` accepts (RFC 9068 shape): who it is for, its id (for
/// revocation) and the claims `/userinfo` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: u64,
    pub iat: u64,
    pub jti: String,
    pub scope: String,
    pub auth_time: u64,
    pub phone_number: String,
    pub phone_number_verified: bool,
    pub amr: Vec<String>,
    pub txn: String,
}

/// The mobile-app API's signed verdict: its backend checks it against `jwks_uri`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerificationClaims {
    pub iss: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    pub phone_number: String,
    pub phone_number_verified: bool,
    pub amr: Vec<String>,
    pub txn: String,
}

impl VerificationClaims {
    pub fn new(issuer: &str, audience: &str, verdict: &Verdict) -> Self {
        let now = unix_now();
        Self {
            iss: issuer.to_owned(),
            aud: audience.to_owned(),
            iat: now,
            exp: now + TOKEN_LIFETIME_SECS,
            jti: crate::support::random_token(),
            phone_number: verdict.phone_number.as_str().to_owned(),
            phone_number_verified: verdict.verified,
            amr: vec![verdict.proof.amr().to_owned()],
            txn: verdict.txn.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::normalise;

    #[test]
    fn the_pairwise_subject_differs_per_relying_party_and_hides_the_number() {
        let number = normalise("+99012345678").unwrap();
        let a = Subject::pairwise(b"key", "shop", &number);
        let b = Subject::pairwise(b"key", "bank", &number);
        assert_ne!(a, b);
        assert_eq!(a, Subject::pairwise(b"key", "shop", &number));
        assert_ne!(a, Subject::pairwise(b"other key", "shop", &number));
        assert!(!a.contains("99012345678"));
        let unverified = Subject::unverified(b"key", "shop", "txn-1");
        assert_ne!(unverified, a);
        assert_ne!(unverified, Subject::unverified(b"key", "shop", "txn-2"));
    }

    #[test]
    fn every_token_says_how_its_verdict_was_proven() {
        let verdict = |proof| Verdict {
            phone_number: normalise("+99012345678").unwrap(),
            verified: true,
            txn: "txn-1".into(),
            auth_time: 1,
            proof,
        };
        for (proof, amr) in [
            (Proof::NetworkRedirect, "nba"),
            (Proof::OperatorToken, "operator_token"),
        ] {
            let id = IdTokenClaims::new("https://iss", "shop", "sub".into(), None, &verdict(proof));
            assert_eq!(id.amr, [amr]);
            assert_eq!(
                VerificationClaims::new("https://iss", "app", &verdict(proof)).amr,
                [amr]
            );
        }
        // A verdict stored before `proof` existed reads as a network redirect.
        let old: Verdict =
            serde_json::from_str(r#"{"phone_number":"+99012345678","verified":true,"txn":"t","auth_time":1}"#).unwrap();
        assert_eq!(old.proof, Proof::NetworkRedirect);
    }
}
