//! Why a one-time code was not sent or not accepted: one error that knows its message,
//! the JSON API's `error` code, its status, and the page's fixed code for it.

use super::super::{code::CodeError, store::StoreError};

/// Why a code was not sent or not accepted. Each knows its message, the JSON API's
/// `error` code and its status; the page shows the message by its code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefusal {
    #[error("This code request is unknown or has expired. Please start again.")]
    UnknownTicket,
    #[error("This verification was started in another browser. Please start again here.")]
    OtherBrowser,
    #[error("Codes by SMS are not available here.")]
    ChannelOff,
    #[error("Codes by SMS cannot be sent to this number's country.")]
    CountryNotAllowed,
    #[error("Please wait {0} seconds before asking for a new code.")]
    TooSoon(u64),
    #[error("No more codes can be sent for this verification. Please start again.")]
    NoMoreCodes,
    #[error("Too many codes were sent to this number today. Please try again tomorrow.")]
    DailyLimit,
    #[error("The code could not be sent. Please try again in a moment.")]
    SendFailed,
    #[error("{0}")]
    NotACode(CodeError),
    #[error("That code is not right. {} left.", attempts(*.0))]
    WrongCode(u32),
    #[error("Too many attempts — start again.")]
    TooManyAttempts,
    #[error("This code has expired. Ask for a new code.")]
    CodeExpired,
    #[error("The service is briefly unavailable. Please try again in a moment.")]
    StoreUnavailable,
}

fn attempts(left: u32) -> String {
    match left {
        1 => "1 attempt".into(),
        n => format!("{n} attempts"),
    }
}

impl CodeRefusal {
    /// The JSON API's `error` code, and the page's.
    pub fn code(&self) -> &'static str {
        match self {
            CodeRefusal::UnknownTicket => "unknown_ticket",
            CodeRefusal::OtherBrowser => "other_browser",
            CodeRefusal::ChannelOff => "sms_unavailable",
            CodeRefusal::CountryNotAllowed => "country_not_allowed",
            CodeRefusal::TooSoon(_) => "too_soon",
            CodeRefusal::NoMoreCodes => "no_more_codes",
            CodeRefusal::DailyLimit => "daily_limit",
            CodeRefusal::SendFailed => "sms_failed",
            CodeRefusal::NotACode(_) => "invalid_code",
            CodeRefusal::WrongCode(_) => "wrong_code",
            CodeRefusal::TooManyAttempts => "too_many_attempts",
            CodeRefusal::CodeExpired => "code_expired",
            CodeRefusal::StoreUnavailable => "store_unavailable",
        }
    }

    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            CodeRefusal::UnknownTicket
            | CodeRefusal::NotACode(_)
            | CodeRefusal::WrongCode(_)
            | CodeRefusal::TooManyAttempts
            | CodeRefusal::CodeExpired
            | CodeRefusal::NoMoreCodes => StatusCode::BAD_REQUEST,
            CodeRefusal::OtherBrowser | CodeRefusal::CountryNotAllowed => StatusCode::FORBIDDEN,
            CodeRefusal::TooSoon(_) | CodeRefusal::DailyLimit => StatusCode::TOO_MANY_REQUESTS,
            CodeRefusal::SendFailed => StatusCode::BAD_GATEWAY,
            CodeRefusal::ChannelOff | CodeRefusal::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Whether the person can go on with this ticket (ask again, type again).
    pub fn ends_the_attempt(&self) -> bool {
        matches!(
            self,
            CodeRefusal::UnknownTicket
                | CodeRefusal::OtherBrowser
                | CodeRefusal::ChannelOff
                | CodeRefusal::CountryNotAllowed
                | CodeRefusal::NoMoreCodes
                | CodeRefusal::DailyLimit
                | CodeRefusal::TooManyAttempts
        )
    }

    /// The page's refusals, by the fixed code in its address (`/?sms=…&note=<code>`): a
    /// crafted link can choose only among fixed texts. The counts in some messages are
    /// read again from the store when the page is shown.
    pub fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "unknown_ticket" => CodeRefusal::UnknownTicket,
            "other_browser" => CodeRefusal::OtherBrowser,
            "sms_unavailable" => CodeRefusal::ChannelOff,
            "country_not_allowed" => CodeRefusal::CountryNotAllowed,
            "no_more_codes" => CodeRefusal::NoMoreCodes,
            "daily_limit" => CodeRefusal::DailyLimit,
            "sms_failed" => CodeRefusal::SendFailed,
            "invalid_code" => CodeRefusal::NotACode(CodeError::NotTheCode),
            "too_many_attempts" => CodeRefusal::TooManyAttempts,
            "code_expired" => CodeRefusal::CodeExpired,
            "store_unavailable" => CodeRefusal::StoreUnavailable,
            _ => return None,
        })
    }

    pub(super) fn log(&self) {
        match self {
            CodeRefusal::SendFailed | CodeRefusal::StoreUnavailable => {}
            other => tracing::info!(code = other.code(), "one-time code refused"),
        }
    }
}

impl From<StoreError> for CodeRefusal {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "the store does not answer (one-time codes)");
        CodeRefusal::StoreUnavailable
    }
}
