//! Small views shared by pages.

pub mod phone_field;
pub mod protocol_choice;
#[cfg(feature = "ssr")]
pub mod qr;
