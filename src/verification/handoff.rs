//! Desktop → phone handoff: a verification started on one device (the desktop, which
//! cannot be recognised by any operator) and proven on another (the phone).
//!
//! The desktop gets two values: a **handoff link** for the phone (a QR code of
//! `/handoff?h=<secret>`, 256 random bits, usable by one phone for [`HANDOFF_TTL`]) and a
//! **watch id** for its own page (`/?handoff=<id>`, readable only in the desktop's
//! browser session). Both name records in the store, so any instance can serve either:
//!
//! - `handoff:<secret>` → [`Ticket`]: which watch it feeds, the number, the match code;
//! - `handoff-claim:<secret>` → the phone's session: the first phone to press Continue
//!   holds the link; any other is refused ("already used");
//! - `handoff-watch:<id>` → [`Watch`]: the desktop's view — waiting, continued on the
//!   phone, or the verdict.
//!
//! When the phone's verification ends, its verdict is written into the watch and a
//! message on [`CHANNEL`] (Redis Pub/Sub across instances) wakes the desktop's live stream
//! wherever it is held. The verdict belongs to the desktop's session; the phone only
//! learns that it is done.

use std::{net::IpAddr, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    store::{now_ms, AFTERLIFE},
    ClientKey, Origin, SessionId, StartedVerification, Verifier, VerifyError,
};
use crate::{
    outcome::Outcome,
    phone::{normalise, E164},
    protocol::Operator,
    support::{random_value, redacted::redacted_newtype},
};

/// How long a handoff link can be used: long enough to find the phone and scan.
pub const HANDOFF_TTL: Duration = Duration::from_secs(5 * 60);
/// How long the desktop can read its verdict after the link was made.
const WATCH_TTL: Duration = Duration::from_secs(15 * 60);
/// The store's channel for "this watch changed".
pub const CHANNEL: &str = "handoff";

const TICKET: &str = "handoff";
const CLAIM: &str = "handoff-claim";
const WATCH: &str = "handoff-watch";

/// Characters of the match code: upper-case letters and digits no one confuses.
const MATCH_ALPHABET: &[u8] = b"ACDEFHJKMNPRTUVWXY3479";

redacted_newtype!(
    /// The phone's link (`/handoff?h=`): whoever holds it may prove the number once.
    HandoffSecret
);
redacted_newtype!(
    /// The desktop's view of a handoff (`/?handoff=`), read in its browser session only.
    WatchId
);

impl HandoffSecret {
    fn random() -> Self {
        Self::new(random_value(32))
    }

    /// A value from a link, if it has the shape this app gives handoff secrets.
    pub fn parse(value: &str) -> Option<Self> {
        is_base64url(value, 43).then(|| Self::new(value))
    }
}

impl WatchId {
    fn random() -> Self {
        Self::new(random_value(16))
    }

    pub fn parse(value: &str) -> Option<Self> {
        is_base64url(value, 22).then(|| Self::new(value))
    }
}

fn is_base64url(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a handoff link verifies nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffProblem {
    /// Not a link this service gave out (or forgotten long ago).
    Unknown,
    Expired,
    /// Another phone continued with it, or its verification has ended.
    Used,
}

impl HandoffProblem {
    pub fn message(self) -> &'static str {
        match self {
            HandoffProblem::Unknown => {
                "This link is not one this service gave out. Scan the code on your computer's screen again."
            }
            HandoffProblem::Expired => "This link has expired. Start again on your computer.",
            HandoffProblem::Used => "This link has already been used. Start again on your computer.",
        }
    }
}

/// What the phone's link leads to.
#[derive(Serialize, Deserialize)]
struct Ticket {
    watch: WatchId,
    number: E164,
    match_code: String,
    expires_at_ms: u64,
}

/// Where the desktop's handoff stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Phase {
    /// The link waits for a phone.
    Waiting,
    /// A phone pressed Continue and is being verified.
    Continued,
    /// The phone's verification ended.
    Finished(Outcome),
}

/// The desktop's record of a handoff.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Watch {
    owner: SessionId,
    pub secret: HandoffSecret,
    pub number: E164,
    pub match_code: String,
    /// When the link stops working (every instance's clock).
    pub expires_at_ms: u64,
    pub phase: Phase,
}

impl Watch {
    /// The link can no longer be used and nothing came of it.
    pub fn expired(&self) -> bool {
        self.phase == Phase::Waiting && now_ms() >= self.expires_at_ms
    }
}

/// What the phone shows before Continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offered {
    pub number: E164,
    pub match_code: String,
}

impl Verifier {
    /// A handoff of `typed` from the desktop of `owner`: its watch id. Spends a page start
    /// from `client`'s budget, like any start.
    pub async fn start_handoff(
        &self,
        typed: &str,
        owner: SessionId,
        client: Option<IpAddr>,
    ) -> Result<WatchId, VerifyError> {
        self.charge(&Origin::Browser { session: owner.clone() }, client).await?;
        let number = normalise(typed).map_err(VerifyError::InvalidPhone)?;
        // Nothing to hand off to when no operator can run the phone's redirect.
        if self.protocols().is_empty() {
            return Err(VerifyError::ProtocolUnavailable);
        }
        let (secret, watch) = (HandoffSecret::random(), WatchId::random());
        let expires_at_ms = now_ms() + self.handoff_ttl().as_millis() as u64;
        let ticket = Ticket {
            watch: watch.clone(),
            number: number.clone(),
            match_code: match_code(),
            expires_at_ms,
        };
        let record = Watch {
            owner,
            secret: secret.clone(),
            number,
            match_code: ticket.match_code.clone(),
            expires_at_ms,
            phase: Phase::Waiting,
        };
        self.put_watch(&watch, &record).await?;
        self.store
            .put_kept(TICKET, secret.secret(), encode(&ticket)?, HANDOFF_TTL + AFTERLIFE)
            .await?;
        tracing::info!(number = %record.number, "handoff started");
        Ok(watch)
    }

    /// How long a link works: [`HANDOFF_TTL`], or less where verifications in flight
    /// live less (tests).
    pub fn handoff_ttl(&self) -> Duration {
        HANDOFF_TTL.min(self.store.settings().pending_ttl)
    }

    /// The desktop's handoff, if it exists and belongs to `reader`.
    pub async fn watch(&self, id: &WatchId, reader: Option<&SessionId>) -> Result<Option<Watch>, VerifyError> {
        let Some(text) = self.store.get_kept(WATCH, id.secret()).await? else {
            return Ok(None);
        };
        let watch: Watch = decode(&text)?;
        Ok((Some(&watch.owner) == reader).then_some(watch))
    }

    /// What the phone holding `secret` (in the browser of `phone`) is shown, or why the
    /// link verifies nothing.
    pub async fn offered(&self, secret: &HandoffSecret, phone: &SessionId) -> Result<Offered, HandoffRefusal> {
        let (ticket, _) = self.usable_ticket(secret, phone, false).await?;
        Ok(Offered {
            number: ticket.number,
            match_code: ticket.match_code,
        })
    }

    /// The phone pressed Continue: it holds the link from now on, and its verification of
    /// the handed-off number starts with `operator` (a redirect, like the page's).
    pub async fn continue_handoff(
        &self,
        secret: &HandoffSecret,
        phone: SessionId,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, HandoffRefusal> {
        let watch = self.claim_handoff(secret, &phone, client).await?;
        self.begin_handoff(watch, phone, operator, client)
            .await
            .map_err(HandoffRefusal::Verify)
    }

    /// Spends a page start, then claims the link for `phone`: the watch it feeds and the
    /// number, or why not. The desktop learns that the phone continued.
    pub(super) async fn claim_handoff(
        &self,
        secret: &HandoffSecret,
        phone: &SessionId,
        client: Option<IpAddr>,
    ) -> Result<(WatchId, E164), HandoffRefusal> {
        self.charge(&Origin::Browser { session: phone.clone() }, client)
            .await
            .map_err(HandoffRefusal::Verify)?;
        let (ticket, mut watch) = self.usable_ticket(secret, phone, true).await?;
        if watch.phase == Phase::Waiting {
            watch.phase = Phase::Continued;
            self.put_watch(&ticket.watch, &watch)
                .await
                .map_err(HandoffRefusal::Verify)?;
            self.announce(&ticket.watch).await;
        }
        tracing::info!("handoff continued on a phone");
        Ok((ticket.watch, ticket.number))
    }

    async fn begin_handoff(
        &self,
        (watch, number): (WatchId, E164),
        phone: SessionId,
        operator: Operator,
        client: Option<IpAddr>,
    ) -> Result<StartedVerification, VerifyError> {
        let origin = Origin::Handoff { session: phone, watch };
        self.start_charged(number.as_str(), operator, origin, client).await
    }

    /// Ends the handoff of `watch` with `outcome`, for the desktop; wakes its live stream
    /// on whichever instance holds it. The first verdict stands.
    pub async fn finish_handoff(&self, watch_id: &WatchId, outcome: Outcome) -> Result<(), VerifyError> {
        let Some(text) = self.store.get_kept(WATCH, watch_id.secret()).await? else {
            tracing::info!("a handoff's verdict came after its desktop's record expired");
            return Ok(());
        };
        let mut watch: Watch = decode(&text)?;
        if matches!(watch.phase, Phase::Finished(_)) {
            return Ok(());
        }
        watch.phase = Phase::Finished(outcome);
        self.put_watch(watch_id, &watch).await?;
        self.announce(watch_id).await;
        Ok(())
    }

    /// The ticket behind `secret` and its watch, if `phone` may use it: not expired, not
    /// finished, and (with `claim`) held by this phone from now on.
    async fn usable_ticket(
        &self,
        secret: &HandoffSecret,
        phone: &SessionId,
        claim: bool,
    ) -> Result<(Ticket, Watch), HandoffRefusal> {
        let Some(text) = self.store.get_kept(TICKET, secret.secret()).await? else {
            return Err(HandoffProblem::Unknown.into());
        };
        let ticket: Ticket = decode(&text)?;
        let Some(watch) = self.store.get_kept(WATCH, ticket.watch.secret()).await? else {
            return Err(HandoffProblem::Expired.into());
        };
        let watch: Watch = decode(&watch)?;
        if matches!(watch.phase, Phase::Finished(_)) {
            return Err(HandoffProblem::Used.into());
        }
        let holder = holder(phone);
        let held = if claim {
            self.store
                .claim(CLAIM, secret.secret(), &holder, HANDOFF_TTL + AFTERLIFE)
                .await?
        } else {
            self.store
                .get_kept(CLAIM, secret.secret())
                .await?
                .is_none_or(|held| held == holder)
        };
        if !held {
            return Err(HandoffProblem::Used.into());
        }
        // A phone that continued in time may finish; a new one must come in time.
        if watch.phase == Phase::Waiting && now_ms() >= ticket.expires_at_ms {
            return Err(HandoffProblem::Expired.into());
        }
        Ok((ticket, watch))
    }

    async fn put_watch(&self, id: &WatchId, watch: &Watch) -> Result<(), VerifyError> {
        let left = watch.expires_at_ms.saturating_sub(now_ms());
        let keep = Duration::from_millis(left) + (WATCH_TTL - HANDOFF_TTL);
        self.store.put_kept(WATCH, id.secret(), encode(watch)?, keep).await?;
        Ok(())
    }

    /// Wakes whoever waits on `watch`, on every instance. A lost message costs only
    /// latency: the desktop's stream reads its record again now and then.
    async fn announce(&self, watch: &WatchId) {
        self.notices.notify(watch.secret());
        if let Err(e) = self.store.publish(CHANNEL, watch.secret()).await {
            tracing::warn!(error = %e, "a handoff's news was not sent to the other instances");
        }
    }
}

/// Why the phone's link did not lead to a verification.
#[derive(Debug)]
pub enum HandoffRefusal {
    Problem(HandoffProblem),
    Verify(VerifyError),
}

impl From<HandoffProblem> for HandoffRefusal {
    fn from(problem: HandoffProblem) -> Self {
        HandoffRefusal::Problem(problem)
    }
}

impl From<super::store::StoreError> for HandoffRefusal {
    fn from(error: super::store::StoreError) -> Self {
        HandoffRefusal::Verify(error.into())
    }
}

impl From<VerifyError> for HandoffRefusal {
    fn from(error: VerifyError) -> Self {
        HandoffRefusal::Verify(error)
    }
}

impl HandoffRefusal {
    pub fn log(&self) {
        match self {
            HandoffRefusal::Problem(problem) => tracing::info!(?problem, "handoff link refused"),
            HandoffRefusal::Verify(e) => e.log(),
        }
    }
}

/// A phone session as the claim records it: a hash, never the cookie.
fn holder(phone: &SessionId) -> String {
    match ClientKey::session(phone) {
        ClientKey::Session(half) => hex::encode(half),
        other => other.to_string(),
    }
}

/// `XXX-XXX` from [`MATCH_ALPHABET`]: what the person compares on both screens.
fn match_code() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    let mut code = String::with_capacity(7);
    for i in 0..6 {
        if i == 3 {
            code.push('-');
        }
        code.push(MATCH_ALPHABET[rng.gen_range(0..MATCH_ALPHABET.len())] as char);
    }
    code
}

fn encode<T: Serialize>(value: &T) -> Result<String, VerifyError> {
    serde_json::to_string(value).map_err(|e| VerifyError::StoreUnavailable(format!("a handoff does not encode: {e}")))
}

fn decode<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, VerifyError> {
    serde_json::from_str(text)
        .map_err(|e| VerifyError::StoreUnavailable(format!("a handoff record does not decode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_watch_ids_are_long_random_and_checked() {
        let (a, b) = (HandoffSecret::random(), HandoffSecret::random());
        assert_ne!(a, b);
        // 32 bytes: 256 bits, at least the 128 a link needs.
        assert_eq!(a.secret().len(), 43);
        assert_eq!(HandoffSecret::parse(a.secret()), Some(a.clone()));
        assert_eq!(HandoffSecret::parse(&a.secret()[1..]), None);
        assert_eq!(HandoffSecret::parse(&"+".repeat(43)), None);
        assert!(!format!("{a:?}").contains(a.secret()));
        let watch = WatchId::random();
        assert_eq!(WatchId::parse(watch.secret()), Some(watch.clone()));
        assert_eq!(WatchId::parse(a.secret()), None);
    }

    #[test]
    fn match_codes_are_short_and_unambiguous() {
        for _ in 0..200 {
            let code = match_code();
            assert_eq!(code.len(), 7);
            assert_eq!(&code[3..4], "-");
            assert!(code
                .bytes()
                .enumerate()
                .all(|(i, b)| i == 3 || MATCH_ALPHABET.contains(&b)));
            assert!(!code.contains('0') && !code.contains('O') && !code.contains('1') && !code.contains('I'));
        }
    }
}
