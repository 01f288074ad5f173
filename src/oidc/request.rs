//! The authorization request (OIDC Core 1.0 §3.1.2.1), read strictly. The hosted page
//! reads it on `GET /authorize` and again from the form's hidden fields on `POST
//! /authorize`, so nothing is stored before the person presses Verify.

use super::error::{AuthorizeError, ReturnTo};
use crate::{
    phone::{normalise, E164},
    relying_parties::{RelyingParties, RelyingParty},
    verification::{CodeChallenge, RelyingPartyRequest, RpNonce, RpState},
};

/// The parameters the form carries over from `GET` to `POST`; any other is ignored
/// (OIDC Core 1.0 §3.1.2.1: unknown parameters are ignored).
pub const CARRIED: [&str; 10] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "prompt",
];

/// The longest `state` or `nonce` accepted: they travel in URLs.
const MAX_OPAQUE: usize = 512;

/// An authorization request that may proceed.
#[derive(Debug)]
pub struct Authorization<'a> {
    pub client: &'a RelyingParty,
    pub request: RelyingPartyRequest,
    /// `login_hint=tel:+…`: the number the relying party wants confirmed.
    pub login_hint: Option<E164>,
    /// Where an error or the code goes back to.
    pub to: ReturnTo,
    /// The carried parameters as received, for the form's hidden fields.
    pub carried: Vec<(String, String)>,
}

/// The request's parameters, from a query string or a form body.
pub fn pairs(encoded: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(encoded.as_bytes()).into_owned().collect()
}

/// The one value of `name`: `Err(())` when it is repeated (RFC 6749 §3.1: parameters
/// must not appear more than once).
fn single<'p>(pairs: &'p [(String, String)], name: &str) -> Result<Option<&'p str>, ()> {
    let mut found = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let first = found.next();
    if found.next().is_some() {
        return Err(());
    }
    Ok(first.filter(|v| !v.is_empty()))
}

fn opaque(value: &str) -> bool {
    value.len() <= MAX_OPAQUE && !value.chars().any(char::is_control)
}

pub fn validate<'a>(
    pairs: &[(String, String)],
    clients: &'a RelyingParties,
    issuer: &str,
) -> Result<Authorization<'a>, AuthorizeError> {
    // RFC 6749 §4.1.2.1: without a known client and its registered redirect URI there is
    // nobody to send an error to.
    let client_id = single(pairs, "client_id")
        .map_err(|_| AuthorizeError::Refused("client_id appears more than once.".into()))?
        .ok_or_else(|| AuthorizeError::Refused("The request names no client (client_id is missing).".into()))?;
    let client = clients.get(client_id).ok_or_else(|| {
        AuthorizeError::Refused("The app that sent you here is not registered with this service.".into())
    })?;
    let redirect_uri = single(pairs, "redirect_uri")
        .map_err(|_| AuthorizeError::Refused("redirect_uri appears more than once.".into()))?
        .ok_or_else(|| AuthorizeError::Refused("The request has no redirect_uri.".into()))?;
    // OIDC Core 1.0 §3.1.2.1: exact match with a registered redirect URI.
    if !client.accepts_redirect(redirect_uri) {
        return Err(AuthorizeError::Refused(format!(
            "The address to return to is not one {} registered.",
            client.name
        )));
    }
    let mut to = ReturnTo {
        redirect_uri: redirect_uri.to_owned(),
        state: None,
        issuer: issuer.to_owned(),
    };
    let state = single(pairs, "state")
        .map_err(|_| AuthorizeError::redirect(&to, "invalid_request", "state appears more than once"))?;
    if let Some(state) = state {
        if !opaque(state) {
            return Err(AuthorizeError::redirect(
                &to,
                "invalid_request",
                "state is too long or malformed",
            ));
        }
        to.state = Some(RpState::new(state));
    }
    let one = |name: &str| {
        single(pairs, name)
            .map_err(|_| AuthorizeError::redirect(&to, "invalid_request", format!("{name} appears more than once")))
    };
    // OIDC Core 1.0 §6: request objects are not supported.
    if one("request")?.is_some() {
        return Err(AuthorizeError::redirect(
            &to,
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if one("request_uri")?.is_some() {
        return Err(AuthorizeError::redirect(
            &to,
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match one("response_type")? {
        Some("code") => {}
        None => {
            return Err(AuthorizeError::redirect(
                &to,
                "invalid_request",
                "response_type is missing",
            ))
        }
        Some(_) => {
            return Err(AuthorizeError::redirect(
                &to,
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    if !matches!(one("response_mode")?, None | Some("query")) {
        return Err(AuthorizeError::redirect(
            &to,
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    let scope = one("scope")?.unwrap_or("");
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    // OIDC Core 1.0 §3.1.2.1: an OpenID request has the openid scope.
    if !scopes.contains(&"openid") {
        return Err(AuthorizeError::redirect(
            &to,
            "invalid_scope",
            "scope must include openid",
        ));
    }
    if let Some(other) = scopes.iter().find(|s| !client.scopes.iter().any(|c| c == *s)) {
        return Err(AuthorizeError::redirect(
            &to,
            "invalid_scope",
            format!(
                "scope {other} is not allowed for this client (allowed: {})",
                client.scopes.join(" ")
            ),
        ));
    }
    let nonce = one("nonce")?;
    if nonce.is_some_and(|n| !opaque(n)) {
        return Err(AuthorizeError::redirect(
            &to,
            "invalid_request",
            "nonce is too long or malformed",
        ));
    }
    // RFC 7636 §4.3: S256 only (plain gives no protection against a read request).
    let challenge = one("code_challenge")?;
    match (one("code_challenge_method")?, challenge) {
        (Some("S256"), Some(c)) if is_s256_challenge(c) => {}
        // RFC 7636 §4.3: a challenge without a method is "plain", which is not supported.
        (None, Some(_)) => {
            return Err(AuthorizeError::redirect(
                &to,
                "invalid_request",
                "code_challenge_method=S256 is required with code_challenge (plain is not supported)",
            ))
        }
        (Some("S256"), Some(_)) => {
            return Err(AuthorizeError::redirect(
                &to,
                "invalid_request",
                "code_challenge must be the 43-character base64url SHA-256 of the verifier (RFC 7636 §4.2)",
            ))
        }
        (Some("S256"), None) => {
            return Err(AuthorizeError::redirect(
                &to,
                "invalid_request",
                "code_challenge is missing",
            ))
        }
        (Some(_), _) => {
            return Err(AuthorizeError::redirect(
                &to,
                "invalid_request",
                "code_challenge_method must be S256",
            ))
        }
        (None, None) if client.is_public() => {
            return Err(AuthorizeError::redirect(
                &to,
                "invalid_request",
                "PKCE (code_challenge with S256) is required for public clients",
            ))
        }
        (None, None) => {}
    }
    // OIDC Core 1.0 §3.1.2.6: the person must act here, so never silently.
    if one("prompt")?.is_some_and(|p| p.split(' ').any(|p| p == "none")) {
        return Err(AuthorizeError::redirect(
            &to,
            "interaction_required",
            "verifying a number needs the person's action on the page",
        ));
    }
    let login_hint = match one("login_hint")? {
        None => None,
        Some(hint) => {
            let number = hint.strip_prefix("tel:").unwrap_or(hint);
            if !number.starts_with('+') {
                return Err(AuthorizeError::redirect(
                    &to,
                    "invalid_request",
                    "login_hint must be tel:+ and a number in international (E.164) form",
                ));
            }
            Some(normalise(number).map_err(|e| {
                AuthorizeError::redirect(&to, "invalid_request", format!("login_hint is not a phone number: {e}"))
            })?)
        }
    };
    let carried = pairs
        .iter()
        .filter(|(k, v)| CARRIED.contains(&k.as_str()) && !v.is_empty())
        .cloned()
        .collect();
    Ok(Authorization {
        client,
        request: RelyingPartyRequest {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope: scopes.join(" "),
            state: to.state.clone(),
            nonce: nonce.map(RpNonce::new),
            code_challenge: challenge.map(CodeChallenge::new),
            sms_fallback: client.sms_fallback,
        },
        login_hint,
        to,
        carried,
    })
}

/// RFC 7636 §4.2: BASE64URL(SHA256(verifier)) is 43 characters without padding.
fn is_s256_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relying_parties::{ClientAuth, RedirectRule};

    fn clients() -> RelyingParties {
        RelyingParties::new(vec![
            RelyingParty {
                id: "shop".into(),
                name: "Shop".into(),
                redirects: RedirectRule::Exact(vec!["https://shop.example/cb".into()]),
                auth: ClientAuth::SecretBasic { sha256: [0; 32] },
                scopes: vec!["openid".into(), "phone".into()],
                sms_fallback: false,
            },
            RelyingParty {
                id: "app".into(),
                name: "App".into(),
                redirects: RedirectRule::Exact(vec!["https://app.example/cb".into()]),
                auth: ClientAuth::None,
                scopes: vec!["openid".into()],
                sms_fallback: false,
            },
        ])
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn check(query: &str) -> Result<(), (&'static str, Option<String>)> {
        let clients = clients();
        validate(&pairs(query), &clients, "https://nv.example")
            .map(|_| ())
            .map_err(|e| (e.code(), e.location()))
    }

    #[test]
    fn unknown_clients_and_redirects_are_never_redirected_to() {
        let base = "response_type=code&scope=openid";
        for query in [
            format!("{base}&client_id=nobody&redirect_uri=https://shop.example/cb"),
            format!("{base}&client_id=shop&redirect_uri=https://evil.example/cb"),
            format!("{base}&client_id=shop&redirect_uri=https://shop.example/cb/extra"),
            format!("{base}&redirect_uri=https://shop.example/cb"),
            format!("{base}&client_id=shop"),
            format!("{base}&client_id=shop&client_id=app&redirect_uri=https://shop.example/cb"),
        ] {
            assert_eq!(check(&query), Err(("invalid_request", None)), "{query}");
        }
    }

    #[test]
    fn everything_else_goes_back_with_state_and_iss() {
        let ok = "client_id=shop&redirect_uri=https%3A%2F%2Fshop.example%2Fcb&state=s1";
        let cases = [
            ("scope=openid", "invalid_request"),
            ("response_type=token&scope=openid", "unsupported_response_type"),
            ("response_type=code&scope=phone", "invalid_scope"),
            ("response_type=code&scope=openid%20email", "invalid_scope"),
            (
                "response_type=code&scope=openid&code_challenge_method=plain&code_challenge=abc",
                "invalid_request",
            ),
            ("response_type=code&scope=openid&login_hint=tel:12", "invalid_request"),
            ("response_type=code&scope=openid&prompt=none", "interaction_required"),
            ("response_type=code&scope=openid&request=x", "request_not_supported"),
        ];
        for (rest, code) in cases {
            let (got, location) = check(&format!("{ok}&{rest}")).unwrap_err();
            assert_eq!(got, code, "{rest}");
            let location = location.unwrap();
            assert!(location.starts_with("https://shop.example/cb?error="), "{location}");
            assert!(
                location.contains("&state=s1&iss=https%3A%2F%2Fnv.example"),
                "{location}"
            );
        }
        assert_eq!(check(&format!("{ok}&response_type=code&scope=openid%20phone")), Ok(()));
    }

    #[test]
    fn a_public_client_needs_s256_pkce() {
        let app = "client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&response_type=code&scope=openid";
        assert_eq!(check(app).unwrap_err().0, "invalid_request");
        // A challenge without its method would be "plain".
        assert_eq!(
            check(&format!("{app}&code_challenge={CHALLENGE}")).unwrap_err().0,
            "invalid_request"
        );
        assert_eq!(
            check(&format!("{app}&code_challenge={CHALLENGE}&code_challenge_method=S256")),
            Ok(())
        );
        assert_eq!(
            check(&format!("{app}&code_challenge=short&code_challenge_method=S256"))
                .unwrap_err()
                .0,
            "invalid_request"
        );
    }

    #[test]
    fn the_login_hint_is_a_tel_uri() {
        let clients = clients();
        let query = "client_id=shop&redirect_uri=https://shop.example/cb&response_type=code&scope=openid&login_hint=tel:%2B99012345678";
        let read = validate(&pairs(query), &clients, "https://nv.example").unwrap();
        assert_eq!(read.login_hint.unwrap().as_str(), "+99012345678");
    }
}
