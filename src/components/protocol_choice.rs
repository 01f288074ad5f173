//! The protocol choice: radio buttons when more than one operator protocol is configured.

use leptos::prelude::*;

use crate::protocol::Protocol;

#[component]
pub fn ProtocolChoice(protocols: Vec<Protocol>) -> impl IntoView {
    if protocols.len() < 2 {
        let only = protocols.first().map(|p| p.as_str()).unwrap_or_default();
        return view! { <input type="hidden" name="protocol" value=only /> }.into_any();
    }
    view! {
        <fieldset class="protocols">
            <legend>"Verify with"</legend>
            {protocols
                .into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let id = format!("protocol-{}", p.as_str());
                    let label_for = id.clone();
                    view! {
                        <label class="choice" for=label_for>
                            <input type="radio" id=id name="protocol" value=p.as_str() checked=i == 0 />
                            {p.label()}
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
    .into_any()
}
