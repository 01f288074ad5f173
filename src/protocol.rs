//! The two operator protocols, as the page and the API name them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Mobile Connect "Number Verify" (device-initiated, hashed MSISDN).
    MobileConnect,
    /// CAMARA Number Verification through Vonage.
    Camara,
}

impl Protocol {
    /// The value used in forms and in the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::MobileConnect => "mobile-connect",
            Protocol::Camara => "camara",
        }
    }

    /// The label people see.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::MobileConnect => "Mobile Connect",
            Protocol::Camara => "CAMARA",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "mobile-connect" | "mobileconnect" | "mc" => Some(Protocol::MobileConnect),
            "camara" => Some(Protocol::Camara),
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
        assert_eq!(Protocol::parse("sms"), None);
        for p in [Protocol::Camara, Protocol::MobileConnect] {
            assert_eq!(Protocol::parse(p.as_str()), Some(p));
        }
    }
}
