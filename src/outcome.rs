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
}

impl Outcome {
    /// A failure with no number to show; `reason` follows [`ERROR_PREFIX`].
    pub fn failed(reason: impl std::fmt::Display) -> Self {
        Self {
            number: None,
            verdict: Verdict::error(reason),
            sandbox: false,
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
