//! The one page: the number form, live validation, progress and the result.
//!
//! Rendered on the server; only the form ([`VerifyForm`]) and the Wi-Fi hint
//! ([`WifiHint`]) are islands that ship to the browser as wasm. The result view and the
//! virtual operator's control are plain HTML.

#[cfg(feature = "ssr")]
pub mod code_entry;
#[cfg(feature = "hydrate")]
pub(crate) mod credential_client;
pub mod outcome_view;
pub mod server;
pub mod simulated_sim;
#[cfg(feature = "hydrate")]
mod start_client;

use leptos::prelude::*;

use crate::{components::phone_field::PhoneField, outcome::ERROR_PREFIX};
use leptos::server_fn::ServerFn;
use server::{StartVerification, Started};

/// The page, rendered on the server only.
#[cfg(feature = "ssr")]
#[component]
pub fn VerifyPage() -> impl IntoView {
    use crate::components::protocol_choice::ProtocolChoice;
    use crate::pages::handoff::server::StartHandoff;
    use outcome_view::OutcomeView;
    use simulated_sim::SimulatedSim;

    let asked =
        use_context::<axum::http::request::Parts>().and_then(|parts| server::Asked::from_query(parts.uri.query()));
    let Some(asked) = asked else {
        // The form: nothing to wait for, so nothing is awaited.
        let context = server::page_context();
        // A desktop cannot be recognised by any operator: it is offered the phone up front.
        let handoff = !crate::pages::request::is_phone(&crate::pages::request::request_headers());
        // The island takes no props (their decoder would put serde_json in the wasm): what
        // it needs to know is in the server's HTML around it.
        return view! {
            <h1>"Verify your phone number!"</h1>
            <WifiHint />
            <section class="card" data-credentials=context.credentials.then_some("")>
                // The protocol choice is plain HTML: rendered here, not shipped as wasm.
                <VerifyForm>
                    <ProtocolChoice protocols=context.protocols />
                </VerifyForm>
                // Outside the island, in the form by its `form` attribute: posts natively.
                {handoff.then(|| view! {
                    <button type="submit" form=FORM_ID class="secondary" formaction=StartHandoff::PATH formnovalidate>
                        "Continue on your phone"
                    </button>
                })}
                <p class="consent">
                    "Your mobile operator will confirm whether this number belongs to the SIM in this phone."
                </p>
            </section>
            {context.sandbox.map(|device| view! { <SimulatedSim device /> })}
        }
        .into_any();
    };
    if let server::Asked::Sms { ticket, note } = asked {
        return view! {
            <h1>"Verify your phone number!"</h1>
            <Suspense fallback=|| ()>
                {
                    let (ticket, note) = (ticket.clone(), note.clone());
                    Suspend::new(async move { code_entry::code_entry(ticket, note).await })
                }
            </Suspense>
        }
        .into_any();
    }
    if let server::Asked::Handoff(id) = asked {
        return view! {
            <h1>"Verify your phone number!"</h1>
            <Suspense fallback=|| ()>
                {
                    let id = id.clone();
                    Suspend::new(async move { server::handoff(id).await })
                }
            </Suspense>
        }
        .into_any();
    }
    // A result lives in the store, which may be Redis: the route is rendered async, so
    // the page is complete, result included, before it is sent.
    view! {
        <h1>"Verify your phone number!"</h1>
        <Suspense fallback=|| ()>
            {Suspend::new(async move {
                let outcome = server::outcome(asked).await;
                view! { <OutcomeView outcome /> }
            })}
        </Suspense>
    }
    .into_any()
}

/// Whether a request for `uri` gets a view with islands (the form, or a desktop's
/// handoff with its live status): any other page (a result, an error, 404) is plain
/// HTML and needs no wasm.
#[cfg(feature = "ssr")]
pub fn has_islands(uri: &axum::http::Uri) -> bool {
    uri.path() == "/"
        && matches!(
            server::Asked::from_query(uri.query()),
            None | Some(server::Asked::Handoff(_))
        )
}

/// The form's `id`: the handoff button outside the island belongs to it. The island's
/// view writes it out as a literal: `id=FORM_ID` there broke the form's hydration.
#[cfg(feature = "ssr")]
const FORM_ID: &str = "verify-form";

/// The form, the part of the page that runs in the browser once hydrated: live
/// validation, progress, refusals, and the move to the operator. Without JavaScript the
/// same form posts to the server function, which answers with a redirect.
///
/// Where the page says the phone-number credential channel is configured (its card has
/// `data-credentials`) and the browser has the Digital Credentials API, the form first
/// asks the phone's wallet, which needs no mobile data; anything that fails there falls
/// back to the operator's redirect, with a note saying why.
///
/// A desktop's "Continue on your phone" (rendered by the page, beside the island) posts
/// the number to start a handoff instead: a plain form post, with or without JavaScript.
#[island]
fn VerifyForm(children: Children) -> impl IntoView {
    let pending = RwSignal::new(false);
    let answer = RwSignal::new(None::<Result<Started, String>>);
    let flow = Flow {
        pending,
        answer,
        waiting: RwSignal::new(false),
        note: RwSignal::new(None::<String>),
        abort: StoredValue::new_local(None::<Abort>),
    };
    let (waiting, note) = (flow.waiting, flow.note);

    // Marks the page once the client code has taken over the form (tests and tools wait
    // for it; effects run only in the browser).
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    let leaving = move || pending.get() || matches!(answer.get(), Some(Ok(Started::GoTo(_))));
    let refusal = move || match answer.get() {
        Some(Ok(Started::Refused(message))) => Some(message),
        Some(Err(e)) => Some(format!("{ERROR_PREFIX} The server could not be reached ({e}).")),
        _ => None,
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        if posts_natively(&ev) {
            return;
        }
        ev.prevent_default();
        if !pending.get_untracked() {
            submit(&ev, flow);
        }
    };
    let skip = move |_| skip_wallet(flow);

    view! {
        <form id="verify-form" method="post" action=StartVerification::PATH class="verify-form" novalidate on:submit=on_submit>
            <PhoneField />
            {children()}
            <button type="submit" disabled=leaving>"Verify"</button>
            <Show when=move || waiting.get()>
                <p class="progress" role="status">"Asking your phone for its number credential…"</p>
                <button type="button" class="secondary" on:click=skip>"Use my operator instead"</button>
            </Show>
            <Show when=move || leaving() && !waiting.get()>
                <p class="progress" role="status">"Contacting your operator…"</p>
            </Show>
            {move || note.get().map(|n| view! { <p class="hint" role="note">{n}</p> })}
            {move || refusal().map(|m| view! { <p class="result error" role="alert">{m}</p> })}
        </form>
    }
}

/// The browser's abort handle for the wallet's wait (nothing on the server).
#[cfg(feature = "hydrate")]
type Abort = web_sys::AbortController;
#[cfg(not(feature = "hydrate"))]
type Abort = ();

/// The form's state while a verification starts (read by the browser's code only).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
struct Flow {
    pending: RwSignal<bool>,
    answer: RwSignal<Option<Result<Started, String>>>,
    /// Waiting for the phone's wallet.
    waiting: RwSignal<bool>,
    /// Why the credential was not used, when the form fell back to the operator.
    note: RwSignal<Option<String>>,
    abort: StoredValue<Option<Abort>, LocalStorage>,
}

/// Starts the verification from the form: the phone's credential first where it can be
/// asked for, else (or when it fails) the operator, reached by a full-page navigation.
#[cfg(feature = "hydrate")]
fn submit(ev: &leptos::ev::SubmitEvent, flow: Flow) {
    use wasm_bindgen::JsCast;
    let Some(form) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok()) else {
        return;
    };
    flow.pending.set(true);
    flow.note.set(None);
    leptos::task::spawn_local(async move {
        if credential_client::offered(&form) && credential_client::available() {
            if let Ok(controller) = web_sys::AbortController::new() {
                flow.abort.set_value(Some(controller.clone()));
                flow.waiting.set(true);
                let verified = credential_client::verify(&form, &controller).await;
                flow.waiting.set(false);
                flow.abort.set_value(None);
                match verified {
                    Ok(url) => {
                        leave_for(&url);
                        return;
                    }
                    Err(why) => flow.note.set(Some(format!(
                        "Your phone's number credential could not be used ({why}); asking your operator instead."
                    ))),
                }
            }
        }
        let started = start_client::start(&form).await;
        if let Ok(Started::GoTo(url)) = &started {
            leave_for(url);
        }
        flow.answer.set(Some(started));
        flow.pending.set(false);
    });
}

#[cfg(not(feature = "hydrate"))]
fn submit(_: &leptos::ev::SubmitEvent, _: Flow) {}

/// A button with its own `formaction` (the handoff) posts the form as the browser does.
#[cfg(feature = "hydrate")]
fn posts_natively(ev: &leptos::ev::SubmitEvent) -> bool {
    ev.submitter().is_some_and(|button| button.has_attribute("formaction"))
}

#[cfg(not(feature = "hydrate"))]
fn posts_natively(_: &leptos::ev::SubmitEvent) -> bool {
    false
}

/// "Use my operator instead": stops waiting for the wallet (the form then falls back).
#[cfg(feature = "hydrate")]
fn skip_wallet(flow: Flow) {
    flow.abort.with_value(|controller| {
        if let Some(controller) = controller {
            controller.abort();
        }
    });
}

#[cfg(not(feature = "hydrate"))]
fn skip_wallet(_: Flow) {}

#[cfg(feature = "hydrate")]
fn leave_for(url: &str) {
    if let Err(e) = window().location().assign(url) {
        leptos::logging::error!("cannot leave for the operator: {e:?}");
    }
}

/// Where the browser reports Wi-Fi (Network Information API), ask for mobile data
/// before starting: the operator cannot see the SIM over Wi-Fi.
#[island]
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
