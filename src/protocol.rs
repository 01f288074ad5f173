//! The operator protocols, as the page and the API name them ([`Protocol`]), and the
//! flows the server runs ([`Operator`]). "CAMARA" is the configured CAMARA profile
//! (`CAMARA_PROFILE`): the server turns a requested protocol into the operator flow it
//! runs once, where the request is read, so nothing after that asks what "camara" means.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Protocol {
    /// Mobile Connect "Number Verify" (device-initiated, hashed MSISDN).
    MobileConnect,
    /// CAMARA as configured: through Vonage (v0.3.1, profile `vonage`, the default), or
    /// the standard profile when `CAMARA_PROFILE=standard`.
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

/// The operator flow a verification runs: a [`Protocol`] as requested, with "camara"
/// resolved to its profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Operator {
    /// Mobile Connect "Number Verify".
    MobileConnect,
    /// CAMARA Number Verification through Vonage (v0.3.1).
    Vonage,
    /// Standard CAMARA NumberVerification v2.1.
    CamaraStandard,
}

impl Operator {
    pub const ALL: [Operator; 3] = [Operator::MobileConnect, Operator::Vonage, Operator::CamaraStandard];

    /// The protocol that names this flow wherever a profile is not involved: in log
    /// lines and stored records, Vonage's is "camara", as before standard CAMARA existed.
    pub fn protocol(self) -> Protocol {
        match self {
            Operator::MobileConnect => Protocol::MobileConnect,
            Operator::Vonage => Protocol::Camara,
            Operator::CamaraStandard => Protocol::CamaraStandard,
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
