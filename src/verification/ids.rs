//! The app's own identifiers: who started a verification (the browser's session) and
//! where its result waits (the result id). Both are bearer values — whoever holds one
//! acts as its owner — so they redact in `Debug` like the protocol values.

use crate::support::{is_token_shaped, random_token, redacted::redacted_newtype};

redacted_newtype!(
    /// The value of the page's HttpOnly session cookie.
    SessionId
);
redacted_newtype!(
    /// Names a finished verification's result for the page (`/?result=`).
    ResultId
);

impl SessionId {
    pub fn random() -> Self {
        Self::new(random_token())
    }

    /// A value from a cookie, if it has the shape this app gives session ids.
    pub fn parse(value: &str) -> Option<Self> {
        is_token_shaped(value).then(|| Self::new(value))
    }
}

impl ResultId {
    pub fn random() -> Self {
        Self::new(random_token())
    }

    /// A value from a query string, if it has the shape this app gives result ids.
    pub fn parse(value: &str) -> Option<Self> {
        is_token_shaped(value).then(|| Self::new(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_values_of_our_shape_are_taken() {
        let id = SessionId::random();
        assert_eq!(SessionId::parse(id.secret()), Some(id.clone()));
        assert_eq!(SessionId::parse("x".repeat(32).as_str()), None);
        assert_eq!(ResultId::parse(""), None);
        assert!(!format!("{id:?}").contains(id.secret()));
    }
}
