//! A client of a server-sent-events stream (text/event-stream), as a browser's
//! `EventSource` reads it: events separated by a blank line, `data:` lines joined.

use std::time::Duration;

use serde_json::Value;

/// How long a test waits for an event before it fails (a bound, not a synchronisation).
const EVENT_BOUND: Duration = Duration::from_secs(20);

pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    /// Opens `url` with `cookie`; panics unless it answers 200 text/event-stream.
    pub async fn open(client: &reqwest::Client, url: &str, cookie: &str) -> EventStream {
        let response = client
            .get(url)
            .header("accept", "text/event-stream")
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let kind = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(kind.starts_with("text/event-stream"), "{kind}");
        EventStream {
            response,
            buffer: String::new(),
        }
    }

    /// The next event's data as JSON (comments and keep-alives skipped); `None` once the
    /// server ended the stream.
    pub async fn next(&mut self) -> Option<Value> {
        tokio::time::timeout(EVENT_BOUND, self.next_unbounded())
            .await
            .unwrap_or_else(|_| panic!("no event within {EVENT_BOUND:?}; read so far: {:?}", self.buffer))
    }

    async fn next_unbounded(&mut self) -> Option<Value> {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let data: Vec<&str> = block
                    .lines()
                    .filter_map(|line| line.strip_prefix("data:"))
                    .map(|d| d.strip_prefix(' ').unwrap_or(d))
                    .collect();
                if !data.is_empty() {
                    return Some(serde_json::from_str(&data.join("\n")).unwrap());
                }
            }
            match self.response.chunk().await.unwrap() {
                Some(bytes) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                None => return None,
            }
        }
    }
}
