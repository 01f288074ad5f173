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
}

impl Outcome {
    /// A failure with no number to show; `reason` follows [`ERROR_PREFIX`].
    pub fn failed(reason: impl std::fmt::Display) -> Self {
        Self {
            number: None,
            verdict: Verdict::error(reason),
        }
    }
}

impl Verdict {
    pub fn error(reason: impl std::fmt::Display) -> Self {
        Verdict::Error(format!("{ERROR_PREFIX} {reason}"))
    }
}
