//! The phone-number credential in the browser: ask the server for a request, hand it to
//! the browser's wallet (`navigator.credentials.get({digital})`, the W3C Digital
//! Credentials API), post the wallet's answer back. Everything through `Reflect` and
//! plain `fetch`, like [`super::start_client`]: no web-sys unstable APIs, no server_fn
//! client code in the wasm.
//!
//! Chromium with no credential provider never settles the call: it is bounded by
//! [`WAIT_MS`] and by the person's "Use my operator instead", through one
//! `AbortController`.

use js_sys::{Array, Function, Object, Reflect, JSON};
use leptos::server_fn::ServerFn;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, HtmlFormElement, RequestInit, Response, UrlSearchParams};

use super::server::{AnswerCredential, RequestCredential};

/// How long the wallet may take: the person reads its prompt and confirms.
const WAIT_MS: f64 = 45_000.0;

/// Whether the page offers the credential channel: the server marks the card around the
/// form with `data-credentials` when it is configured.
pub fn offered(form: &HtmlFormElement) -> bool {
    form.closest("[data-credentials]").is_ok_and(|card| card.is_some())
}

/// Whether this browser has the Digital Credentials API.
pub fn available() -> bool {
    let window = leptos::prelude::window();
    let has = |target: &JsValue, name: &str| {
        Reflect::get(target, &JsValue::from_str(name)).is_ok_and(|v| !v.is_undefined() && !v.is_null())
    };
    has(&window, "DigitalCredential") && has(&window.navigator(), "credentials")
}

/// Verifies the form's number with the wallet's credential; the result page's URL, or
/// why the credential could not be used (the form then asks the operator instead).
///
/// A phone continuing a desktop's handoff has the link's secret in the form's `h`: the
/// number is the handed-off one, and the verdict goes to the desktop.
pub async fn verify(form: &HtmlFormElement, abort: &AbortController) -> Result<String, String> {
    let value = |name: &str| {
        Reflect::get(form, &name.into())
            .ok()
            .and_then(|field| Reflect::get(&field, &"value".into()).ok())
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    let (phone, handoff) = (value("phone"), value("h"));
    let offer = post(RequestCredential::PATH, &[("phone", &phone), ("handoff", &handoff)]).await?;
    if let Some(refused) = field(&offer, "Refused") {
        return Err(refused);
    }
    let ask = Reflect::get(&offer, &"Ask".into()).map_err(reason)?;
    let (Some(request_id), Some(request)) = (field(&ask, "request_id"), field(&ask, "request")) else {
        return Err("an answer the page does not understand".into());
    };
    let request = JSON::parse(&request).map_err(reason)?;
    let credential = ask_wallet(&request, abort).await?;
    let data = Reflect::get(&credential, &"data".into()).map_err(reason)?;
    // Some browsers give `data` as a JSON string, others as an object.
    let data = match data.as_string() {
        Some(text) => text,
        None => JSON::stringify(&data).map_err(reason)?.as_string().unwrap_or_default(),
    };
    let answer = post(
        AnswerCredential::PATH,
        &[("request_id", &request_id), ("response", &data)],
    )
    .await?;
    match (field(&answer, "GoTo"), field(&answer, "Refused")) {
        (Some(url), _) => Ok(url),
        (None, Some(refused)) => Err(refused),
        _ => Err("an answer the page does not understand".into()),
    }
}

/// `navigator.credentials.get({digital: {requests: [request]}, signal})`, bounded.
async fn ask_wallet(request: &JsValue, abort: &AbortController) -> Result<JsValue, String> {
    let window = leptos::prelude::window();
    let timer = {
        let abort = abort.clone();
        wasm_bindgen::closure::Closure::once_into_js(move || abort.abort())
    };
    let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(timer.unchecked_ref(), WAIT_MS as i32);
    let digital = Object::new();
    Reflect::set(&digital, &"requests".into(), &Array::of1(request)).map_err(reason)?;
    let options = Object::new();
    Reflect::set(&options, &"digital".into(), &digital).map_err(reason)?;
    Reflect::set(&options, &"signal".into(), &abort.signal()).map_err(reason)?;
    let credentials = Reflect::get(&window.navigator(), &"credentials".into()).map_err(reason)?;
    let get: Function = Reflect::get(&credentials, &"get".into())
        .map_err(reason)?
        .dyn_into()
        .map_err(|_| "no navigator.credentials.get".to_owned())?;
    let promise: js_sys::Promise = get
        .call1(&credentials, &options)
        .map_err(reason)?
        .dyn_into()
        .map_err(|_| "navigator.credentials.get gave no promise".to_owned())?;
    let credential = JsFuture::from(promise).await.map_err(reason)?;
    if credential.is_null() || credential.is_undefined() {
        return Err("no credential was chosen".into());
    }
    Ok(credential)
}

/// A form-encoded POST to a server function that answers JSON.
async fn post(path: &str, fields: &[(&str, &str)]) -> Result<JsValue, String> {
    let body = UrlSearchParams::new().map_err(reason)?;
    for (name, value) in fields {
        body.append(name, value);
    }
    let headers = Headers::new().map_err(reason)?;
    headers.set("Accept", "application/json").map_err(reason)?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_body(&body);
    init.set_headers(&headers);
    let fetched = leptos::prelude::window().fetch_with_str_and_init(path, &init);
    let response: Response = JsFuture::from(fetched).await.map_err(reason)?.unchecked_into();
    if !response.ok() {
        return Err(format!("HTTP {}", response.status()));
    }
    JsFuture::from(response.json().map_err(reason)?).await.map_err(reason)
}

fn field(value: &JsValue, name: &str) -> Option<String> {
    Reflect::get(value, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}

/// A JavaScript error as a short text (an `AbortError`, a `NotAllowedError`…).
fn reason(error: JsValue) -> String {
    let text = |name: &str| {
        Reflect::get(&error, &JsValue::from_str(name))
            .ok()
            .and_then(|m| m.as_string())
    };
    match text("name").as_deref() {
        Some("AbortError") => "no answer from the wallet in time".into(),
        Some("NotAllowedError") => "the request was declined".into(),
        _ => error
            .as_string()
            .or_else(|| text("message"))
            .unwrap_or_else(|| "network error".to_owned()),
    }
}
