//! Senders of one-time codes by SMS: Vonage's SMS API (a live account, or the virtual
//! operator's gateway reached by URL like any operator), or the integrator's own hook (a
//! signed POST to their endpoint, which sends the SMS itself). Both go through the app's
//! one HTTP client.
//!
//! What they report never carries the message text (it holds the code) or the number:
//! [`SmsFailure`] has statuses, short provider codes and sanitised reasons only.

pub mod countries;
pub mod hook;
pub mod vonage;

pub use countries::{CountriesError, Country, SmsCountries};
pub use hook::{HookSettings, HookSms};
pub use vonage::{VonageSms, VonageSmsSettings};

use super::OperatorFailure;
use crate::phone::E164;

/// How long a one-time code is good for, as its message tells the person.
pub const CODE_TTL: std::time::Duration = std::time::Duration::from_secs(5 * 60);

/// Who sends the codes, as configured.
#[derive(Debug, Clone)]
pub enum SmsSenderSettings {
    /// A live Vonage account (`VONAGE_API_KEY`, `VONAGE_API_SECRET`, `SMS_FROM`).
    Vonage(VonageSmsSettings),
    /// The integrator's endpoint (`OTP_HOOK_URL`, `OTP_HOOK_SECRET`).
    Hook(HookSettings),
    /// The virtual operator's SMS gateway, with its published account: a Vonage client
    /// whose base URL is the virtual operator's. Nothing reaches a phone.
    VirtualGateway(VonageSmsSettings),
}

/// One sender, built once from its settings.
pub enum SmsSender {
    Vonage(VonageSms),
    Hook(HookSms),
}

/// A message the sender accepted. Acceptance is not delivery: Vonage's `"0"` means
/// queued, a hook's 2xx means the integrator took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// `"vonage"` or `"hook"`.
    pub sender: &'static str,
    /// Vonage's `message-id`, or the hook request's `id`.
    pub message_id: Option<String>,
}

/// Why a message was not sent. `Display` is for logs: no text, no number, no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsFailure {
    #[error("{sender}: no answer within the timeout")]
    Timeout { sender: &'static str },
    #[error("{sender}: cannot reach it: {reason}")]
    Unreachable { sender: &'static str, reason: String },
    /// An HTTP status other than 2xx.
    #[error("{sender}: HTTP {status}")]
    Status { sender: &'static str, status: u16 },
    /// The provider answered and refused the message (Vonage: a non-zero `status`).
    #[error("{sender}: refused, status {code}: {reason}")]
    Rejected {
        sender: &'static str,
        code: String,
        reason: String,
    },
    #[error("{sender}: malformed answer: {reason}")]
    Malformed { sender: &'static str, reason: String },
}

impl SmsSender {
    /// The sender for `settings`, on the app's one HTTP client.
    pub fn new(settings: &SmsSenderSettings, http: reqwest::Client) -> Self {
        match settings {
            SmsSenderSettings::Vonage(s) | SmsSenderSettings::VirtualGateway(s) => {
                Self::Vonage(VonageSms::new(s, http))
            }
            SmsSenderSettings::Hook(s) => Self::Hook(HookSms::new(s, http)),
        }
    }

    /// `"vonage"` or `"hook"`, for logs and [`SentSms::sender`].
    pub fn name(&self) -> &'static str {
        match self {
            Self::Vonage(_) => vonage::NAME,
            Self::Hook(_) => hook::NAME,
        }
    }

    /// Sends `text` to `to`.
    pub async fn send(&self, to: &E164, text: &str) -> Result<SentSms, SmsFailure> {
        match self {
            Self::Vonage(sender) => sender.send(to, text).await,
            Self::Hook(sender) => sender.send(to, text).await,
        }
    }
}

impl SmsFailure {
    /// The shared operator reader's failure, as a sender's.
    fn from_operator(sender: &'static str, failure: OperatorFailure) -> Self {
        match failure {
            OperatorFailure::Timeout { .. } => Self::Timeout { sender },
            OperatorFailure::Unreachable { reason, .. } => Self::Unreachable { sender, reason },
            OperatorFailure::Status { status, .. } => Self::Status { sender, status },
            OperatorFailure::Malformed { reason, .. } | OperatorFailure::Refused { reason, .. } => {
                Self::Malformed { sender, reason }
            }
            OperatorFailure::NotOnMobileNetwork { .. } => Self::Status { sender, status: 403 },
        }
    }
}

/// A provider's free-text reason as a log may carry it: one line, at most 80 characters,
/// any run of 5 or more digits (a number, a code) replaced by `…`.
pub(crate) fn sanitised_reason(text: &str) -> String {
    let mut out = String::new();
    let mut digits = String::new();
    let flush = |out: &mut String, digits: &mut String| {
        if digits.len() >= 5 {
            out.push('…');
        } else {
            out.push_str(digits);
        }
        digits.clear();
    };
    for c in text.chars().take(80) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        flush(&mut out, &mut digits);
        out.push(if c.is_control() { ' ' } else { c });
    }
    flush(&mut out, &mut digits);
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_lose_numbers_and_lines() {
        assert_eq!(sanitised_reason("Bad Credentials"), "Bad Credentials");
        assert_eq!(
            sanitised_reason("Non White-listed Destination 447700900123\nrejected"),
            "Non White-listed Destination … rejected"
        );
        assert_eq!(sanitised_reason("code 123456 sent"), "code … sent");
        assert_eq!(sanitised_reason("status 1234"), "status 1234");
        assert_eq!(sanitised_reason(&"x".repeat(200)).len(), 80);
    }

    #[test]
    fn failures_say_nothing_of_the_message() {
        let failure = SmsFailure::Rejected {
            sender: "vonage",
            code: "4".into(),
            reason: sanitised_reason("Bad Credentials"),
        };
        assert_eq!(failure.to_string(), "vonage: refused, status 4: Bad Credentials");
    }
}
