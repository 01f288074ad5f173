//! A finished verification: `+99012345678: verified!`, `…: invalid!`, or the error.

use leptos::prelude::*;

use crate::outcome::{Outcome, Verdict, SANDBOX_NOTE};

#[component]
pub fn OutcomeView(outcome: Outcome) -> impl IntoView {
    let (class, text) = match (&outcome.verdict, outcome.number.as_ref().map(|n| n.as_str())) {
        (Verdict::Verified, Some(n)) => ("result verified", format!("{n}: verified!")),
        (Verdict::Invalid, Some(n)) => ("result invalid", format!("{n}: invalid!")),
        (Verdict::Verified, None) => ("result verified", "verified!".to_owned()),
        (Verdict::Invalid, None) => ("result invalid", "invalid!".to_owned()),
        (Verdict::Error(message), _) => ("result error", message.clone()),
    };
    let is_error = matches!(outcome.verdict, Verdict::Error(_));
    // A verdict anyone could have chosen must never pass for a real one.
    let sandbox = outcome.sandbox;
    // Focus moves to the result so screen readers announce it: `autofocus`, no script.
    view! {
        <section class="card" aria-live="polite">
            <p class=class id="result" tabindex="-1" autofocus role=is_error.then_some("alert")>
                {text}
            </p>
            {sandbox.then(|| view! { <p class="hint sandbox-note" id="sandbox-note">{SANDBOX_NOTE}</p> })}
            <a class="button" href="/">"Verify another number"</a>
        </section>
    }
}
