//! The simulated device: which SIM it is on, which network, which fault to simulate —
//! read from the authorize request's headers and cookies — and the `/device` form that
//! sets and clears the cookies.

use std::time::Duration;

use axum::{
    body::Bytes,
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

use super::{error::SandboxError, respond::form_pairs};
use crate::{
    phone::{normalise, PhoneError, E164},
    sandbox_contract::{form, COOKIE_DELAY, COOKIE_FAULT, COOKIE_NETWORK, COOKIE_SIM},
};

/// Header-enrichment header: the SIM the device is on.
pub(crate) const HEADER_MSISDN: &str = "x-sandbox-msisdn";
pub(crate) const HEADER_NETWORK: &str = "x-sandbox-network";
pub(crate) const HEADER_FAULT: &str = "x-sandbox-fault";
pub(crate) const HEADER_DELAY: &str = "x-sandbox-delay-ms";

/// How long a `*-slow` fault waits when no delay is given.
pub const DEFAULT_DELAY_MS: u64 = 5000;
/// Longer delays are shortened to this.
pub const MAX_DELAY_MS: u64 = 60_000;

/// A simulated operator fault, chosen at authorization (`X-Sandbox-Fault` /
/// `sandbox_fault`); it sticks to the code and its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The authorization answers `temporarily_unavailable`.
    Unavailable,
    /// The token endpoint answers 500.
    Token500,
    /// The token endpoint answers after the delay.
    TokenSlow,
    /// The token endpoint answers 200 with truncated JSON.
    TokenMalformed,
    /// The check (premiuminfo / verify) answers 500.
    Check500,
    /// The check answers after the delay.
    CheckSlow,
    /// The check answers 200 with truncated JSON.
    CheckMalformed,
    /// Standard CAMARA: the token endpoint judges the client assertion's `exp` by a clock
    /// 10 minutes ahead, so even a fresh assertion is refused as expired (401
    /// `invalid_client`).
    ClientAssertionExpired,
    /// Standard CAMARA: the access token is issued already expired; the API answers 401
    /// `UNAUTHENTICATED`, saying so. TS.43: the virtual wallet's operator token is issued
    /// already expired; the JWT-bearer grant answers `invalid_grant`, "expired".
    TokenExpired,
    /// Standard CAMARA: the authorization succeeds without network or SIM-based
    /// authentication (id_token `amr` `["pwd"]`); the API answers 403
    /// `NUMBER_VERIFICATION.USER_NOT_AUTHENTICATED_BY_MOBILE_NETWORK`.
    NotNetworkAuth,
    /// TS.43: the virtual wallet's operator token is issued already spent; the JWT-bearer
    /// grant answers `invalid_grant`, "already used".
    TokenReused,
    /// TS.43: the credential request answers `carrier_not_supported` with its fallback
    /// options, whatever `carrier_ids` says.
    CarrierNotSupported,
}

impl Fault {
    pub const ALL: [(&'static str, Fault); 12] = [
        ("unavailable", Fault::Unavailable),
        ("token-500", Fault::Token500),
        ("token-slow", Fault::TokenSlow),
        ("token-malformed", Fault::TokenMalformed),
        ("check-500", Fault::Check500),
        ("check-slow", Fault::CheckSlow),
        ("check-malformed", Fault::CheckMalformed),
        ("client-assertion-expired", Fault::ClientAssertionExpired),
        ("token-expired", Fault::TokenExpired),
        ("not-network-auth", Fault::NotNetworkAuth),
        ("token-reused", Fault::TokenReused),
        ("carrier-not-supported", Fault::CarrierNotSupported),
    ];

    pub fn parse(s: &str) -> Option<Fault> {
        let s = s.trim();
        Fault::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(s))
            .map(|(_, f)| *f)
    }

    pub fn name(self) -> &'static str {
        Fault::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(name, _)| name)
    }
}

/// Where the SIM decision came from (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimSource {
    Header,
    Cookie,
}

/// What the authorize request says about the simulated device.
#[derive(Debug)]
pub(crate) struct Conditions {
    pub wifi: bool,
    pub fault: Option<Fault>,
    pub delay: Duration,
    /// An explicit SIM (rules 1 and 2 of docs/reference.md §5).
    pub sim: Option<(E164, SimSource)>,
}

/// Reads the simulated conditions of an authorize request: headers first, then cookies
/// of the same meaning. `Err` is an `invalid_request` description.
pub(crate) fn read_conditions(headers: &HeaderMap) -> Result<Conditions, String> {
    let network = header_or_cookie(headers, HEADER_NETWORK, COOKIE_NETWORK)?;
    let wifi = match network.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
        None => false,
        Some(v) if v == "wifi" || v == "wi-fi" => true,
        Some(v) if v == "mobile" || v.is_empty() => false,
        Some(_) => return Err("X-Sandbox-Network / sandbox_network must be \"wifi\" or \"mobile\".".into()),
    };

    let fault = match header_or_cookie(headers, HEADER_FAULT, COOKIE_FAULT)? {
        None => None,
        Some(v) if v.trim().is_empty() => None,
        Some(v) => Some(Fault::parse(&v).ok_or_else(|| {
            let names: Vec<&str> = Fault::ALL.iter().map(|(n, _)| *n).collect();
            format!(
                "Unknown X-Sandbox-Fault / sandbox_fault value; expected one of: {}.",
                names.join(", ")
            )
        })?),
    };

    let delay_ms = match header_or_cookie(headers, HEADER_DELAY, COOKIE_DELAY)? {
        None => DEFAULT_DELAY_MS,
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| "X-Sandbox-Delay-Ms / sandbox_delay_ms must be a whole number of milliseconds.".to_owned())?,
    };

    let sim = if let Some(v) = header_value(headers, HEADER_MSISDN)? {
        let sim = parse_msisdn(&v).map_err(|e| format!("X-Sandbox-Msisdn is not a phone number in E.164 form: {e}"))?;
        Some((sim, SimSource::Header))
    } else if let Some(v) = cookie(headers, COOKIE_SIM) {
        let sim =
            parse_msisdn(&v).map_err(|e| format!("The sandbox_sim cookie is not a phone number in E.164 form: {e}"))?;
        Some((sim, SimSource::Cookie))
    } else {
        None
    };

    Ok(Conditions {
        wifi,
        fault,
        delay: Duration::from_millis(delay_ms.min(MAX_DELAY_MS)),
        sim,
    })
}

/// A number as header enrichment or a cookie gives it: E.164 with or without its `+`.
pub(crate) fn parse_msisdn(value: &str) -> Result<E164, PhoneError> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with("00") {
        normalise(&format!("+{value}"))
    } else {
        normalise(value)
    }
}

/// The Vonage Virtual Operator rule (docs/reference.md §5, rule 3) for a number known in clear.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RuleOutcome {
    /// Last digit even: the device is on this number.
    OnNumber(E164),
    /// Last digit odd: the device is on another number.
    OtherNumber(E164),
    /// Last two digits `99`: the operator fails.
    Fails,
}

pub(crate) fn virtual_operator_rule(number: &E164) -> RuleOutcome {
    let s = number.as_str();
    if s.ends_with("99") {
        return RuleOutcome::Fails;
    }
    let last = s.as_bytes().last().copied().unwrap_or(b'0').wrapping_sub(b'0') % 10;
    if last.is_multiple_of(2) {
        return RuleOutcome::OnNumber(number.clone());
    }
    // The neighbouring even number: same length, so still a valid E.164 number.
    let mut other = s[..s.len() - 1].to_owned();
    other.push(char::from(b'0' + (last ^ 1)));
    match normalise(&other) {
        Ok(n) => RuleOutcome::OtherNumber(n),
        Err(_) => RuleOutcome::Fails,
    }
}

/// A header's value; `Err` when it is not visible ASCII.
fn header_value(headers: &HeaderMap, name: &str) -> Result<Option<String>, String> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.to_owned()))
            .map_err(|_| format!("The {name} header must be plain text.")),
    }
}

fn header_or_cookie(headers: &HeaderMap, header: &str, cookie_name: &str) -> Result<Option<String>, String> {
    match header_value(headers, header)? {
        Some(v) => Ok(Some(v)),
        None => Ok(cookie(headers, cookie_name)),
    }
}

/// The (percent-decoded) value of cookie `name`, from any `Cookie` header.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value_trimmed().to_owned())
}

/// `return_to` if it is a local path (one leading `/`), else `/`.
pub(crate) fn safe_return_to(value: Option<&str>) -> &str {
    match value {
        Some(v)
            if v.starts_with('/')
                && !v.starts_with("//")
                && !v.starts_with("/\\")
                && v.len() <= 2048
                && v.chars().all(|c| c.is_ascii_graphic()) =>
        {
            v
        }
        _ => "/",
    }
}

fn set_cookie(name: &str, value: &str) -> String {
    format!("{name}={value}; Path=/; SameSite=Lax")
}

fn clear_cookie(name: &str) -> String {
    format!("{name}=; Path=/; SameSite=Lax; Max-Age=0")
}

/// `POST /device` — the page's "Simulated SIM" control (a plain form): `sim=<number>`,
/// `network=mobile|wifi`, or `action=clear`; answers `303` to `return_to`.
pub(crate) async fn device_form(body: Bytes) -> Result<Response, SandboxError> {
    let Some(pairs) = std::str::from_utf8(&body).ok().and_then(form_pairs) else {
        return Err(bad_form("The form could not be read."));
    };
    let field = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let cookies = cookie_changes(&field)?;
    let location = safe_return_to(field(form::RETURN_TO));
    let mut res = (StatusCode::SEE_OTHER, [(header::CACHE_CONTROL, "no-store")]).into_response();
    let location = HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/"));
    res.headers_mut().insert(header::LOCATION, location);
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    Ok(res)
}

fn bad_form(message: impl Into<std::borrow::Cow<'static, str>>) -> SandboxError {
    SandboxError::plain(StatusCode::BAD_REQUEST, message)
}

/// The `Set-Cookie` values the form asks for: a clear, or a SIM and a network.
fn cookie_changes<'a>(field: &impl Fn(&str) -> Option<&'a str>) -> Result<Vec<String>, SandboxError> {
    match field(form::ACTION) {
        None | Some("") | Some("set") => {}
        Some(form::ACTION_CLEAR) => return Ok(vec![clear_cookie(COOKIE_SIM), clear_cookie(COOKIE_NETWORK)]),
        Some(_) => return Err(bad_form("Unknown action: use action=clear, or send sim / network.")),
    }
    let mut cookies = Vec::new();
    if let Some(sim) = field(form::SIM).filter(|s| !s.is_empty()) {
        let sim = parse_msisdn(sim).map_err(|e| bad_form(format!("Simulated SIM: {e}")))?;
        tracing::info!(target: "sandbox", %sim, "device: simulated SIM chosen");
        cookies.push(set_cookie(COOKIE_SIM, &sim.as_str().replace('+', "%2B")));
    }
    match field(form::NETWORK) {
        None | Some("") => {}
        Some(v) if v.eq_ignore_ascii_case(form::NETWORK_WIFI) => {
            cookies.push(set_cookie(COOKIE_NETWORK, form::NETWORK_WIFI))
        }
        Some(v) if v.eq_ignore_ascii_case(form::NETWORK_MOBILE) => cookies.push(clear_cookie(COOKIE_NETWORK)),
        Some(_) => return Err(bad_form("Network must be \"mobile\" or \"wifi\".")),
    }
    if cookies.is_empty() {
        return Err(bad_form("Nothing to change: send sim, network or action=clear."));
    }
    Ok(cookies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> E164 {
        normalise(s).unwrap()
    }

    #[test]
    fn virtual_operator_rule_as_documented() {
        assert_eq!(
            virtual_operator_rule(&n("+99012345678")),
            RuleOutcome::OnNumber(n("+99012345678"))
        );
        assert_eq!(
            virtual_operator_rule(&n("+99012345677")),
            RuleOutcome::OtherNumber(n("+99012345676"))
        );
        assert_eq!(virtual_operator_rule(&n("+99011111199")), RuleOutcome::Fails);
        assert_eq!(
            virtual_operator_rule(&n("+99011111109")),
            RuleOutcome::OtherNumber(n("+99011111108"))
        );
    }

    #[test]
    fn cookies_are_read_and_decoded() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; sandbox_sim=%2B99012345678"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("sandbox_network=wifi"));
        assert_eq!(cookie(&h, "sandbox_sim").as_deref(), Some("+99012345678"));
        assert_eq!(cookie(&h, "sandbox_network").as_deref(), Some("wifi"));
        assert_eq!(cookie(&h, "nope"), None);
        // Lower-case escapes and stray `%`s are read leniently, as browsers send them.
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("sandbox_sim=%2b1%zz%"));
        assert_eq!(cookie(&h, "sandbox_sim").as_deref(), Some("+1%zz%"));
    }

    #[test]
    fn msisdn_with_or_without_plus() {
        assert_eq!(parse_msisdn("99012345678").unwrap(), n("+99012345678"));
        assert_eq!(parse_msisdn(" +99012345678 ").unwrap(), n("+99012345678"));
        assert!(parse_msisdn("hello").is_err());
        assert!(parse_msisdn("").is_err());
    }

    #[test]
    fn return_to_must_be_local() {
        assert_eq!(safe_return_to(Some("/?tab=mc")), "/?tab=mc");
        assert_eq!(safe_return_to(Some("//evil.test/")), "/");
        assert_eq!(safe_return_to(Some("/\\evil.test")), "/");
        assert_eq!(safe_return_to(Some("https://evil.test/")), "/");
        assert_eq!(safe_return_to(Some("/a b")), "/");
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn conditions_from_headers_and_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("sandbox_fault=check-slow; sandbox_delay_ms=999999"),
        );
        let c = read_conditions(&h).unwrap();
        assert_eq!(c.fault, Some(Fault::CheckSlow));
        assert_eq!(c.delay, Duration::from_millis(MAX_DELAY_MS));
        h.insert(HEADER_FAULT, HeaderValue::from_static("bogus"));
        assert!(read_conditions(&h).unwrap_err().contains("token-500"));
        let mut h = HeaderMap::new();
        h.insert(HEADER_MSISDN, HeaderValue::from_static("nope"));
        assert!(read_conditions(&h).unwrap_err().contains("X-Sandbox-Msisdn"));
    }
}
