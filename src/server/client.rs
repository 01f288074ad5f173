//! Who the client is: the TCP peer, or behind trusted reverse proxies the first address,
//! right to left, that none of them owns. Resolved once at the edge, for every handler:
//! the request then carries the client as its `ConnectInfo` and as its one
//! `X-Forwarded-For` entry, which is what `http::client_address` reads.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;

use crate::config::Config;

const X_FORWARDED_FOR: &str = "x-forwarded-for";
const FORWARDED: &str = "forwarded";
const HEALTH_PATH: &str = "/healthz";

/// Which hops are trusted proxies.
#[derive(Debug, Clone)]
pub enum Proxies {
    /// None: the client is the TCP peer, whatever the headers say.
    None,
    /// `TRUST_PROXY=true`: the TCP peer, whoever it is, is the one proxy.
    Peer,
    /// `TRUSTED_PROXIES`: any hop within these ranges.
    Ranges(Vec<IpNet>),
}

impl Proxies {
    /// `TRUSTED_PROXIES` when set (it says more than `TRUST_PROXY`), else `TRUST_PROXY`.
    pub fn from_config(config: &Config) -> Self {
        if !config.trusted_proxies.is_empty() {
            Proxies::Ranges(config.trusted_proxies.clone())
        } else if config.trust_proxy {
            Proxies::Peer
        } else {
            Proxies::None
        }
    }

    /// Whether the TCP peer is a trusted proxy (and so speaks for many clients).
    pub fn trusts_peer(&self, peer: IpAddr) -> bool {
        match self {
            Proxies::None => false,
            Proxies::Peer => true,
            Proxies::Ranges(ranges) => ranges.iter().any(|r| r.contains(&canonical(peer))),
        }
    }

    /// Whether a hop named in a forwarding header is a trusted proxy. With `TRUST_PROXY`
    /// only the peer is: the entry it appended is the client.
    fn trusts_hop(&self, hop: IpAddr) -> bool {
        match self {
            Proxies::None | Proxies::Peer => false,
            Proxies::Ranges(ranges) => ranges.iter().any(|r| r.contains(&hop)),
        }
    }
}

/// One hop of a forwarding header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hop {
    Address(IpAddr),
    /// RFC 7239 §6.2 `unknown` or §6.3 an obfuscated identifier (`_hidden`): a hop the
    /// proxy will not or cannot name.
    Unnamed,
}

/// Why a forwarding header could not be followed (never its value: it names people).
type Malformed = &'static str;

/// The resolver the edge holds: which proxies it trusts, and whether it has warned yet.
pub struct ClientResolver {
    proxies: Proxies,
    warned_missing: AtomicBool,
    warned_malformed: AtomicBool,
}

impl ClientResolver {
    pub fn new(proxies: Proxies) -> Self {
        Self {
            proxies,
            warned_missing: AtomicBool::new(false),
            warned_malformed: AtomicBool::new(false),
        }
    }

    /// The client of a request from `peer` carrying `headers`.
    pub fn resolve(&self, headers: &HeaderMap, peer: IpAddr) -> IpAddr {
        let peer = canonical(peer);
        if !self.proxies.trusts_peer(peer) {
            return peer;
        }
        let Some(hops) = hops(headers) else {
            warn_once(
                &self.warned_missing,
                "a trusted proxy sent no X-Forwarded-For or Forwarded header",
            );
            return peer;
        };
        // Right to left: each trusted proxy appended the address it received from; the
        // first one no trusted proxy owns is the client (RFC 7239 §5.2, and the same
        // order for X-Forwarded-For). Whatever lies to its left, the client wrote.
        let mut nearest = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Err(problem) => {
                    // A trusted proxy wrote something unreadable: the client is not known
                    // beyond that proxy, which then stands for it.
                    warn_once(&self.warned_malformed, problem);
                    return nearest;
                }
                // Not named (RFC 7239 §6.2, §6.3): the proxy that met it stands for it.
                Ok(Hop::Unnamed) => return nearest,
                Ok(Hop::Address(hop)) => {
                    let hop = canonical(hop);
                    if !self.proxies.trusts_hop(hop) {
                        return hop;
                    }
                    nearest = hop;
                }
            }
        }
        // Every hop is a trusted proxy: the farthest is as near the client as we know.
        nearest
    }
}

/// The edge's layer: resolves the client once and hands it on as the request's
/// `ConnectInfo` and its one `X-Forwarded-For` entry, so every reader agrees.
pub async fn resolve_client(State(resolver): State<Arc<ClientResolver>>, mut request: Request, next: Next) -> Response {
    // A load balancer probes `/healthz` itself, with no forwarding header, and the health
    // check needs no client: that must not read as a misconfigured proxy.
    if !matches!(resolver.proxies, Proxies::None) && request.uri().path() != HEALTH_PATH {
        if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
            let client = resolver.resolve(request.headers(), peer.ip());
            request.extensions_mut().insert(ConnectInfo(SocketAddr::new(client, 0)));
            if let Ok(value) = HeaderValue::from_str(&client.to_string()) {
                request.headers_mut().insert(X_FORWARDED_FOR, value);
            }
        }
    }
    next.run(request).await
}

/// Once per server at warn (a misconfigured proxy would otherwise log on every request),
/// then at debug.
fn warn_once(warned: &AtomicBool, problem: &str) {
    if !warned.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            problem,
            "cannot tell the client behind a trusted proxy: its address is used instead \
             (check the proxy's forwarding header and TRUSTED_PROXIES); logged once"
        );
    } else {
        tracing::debug!(problem, "cannot tell the client behind a trusted proxy");
    }
}

/// An IPv4 peer seen through an IPv6 socket (`::ffff:192.0.2.7`) is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// The hops, left (farthest) to right (nearest): from `X-Forwarded-For` when present,
/// else from RFC 7239 `Forwarded`; `None` when neither is.
///
/// `X-Forwarded-For` comes first because most proxies, CDNs and load balancers append to
/// it and pass any `Forwarded` a client sent untouched: a proxy that writes only
/// `Forwarded` must drop an incoming `X-Forwarded-For` (docs/configuration.md).
fn hops(headers: &HeaderMap) -> Option<Vec<Result<Hop, Malformed>>> {
    if headers.contains_key(X_FORWARDED_FOR) {
        return Some(
            header_lines(headers, X_FORWARDED_FOR)
                .flat_map(|line| match line {
                    Some(line) => line.split(',').map(forwarded_for_entry).collect::<Vec<_>>(),
                    None => vec![Err("an X-Forwarded-For header is not ASCII")],
                })
                .collect(),
        );
    }
    if headers.contains_key(FORWARDED) {
        return Some(
            header_lines(headers, FORWARDED)
                .flat_map(|line| match line {
                    Some(line) => split_outside_quotes(line, ',')
                        .into_iter()
                        .map(forwarded_element)
                        .collect(),
                    None => vec![Err("a Forwarded header is not ASCII")],
                })
                .collect(),
        );
    }
    None
}

/// Every line of a header, in order (RFC 9110 §5.3: lines of one list-valued header are
/// one comma-separated list).
fn header_lines<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = Option<&'a str>> {
    headers.get_all(name).iter().map(|v| v.to_str().ok())
}

/// One `X-Forwarded-For` entry: `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`, or `unknown`.
fn forwarded_for_entry(entry: &str) -> Result<Hop, Malformed> {
    let entry = entry.trim();
    if entry.is_empty() {
        return Err("an X-Forwarded-For entry is empty");
    }
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(Hop::Address(ip));
    }
    node(entry).map_err(|_| "an X-Forwarded-For entry is not an IP address")
}

/// One RFC 7239 §4 element (`for=…;proto=…;by=…`): the hop its `for` parameter names. An
/// element without `for` does not name the client: unnamed.
fn forwarded_element(element: &str) -> Result<Hop, Malformed> {
    let mut for_value = None;
    for pair in split_outside_quotes(element, ';') {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let Some((name, value)) = pair.split_once('=') else {
            return Err("a Forwarded parameter has no value");
        };
        // §4: parameter names are case-insensitive.
        if name.trim().eq_ignore_ascii_case("for") {
            if for_value.is_some() {
                // §4: each parameter at most once per element.
                return Err("a Forwarded element has more than one for=");
            }
            for_value = Some(unquote(value.trim())?);
        }
    }
    match for_value {
        None => Ok(Hop::Unnamed),
        Some(value) => node(&value).map_err(|_| "a Forwarded for= is not a node (RFC 7239 §6)"),
    }
}

/// RFC 7239 §6 `node = nodename [ ":" node-port ]`, where `nodename` is an IPv4 address,
/// a bracketed IPv6 address, `unknown` or an obfuscated identifier, and `node-port` a
/// port number or an obfuscated port.
fn node(value: &str) -> Result<Hop, ()> {
    let (name, port) = if let Some(rest) = value.strip_prefix('[') {
        let (v6, after) = rest.split_once(']').ok_or(())?;
        let ip: Ipv6Addr = v6.parse().map_err(|_| ())?;
        match after {
            "" => return Ok(Hop::Address(IpAddr::V6(ip))),
            _ => (Hop::Address(IpAddr::V6(ip)), after.strip_prefix(':').ok_or(())?),
        }
    } else {
        let (name, port) = match value.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (value, None),
        };
        // §6.2 `unknown`; §6.3 an obfuscated identifier.
        let hop = if name.eq_ignore_ascii_case("unknown") || obfuscated(name) {
            Hop::Unnamed
        } else {
            Hop::Address(IpAddr::V4(name.parse().map_err(|_| ())?))
        };
        match port {
            None => return Ok(hop),
            Some(port) => (hop, port),
        }
    };
    // §6.1 `port = 1*5DIGIT`; §6.3 `obfport = "_" 1*(ALPHA / DIGIT / "." / "_" / "-")`.
    let port_ok = (port.len() <= 5 && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())) || obfuscated(port);
    if port_ok {
        Ok(name)
    } else {
        Err(())
    }
}

/// RFC 7239 §6.3: `"_" 1*(ALPHA / DIGIT / "." / "_" / "-")`.
fn obfuscated(value: &str) -> bool {
    value.len() > 1
        && value.starts_with('_')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// RFC 7239 §4 values are tokens or RFC 9110 §5.6.4 quoted strings (with `\` escapes).
fn unquote(value: &str) -> Result<String, Malformed> {
    let Some(inner) = value.strip_prefix('"') else {
        if value.contains('"') {
            return Err("a Forwarded value has a stray quote");
        }
        return Ok(value.to_owned());
    };
    let inner = inner
        .strip_suffix('"')
        .ok_or("a Forwarded value's quote is not closed")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or("a Forwarded value ends in an escape")?),
            '"' => return Err("a Forwarded value has a stray quote"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// Splits on `separator` outside quoted strings (a quoted value may hold `,` or `;`).
fn split_outside_quotes(value: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&value[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, value.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ranges(list: &[&str]) -> ClientResolver {
        ClientResolver::new(Proxies::Ranges(list.iter().map(|r| r.parse().unwrap()).collect()))
    }

    #[test]
    fn trusted_hops_are_skipped_right_to_left() {
        let r = ranges(&["10.0.0.0/8", "2001:db8:cd::/48"]);
        let peer = ip("10.0.0.1");
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.4:5123, 10.9.9.9")]);
        assert_eq!(r.resolve(&h, peer), ip("198.51.100.4"));
        let h = headers(&[
            ("x-forwarded-for", "[2001:db8:ff::7]:443"),
            ("x-forwarded-for", "2001:db8:cd::1"),
        ]);
        assert_eq!(r.resolve(&h, peer), ip("2001:db8:ff::7"));
        // An untrusted peer is the client, whatever it claims.
        assert_eq!(r.resolve(&h, ip("192.0.2.1")), ip("192.0.2.1"));
        // Every hop trusted: the farthest.
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(r.resolve(&h, peer), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_is_read_per_rfc_7239() {
        let r = ranges(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        let h = headers(&[(
            "forwarded",
            r#"for=192.0.2.43, For="[2001:db8:cafe::17]:4711";proto=https;by=10.0.0.2, for=10.0.0.3"#,
        )]);
        assert_eq!(r.resolve(&h, peer), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", r#"for="192.0.2.60:_port";by="_proxy,a""#)]);
        assert_eq!(r.resolve(&h, peer), ip("192.0.2.60"));
        // Unknown and obfuscated clients: the proxy that met them stands for them.
        for hidden in ["for=unknown", "for=_hidden", r#"for="_x.y-z:4711""#, "proto=https"] {
            let h = headers(&[("forwarded", &format!("{hidden}, for=10.2.2.2"))]);
            assert_eq!(r.resolve(&h, peer), ip("10.2.2.2"), "{hidden}");
        }
    }

    #[test]
    fn malformed_or_missing_headers_fall_back_to_the_nearest_proxy() {
        let r = ranges(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        for bad in [
            ("x-forwarded-for", "198.51.100.4, not-an-ip"),
            ("x-forwarded-for", "198.51.100.4,"),
            ("x-forwarded-for", "[2001:db8::1"),
            ("x-forwarded-for", "192.0.2.1:99999999"),
            ("forwarded", r#"for="192.0.2.1"#),
            ("forwarded", "for=2001:db8::1"),
            ("forwarded", "for=192.0.2.1;for=192.0.2.2"),
            ("forwarded", "for"),
        ] {
            assert_eq!(r.resolve(&headers(&[bad]), peer), peer, "{bad:?}");
        }
        assert_eq!(r.resolve(&HeaderMap::new(), peer), peer);
        // Junk left of the client is the client's own, and harmless.
        let h = headers(&[("x-forwarded-for", "junk, 198.51.100.4")]);
        assert_eq!(r.resolve(&h, peer), ip("198.51.100.4"));
    }

    #[test]
    fn trust_proxy_alone_trusts_the_peer_only() {
        let r = ClientResolver::new(Proxies::Peer);
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.4")]);
        assert_eq!(r.resolve(&h, ip("192.0.2.7")), ip("198.51.100.4"));
        let h = headers(&[("x-forwarded-for", "203.0.113.9, bogus")]);
        assert_eq!(r.resolve(&h, ip("192.0.2.7")), ip("192.0.2.7"));
        let none = ClientResolver::new(Proxies::None);
        assert_eq!(none.resolve(&h, ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(none.resolve(&HeaderMap::new(), ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
