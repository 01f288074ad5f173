//! Number Verify: silent phone-number verification through the mobile operator.
//!
//! Two systems that meet only over HTTP: the app (page, server functions, JSON API,
//! operator clients) and the virtual operator (`sandbox`, behind the cargo feature of the
//! same name). Shared by both builds of the page: `app`, `pages`, `components`, and the
//! values they show (`phone`, `protocol`, `outcome`). Server-only parts live behind the
//! `ssr` feature.

/// The HTML shell and the routes: rendered on the server only (islands).
#[cfg(feature = "ssr")]
pub mod app;
pub mod components;
pub mod outcome;
pub mod pages;
pub mod phone;
pub mod protocol;
pub mod sandbox_contract;

#[cfg(feature = "ssr")]
pub mod assets;
#[cfg(feature = "ssr")]
pub mod config;
/// Signed CloudEvents to the integrator: the outbox and its delivery.
#[cfg(feature = "ssr")]
pub mod events;
#[cfg(feature = "ssr")]
pub mod http;
#[cfg(feature = "ssr")]
pub mod metrics;
#[cfg(feature = "ssr")]
pub mod oidc;
#[cfg(feature = "ssr")]
pub mod operators;
#[cfg(feature = "ssr")]
pub mod page_compression;
#[cfg(feature = "ssr")]
pub mod relying_parties;
#[cfg(feature = "ssr")]
pub mod routes;
/// The virtual operator: a separate system the app reaches over HTTP only.
#[cfg(all(feature = "ssr", feature = "sandbox"))]
pub mod sandbox;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod sessions;
#[cfg(feature = "ssr")]
pub mod startup;
#[cfg(feature = "ssr")]
pub mod state;
#[cfg(feature = "ssr")]
pub mod support;
#[cfg(feature = "ssr")]
pub mod telemetry;
#[cfg(feature = "ssr")]
pub mod tokens;
#[cfg(feature = "ssr")]
pub mod verification;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Islands: only the interactive parts of the page are hydrated.
    leptos::mount::hydrate_islands();
}
