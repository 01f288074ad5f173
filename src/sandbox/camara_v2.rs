//! Standard CAMARA NumberVerification v2.1 as an Open Gateway operator exposes it, with
//! the CAMARA ICM security profile: OIDC discovery, the authorization code flow with
//! PKCE `S256`, the token endpoint with `private_key_jwt` client authentication, and the
//! API (`verify`, `device-phone-number`) with single-use access tokens and
//! `x-correlator`. Everything lives under `{base}/camara/v2`, which is both the issuer
//! and the API root.

use std::time::Instant;

use axum::{
    body::Bytes,
    extract::{RawQuery, State},
    http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
    response::Response,
};
use base64::Engine;
use serde_json::{json, Value};

use super::{
    authorize::{self, has_scope, MAX_PARAM_LEN},
    client_assertion::{self, ASSERTION_TYPE, FAULT_CLOCK_AHEAD_SECS},
    device::{read_conditions, Fault},
    id_token::{read_spec, Defect, SignAlg},
    respond::{bearer, camara_error, form_pairs, json as json_response, malformed_json, oauth_error, unique_params},
    CodeState, Grant, Inner, Keep, Protocol, Sandbox,
};
use crate::{
    phone::{normalise, E164},
    support::{constant_time_eq, sha256_hex, unix_now},
};

/// The operation scopes of NumberVerification v2.
pub(crate) const SCOPE_VERIFY: &str = "number-verification:verify";
pub(crate) const SCOPE_SHARE: &str = "number-verification:device-phone-number:read";
/// The purpose the discovery document names (any `dpv:` purpose is accepted).
const PURPOSE: &str = "dpv:FraudPreventionAndDetection";

const INVALID_ARGUMENT: &str = "INVALID_ARGUMENT";
const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
const NOT_BY_NETWORK: &str = "NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK";

/// `GET /camara/v2/.well-known/openid-configuration`
pub(crate) async fn discovery(State(sb): State<Sandbox>) -> Response {
    let issuer = sb.inner().camara_v2_issuer();
    tracing::info!(target: "sandbox", "camara v2 discovery: served");
    json_response(
        StatusCode::OK,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", PURPOSE, SCOPE_VERIFY, SCOPE_SHARE],
        }),
    )
}

/// `GET /camara/v2/authorize` — the device navigates here.
pub(crate) async fn authorize(State(sb): State<Sandbox>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let sb = sb.inner();
    const P: Protocol = Protocol::CamaraV2;
    let req = match authorize::parse_request(sb, P, query.as_deref()) {
        Ok(req) => req,
        Err(res) => return res,
    };
    let scope = match granted_scope(req.get("scope").unwrap_or_default()) {
        Ok(scope) => scope,
        Err(description) => return req.fail(P, "invalid_scope", description),
    };
    let nonce = match req.get("nonce") {
        Some(n) if n.len() > MAX_PARAM_LEN => {
            return req.fail(P, "invalid_request", "nonce is too long (at most 512 characters).")
        }
        n => n.map(str::to_owned),
    };
    let login_hint = match req.get("login_hint").map(parse_login_hint) {
        None => None,
        Some(Ok(number)) => Some(number),
        Some(Err(description)) => return req.fail(P, "invalid_request", &description),
    };
    let code_challenge = match code_challenge(req.get("code_challenge"), req.get("code_challenge_method")) {
        Ok(c) => c.map(str::to_owned),
        Err(description) => return req.fail(P, "invalid_request", description),
    };
    let conditions = match read_conditions(&headers) {
        Ok(c) => c,
        Err(description) => return req.fail(P, "invalid_request", &description),
    };
    let mut id_token = match read_spec(&headers) {
        Ok(spec) => spec,
        Err(description) => return req.fail(P, "invalid_request", &description),
    };
    // There is no client secret here: an HMAC-signed id_token has no meaning.
    if id_token.alg == Some(SignAlg::Hs256) || id_token.defect == Some(Defect::Hs384) {
        return req.fail(
            P,
            "invalid_request",
            "X-Sandbox-Id-Token / sandbox_id_token: hs256 and hs384 do not apply to standard CAMARA (no client secret); use rs256 or es256.",
        );
    }
    id_token.alg.get_or_insert(SignAlg::Rs256);
    let outcome = authorize::decide(sb, &req, P, conditions, login_hint, scope, nonce).map(|grant| Grant {
        id_token,
        code_challenge,
        ..grant
    });
    authorize::start(sb, &req, outcome)
}

/// The scope granted for a requested one: `openid` and the NumberVerification scopes it
/// names (purposes `dpv:…` are accepted and not granted; other scopes are ignored, as
/// RFC 6749 §3.3 allows). `Err` is an `invalid_scope` description.
fn granted_scope(requested: &str) -> Result<String, &'static str> {
    let mut granted: Vec<&str> = Vec::new();
    for scope in requested.split_ascii_whitespace() {
        if matches!(scope, "openid" | SCOPE_VERIFY | SCOPE_SHARE) && !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    if !granted.contains(&"openid") {
        return Err("scope must contain openid.");
    }
    if granted.len() < 2 {
        return Err("scope must contain number-verification:verify or number-verification:device-phone-number:read.");
    }
    Ok(granted.join(" "))
}

/// A `login_hint` of the form `tel:+<E.164>` (RFC 3966, visual separators allowed) or a
/// bare `+<E.164>`. `Err` is an `invalid_request` description.
fn parse_login_hint(hint: &str) -> Result<E164, String> {
    let number = match hint.get(..4) {
        Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &hint[4..],
        _ => hint,
    };
    let compact: String = number.chars().filter(|c| !matches!(c, '-' | '.' | '(' | ')')).collect();
    if !is_phone_number(&compact) {
        return Err("login_hint must be tel:+<number in E.164 format>, e.g. tel:+99012345678.".into());
    }
    normalise(&compact).map_err(|e| format!("login_hint is not a phone number in E.164 form: {e}"))
}

/// CAMARA's `PhoneNumber`: `^\+[1-9][0-9]{4,14}$`.
pub(crate) fn is_phone_number(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (5..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// CAMARA's `HashedPhoneNumber`: `^[a-fA-F0-9]{64}$`.
fn is_hashed_phone_number(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The PKCE challenge of an authorization request: `S256` only (RFC 7636 §4.3; a
/// challenge without a method means `plain`, refused too). `Err` is an
/// `invalid_request` description.
fn code_challenge<'a>(challenge: Option<&'a str>, method: Option<&str>) -> Result<Option<&'a str>, &'static str> {
    match (challenge, method) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err("code_challenge_method is given without a code_challenge."),
        (Some(_), None | Some("plain")) => Err("PKCE: only code_challenge_method=S256 is supported (not plain)."),
        (Some(_), Some(m)) if m != "S256" => Err("PKCE: only code_challenge_method=S256 is supported."),
        (Some(c), Some(_)) if is_s256_challenge(c) => Ok(Some(c)),
        (Some(_), Some(_)) => {
            Err("code_challenge must be BASE64URL(SHA-256(code_verifier)): 43 characters of [A-Za-z0-9-_].")
        }
    }
}

fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
fn is_code_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// RFC 7636 §4.2: `BASE64URL(SHA256(ASCII(code_verifier)))`.
pub(crate) fn s256(verifier: &str) -> String {
    use sha2::{Digest, Sha256};
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The PKCE check of a token request against its authorization's challenge.
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), &'static str> {
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => {
            Err("PKCE verification failed: a code_verifier was sent, but the authorization had no code_challenge.")
        }
        (Some(_), None) => Err("PKCE verification failed: code_verifier is missing."),
        (Some(_), Some(v)) if !is_code_verifier(v) => {
            Err("PKCE verification failed: code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~].")
        }
        (Some(c), Some(v)) if constant_time_eq(s256(v).as_bytes(), c.as_bytes()) => Ok(()),
        (Some(_), Some(_)) => Err("PKCE verification failed: code_verifier does not match the code_challenge."),
    }
}

/// `POST /camara/v2/token` — `private_key_jwt`; form `grant_type, code, redirect_uri,
/// code_verifier, client_assertion_type, client_assertion`.
pub(crate) async fn token(State(sb): State<Sandbox>, body: Bytes) -> Response {
    let sb = sb.inner();
    let fail = |status: StatusCode, error: &'static str, description: &str| {
        tracing::info!(target: "sandbox", error, description, "camara v2 token: refused");
        let mut res = oauth_error(status, error, description);
        if status == StatusCode::UNAUTHORIZED {
            // Not HTTP Basic (oauth_error's default challenge): private_key_jwt.
            res.headers_mut().remove(header::WWW_AUTHENTICATE);
        }
        res
    };
    let Some(pairs) = std::str::from_utf8(&body).ok().and_then(form_pairs) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body is not form data (application/x-www-form-urlencoded).",
        );
    };
    let params = match unique_params(pairs) {
        Ok(p) => p,
        Err(name) => {
            let description = format!("Parameter {} is repeated.", name.chars().take(64).collect::<String>());
            return fail(StatusCode::BAD_REQUEST, "invalid_request", &description);
        }
    };
    let param = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());

    // Client authentication first (RFC 6749 §5.2: a failure is 401 invalid_client).
    match param("client_assertion_type") {
        Some(ASSERTION_TYPE) => {}
        None => {
            return fail(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication is required: private_key_jwt (client_assertion_type and client_assertion).",
            )
        }
        Some(_) => {
            return fail(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.",
            )
        }
    }
    let Some(assertion) = param("client_assertion") else {
        return fail(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_assertion is missing.",
        );
    };
    // The fault sticks to the code: look at it without redeeming it.
    let clock_ahead = match param("code").and_then(|code| sb.codes.get(&code.to_owned())) {
        Some(CodeState::Fresh(grant)) if grant.fault == Some(Fault::ClientAssertionExpired) => {
            tracing::info!(target: "sandbox", "camara v2 token: simulated fault client-assertion-expired");
            FAULT_CLOCK_AHEAD_SECS
        }
        _ => 0,
    };
    let issuer = sb.camara_v2_issuer();
    let token_endpoint = format!("{issuer}/token");
    let client_id = match client_assertion::verify(sb, assertion, &issuer, &token_endpoint, clock_ahead) {
        Ok(id) => id,
        Err(description) => return fail(StatusCode::UNAUTHORIZED, "invalid_client", &description),
    };
    if param("client_id").is_some_and(|id| id != client_id) {
        return fail(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_id is not the client the assertion authenticates.",
        );
    }

    match param("grant_type") {
        None => return fail(StatusCode::BAD_REQUEST, "invalid_request", "grant_type is missing."),
        Some("authorization_code") => {}
        Some(_) => {
            return fail(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only grant_type=authorization_code is supported.",
            )
        }
    }
    let Some(code) = param("code") else {
        return fail(StatusCode::BAD_REQUEST, "invalid_request", "code is missing.");
    };
    let Some(redirect_uri) = param("redirect_uri") else {
        return fail(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is missing.");
    };
    let (grant, expires_at) = match authorize::redeem(sb, Protocol::CamaraV2, &client_id, code, redirect_uri) {
        Ok(redeemed) => redeemed,
        Err(description) => return fail(StatusCode::BAD_REQUEST, "invalid_grant", description),
    };
    if let Err(description) = check_pkce(grant.code_challenge.as_deref(), param("code_verifier")) {
        // A failed proof spends the code: no second guess at the verifier.
        sb.codes
            .keep_until(code.to_owned(), CodeState::Redeemed { access_token: None }, expires_at);
        return fail(StatusCode::BAD_REQUEST, "invalid_grant", description);
    }
    authorize::token_response(sb, code, grant, expires_at).await
}

/// The OIDC id_token of a standard CAMARA grant: `iss` the issuer, `aud`/`azp` the
/// client, a pairwise `sub`, the `nonce` if one was sent, `amr` how the user was
/// authenticated; RS256 unless the authorization asked otherwise ([`super::id_token`]).
pub(crate) fn id_token(sb: &Inner, grant: &Grant, ttl: u64) -> Result<String, String> {
    let now = unix_now();
    let mut claims = super::id_token::claims(
        &grant.id_token,
        &sb.camara_v2_issuer(),
        &grant.client_id,
        &sb.sub_for(&grant.sim),
        grant.nonce.as_deref(),
        now,
        ttl,
    );
    if let Some(c) = claims.as_object_mut() {
        if c.get("nonce").is_some_and(Value::is_null) {
            c.remove("nonce");
        }
        c.remove("acr");
        let amr = if grant.fault == Some(Fault::NotNetworkAuth) {
            "pwd"
        } else {
            "network"
        };
        c.insert("amr".into(), json!([amr]));
    }
    sb.signing.sign(&grant.id_token, &claims)
}

/// The two operations of the API.
#[derive(Debug, Clone, Copy)]
enum Operation {
    Verify,
    Share,
}

impl Operation {
    fn scope(self) -> &'static str {
        match self {
            Operation::Verify => SCOPE_VERIFY,
            Operation::Share => SCOPE_SHARE,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Operation::Verify => "verify",
            Operation::Share => "device-phone-number",
        }
    }
}

/// `POST /camara/v2/number-verification/v2/verify`
pub(crate) async fn verify(State(sb): State<Sandbox>, headers: HeaderMap, body: Bytes) -> Response {
    api(sb.inner(), Operation::Verify, &headers, &body).await
}

/// `GET /camara/v2/number-verification/v2/device-phone-number`
pub(crate) async fn device_phone_number(State(sb): State<Sandbox>, headers: HeaderMap) -> Response {
    api(sb.inner(), Operation::Share, &headers, &[]).await
}

/// The request's `x-correlator`: `Ok(None)` when none is sent; `Err` when it is not
/// CAMARA's `XCorrelator` (`^[a-zA-Z0-9-_:;.\/<>{}]{0,256}$`) or is sent twice.
fn read_correlator(headers: &HeaderMap) -> Result<Option<String>, ()> {
    let mut values = headers.get_all("x-correlator").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let value = value.to_str().map_err(|_| ())?;
    let valid = value.len() <= 256
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_:;./<>{}".contains(&b));
    if valid {
        Ok(Some(value.to_owned()))
    } else {
        Err(())
    }
}

/// One API call: checks in CAMARA's order — `x-correlator`, authentication (401),
/// permissions (403), the body (400) — then answers and spends the token. Refusals
/// leave the token as it was.
async fn api(sb: &Inner, op: Operation, headers: &HeaderMap, body: &[u8]) -> Response {
    let operation = op.name();
    let correlator = match read_correlator(headers) {
        Ok(Some(c)) => c,
        Ok(None) => uuid::Uuid::new_v4().to_string(),
        Err(()) => {
            tracing::info!(target: "sandbox", operation, "camara v2 api: refused, x-correlator is not valid");
            return camara_error(
                StatusCode::BAD_REQUEST,
                INVALID_ARGUMENT,
                "The x-correlator header is not valid: at most 256 characters of [a-zA-Z0-9-_:;./<>{}].",
            );
        }
    };
    let echo = |mut res: Response| {
        if let Ok(v) = HeaderValue::from_str(&correlator) {
            res.headers_mut().insert(HeaderName::from_static("x-correlator"), v);
        }
        res
    };
    let fail = |status: StatusCode, code: &'static str, message: &str| {
        tracing::info!(target: "sandbox", operation, x_correlator = %correlator, code, reason = message, "camara v2 api: refused");
        let mut res = camara_error(status, code, message);
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sandbox\", error=\"invalid_token\""),
            );
        }
        echo(res)
    };

    let Some(token) = bearer(headers) else {
        return fail(
            StatusCode::UNAUTHORIZED,
            UNAUTHENTICATED,
            "Request not authenticated: send Authorization: Bearer <access token>.",
        );
    };
    let Some(grant) = sb.tokens.get(&token.to_owned()).filter(|g| g.protocol == Protocol::CamaraV2) else {
        return fail(
            StatusCode::UNAUTHORIZED,
            UNAUTHENTICATED,
            "Request not authenticated: the access token is unknown, revoked or already used (each token serves one call). A new authentication is required.",
        );
    };
    if grant.expires_at.is_some_and(|at| Instant::now() >= at) {
        return fail(
            StatusCode::UNAUTHORIZED,
            UNAUTHENTICATED,
            "Request not authenticated: the access token has expired. A new authentication is required.",
        );
    }
    if !has_scope(&grant.scope, op.scope()) {
        let message = format!(
            "Client does not have sufficient permissions to perform this action: the access token lacks the {} scope.",
            op.scope()
        );
        return fail(StatusCode::FORBIDDEN, "PERMISSION_DENIED", &message);
    }
    if grant.fault == Some(Fault::NotNetworkAuth) {
        return fail(
            StatusCode::FORBIDDEN,
            NOT_BY_NETWORK,
            "Client must authenticate via the mobile network to use this service",
        );
    }
    let answer = match op {
        Operation::Verify => match verified(body, &grant.sim) {
            Ok((verified, given)) => {
                tracing::info!(target: "sandbox", x_correlator = %correlator, sim = %grant.sim, given, verified, "camara v2 verify: answered");
                json!({ "devicePhoneNumberVerified": verified })
            }
            Err(message) => return fail(StatusCode::BAD_REQUEST, INVALID_ARGUMENT, message),
        },
        Operation::Share => {
            tracing::info!(target: "sandbox", x_correlator = %correlator, sim = %grant.sim, "camara v2 device-phone-number: answered");
            json!({ "devicePhoneNumber": grant.sim.as_str() })
        }
    };
    // Spent by this call; a concurrent call with the same token lost the race.
    if sb.tokens.take_with_expiry(&token.to_owned()).is_none() {
        return fail(
            StatusCode::UNAUTHORIZED,
            UNAUTHENTICATED,
            "Request not authenticated: the access token was already used (each token serves one call). A new authentication is required.",
        );
    }
    let res = match grant.fault {
        Some(Fault::Check500) => {
            tracing::info!(target: "sandbox", operation, "camara v2 api: simulated fault check-500");
            camara_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "Server error (simulated fault check-500).",
            )
        }
        Some(Fault::CheckMalformed) => {
            tracing::info!(target: "sandbox", operation, "camara v2 api: simulated fault check-malformed");
            malformed_json(&answer.to_string())
        }
        Some(Fault::CheckSlow) => {
            tracing::info!(target: "sandbox", operation, delay_ms = grant.delay.as_millis() as u64, "camara v2 api: simulated fault check-slow");
            tokio::time::sleep(grant.delay).await;
            json_response(StatusCode::OK, answer)
        }
        _ => json_response(StatusCode::OK, answer),
    };
    echo(res)
}

/// The verify body, checked against CAMARA's `NumberVerificationRequestBody` (exactly
/// one of `phoneNumber` with its `+`, or `hashedPhoneNumber`), and matched with `sim`:
/// whether it matches, and which property was given (for the log; never the value).
/// `Err` is an `INVALID_ARGUMENT` message.
fn verified(body: &[u8], sim: &E164) -> Result<(bool, &'static str), &'static str> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(
            "A request body is required: {\"phoneNumber\": \"+<E.164>\"} or {\"hashedPhoneNumber\": \"<SHA-256 hex>\"}.",
        );
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Err("The request body is not valid JSON.");
    };
    let Value::Object(map) = value else {
        return Err("The request body must be a JSON object with phoneNumber or hashedPhoneNumber.");
    };
    let (phone, hashed) = (map.get("phoneNumber"), map.get("hashedPhoneNumber"));
    if phone.is_some() && hashed.is_some() {
        return Err("Give either phoneNumber or hashedPhoneNumber, not both.");
    }
    match map.len() {
        0 => return Err("The request body is empty: give phoneNumber or hashedPhoneNumber."),
        1 => {}
        _ => return Err("The request body must have exactly one property: phoneNumber or hashedPhoneNumber."),
    }
    match (phone, hashed) {
        (Some(phone), _) => match phone.as_str().filter(|p| is_phone_number(p)) {
            Some(phone) => Ok((phone == sim.as_str(), "phoneNumber")),
            None => Err(
                "phoneNumber must be a phone number in E.164 format with its leading +, e.g. +99012345678 (^\\+[1-9][0-9]{4,14}$).",
            ),
        },
        (_, Some(hash)) => match hash.as_str().filter(|h| is_hashed_phone_number(h)) {
            Some(hash) => Ok((hash.eq_ignore_ascii_case(&sha256_hex(sim.as_str())), "hashedPhoneNumber")),
            None => Err(
                "hashedPhoneNumber must be the SHA-256 hash of the E.164 phone number with its +, as 64 hexadecimal characters.",
            ),
        },
        (None, None) => Err("Unknown property: the request body takes phoneNumber or hashedPhoneNumber."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_is_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(s256(verifier), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(is_code_verifier(verifier));
        assert!(is_s256_challenge(&s256(verifier)));
        let challenge = Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert_eq!(check_pkce(challenge, Some(verifier)), Ok(()));
        assert!(check_pkce(challenge, Some(&verifier.replace('d', "e"))).is_err());
        assert!(check_pkce(challenge, None).is_err());
        assert!(check_pkce(None, Some(verifier)).is_err());
        assert_eq!(check_pkce(None, None), Ok(()));
    }

    #[test]
    fn code_verifiers_follow_rfc_7636() {
        assert!(is_code_verifier(&"a".repeat(43)));
        assert!(is_code_verifier(&"a-._~".repeat(26)[..128]));
        assert!(!is_code_verifier(&"a".repeat(42)));
        assert!(!is_code_verifier(&"a".repeat(129)));
        assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
    }

    #[test]
    fn only_s256_challenges_are_accepted() {
        let c = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(code_challenge(Some(c), Some("S256")), Ok(Some(c)));
        assert_eq!(code_challenge(None, None), Ok(None));
        assert!(code_challenge(Some(c), Some("plain")).is_err());
        assert!(code_challenge(Some(c), None).is_err(), "no method means plain");
        assert!(code_challenge(Some(c), Some("s256")).is_err());
        assert!(code_challenge(None, Some("S256")).is_err());
        assert!(code_challenge(Some(&c[1..]), Some("S256")).is_err());
        assert!(code_challenge(Some(&c.replace('-', "+")), Some("S256")).is_err());
    }

    #[test]
    fn phone_number_pattern_is_camara_v2() {
        for ok in ["+99012345678", "+12345", "+123456789012345"] {
            assert!(is_phone_number(ok), "{ok}");
        }
        for bad in [
            "99012345678",
            "+0123456",
            "+1234",
            "+1234567890123456",
            "+44 7700",
            "",
            "+",
        ] {
            assert!(!is_phone_number(bad), "{bad}");
        }
    }

    #[test]
    fn login_hints() {
        let n = |s: &str| normalise(s).unwrap();
        assert_eq!(parse_login_hint("tel:+99012345678").unwrap(), n("+99012345678"));
        assert_eq!(parse_login_hint("TEL:+990-1234-5678").unwrap(), n("+99012345678"));
        assert_eq!(parse_login_hint("+99012345678").unwrap(), n("+99012345678"));
        for bad in [
            "tel:99012345678",
            "99012345678",
            "tel:",
            "operatortoken:abc",
            "tel:+99 012",
        ] {
            assert!(parse_login_hint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_granted() {
        assert_eq!(
            granted_scope("openid dpv:FraudPreventionAndDetection number-verification:verify").unwrap(),
            "openid number-verification:verify"
        );
        assert_eq!(
            granted_scope("number-verification:device-phone-number:read openid openid").unwrap(),
            "number-verification:device-phone-number:read openid"
        );
        assert!(granted_scope("number-verification:verify").is_err());
        assert!(granted_scope("openid dpv:FraudPreventionAndDetection").is_err());
        assert!(granted_scope("openid dpv:FraudPreventionAndDetection#number-verification-verify-read").is_err());
    }

    #[test]
    fn correlators() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("x-correlator", HeaderValue::from_static(v));
            read_correlator(&h)
        };
        assert_eq!(read_correlator(&HeaderMap::new()), Ok(None));
        assert_eq!(
            with("b4333c46-49c0-4f62-80d7-f0ef930f1c46").unwrap().as_deref(),
            Some("b4333c46-49c0-4f62-80d7-f0ef930f1c46")
        );
        assert_eq!(with("a_b:c;d.e/f<g>{h}").unwrap().as_deref(), Some("a_b:c;d.e/f<g>{h}"));
        assert_eq!(with("").unwrap().as_deref(), Some(""));
        assert!(with("has space").is_err());
        assert!(with("quote\"").is_err());
        let mut h = HeaderMap::new();
        h.insert("x-correlator", HeaderValue::from_str(&"a".repeat(257)).unwrap());
        assert!(read_correlator(&h).is_err());
        h.insert("x-correlator", HeaderValue::from_str(&"a".repeat(256)).unwrap());
        assert!(read_correlator(&h).is_ok());
        h.append("x-correlator", HeaderValue::from_static("b"));
        assert!(read_correlator(&h).is_err(), "sent twice");
    }

    #[test]
    fn verify_bodies() {
        let sim = normalise("+99012345678").unwrap();
        let hash = sha256_hex("+99012345678");
        let body = |v: Value| v.to_string().into_bytes();
        let check = |v: Value| verified(&body(v), &sim).map(|(verified, _)| verified);
        assert_eq!(
            verified(&body(json!({"phoneNumber": "+99012345678"})), &sim),
            Ok((true, "phoneNumber"))
        );
        assert_eq!(check(json!({"phoneNumber": "+99012345670"})), Ok(false));
        assert_eq!(
            verified(&body(json!({"hashedPhoneNumber": hash})), &sim),
            Ok((true, "hashedPhoneNumber"))
        );
        assert_eq!(check(json!({"hashedPhoneNumber": hash.to_uppercase()})), Ok(true));
        // v2 hashes "+E.164" only.
        assert_eq!(
            check(json!({"hashedPhoneNumber": sha256_hex("99012345678")})),
            Ok(false)
        );
        for bad in [
            "",
            "  ",
            "{",
            "[]",
            "\"+99012345678\"",
            "{}",
            r#"{"additional_property": "foo_value"}"#,
            r#"{"phoneNumber": "+99012345678", "extra": 1}"#,
            r#"{"phoneNumber": "99012345678"}"#,
            r#"{"phoneNumber": 99012345678}"#,
            r#"{"hashedPhoneNumber": "abc"}"#,
        ] {
            assert!(verified(bad.as_bytes(), &sim).is_err(), "{bad}");
        }
        let both = body(json!({"phoneNumber": "+99012345678", "hashedPhoneNumber": hash}));
        assert!(verified(&both, &sim).unwrap_err().contains("not both"));
    }
}
