//! The `credential` flow: the page's phone-number credential (TS.43 over the Digital
//! Credentials API), the virtual operator's wallet standing in for the phone's.

use reqwest::{Client, Url};
use serde_json::{json, Value};

use super::{error_kind, session_cookie, PHONE};

/// The page's phone-number credential, as its script runs it: the server's credential
/// request, the (virtual) wallet's presentation, the answer posted back, the result page
/// checked. The page's origin is `start`'s (the app's `APP_PUBLIC_URL`).
pub async fn flow(client: &Client, wallet: &Url, start: &Url, finish: &Url) -> Result<(), String> {
    let asked = client
        .post(start.join("/api/credential/request").expect("a base URL"))
        .header(reqwest::header::ACCEPT, "application/json")
        .form(&[("phone", PHONE)])
        .send()
        .await
        .map_err(|e| error_kind("request", &e))?;
    let cookie = session_cookie(&asked, "request")?;
    let offer: Value = asked.json().await.map_err(|e| error_kind("request", &e))?;
    let ask = &offer["Ask"];
    let (Some(request_id), Some(request)) = (ask["request_id"].as_str(), ask["request"].as_str()) else {
        return Err(format!(
            "request: {}",
            offer["Refused"].as_str().unwrap_or("no request")
        ));
    };
    let mut request: Value = serde_json::from_str(request).map_err(|_| "request: not JSON".to_owned())?;
    request["origin"] = json!(start.origin().ascii_serialization());
    let presented = client
        .post(format!("{}/virtual-wallet", wallet.as_str().trim_end_matches('/')))
        .json(&request)
        .send()
        .await
        .map_err(|e| error_kind("wallet", &e))?;
    if !presented.status().is_success() {
        return Err(format!("wallet: {}", presented.status()));
    }
    let data = presented.text().await.map_err(|e| error_kind("wallet", &e))?;
    let answered = client
        .post(finish.join("/api/credential/answer").expect("a base URL"))
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::COOKIE, cookie.as_str())
        .form(&[("request_id", request_id), ("response", data.as_str())])
        .send()
        .await
        .map_err(|e| error_kind("answer", &e))?;
    let answer: Value = answered.json().await.map_err(|e| error_kind("answer", &e))?;
    let result = answer["GoTo"]
        .as_str()
        .ok_or_else(|| format!("answer: {}", answer["Refused"].as_str().unwrap_or("unexpected")))?;
    let page = client
        .get(finish.join(result).expect("a result path"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .map_err(|e| error_kind("result", &e))?
        .text()
        .await
        .map_err(|e| error_kind("result", &e))?;
    if page.contains(&format!("{PHONE}: verified!")) {
        Ok(())
    } else {
        Err("result: not verified".into())
    }
}
