//! `GET /handoff/events?w=<watch id>` — the desktop's live handoff status as server-sent
//! events (text/event-stream): one event now, one each time the handoff changes (the
//! phone continued; the verdict), then the stream ends.
//!
//! Each event's data is `{"phase", "class", "text"}` — `phase` is `waiting`, `continued`,
//! `verified`, `invalid`, `error` or `expired`; `class` and `text` are the page's status
//! line — and `"final": "yes"` on the last. Only the browser session that started the
//! handoff may follow it (404 for anyone else, as for an unknown id).
//!
//! Whichever instance holds the stream hears of the change through the store's channel
//! (Redis Pub/Sub with several instances), then reads the record again; it also reads it
//! every [`RECHECK`], so a message lost in a Redis reconnect costs latency only.

use std::{convert::Infallible, sync::Arc, time::Duration};

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Json,
};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::{broadcast, watch};

use crate::{
    outcome::Verdict,
    pages::handoff::waiting_status,
    state::AppState,
    verification::{
        handoff::{Phase, Watch},
        store::now_ms,
        SessionId, Verifier, WatchId,
    },
};

/// How often a stream reads its record again without being woken.
const RECHECK: Duration = Duration::from_secs(5);
/// A comment every so often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn events(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let id = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "w")
        .and_then(|(_, value)| WatchId::parse(&value));
    let reader = state.sessions.read(&headers).await;
    let (Some(id), Some(reader)) = (id, reader) else {
        tracing::info!("handoff events refused: no handoff id or no session");
        return not_found();
    };
    // Subscribed before the first read: a change between the two still wakes the stream.
    let wake = state.verifier.notices.subscribe();
    let closing = state.verifier.notices.closing();
    match state.verifier.watch(&id, Some(&reader)).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            tracing::info!("handoff events for an unknown handoff or another browser's");
            return not_found();
        }
        Err(e) => {
            e.log();
            return e.into_response();
        }
    }
    let follow = Follow {
        verifier: state.verifier.clone(),
        id,
        reader,
        wake,
        closing,
        sent: None,
        ended: false,
    };
    Sse::new(follow.into_stream())
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

fn not_found() -> Response {
    let body = json!({ "error": "unknown_handoff", "message": "No such handoff in this browser." });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// One desktop's stream: what it has sent, and what wakes it.
struct Follow {
    verifier: Arc<Verifier>,
    id: WatchId,
    reader: SessionId,
    wake: broadcast::Receiver<String>,
    closing: watch::Receiver<bool>,
    /// The phase of the last event sent.
    sent: Option<&'static str>,
    ended: bool,
}

impl Follow {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures_util::stream::unfold(self, |mut follow| async move {
            let event = follow.next_event().await?;
            Some((Ok(event), follow))
        })
    }

    /// The next change worth an event; `None` once the stream is over.
    async fn next_event(&mut self) -> Option<Event> {
        if self.ended {
            return None;
        }
        loop {
            let watch = match self.verifier.watch(&self.id, Some(&self.reader)).await {
                Ok(Some(watch)) => watch,
                // Forgotten (long after its expiry): nothing more will come.
                Ok(None) => return None,
                Err(e) => {
                    // The store will answer again; until then, wait as for news.
                    e.log();
                    self.wait(RECHECK).await?;
                    continue;
                }
            };
            let (phase, class, text) = status_of(&watch);
            let last = matches!(phase, "verified" | "invalid" | "error" | "expired");
            if self.sent != Some(phase) {
                self.sent = Some(phase);
                self.ended = last;
                let mut data = json!({ "phase": phase, "class": class, "text": text });
                if last {
                    data["final"] = json!("yes");
                }
                return Some(Event::default().data(data.to_string()));
            }
            if last {
                return None;
            }
            let until_expiry = Duration::from_millis(watch.expires_at_ms.saturating_sub(now_ms()));
            // Woken at the link's expiry too, to say so.
            let nap = if watch.phase == Phase::Waiting {
                RECHECK.min(until_expiry + Duration::from_millis(1))
            } else {
                RECHECK
            };
            self.wait(nap).await?;
        }
    }

    /// Until this handoff's news, `nap`, or the server's drain (`None`: end the stream).
    async fn wait(&mut self, nap: Duration) -> Option<()> {
        let sleep = tokio::time::sleep(nap);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                news = self.wake.recv() => match news {
                    Ok(id) if id == self.id.secret() => return Some(()),
                    Ok(_) => continue,
                    // Fell behind: read the record again, something may be ours.
                    Err(broadcast::error::RecvError::Lagged(_)) => return Some(()),
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = &mut sleep => return Some(()),
                _ = self.closing.wait_for(|closing| *closing) => return None,
            }
        }
    }
}

/// The event's `(phase, class, text)` for where `watch` stands.
fn status_of(watch: &Watch) -> (&'static str, String, String) {
    match &watch.phase {
        Phase::Finished(outcome) => {
            let phase = match outcome.verdict {
                Verdict::Verified => "verified",
                Verdict::Invalid => "invalid",
                Verdict::Error(_) => "error",
            };
            let (class, text) = outcome.headline();
            (phase, class.to_owned(), text)
        }
        _ => {
            let (class, text) = waiting_status(watch);
            let phase = if watch.expired() {
                "expired"
            } else if watch.phase == Phase::Continued {
                "continued"
            } else {
                "waiting"
            };
            (phase, class, text)
        }
    }
}
