//! The last channel: a one-time code by SMS, offered when a network channel failed for a
//! reason a code can help with ([`Reason::falls_back`]) — never after a mismatch.
//!
//! failure → ticket (who may ask, for which number) → send: code → SMS, its digest kept
//! → check: the typed code against the digest → the same [`Completion`] a callback gives,
//! proven by [`Proof::SmsCode`](crate::outcome::Proof).
//!
//! The ticket is a random id kept in the store for [`TICKET_TTL`]; whoever was told of
//! the failure holds it (the page's browser — checked by its session — or the app that
//! called the API). The code is kept only as an HMAC bound to its ticket, for
//! [`CODE_TTL`], with its attempts counted in the store before each guess is judged, so
//! parallel guesses on several instances cannot pass [`MAX_ATTEMPTS`]. SMS pumping is
//! bounded by the country allow-list and by daily counts per number and per country.

mod refusal;
mod ticket;

use std::time::Duration;

use serde::Deserialize;

use super::{
    code::{message_text, CodeDigest, Country, OneTimeCode},
    reason::Reason,
    store::now_ms,
    Answer, Completion, Origin, SessionId, Verifier, VerifyError,
};
pub use refusal::CodeRefusal;
use ticket::{completion, resend_in, Ended, Ticket};

use crate::{
    config::SmsSettings,
    operators::{camara::Correlator, sms::SmsSender},
    outcome::Proof,
    phone::E164,
    protocol::Operator,
    support::random_token,
};

/// How long a failure's offer of a code stands, and how long the code channel may take.
pub const TICKET_TTL: Duration = Duration::from_secs(10 * 60);
/// Guesses at one code; the next ends the attempt.
pub const MAX_ATTEMPTS: u32 = 5;
/// Codes after the first one.
pub const MAX_RESENDS: u32 = 3;

const TICKET: &str = "sms-ticket";
/// An ended attempt of a relying party's verification: the way back to it.
const ENDED: &str = "sms-ended";
const CODE: &str = "sms-code";

/// What the code channel needs, built once: the sender, where it may send and how much,
/// the key of the code digests and the host the WebOTP line binds codes to.
pub(super) struct CodeChannel {
    sender: SmsSender,
    settings: SmsSettings,
    key: Vec<u8>,
    host: String,
    /// Codes go to the virtual operator's inbox: the verdicts are test results.
    sandbox: bool,
}

impl CodeChannel {
    pub(super) fn new(settings: &SmsSettings, public_url: &str, http: reqwest::Client) -> Self {
        use rand::RngCore;
        // Until start-up sets the instances' shared key (`with_code_key`), one of this
        // process's own.
        let mut key = vec![0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self {
            sender: SmsSender::new(&settings.sender, http),
            settings: settings.clone(),
            key,
            host: public_url.to_owned(),
            sandbox: settings.backing().is_sandbox(),
        }
    }
}

/// A code may be asked for: the ticket that asks, and why the network could not answer.
#[derive(Debug, Clone)]
pub struct Fallback {
    pub ticket: String,
    pub reason: Reason,
}

/// A code on its way.
#[derive(Debug, Clone)]
pub struct CodeSent {
    /// The number, masked as logs show it.
    pub to: String,
    pub expires_in: Duration,
    pub resend_after: Duration,
    pub resends_left: u32,
}

/// What the page shows while a code is awaited.
#[derive(Debug, Clone)]
pub struct CodeWait {
    /// The number, masked.
    pub to: String,
    /// The number itself, for the virtual operator's inbox on the page (sandbox only).
    pub sandbox_number: Option<E164>,
    pub sent: bool,
    /// Started on a relying party's hosted page: "Cancel" goes back to it.
    pub for_relying_party: bool,
    /// Why the network could not answer.
    pub reason: Option<Reason>,
    pub resends_left: u32,
    /// Seconds until another code may be asked for.
    pub resend_in: u64,
}

impl Verifier {
    /// Whether codes by SMS may be offered here.
    pub fn offers_codes(&self) -> bool {
        self.code.is_some()
    }

    /// The key code digests are made with: every instance on one store must use the same.
    pub fn with_code_key(mut self, key: Vec<u8>) -> Self {
        if let Some(code) = &mut self.code {
            code.key = key;
        }
        self
    }

    /// After `error` ended the network verification of `number`: a ticket for a code, if
    /// a code can help (its reason falls back), the channel is on and may send there.
    pub(super) async fn offer_code(
        &self,
        error: &VerifyError,
        number: &E164,
        origin: &Origin,
        correlator: &Correlator,
        operator: Operator,
    ) -> Option<Fallback> {
        let reason = Reason::of(error).filter(|r| r.falls_back())?;
        let channel = self.code.as_ref()?;
        if !channel.settings.countries.allows(number) {
            tracing::info!(%number, "no code offered: its country is not in SMS_COUNTRIES");
            return None;
        }
        // The page's and the API's verifications, and a relying party's that accepts the
        // proof; a handoff's phone ends as before.
        let offered = match origin {
            Origin::Browser { .. } | Origin::Api | Origin::ApiFor { .. } => true,
            Origin::RelyingParty { request, .. } => request.sms_fallback,
            Origin::Handoff { .. } => false,
        };
        if !offered {
            return None;
        }
        let id = random_token();
        let ticket = Ticket {
            origin: origin.clone(),
            number: number.clone(),
            correlator: correlator.clone(),
            operator,
            reason: reason.code().to_owned(),
            sends: 0,
            last_sent_ms: 0,
            sms_started_ms: 0,
            expires_at_ms: now_ms() + TICKET_TTL.as_millis() as u64,
        };
        let value = serde_json::to_string(&ticket).ok()?;
        if let Err(error) = self.store.put_kept(TICKET, &id, value, TICKET_TTL).await {
            tracing::warn!(%error, "no code offered: the store does not answer");
            return None;
        }
        tracing::info!(%number, reason = reason.code(), "a code by SMS offered");
        Some(Fallback { ticket: id, reason })
    }

    /// The ticket `id`, for `reader` (a browser's session; `None` for the API).
    async fn ticket(&self, id: &str, reader: Option<&SessionId>) -> Result<Ticket, CodeRefusal> {
        let found = self
            .store
            .get_kept(TICKET, id)
            .await?
            .ok_or(CodeRefusal::UnknownTicket)?;
        let ticket: Ticket = serde_json::from_str(&found).map_err(|_| CodeRefusal::UnknownTicket)?;
        if ticket.expires_at_ms <= now_ms() {
            return Err(CodeRefusal::UnknownTicket);
        }
        if let Some(owner) = ticket.origin.session() {
            if reader != Some(owner) {
                return Err(CodeRefusal::OtherBrowser);
            }
        }
        Ok(ticket)
    }

    /// The ticket answers nothing more, and the number leaves the store with it. A
    /// relying party's that ended without a verdict keeps the way back to it.
    async fn end_ticket(&self, id: &str, ticket: &Ticket) {
        if let Origin::RelyingParty { session, request } = &ticket.origin {
            let ended = Ended {
                owner: Some(session.clone()),
                back_to: (**request).clone(),
            };
            let left = ticket.expires_at_ms.saturating_sub(now_ms()).max(1);
            if let Ok(value) = serde_json::to_string(&ended) {
                if let Err(error) = self.store.put_kept(ENDED, id, value, Duration::from_millis(left)).await {
                    tracing::warn!(%error, "the way back to the relying party is lost (the store does not answer)");
                }
            }
        }
        self.retire_ticket(id).await;
    }

    /// The person gives up on the code for ticket `id`: the relying party's request to
    /// answer with a refusal, if it was one's (`None`: the page's or the API's, which
    /// simply start again).
    pub async fn cancel_code(
        &self,
        id: &str,
        reader: Option<&SessionId>,
    ) -> Result<Option<crate::verification::RelyingPartyRequest>, CodeRefusal> {
        if let Ok(ticket) = self.ticket(id, reader).await {
            let _ = self.store.remove_guarded(CODE, id).await;
            self.retire_ticket(id).await;
            if ticket.sms_started_ms > 0 {
                self.journal.ended_with(&ticket.entry(id), Reason::Declined).await;
            }
            tracing::info!(correlator = ticket.correlator.secret(), "one-time code declined");
            return Ok(match ticket.origin {
                Origin::RelyingParty { request, .. } => Some(*request),
                _ => None,
            });
        }
        let Some(found) = self.store.get_kept(ENDED, id).await? else {
            return Ok(None);
        };
        let ended: Ended = serde_json::from_str(&found).map_err(|_| CodeRefusal::UnknownTicket)?;
        if ended.owner.as_ref() != reader {
            return Err(CodeRefusal::OtherBrowser);
        }
        let _ = self
            .store
            .put_kept(ENDED, id, "used".into(), Duration::from_millis(1))
            .await;
        Ok(Some(ended.back_to))
    }

    /// The ticket answers nothing more, and the number leaves the store with it.
    async fn retire_ticket(&self, id: &str) {
        if let Err(error) = self
            .store
            .put_kept(TICKET, id, "used".into(), Duration::from_millis(1))
            .await
        {
            tracing::warn!(%error, "a used ticket stays until it expires (it answers no more codes: its code is gone)");
        }
    }

    async fn keep_ticket(&self, id: &str, ticket: &Ticket) -> Result<(), CodeRefusal> {
        let left = ticket.expires_at_ms.saturating_sub(now_ms()).max(1);
        let value = serde_json::to_string(ticket).map_err(|_| CodeRefusal::StoreUnavailable)?;
        self.store
            .put_kept(TICKET, id, value, Duration::from_millis(left))
            .await?;
        Ok(())
    }

    /// What the page shows while the code for `id` is awaited.
    pub async fn code_wait(&self, id: &str, reader: Option<&SessionId>) -> Result<CodeWait, CodeRefusal> {
        let channel = self.code.as_ref().ok_or(CodeRefusal::ChannelOff)?;
        let ticket = self.ticket(id, reader).await?;
        Ok(CodeWait {
            to: ticket.number.redacted(),
            sandbox_number: channel.sandbox.then(|| ticket.number.clone()),
            sent: ticket.sends > 0,
            for_relying_party: matches!(ticket.origin, Origin::RelyingParty { .. }),
            reason: Reason::from_code(&ticket.reason),
            resends_left: (MAX_RESENDS + 1).saturating_sub(ticket.sends.max(1)),
            resend_in: resend_in(&ticket, channel.settings.resend_after),
        })
    }

    /// Sends a code for ticket `id` (the first, or another once the wait (30 s) has
    /// passed, [`MAX_RESENDS`] times at most), within the day's limits.
    pub async fn send_code(&self, id: &str, reader: Option<&SessionId>) -> Result<CodeSent, CodeRefusal> {
        let sent = self.try_send_code(id, reader).await;
        if let Err(refusal) = &sent {
            refusal.log();
        }
        sent
    }

    async fn try_send_code(&self, id: &str, reader: Option<&SessionId>) -> Result<CodeSent, CodeRefusal> {
        let channel = self.code.as_ref().ok_or(CodeRefusal::ChannelOff)?;
        let mut ticket = self.ticket(id, reader).await?;
        if ticket.sends > MAX_RESENDS {
            return Err(CodeRefusal::NoMoreCodes);
        }
        let wait = resend_in(&ticket, channel.settings.resend_after);
        if wait > 0 {
            return Err(CodeRefusal::TooSoon(wait));
        }
        let country = Country::of(&ticket.number)
            .filter(|_| channel.settings.countries.allows(&ticket.number))
            .ok_or(CodeRefusal::CountryNotAllowed)?;
        // Both counts are spent whatever follows: a refused or failed send is still an
        // attempt to make this service send SMS there.
        let number_ok = self
            .store
            .count_daily(
                "sms-number",
                ticket.number.as_str(),
                channel.settings.per_number_per_day,
            )
            .await?;
        let country_ok = self
            .store
            .count_daily("sms-country", country.code(), channel.settings.per_country_per_day)
            .await?;
        if !number_ok || !country_ok {
            tracing::warn!(
                number = %ticket.number,
                country = country.code(),
                per_number = number_ok,
                per_country = country_ok,
                "one-time code refused: a daily SMS limit is reached"
            );
            return Err(CodeRefusal::DailyLimit);
        }

        let code = OneTimeCode::generate();
        let digest = serde_json::to_string(&CodeDigest::of(&channel.key, id, &code))
            .map_err(|_| CodeRefusal::StoreUnavailable)?;
        self.store
            .put_guarded(CODE, id, digest, channel.settings.code_ttl)
            .await?;
        let text = message_text(&channel.host, &code);
        drop(code);
        let began = std::time::Instant::now();
        let sent = channel.sender.send(&ticket.number, &text).await;
        self.journal
            .metrics
            .sms(channel.sender.name(), country.code(), sent.is_ok(), began.elapsed());
        if let Err(failure) = sent {
            tracing::warn!(number = %ticket.number, sender = channel.sender.name(), %failure, "one-time code not sent");
            let _ = self.store.remove_guarded(CODE, id).await;
            return Err(CodeRefusal::SendFailed);
        }

        let now = now_ms();
        let first = ticket.sends == 0;
        ticket.sends += 1;
        ticket.last_sent_ms = now;
        if first {
            ticket.sms_started_ms = now;
        }
        // The code must be checkable for its whole life.
        ticket.expires_at_ms = ticket
            .expires_at_ms
            .max(now + channel.settings.code_ttl.as_millis() as u64);
        self.keep_ticket(id, &ticket).await?;
        if first {
            let entry = ticket.entry(id);
            self.journal.started(&entry, ticket.expires_at_ms).await;
        }
        tracing::info!(
            number = %ticket.number,
            sender = channel.sender.name(),
            sends = ticket.sends,
            correlator = ticket.correlator.secret(),
            "one-time code sent"
        );
        Ok(CodeSent {
            to: ticket.number.redacted(),
            expires_in: channel.settings.code_ttl,
            resend_after: channel.settings.resend_after,
            resends_left: (MAX_RESENDS + 1).saturating_sub(ticket.sends),
        })
    }

    /// Checks what was typed for ticket `id`. The verdict completes the verification as
    /// its callback would have, for whoever started it; and whether it is a test result.
    pub async fn check_code(
        &self,
        id: &str,
        typed: &str,
        reader: Option<&SessionId>,
    ) -> Result<(Completion, bool), CodeRefusal> {
        let checked = self.try_check_code(id, typed, reader).await;
        if let Err(refusal) = &checked {
            refusal.log();
        }
        checked
    }

    async fn try_check_code(
        &self,
        id: &str,
        typed: &str,
        reader: Option<&SessionId>,
    ) -> Result<(Completion, bool), CodeRefusal> {
        let channel = self.code.as_ref().ok_or(CodeRefusal::ChannelOff)?;
        let ticket = self.ticket(id, reader).await?;
        // A typo is not a guess: nothing is counted for what cannot be a code.
        let code = OneTimeCode::parse(typed).map_err(CodeRefusal::NotACode)?;
        let (digest, attempts) = self.store.attempt(CODE, id).await?.ok_or(CodeRefusal::CodeExpired)?;
        if attempts > MAX_ATTEMPTS {
            return Err(self.too_many_attempts(id, &ticket).await);
        }
        let digest: CodeDigest = serde_json::from_str(&digest).map_err(|_| CodeRefusal::CodeExpired)?;
        if !digest.matches(&channel.key, id, &code) {
            if attempts == MAX_ATTEMPTS {
                return Err(self.too_many_attempts(id, &ticket).await);
            }
            return Err(CodeRefusal::WrongCode(MAX_ATTEMPTS - attempts));
        }
        // Single use on every instance: of two right answers at once, one completes.
        if !self.store.remove_guarded(CODE, id).await? {
            return Err(CodeRefusal::CodeExpired);
        }
        self.retire_ticket(id).await;
        let answer = Answer::Verified(true);
        self.journal
            .ended(&ticket.entry(id), Ok(&answer), Proof::SmsCode.amr())
            .await;
        tracing::info!(
            number = %ticket.number,
            correlator = ticket.correlator.secret(),
            "verification completed by one-time code"
        );
        Ok((completion(ticket), channel.sandbox))
    }

    /// Ends the attempt: the code and the ticket answer nothing more.
    async fn too_many_attempts(&self, id: &str, ticket: &Ticket) -> CodeRefusal {
        let _ = self.store.remove_guarded(CODE, id).await;
        self.end_ticket(id, ticket).await;
        tracing::warn!(number = %ticket.number, correlator = ticket.correlator.secret(), "one-time code: too many attempts");
        self.journal
            .ended_with(&ticket.entry(id), Reason::TooManyAttempts)
            .await;
        CodeRefusal::TooManyAttempts
    }
}

impl Verifier {
    /// The virtual operator's inbox for `number` (its last messages' texts, oldest
    /// first), for the page's simulated SIM: read over HTTP like any operator, and only
    /// when codes go to the virtual gateway. `None` when it cannot be read.
    pub async fn sandbox_inbox(&self, number: &E164) -> Option<Vec<String>> {
        #[derive(Deserialize)]
        struct Message {
            text: String,
        }
        let channel = self.code.as_ref().filter(|c| c.sandbox)?;
        let crate::operators::sms::SmsSenderSettings::VirtualGateway(gateway) = &channel.settings.sender else {
            return None;
        };
        let mut url = gateway.api_base.clone();
        let path = format!(
            "{}{}",
            url.path().trim_end_matches('/'),
            crate::sandbox_contract::SMS_INBOX_PATH
        );
        url.set_path(&path);
        url.query_pairs_mut().append_pair("to", number.as_str());
        let answer = self.clients.http.get(url).send().await.ok()?;
        let messages: Vec<Message> = answer.error_for_status().ok()?.json().await.ok()?;
        Some(messages.into_iter().map(|m| m.text).collect())
    }
}
