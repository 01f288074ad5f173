//! Desktop → phone handoff over real HTTP, as two browsers without JavaScript drive it
//! (the desktop also follows its live status as `EventSource` would): the desktop starts
//! it and shows a QR code; the phone opens the link, sees the number and the match code,
//! continues through the virtual operator; the desktop hears the verdict at once. Links
//! work once, expire, and a foreign one verifies nothing.
//! Across two instances on one Redis: `scale_out`.

use std::time::Duration;

use crate::helpers::{absolute, browser::Browser, location, sse::EventStream, Server, TestApp};

pub const DESKTOP_UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";
pub const PHONE_UA: &str =
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36";

/// The desktop's side once it started a handoff.
pub struct Desktop {
    pub browser: Browser,
    /// `/?handoff=<id>`
    pub page: String,
    pub watch: String,
    /// The phone's link, as the QR code and the link carry it.
    pub link: String,
    pub match_code: String,
}

impl Desktop {
    /// Types `phone` on `app`'s page and presses "Continue on your phone".
    pub async fn start(app: &impl Server, phone: &str) -> Desktop {
        let mut browser = Browser::new().header("user-agent", DESKTOP_UA);
        let post = browser
            .send(
                browser
                    .client
                    .post(app.url("/api/handoff/start"))
                    .header("referer", app.url("/"))
                    .form(&[("phone", phone)]),
            )
            .await;
        assert!(post.status().is_redirection(), "{}", post.status());
        let page = location(&post);
        assert!(page.starts_with("/?handoff="), "{page}");
        let watch = page["/?handoff=".len()..].to_owned();
        let html = browser
            .send(browser.client.get(app.url(&page)))
            .await
            .text()
            .await
            .unwrap();
        assert!(html.contains("<svg"), "a QR code on the desktop: {html}");
        assert!(html.contains(">Check</button>"), "a Check button without JavaScript");
        assert!(html.contains("Waiting for your phone"), "{html}");
        // The live status line names the watch for the island, which takes no props.
        assert_eq!(
            attribute(&html, "data-watch").as_deref(),
            Some(watch.as_str()),
            "{html}"
        );
        assert!(!html.contains("data-props"), "islands take no props: {html}");
        let link = attribute(&html, "data-handoff-url").expect("the link beside the QR code");
        assert!(link.contains("/handoff?h="), "{link}");
        assert!(
            html.contains(&format!(r#"href="{link}""#)),
            "the same link to open by hand"
        );
        let match_code = text_of(&html, r#"id="match-code""#);
        Desktop {
            browser,
            page,
            watch,
            link,
            match_code,
        }
    }

    /// Its live status, as the page's `EventSource` follows it, on `app`.
    pub async fn events(&self, app: &impl Server) -> EventStream {
        let url = app.url(&format!("/handoff/events?w={}", self.watch));
        EventStream::open(&self.browser.client, &url, &self.browser.cookie_header()).await
    }

    /// The page after "Check" (a reload, no JavaScript), on `app`.
    pub async fn check(&mut self, app: &impl Server) -> String {
        let page = self.browser.send(self.browser.client.get(app.url(&self.page))).await;
        self.browser.follow(page).await.1
    }
}

/// A phone's browser.
pub fn phone() -> Browser {
    Browser::new().header("user-agent", PHONE_UA)
}

/// `link` on `app` (the same path and query on another instance).
pub fn on(app: &impl Server, link: &str) -> String {
    let url = url::Url::parse(link).unwrap();
    app.url(&format!("{}?{}", url.path(), url.query().unwrap_or("")))
}

/// Opens the link: its page's HTML.
pub async fn open(phone: &mut Browser, url: &str) -> String {
    let page = phone.send(phone.client.get(url)).await;
    phone.follow(page).await.1
}

/// Presses Continue on the link's page (served by `app`): the response (a redirect to
/// the operator, or to why not).
pub async fn press_continue(phone: &mut Browser, app: &impl Server, link: &str) -> reqwest::Response {
    let secret = link.split("h=").nth(1).unwrap().to_owned();
    phone
        .send(
            phone
                .client
                .post(app.url("/api/handoff/continue"))
                .header("referer", on(app, link))
                .form(&[("h", secret.as_str())]),
        )
        .await
}

/// Opens the link, checks what the phone is shown, presses Continue and follows the
/// operator back: the final URL and page.
pub async fn continue_on(phone: &mut Browser, app: &impl Server, desktop: &Desktop, number: &str) -> (String, String) {
    let offer = open(phone, &on(app, &desktop.link)).await;
    assert!(offer.contains(number), "the phone shows the number: {offer}");
    assert!(!offer.contains("data-props"), "islands take no props: {offer}");
    assert!(
        offer.contains(&desktop.match_code),
        "the phone shows the desktop's match code {}: {offer}",
        desktop.match_code
    );
    let pressed = press_continue(phone, app, &desktop.link).await;
    assert!(pressed.status().is_redirection(), "{}", pressed.status());
    let to = absolute(pressed.url(), &location(&pressed));
    assert!(to.contains("/sandbox/"), "Continue leads to the operator: {to}");
    phone.follow(pressed).await
}

fn attribute(html: &str, name: &str) -> Option<String> {
    let start = html.find(&format!(r#"{name}=""#))? + name.len() + 2;
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

/// The text of the element whose start tag has `marker`.
fn text_of(html: &str, marker: &str) -> String {
    let at = html.find(marker).unwrap_or_else(|| panic!("no {marker} in {html}"));
    let start = html[at..].find('>').unwrap() + at + 1;
    let end = html[start..].find('<').unwrap() + start;
    html[start..end].to_owned()
}

#[tokio::test]
async fn a_desktop_is_offered_the_phone_and_a_phone_is_not() {
    let app = TestApp::start(&[]).await;
    let mut desktop = Browser::new().header("user-agent", DESKTOP_UA);
    let html = desktop
        .send(desktop.client.get(app.url("/")))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Continue on your phone"), "{html}");
    assert!(html.contains(r#"formaction="/api/handoff/start""#), "{html}");
    // Sandbox mode has the credential channel: the form's island reads it from the page.
    assert!(html.contains("data-credentials"), "{html}");
    // Beside the form's island, it belongs to the form by its `form` attribute.
    assert!(
        html.contains(r#"form="verify-form""#) && html.contains(r#"id="verify-form""#),
        "{html}"
    );
    let mut phone = phone();
    let html = phone.send(phone.client.get(app.url("/"))).await.text().await.unwrap();
    assert!(!html.contains("Continue on your phone"), "{html}");
}

#[tokio::test]
async fn the_phone_proves_the_number_and_the_desktop_hears_it_live() {
    let app = TestApp::start(&[]).await;
    let mut desktop = Desktop::start(&app, "+990 1234 5678").await;
    let mut events = desktop.events(&app).await;
    let first = events.next().await.unwrap();
    assert_eq!(first["phase"], "waiting", "{first}");
    assert_eq!(first["text"], "Waiting for your phone…");

    let mut phone = phone();
    let (url, html) = continue_on(&mut phone, &app, &desktop, "+99012345678").await;
    assert!(url.ends_with("/handoff?done"), "{url}");
    assert!(html.contains("Done — return to your computer."), "{html}");
    assert!(!html.contains("verified!"), "the verdict is the desktop's: {html}");

    let continued = events.next().await.unwrap();
    assert_eq!(continued["phase"], "continued", "{continued}");
    let verdict = events.next().await.unwrap();
    assert_eq!(verdict["phase"], "verified", "{verdict}");
    assert_eq!(verdict["text"], "+99012345678: verified!");
    assert_eq!(verdict["class"], "result verified");
    assert_eq!(verdict["final"], "yes");
    assert_eq!(events.next().await, None, "the stream ends with the verdict");

    // Without JavaScript: "Check" shows the same verdict.
    let checked = desktop.check(&app).await;
    assert!(checked.contains("+99012345678: verified!"), "{checked}");
    assert!(checked.contains("sandbox-note"), "a test result is marked as one");
}

#[tokio::test]
async fn a_link_works_for_one_phone_once() {
    let app = TestApp::start(&[]).await;
    let desktop = Desktop::start(&app, "+99012345678").await;
    let mut first = phone();
    let pressed = press_continue(&mut first, &app, &desktop.link).await;
    assert!(location(&pressed).contains("/sandbox/"), "the first phone goes on");

    // Another phone, while the first one is being verified: refused, told why.
    let mut second = phone();
    let html = open(&mut second, &desktop.link).await;
    assert!(html.contains("already been used"), "{html}");
    assert!(!html.contains(&desktop.match_code), "{html}");
    let refused = press_continue(&mut second, &app, &desktop.link).await;
    assert_eq!(location(&refused), "/handoff?error=handoff_used");
    let (_, html) = second.follow(refused).await;
    assert!(html.contains("already been used"), "{html}");

    // The first phone finishes; then nobody can use the link again, itself included.
    let (url, _) = first.follow(pressed).await;
    assert!(url.ends_with("/handoff?done"), "{url}");
    let html = open(&mut first, &desktop.link).await;
    assert!(html.contains("already been used"), "{html}");
    let again = press_continue(&mut first, &app, &desktop.link).await;
    assert_eq!(location(&again), "/handoff?error=handoff_used");
}

#[tokio::test]
async fn every_verdict_and_failure_reaches_the_desktop() {
    let app = TestApp::start(&[]).await;
    // (number, the phone's simulated condition, the verdict's phase, its text)
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str, &'a str);
    let cases: &[Case] = &[
        ("+99012345677", None, "invalid", "+99012345677: invalid!"),
        (
            "+99012345678",
            Some(("X-Sandbox-Network", "wifi")),
            "error",
            "use mobile data",
        ),
    ];
    for (number, condition, phase, text) in cases {
        let mut desktop = Desktop::start(&app, number).await;
        let mut events = desktop.events(&app).await;
        let mut phone = match condition {
            Some((name, value)) => phone().header(name, value),
            None => phone(),
        };
        let (url, _) = continue_on(&mut phone, &app, &desktop, number).await;
        assert!(url.ends_with("/handoff?done"), "{number}: {url}");
        let last = loop {
            let event = events.next().await.expect("an event before the stream ends");
            if event["final"] == "yes" {
                break event;
            }
        };
        assert_eq!(last["phase"], *phase, "{number}: {last}");
        assert!(last["text"].as_str().unwrap().contains(text), "{number}: {last}");
        let checked = desktop.check(&app).await;
        if *phase == "error" {
            // The phone's network check failed: the desktop may hand off again.
            assert!(checked.contains("Continue on your phone"), "{checked}");
        } else {
            assert!(checked.contains(text), "{checked}");
        }
    }
}

#[tokio::test]
async fn foreign_malformed_and_expired_links_verify_nothing() {
    let app = TestApp::start_with_ttl(&[], Duration::from_secs(2)).await;
    let mut phone = phone();
    let foreign = app.url(&format!("/handoff?h={}", "A".repeat(43)));
    let html = open(&mut phone, &foreign).await;
    assert!(html.contains("not one this service gave out"), "{html}");
    for malformed in ["/handoff?h=short", "/handoff", "/handoff?h=%3Cscript%3E"] {
        let html = open(&mut phone, &app.url(malformed)).await;
        assert!(html.contains("not one this service gave out"), "{malformed}: {html}");
        assert!(!html.contains("<script>"), "{malformed}");
    }
    let refused = press_continue(&mut phone, &app, &foreign).await;
    assert_eq!(location(&refused), "/handoff?error=handoff_unknown");

    let desktop = Desktop::start(&app, "+99012345678").await;
    let mut events = desktop.events(&app).await;
    assert_eq!(events.next().await.unwrap()["phase"], "waiting");
    // The stream itself says when the link expires (2 s here): that is what is awaited.
    let expired = events.next().await.unwrap();
    assert_eq!(expired["phase"], "expired", "{expired}");
    assert_eq!(expired["final"], "yes");
    let html = open(&mut phone, &desktop.link).await;
    assert!(html.contains("has expired"), "{html}");
    let refused = press_continue(&mut phone, &app, &desktop.link).await;
    assert_eq!(location(&refused), "/handoff?error=handoff_expired");
}

#[tokio::test]
async fn only_the_desktop_that_started_it_may_watch() {
    let app = TestApp::start(&[]).await;
    let desktop = Desktop::start(&app, "+99012345678").await;
    let stranger = Browser::new();
    let url = app.url(&format!("/handoff/events?w={}", desktop.watch));
    for cookie in [String::new(), stranger.cookie_header(), "nv_session=forged".to_owned()] {
        let answer = stranger.client.get(&url).header("cookie", cookie).send().await.unwrap();
        assert_eq!(answer.status(), 404);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"], "unknown_handoff");
    }
    let mut stranger = Browser::new().header("user-agent", DESKTOP_UA);
    let page = stranger.send(stranger.client.get(app.url(&desktop.page))).await;
    let (_, html) = stranger.follow(page).await;
    assert!(html.contains("belongs to another browser"), "{html}");
    assert!(!html.contains(&desktop.match_code), "{html}");
    assert!(!html.contains("data-handoff-url"), "{html}");
}

#[tokio::test]
async fn a_bad_number_is_refused_before_any_link_exists() {
    let app = TestApp::start(&[]).await;
    let mut desktop = Browser::new().header("user-agent", DESKTOP_UA);
    let post = desktop
        .send(
            desktop
                .client
                .post(app.url("/api/handoff/start"))
                .header("referer", app.url("/"))
                .form(&[("phone", "12345")]),
        )
        .await;
    assert_eq!(location(&post), "/?error=phone_country_code");
}
