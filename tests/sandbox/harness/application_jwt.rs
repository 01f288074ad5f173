//! Vonage application JWTs: valid ones, and the ones the operator must refuse.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use number_verify::sandbox_contract::credentials::{
    VONAGE_APPLICATION_ID as SANDBOX_VONAGE_APPLICATION_ID, VONAGE_PRIVATE_KEY as SANDBOX_VONAGE_PRIVATE_KEY,
    VONAGE_PUBLIC_KEY as SANDBOX_VONAGE_PUBLIC_KEY,
};
use serde_json::{json, Value};

use super::{now, FORGED_KEY};

pub(crate) fn jwt_with(claims: Value, key_pem: &str) -> String {
    encode(
        &Header::new(Algorithm::RS256),
        &claims,
        &EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

fn app_claims() -> Value {
    json!({
        "application_id": SANDBOX_VONAGE_APPLICATION_ID,
        "iat": now(),
        "exp": now() + 900,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

pub(crate) fn app_jwt() -> String {
    jwt_with(app_claims(), SANDBOX_VONAGE_PRIVATE_KEY)
}

/// Application JWTs the operator must refuse, with what is wrong with each.
pub(crate) fn bad_app_jwts() -> Vec<(&'static str, String)> {
    let mut expired = app_claims();
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    let mut wrong_app = app_claims();
    wrong_app["application_id"] = json!("00000000-0000-4000-8000-000000000000");
    let mut no_app = app_claims();
    no_app.as_object_mut().unwrap().remove("application_id");
    let mut no_jti = app_claims();
    no_jti.as_object_mut().unwrap().remove("jti");
    let mut no_exp = app_claims();
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut future_iat = app_claims();
    future_iat["iat"] = json!(now() + 3600);
    future_iat["exp"] = json!(now() + 7200);
    let hs256 = encode(
        &Header::new(Algorithm::HS256),
        &app_claims(),
        &EncodingKey::from_secret(SANDBOX_VONAGE_PUBLIC_KEY.as_bytes()),
    )
    .unwrap();
    vec![
        ("forged", jwt_with(app_claims(), FORGED_KEY)),
        ("expired", jwt_with(expired, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("wrong application_id", jwt_with(wrong_app, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("no application_id", jwt_with(no_app, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("no jti", jwt_with(no_jti, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("no exp", jwt_with(no_exp, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("iat in the future", jwt_with(future_iat, SANDBOX_VONAGE_PRIVATE_KEY)),
        ("HS256", hs256),
        ("garbage", "not.a.jwt".to_owned()),
    ]
}
