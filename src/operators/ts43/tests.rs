//! A test wallet makes presentations the way a TS.43 wallet does (issuer JWT under a
//! certificate of `tests/fixtures/ts43/`, key-binding JWT by the holder key, the token
//! encrypted to the request's key); each refusal changes one thing.

use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{EncodingKey, Header};
use p256::pkcs8::{EncodePrivateKey, LineEnding};
use serde_json::json;

use super::*;
use crate::support::unix_now;

const CA: &str = include_str!("../../../tests/fixtures/ts43/ca.pem");
const OTHER_CA: &str = include_str!("../../../tests/fixtures/ts43/other-ca.pem");
const ISSUER_CERT: &str = include_str!("../../../tests/fixtures/ts43/issuer.pem");
const ISSUER_KEY: &str = include_str!("../../../tests/fixtures/ts43/issuer.key");
const ORIGIN: &str = "https://verify.example";
const NONCE: &str = "n-0123456789abcdef";

/// What the test wallet puts in; each test changes one field.
struct Wallet {
    chain: Vec<String>,
    issuer_key: EncodingKey,
    typ: &'static str,
    vct: &'static str,
    exp: u64,
    holder: p256::SecretKey,
    /// Signs the KB-JWT (the holder's key unless a test says otherwise).
    binder: p256::SecretKey,
    aud: String,
    nonce: String,
    iat: u64,
    sd_hash: Option<String>,
    recipient: Value,
    token: Value,
}

fn der_of(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    // Re-encoded to prove it is base64 (x5c is standard base64, not base64url).
    STANDARD.encode(STANDARD.decode(body).unwrap())
}

fn pem_key(key: &p256::SecretKey) -> EncodingKey {
    EncodingKey::from_ec_pem(key.to_pkcs8_pem(LineEnding::LF).unwrap().as_bytes()).unwrap()
}

fn public_jwk(key: &p256::SecretKey) -> Value {
    serde_json::from_str(&key.public_key().to_jwk_string()).unwrap()
}

impl Wallet {
    fn new(request_key: &EphemeralKey) -> Self {
        let holder = p256::SecretKey::random(&mut rand::rngs::OsRng);
        Wallet {
            chain: vec![der_of(ISSUER_CERT)],
            issuer_key: EncodingKey::from_ec_pem(ISSUER_KEY.as_bytes()).unwrap(),
            typ: FORMAT,
            vct: VCT_VERIFY,
            exp: unix_now() + 3600,
            binder: holder.clone(),
            holder,
            aud: ORIGIN.into(),
            nonce: NONCE.into(),
            iat: unix_now(),
            sd_hash: None,
            recipient: request_key.public_jwk(),
            token: json!({"temp_token": "op-token-1"}),
        }
    }

    /// `IssuerJWT~KB-JWT`, the key-binding claims carrying the encrypted token and the
    /// carrier, as wallets send it.
    fn present(&self) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(self.typ.into());
        header.x5c = Some(self.chain.clone());
        let claims = json!({
            "iss": "https://wallet.example", "vct": self.vct, "exp": self.exp, "iat": unix_now(),
            "cnf": {"jwk": public_jwk(&self.holder)},
        });
        let issuer_jwt = jsonwebtoken::encode(&header, &claims, &self.issuer_key).unwrap();
        let sd_jwt = format!("{issuer_jwt}~");
        let recipient = crate::support::jwe::public_key_from_jwk(&self.recipient).unwrap();
        let sealed = crate::support::jwe::encrypt(self.token.to_string().as_bytes(), &recipient, None).unwrap();
        let mut kb_header = Header::new(Algorithm::ES256);
        kb_header.typ = Some("kb+jwt".into());
        let kb = json!({
            "iat": self.iat, "aud": self.aud, "nonce": self.nonce,
            "sd_hash": self.sd_hash.clone().unwrap_or_else(|| URL_SAFE_NO_PAD.encode(Sha256::digest(sd_jwt.as_bytes()))),
            "encrypted_credential": sealed, "carrier_hint": "310250", "subscription_hint": 1,
        });
        let kb_jwt = jsonwebtoken::encode(&kb_header, &kb, &pem_key(&self.binder)).unwrap();
        format!("{sd_jwt}{kb_jwt}")
    }
}

fn anchors() -> TrustAnchors {
    TrustAnchors::from_pem(CA).unwrap()
}

fn check(presentation: &str, key: &EphemeralKey) -> Result<OperatorToken, CredentialError> {
    let expected = Expected {
        nonce: NONCE,
        origin: ORIGIN,
        key,
    };
    verify(presentation, &anchors(), &expected, unix_now())
}

#[test]
fn a_wallets_presentation_yields_its_operator_token() {
    let key = EphemeralKey::random();
    let token = check(&Wallet::new(&key).present(), &key).unwrap();
    assert_eq!(token.token.secret(), "op-token-1");
    assert_eq!(token.carrier_hint.as_deref(), Some("310250"));
    assert!(!format!("{token:?}").contains("op-token-1"), "Debug redacts the token");
}

/// Each refusal: one thing changed from a presentation that verifies.
#[test]
fn each_refusal_is_named() {
    let key = EphemeralKey::random();
    let other_key = EphemeralKey::random();
    let stranger = p256::SecretKey::random(&mut rand::rngs::OsRng);
    type Change = Box<dyn Fn(&mut Wallet)>;
    let cases: Vec<(&str, Change, CredentialError)> = vec![
        (
            "wrong nonce",
            Box::new(|w| w.nonce = "another".into()),
            CredentialError::Invalid("the key-binding JWT answers another request (nonce)"),
        ),
        (
            "wrong aud",
            Box::new(|w| w.aud = "https://evil.example".into()),
            CredentialError::Invalid("the key-binding JWT is for another origin"),
        ),
        (
            "sd_hash mismatch",
            Box::new(|w| w.sd_hash = Some(URL_SAFE_NO_PAD.encode(Sha256::digest(b"other")))),
            CredentialError::Invalid("sd_hash does not match the presentation"),
        ),
        (
            "expired issuer JWT",
            Box::new(|w| w.exp = unix_now() - 3600),
            CredentialError::Invalid("the credential has expired"),
        ),
        (
            "untrusted chain",
            Box::new(|w| w.chain = vec![der_of(OTHER_CA)]),
            CredentialError::Untrusted("the issuer's chain does not end in a trust anchor"),
        ),
        (
            "wrong JWE key",
            Box::new(move |w| w.recipient = other_key.public_jwk()),
            CredentialError::Invalid("the encrypted credential was not made to this request's key"),
        ),
        (
            "KB-JWT not by the holder",
            Box::new(move |w| w.binder = stranger.clone()),
            CredentialError::Invalid("the key-binding JWT is not signed by the holder key"),
        ),
        (
            "old KB-JWT",
            Box::new(|w| w.iat = unix_now() - 3600),
            CredentialError::Invalid("the key-binding JWT was not made now"),
        ),
        (
            "another credential type",
            Box::new(|w| w.vct = "number-verification/device-phone-number/ts43"),
            CredentialError::Invalid("the credential is not a number-verification credential"),
        ),
        (
            "another typ",
            Box::new(|w| w.typ = "JWT"),
            CredentialError::Malformed("the issuer JWT's typ is not dc-authorization+sd-jwt"),
        ),
        (
            "no operator token inside",
            Box::new(|w| w.token = json!({"other": 1})),
            CredentialError::Malformed("the decrypted credential is not {temp_token}"),
        ),
    ];
    for (name, change, refusal) in cases {
        let mut wallet = Wallet::new(&key);
        change(&mut wallet);
        assert_eq!(check(&wallet.present(), &key).unwrap_err(), refusal, "{name}");
    }
}

#[test]
fn a_chain_signed_by_another_key_is_refused() {
    // The issuer certificate, but presented as signed by the other root: the names do
    // not chain, and an anchor that is not the issuer's signer is never trusted.
    let anchors = TrustAnchors::from_pem(OTHER_CA).unwrap();
    let refused = anchors.verify(&[der_of(ISSUER_CERT)], unix_now()).unwrap_err();
    assert_eq!(
        refused,
        CredentialError::Untrusted("the issuer's chain does not end in a trust anchor")
    );
    // The right anchor, but long after the certificates expire.
    let refused = super::x5c::TrustAnchors::from_pem(CA)
        .unwrap()
        .verify(&[der_of(ISSUER_CERT)], unix_now() + 200 * 365 * 24 * 3600)
        .unwrap_err();
    assert_eq!(
        refused,
        CredentialError::Untrusted("a certificate of the issuer's chain is not valid now")
    );
}

#[test]
fn disclosures_must_be_signed_by_the_issuer() {
    let key = EphemeralKey::random();
    let presentation = Wallet::new(&key).present();
    let (issuer_jwt, kb) = presentation.split_once('~').unwrap();
    let forged = URL_SAFE_NO_PAD.encode(r#"["salt","carrier_hint","999999"]"#);
    let refused = check(&format!("{issuer_jwt}~{forged}~{kb}"), &key).unwrap_err();
    assert_eq!(
        refused,
        CredentialError::Invalid("a disclosure is not one the issuer signed")
    );
}

#[test]
fn malformed_presentations_are_refused_without_panicking() {
    let key = EphemeralKey::random();
    for bad in [
        "",
        "~",
        "abc",
        "a~b",
        "a.b.c~",
        "~~~~",
        &"x".repeat(MAX_PRESENTATION + 1),
    ] {
        assert!(check(bad, &key).is_err(), "{bad:.20}");
    }
    assert!(TrustAnchors::from_pem("no certificate here").is_err());
}
