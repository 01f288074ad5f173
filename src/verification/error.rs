//! The one error type of a verification: it knows the person's message, the JSON API's
//! `error` code and the HTTP status (docs/reference.md §3), and how to log itself without
//! secrets; and the one table between state problems and the page's `?error=` codes.

use axum::http::StatusCode;

use super::HandoffProblem;
use crate::{operators::OperatorFailure, phone::PhoneError};

/// Why a callback has no verification this request may complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateProblem {
    /// The callback carries no `state`.
    Missing,
    Unknown,
    Expired,
    Replayed,
    /// Started on the page in another browser: this one learns nothing of it.
    OtherBrowser,
    /// The callback's query is not one an operator sends (a parameter repeated, too long,
    /// or with control characters): nothing in it is trusted, no record is touched.
    Malformed,
}

/// Why the page refused to start a verification (a plain form post, no JavaScript). The
/// refusal is told by a fixed code in the page's address, never kept in the store: a loop
/// of refused starts must cost the store nothing, and the typed number is not echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    PhoneEmpty,
    PhoneTooLong,
    PhoneCharacter,
    PhoneMisplacedPlus,
    PhoneCountryCode,
    PhoneCountryCodeZero,
    PhoneTooShort,
    PhoneTooManyDigits,
    ProtocolUnavailable,
    ShareUnsupported,
    RateLimited,
    OperatorError,
    OperatorTimeout,
    NotOnMobileData,
    OperatorDeclined,
}

impl Refusal {
    /// The refusal a start's error is shown as; `None` for the store not answering, which
    /// the page shows as [`PageError::StoreUnavailable`].
    pub fn of(error: &VerifyError) -> Option<Self> {
        Some(match error {
            VerifyError::InvalidPhone(e) => match e {
                PhoneError::Empty => Refusal::PhoneEmpty,
                PhoneError::TooLong => Refusal::PhoneTooLong,
                PhoneError::InvalidCharacter(_) => Refusal::PhoneCharacter,
                PhoneError::MisplacedPlus => Refusal::PhoneMisplacedPlus,
                PhoneError::MissingCountryCode => Refusal::PhoneCountryCode,
                PhoneError::CountryCodeStartsWithZero => Refusal::PhoneCountryCodeZero,
                PhoneError::TooShort => Refusal::PhoneTooShort,
                PhoneError::TooManyDigits => Refusal::PhoneTooManyDigits,
            },
            VerifyError::ProtocolUnavailable => Refusal::ProtocolUnavailable,
            VerifyError::ShareUnsupported => Refusal::ShareUnsupported,
            VerifyError::RateLimited => Refusal::RateLimited,
            VerifyError::OperatorError(_) | VerifyError::InvalidState(_) => Refusal::OperatorError,
            VerifyError::OperatorTimeout(_) => Refusal::OperatorTimeout,
            VerifyError::OperatorDenied { error, .. } if error == "access_denied" => Refusal::NotOnMobileData,
            VerifyError::OperatorDenied { .. } => Refusal::OperatorDeclined,
            VerifyError::StoreUnavailable(_) => return None,
        })
    }

    /// The fixed text (after the page's error prefix): nothing from the request in it.
    pub fn message(self) -> String {
        match self {
            Refusal::PhoneEmpty => PhoneError::Empty.to_string(),
            Refusal::PhoneTooLong => PhoneError::TooLong.to_string(),
            Refusal::PhoneCharacter => {
                "A phone number can only contain digits, spaces, dashes, brackets and a leading +; any other character is not allowed.".into()
            }
            Refusal::PhoneMisplacedPlus => PhoneError::MisplacedPlus.to_string(),
            Refusal::PhoneCountryCode => PhoneError::MissingCountryCode.to_string(),
            Refusal::PhoneCountryCodeZero => PhoneError::CountryCodeStartsWithZero.to_string(),
            Refusal::PhoneTooShort => PhoneError::TooShort.to_string(),
            Refusal::PhoneTooManyDigits => PhoneError::TooManyDigits.to_string(),
            Refusal::ProtocolUnavailable => VerifyError::ProtocolUnavailable.to_string(),
            Refusal::ShareUnsupported => VerifyError::ShareUnsupported.to_string(),
            Refusal::RateLimited => VerifyError::RateLimited.to_string(),
            Refusal::OperatorError => {
                VerifyError::OperatorError(crate::operators::OperatorFailure::Malformed {
                    step: "",
                    reason: String::new(),
                })
                .to_string()
            }
            Refusal::OperatorTimeout => {
                VerifyError::OperatorTimeout(crate::operators::OperatorFailure::Timeout { step: "" }).to_string()
            }
            Refusal::NotOnMobileData => denied_message("access_denied").into(),
            Refusal::OperatorDeclined => denied_message("").into(),
        }
    }
}

/// Why the page shows an error it was sent to by a link (`/?error=<code>`): a callback
/// with no usable state, a store that could not be asked, or a refused start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageError {
    State(StateProblem),
    StoreUnavailable,
    Refused(Refusal),
    /// A phone's handoff link that verifies nothing.
    Handoff(super::HandoffProblem),
}

impl PageError {
    /// The one table between these and the page's `/?error=` codes: a crafted link can
    /// choose only among fixed texts.
    const CODES: [(PageError, &'static str); 25] = [
        (PageError::State(StateProblem::Missing), "no_state"),
        (PageError::State(StateProblem::Unknown), "unknown_state"),
        (PageError::State(StateProblem::Expired), "expired"),
        (PageError::State(StateProblem::Replayed), "replayed"),
        (PageError::State(StateProblem::OtherBrowser), "other_browser"),
        (PageError::State(StateProblem::Malformed), "malformed"),
        (PageError::StoreUnavailable, "unavailable"),
        (PageError::Refused(Refusal::PhoneEmpty), "phone_empty"),
        (PageError::Refused(Refusal::PhoneTooLong), "phone_too_long"),
        (PageError::Refused(Refusal::PhoneCharacter), "phone_character"),
        (PageError::Refused(Refusal::PhoneMisplacedPlus), "phone_plus"),
        (PageError::Refused(Refusal::PhoneCountryCode), "phone_country_code"),
        (
            PageError::Refused(Refusal::PhoneCountryCodeZero),
            "phone_country_code_zero",
        ),
        (PageError::Refused(Refusal::PhoneTooShort), "phone_too_short"),
        (PageError::Refused(Refusal::PhoneTooManyDigits), "phone_too_many_digits"),
        (PageError::Refused(Refusal::ProtocolUnavailable), "protocol_unavailable"),
        (PageError::Refused(Refusal::ShareUnsupported), "share_unsupported"),
        (PageError::Refused(Refusal::RateLimited), "rate_limited"),
        (PageError::Refused(Refusal::OperatorError), "operator_error"),
        (PageError::Refused(Refusal::OperatorTimeout), "operator_timeout"),
        (PageError::Refused(Refusal::NotOnMobileData), "not_mobile_data"),
        (PageError::Refused(Refusal::OperatorDeclined), "operator_declined"),
        (PageError::Handoff(HandoffProblem::Unknown), "handoff_unknown"),
        (PageError::Handoff(HandoffProblem::Expired), "handoff_expired"),
        (PageError::Handoff(HandoffProblem::Used), "handoff_used"),
    ];

    pub fn code(self) -> &'static str {
        Self::CODES
            .iter()
            .find(|(error, _)| *error == self)
            .map(|(_, code)| *code)
            .unwrap_or("unknown_state")
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::CODES.iter().find(|(_, c)| *c == code).map(|(error, _)| *error)
    }

    /// The page's refusal of a start: its fixed code.
    pub fn of_start(error: &VerifyError) -> Self {
        Refusal::of(error).map_or(PageError::StoreUnavailable, PageError::Refused)
    }

    /// The fixed text the page shows (after its error prefix).
    pub fn message(self) -> String {
        match self {
            PageError::State(problem) => state_message(problem).into(),
            PageError::StoreUnavailable => VerifyError::StoreUnavailable(String::new()).to_string(),
            PageError::Refused(refusal) => refusal.message(),
            PageError::Handoff(problem) => problem.message().into(),
        }
    }
}

/// How a callback with no usable record answers the JSON API.
impl From<PageError> for VerifyError {
    fn from(error: PageError) -> Self {
        match error {
            PageError::State(problem) => VerifyError::InvalidState(problem),
            PageError::StoreUnavailable => VerifyError::StoreUnavailable(String::new()),
            // A callback never ends in a start's refusal or a handoff link's: it names no
            // verification.
            PageError::Refused(_) | PageError::Handoff(_) => VerifyError::InvalidState(StateProblem::Unknown),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    InvalidPhone(PhoneError),
    #[error("That verification method is not available here.")]
    ProtocolUnavailable,
    /// `"purpose": "share"` with a protocol that cannot share the number.
    #[error(
        "Sharing the device's number (\"purpose\": \"share\") needs the standard CAMARA profile: send \"protocol\": \"camara-standard\"."
    )]
    ShareUnsupported,
    #[error("{}", state_message(*.0))]
    InvalidState(StateProblem),
    #[error("{}", denied_message(error))]
    OperatorDenied { error: String, description: Option<String> },
    #[error("Your operator could not complete the check. Please try again in a moment.")]
    OperatorError(OperatorFailure),
    #[error("Your operator did not answer in time. Please try again in a moment.")]
    OperatorTimeout(OperatorFailure),
    #[error("Too many verifications at once. Please wait a minute and try again.")]
    RateLimited,
    /// The shared store does not answer; the text is for logs only.
    #[error("The service is briefly unavailable. Please try again in a moment.")]
    StoreUnavailable(String),
}

fn state_message(problem: StateProblem) -> &'static str {
    match problem {
        StateProblem::Missing => {
            "The operator's answer did not say which verification it belongs to. Please start again."
        }
        StateProblem::Unknown => "This verification is unknown. Please start again.",
        StateProblem::Expired => "This verification took too long and has expired. Please start again.",
        StateProblem::Replayed => "This verification has already been completed. Please start a new one.",
        StateProblem::OtherBrowser => "This verification was started in another browser. Please start again here.",
        StateProblem::Malformed => "The operator's answer was malformed. Please start again.",
    }
}

fn denied_message(error: &str) -> &'static str {
    match error {
        "access_denied" => {
            "Your operator could not see this phone's SIM. Turn off Wi-Fi and use mobile data, then try again."
        }
        "temporarily_unavailable" => "Your operator is temporarily unavailable. Please try again in a few minutes.",
        "server_error" => "Your operator could not check this number right now. Please try again later.",
        _ => "Your operator declined the verification. Make sure you are on mobile data and try again.",
    }
}

impl VerifyError {
    pub fn status(&self) -> StatusCode {
        match self {
            VerifyError::InvalidPhone(_) | VerifyError::ProtocolUnavailable | VerifyError::ShareUnsupported => {
                StatusCode::BAD_REQUEST
            }
            VerifyError::InvalidState(_) => StatusCode::BAD_REQUEST,
            VerifyError::OperatorDenied { .. } => StatusCode::FORBIDDEN,
            VerifyError::OperatorError(_) => StatusCode::BAD_GATEWAY,
            VerifyError::OperatorTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            VerifyError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            VerifyError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The JSON API's `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyError::InvalidPhone(_) => "invalid_phone",
            VerifyError::ProtocolUnavailable | VerifyError::ShareUnsupported => "invalid_protocol",
            VerifyError::InvalidState(_) => "invalid_state",
            VerifyError::OperatorDenied { .. } => "operator_denied",
            VerifyError::OperatorError(_) => "operator_error",
            VerifyError::OperatorTimeout(_) => "operator_timeout",
            VerifyError::RateLimited => "rate_limited",
            VerifyError::StoreUnavailable(_) => "store_unavailable",
        }
    }

    /// One log line with what an operator of this service needs — and no number, code,
    /// token or secret (operator failures carry only steps, statuses and error codes).
    pub fn log(&self) {
        match self {
            VerifyError::OperatorDenied { error, description } => tracing::warn!(
                code = self.code(),
                operator_error = %sanitise(error),
                operator_description = %description.as_deref().map(sanitise).unwrap_or_default(),
                "verification refused by the operator"
            ),
            VerifyError::OperatorError(failure) | VerifyError::OperatorTimeout(failure) => {
                tracing::warn!(code = self.code(), %failure, "operator call failed")
            }
            VerifyError::StoreUnavailable(reason) => {
                tracing::error!(code = self.code(), %reason, "the store does not answer")
            }
            VerifyError::InvalidState(problem) => {
                tracing::warn!(
                    code = self.code(),
                    ?problem,
                    "no usable verification for this state (a callback or a credential answer)"
                )
            }
            other => tracing::info!(code = other.code(), reason = %other, "verification refused"),
        }
    }
}

impl From<super::store::StoreError> for VerifyError {
    fn from(error: super::store::StoreError) -> Self {
        // Full too: it is the service's capacity, not this client's rate (503, named in
        // the log).
        VerifyError::StoreUnavailable(error.to_string())
    }
}

impl From<OperatorFailure> for VerifyError {
    fn from(failure: OperatorFailure) -> Self {
        match failure {
            OperatorFailure::Timeout { .. } => VerifyError::OperatorTimeout(failure),
            // The same person-facing case as an `access_denied` redirect: not on mobile data.
            OperatorFailure::NotOnMobileNetwork { step } => VerifyError::OperatorDenied {
                error: "access_denied".into(),
                description: Some(format!("{step}: not authenticated by the mobile network")),
            },
            other => VerifyError::OperatorError(other),
        }
    }
}

/// Operator-supplied text goes to logs only after this: short, printable, one line.
pub fn sanitise(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_code() {
        let cases = [
            (VerifyError::InvalidPhone(PhoneError::Empty), 400, "invalid_phone"),
            (VerifyError::InvalidState(StateProblem::Replayed), 400, "invalid_state"),
            (
                VerifyError::OperatorDenied {
                    error: "access_denied".into(),
                    description: None,
                },
                403,
                "operator_denied",
            ),
            (
                VerifyError::OperatorError(OperatorFailure::Status {
                    step: "t",
                    status: 500,
                    code: None,
                }),
                502,
                "operator_error",
            ),
            (
                VerifyError::from(OperatorFailure::Timeout { step: "t" }),
                504,
                "operator_timeout",
            ),
            (VerifyError::RateLimited, 429, "rate_limited"),
            (VerifyError::StoreUnavailable("x".into()), 503, "store_unavailable"),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status().as_u16(), status, "{error:?}");
            assert_eq!(error.code(), code);
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn every_page_error_has_one_code_and_back() {
        let all = [
            PageError::State(StateProblem::Missing),
            PageError::State(StateProblem::Unknown),
            PageError::State(StateProblem::Expired),
            PageError::State(StateProblem::Replayed),
            PageError::State(StateProblem::OtherBrowser),
            PageError::State(StateProblem::Malformed),
            PageError::StoreUnavailable,
            PageError::Refused(Refusal::PhoneEmpty),
            PageError::Refused(Refusal::PhoneTooLong),
            PageError::Refused(Refusal::PhoneCharacter),
            PageError::Refused(Refusal::PhoneMisplacedPlus),
            PageError::Refused(Refusal::PhoneCountryCode),
            PageError::Refused(Refusal::PhoneCountryCodeZero),
            PageError::Refused(Refusal::PhoneTooShort),
            PageError::Refused(Refusal::PhoneTooManyDigits),
            PageError::Refused(Refusal::ProtocolUnavailable),
            PageError::Refused(Refusal::ShareUnsupported),
            PageError::Refused(Refusal::RateLimited),
            PageError::Refused(Refusal::OperatorError),
            PageError::Refused(Refusal::OperatorTimeout),
            PageError::Refused(Refusal::NotOnMobileData),
            PageError::Refused(Refusal::OperatorDeclined),
            PageError::Handoff(HandoffProblem::Unknown),
            PageError::Handoff(HandoffProblem::Expired),
            PageError::Handoff(HandoffProblem::Used),
        ];
        assert_eq!(all.len(), PageError::CODES.len(), "every code is tested");
        for error in all {
            assert!(!error.message().is_empty());
        }
        let mut codes: Vec<_> = all.iter().map(|p| p.code()).collect();
        for error in all {
            assert_eq!(PageError::from_code(error.code()), Some(error));
        }
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), all.len(), "codes are distinct");
        assert_eq!(PageError::from_code("<script>"), None);
        assert!(PageError::State(StateProblem::OtherBrowser)
            .message()
            .contains("another browser"));
        assert!(
            !PageError::of_start(&VerifyError::InvalidPhone(PhoneError::InvalidCharacter('x')))
                .message()
                .contains('x')
        );
    }

    #[test]
    fn a_wifi_refusal_says_mobile_data() {
        let e = VerifyError::OperatorDenied {
            error: "access_denied".into(),
            description: Some("on Wi-Fi".into()),
        };
        assert!(e.to_string().contains("mobile data"));
    }
}
