//! What the page asks the server: server functions and the values they return. Compiled
//! for both sides; the bodies run on the server only.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::protocol::Protocol;

/// How a verification ended, as the page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Verified,
    Invalid,
    /// The reason, for the person (already free of anything secret).
    Error(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The number in E.164, when the verification got that far.
    pub number: Option<String>,
    pub verdict: Verdict,
}

/// The answer to "start": go to the operator, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Started {
    GoTo(String),
    Refused(String),
}

/// The virtual operator's simulated device, as the "Simulated SIM" control shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedDevice {
    /// The SIM chosen in the control, if any.
    pub chosen_sim: Option<String>,
    /// The SIM used when nothing else decides.
    pub default_sim: String,
    pub wifi: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageContext {
    pub protocols: Vec<Protocol>,
    /// Present in sandbox mode only.
    pub sandbox: Option<SimulatedDevice>,
}

/// Starts a verification and says where the browser must go. With JavaScript off (a
/// plain form post) the answer is a redirect: to the operator, or back to the page with
/// the reason.
#[server(name = StartVerification, prefix = "/api", endpoint = "start")]
pub async fn start_verification(phone: String, protocol: Option<String>) -> Result<Started, ServerFnError> {
    Ok(crate::handlers::start_from_page(phone, protocol).await)
}

/// What the page shows for its `?result=` (a finished verification, for the browser
/// that started it) or `?error=` (a callback with no record behind it).
#[server(name = GetOutcome, prefix = "/api", endpoint = "outcome")]
pub async fn get_outcome(result: Option<String>, error: Option<String>) -> Result<Option<Outcome>, ServerFnError> {
    Ok(crate::handlers::outcome_for_page(result, error).await)
}

/// What the page offers: the protocols, and the simulated device in sandbox mode.
#[server(name = GetPageContext, prefix = "/api", endpoint = "context")]
pub async fn page_context() -> Result<PageContext, ServerFnError> {
    Ok(crate::handlers::page_context().await)
}
