//! The operator's answer at `/callback`, read strictly. A query an operator would not send
//! — a parameter given twice (which one would we trust?), a value longer than any
//! operator's, control characters — is refused as a whole before any record is touched.
//! Parameters we do not use (`iss`, `session_state`, `correlation_id`…) are ignored, as
//! OAuth 2.0 asks of clients.

use super::CallbackParams;

/// Longest `code` or `state` accepted: operators' are tens of characters.
pub const MAX_VALUE: usize = 512;
/// Longest `error_description` accepted.
pub const MAX_DESCRIPTION: usize = 1024;

/// Why a callback query is refused (names the parameter, never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryProblem {
    #[error("parameter `{0}` appears more than once")]
    Repeated(&'static str),
    #[error("parameter `{0}` is longer than any operator's")]
    TooLong(&'static str),
    #[error("parameter `{0}` contains control characters")]
    ControlCharacters(&'static str),
}

/// Reads `code`, `state`, `error` and `error_description` from a raw query string
/// (percent-decoding as `application/x-www-form-urlencoded`).
pub fn parse(query: &str) -> Result<CallbackParams, QueryProblem> {
    let mut params = CallbackParams::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let (name, slot, max): (&'static str, &mut Option<String>, usize) = match name.as_ref() {
            "code" => ("code", &mut params.code, MAX_VALUE),
            "state" => ("state", &mut params.state, MAX_VALUE),
            "error" => ("error", &mut params.error, MAX_VALUE),
            "error_description" => ("error_description", &mut params.error_description, MAX_DESCRIPTION),
            _ => continue,
        };
        if slot.is_some() {
            return Err(QueryProblem::Repeated(name));
        }
        if value.chars().count() > max {
            return Err(QueryProblem::TooLong(name));
        }
        if value.chars().any(char::is_control) {
            return Err(QueryProblem::ControlCharacters(name));
        }
        *slot = Some(value.into_owned());
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        q.finish()
    }

    #[test]
    fn an_operators_answer_is_read() {
        let p = parse("code=abc&state=s%2B1&iss=https%3A%2F%2Fop&session_state=x").unwrap();
        assert_eq!(p.code.as_deref(), Some("abc"));
        assert_eq!(p.state.as_deref(), Some("s+1"));
        assert_eq!((p.error, p.error_description), (None, None));
        let p = parse("error=access_denied&error_description=Not+on+mobile+data&state=s").unwrap();
        assert_eq!(p.error.as_deref(), Some("access_denied"));
        assert_eq!(p.error_description.as_deref(), Some("Not on mobile data"));
        assert_eq!(parse("").unwrap().state, None);
    }

    #[test]
    fn what_no_operator_sends_is_refused_by_name() {
        assert_eq!(parse("state=a&state=b"), Err(QueryProblem::Repeated("state")));
        assert_eq!(parse("code=a&state=s&code=a"), Err(QueryProblem::Repeated("code")));
        assert_eq!(parse("state=a%00b"), Err(QueryProblem::ControlCharacters("state")));
        assert_eq!(
            parse("error=x&error_description=line%0Abreak"),
            Err(QueryProblem::ControlCharacters("error_description"))
        );
        let long = "a".repeat(MAX_VALUE + 1);
        assert_eq!(parse(&query(&[("code", &long)])), Err(QueryProblem::TooLong("code")));
        assert!(parse(&query(&[("code", &long[1..])])).is_ok());
    }

    /// A value an operator could send: printable, bounded.
    fn value() -> impl Strategy<Value = String> {
        "[ -~\u{a0}-\u{2fff}]{1,64}"
    }

    proptest! {
        /// Anything at all: no panic; and what is accepted holds no control characters
        /// and no value past its bound.
        #[test]
        fn any_query_is_answered_without_panic(raw in any::<String>(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for q in [raw, String::from_utf8_lossy(&bytes).into_owned()] {
                if let Ok(p) = parse(&q) {
                    for v in [&p.code, &p.state, &p.error, &p.error_description].into_iter().flatten() {
                        prop_assert!(!v.chars().any(char::is_control));
                        prop_assert!(v.chars().count() <= MAX_DESCRIPTION);
                    }
                }
            }
        }

        /// What an operator sends comes back exactly, in any order, among unknown parameters.
        #[test]
        fn an_answer_round_trips(
            code in proptest::option::of(value()),
            state in proptest::option::of(value()),
            error in proptest::option::of(value()),
            description in proptest::option::of(value()),
            extra in value(),
            reversed in any::<bool>(),
        ) {
            let mut pairs: Vec<(&str, &str)> = vec![("iss", extra.as_str())];
            for (k, v) in [("code", &code), ("state", &state), ("error", &error), ("error_description", &description)] {
                if let Some(v) = v {
                    pairs.push((k, v.as_str()));
                }
            }
            if reversed {
                pairs.reverse();
            }
            let p = parse(&query(&pairs)).unwrap();
            prop_assert_eq!(p.code, code);
            prop_assert_eq!(p.state, state);
            prop_assert_eq!(p.error, error);
            prop_assert_eq!(p.error_description, description);
        }

        /// A repeated parameter is refused wherever the repeat is.
        #[test]
        fn a_repeat_is_refused(name in prop::sample::select(vec!["code", "state", "error", "error_description"]), a in value(), b in value(), other in value()) {
            let q = query(&[(name, a.as_str()), ("x", other.as_str()), (name, b.as_str())]);
            prop_assert_eq!(parse(&q), Err(QueryProblem::Repeated(name)));
        }
    }
}
