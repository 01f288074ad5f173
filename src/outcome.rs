//! How a verification ended, as the page shows it. Shared by the browser and the server.

use serde::{Deserialize, Serialize};

use crate::phone::E164;

/// The page's prefix for every failure (docs/reference.md §3).
pub const ERROR_PREFIX: &str = "Error validating phone number.";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Verified,
    Invalid,
    /// The whole text for the person, [`ERROR_PREFIX`] first (free of anything secret).
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The number, when the verification got that far.
    pub number: Option<E164>,
    pub verdict: Verdict,
    /// The virtual operator gave this result (the protocol's configured backing, never
    /// the request): a test result, shown as such. Absent in results stored before the
    /// marker existed, which read as live.
    #[serde(default)]
    pub sandbox: bool,
    /// How the verdict was proven. Absent in results stored before it existed, which were
    /// all network redirects.
    #[serde(default)]
    pub proof: Proof,
    /// A failure a one-time code may still turn into a verdict: the ticket that asks for
    /// the code (this browser's own). Absent in results stored before the code channel.
    #[serde(default)]
    pub fallback: Option<String>,
    /// Why a failure happened, as its stable code (`not_mobile_data`, …): on the page as
    /// `data-reason`, for tests and tools. Absent in older results and for refusals.
    #[serde(default)]
    pub reason: Option<String>,
}

/// How a verdict was proven: what a relying party may weigh (`amr`, OpenID Connect Core
/// §2; RFC 8176 §1 allows values beyond its registry, which has none for these).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Proof {
    /// The operator recognised the SIM on its own network during a redirect.
    #[default]
    NetworkRedirect,
    /// The phone's number credential (TS.43) gave an operator token, redeemed with the
    /// operator (JWT-bearer grant), which then checked the number.
    OperatorToken,
    /// A one-time code sent by SMS to the number was typed back: the last resort when the
    /// network could not answer. A relying party may weigh it less than the others.
    SmsCode,
}

impl Proof {
    /// The `amr` value: "nba" is the one operators' OpenID profiles use for network-based
    /// authentication.
    pub fn amr(self) -> &'static str {
        match self {
            Proof::NetworkRedirect => "nba",
            Proof::OperatorToken => "operator_token",
            // RFC 8176 §2: "Confirmation using SMS message to the user at a registered number".
            Proof::SmsCode => "sms",
        }
    }

    /// The page's line under a verdict.
    pub fn description(self) -> &'static str {
        match self {
            Proof::NetworkRedirect => "Checked by your mobile operator's network.",
            Proof::OperatorToken => "Checked by your mobile operator through your phone's number credential.",
            Proof::SmsCode => "Verified by SMS code: the code sent to this number was typed back.",
        }
    }
}

impl Outcome {
    /// A failure with no number to show; `reason` follows [`ERROR_PREFIX`].
    pub fn failed(reason: impl std::fmt::Display) -> Self {
        Self {
            number: None,
            verdict: Verdict::error(reason),
            sandbox: false,
            proof: Proof::default(),
            fallback: None,
            reason: None,
        }
    }
}

impl Outcome {
    /// The result line and its class: `+99012345678: verified!`, `…: invalid!`, or the
    /// error's text.
    pub fn headline(&self) -> (&'static str, String) {
        match (&self.verdict, self.number.as_ref().map(|n| n.as_str())) {
            (Verdict::Verified, Some(n)) => ("result verified", format!("{n}: verified!")),
            (Verdict::Invalid, Some(n)) => ("result invalid", format!("{n}: invalid!")),
            (Verdict::Verified, None) => ("result verified", "verified!".to_owned()),
            (Verdict::Invalid, None) => ("result invalid", "invalid!".to_owned()),
            (Verdict::Error(message), _) => ("result error", message.clone()),
        }
    }
}

/// The page's line under a result the virtual operator gave.
pub const SANDBOX_NOTE: &str = "Test result from the virtual operator: no real operator checked this number.";

impl Verdict {
    pub fn error(reason: impl std::fmt::Display) -> Self {
        Verdict::Error(format!("{ERROR_PREFIX} {reason}"))
    }
}
