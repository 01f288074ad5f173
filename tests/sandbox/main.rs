//! Contract tests of the virtual operator over real HTTP (docs/reference.md §2 and §5).
//!
//! Each test starts the sandbox on its own port, nested under `/sandbox` as the app
//! mounts it, and drives it with a reqwest client that follows no redirects on its own:
//! every hop of an authorization is checked. One file per protocol or topic; what they
//! share is in `harness`.
#![cfg(all(feature = "ssr", feature = "sandbox"))]

mod harness;

mod bounds;
mod camara;
mod camara_v2;
mod device;
mod faults;
mod id_token;
mod mobile_connect;
mod sms;
mod ts43;
