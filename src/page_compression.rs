//! Rendered pages, gzipped in one shot.
//!
//! A page is rendered whole before it is sent (`SsrMode::Async`), a few KB, and differs on
//! every response (its CSP nonce), so it is compressed per response. tower-http's
//! streaming compression set up a new zlib stream for each (state allocated and cleared,
//! data copied through async buffers): ~15 % of the server's CPU on `GET /` (perf,
//! scripts/bench.sh). libdeflate compresses a whole buffer with a compressor each thread
//! keeps. Gzip rather than brotli: on a page this size brotli's fast levels come out no
//! smaller (1,948 vs 1,900 bytes) for more CPU; the static files carry brotli.

use std::cell::RefCell;

use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use libdeflater::{CompressionLvl, Compressor};

use crate::assets::Encoding;

/// Pages smaller than this go as they are: under one TCP segment, compressing saves no
/// round trip.
pub const COMPRESS_FROM: usize = 1400;
/// No page is near this; a body beyond it is a bug, answered 500 rather than buffered.
const PAGE_LIMIT: usize = 4 * 1024 * 1024;
/// libdeflate's fastest level: on the 4 KB page 1,725 bytes against 1,697 at its default
/// level 6, which cost ~8 % of `GET /` throughput (scripts/bench.sh).
const LEVEL: i32 = 1;

thread_local! {
    static COMPRESSOR: RefCell<Compressor> =
        RefCell::new(Compressor::new(CompressionLvl::new(LEVEL).unwrap_or_default()));
}

/// Middleware: an HTML answer (without an encoding yet) to a client that accepts gzip is
/// gzipped; every HTML answer says it varies by `Accept-Encoding`.
pub async fn gzip_pages(request: Request, next: Next) -> Response {
    let gzip = Encoding::accepted(request.headers().get(header::ACCEPT_ENCODING), Encoding::Gzip);
    let mut response = next.run(request).await;
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    if !is_html || response.headers().contains_key(header::CONTENT_ENCODING) {
        return response;
    }
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if !gzip {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let page = match axum::body::to_bytes(body, PAGE_LIMIT).await {
        Ok(page) => page,
        Err(e) => {
            tracing::error!(error = %e, "a page could not be read for compression");
            return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    if page.len() < COMPRESS_FROM {
        return Response::from_parts(parts, Body::from(page));
    }
    let gzipped = COMPRESSOR.with(|compressor| {
        let mut compressor = compressor.borrow_mut();
        let mut out = vec![0; compressor.gzip_compress_bound(page.len())];
        compressor.gzip_compress(&page, &mut out).map(|written| {
            out.truncate(written);
            out
        })
    });
    match gzipped {
        Ok(gzipped) => {
            parts
                .headers
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(gzipped))
        }
        Err(e) => {
            // Only an output buffer too small, which the bound rules out: send it plain.
            tracing::warn!(error = ?e, "a page could not be gzipped; sent as it is");
            Response::from_parts(parts, Body::from(page))
        }
    }
}
