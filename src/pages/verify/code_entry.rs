//! The one-time code's view (`/?sms=<ticket>`): where the code was sent, the field to
//! type it into, a new code once the wait is over, and — with the virtual operator — the
//! simulated SIM's messages. Plain HTML forms, the same with and without JavaScript:
//! `/code/check` and `/code/send` answer with redirects.
//!
//! The field is what phones fill in from the SMS: `autocomplete="one-time-code"` (the
//! message's last line binds the code to this site, WebOTP-style), `inputmode="numeric"`.

use leptos::prelude::*;

use crate::{
    outcome::ERROR_PREFIX,
    verification::{
        code::CODE_DIGITS,
        code_channel::{CodeRefusal, CodeWait},
    },
};

/// The view for `ticket`, with `note` (a refusal just met) on top.
#[cfg(feature = "ssr")]
pub async fn code_entry(ticket: String, note: Option<CodeRefusal>) -> AnyView {
    use crate::{pages::request::request_headers, state::AppState};

    // A refusal that ended the attempt (too many attempts, say) retired the ticket too:
    // it is said as it is, not as the unknown ticket it now is.
    if let Some(refusal) = note.as_ref().filter(|n| n.ends_the_attempt()) {
        // A relying party's verification goes back to it; the page's starts again.
        return view! {
            <section class="card" aria-live="polite">
                <p class="result error" id="code-note" tabindex="-1" autofocus role="alert">
                    {refusal.to_string()}
                </p>
                <form method="post" action="/code/cancel" id="code-cancel">
                    <input type="hidden" name="ticket" value=ticket />
                    <button type="submit">"Start again"</button>
                </form>
            </section>
        }
        .into_any();
    }
    let state = expect_context::<AppState>();
    let reader = state.sessions.read(&request_headers()).await;
    match state.verifier.code_wait(&ticket, reader.as_ref()).await {
        Ok(wait) => {
            let inbox = match &wait.sandbox_number {
                Some(number) => Some(state.verifier.sandbox_inbox(number).await),
                None => None,
            };
            view! { <CodeEntry ticket wait note inbox /> }.into_any()
        }
        // The ticket answers nothing (expired, used, another browser's): say why.
        Err(refusal) => view! {
            <section class="card" aria-live="polite">
                <p class="result error" id="result" tabindex="-1" autofocus role="alert">
                    {format!("{ERROR_PREFIX} {refusal}")}
                </p>
                <a class="button" href="/">"Start again"</a>
            </section>
        }
        .into_any(),
    }
}

#[component]
fn CodeEntry(
    ticket: String,
    wait: CodeWait,
    note: Option<CodeRefusal>,
    /// The simulated SIM's messages (sandbox): `Some(None)` when its inbox did not answer.
    inbox: Option<Option<Vec<String>>>,
) -> impl IntoView {
    let ends = note.as_ref().is_some_and(CodeRefusal::ends_the_attempt);
    let note = note.map(|refusal| match refusal {
        // The wait is read now, not taken from the address.
        CodeRefusal::TooSoon(_) => CodeRefusal::TooSoon(wait.resend_in.max(1)).to_string(),
        other => other.to_string(),
    });
    let can_type = wait.sent && !ends;
    let can_resend = !ends && (!wait.sent || wait.resends_left > 0);
    let pattern = format!("[0-9]{{{CODE_DIGITS}}}");
    let sent_line = if wait.sent {
        format!(
            "We sent a {CODE_DIGITS}-digit code by SMS to {}. It expires in 5 minutes.",
            wait.to
        )
    } else {
        // Here straight from a failed start: why the network could not answer, first.
        let why = wait
            .reason
            .map(|r| format!("{} ", r.person_message()))
            .unwrap_or_default();
        format!(
            "{why}We can send a {CODE_DIGITS}-digit code by SMS to {} instead.",
            wait.to
        )
    };
    let resend_label = if wait.sent {
        "Send a new code"
    } else {
        "Send me a code by SMS"
    };
    let resend_hint = (wait.sent && wait.resend_in > 0 && can_resend)
        .then(|| format!("You can ask for a new code in {} seconds.", wait.resend_in));
    let ticket_for_resend = ticket.clone();
    let ticket_for_cancel = ticket.clone();
    view! {
        <section class="card" aria-live="polite">
            <p id="code-sent">{sent_line}</p>
            {note.map(|text| view! {
                <p class="result error" id="code-note" tabindex="-1" autofocus role="alert">{text}</p>
            })}
            {can_type.then(|| view! {
                <form method="post" action="/code/check" id="code-form">
                    <input type="hidden" name="ticket" value=ticket />
                    <label for="code">"Code"</label>
                    <input
                        id="code"
                        name="code"
                        type="text"
                        autocomplete="one-time-code"
                        inputmode="numeric"
                        pattern=pattern
                        maxlength="12"
                        required
                    />
                    <button type="submit">"Verify"</button>
                </form>
            })}
            {can_resend.then(|| view! {
                <form method="post" action="/code/send" id="code-resend">
                    <input type="hidden" name="ticket" value=ticket_for_resend />
                    <button type="submit" class=if wait.sent { "secondary" } else { "" }>{resend_label}</button>
                </form>
            })}
            {resend_hint.map(|hint| view! { <p class="hint" id="resend-hint">{hint}</p> })}
            {if wait.for_relying_party {
                view! {
                    <form method="post" action="/code/cancel" id="code-cancel">
                        <input type="hidden" name="ticket" value=ticket_for_cancel />
                        <button type="submit" class="secondary">"Cancel and go back"</button>
                    </form>
                }
                .into_any()
            } else {
                view! { <a class="button secondary" href="/">"Start again"</a> }.into_any()
            }}
        </section>
        {inbox.map(|messages| view! {
            <section class="card sandbox" id="sms-inbox">
                <h2>"Simulated SIM: text messages"</h2>
                {match messages {
                    None => view! { <p class="hint">"The virtual operator's inbox did not answer."</p> }.into_any(),
                    Some(list) if list.is_empty() => view! { <p class="hint">"No messages yet."</p> }.into_any(),
                    Some(list) => view! {
                        <ol class="sms-messages">
                            {list.into_iter().map(|text| view! { <li><pre>{text}</pre></li> }).collect_view()}
                        </ol>
                    }
                    .into_any(),
                }}
            </section>
        })}
    }
}
