//! TS.43 phone-number credentials (docs/reference.md §2.4): the aggregator's credential
//! request, the virtual wallet's SD-JWT presentation — checked here as a relying party
//! checks it: the issuer JWT's `x5c` chain to the sandbox CA, the key-binding JWT, the
//! JWE — and the JWT-bearer grant of the operator token, then `verify`.
//!
//! The relying party brings its own response encryption key (`encryption_jwk`), as the
//! app does, so the test holds the private half; one test opens the JWE of a request
//! whose key the aggregator made, through the sandbox's test-only accessor.

use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64},
    Engine,
};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use number_verify::{
    sandbox_contract::{
        credentials::{CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY_ID, TS43_SANDBOX_CA},
        JWT_BEARER_GRANT_TYPE, TS43_CREDENTIALS_PATH, VIRTUAL_WALLET_PATH,
    },
    support::jwe,
};
use p256::{ecdsa::signature::Verifier, PublicKey, SecretKey};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use x509_cert::{
    der::{Decode, Encode},
    Certificate,
};

use crate::harness::{
    assert_camara_error, assert_malformed, assert_oauth_error, assert_oauth_error_hint, assertion_claims,
    es256_assertion, json_of, now, signed_assertion, start, Harness, V2Op,
};

/// The page the credential is presented to (the KB-JWT's `aud`).
const ORIGIN: &str = "https://rp.example";
const SCOPE: &str = "dpv:FraudPreventionAndDetection number-verification:verify";
const SIM: &str = "+99012345678";
/// A P-256 key that is not the client's.
const OTHER_EC_KEY: &str = include_str!("../../sandbox-keys/mc-id-token-ec-2.pem");

/// A relying party's side of one credential verification: its nonce and response key.
struct Rp {
    nonce: String,
    key: SecretKey,
}

impl Rp {
    fn new() -> Self {
        Self {
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            key: SecretKey::random(&mut rand::thread_rng()),
        }
    }

    /// The credential request body: the RP's nonce and public key, and `extra` fields
    /// (a `null` removes one).
    fn request(&self, h: &Harness, extra: Value) -> Value {
        let mut body = json!({
            "scope": SCOPE,
            "nonce": self.nonce,
            "encryption_jwk": self.key.public_key().to_jwk(),
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed_assertion(&assertion_claims(&h.credentials_endpoint())),
        });
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    }
}

impl Harness {
    fn credentials_endpoint(&self) -> String {
        format!("{}{TS43_CREDENTIALS_PATH}", self.base)
    }

    async fn credential_request(&self, body: &Value, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut req = self.client.post(self.credentials_endpoint()).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        json_of(req.send().await.unwrap()).await
    }

    /// A credential query for `rp`, which must be issued.
    async fn credential_query(&self, rp: &Rp, extra: Value) -> Value {
        let (status, body) = self.credential_request(&rp.request(self, extra), &[]).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn wallet(&self, body: &Value, headers: &[(&str, &str)]) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}{VIRTUAL_WALLET_PATH}", self.base))
            .json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        json_of(req.send().await.unwrap()).await
    }

    /// The presentation the wallet gives for `query` and `nonce`, on a device with `headers`.
    async fn present(&self, query: &Value, nonce: &str, headers: &[(&str, &str)]) -> String {
        let (status, body) = self.wallet(&dc_request(query, nonce), headers).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let id = query["id"].as_str().unwrap();
        let list = body["vp_token"][id].as_array().expect("vp_token[id]");
        assert_eq!(list.len(), 1, "{body}");
        list[0].as_str().unwrap().to_owned()
    }

    /// A JWT-bearer grant with the assertion `claims` signed by the client's key.
    async fn bearer_grant(&self, claims: &Value) -> (StatusCode, Value) {
        let assertion = signed_assertion(claims);
        self.bearer_grant_with(&assertion).await
    }

    async fn bearer_grant_with(&self, assertion: &str) -> (StatusCode, Value) {
        let form = [("grant_type", JWT_BEARER_GRANT_TYPE), ("assertion", assertion)];
        json_of(self.v2_token_raw(&form).await).await
    }

    /// `verify` with a fresh access token: whether `number` is the device's.
    async fn verified(&self, access_token: &str, number: &str) -> bool {
        let body = json!({ "phoneNumber": number }).to_string();
        let (status, answer) = json_of(self.v2_call(V2Op::Verify, Some(access_token), Some(&body), None).await).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["devicePhoneNumberVerified"].as_bool().unwrap()
    }

    /// A fresh credential's operator token redeemed, then `verify` of `number`.
    async fn credential_verifies(&self, headers: &[(&str, &str)], extra: Value, number: &str) -> bool {
        let token = self.operator_token(headers, extra).await;
        let (status, body) = self.bearer_grant(&grant_claims(self, &token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.verified(body["access_token"].as_str().unwrap(), number).await
    }

    /// The whole path to an operator token: request, wallet, checks, decryption.
    async fn operator_token(&self, headers: &[(&str, &str)], extra: Value) -> String {
        let rp = Rp::new();
        let query = self.credential_query(&rp, extra).await;
        let presentation = self.present(&query, &rp.nonce, headers).await;
        let jwe = check_presentation(&presentation, &rp.nonce);
        open(&jwe, &rp.key).0
    }
}

/// What the page passes to `navigator.credentials.get({digital})`, with its origin.
fn dc_request(query: &Value, nonce: &str) -> Value {
    json!({
        "protocol": "openid4vp-v1-unsigned",
        "data": {
            "response_type": "vp_token",
            "response_mode": "dc_api",
            "nonce": nonce,
            "dcql_query": { "credentials": [query] },
        },
        "origin": ORIGIN,
    })
}

/// JWT-bearer assertion claims for `token` (RFC 7523 §2.1, CAMARA ICM).
fn grant_claims(h: &Harness, token: &str) -> Value {
    let now = now();
    json!({
        "iss": CAMARA_CLIENT_ID,
        "sub": format!("operatortoken:{token}"),
        "aud": h.token_endpoint(),
        "scope": SCOPE,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

fn b64_digest(text: &str) -> String {
    B64.encode(Sha256::digest(text.as_bytes()))
}

fn decoding_key(jwk: &Value) -> DecodingKey {
    DecodingKey::from_ec_components(jwk["x"].as_str().unwrap(), jwk["y"].as_str().unwrap()).unwrap()
}

/// The sandbox CA's certificate (DER), the trust anchor.
fn sandbox_ca() -> Vec<u8> {
    pem::parse(TS43_SANDBOX_CA).unwrap().contents().to_vec()
}

/// The issuer certificate's key, after checking that `x5c` chains to the sandbox CA: the
/// leaf is signed (ECDSA P-256 SHA-256) by the CA, which is the committed one.
fn key_from_x5c(x5c: &[Value]) -> DecodingKey {
    let der: Vec<Vec<u8>> = x5c
        .iter()
        .map(|c| STANDARD.decode(c.as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(der.len(), 2, "leaf and CA");
    assert_eq!(der[1], sandbox_ca(), "the chain ends at the sandbox CA");
    let leaf = Certificate::from_der(&der[0]).unwrap();
    let ca = Certificate::from_der(&der[1]).unwrap();
    assert_eq!(leaf.tbs_certificate.issuer, ca.tbs_certificate.subject);
    let ca_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(
        ca.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
    )
    .unwrap();
    let signature = p256::ecdsa::Signature::from_der(leaf.signature.raw_bytes()).unwrap();
    ca_key
        .verify(&leaf.tbs_certificate.to_der().unwrap(), &signature)
        .expect("the issuer certificate is signed by the sandbox CA");
    let leaf_key = PublicKey::from_sec1_bytes(
        leaf.tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes(),
    )
    .unwrap();
    decoding_key(&serde_json::to_value(leaf_key.to_jwk()).unwrap())
}

/// Checks a presentation as a relying party does (issuer JWT, disclosure, KB-JWT bound
/// to [`ORIGIN`], or `origin`, and `nonce`); gives the disclosed `encrypted_credential`.
fn check_presentation(presentation: &str, nonce: &str) -> String {
    check_presentation_for(presentation, nonce, ORIGIN)
}

fn check_presentation_for(presentation: &str, nonce: &str, origin: &str) -> String {
    let parts: Vec<&str> = presentation.split('~').collect();
    assert_eq!(parts.len(), 3, "IssuerJWT~Disclosure~KB-JWT");
    let (issuer_jwt, disclosure, kb_jwt) = (parts[0], parts[1], parts[2]);

    let header = decode_header(issuer_jwt).unwrap();
    assert_eq!(header.typ.as_deref(), Some("dc-authorization+sd-jwt"));
    assert_eq!(header.alg, Algorithm::ES256);
    let x5c: Vec<Value> = header.x5c.unwrap().into_iter().map(Value::from).collect();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp"]);
    let issued = decode::<Value>(issuer_jwt, &key_from_x5c(&x5c), &validation)
        .expect("the issuer JWT verifies with the certified key")
        .claims;
    assert_eq!(issued["vct"], "number-verification/verify/ts43");
    assert!(issued["exp"].as_u64().unwrap() > now());
    assert_eq!(issued["_sd_alg"], "sha-256");
    assert_eq!(
        issued["_sd"],
        json!([b64_digest(disclosure)]),
        "the disclosure's digest"
    );
    assert!(issued.get("phone_number").is_none(), "the number is never in clear");

    let disclosed: Value = serde_json::from_slice(&B64.decode(disclosure).unwrap()).unwrap();
    assert_eq!(disclosed[1], "encrypted_credential");
    let encrypted = disclosed[2].as_str().unwrap().to_owned();

    let kb_header = decode_header(kb_jwt).unwrap();
    assert_eq!(kb_header.typ.as_deref(), Some("kb+jwt"));
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[origin]);
    validation.set_required_spec_claims(&["aud"]);
    validation.validate_exp = false;
    let kb = decode::<Value>(kb_jwt, &decoding_key(&issued["cnf"]["jwk"]), &validation)
        .expect("the KB-JWT verifies with the cnf key, for this origin")
        .claims;
    assert_eq!(kb["nonce"], nonce);
    assert_eq!(kb["sd_hash"], b64_digest(&format!("{issuer_jwt}~{disclosure}~")));
    assert!(kb["iat"].as_u64().unwrap().abs_diff(now()) < 60);
    encrypted
}

/// Opens the encrypted credential: its operator token and carrier hint.
fn open(encrypted: &str, key: &SecretKey) -> (String, String) {
    let header: Value = serde_json::from_slice(&B64.decode(encrypted.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(
        (header["alg"].as_str(), header["enc"].as_str()),
        (Some("ECDH-ES"), Some("A128GCM"))
    );
    let plain: Value = serde_json::from_slice(&jwe::decrypt(encrypted, key).expect("decrypts")).unwrap();
    let token = plain["temp_token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32, "an unguessable token");
    (token, plain["carrier_hint"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_credential_verifies_the_sims_number_only() {
    let h = start().await;
    let rp = Rp::new();
    let query = h.credential_query(&rp, json!({})).await;
    assert_eq!(query["format"], "dc-authorization+sd-jwt");
    assert_eq!(query["meta"]["vct_values"], json!(["number-verification/verify/ts43"]));

    // The authorization JWT: ES256 under the sandbox CA, for the RP's nonce and key.
    let authz = query["meta"]["credential_authorization_jwt"].as_str().unwrap();
    let header = decode_header(authz).unwrap();
    assert_eq!(header.typ.as_deref(), Some("oauth-authz-req+jwt"));
    let x5c: Vec<Value> = header.x5c.unwrap().into_iter().map(Value::from).collect();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_aud = false;
    let claims = decode::<Value>(authz, &key_from_x5c(&x5c), &validation).unwrap().claims;
    assert_eq!(claims["nonce"], rp.nonce.as_str());
    assert_eq!(claims["iss"], h.base.as_str());
    assert_eq!(claims["encrypted_response_enc_values_supported"], json!(["A128GCM"]));
    let jwk = &claims["jwks"]["keys"][0];
    assert_eq!(
        (jwk["use"].as_str(), jwk["alg"].as_str()),
        (Some("enc"), Some("ECDH-ES"))
    );
    assert_eq!(jwe::public_key_from_jwk(jwk), Some(rp.key.public_key()));
    assert!(claims["consent_data"].as_str().is_some_and(|c| !c.is_empty()));

    let presentation = h.present(&query, &rp.nonce, &[]).await;
    let (token, carrier) = open(&check_presentation(&presentation, &rp.nonce), &rp.key);
    assert_eq!(carrier, "00101");

    let (status, body) = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "number-verification:verify");
    assert!(body["expires_in"].as_u64().unwrap() <= 300);
    assert!(body.get("id_token").is_none());
    assert!(h.verified(body["access_token"].as_str().unwrap(), SIM).await);

    // Another number, through a fresh credential: not the SIM's.
    let token = h.operator_token(&[], json!({})).await;
    let (status, body) = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!h.verified(body["access_token"].as_str().unwrap(), "+99012345677").await);
}

/// The app's own credential check (`operators::ts43`) accepts what the virtual wallet
/// makes: the two sides share no code but the JWE, and agree on the wire.
#[tokio::test]
async fn the_apps_credential_check_accepts_the_virtual_wallets_credential() {
    use number_verify::operators::ts43::{self, EphemeralKey, Expected, TrustAnchors};
    let h = start().await;
    let key = EphemeralKey::random();
    let rp = Rp::new();
    let query = h
        .credential_query(&rp, json!({ "encryption_jwk": key.public_jwk() }))
        .await;
    let presentation = h.present(&query, &rp.nonce, &[]).await;
    let anchors = TrustAnchors::from_pem(TS43_SANDBOX_CA).unwrap();
    let expected = |nonce| Expected {
        nonce,
        origin: ORIGIN,
        key: &key,
    };
    // Another request's nonce: refused, by name.
    assert_eq!(
        ts43::verify(&presentation, &anchors, &expected("another"), now()).unwrap_err(),
        ts43::CredentialError::Invalid("the key-binding JWT answers another request (nonce)")
    );
    let token = ts43::verify(&presentation, &anchors, &expected(&rp.nonce), now()).unwrap();
    assert_eq!(token.carrier_hint.as_deref(), Some("00101"));
    let (status, body) = h.bearer_grant(&grant_claims(&h, token.token.secret())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(h.verified(body["access_token"].as_str().unwrap(), SIM).await);
}

#[tokio::test]
async fn the_sim_is_decided_as_for_network_authorization() {
    let h = start().await;
    // The hint follows the virtual operator rule: …77 is on …76.
    let hint = json!({ "phone_number_hint": "+99012345677" });
    assert!(!h.credential_verifies(&[], hint.clone(), "+99012345677").await);
    assert!(h.credential_verifies(&[], hint, "+99012345676").await);
    // The header and the cookie win; Wi-Fi does not matter to TS.43.
    let msisdn = [("X-Sandbox-Msisdn", "+447700900123")];
    assert!(h.credential_verifies(&msisdn, json!({}), "+447700900123").await);
    let cookie = [(
        header::COOKIE.as_str(),
        "sandbox_sim=%2B447700900124; sandbox_network=wifi",
    )];
    assert!(h.credential_verifies(&cookie, json!({}), "+447700900124").await);
    assert!(!h.credential_verifies(&cookie, json!({}), SIM).await);

    // …99 fails at the wallet.
    let rp = Rp::new();
    let query = h
        .credential_query(&rp, json!({ "phone_number_hint": "+99011111199" }))
        .await;
    let got = h.wallet(&dc_request(&query, &rp.nonce), &[]).await;
    assert_oauth_error_hint(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error", "ending in 99");
}

#[tokio::test]
async fn the_aggregator_can_keep_the_response_key() {
    let h = start().await;
    let rp = Rp::new();
    let query = h.credential_query(&rp, json!({ "encryption_jwk": null })).await;
    let id = query["id"].as_str().unwrap();
    let jwk = h.sandbox.ts43_response_key_for_tests(id).expect("the aggregator's key");
    let key = SecretKey::from_jwk_str(&jwk).unwrap();
    let presentation = h.present(&query, &rp.nonce, &[]).await;
    let (token, _) = open(&check_presentation(&presentation, &rp.nonce), &key);
    assert!(
        jwe::decrypt(&check_presentation(&presentation, &rp.nonce), &rp.key).is_err(),
        "not the relying party's key"
    );
    // The answered request is gone, and its key with it.
    assert!(h.sandbox.ts43_response_key_for_tests(id).is_none());
    let (status, body) = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn operator_tokens_are_single_use() {
    let h = start().await;
    let token = h.operator_token(&[], json!({})).await;
    let (status, body) = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "already used");
}

#[tokio::test]
async fn expired_reused_and_unknown_operator_tokens() {
    let h = start().await;
    let token = h
        .operator_token(&[("X-Sandbox-Fault", "token-expired")], json!({}))
        .await;
    let got = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "expired");

    let token = h
        .operator_token(&[("X-Sandbox-Fault", "token-reused")], json!({}))
        .await;
    let got = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "already used");

    let got = h.bearer_grant(&grant_claims(&h, "never-issued")).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "unknown");

    let mut claims = grant_claims(&h, "x");
    claims["sub"] = json!("tel:+99012345678");
    let got = h.bearer_grant(&claims).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "operatortoken:");
}

#[tokio::test]
async fn grant_assertions_are_checked() {
    let h = start().await;
    let token = h.operator_token(&[], json!({})).await;

    // Signed with another key under the client's kid.
    let forged = es256_assertion(&grant_claims(&h, &token), Some(CAMARA_CLIENT_KEY_ID), OTHER_EC_KEY);
    let got = h.bearer_grant_with(&forged).await;
    assert_oauth_error_hint(
        &got,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "signature does not verify",
    );

    let mut claims = grant_claims(&h, &token);
    claims["aud"] = json!(h.credentials_endpoint());
    let got = h.bearer_grant(&claims).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "aud");

    let mut claims = grant_claims(&h, &token);
    claims["exp"] = json!(now() + 600);
    let got = h.bearer_grant(&claims).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "lives too long");

    let mut claims = grant_claims(&h, &token);
    claims["iss"] = json!("someone-else");
    let got = h.bearer_grant(&claims).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "iss");

    let mut claims = grant_claims(&h, &token);
    claims["iat"] = json!(now() - 400);
    claims["exp"] = json!(now() - 100);
    let got = h.bearer_grant(&claims).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "has expired");

    let mut claims = grant_claims(&h, &token);
    claims["scope"] = json!("dpv:FraudPreventionAndDetection");
    let got = h.bearer_grant(&claims).await;
    assert_oauth_error(&got, StatusCode::BAD_REQUEST, "invalid_scope");

    let form = [("grant_type", JWT_BEARER_GRANT_TYPE)];
    let got = json_of(h.v2_token_raw(&form).await).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_request", "assertion is missing");

    // A client assertion sent beside the grant is checked as at the code grant.
    let bad_client = es256_assertion(
        &assertion_claims(&h.token_endpoint()),
        Some(CAMARA_CLIENT_KEY_ID),
        OTHER_EC_KEY,
    );
    let grant = signed_assertion(&grant_claims(&h, &token));
    let form = [
        ("grant_type", JWT_BEARER_GRANT_TYPE),
        ("assertion", grant.as_str()),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", bad_client.as_str()),
    ];
    let got = json_of(h.v2_token_raw(&form).await).await;
    assert_oauth_error(&got, StatusCode::UNAUTHORIZED, "invalid_client");

    // None of the refusals spent the operator token; a replayed assertion is refused.
    let assertion = signed_assertion(&grant_claims(&h, &token));
    let (status, body) = h.bearer_grant_with(&assertion).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = h.bearer_grant_with(&assertion).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "jti");
}

#[tokio::test]
async fn unsupported_carriers_get_fallback_options() {
    let h = start().await;
    let rp = Rp::new();
    for (extra, headers) in [
        (json!({ "carrier_ids": ["20801", "310260"] }), &[][..]),
        (json!({}), &[("X-Sandbox-Fault", "carrier-not-supported")][..]),
    ] {
        let (status, body) = h.credential_request(&rp.request(&h, extra), headers).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"], "carrier_not_supported");
        assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()));
        let options = body["fallback_options"].as_array().expect("fallback_options");
        assert!(options.iter().any(|o| o == "network_redirect"), "{body}");
    }
    let (status, body) = h
        .credential_request(&rp.request(&h, json!({ "carrier_ids": ["20801", "00101"] })), &[])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn credential_requests_are_checked() {
    let h = start().await;
    let rp = Rp::new();
    let refused = |extra: Value| rp.request(&h, extra);
    let cases = [
        (
            refused(json!({ "client_assertion": null })),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_assertion",
        ),
        (
            refused(json!({ "client_assertion": signed_assertion(&assertion_claims(&h.token_endpoint())) })),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "aud",
        ),
        (
            refused(json!({ "nonce": null })),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "nonce is missing",
        ),
        (
            refused(json!({ "scope": "openid" })),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "number-verification:verify",
        ),
        (
            refused(json!({ "phone_number_hint": "hello" })),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "phone_number_hint",
        ),
        (
            refused(json!({ "encryption_jwk": rp.key.to_jwk() })),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "private key",
        ),
        (
            refused(json!({ "carrier_ids": "00101" })),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "carrier_ids",
        ),
    ];
    for (body, status, error, hint) in cases {
        let got = h.credential_request(&body, &[]).await;
        assert_oauth_error_hint(&got, status, error, hint);
    }
    let res = h
        .client
        .post(h.credentials_endpoint())
        .body("scope=x")
        .send()
        .await
        .unwrap();
    let got = json_of(res).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_request", "not JSON");
}

#[tokio::test]
async fn the_wallet_checks_the_request() {
    let h = start().await;
    let rp = Rp::new();
    let query = h.credential_query(&rp, json!({})).await;

    // The page's nonce is not the one the aggregator signed.
    let got = h.wallet(&dc_request(&query, "another-nonce"), &[]).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_request", "data.nonce");

    let with = |edit: &dyn Fn(&mut Value)| {
        let mut body = dc_request(&query, &rp.nonce);
        edit(&mut body);
        body
    };
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            with(&|b| b["data"]["response_mode"] = json!("direct_post")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "response_mode",
        ),
        (
            with(&|b| b["data"]["response_type"] = json!("code")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "response_type",
        ),
        (
            with(&|b| b["protocol"] = json!("openid4vp-v1-signed")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "protocol",
        ),
        (
            with(&|b| b["origin"] = json!("https://rp.example/page")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "origin",
        ),
        (
            with(&|b| b["data"]["dcql_query"]["credentials"][0]["meta"]["vct_values"] = json!(["eu.europa.pid"])),
            StatusCode::NOT_FOUND,
            "no_credential",
            "number-verification/verify/ts43",
        ),
        (
            with(&|b| b["data"]["dcql_query"]["credentials"][0]["id"] = json!("not-a-request")),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unknown",
        ),
        (
            with(&|b| {
                let jwt = b["data"]["dcql_query"]["credentials"][0]["meta"]["credential_authorization_jwt"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                // Another nonce in the payload, the signature kept.
                let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
                let mut claims: Value = serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
                claims["nonce"] = json!("another-nonce");
                parts[1] = B64.encode(claims.to_string());
                b["data"]["dcql_query"]["credentials"][0]["meta"]["credential_authorization_jwt"] =
                    json!(parts.join("."));
                b["data"]["nonce"] = json!("another-nonce");
            }),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "does not verify",
        ),
        (
            with(&|b| b["data"]["dcql_query"] = json!({})),
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "dcql_query",
        ),
    ];
    for (body, status, error, hint) in cases {
        let got = h.wallet(&body, &[]).await;
        assert_oauth_error_hint(&got, status, error, hint);
    }

    // None of that spent the request; it is answered once.
    h.present(&query, &rp.nonce, &[]).await;
    let got = h.wallet(&dc_request(&query, &rp.nonce), &[]).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_request", "already answered");
}

#[tokio::test]
async fn the_wallet_serves_pages_of_other_origins() {
    let h = start().await;
    let page = "http://127.0.0.1:3000";
    let url = format!("{}{VIRTUAL_WALLET_PATH}", h.base);
    let res = h
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header(header::ORIGIN, page)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["access-control-allow-origin"], page);
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    assert!(res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("content-type"));

    // Without `origin` in the body, the Origin header is the KB-JWT's audience.
    let rp = Rp::new();
    let query = h.credential_query(&rp, json!({})).await;
    let mut body = dc_request(&query, &rp.nonce);
    body.as_object_mut().unwrap().remove("origin");
    let res = h
        .client
        .post(&url)
        .header(header::ORIGIN, page)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], page);
    let (status, answer) = json_of(res).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let presentation = answer["vp_token"][query["id"].as_str().unwrap()][0].as_str().unwrap();
    open(&check_presentation_for(presentation, &rp.nonce, page), &rp.key);

    // No origin at all: refused, saying so.
    let rp = Rp::new();
    let query = h.credential_query(&rp, json!({})).await;
    let mut body = dc_request(&query, &rp.nonce);
    body.as_object_mut().unwrap().remove("origin");
    let got = h.wallet(&body, &[]).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_request", "origin is missing");
}

#[tokio::test]
async fn token_and_check_faults_stick_to_the_operator_token() {
    let h = start().await;
    let fault = |name: &'static str| [("X-Sandbox-Fault", name)];

    let token = h.operator_token(&fault("token-500"), json!({})).await;
    let got = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_oauth_error(&got, StatusCode::INTERNAL_SERVER_ERROR, "server_error");
    // Spent all the same.
    let got = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_oauth_error_hint(&got, StatusCode::BAD_REQUEST, "invalid_grant", "already used");

    let token = h.operator_token(&fault("token-malformed"), json!({})).await;
    let form_assertion = signed_assertion(&grant_claims(&h, &token));
    let form = [
        ("grant_type", JWT_BEARER_GRANT_TYPE),
        ("assertion", form_assertion.as_str()),
    ];
    assert_malformed(h.v2_token_raw(&form).await).await;

    let token = h.operator_token(&fault("check-500"), json!({})).await;
    let (status, body) = h.bearer_grant(&grant_claims(&h, &token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let verify = json!({ "phoneNumber": SIM }).to_string();
    let res = h
        .v2_call(V2Op::Verify, body["access_token"].as_str(), Some(&verify), None)
        .await;
    assert_camara_error(&json_of(res).await, StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL");

    // The operator is down: the wallet says so.
    let rp = Rp::new();
    let query = h.credential_query(&rp, json!({})).await;
    let got = h.wallet(&dc_request(&query, &rp.nonce), &fault("unavailable")).await;
    assert_oauth_error(&got, StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable");
}
