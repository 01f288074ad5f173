//! The one-time-code channel's building blocks: the code, what the store keeps of it (a
//! keyed digest bound to its verification), the SMS that carries it, and where SMS may
//! be sent.
//!
//! A code never reaches a log or the store in clear: [`OneTimeCode`] redacts itself, and
//! only its [`CodeDigest`] is kept.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, Rng};
use sha2::Sha256;

pub use crate::operators::sms::{CountriesError, Country, SmsCountries};

/// Digits in a code.
pub const CODE_DIGITS: usize = 6;
/// 10^[`CODE_DIGITS`]: every code is equally likely.
const CODE_SPACE: u32 = 1_000_000;
pub use crate::operators::sms::CODE_TTL;

/// A one-time code: six decimal digits. `Debug` and `Display` show `••••••`; the
/// digits are for the message and the comparison only ([`OneTimeCode::secret`]).
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

/// Why what a person typed is not a code. The text is shown to them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    #[error("Please enter the code from the text message.")]
    Empty,
    #[error("The code is {CODE_DIGITS} digits.")]
    NotTheCode,
}

impl OneTimeCode {
    /// A fresh code from the operating system's CSPRNG. `gen_range` samples uniformly
    /// (rejection sampling, no modulo bias), so no code is likelier than another.
    pub fn generate() -> Self {
        let n: u32 = OsRng.gen_range(0..CODE_SPACE);
        Self(format!("{n:06}"))
    }

    /// A code as a person typed it: the six digits, spaces and dashes between them
    /// ignored (`123 456`, `123-456`).
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(CodeError::Empty);
        }
        // Bounded before looking closer: a pasted page is not a code.
        if input.len() > 4 * CODE_DIGITS {
            return Err(CodeError::NotTheCode);
        }
        let mut digits = String::with_capacity(CODE_DIGITS);
        for c in input.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(CodeError::NotTheCode),
            }
        }
        if digits.len() != CODE_DIGITS {
            return Err(CodeError::NotTheCode);
        }
        Ok(Self(digits))
    }

    /// The digits, for the message and the digest only. Never log them.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(••••••)")
    }
}

impl fmt::Display for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("••••••")
    }
}

/// What the store keeps of a code: HMAC-SHA256 under a server key of the verification's
/// id and the code. With the key a store dump still cannot be brute-forced offline
/// (10^6 codes would take a moment), and bound to the id a digest matches nothing but
/// its own verification: copied onto another record, it is useless.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeDigest([u8; 32]);

/// Separates these digests from any other MAC made under the same key.
const DIGEST_CONTEXT: &[u8] = b"number-verify one-time code v1";

impl CodeDigest {
    /// The digest of `code` for the verification `verification_id`, under `key`.
    pub fn of(key: &[u8], verification_id: &str, code: &OneTimeCode) -> Self {
        match mac(key, verification_id, code) {
            Some(mac) => Self(mac.finalize().into_bytes().into()),
            // HMAC takes a key of any length, so this does not happen; if it did, a
            // random digest matches no code (fail closed).
            None => Self(rand::random()),
        }
    }

    /// Whether `code` is the one this digest was made of, for this verification, in
    /// time that does not depend on where they differ.
    pub fn matches(&self, key: &[u8], verification_id: &str, code: &OneTimeCode) -> bool {
        mac(key, verification_id, code).is_some_and(|mac| mac.verify_slice(&self.0).is_ok())
    }
}

/// The MAC of the context, the id (length first, so no id–code split is ambiguous) and
/// the code.
fn mac(key: &[u8], verification_id: &str, code: &OneTimeCode) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(DIGEST_CONTEXT);
    mac.update(&(verification_id.len() as u64).to_be_bytes());
    mac.update(verification_id.as_bytes());
    mac.update(code.secret().as_bytes());
    Some(mac)
}

impl fmt::Debug for CodeDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeDigest(…)")
    }
}

impl From<CodeDigest> for String {
    fn from(digest: CodeDigest) -> Self {
        hex::encode(digest.0)
    }
}

impl TryFrom<String> for CodeDigest {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&value, &mut bytes).map_err(|_| "a code digest is 64 hex digits")?;
        Ok(Self(bytes))
    }
}

/// The SMS that carries `code` to the person, for the site at `host`:
///
/// ```text
/// Your Number Verify code is 123456. It expires in 5 minutes.
///
/// @verify.example.com #123456
/// ```
///
/// The last line binds the code to the site, so browsers offer it there and nowhere else
/// (WebOTP, and `autocomplete="one-time-code"` in Safari). Its format is WICG's
/// "Origin-bound one-time codes delivered via SMS", §3.2 "Parsing": the last line is
/// `@<host> #<code>`, one space between, nothing before the `@`; the host becomes the
/// origin `("https", host, null, null)`, so it has no scheme and no port — see
/// [`webotp_host`]. When `host` yields no host at all, the line is left out rather than
/// bound to a wrong origin.
pub fn message_text(host: &str, code: &OneTimeCode) -> String {
    let minutes = CODE_TTL.as_secs() / 60;
    let code = code.secret();
    let text = format!("Your Number Verify code is {code}. It expires in {minutes} minutes.");
    match webotp_host(host) {
        Some(host) => format!("{text}\n\n@{host} #{code}"),
        None => text,
    }
}

/// The host an origin-bound line names, from a bare host or a URL: no scheme, no port,
/// no path (WICG "Origin-bound one-time codes delivered via SMS", §3.2: the origin is
/// `("https", host, null, null)`), lower case, an internationalised name in its ASCII
/// (punycode) form, as SMS carries it.
pub fn webotp_host(host_or_url: &str) -> Option<String> {
    let value = host_or_url.trim();
    let url = if value.contains("://") {
        url::Url::parse(value)
    } else {
        url::Url::parse(&format!("https://{value}"))
    };
    let host = url.ok()?.host_str()?.to_owned();
    (!host.is_empty() && !host.contains(char::is_whitespace)).then_some(host)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const KEY: &[u8] = b"a server key of thirty-two bytes";

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: HashSet<String> = (0..200).map(|_| OneTimeCode::generate().secret().to_owned()).collect();
        for code in &codes {
            assert_eq!(code.len(), CODE_DIGITS, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
        // 200 draws from 10^6: a repeat is possible, many are not.
        assert!(codes.len() > 190, "{}", codes.len());
        // Leading zeros are kept: every first digit turns up.
        let firsts: HashSet<u8> = (0..500)
            .map(|_| OneTimeCode::generate().secret().as_bytes()[0])
            .collect();
        assert_eq!(firsts.len(), 10, "{firsts:?}");
    }

    #[test]
    fn a_code_never_shows_itself() {
        let code = OneTimeCode::parse("123456").unwrap();
        assert_eq!(format!("{code:?}"), "OneTimeCode(••••••)");
        assert_eq!(code.to_string(), "••••••");
        assert!(!format!("{code:?} {code}").contains("123"));
    }

    #[test]
    fn typed_codes_are_read_leniently_and_refused_exactly() {
        assert_eq!(OneTimeCode::parse(" 123 456 ").unwrap().secret(), "123456");
        assert_eq!(OneTimeCode::parse("012-345").unwrap().secret(), "012345");
        assert_eq!(OneTimeCode::parse(""), Err(CodeError::Empty));
        for bad in ["12345", "1234567", "12345a", "１２３４５６", &"1".repeat(100)] {
            assert_eq!(OneTimeCode::parse(bad), Err(CodeError::NotTheCode), "{bad}");
        }
    }

    #[test]
    fn a_digest_matches_its_code_for_its_verification_under_its_key() {
        let code = OneTimeCode::parse("123456").unwrap();
        let other = OneTimeCode::parse("123457").unwrap();
        let digest = CodeDigest::of(KEY, "verification-1", &code);
        assert!(digest.matches(KEY, "verification-1", &code));
        assert!(!digest.matches(KEY, "verification-1", &other));
        assert!(!digest.matches(KEY, "verification-2", &code), "bound to its id");
        assert!(!digest.matches(b"another key of thirty-two bytes!", "verification-1", &code));
        assert_ne!(digest, CodeDigest::of(KEY, "verification-2", &code));
        assert_ne!(digest, CodeDigest::of(b"another key", "verification-1", &code));
    }

    #[test]
    fn a_digest_is_stored_as_hex_and_read_back() {
        let digest = CodeDigest::of(KEY, "v", &OneTimeCode::generate());
        let stored = serde_json::to_string(&digest).unwrap();
        assert_eq!(stored.len(), 66, "{stored}");
        assert_eq!(serde_json::from_str::<CodeDigest>(&stored).unwrap(), digest);
        assert!(serde_json::from_str::<CodeDigest>("\"abc\"").is_err());
        assert_eq!(format!("{digest:?}"), "CodeDigest(…)");
    }

    #[test]
    fn the_message_ends_with_the_origin_bound_line() {
        let code = OneTimeCode::parse("123456").unwrap();
        let text = message_text("verify.example.com", &code);
        assert_eq!(
            text,
            "Your Number Verify code is 123456. It expires in 5 minutes.\n\n@verify.example.com #123456"
        );
        assert_eq!(text.lines().last(), Some("@verify.example.com #123456"));
        // A URL or a port is reduced to the host the origin names.
        for given in [
            "https://Verify.Example.com:8443/path",
            "verify.example.com:443",
            " https://verify.example.com ",
        ] {
            assert_eq!(
                message_text(given, &code).lines().last(),
                Some("@verify.example.com #123456"),
                "{given}"
            );
        }
        assert_eq!(
            message_text("http://127.0.0.1:3000", &code).lines().last(),
            Some("@127.0.0.1 #123456")
        );
        assert_eq!(webotp_host("bücher.example").as_deref(), Some("xn--bcher-kva.example"));
        // Nothing to bind to: no origin-bound line at all.
        let unbound = message_text("", &code);
        assert!(!unbound.contains('@') && unbound.contains("123456"), "{unbound}");
        assert_eq!(webotp_host("a b"), None);
    }

    #[test]
    fn the_allow_list_is_at_hand_here() {
        let countries = SmsCountries::parse("GB").unwrap();
        assert!(countries.allows(&crate::phone::normalise("+447700900123").unwrap()));
        assert_eq!(
            SmsCountries::parse("XX"),
            Err(CountriesError::Unknown { code: "XX".into() })
        );
        assert_eq!(SmsCountries::parse(""), Err(CountriesError::Empty));
    }
}
