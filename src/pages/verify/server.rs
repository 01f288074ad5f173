//! What the page asks the server: its server functions and the values they return.
//! Compiled for both sides; the bodies run on the server only, in [`ssr`].

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::outcome::Outcome;
use crate::{phone::E164, protocol::Protocol};

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
    pub chosen_sim: Option<E164>,
    /// The SIM used when nothing else decides.
    pub default_sim: E164,
    pub wifi: bool,
}

/// The answer to "ask for a credential": the request for the browser's wallet (the JSON
/// text of `{protocol, data}`) and its id, or why not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialOffer {
    Ask { request_id: String, request: String },
    Refused(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageContext {
    pub protocols: Vec<Protocol>,
    /// The phone-number credential channel is configured (`TS43_*`, or the virtual
    /// operator's): the form tries it first where the browser has the Digital
    /// Credentials API.
    pub credentials: bool,
    /// Present when the virtual operator is mounted beside the app.
    pub sandbox: Option<SimulatedDevice>,
}

/// Starts a verification and says where the browser must go. With JavaScript off (a
/// plain form post) the answer is a redirect: to the operator, or back to the page with
/// the reason.
#[server(name = StartVerification, prefix = "/api", endpoint = "start")]
pub async fn start_verification(phone: String, protocol: Option<String>) -> Result<Started, ServerFnError> {
    Ok(ssr::start(phone, protocol).await)
}

/// A credential request for the browser's wallet, to verify `phone` with the phone-number
/// credential (no mobile data needed). The form's script only: it answers JSON.
///
/// With `handoff` (a phone continuing a desktop's handoff, its link's secret), the number
/// is the handed-off one and the verdict goes to the desktop.
#[server(name = RequestCredential, prefix = "/api", endpoint = "credential/request")]
pub async fn request_credential(phone: String, handoff: Option<String>) -> Result<CredentialOffer, ServerFnError> {
    Ok(ssr::request_credential(phone, handoff).await)
}

/// The wallet's answer (the JSON text of the credential's `data`) to the request
/// `request_id`: where the page goes next, the result, or why not.
#[server(name = AnswerCredential, prefix = "/api", endpoint = "credential/answer")]
pub async fn answer_credential(request_id: String, response: String) -> Result<Started, ServerFnError> {
    Ok(ssr::answer_credential(request_id, response).await)
}

/// What the page was asked to show instead of the form: a finished verification (for
/// the browser that started it) or a callback's error with no record behind it.
#[cfg(feature = "ssr")]
pub enum Asked {
    Result(String),
    /// A one-time code awaited for this ticket, and the refusal to show, if any.
    Sms {
        ticket: String,
        note: Option<crate::verification::CodeRefusal>,
    },
    Error(crate::verification::PageError),
    /// A desktop's handoff to a phone: its QR code and live status, or its verdict.
    Handoff(crate::verification::WatchId),
}

#[cfg(feature = "ssr")]
impl Asked {
    /// From the page's query (`?result=`, `?error=`, the first of each); `None` (the
    /// form) for neither or an error code the page does not know.
    pub fn from_query(query: Option<&str>) -> Option<Self> {
        use crate::verification::{code_channel::MAX_ATTEMPTS, CodeRefusal};
        let (mut result, mut error, mut handoff) = (None, None, None);
        let (mut sms, mut note, mut left) = (None, None, None);
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match name.as_ref() {
                "sms" if sms.is_none() => sms = Some(value.into_owned()),
                "note" if note.is_none() => note = Some(value.into_owned()),
                "left" if left.is_none() => left = value.parse::<u32>().ok(),
                "result" if result.is_none() => result = Some(value.into_owned()),
                "error" if error.is_none() => error = Some(value.into_owned()),
                "handoff" if handoff.is_none() => handoff = Some(value.into_owned()),
                _ => {}
            }
        }
        if let Some(error) = error.as_deref().and_then(crate::verification::PageError::from_code) {
            return Some(Asked::Error(error));
        }
        if let Some(result) = result {
            return Some(Asked::Result(result));
        }
        if let Some(ticket) = sms {
            // Fixed texts only: counts are bounded, the wait is read again when shown.
            let note = note.as_deref().and_then(|code| match code {
                "wrong_code" => Some(CodeRefusal::WrongCode(left.unwrap_or(1).clamp(1, MAX_ATTEMPTS))),
                "too_soon" => Some(CodeRefusal::TooSoon(0)),
                other => CodeRefusal::from_code(other),
            });
            return Some(Asked::Sms { ticket, note });
        }
        // A malformed id is an unknown one: shown as such, never the form.
        handoff.map(|id| {
            Asked::Handoff(
                crate::verification::WatchId::parse(&id).unwrap_or_else(|| crate::verification::WatchId::new("")),
            )
        })
    }
}

/// The outcome the page shows for `asked`. Called while the page renders on the server:
/// no server function, no round trip.
#[cfg(feature = "ssr")]
pub async fn outcome(asked: Asked) -> Outcome {
    ssr::outcome(asked).await
}

/// A desktop's handoff as its page shows it (for the browser that started it only).
#[cfg(feature = "ssr")]
pub async fn handoff(id: crate::verification::WatchId) -> AnyView {
    ssr::handoff(id).await
}

/// What the page offers: the protocols, and the simulated device in sandbox mode.
#[cfg(feature = "ssr")]
pub fn page_context() -> PageContext {
    ssr::context()
}

#[cfg(feature = "ssr")]
mod ssr {
    use std::net::IpAddr;

    use leptos::prelude::*;

    use super::{Asked, CredentialOffer, PageContext, SimulatedDevice, Started};
    use crate::{
        config::SandboxMode,
        http::{accepts_html, cookie},
        outcome::{Outcome, ERROR_PREFIX},
        pages::request::{ensure_session, request_client, request_headers},
        phone::normalise,
        protocol::Protocol,
        sandbox_contract::{form, COOKIE_NETWORK, COOKIE_SIM},
        state::AppState,
        verification::{
            credential::CredentialVerdict, HandoffProblem, HandoffRefusal, HandoffSecret, Origin, PageError, ResultId,
            SessionId, StartFailure, StateProblem, VerifyError, WatchId,
        },
    };

    pub async fn start(phone: String, protocol: Option<String>) -> Started {
        let state = expect_context::<AppState>();
        let (headers, client) = request_client(&state);
        let session = ensure_session(&state, &headers).await;

        let result = start_flow(&state, &phone, protocol.as_deref(), session, client).await;
        let html = accepts_html(&headers);
        // The operator failed the start, but a code may still verify the number: the
        // code view offers it.
        let result = match result {
            Err(StartFailure {
                error,
                fallback: Some(fallback),
            }) => {
                error.log();
                Ok(crate::verification::StartedVerification {
                    url: format!("/?sms={}", fallback.ticket),
                })
            }
            Err(failure) => Err(failure.error),
            Ok(started) => Ok(started),
        };
        match result {
            Ok(started) => {
                if html {
                    // No JavaScript: answer the form post with a redirect.
                    leptos_axum::redirect(&started.url);
                }
                Started::GoTo(started.url)
            }
            Err(e) => {
                e.log();
                if html {
                    // A refusal keeps nothing in the store (anyone can post refused starts in
                    // a loop): the page is sent to the refusal's fixed text by its code.
                    leptos_axum::redirect(&format!("/?error={}", PageError::of_start(&e).code()));
                }
                Started::Refused(format!("{ERROR_PREFIX} {e}"))
            }
        }
    }

    pub async fn request_credential(phone: String, handoff: Option<String>) -> CredentialOffer {
        let state = expect_context::<AppState>();
        let (headers, client) = request_client(&state);
        let session = ensure_session(&state, &headers).await;
        let started = match handoff.filter(|h| !h.is_empty()) {
            None => state
                .verifier
                .request_credential(&phone, session, client)
                .await
                .map_err(HandoffRefusal::Verify),
            Some(h) => match HandoffSecret::parse(&h) {
                Some(secret) => {
                    state
                        .verifier
                        .request_handoff_credential(&secret, session, client)
                        .await
                }
                None => Err(HandoffRefusal::Problem(HandoffProblem::Unknown)),
            },
        };
        match started {
            Ok(started) => CredentialOffer::Ask {
                request_id: started.request_id,
                request: started.request.to_string(),
            },
            Err(refusal) => {
                refusal.log();
                CredentialOffer::Refused(match refusal {
                    HandoffRefusal::Problem(problem) => problem.message().to_owned(),
                    HandoffRefusal::Verify(e) => format!("{ERROR_PREFIX} {e}"),
                })
            }
        }
    }

    pub async fn answer_credential(request_id: String, response: String) -> Started {
        let state = expect_context::<AppState>();
        let Some(session) = state.sessions.read(&request_headers()).await else {
            tracing::info!("a credential answer from a browser with no session");
            return Started::Refused(format!(
                "{ERROR_PREFIX} {}",
                VerifyError::InvalidState(StateProblem::OtherBrowser)
            ));
        };
        // OpenID4VP over the DC API: the response is `{vp_token: {<query id>: [presentation]}}`.
        let vp_token = serde_json::from_str::<serde_json::Value>(&response)
            .ok()
            .and_then(|data| data.get("vp_token").cloned())
            .unwrap_or(serde_json::Value::Null);
        let page_origin = state.config.public_url.trim_end_matches('/').to_owned();
        match state
            .verifier
            .answer_credential(&request_id, &vp_token, &session, &page_origin)
            .await
        {
            Ok(CredentialVerdict::Kept(result)) => Started::GoTo(format!("/?result={}", result.secret())),
            // The verdict is the desktop's; the phone only learns that it is done.
            Ok(CredentialVerdict::HandedBack) => Started::GoTo("/handoff?done".into()),
            Err(e) => {
                e.log();
                Started::Refused(format!("{ERROR_PREFIX} {e}"))
            }
        }
    }

    pub async fn handoff(id: WatchId) -> AnyView {
        use crate::pages::{handoff::HandoffWaiting, verify::outcome_view::OutcomeView};
        let state = expect_context::<AppState>();
        let reader = state.sessions.read(&request_headers()).await;
        match state.verifier.watch(&id, reader.as_ref()).await {
            Ok(Some(watch)) => view! { <HandoffWaiting id watch /> }.into_any(),
            Ok(None) => {
                tracing::info!("handoff page for an unknown or expired handoff");
                let outcome =
                    Outcome::failed("This handoff has expired or belongs to another browser. Please start again.");
                view! { <OutcomeView outcome /> }.into_any()
            }
            Err(e) => {
                e.log();
                let outcome = Outcome::failed(e);
                view! { <OutcomeView outcome /> }.into_any()
            }
        }
    }

    pub async fn outcome(asked: Asked) -> Outcome {
        let id = match asked {
            Asked::Error(error) => return Outcome::failed(error.message()),
            Asked::Result(id) => id,
            // Rendered by `handoff` and `code_entry`.
            Asked::Handoff(_) | Asked::Sms { .. } => {
                return Outcome::failed(PageError::State(StateProblem::Unknown).message())
            }
        };
        let state = expect_context::<AppState>();
        let reader = state.sessions.read(&request_headers()).await;
        // Only the browser that started a verification sees its result.
        let found = match ResultId::parse(&id) {
            Some(id) => state.verifier.result_for(&id, reader.as_ref()).await,
            None => Ok(None),
        };
        match found {
            Ok(Some(outcome)) => outcome,
            Ok(None) => {
                tracing::info!("result page for an unknown or expired result");
                Outcome::failed("This result has expired or belongs to another browser. Please verify again.")
            }
            Err(e) => {
                e.log();
                Outcome::failed(e)
            }
        }
    }

    /// Starts a verification of `phone` for the browser of `session`. No `protocol`: the
    /// first the page offers. The client's start budget is spent first, by every start,
    /// refused or not: a refusal must not be cheaper to repeat than a start.
    async fn start_flow(
        state: &AppState,
        phone: &str,
        protocol: Option<&str>,
        session: SessionId,
        client: Option<IpAddr>,
    ) -> Result<crate::verification::StartedVerification, StartFailure> {
        let origin = Origin::Browser { session };
        state.verifier.charge(&origin, client).await?;
        let protocol = match protocol.filter(|p| !p.is_empty()) {
            None => state.verifier.protocols().first().copied(),
            Some(p) => Protocol::parse(p),
        };
        let operator = state
            .verifier
            .operator_for(protocol.ok_or(VerifyError::ProtocolUnavailable)?)?;
        state
            .verifier
            .start_charged_or_offer(phone, operator, origin, client)
            .await
    }

    pub fn context() -> PageContext {
        let state = expect_context::<AppState>();
        let headers = request_headers();
        let sandbox = (state.config.sandbox == SandboxMode::Mounted).then(|| SimulatedDevice {
            chosen_sim: cookie(&headers, COOKIE_SIM).and_then(|v| normalise(&v).ok()),
            default_sim: state.config.sandbox_default_sim.clone(),
            wifi: cookie(&headers, COOKIE_NETWORK).is_some_and(|v| v.eq_ignore_ascii_case(form::NETWORK_WIFI)),
        });
        PageContext {
            protocols: state.verifier.protocols(),
            credentials: state.verifier.offers_credentials(),
            sandbox,
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::Started;

    /// The form's script reads these two shapes (`start_client.rs`).
    #[test]
    fn started_is_written_as_the_form_reads_it() {
        let json = |s: Started| serde_json::to_string(&s).unwrap();
        assert_eq!(
            json(Started::GoTo("https://op/a?b=1".into())),
            r#"{"GoTo":"https://op/a?b=1"}"#
        );
        assert_eq!(json(Started::Refused("Error.".into())), r#"{"Refused":"Error."}"#);
    }
}
