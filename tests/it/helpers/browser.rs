//! A browser without JavaScript, driven by hand over real HTTP.

use super::{absolute, location, manual_client, Server, TestApp};

/// A browser without JavaScript: one cookie jar, redirects followed by hand so that
/// every hop can be checked.
pub struct Browser {
    pub client: reqwest::Client,
    cookies: Vec<(String, String)>,
    extra: Vec<(String, String)>,
}

impl Browser {
    pub fn new() -> Self {
        Self {
            client: manual_client(),
            cookies: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn remember(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let pair = set.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.into(), v.into()));
            }
        }
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> reqwest::Response {
        let mut request = request
            .header("accept", "text/html,application/xhtml+xml")
            .header("cookie", self.cookie_header());
        for (k, v) in &self.extra {
            request = request.header(k, v);
        }
        let response = request.send().await.unwrap();
        self.remember(&response);
        response
    }

    /// Follows redirects from `response` to the final page; returns its URL and HTML.
    pub async fn follow(&mut self, mut response: reqwest::Response) -> (String, String) {
        for _ in 0..10 {
            if !response.status().is_redirection() {
                let url = response.url().to_string();
                return (url, response.text().await.unwrap());
            }
            let next = absolute(response.url(), &location(&response));
            response = self.send(self.client.get(&next)).await;
        }
        panic!("too many redirects");
    }

    pub async fn verify(&mut self, app: &TestApp, phone: &str, protocol: &str) -> (String, String) {
        let post = self
            .send(
                self.client
                    .post(app.url("/api/start"))
                    .header("referer", app.url("/"))
                    .form(&[("phone", phone), ("protocol", protocol)]),
            )
            .await;
        assert!(
            post.status().is_redirection(),
            "a plain form post is answered with a redirect, got {}",
            post.status()
        );
        self.follow(post).await
    }
}
