//! Phone numbers: what people type → E.164.
//!
//! A light normaliser shared by the browser (live validation) and the server. It checks
//! E.164's shape — a `+`, a country code that does not start with 0, 8 to 15 digits in
//! all — and deliberately not a table of assigned country codes, so the virtual
//! operator's `+990` numbers pass and the wasm bundle stays small.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Fewest digits (country code included) we accept. E.164 itself allows shorter numbers,
/// but no mobile number that an operator can verify is shorter than this.
pub const MIN_DIGITS: usize = 8;
/// E.164's maximum.
pub const MAX_DIGITS: usize = 15;
/// Anything longer than this is not a typed phone number; refuse before looking closer.
const MAX_INPUT_CHARS: usize = 40;

/// A phone number normalised to E.164, with its leading `+` (e.g. `+447700900123`).
///
/// `Debug` and `Display` redact it, so a number can be logged without leaking it;
/// [`E164::as_str`] gives the full form for the operator and for the person's own page.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct E164(String);

impl E164 {
    /// The full number, `+` included. Not for logs: use `Display` there.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A form safe for logs: country code prefix and the last two digits only.
    pub fn redacted(&self) -> String {
        let digits = &self.0[1..];
        let keep_head = 3.min(digits.len());
        let keep_tail = 2.min(digits.len() - keep_head);
        let hidden = digits.len() - keep_head - keep_tail;
        format!(
            "+{}{}{}",
            &digits[..keep_head],
            "•".repeat(hidden),
            &digits[digits.len() - keep_tail..]
        )
    }
}

impl fmt::Debug for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "E164({})", self.redacted())
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl TryFrom<String> for E164 {
    type Error = PhoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        normalise(&value)
    }
}

impl From<E164> for String {
    fn from(value: E164) -> Self {
        value.0
    }
}

impl std::str::FromStr for E164 {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        normalise(s)
    }
}

/// Why a typed value is not a phone number. The `Display` text is shown to the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum PhoneError {
    #[error("Please enter a phone number.")]
    Empty,
    #[error("That is too long to be a phone number.")]
    TooLong,
    #[error("A phone number can only contain digits, spaces, dashes, brackets and a leading +; {} is not allowed.", shown(*.0))]
    InvalidCharacter(char),
    #[error("The + can only stand at the start of the number.")]
    MisplacedPlus,
    #[error("Please include the country code, starting with + or 00 (for example +44 7700 900123).")]
    MissingCountryCode,
    #[error("A country code never starts with 0.")]
    CountryCodeStartsWithZero,
    #[error("That number is too short: a phone number with its country code has at least {MIN_DIGITS} digits.")]
    TooShort,
    #[error("That number is too long: a phone number has at most {MAX_DIGITS} digits.")]
    TooManyDigits,
}

/// A character as a message can show it: quoted, or by its code point when invisible.
fn shown(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("the character U+{:04X}", c as u32)
    } else {
        format!("“{c}”")
    }
}

/// Normalises what a person typed (`+44 7700 900123`, `0044 7700-900123`,
/// `(+990) 123 45678`) to E.164, or says why it cannot be a number.
pub fn normalise(input: &str) -> Result<E164, PhoneError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(PhoneError::Empty);
    }
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(PhoneError::TooLong);
    }

    let mut digits = String::with_capacity(MAX_DIGITS);
    let mut plus = false;
    for c in input.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !plus => plus = true,
            '+' => return Err(PhoneError::MisplacedPlus),
            // Separators people type; also the non-breaking and thin spaces phones paste.
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' | '\u{2009}' | '\u{202f}' => {}
            // Invisible direction marks that right-to-left keyboards add.
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            other => return Err(PhoneError::InvalidCharacter(other)),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::Empty);
    }

    let national = if plus {
        digits.as_str()
    } else if let Some(rest) = digits.strip_prefix("00") {
        rest
    } else {
        return Err(PhoneError::MissingCountryCode);
    };

    if national.starts_with('0') {
        return Err(PhoneError::CountryCodeStartsWithZero);
    }
    if national.len() < MIN_DIGITS {
        return Err(PhoneError::TooShort);
    }
    if national.len() > MAX_DIGITS {
        return Err(PhoneError::TooManyDigits);
    }
    Ok(E164(format!("+{national}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        normalise(s).unwrap().as_str().to_owned()
    }

    #[test]
    fn accepts_what_people_type() {
        assert_eq!(ok("+44 7700 900123"), "+447700900123");
        assert_eq!(ok("0044 7700-900123"), "+447700900123");
        assert_eq!(ok("(+990) 123 45678"), "+99012345678");
        assert_eq!(ok("  +1 (415) 555.2671 "), "+14155552671");
        assert_eq!(ok("+99012345678"), "+99012345678");
        assert_eq!(ok("\u{200f}+990\u{a0}123 45678"), "+99012345678");
    }

    #[test]
    fn refuses_a_number_without_country_code() {
        assert_eq!(normalise("07700 900123"), Err(PhoneError::MissingCountryCode));
        assert_eq!(normalise("7700900123"), Err(PhoneError::MissingCountryCode));
    }

    #[test]
    fn refuses_what_cannot_be_a_number() {
        assert_eq!(normalise(""), Err(PhoneError::Empty));
        assert_eq!(normalise("   "), Err(PhoneError::Empty));
        assert_eq!(normalise("+"), Err(PhoneError::Empty));
        assert_eq!(normalise("+44 77OO"), Err(PhoneError::InvalidCharacter('O')));
        assert!(PhoneError::InvalidCharacter('O')
            .to_string()
            .contains("“O” is not allowed"));
        assert!(PhoneError::InvalidCharacter('\0')
            .to_string()
            .contains("U+0000 is not allowed"));
        assert_eq!(normalise("call me"), Err(PhoneError::InvalidCharacter('c')));
        assert_eq!(normalise("+44+7700900123"), Err(PhoneError::MisplacedPlus));
        assert_eq!(normalise("44+7700900123"), Err(PhoneError::MisplacedPlus));
        assert_eq!(normalise("+0447700900123"), Err(PhoneError::CountryCodeStartsWithZero));
        assert_eq!(normalise("000447700900123"), Err(PhoneError::CountryCodeStartsWithZero));
        assert_eq!(normalise("+4412345"), Err(PhoneError::TooShort));
        assert_eq!(normalise("+1234567890123456"), Err(PhoneError::TooManyDigits));
        assert_eq!(normalise(&"1".repeat(41)), Err(PhoneError::TooLong));
    }

    #[test]
    fn never_panics_on_odd_input() {
        let long = "x".repeat(10 * 1024);
        let emoji = "📱+44 7700 900123 😀";
        let rtl = "\u{202e}+44\u{202c} 7700 900123";
        for input in [long.as_str(), emoji, rtl, "\0", "+\u{10ffff}", "٠١٢٣٤٥٦٧٨٩"] {
            let _ = normalise(input);
        }
        assert!(normalise(emoji).is_err());
        assert_eq!(ok(rtl), "+447700900123");
    }

    #[test]
    fn redacts_in_logs() {
        let n = normalise("+99012345678").unwrap();
        assert_eq!(n.to_string(), "+990••••••78");
        assert_eq!(format!("{n:?}"), "E164(+990••••••78)");
        assert!(!format!("{n} {n:?}").contains("123456"));
    }

    #[test]
    fn deserialising_validates() {
        let n: E164 = serde_json_like("+44 7700 900123").unwrap();
        assert_eq!(n.as_str(), "+447700900123");
        assert!(serde_json_like("hello").is_err());
    }

    fn serde_json_like(s: &str) -> Result<E164, PhoneError> {
        E164::try_from(s.to_owned())
    }

    /// E.164's shape, checked independently of the normaliser: `+`, a first digit 1–9,
    /// MIN_DIGITS to MAX_DIGITS digits in all.
    fn is_e164(s: &str) -> bool {
        let Some(digits) = s.strip_prefix('+') else {
            return false;
        };
        (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        /// A number in E.164 form: first digit 1–9, 8 to 15 digits in all.
        fn e164() -> impl Strategy<Value = String> {
            "[1-9][0-9]{7,14}".prop_map(|d| format!("+{d}"))
        }

        /// The separators people type between digits.
        fn separator() -> impl Strategy<Value = &'static str> {
            prop::sample::select(vec!["", "", " ", "-", ".", "\u{a0}", "(", ")", "/"])
        }

        proptest! {
            /// Anything at all: an answer, never a panic; and what is accepted is E.164.
            #[test]
            fn only_e164_is_ever_accepted(input in any::<String>()) {
                if let Ok(n) = normalise(&input) {
                    prop_assert!(is_e164(n.as_str()), "{input:?} → {}", n.as_str());
                }
            }

            /// Inputs made of what a number field might hold: the same rule.
            #[test]
            fn phone_like_input_is_accepted_only_as_e164(input in "[+0-9 ()./-]{0,45}") {
                if let Ok(n) = normalise(&input) {
                    prop_assert!(is_e164(n.as_str()));
                    // The digits are the input's, in order (after a `+` or `00`).
                    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
                    prop_assert!(digits.ends_with(&n.as_str()[1..]));
                }
            }

            /// E.164 comes back unchanged, however it is written.
            #[test]
            fn e164_round_trips(number in e164(), seps in proptest::collection::vec(separator(), 16), double_zero in any::<bool>()) {
                prop_assert_eq!(normalise(&number).unwrap().as_str().to_owned(), number.clone());
                let mut typed = if double_zero { "00".to_owned() } else { "+".to_owned() };
                for (digit, sep) in number[1..].chars().zip(seps) {
                    typed.push_str(sep);
                    typed.push(digit);
                }
                prop_assert_eq!(normalise(&typed).unwrap().as_str().to_owned(), number.clone());
                // And normalising again changes nothing.
                let once = normalise(&typed).unwrap();
                prop_assert_eq!(normalise(once.as_str()).unwrap(), once);
            }

            /// Too few or too many digits, or a leading zero, is never a number.
            #[test]
            fn wrong_shapes_are_refused(short in "[1-9][0-9]{0,6}", long in "[1-9][0-9]{15,20}", zero in "0[0-9]{7,14}") {
                for digits in [short, long, zero] {
                    let typed = format!("+{digits}");
                    prop_assert!(normalise(&typed).is_err(), "{} accepted", typed);
                }
            }

            /// The log form shows at most five of the number's digits.
            #[test]
            fn the_log_form_hides_the_number(number in e164()) {
                let shown = normalise(&number).unwrap().to_string();
                prop_assert!(shown.chars().filter(char::is_ascii_digit).count() <= 5, "{}", shown);
            }
        }
    }
}
