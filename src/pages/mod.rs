#[cfg(feature = "ssr")]
pub mod authorize;
pub mod handoff;
#[cfg(feature = "ssr")]
pub mod request;
pub mod verify;
