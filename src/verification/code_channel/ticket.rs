//! A verification between its network failure and its code, as the store keeps it, and
//! what it turns into: the wait before another code, the completion once verified.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::super::{journal::Entry, store::now_ms, Answer, Completion, Origin, SessionId};
use crate::{metrics::Channel, operators::camara::Correlator, phone::E164, protocol::Operator};

/// A verification between its network failure and its code, as the store keeps it.
#[derive(Serialize, Deserialize)]
pub(super) struct Ticket {
    pub(super) origin: Origin,
    pub(super) number: E164,
    pub(super) correlator: Correlator,
    /// The network channel's operator: the verification's protocol in metrics and events.
    pub(super) operator: Operator,
    /// Why the network channel failed ([`Reason::code`]).
    pub(super) reason: String,
    /// Codes sent so far, and when the last one was.
    pub(super) sends: u32,
    pub(super) last_sent_ms: u64,
    /// When the first code was sent (the code channel's start).
    pub(super) sms_started_ms: u64,
    pub(super) expires_at_ms: u64,
}

impl Ticket {
    pub(super) fn entry<'a>(&'a self, id: &'a str) -> Entry<'a> {
        Entry {
            operator: self.operator,
            channel: Channel::Sms,
            id,
            client_ref: self.origin.client_ref(),
            started_at_ms: (self.sms_started_ms > 0).then_some(self.sms_started_ms),
        }
    }
}

/// A relying party's verification whose code channel ended without a verdict (too many
/// attempts): kept until the ticket would have expired, so the person can still go back.
#[derive(Serialize, Deserialize)]
pub(super) struct Ended {
    pub(super) owner: Option<SessionId>,
    pub(super) back_to: crate::verification::RelyingPartyRequest,
}

/// Seconds before another code may be sent (0: now).
pub(super) fn resend_in(ticket: &Ticket, resend_after: Duration) -> u64 {
    if ticket.sends == 0 {
        return 0;
    }
    let ready = ticket.last_sent_ms + resend_after.as_millis() as u64;
    ready.saturating_sub(now_ms()).div_ceil(1000)
}

/// A code-verified verification, for whoever started it.
pub(super) fn completion(ticket: Ticket) -> Completion {
    let result = Ok(Answer::Verified(true));
    match ticket.origin {
        Origin::Browser { session } => Completion::Browser {
            session,
            number: ticket.number,
            result: Ok(true),
            fallback: None,
        },
        Origin::Api => Completion::Api {
            result,
            asked: Some(ticket.number),
            correlator: ticket.correlator,
            audience: None,
            fallback: None,
        },
        Origin::ApiFor { audience } => Completion::Api {
            result,
            asked: Some(ticket.number),
            correlator: ticket.correlator,
            audience: Some(audience),
            fallback: None,
        },
        Origin::RelyingParty { request, .. } => Completion::RelyingParty {
            request: *request,
            result,
            asked: Some(ticket.number),
            correlator: ticket.correlator,
            fallback: None,
        },
        Origin::Handoff { watch, .. } => Completion::Handoff {
            watch,
            number: ticket.number,
            result: Ok(true),
        },
    }
}
