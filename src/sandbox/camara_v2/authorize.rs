//! `GET /camara/v2/authorize`: the authorization code flow with PKCE `S256`, a
//! `login_hint` of the number under test, and the simulated id_token.

use std::sync::Arc;

use axum::{
    extract::{RawQuery, State},
    http::HeaderMap,
    response::Response,
};

use super::{is_phone_number, SCOPE_SHARE, SCOPE_VERIFY};
use crate::{
    phone::{normalise, E164},
    sandbox::{
        authorize::{self, AuthorizeRequest},
        device::read_conditions,
        error::SandboxError,
        id_token::{read_spec, Defect, SignAlg, Spec},
        operator::{Api, Grant, VirtualOperator},
    },
};

/// `GET /camara/v2/authorize` — the device navigates here.
pub(crate) async fn authorize(
    State(operator): State<Arc<VirtualOperator>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, SandboxError> {
    let req = authorize::parse_request(&operator, Api::CamaraV2, query.as_deref())?;
    let invalid_request = |description| req.refuse("invalid_request", description);
    let scope = granted_scope(req.get("scope").unwrap_or_default()).map_err(|d| req.refuse("invalid_scope", d))?;
    let nonce = req.nonce()?;
    let login_hint = req
        .get("login_hint")
        .map(parse_login_hint)
        .transpose()
        .map_err(invalid_request)?;
    let code_challenge = code_challenge(req.get("code_challenge"), req.get("code_challenge_method"))
        .map_err(|d| invalid_request(d.into()))?
        .map(str::to_owned);
    let conditions = read_conditions(&headers).map_err(invalid_request)?;
    let id_token = id_token_spec(&req, &headers)?;
    let outcome =
        authorize::decide(&operator, &req, Api::CamaraV2, conditions, login_hint, scope, nonce).map(|grant| Grant {
            id_token,
            code_challenge,
            ..grant
        });
    authorize::start(&operator, &req, outcome)
}

/// The simulated id_token: RS256 unless ES256 is asked; there is no client secret here,
/// so an HMAC-signed id_token has no meaning.
fn id_token_spec(req: &AuthorizeRequest, headers: &HeaderMap) -> Result<Spec, SandboxError> {
    let mut spec = read_spec(headers).map_err(|d| req.refuse("invalid_request", d))?;
    if spec.alg == Some(SignAlg::Hs256) || spec.defect == Some(Defect::Hs384) {
        return Err(req.refuse(
            "invalid_request",
            "X-Sandbox-Id-Token / sandbox_id_token: hs256 and hs384 do not apply to standard CAMARA (no client secret); use rs256 or es256.",
        ));
    }
    spec.alg.get_or_insert(SignAlg::Rs256);
    Ok(spec)
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

pub(super) fn is_s256_challenge(c: &str) -> bool {
    c.len() == 43 && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
