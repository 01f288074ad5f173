//! The registered relying parties (`RELYING_PARTIES`, TOML or JSON): who may ask this
//! provider to verify a number, where the answer may go, and how each proves who it is
//! at the token endpoint.
//!
//! ```toml
//! [[client]]
//! id = "shop"
//! name = "Example Shop"                       # shown to the person
//! redirect_uris = ["https://shop.example/oidc/callback"]
//! auth_method = "client_secret_basic"         # or client_secret_post, private_key_jwt, none
//! secret_sha256 = "<hex SHA-256 of the secret>"   # never the secret itself
//! # private_key_jwt: public_key = "<PEM>" (or a path), jwks = '{"keys": [...]}', or
//! # jwks_uri = "https://shop.example/jwks.json" (read when needed, kept five minutes)
//! scopes = ["openid", "phone"]               # optional: these two are the default
//! sms_fallback = true                         # optional: offer a code by SMS when the network fails
//! ```

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::support::{constant_time_eq, urls::is_loopback_http};

/// The scopes this provider knows: `openid` (required) and `phone` (the phone claims).
pub const SCOPES: [&str; 2] = ["openid", "phone"];

/// How a relying party authenticates at the token endpoint (OIDC Core 1.0 §9).
pub enum ClientAuth {
    /// HTTP Basic with the secret (RFC 6749 §2.3.1); only its SHA-256 is kept.
    SecretBasic { sha256: [u8; 32] },
    /// `client_id` and `client_secret` in the form body.
    SecretPost { sha256: [u8; 32] },
    /// A JWT signed with the client's key (RFC 7523 §2.2): its public keys.
    PrivateKeyJwt { keys: ClientKeys },
    /// A public client (a mobile or single-page app): no secret, PKCE required.
    None,
}

impl ClientAuth {
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::SecretBasic { .. } => "client_secret_basic",
            ClientAuth::SecretPost { .. } => "client_secret_post",
            ClientAuth::PrivateKeyJwt { .. } => "private_key_jwt",
            ClientAuth::None => "none",
        }
    }

    /// Whether `presented` is the registered secret, compared in constant time.
    pub fn secret_matches(&self, presented: &str) -> bool {
        match self {
            ClientAuth::SecretBasic { sha256 } | ClientAuth::SecretPost { sha256 } => {
                constant_time_eq(&Sha256::digest(presented.as_bytes()), sha256)
            }
            _ => false,
        }
    }
}

/// A public key of a client: its `kid` (if it has one), algorithm and key.
pub type ClientKey = (Option<String>, Algorithm, DecodingKey);

/// A `private_key_jwt` client's keys: given in the registration, or published by the
/// client at its `jwks_uri` (so it can rotate them itself).
pub enum ClientKeys {
    Fixed(Vec<ClientKey>),
    Published {
        url: url::Url,
        /// The keys last read, and when.
        cache: std::sync::Mutex<Option<(std::time::Instant, Vec<ClientKey>)>>,
    },
}

/// Keys read from a client's `jwks_uri` are used this long before they are read again.
pub const CLIENT_JWKS_FRESH: std::time::Duration = std::time::Duration::from_secs(5 * 60);
/// A `kid` not among the keys read triggers a new read, at most this often.
pub const CLIENT_JWKS_REREAD: std::time::Duration = std::time::Duration::from_secs(30);

/// The keys of a JWK Set: EC P-256 (ES256) and RSA (RS256) only.
pub fn keys_of(set: &JwkSet) -> Result<Vec<ClientKey>, String> {
    let mut keys = Vec::new();
    for jwk in &set.keys {
        let alg = match &jwk.algorithm {
            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
            _ => return Err("a JWK Set may hold only EC P-256 and RSA keys".into()),
        };
        let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("a key in the JWK Set is unusable: {e}"))?;
        keys.push((jwk.common.key_id.clone(), alg, key));
    }
    if keys.is_empty() {
        return Err("the JWK Set holds no key".into());
    }
    Ok(keys)
}

/// Which redirect URIs a client may use (OIDC Core 1.0 §3.1.2.1: exact match).
pub enum RedirectRule {
    /// Exactly one of these strings.
    Exact(Vec<String>),
    /// Any `http://127.0.0.1:{port}/…` (RFC 8252 §7.3: a native or development client
    /// listens on a port it learns only when it starts); the sandbox demo client.
    AnyLoopback,
}

pub struct RelyingParty {
    pub id: String,
    /// Shown to the person: "{name} wants to confirm that this phone has number …".
    pub name: String,
    pub redirects: RedirectRule,
    pub auth: ClientAuth,
    pub scopes: Vec<String>,
    /// Whether a person whose network could not answer is offered a one-time code by SMS
    /// (`amr: ["sms"]` in the id_token): off unless the client says it accepts that proof.
    pub sms_fallback: bool,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty")
            .field("id", &self.id)
            .field("auth", &self.auth.method())
            .finish()
    }
}

impl RelyingParty {
    /// Whether `uri` is one this client registered, compared exactly.
    pub fn accepts_redirect(&self, uri: &str) -> bool {
        match &self.redirects {
            RedirectRule::Exact(uris) => uris.iter().any(|u| u == uri),
            // RFC 8252 §7.3: any port on the loopback address; no fragment.
            RedirectRule::AnyLoopback => {
                is_loopback_http(uri)
                    && uri.starts_with("http://127.0.0.1:")
                    && !uri.contains('#')
                    && url::Url::parse(uri).is_ok()
            }
        }
    }

    pub fn is_public(&self) -> bool {
        matches!(self.auth, ClientAuth::None)
    }
}

/// Every registered relying party.
#[derive(Debug, Default)]
pub struct RelyingParties {
    clients: Vec<RelyingParty>,
}

/// One client as written in the file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Written {
    id: String,
    name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    auth_method: String,
    #[serde(default)]
    secret_sha256: Option<String>,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(default)]
    jwks: Option<String>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    sms_fallback: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WrittenFile {
    #[serde(default, alias = "clients")]
    client: Vec<Written>,
}

impl RelyingParties {
    pub fn new(clients: Vec<RelyingParty>) -> Self {
        Self { clients }
    }

    pub fn get(&self, id: &str) -> Option<&RelyingParty> {
        self.clients.iter().find(|c| c.id == id)
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// The origins the clients' redirect URIs are on (CSP `form-action` sources: the
    /// hosted page's forms end there); `http://127.0.0.1:*` for a loopback client.
    pub fn redirect_origins(&self) -> Vec<String> {
        let mut origins: Vec<String> = Vec::new();
        for client in &self.clients {
            let found = match &client.redirects {
                RedirectRule::AnyLoopback => vec!["http://127.0.0.1:*".to_owned()],
                RedirectRule::Exact(uris) => uris
                    .iter()
                    .filter_map(|u| url::Url::parse(u).ok())
                    .map(|u| u.origin())
                    .filter(|o| o.is_tuple())
                    .map(|o| o.ascii_serialization())
                    .collect(),
            };
            for origin in found {
                if !origins.contains(&origin) {
                    origins.push(origin);
                }
            }
        }
        origins
    }

    pub fn push(&mut self, client: RelyingParty) -> Result<(), String> {
        if self.get(&client.id).is_some() {
            return Err(format!("the client id “{}” is registered twice", client.id));
        }
        self.clients.push(client);
        Ok(())
    }

    /// The clients a `RELYING_PARTIES` file lists: `toml` says which format. `read_pem`
    /// reads a `public_key` given as a path. Every problem is named with its client.
    pub fn parse(text: &str, toml: bool, read_pem: impl Fn(&str) -> Result<String, String>) -> Result<Self, String> {
        let file: WrittenFile = if toml {
            ::toml::from_str(text).map_err(|e| format!("is not valid TOML: {}", e.message()))?
        } else {
            serde_json::from_str(text).map_err(|e| format!("is not valid JSON: {e}"))?
        };
        let mut parties = Self::default();
        for written in file.client {
            let client = Self::check(written, &read_pem)?;
            parties.push(client)?;
        }
        Ok(parties)
    }

    fn check(w: Written, read_pem: &impl Fn(&str) -> Result<String, String>) -> Result<RelyingParty, String> {
        let id = w.id.trim().to_owned();
        if id.is_empty() || id.len() > 128 || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("a client has an empty or malformed id (1–128 visible characters)".into());
        }
        let named = |what: &str| format!("client “{id}”: {what}");
        if w.name.trim().is_empty() || w.name.len() > 80 {
            return Err(named("needs a display name of 1–80 characters (it is shown to people)"));
        }
        if w.redirect_uris.is_empty() {
            return Err(named("needs at least one redirect URI"));
        }
        for uri in &w.redirect_uris {
            let parsed = url::Url::parse(uri).map_err(|_| named(&format!("redirect URI “{uri}” is not a URL")))?;
            // OIDC Core 1.0 §3.1.2.1: https, or http on a loopback address for native
            // and development clients (RFC 8252 §7.3); never a fragment.
            let https = parsed.scheme() == "https";
            if !(https || is_loopback_http(uri)) || parsed.fragment().is_some() {
                return Err(named(&format!(
                    "redirect URI “{uri}” must be https:// (or http:// on a loopback address) without a fragment"
                )));
            }
        }
        let secret = |w: &Written| -> Result<[u8; 32], String> {
            let hex_hash = w.secret_sha256.as_deref().ok_or_else(|| {
                named("needs secret_sha256: the hex SHA-256 of its secret (the secret itself is never stored)")
            })?;
            let bytes = hex::decode(hex_hash.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| named("secret_sha256 must be 64 hex digits (a SHA-256)"))?;
            Ok(bytes)
        };
        let auth = match w.auth_method.as_str() {
            "client_secret_basic" => ClientAuth::SecretBasic { sha256: secret(&w)? },
            "client_secret_post" => ClientAuth::SecretPost { sha256: secret(&w)? },
            "private_key_jwt" => ClientAuth::PrivateKeyJwt {
                keys: client_keys(&w, read_pem).map_err(|e| named(&e))?,
            },
            "none" => ClientAuth::None,
            other => {
                return Err(named(&format!(
                    "auth_method “{other}” is not one of client_secret_basic, client_secret_post, private_key_jwt, none"
                )))
            }
        };
        let scopes = w
            .scopes
            .unwrap_or_else(|| SCOPES.iter().map(|s| (*s).to_owned()).collect());
        if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            return Err(named(&format!("scope “{unknown}” is not one of openid, phone")));
        }
        if !scopes.iter().any(|s| s == "openid") {
            return Err(named("scopes must include openid"));
        }
        Ok(RelyingParty {
            id,
            name: w.name.trim().to_owned(),
            redirects: RedirectRule::Exact(w.redirect_uris),
            auth,
            scopes,
            sms_fallback: w.sms_fallback,
        })
    }
}

/// A `private_key_jwt` client's public keys: a PEM (or its path), an inline JWKS, or the
/// address of its JWKS.
fn client_keys(w: &Written, read_pem: &impl Fn(&str) -> Result<String, String>) -> Result<ClientKeys, String> {
    match (&w.public_key, &w.jwks, &w.jwks_uri) {
        (Some(pem), None, None) => {
            let pem = read_pem(pem)?;
            if let Ok(key) = DecodingKey::from_ec_pem(pem.as_bytes()) {
                Ok(ClientKeys::Fixed(vec![(None, Algorithm::ES256, key)]))
            } else if let Ok(key) = DecodingKey::from_rsa_pem(pem.as_bytes()) {
                Ok(ClientKeys::Fixed(vec![(None, Algorithm::RS256, key)]))
            } else {
                Err("public_key is not a P-256 or RSA public key in PEM form".into())
            }
        }
        (None, Some(jwks), None) => {
            let set: JwkSet = serde_json::from_str(jwks).map_err(|e| format!("jwks is not a JWK Set: {e}"))?;
            keys_of(&set).map(ClientKeys::Fixed)
        }
        (None, None, Some(uri)) => {
            let url = url::Url::parse(uri).map_err(|_| format!("jwks_uri “{uri}” is not a URL"))?;
            if url.scheme() != "https" && !is_loopback_http(uri) {
                return Err(format!(
                    "jwks_uri “{uri}” must be https:// (or http:// on a loopback address)"
                ));
            }
            Ok(ClientKeys::Published {
                url,
                cache: std::sync::Mutex::new(None),
            })
        }
        _ => Err("private_key_jwt needs exactly one of public_key (PEM or path), jwks and jwks_uri".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0c1e8b6a3d2f4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4";

    fn parse(text: &str) -> Result<RelyingParties, String> {
        RelyingParties::parse(text, true, |p| {
            if p.contains("-----BEGIN") {
                Ok(p.to_owned())
            } else {
                Err(format!("no file {p}"))
            }
        })
    }

    #[test]
    fn a_file_with_every_method_reads() {
        let pem = crate::sandbox_contract::credentials::CAMARA_CLIENT_PUBLIC_KEY;
        let text = format!(
            r#"
            [[client]]
            id = "shop"
            name = "Shop"
            redirect_uris = ["https://shop.example/cb"]
            auth_method = "client_secret_basic"
            secret_sha256 = "{HASH}"

            [[client]]
            id = "app"
            name = "App"
            redirect_uris = ["http://127.0.0.1:7000/cb"]
            auth_method = "none"

            [[client]]
            id = "bank"
            name = "Bank"
            redirect_uris = ["https://bank.example/cb"]
            auth_method = "private_key_jwt"
            public_key = """{pem}"""
            "#
        );
        let parties = parse(&text).unwrap();
        assert_eq!(parties.len(), 3);
        assert!(parties.get("app").unwrap().is_public());
        assert!(parties.get("shop").unwrap().accepts_redirect("https://shop.example/cb"));
        assert!(!parties
            .get("shop")
            .unwrap()
            .accepts_redirect("https://shop.example/cb/"));
        assert_eq!(parties.get("bank").unwrap().auth.method(), "private_key_jwt");
    }

    #[test]
    fn every_bad_client_is_named() {
        let cases = [
            (
                r#"[[client]]
id = "a"
name = "A"
redirect_uris = ["http://shop.example/cb"]
auth_method = "none""#,
                "must be https://",
            ),
            (
                r#"[[client]]
id = "a"
name = "A"
redirect_uris = ["https://a.example/cb"]
auth_method = "client_secret_basic""#,
                "needs secret_sha256",
            ),
            (
                r#"[[client]]
id = "a"
name = "A"
redirect_uris = ["https://a.example/cb"]
auth_method = "client_secret_jwt""#,
                "is not one of",
            ),
            (
                r#"[[client]]
id = "a"
name = "A"
redirect_uris = ["https://a.example/cb"]
auth_method = "none"
scopes = ["email"]"#,
                "scope “email”",
            ),
            (
                r#"[[client]]
id = "a"
name = "A"
redirect_uris = []
auth_method = "none""#,
                "at least one redirect URI",
            ),
            ("[[client]]\nid = \"a\"", "is not valid TOML"),
            (
                r#"[[client]]
id = "a"
name = "A"
redirect_uris = ["https://a.example/cb"]
auth_method = "private_key_jwt"
jwks_uri = "http://a.example/jwks.json""#,
                "must be https://",
            ),
            (
                r#"[[client]]
id = "a"
name = "A"
redirect_uris = ["https://a.example/cb"]
auth_method = "private_key_jwt"
jwks_uri = "https://a.example/jwks.json"
jwks = '{"keys": []}'"#,
                "exactly one of",
            ),
        ];
        for (text, expected) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    #[test]
    fn the_loopback_rule_takes_any_port_on_127_0_0_1_only() {
        let demo = RelyingParty {
            id: "d".into(),
            name: "D".into(),
            redirects: RedirectRule::AnyLoopback,
            auth: ClientAuth::None,
            scopes: vec!["openid".into()],
            sms_fallback: false,
        };
        assert!(demo.accepts_redirect("http://127.0.0.1:51234/callback"));
        assert!(!demo.accepts_redirect("http://evil.example:51234/callback"));
        assert!(!demo.accepts_redirect("https://127.0.0.1.evil.example/callback"));
        assert!(!demo.accepts_redirect("http://127.0.0.1:5/cb#frag"));
    }
}
