#[cfg(feature = "ssr")]
pub mod authorize;
pub mod verify;
