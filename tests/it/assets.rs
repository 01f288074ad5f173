//! Static files over HTTP: hashed names the page links, compressed once and chosen by
//! `Accept-Encoding`, cacheable for a year under hashed names only; pages gzipped whole,
//! tiny answers not compressed. The server serves tests/fixtures/site.

use std::io::Read;

use crate::helpers::{Server, TestApp, FIXTURE_SITE};
use sha2::{Digest, Sha256};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURE_SITE}{path}")).expect("a fixture file")
}

fn hex16(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..8])
}

fn unbrotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::BrotliDecompress(&mut &body[..], &mut out).expect("valid brotli");
    out
}

fn ungzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    // reqwest is built without decompression here: bodies arrive as sent.
    let mut request = reqwest::Client::new().get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The hashed names, computed here from the files, independently of the server.
fn hashed_names() -> (String, String, String) {
    let (js, wasm, css) = (
        fixture("/pkg/number-verify.js"),
        fixture("/pkg/number-verify.wasm"),
        fixture("/pkg/number-verify.css"),
    );
    let bundle = hex16(&[&js, &wasm]);
    (
        format!("/pkg/number-verify.{bundle}.js"),
        format!("/pkg/number-verify.{bundle}.wasm"),
        format!("/pkg/number-verify.{}.css", hex16(&[&css])),
    )
}

#[tokio::test]
async fn the_page_links_the_bundle_and_stylesheet_by_content_hash() {
    let app = TestApp::start(&[("SANDBOX", "on")]).await;
    let page = get(&app, "/", &[]).await.text().await.unwrap();
    let (js, wasm, css) = hashed_names();
    assert!(
        page.contains(&format!(r#"<link rel="modulepreload" href="{js}""#)),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"<link rel="preload" href="{wasm}""#)),
        "{page}"
    );
    assert!(
        page.contains(&format!(r#"<link rel="stylesheet" id="leptos" href="{css}">"#)),
        "{page}"
    );
    // The loader script asks for the same pair.
    let bundle = js.trim_start_matches("/pkg/").trim_end_matches(".js");
    assert!(
        page.contains(&format!(r#"("", "pkg", "{bundle}", "{bundle}""#)),
        "{page}"
    );
    // Only the interactive parts are islands.
    assert!(page.contains(r#"<leptos-island data-component="VerifyForm_"#), "{page}");
    assert!(page.contains(r#"<leptos-island data-component="WifiHint_"#), "{page}");
    assert!(!page.contains(r#"data-component="SimulatedSim"#), "{page}");
    // Island props are decoded with serde_json in the browser: no island takes any, so
    // serde_json stays out of the wasm.
    assert!(!page.contains("data-props"), "{page}");
}

#[tokio::test]
async fn hashed_files_come_compressed_by_accept_encoding_and_cached_for_a_year() {
    let app = TestApp::start(&[("SANDBOX", "on")]).await;
    let (js, wasm, css) = hashed_names();
    for (path, original, content_type) in [
        (&wasm, fixture("/pkg/number-verify.wasm"), "application/wasm"),
        (&js, fixture("/pkg/number-verify.js"), "text/javascript; charset=utf-8"),
        (&css, fixture("/pkg/number-verify.css"), "text/css; charset=utf-8"),
    ] {
        for (accept, encoding) in [
            ("gzip, deflate, br", Some("br")),
            ("gzip, deflate", Some("gzip")),
            ("br;q=0, gzip", Some("gzip")),
            ("identity", None),
            ("", None),
        ] {
            let r = get(&app, path, &[("accept-encoding", accept)]).await;
            assert_eq!(r.status(), 200, "{path} {accept}");
            assert_eq!(header(&r, "content-encoding"), encoding, "{path} {accept}");
            assert_eq!(header(&r, "content-type"), Some(content_type), "{path}");
            assert_eq!(
                header(&r, "cache-control"),
                Some("public, max-age=31536000, immutable"),
                "{path}"
            );
            assert_eq!(header(&r, "vary"), Some("accept-encoding"), "{path}");
            let length: usize = header(&r, "content-length").expect("a Content-Length").parse().unwrap();
            let body = r.bytes().await.unwrap();
            assert_eq!(length, body.len(), "{path} {accept}");
            let decoded = match encoding {
                Some("br") => unbrotli(&body),
                Some("gzip") => ungzip(&body),
                _ => body.to_vec(),
            };
            assert_eq!(decoded, original, "{path} {accept}: the file itself");
            if encoding.is_some() {
                assert!(body.len() < original.len() / 2, "{path} {accept}: {} bytes", body.len());
            }
        }
    }
    // A name with another hash (an old deploy's) is not this file.
    let r = get(&app, "/pkg/number-verify.0123456789abcdef.wasm", &[]).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn plain_names_and_the_favicon_are_revalidated_with_their_etag() {
    let app = TestApp::start(&[("SANDBOX", "on")]).await;
    let r = get(&app, "/pkg/number-verify.wasm", &[("accept-encoding", "br")]).await;
    assert_eq!(header(&r, "cache-control"), Some("no-cache"));
    assert_eq!(header(&r, "content-encoding"), Some("br"));
    let etag = header(&r, "etag").expect("an ETag").to_owned();
    assert_eq!(unbrotli(&r.bytes().await.unwrap()), fixture("/pkg/number-verify.wasm"));

    let r = get(
        &app,
        "/pkg/number-verify.wasm",
        &[
            ("accept-encoding", "br"),
            ("if-none-match", &format!("\"other\", {etag}")),
        ],
    )
    .await;
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.unwrap().is_empty());
    // The gzip copy is another representation: its own tag, so the brotli one does not match.
    let r = get(
        &app,
        "/pkg/number-verify.wasm",
        &[("accept-encoding", "gzip"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), Some("gzip"));

    // 231 bytes: not worth compressing, and not immutable.
    let r = get(&app, "/favicon.ico", &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-encoding"), None);
    assert_eq!(header(&r, "cache-control"), Some("no-cache"));
    assert_eq!(header(&r, "content-type"), Some("image/x-icon"));
    assert_eq!(r.bytes().await.unwrap().to_vec(), fixture("/favicon.ico"));
}

#[tokio::test]
async fn the_page_is_gzipped_whole_and_tiny_answers_are_not_compressed() {
    let app = TestApp::start(&[("SANDBOX", "on")]).await;
    for accept in ["gzip, deflate, br", "gzip"] {
        let r = get(&app, "/", &[("accept-encoding", accept)]).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-encoding"), Some("gzip"), "{accept}");
        assert_eq!(header(&r, "vary"), Some("accept-encoding"));
        assert_eq!(header(&r, "cache-control"), Some("no-store"));
        let length: usize = header(&r, "content-length").expect("a Content-Length").parse().unwrap();
        let body = r.bytes().await.unwrap();
        assert_eq!(length, body.len());
        let page = String::from_utf8(ungzip(&body)).unwrap();
        assert!(page.contains("Verify your phone number!"), "{page}");
        assert!(body.len() < page.len() / 2, "{} of {} bytes", body.len(), page.len());
    }
    // Brotli only, or nothing: the page as it is, still saying it varies.
    for accept in ["br", "identity", "gzip;q=0"] {
        let r = get(&app, "/", &[("accept-encoding", accept)]).await;
        assert_eq!(header(&r, "content-encoding"), None, "{accept}");
        assert_eq!(header(&r, "vary"), Some("accept-encoding"));
        assert!(r.text().await.unwrap().contains("Verify your phone number!"));
    }

    let r = get(&app, "/healthz", &[("accept-encoding", "gzip, deflate, br")]).await;
    assert_eq!(header(&r, "content-encoding"), None);
    assert_eq!(r.text().await.unwrap(), "ok\n");
}

/// Only the form has islands: a result or error page, and a 404, load no script or wasm.
#[tokio::test]
async fn only_the_form_page_loads_the_bundle() {
    let app = TestApp::start(&[("SANDBOX", "on")]).await;
    let (js, wasm, _) = hashed_names();
    let form = get(&app, "/?utm=1", &[]).await.text().await.unwrap();
    assert!(form.contains(&wasm) && form.contains(&js), "{form}");
    for path in [
        "/?result=0123456789abcdef0123456789abcdef",
        "/?error=replayed",
        "/no-such-page",
    ] {
        let page = get(&app, path, &[]).await.text().await.unwrap();
        // (Leptos' few inline bytes of resource bookkeeping stay; no module is loaded.)
        assert!(
            !page.contains(".wasm") && !page.contains("type=\"module\""),
            "{path}: {page}"
        );
        assert!(page.contains("rel=\"stylesheet\""), "{path}: {page}");
    }
}
