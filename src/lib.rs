//! Number Verify: silent phone-number verification through the mobile operator.
//!
//! Shared by both builds: the page (`app`, `pages`, `components`) and the phone-number
//! normaliser. The server-only parts live behind the `ssr` feature; the virtual operator
//! (`sandbox`) is a separate system that the app reaches over HTTP only.

pub mod api;
pub mod app;
pub mod components;
pub mod pages;
pub mod phone;
pub mod protocol;

#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod handlers;
#[cfg(feature = "ssr")]
pub mod operators;
/// The virtual operator: a separate system the app reaches over HTTP only.
#[cfg(feature = "ssr")]
pub mod sandbox;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod verification;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
