//! The number field with live validation.
//!
//! Validation runs in the browser once hydrated: the server renders the field neutral,
//! so without JavaScript nothing is checked until the form is posted.

use leptos::{html, prelude::*};

use crate::phone::normalise;

#[component]
pub fn PhoneField() -> impl IntoView {
    let (typed, set_typed) = signal(String::new());
    let input = NodeRef::<html::Input>::new();
    // Pick up what was typed before the page hydrated.
    Effect::new(move |_| {
        if let Some(el) = input.get() {
            set_typed.set(el.value());
        }
    });
    // `None` while empty: an empty field is not an error yet.
    let verdict =
        Memo::new(move |_| typed.with(|t| (!t.trim().is_empty()).then(|| normalise(t).map_err(|e| e.to_string()))));
    let invalid = move || verdict.with(|v| matches!(v, Some(Err(_))));
    let status = move || match verdict.get() {
        None => String::new(),
        Some(Ok(number)) => format!("Will verify {}", number.as_str()),
        Some(Err(reason)) => reason,
    };

    view! {
        <label for="phone">"Phone number"</label>
        <input
            id="phone"
            name="phone"
            type="tel"
            inputmode="tel"
            autocomplete="tel"
            placeholder="+44 7700 900123"
            required
            maxlength="40"
            aria-describedby="phone-status"
            aria-invalid=move || invalid().to_string()
            node_ref=input
            on:input=move |ev| set_typed.set(event_target_value(&ev))
        />
        <p id="phone-status" class="phone-status" class:error=invalid aria-live="polite">
            {status}
        </p>
    }
}
