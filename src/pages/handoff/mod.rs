//! Desktop → phone handoff, as people see it.
//!
//! - The desktop (`/?handoff=<id>`, [`HandoffWaiting`]): a QR code of the phone's link,
//!   the same link to open by hand, the match code, and the status — live through
//!   server-sent events ([`HandoffStatus`]), or by the "Check"
//!   button without JavaScript. Once the phone's verification ends, the verdict.
//! - The phone (`/handoff?h=<secret>`, [`HandoffPage`]): the number and the match code,
//!   and "Continue" ([`ContinueForm`]), which proves the number with the phone's number
//!   credential where it can be asked for, else on the phone's own connection (the
//!   operator's redirect); then "Done — return to your computer". Without the credential
//!   channel configured it is plain HTML and the phone downloads no wasm for it.

pub mod server;

use leptos::{prelude::*, server_fn::ServerFn};

/// The desktop's live status: "Waiting for your phone…", then the verdict, pushed by
/// the server (`GET /handoff/events?w=<id>`) without a reload. The status line is the
/// server's HTML (its children, `#handoff-status` with the watch id in `data-watch`),
/// rewritten in place: the island takes no props, whose decoder would put serde_json in
/// the wasm.
#[island]
pub fn HandoffStatus(children: Children) -> impl IntoView {
    Effect::new(|_| follow());
    children()
}

/// Opens the event stream and shows each event's `{class, text}` in the status line;
/// closes it at the verdict. The browser's `EventSource` reconnects by itself after a
/// dropped connection.
#[cfg(feature = "hydrate")]
fn follow() {
    use js_sys::{Function, Reflect, JSON};
    use wasm_bindgen::{closure::Closure, JsCast, JsValue};

    let Some(line) = document().get_element_by_id(STATUS_ID) else {
        return;
    };
    let Some(watch) = line.get_attribute("data-watch") else {
        return;
    };
    let Ok(constructor) = Reflect::get(&window(), &"EventSource".into()).and_then(|c| c.dyn_into::<Function>()) else {
        return;
    };
    let url = JsValue::from_str(&("/handoff/events?w=".to_owned() + &watch));
    let Ok(source) = Reflect::construct(&constructor, &js_sys::Array::of1(&url)) else {
        return;
    };
    let closer = source.clone();
    let on_message = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
        let data = Reflect::get(&event, &"data".into()).ok().and_then(|d| d.as_string());
        let Some(parsed) = data.and_then(|d| JSON::parse(&d).ok()) else {
            return;
        };
        let field = |name: &str| Reflect::get(&parsed, &name.into()).ok().and_then(|v| v.as_string());
        if let (Some(class), Some(text)) = (field("class"), field("text")) {
            line.set_class_name(&class);
            line.set_text_content(Some(&text));
        }
        if field("final").is_some() {
            if let Ok(close) = Reflect::get(&closer, &"close".into()).and_then(|c| c.dyn_into::<Function>()) {
                let _ = close.call0(&closer);
            }
        }
    });
    let _ = Reflect::set(&source, &"onmessage".into(), on_message.as_ref());
    // Lives as long as the page: the stream calls it until the verdict.
    on_message.forget();
}

#[cfg(not(feature = "hydrate"))]
fn follow() {}

/// The status line's `id`, shared by the server's HTML and the island.
const STATUS_ID: &str = "handoff-status";

/// The phone's Continue. Where the phone-number credential is configured and the browser
/// has the Digital Credentials API, it asks the phone's wallet first (no mobile data
/// needed); anything that fails there, or no such browser, posts the form as it is: the
/// operator's redirect. Without JavaScript the form just posts. Whether the credential
/// channel is configured, the page says with `data-credentials` on the card around it.
#[island]
pub fn ContinueForm(children: Children) -> impl IntoView {
    let waiting = RwSignal::new(false);
    let note = RwSignal::new(None::<String>);
    // Marks the page once its script has taken over the form (tests wait for it).
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        if !waiting.get_untracked() {
            ask_wallet_first(&ev, waiting, note);
        }
    };
    view! {
        <form method="post" action=server::ContinueHandoff::PATH on:submit=on_submit>
            {children()}
            <button type="submit" disabled=move || waiting.get()>"Continue"</button>
            <Show when=move || waiting.get()>
                <p class="progress" role="status">"Asking your phone for its number credential…"</p>
            </Show>
            {move || note.get().map(|n| view! { <p class="hint" role="note">{n}</p> })}
        </form>
    }
}

#[cfg(feature = "hydrate")]
fn ask_wallet_first(ev: &leptos::ev::SubmitEvent, waiting: RwSignal<bool>, note: RwSignal<Option<String>>) {
    use crate::pages::verify::credential_client;
    use wasm_bindgen::JsCast;
    let Some(form) = ev.target().and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok()) else {
        return;
    };
    let Ok(controller) = web_sys::AbortController::new() else {
        return;
    };
    if !credential_client::offered(&form) || !credential_client::available() {
        return;
    }
    ev.prevent_default();
    waiting.set(true);
    leptos::task::spawn_local(async move {
        let verified = credential_client::verify(&form, &controller).await;
        waiting.set(false);
        match verified {
            Ok(url) => {
                let _ = window().location().assign(&url);
            }
            Err(why) => {
                note.set(Some(
                    "Your phone's number credential could not be used (".to_owned()
                        + &why
                        + "); asking your operator instead.",
                ));
                // A script's submit() fires no submit event: the operator's redirect.
                let _ = form.submit();
            }
        }
    });
}

#[cfg(not(feature = "hydrate"))]
fn ask_wallet_first(_: &leptos::ev::SubmitEvent, _: RwSignal<bool>, _: RwSignal<Option<String>>) {}

#[cfg(feature = "ssr")]
pub use ssr_views::{waiting_status, HandoffPage, HandoffWaiting};

#[cfg(feature = "ssr")]
mod ssr_views {
    use leptos::prelude::*;

    use super::{ContinueForm, HandoffStatus, STATUS_ID};
    use crate::{
        components::qr,
        pages::{
            request::{ensure_session, request_headers},
            verify::{outcome_view::OutcomeView, simulated_sim::SimulatedSim},
        },
        state::AppState,
        verification::{
            handoff::{Phase, Watch},
            HandoffProblem, HandoffRefusal, HandoffSecret, PageError, WatchId,
        },
    };

    /// The desktop's handoff: the QR code and its status, or the verdict.
    #[component]
    pub fn HandoffWaiting(id: WatchId, watch: Watch) -> impl IntoView {
        if let Phase::Finished(outcome) = watch.phase {
            return view! { <OutcomeView outcome /> }.into_any();
        }
        let state = expect_context::<AppState>();
        let link = format!(
            "{}/handoff?h={}",
            state.config.public_url.trim_end_matches('/'),
            watch.secret.secret()
        );
        let svg = qr::svg_of(&link).unwrap_or_default();
        let (class, text) = waiting_status(&watch);
        let minutes = state.verifier.handoff_ttl().as_secs().div_ceil(60);
        let watch_id = id.secret().to_owned();
        view! {
            <section class="card handoff">
                <h2>"Continue on your phone"</h2>
                <p>
                    "Scan this code with your phone's camera to verify "
                    <strong>{watch.number.as_str().to_owned()}</strong>
                    " there. The link works once, for "{minutes}" minutes."
                </p>
                <div class="qr" role="img" aria-label="QR code of the link for your phone" inner_html=svg></div>
                <p class="handoff-link">
                    "Or open this link on your phone: "
                    <a href=link.clone() data-handoff-url=link.clone()>{link.clone()}</a>
                </p>
                <p>
                    "Your phone will show this code; go on only if it matches: "
                    <strong class="match-code" id="match-code">{watch.match_code.clone()}</strong>
                </p>
                <HandoffStatus>
                    <p id=STATUS_ID class=class role="status" aria-live="polite" data-watch=watch_id.clone()>
                        {text}
                    </p>
                </HandoffStatus>
                <form method="get" action="/">
                    <input type="hidden" name="handoff" value=id.secret().to_owned() />
                    <button type="submit" class="secondary">"Check"</button>
                </form>
            </section>
        }
        .into_any()
    }

    /// The status line before the verdict.
    pub fn waiting_status(watch: &Watch) -> (String, String) {
        let text = if watch.expired() {
            HandoffProblem::Expired.message()
        } else if watch.phase == Phase::Continued {
            "Your phone is verifying the number…"
        } else {
            "Waiting for your phone…"
        };
        let class = if watch.expired() { "result error" } else { "progress" };
        (class.to_owned(), text.to_owned())
    }

    /// What the phone's link shows: the number, the match code and Continue; or "Done";
    /// or why the link verifies nothing.
    #[component]
    pub fn HandoffPage() -> impl IntoView {
        let query = use_context::<axum::http::request::Parts>()
            .and_then(|parts| parts.uri.query().map(str::to_owned))
            .unwrap_or_default();
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        let get = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let body = if get("done").is_some() {
            view! {
                <section class="card" aria-live="polite">
                    <p class="result" id="handoff-done" tabindex="-1" autofocus>"Done — return to your computer."</p>
                    <p class="hint">"Your computer shows the result."</p>
                </section>
            }
            .into_any()
        } else if let Some(error) = get("error").as_deref().and_then(PageError::from_code) {
            problem(error.message())
        } else {
            let secret = get("h").as_deref().and_then(HandoffSecret::parse);
            view! {
                <Suspense fallback=|| ()>
                    {
                        let secret = secret.clone();
                        Suspend::new(async move { offer(secret).await })
                    }
                </Suspense>
            }
            .into_any()
        };
        let device = crate::pages::verify::server::page_context().sandbox;
        view! {
            <h1>"Verify your phone number!"</h1>
            {body}
            {device.map(|device| view! { <SimulatedSim device /> })}
        }
    }

    async fn offer(secret: Option<HandoffSecret>) -> AnyView {
        let Some(secret) = secret else {
            tracing::info!("handoff page with a malformed link");
            return problem(HandoffProblem::Unknown.message().to_owned());
        };
        let state = expect_context::<AppState>();
        // The phone's session: its claim on the link, and its verification, are its own.
        let phone = ensure_session(&state, &request_headers()).await;
        let credentials = state.verifier.offers_credentials();
        match state.verifier.offered(&secret, &phone).await {
            Ok(offered) => view! {
                <section class="card" data-credentials=credentials.then_some("")>
                    <p>
                        "Your computer asked to verify "
                        <strong id="handoff-number">{offered.number.as_str().to_owned()}</strong>
                        " on this phone."
                    </p>
                    <p>
                        "Check that your computer shows the same code: "
                        <strong class="match-code" id="match-code">{offered.match_code}</strong>
                    </p>
                    <ContinueForm>
                        <input type="hidden" name="h" value=secret.secret().to_owned() />
                    </ContinueForm>
                    <p class="consent">
                        "Your mobile operator will confirm whether this number belongs to the SIM in this phone. Use mobile data, not Wi-Fi."
                    </p>
                </section>
            }
            .into_any(),
            Err(refusal) => {
                refusal.log();
                match refusal {
                    HandoffRefusal::Problem(p) => problem(p.message().to_owned()),
                    HandoffRefusal::Verify(e) => problem(format!("{} {e}", crate::outcome::ERROR_PREFIX)),
                }
            }
        }
    }

    fn problem(message: String) -> AnyView {
        view! {
            <section class="card" aria-live="polite">
                <p class="result error" id="handoff-problem" role="alert">{message}</p>
            </section>
        }
        .into_any()
    }
}
