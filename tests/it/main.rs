//! The app's integration tests: one binary (each test binary links the whole crate), a
//! module per topic, and what they share in [`helpers`]. Built only with the virtual
//! operator (`required-features` in Cargo.toml): every flow here runs against it.
//!
//! Beside it: `tests/startup/`, which also runs on the server built without the virtual
//! operator, and `tests/sandbox/`, the virtual operator's own tests.

mod helpers;

mod api_flows;
mod assets;
mod bad_input;
mod camara_standard;
mod codes;
mod connections;
mod credential;
mod docs;
mod drain;
mod edge;
mod events;
mod handoff;
mod health;
mod id_token;
mod layout;
mod lockout;
mod log_privacy;
mod metrics;
mod oidc_flows;
mod oidc_refusals;
mod oidc_tokens;
mod operator_answers;
mod page_flows;
mod proxies;
mod redis_keys;
mod refusals;
mod sandbox_auto;
mod scale_out;
mod sessions;
mod shared_address;
mod store_backends;
mod two_processes;
mod vonage_jwt;
