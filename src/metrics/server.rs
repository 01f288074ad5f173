//! The metrics listener (`METRICS_ADDR`): `GET /metrics` and nothing else, on an address
//! of its own so the public port never shows it.

use std::sync::Arc;

use axum::{extract::State, http::header, response::IntoResponse, routing::get, Router};

use super::{Metrics, CONTENT_TYPE};
use crate::events::Events;

type Watched = (Arc<Metrics>, Option<Arc<Events>>);

pub fn router(metrics: Arc<Metrics>, events: Option<Arc<Events>>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state((metrics, events))
}

async fn scrape(State((metrics, events)): State<Watched>) -> impl IntoResponse {
    if let Some(events) = events {
        metrics.set_event_queue_depth(events.depth().await);
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render())
}
