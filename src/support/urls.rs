//! The rules every URL the app is configured with or discovers must follow.

use url::{Host, Url};

/// An http(s) URL without trailing slash, query or fragment. An origin
/// (`APP_PUBLIC_URL`) may not carry a path, since `/callback` and `/sandbox` hang off it.
/// `Err` says why, for a message that names where the value came from.
pub fn base_url(value: &str, origin_only: bool) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("“{value}” is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("“{value}” is not an http(s) URL"));
    }
    if origin_only && url.path() != "/" {
        return Err(format!(
            "“{value}” must be an origin like https://verify.example.com, without a path"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("“{value}” must not have a query or fragment"));
    }
    let trimmed = url.as_str().trim_end_matches('/').to_owned();
    Ok(Url::parse(&trimmed).unwrap_or(url))
}

/// A URL the app sends credentials to (operator bases, discovered endpoints): `https://`,
/// because secrets and tokens travel with every request; `http://` only to a loopback
/// host (tests, a local operator). No user or password in the URL: credentials have
/// their own variables, and a URL may be logged.
pub fn operator_url(value: &str) -> Result<Url, String> {
    let url = base_url(value, false)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry a user or password: the credentials have variables of their own".into());
    }
    if url.scheme() != "https" && !is_loopback_http(url.as_str()) {
        return Err(format!(
            "“{}” must be an https:// URL: credentials and tokens are sent there \
             (http:// is allowed only for a loopback host such as 127.0.0.1)",
            url.origin().ascii_serialization()
        ));
    }
    Ok(url)
}

/// An `http://` URL whose host is this machine: 127.0.0.0/8, `[::1]` or `localhost`.
/// Nothing outside the machine can reach it, so neither a test operator nor plain HTTP
/// exposes anything there.
pub fn is_loopback_http(value: &str) -> bool {
    let Ok(url) = Url::parse(value) else {
        return false;
    };
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Ipv4(ip)) => ip.is_loopback(),
            Some(Host::Ipv6(ip)) => ip.is_loopback(),
            Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        }
}
