//! The session cookies this server issues and accepts: `<id>.<MAC>`, the MAC an
//! HMAC-SHA256 of the id. Every instance signs with the current key and accepts every key
//! it knows, so keys rotate without logging anyone out and every instance accepts what
//! any instance issued — and only that. A value not issued here is no session.
//!
//! The keys come from `SESSION_KEYS` (what a live deployment with several instances
//! uses), or from the store: this process's own key, or in sandbox and development
//! deployments one shared through Redis, read again when a cookie does not verify (a
//! Redis that restarted empty hands out a new one, and instances must follow it).

use std::{
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use axum::http::HeaderMap;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use cookie::{Cookie, SameSite};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{
    http::{cookie, SECURE_SESSION_COOKIE, SESSION_COOKIE},
    verification::{store::Store, SessionId},
};

type HmacSha256 = Hmac<Sha256>;

/// Keys kept at most: the current one and the ones before it.
const KEYS_KEPT: usize = 4;
/// A cookie that does not verify sends this process to the store for the shared key at
/// most this often, so forged cookies cannot turn into a stream of store reads.
const REREAD_AT_MOST_EVERY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Sessions {
    /// The current key first.
    keys: Arc<RwLock<Vec<HmacSha256>>>,
    /// Where a shared key is read again from, when there is one.
    shared: Option<SharedKey>,
    secure: bool,
}

#[derive(Clone)]
struct SharedKey {
    store: Store,
    last_read: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("secure", &self.secure)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

fn mac(key: &[u8]) -> Result<HmacSha256, String> {
    HmacSha256::new_from_slice(key).map_err(|e| format!("a session key is unusable: {e}"))
}

impl Sessions {
    /// Signing with the first of `keys`, accepting all. `secure`: the app is served over
    /// https (Secure cookie, `__Host-` name).
    pub fn new(keys: &[&[u8]], secure: bool) -> Result<Self, String> {
        if keys.is_empty() {
            return Err("no session key".into());
        }
        let keys = keys.iter().map(|k| mac(k)).collect::<Result<_, _>>()?;
        Ok(Self {
            keys: Arc::new(RwLock::new(keys)),
            shared: None,
            secure,
        })
    }

    /// With the key shared through `store` (several instances on one Redis, no
    /// `SESSION_KEYS`): read now, and again when a cookie does not verify.
    pub async fn shared_through(store: Store, secure: bool) -> Result<Self, crate::verification::store::StoreError> {
        let key = store.session_key().await?;
        let mut sessions = Self::new(&[&key], secure).map_err(crate::verification::store::StoreError::Corrupt)?;
        sessions.shared = Some(SharedKey {
            store,
            last_read: Arc::new(Mutex::new(None)),
        });
        Ok(sessions)
    }

    pub fn cookie_name(&self) -> &'static str {
        if self.secure {
            SECURE_SESSION_COOKIE
        } else {
            SESSION_COOKIE
        }
    }

    /// The browser's session, if its cookie carries one this server issued.
    pub async fn read(&self, headers: &HeaderMap) -> Option<SessionId> {
        let value = cookie(headers, self.cookie_name())?;
        if let Some(session) = self.verify(&value) {
            return Some(session);
        }
        if self.reread_shared_key().await {
            if let Some(session) = self.verify(&value) {
                return Some(session);
            }
        }
        tracing::info!("session cookie not issued by this server; ignored");
        None
    }

    /// Reads the shared key again, if there is one and it was not just read; `true` when
    /// it is a key this process did not know, now the current one.
    async fn reread_shared_key(&self) -> bool {
        let Some(shared) = &self.shared else {
            return false;
        };
        {
            let mut last = shared.last_read.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|at| at.elapsed() < REREAD_AT_MOST_EVERY) {
                return false;
            }
            *last = Some(Instant::now());
        }
        // Once more on a failure: the first command after the store came back may find
        // the old connection broken, and the connection manager reconnects for the next.
        let key = match shared.store.session_key().await {
            Ok(key) => Ok(key),
            Err(_) => shared.store.session_key().await,
        };
        let key = match key {
            Ok(key) => key,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the shared session key again");
                return false;
            }
        };
        let Ok(new) = mac(&key) else { return false };
        let mut keys = self.keys.write().unwrap_or_else(|p| p.into_inner());
        let probe = b"session-key-probe";
        let fingerprint = |m: &HmacSha256| {
            let mut m = m.clone();
            m.update(probe);
            m.finalize().into_bytes()
        };
        let new_print = fingerprint(&new);
        if keys.iter().any(|k| fingerprint(k) == new_print) {
            return false;
        }
        tracing::warn!("the shared session key changed (the store was emptied?): signing with the new one");
        keys.insert(0, new);
        keys.truncate(KEYS_KEPT);
        true
    }

    fn verify(&self, value: &str) -> Option<SessionId> {
        let (id, tag) = value.split_once('.')?;
        let id = SessionId::parse(id)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        // verify_slice compares in constant time.
        keys.iter()
            .any(|key| tagged(key, &id).verify_slice(&tag).is_ok())
            .then_some(id)
    }

    /// The cookie's value for `id`, signed with the current key.
    fn value(&self, id: &SessionId) -> String {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner());
        let tag = tagged(&keys[0], id).finalize().into_bytes();
        format!("{}.{}", id.secret(), URL_SAFE_NO_PAD.encode(tag))
    }

    /// The `Set-Cookie` value that gives a browser its session: HttpOnly, SameSite=Lax
    /// (the operator's redirect back is a top-level navigation), Path=/, no Domain;
    /// Secure under https.
    pub fn set_cookie(&self, id: &SessionId) -> String {
        Cookie::build((self.cookie_name(), self.value(id)))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build()
            .to_string()
    }
}

fn tagged(key: &HmacSha256, id: &SessionId) -> HmacSha256 {
    let mut mac = key.clone();
    mac.update(id.secret().as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{header, HeaderValue};

    fn sent(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{name}={value}")).unwrap(),
        );
        h
    }

    /// The value a `Set-Cookie` line gives its cookie.
    fn value_of(set_cookie: &str) -> String {
        Cookie::parse_encoded(set_cookie.to_owned()).unwrap().value().to_owned()
    }

    #[tokio::test]
    async fn only_session_ids_this_server_signed_are_sessions() {
        let sessions = Sessions::new(&[&[7; 32]], false).unwrap();
        let id = SessionId::random();
        let set = sessions.set_cookie(&id);
        let value = value_of(&set);
        assert_eq!(sessions.read(&sent(SESSION_COOKIE, &value)).await, Some(id.clone()));

        // The bare id (any 32-character value, as the old cookies were), a wrong MAC, a
        // MAC made under another key, or another id with this MAC: none is a session.
        let other_key = Sessions::new(&[&[8; 32]], false).unwrap();
        let (_, tag) = value.split_once('.').unwrap();
        let forged = [
            id.secret().to_owned(),
            format!("{}.{}", id.secret(), "A".repeat(tag.len())),
            value_of(&other_key.set_cookie(&id)),
            format!("{}.{tag}", SessionId::random().secret()),
            format!("{}.", id.secret()),
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ".to_owned(),
        ];
        for value in forged {
            assert_eq!(sessions.read(&sent(SESSION_COOKIE, &value)).await, None, "{value}");
        }
        assert!(!format!("{sessions:?}").contains("7, 7"));
    }

    #[tokio::test]
    async fn the_session_cookie_is_host_only_and_secure_under_https() {
        let id = SessionId::random();
        let secure = Sessions::new(&[&[1; 32]], true).unwrap();
        let set = secure.set_cookie(&id);
        assert!(set.starts_with("__Host-nv_session="), "{set}");
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(set.contains(part), "{set}");
        }
        assert!(!set.contains("Domain"), "{set}");
        // Under https the unprefixed name is not read.
        assert_eq!(secure.read(&sent(SESSION_COOKIE, &value_of(&set))).await, None);
        assert_eq!(
            secure.read(&sent(SECURE_SESSION_COOKIE, &value_of(&set))).await,
            Some(id.clone())
        );

        let plain = Sessions::new(&[&[1; 32]], false).unwrap().set_cookie(&id);
        assert!(plain.starts_with("nv_session="), "{plain}");
        assert!(!plain.contains("Secure"), "{plain}");
    }

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(axum::http::header::COOKIE, format!("{name}={value}").parse().unwrap());
        map
    }

    #[tokio::test]
    async fn keys_rotate_without_logging_anyone_out() {
        let old = Sessions::new(&[b"old-key-old-key-old-key-old-key-"], false).unwrap();
        let rotated = Sessions::new(
            &[b"new-key-new-key-new-key-new-key-", b"old-key-old-key-old-key-old-key-"],
            false,
        )
        .unwrap();
        let id = SessionId::random();
        // Issued under the old key: still accepted after the rotation.
        let issued = old.value(&id);
        assert_eq!(rotated.read(&headers(SESSION_COOKIE, &issued)).await, Some(id.clone()));
        // Issued after it: signed with the new key, which the old set does not know.
        let reissued = rotated.value(&id);
        assert_ne!(reissued, issued);
        assert_eq!(old.read(&headers(SESSION_COOKIE, &reissued)).await, None);
        // A tag under no known key is no session.
        let forged = format!("{}.{}", id.secret(), URL_SAFE_NO_PAD.encode([0u8; 32]));
        assert_eq!(rotated.read(&headers(SESSION_COOKIE, &forged)).await, None);
    }
}
