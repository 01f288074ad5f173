//! `SANDBOX=auto` mounts the virtual operator when nothing says otherwise, which is also
//! what happens when the env file with `APP_PUBLIC_URL` and the credentials fails to
//! load. Behind a public reverse proxy, anyone could then get `"verified": true` for any
//! number. So under `auto` the virtual operator and every flow it backs serve only this
//! machine: a loopback `Host`, and no forwarding header. Explicit `SANDBOX=on` is a
//! deliberate test deployment and is not restricted.

use serde_json::json;

use crate::helpers::{manual_client, Server, TestApp};

const VERIFIED: &str = "+99012345678";

async fn status_and_body(request: reqwest::RequestBuilder) -> (u16, String, String) {
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    let kind = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, r.text().await.unwrap())
}

fn assert_refused_json(answer: (u16, String, String)) {
    let (status, kind, body) = answer;
    assert_eq!(status, 403, "{body}");
    assert!(kind.starts_with("application/json"), "{kind}: {body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "sandbox_local_only", "{body}");
    assert!(body["message"].as_str().unwrap().contains("SANDBOX=auto"), "{body}");
}

fn assert_refused_page(answer: (u16, String, String)) {
    let (status, kind, body) = answer;
    assert_eq!(status, 403, "{body}");
    assert!(kind.starts_with("text/html"), "{kind}: {body}");
    assert!(body.contains("SANDBOX=auto"), "{body}");
}

#[tokio::test]
async fn under_auto_requests_through_a_proxy_or_to_a_public_host_are_refused() {
    let app = TestApp::start(&[]).await;
    let client = manual_client();
    let login = |headers: &[(&'static str, &'static str)]| {
        let mut request = client.post(app.url("/login")).json(&json!({ "phone": VERIFIED }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
    };
    for proxied in [
        ("x-forwarded-for", "198.51.100.7"),
        ("forwarded", "for=198.51.100.7"),
        ("host", "verify.example.com"),
    ] {
        assert_refused_json(status_and_body(login(&[proxied])).await);
    }
    let callback = client
        .get(app.url("/callback?code=c&state=s"))
        .header("x-forwarded-for", "198.51.100.7");
    assert_refused_json(status_and_body(callback).await);
    let server_fn = client
        .post(app.url("/api/start"))
        .header("host", "verify.example.com")
        .form(&[("phone", VERIFIED), ("protocol", "mobile-connect")]);
    assert_refused_json(status_and_body(server_fn).await);
    let page = client.get(app.url("/")).header("x-forwarded-for", "198.51.100.7");
    assert_refused_page(status_and_body(page).await);
    let operator = client
        .get(app.url("/sandbox/.well-known/openid-configuration"))
        .header("forwarded", "for=198.51.100.7");
    assert_refused_page(status_and_body(operator).await);

    // This machine, directly: every flow still runs; the health check answers anyone.
    let local = app.login(json!({ "phone": VERIFIED })).await;
    assert_eq!(local.status, 200, "{local}");
    let health = client
        .get(app.url("/healthz"))
        .header("x-forwarded-for", "198.51.100.7");
    assert_eq!(status_and_body(health).await.0, 200);
}

#[tokio::test]
async fn an_explicit_sandbox_on_is_not_restricted() {
    let app = TestApp::start(&[("SANDBOX", "on")]).await;
    let started = app
        .login_with(json!({ "phone": VERIFIED }), &[("x-forwarded-for", "198.51.100.7")])
        .await;
    assert_eq!(started.status, 200, "{started}");
}
