//! Why a verification did not end in a verdict, as one stable code used everywhere: the
//! page, the JSON API, signed events, metrics and logs. A dashboard, an integrator's
//! backend and a log search all name a failure the same way.

use super::VerifyError;
use crate::operators::OperatorFailure;

/// The aggregator's answer when the phone's carrier is not one it serves (TS.43).
const CARRIER_NOT_SUPPORTED: &str = "carrier_not_supported";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The operator did not see the SIM: Wi-Fi, or a network with no header enrichment.
    NotMobileData,
    /// The operator failed, timed out or answered something we cannot use.
    OperatorUnavailable,
    /// The phone's carrier is not served by the operator or aggregator asked.
    CarrierNotSupported,
    /// The person (or the operator on their behalf) declined.
    Declined,
    /// The device is on another number: an answer, not a failure.
    Mismatch,
    /// A phone-number credential that failed its checks.
    CredentialRefused,
    /// Nobody came back before the verification's lifetime ended.
    Expired,
    /// This service's store did not answer.
    StoreUnavailable,
    /// A one-time code guessed wrong too many times: the attempt ends.
    TooManyAttempts,
}

impl Reason {
    pub const ALL: [Reason; 9] = [
        Reason::NotMobileData,
        Reason::OperatorUnavailable,
        Reason::CarrierNotSupported,
        Reason::Declined,
        Reason::Mismatch,
        Reason::CredentialRefused,
        Reason::Expired,
        Reason::StoreUnavailable,
        Reason::TooManyAttempts,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Reason::NotMobileData => "not_mobile_data",
            Reason::OperatorUnavailable => "operator_unavailable",
            Reason::CarrierNotSupported => "carrier_not_supported",
            Reason::Declined => "declined",
            Reason::Mismatch => "mismatch",
            Reason::CredentialRefused => "credential_refused",
            Reason::Expired => "expired",
            Reason::StoreUnavailable => "store_unavailable",
            Reason::TooManyAttempts => "too_many_attempts",
        }
    }

    /// What the person is told the network's failure was, where a code is offered next.
    pub fn person_message(self) -> &'static str {
        match self {
            Reason::NotMobileData => "Your operator could not see this phone's SIM (it may be on Wi-Fi).",
            Reason::OperatorUnavailable => "Your operator could not check this number right now.",
            Reason::CarrierNotSupported => "Your operator does not offer this check.",
            Reason::Declined => "The check through your operator was declined.",
            Reason::CredentialRefused => "Your phone's number credential could not be used.",
            Reason::Mismatch => "This phone is on another number.",
            Reason::Expired => "The verification took too long.",
            Reason::StoreUnavailable => "The service is briefly unavailable.",
            Reason::TooManyAttempts => "Too many attempts.",
        }
    }

    /// The reason named by `code`, if it is one.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether another channel (a one-time code) may help where this one failed. A
    /// mismatch never falls back: the operator answered that this device has another
    /// number, and a code must not overrule it.
    pub fn falls_back(self) -> bool {
        match self {
            Reason::NotMobileData
            | Reason::OperatorUnavailable
            | Reason::CarrierNotSupported
            | Reason::Declined
            | Reason::CredentialRefused => true,
            Reason::Mismatch | Reason::Expired | Reason::StoreUnavailable | Reason::TooManyAttempts => false,
        }
    }

    /// The reason a verification that had started failed with `error`; `None` for errors
    /// that end no started verification (a bad number, a rate limit, an unknown state).
    pub fn of(error: &VerifyError) -> Option<Self> {
        Some(match error {
            VerifyError::OperatorDenied { error, .. } => match error.as_str() {
                "access_denied" => Reason::NotMobileData,
                // RFC 6749 §4.1.2.1: the operator's own trouble, not the person's choice.
                "temporarily_unavailable" | "server_error" => Reason::OperatorUnavailable,
                _ => Reason::Declined,
            },
            VerifyError::OperatorError(OperatorFailure::Status { code: Some(code), .. })
                if code == CARRIER_NOT_SUPPORTED =>
            {
                Reason::CarrierNotSupported
            }
            VerifyError::OperatorError(OperatorFailure::Refused { step, .. })
                if *step == crate::verification::credential::STEP =>
            {
                Reason::CredentialRefused
            }
            VerifyError::OperatorError(OperatorFailure::NotOnMobileNetwork { .. }) => Reason::NotMobileData,
            VerifyError::OperatorError(_) | VerifyError::OperatorTimeout(_) => Reason::OperatorUnavailable,
            VerifyError::StoreUnavailable(_) => Reason::StoreUnavailable,
            VerifyError::InvalidPhone(_)
            | VerifyError::ProtocolUnavailable
            | VerifyError::ShareUnsupported
            | VerifyError::InvalidState(_)
            | VerifyError::RateLimited => return None,
        })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{phone::PhoneError, verification::StateProblem};

    fn denied(error: &str) -> VerifyError {
        VerifyError::OperatorDenied {
            error: error.into(),
            description: None,
        }
    }

    #[test]
    fn each_failure_has_its_reason_and_fallback() {
        let cases = [
            (denied("access_denied"), Some("not_mobile_data"), true),
            (denied("consent_declined"), Some("declined"), true),
            (denied("temporarily_unavailable"), Some("operator_unavailable"), true),
            (
                VerifyError::from(OperatorFailure::NotOnMobileNetwork { step: "v" }),
                Some("not_mobile_data"),
                true,
            ),
            (
                VerifyError::from(OperatorFailure::Timeout { step: "t" }),
                Some("operator_unavailable"),
                true,
            ),
            (
                VerifyError::from(OperatorFailure::Status {
                    step: "TS.43 credential request",
                    status: 422,
                    code: Some("carrier_not_supported".into()),
                }),
                Some("carrier_not_supported"),
                true,
            ),
            (
                VerifyError::from(OperatorFailure::Status {
                    step: "CAMARA token",
                    status: 500,
                    code: None,
                }),
                Some("operator_unavailable"),
                true,
            ),
            (
                VerifyError::from(OperatorFailure::Refused {
                    step: crate::verification::credential::STEP,
                    reason: "nonce".into(),
                }),
                Some("credential_refused"),
                true,
            ),
            (
                VerifyError::StoreUnavailable("x".into()),
                Some("store_unavailable"),
                false,
            ),
            (VerifyError::InvalidPhone(PhoneError::Empty), None, false),
            (VerifyError::RateLimited, None, false),
            (VerifyError::InvalidState(StateProblem::Replayed), None, false),
        ];
        for (error, code, falls_back) in cases {
            let reason = Reason::of(&error);
            assert_eq!(reason.map(Reason::code), code, "{error:?}");
            assert_eq!(reason.is_some_and(Reason::falls_back), falls_back, "{error:?}");
        }
    }

    #[test]
    fn a_mismatch_never_falls_back_and_codes_are_distinct() {
        assert!(!Reason::Mismatch.falls_back());
        let mut codes: Vec<_> = Reason::ALL.iter().map(|r| r.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
        assert!(codes
            .iter()
            .all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }
}
