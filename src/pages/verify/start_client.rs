//! The form's call to the `StartVerification` server function, in the browser.
//!
//! A plain `fetch` of the same endpoint the no-JS form posts to, with the same
//! form-encoded body, answered with the server function's JSON. Why not Leptos'
//! `ServerAction`/`ActionForm`: their client (the server_fn codecs, serde_json,
//! serde_qs, gloo-net, streams) was 148 KB of the 380 KB wasm — 47 KB of the 130 KB sent
//! with brotli — for one POST and a two-variant answer (measured with twiggy and
//! wasm-opt; README "Figures").

use js_sys::Reflect;
use leptos::server_fn::ServerFn;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{FormData, Headers, HtmlFormElement, RequestInit, Response, UrlSearchParams};

use super::server::{StartVerification, Started};

/// Posts `form` to the server function; the answer, or why there is none.
pub async fn start(form: &HtmlFormElement) -> Result<Started, String> {
    let data = FormData::new_with_form(form).map_err(reason)?;
    let body = UrlSearchParams::new_with_str_sequence_sequence(&data).map_err(reason)?;
    let headers = Headers::new().map_err(reason)?;
    headers.set("Accept", "application/json").map_err(reason)?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&body);
    init.set_headers(&headers);
    let fetched = leptos::prelude::window().fetch_with_str_and_init(StartVerification::PATH, &init);
    let response: Response = JsFuture::from(fetched).await.map_err(reason)?.unchecked_into();
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    let json = JsFuture::from(response.json().map_err(reason)?).await.map_err(reason)?;
    started_from_json(&json).ok_or_else(|| "an answer the page does not understand".to_owned())
}

/// `Started` as serde writes it: `{"GoTo": "<url>"}` or `{"Refused": "<message>"}`
/// (pinned by a test in `server.rs`).
fn started_from_json(json: &JsValue) -> Option<Started> {
    let field = |name: &str| {
        Reflect::get(json, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_string())
    };
    field("GoTo")
        .map(Started::GoTo)
        .or_else(|| field("Refused").map(Started::Refused))
}

/// A JavaScript error as a short text (a `TypeError`'s message, say).
fn reason(error: JsValue) -> String {
    error
        .as_string()
        .or_else(|| {
            Reflect::get(&error, &JsValue::from_str("message"))
                .ok()
                .and_then(|m| m.as_string())
        })
        .unwrap_or_else(|| "network error".to_owned())
}
