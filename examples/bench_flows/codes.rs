//! The `codes` flow: the one-time code, the last channel. The device is on Wi-Fi, so the
//! operator cannot see its SIM: the callback's refusal offers a code (`fallback.ticket`),
//! which is sent (`/code/send`), read from the virtual operator's SMS inbox as the phone
//! would receive it, and typed back (`/code/check`). Each flow has a number of its own,
//! so the daily per-number limit never interferes.

use reqwest::{Client, StatusCode, Url};
use serde_json::{json, Value};

use super::{error_kind, on, to_callback};

/// A test number of its own for flow `k`: distinct for every `k` of a run, never one of
/// the gateway's fault endings (98 and 99).
fn number(k: u64) -> String {
    let n = (k / 98) * 100 + k % 98;
    format!("+990{:08}", n % 100_000_000)
}

async fn json_of(response: reqwest::Response, stage: &str) -> Result<(StatusCode, Value), String> {
    let status = response.status();
    let body = response.json().await.map_err(|e| error_kind(stage, &e))?;
    Ok((status, body))
}

pub async fn flow(client: &Client, sandbox: &Url, start: &Url, finish: &Url, k: u64) -> Result<(), String> {
    let phone = number(k);
    let body = json!({ "phone": phone });
    let callback = to_callback(client, start, &body, &[("X-Sandbox-Network", "wifi")]).await?;
    let answer = client
        .get(on(finish, &callback))
        .send()
        .await
        .map_err(|e| error_kind("callback", &e))?;
    let (status, refused) = json_of(answer, "callback").await?;
    let ticket = refused["fallback"]["ticket"]
        .as_str()
        .ok_or_else(|| format!("callback: {status} without a fallback"))?
        .to_owned();

    let sent = client
        .post(start.join("/code/send").expect("a base URL"))
        .json(&json!({ "ticket": ticket }))
        .send()
        .await
        .map_err(|e| error_kind("send", &e))?;
    let (status, sent) = json_of(sent, "send").await?;
    if sent["sent"] != json!(true) {
        return Err(format!("send: {status} {}", sent["error"].as_str().unwrap_or("?")));
    }
    let mut inbox = sandbox.clone();
    inbox.set_path(&format!("{}/sms/messages", sandbox.path().trim_end_matches('/')));
    let messages = client
        .get(inbox)
        .query(&[("to", phone.as_str())])
        .send()
        .await
        .map_err(|e| error_kind("inbox", &e))?;
    let (_, messages) = json_of(messages, "inbox").await?;
    let text = messages
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["text"].as_str())
        .ok_or_else(|| "inbox: no message".to_owned())?;
    // The WebOTP line, last: `@host #123456`.
    let code = text.rsplit('#').next().unwrap_or_default().trim().to_owned();

    let checked = client
        .post(finish.join("/code/check").expect("a base URL"))
        .json(&json!({ "ticket": ticket, "code": code }))
        .send()
        .await
        .map_err(|e| error_kind("check", &e))?;
    let (status, verdict) = json_of(checked, "check").await?;
    if status == StatusCode::OK && verdict["devicePhoneNumberVerified"] == json!(true) {
        Ok(())
    } else {
        Err(format!(
            "check: {status} {}",
            verdict["error"].as_str().unwrap_or("unexpected")
        ))
    }
}
