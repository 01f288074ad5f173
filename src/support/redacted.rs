//! Newtypes for values that must never reach a log: their `Debug` shows only the length.
//! After oauth2-rs's `new_secret_type!`.

/// Declares `pub struct $name(String)` with `new`, `secret` (the value, for the wire
/// only) and a redacting `Debug`.
macro_rules! redacted_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        // Serde: stores keep some of these (state, nonce, session) for the flow's lifetime.
        #[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The value itself, for the wire only. Never log it.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "(…{} chars)"), self.0.len())
            }
        }
    };
}
pub(crate) use redacted_newtype;

redacted_newtype!(
    /// A credential from configuration (a client secret, a Redis URL with its password):
    /// the one secret type of the crate.
    Secret
);

#[cfg(test)]
mod tests {
    use super::*;

    redacted_newtype!(Example);

    #[test]
    fn debug_shows_the_length_only() {
        let value = Example::new("abc-secret");
        assert_eq!(format!("{value:?}"), "Example(…10 chars)");
        assert_eq!(value.secret(), "abc-secret");
        assert_eq!(format!("{:?}", Secret::new("pw")), "Secret(…2 chars)");
    }
}
