//! The one page: the number form, live validation, progress and the result.

pub mod outcome_view;
pub mod server;
pub mod simulated_sim;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::{
    components::{phone_field::PhoneField, protocol_choice::ProtocolChoice},
    outcome::ERROR_PREFIX,
};
use outcome_view::OutcomeView;
use server::{get_outcome, page_context, StartVerification, Started};
use simulated_sim::SimulatedSim;

#[component]
pub fn VerifyPage() -> impl IntoView {
    let query = use_query_map();
    let outcome = Resource::new(
        move || query.with(|q| (q.get("result"), q.get("error"))),
        |(result, error)| async move {
            if result.is_none() && error.is_none() {
                return None;
            }
            get_outcome(result, error).await.ok().flatten()
        },
    );
    let context = Resource::new(|| (), |_| page_context());
    let start = ServerAction::<StartVerification>::new();

    // The operator must be reached by a full-page navigation: client-side routing would
    // swallow a same-origin URL such as the virtual operator's.
    Effect::new(move |_| {
        if let Some(Ok(Started::GoTo(url))) = start.value().get() {
            leave_for(&url);
        }
    });
    let leaving = move || start.pending().get() || matches!(start.value().get(), Some(Ok(Started::GoTo(_))));
    let refusal = move || match start.value().get() {
        Some(Ok(Started::Refused(message))) => Some(message),
        Some(Err(e)) => Some(format!("{ERROR_PREFIX} The server could not be reached ({e}).")),
        _ => None,
    };

    view! {
        <h1>"Verify your phone number!"</h1>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match (outcome.await, context.await) {
                    (Some(outcome), _) => view! { <OutcomeView outcome /> }.into_any(),
                    (None, Ok(ctx)) => {
                        view! {
                            <WifiHint />
                            <section class="card">
                                <ActionForm action=start attr:class="verify-form" attr:novalidate=true>
                                    <PhoneField />
                                    <ProtocolChoice protocols=ctx.protocols.clone() />
                                    <button type="submit" disabled=leaving>"Verify"</button>
                                    <Show when=leaving>
                                        <p class="progress" role="status">"Contacting your operator…"</p>
                                    </Show>
                                    {move || refusal().map(|m| view! { <p class="result error" role="alert">{m}</p> })}
                                    <p class="consent">
                                        "Your mobile operator will confirm whether this number belongs to the SIM in this phone."
                                    </p>
                                </ActionForm>
                            </section>
                            {ctx.sandbox.map(|device| view! { <SimulatedSim device /> })}
                        }
                            .into_any()
                    }
                    (None, Err(e)) => {
                        view! { <p class="result error" role="alert">{format!("{ERROR_PREFIX} {e}")}</p> }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[cfg(feature = "hydrate")]
fn leave_for(url: &str) {
    if let Err(e) = window().location().assign(url) {
        leptos::logging::error!("cannot leave for the operator: {e:?}");
    }
}

#[cfg(not(feature = "hydrate"))]
fn leave_for(_url: &str) {}

/// Where the browser reports Wi-Fi (Network Information API), ask for mobile data
/// before starting: the operator cannot see the SIM over Wi-Fi.
#[component]
fn WifiHint() -> impl IntoView {
    let (on_wifi, set_on_wifi) = signal(false);
    Effect::new(move |_| set_on_wifi.set(browser_reports_wifi()));
    view! {
        <Show when=move || on_wifi.get()>
            <p class="hint" role="note">
                "You seem to be on Wi-Fi. Switch to mobile data so your operator can recognise your SIM."
            </p>
        </Show>
    }
}

#[cfg(feature = "hydrate")]
fn browser_reports_wifi() -> bool {
    // Reflect avoids web-sys' unstable-API cfg, which would force full rebuilds.
    let navigator = window().navigator();
    js_sys::Reflect::get(&navigator, &"connection".into())
        .ok()
        .filter(|c| !c.is_undefined() && !c.is_null())
        .and_then(|c| js_sys::Reflect::get(&c, &"type".into()).ok())
        .and_then(|t| t.as_string())
        .is_some_and(|t| t == "wifi")
}

#[cfg(not(feature = "hydrate"))]
fn browser_reports_wifi() -> bool {
    false
}
