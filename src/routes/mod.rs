//! The app's HTTP routes besides the page, one file per audience.

pub mod callback;
pub mod code;
pub mod handoff;
pub mod health;
pub mod login;
pub mod oidc;
