//! A finished verification: `+99012345678: verified!`, `…: invalid!`, or the error.

use leptos::prelude::*;

use leptos::server_fn::ServerFn;

use crate::{
    outcome::{Outcome, Verdict, SANDBOX_NOTE},
    pages::handoff::server::StartHandoff,
};

#[component]
pub fn OutcomeView(outcome: Outcome) -> impl IntoView {
    let (class, text) = outcome.headline();
    let is_error = matches!(outcome.verdict, Verdict::Error(_));
    // The network check failed here: the phone may succeed where this device did not.
    let on_phone = outcome.number.clone().filter(|_| is_error);
    // A verdict anyone could have chosen must never pass for a real one.
    let sandbox = outcome.sandbox;
    // How it was proven, once there is a verdict.
    let proven = !is_error;
    // Focus moves to the result so screen readers announce it: `autofocus`, no script.
    view! {
        <section class="card" aria-live="polite">
            <p
                class=class
                id="result"
                tabindex="-1"
                autofocus
                role=is_error.then_some("alert")
                data-reason=outcome.reason.clone()
            >
                {text}
            </p>
            {proven.then(|| view! { <p class="hint" id="proof">{outcome.proof.description()}</p> })}
            {sandbox.then(|| view! { <p class="hint sandbox-note" id="sandbox-note">{SANDBOX_NOTE}</p> })}
            // The network could not answer: a code by SMS may (`/code/send` → the code view).
            {outcome.fallback.clone().map(|ticket| view! {
                <form method="post" action="/code/send" class="sms-offer" id="sms-offer">
                    <input type="hidden" name="ticket" value=ticket />
                    <button type="submit">"Send me a code by SMS"</button>
                </form>
            })}
            {on_phone.map(|number| view! {
                <form method="post" action=StartHandoff::PATH class="handoff-offer">
                    <input type="hidden" name="phone" value=number.as_str().to_owned() />
                    <button type="submit" class="secondary">"Continue on your phone"</button>
                </form>
            })}
            <a class="button" href="/">"Verify another number"</a>
        </section>
    }
}
