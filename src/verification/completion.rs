//! What a verification's steps hand back: the operator's answer, a start (or why it
//! failed, with the code that may still answer), the callback's parameters, and how a
//! verification ends for whoever started it.

use super::{
    code_channel::Fallback, store::StoreError, Correlator, PageError, RelyingPartyRequest, SessionId, VerifyError,
    WatchId,
};
use crate::phone::E164;

/// What the operator answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Whether the device is on the number asked about.
    Verified(bool),
    /// The number of the device's SIM.
    Shared(E164),
}

/// Where the browser must go next.
#[derive(Debug)]
pub struct StartedVerification {
    pub url: String,
}

/// A start that failed, and the one-time code that may still verify the number when the
/// failure was the operator's (the page and the API offer it).
#[derive(Debug)]
pub struct StartFailure {
    pub error: VerifyError,
    pub fallback: Option<Fallback>,
}

impl From<VerifyError> for StartFailure {
    fn from(error: VerifyError) -> Self {
        Self { error, fallback: None }
    }
}

impl From<StoreError> for StartFailure {
    fn from(error: StoreError) -> Self {
        VerifyError::from(error).into()
    }
}

/// The operator's answer at `/callback` (read by [`callback_query::parse`]).
#[derive(Default, PartialEq, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Which parameters are there, never their values (the code and state are secrets).
impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("code", &self.code.as_ref().map(|_| "…"))
            .field("state", &self.state.as_ref().map(|_| "…"))
            .field("error", &self.error)
            .field("error_description", &self.error_description.as_ref().map(|_| "…"))
            .finish()
    }
}

/// How a callback ends, for whoever is asking.
#[derive(Debug)]
pub enum Completion {
    /// Started by the JSON API: whoever follows the URL gets the answer.
    Api {
        result: Result<Answer, VerifyError>,
        /// The number asked about (`None` for a share).
        asked: Option<E164>,
        /// The verification's correlation id (its `txn`).
        correlator: Correlator,
        /// The `client_id` the app gave, if it gave one.
        audience: Option<String>,
        /// A failure a one-time code may still answer.
        fallback: Option<Fallback>,
    },
    /// Started on a relying party's hosted page, in the browser that is asking now.
    RelyingParty {
        request: RelyingPartyRequest,
        result: Result<Answer, VerifyError>,
        asked: Option<E164>,
        correlator: Correlator,
        /// A failure a one-time code may still answer (clients that accept it).
        fallback: Option<Fallback>,
    },
    /// Started on the page, in the browser that is asking now.
    Browser {
        session: SessionId,
        number: E164,
        result: Result<bool, VerifyError>,
        /// A failure a one-time code may still answer.
        fallback: Option<Fallback>,
    },
    /// Continued from a desktop on the phone that is asking now: the verdict is the
    /// desktop's.
    Handoff {
        watch: WatchId,
        number: E164,
        result: Result<bool, VerifyError>,
    },
    /// Nothing this request may complete or learn about (or the store did not answer).
    Unusable(PageError),
}
