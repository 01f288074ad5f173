//! The operator protocols, as the page and the API name them. "CAMARA" is the configured
//! CAMARA profile (`CAMARA_PROFILE`): the server resolves [`Protocol::Camara`] to
//! [`Protocol::CamaraStandard`] when that profile is `standard`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Mobile Connect "Number Verify" (device-initiated, hashed MSISDN).
    MobileConnect,
    /// CAMARA as configured: through Vonage (v0.3.1, profile `vonage`, the default), or
    /// the standard profile when `CAMARA_PROFILE=standard`. Once a verification has
    /// started it names the Vonage flow only.
    Camara,
    /// Standard CAMARA NumberVerification v2.1 at any Open Gateway operator (OIDC
    /// discovery, PKCE, `private_key_jwt`).
    CamaraStandard,
}

impl Protocol {
    /// The value used in forms and in the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::MobileConnect => "mobile-connect",
            Protocol::Camara => "camara",
            Protocol::CamaraStandard => "camara-standard",
        }
    }

    /// The label people see.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::MobileConnect => "Mobile Connect",
            Protocol::Camara => "CAMARA",
            Protocol::CamaraStandard => "CAMARA (standard)",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "mobile-connect" | "mobileconnect" | "mc" => Some(Protocol::MobileConnect),
            "camara" => Some(Protocol::Camara),
            "camara-standard" => Some(Protocol::CamaraStandard),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_forms_and_clients_send() {
        assert_eq!(Protocol::parse("camara"), Some(Protocol::Camara));
        assert_eq!(Protocol::parse(" CAMARA "), Some(Protocol::Camara));
        assert_eq!(Protocol::parse("mobile-connect"), Some(Protocol::MobileConnect));
        assert_eq!(Protocol::parse("mobile_connect"), Some(Protocol::MobileConnect));
        assert_eq!(Protocol::parse("CAMARA_standard"), Some(Protocol::CamaraStandard));
        assert_eq!(Protocol::parse("sms"), None);
        for p in [Protocol::Camara, Protocol::MobileConnect, Protocol::CamaraStandard] {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
    }
}
