//! What a started verification runs, and its record in the store until its callback.
//!
//! [`Flow`] holds what each operator's flow needs and nothing else, so starting and
//! finishing one is a match with no impossible case. The store keeps [`Pending`] as JSON
//! in the shape it has had since standard CAMARA (`protocol`, `wanted`, `pkce`, …): on
//! one Redis during a rolling upgrade, this version and the previous ones read each
//! other's records. The two shapes meet only in [`StoredPending`].

use serde::{Deserialize, Serialize};

use super::{Origin, VerifyError};
use crate::{
    operators::{
        camara::{CodeVerifier, Correlator},
        Nonce,
    },
    phone::E164,
    protocol::{Operator, Protocol},
};

/// What a flow asks the operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wanted {
    /// Is the device on this number?
    Verify(E164),
    /// Which number is the device on? (standard CAMARA, API only)
    Share,
}

/// One verification's flow, by the operator that runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum Flow {
    MobileConnect {
        number: E164,
    },
    Vonage {
        number: E164,
    },
    CamaraStandard {
        wanted: Wanted,
        /// The PKCE verifier of this flow's authorization: the code exchange must show it.
        pkce: CodeVerifier,
    },
}

impl Flow {
    /// The flow `operator` runs to answer `wanted`, with a fresh PKCE verifier where it
    /// needs one. Only standard CAMARA can tell the device's number.
    pub fn new(operator: Operator, wanted: Wanted) -> Result<Self, VerifyError> {
        match (operator, wanted) {
            (Operator::MobileConnect, Wanted::Verify(number)) => Ok(Flow::MobileConnect { number }),
            (Operator::Vonage, Wanted::Verify(number)) => Ok(Flow::Vonage { number }),
            (Operator::CamaraStandard, wanted) => Ok(Flow::CamaraStandard {
                wanted,
                pkce: CodeVerifier::random(),
            }),
            (Operator::MobileConnect | Operator::Vonage, Wanted::Share) => Err(VerifyError::ShareUnsupported),
        }
    }

    pub fn operator(&self) -> Operator {
        match self {
            Flow::MobileConnect { .. } => Operator::MobileConnect,
            Flow::Vonage { .. } => Operator::Vonage,
            Flow::CamaraStandard { .. } => Operator::CamaraStandard,
        }
    }

    /// The number asked about; `None` when the device's number is asked for.
    pub fn number(&self) -> Option<&E164> {
        match self {
            Flow::MobileConnect { number } | Flow::Vonage { number } => Some(number),
            Flow::CamaraStandard { wanted, .. } => match wanted {
                Wanted::Verify(number) => Some(number),
                Wanted::Share => None,
            },
        }
    }
}

/// A started verification, as the store keeps it until its callback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "StoredPending", try_from = "StoredPending")]
pub struct Pending {
    pub(super) flow: Flow,
    pub(super) nonce: Nonce,
    /// In this verification's log lines, and sent to the operator as `x-correlator`.
    pub(super) correlator: Correlator,
    pub(super) origin: Origin,
    /// When it stops being completable, on every instance's clock.
    pub(super) expires_at_ms: u64,
}

/// A pending verification as stored. Written in the shape the previous version reads;
/// read also as the version before it wrote it (`number` instead of `wanted`, no
/// `correlator`).
#[derive(Serialize, Deserialize)]
struct StoredPending {
    /// The flow's operator: "Camara" is always the Vonage flow here, whatever the profile.
    protocol: Protocol,
    #[serde(default)]
    wanted: Option<Wanted>,
    #[serde(default, skip_serializing)]
    number: Option<E164>,
    nonce: Nonce,
    #[serde(default)]
    pkce: Option<CodeVerifier>,
    #[serde(default)]
    correlator: Option<Correlator>,
    origin: Origin,
    expires_at_ms: u64,
}

impl From<Pending> for StoredPending {
    fn from(pending: Pending) -> Self {
        let (protocol, wanted, pkce) = match pending.flow {
            Flow::MobileConnect { number } => (Protocol::MobileConnect, Wanted::Verify(number), None),
            Flow::Vonage { number } => (Protocol::Camara, Wanted::Verify(number), None),
            Flow::CamaraStandard { wanted, pkce } => (Protocol::CamaraStandard, wanted, Some(pkce)),
        };
        StoredPending {
            protocol,
            wanted: Some(wanted),
            number: None,
            nonce: pending.nonce,
            pkce,
            correlator: Some(pending.correlator),
            origin: pending.origin,
            expires_at_ms: pending.expires_at_ms,
        }
    }
}

/// A record no version writes is refused whole: the store reports it as unreadable.
impl TryFrom<StoredPending> for Pending {
    type Error = &'static str;

    fn try_from(stored: StoredPending) -> Result<Self, Self::Error> {
        let wanted = match (stored.wanted, stored.number) {
            (Some(wanted), _) => wanted,
            (None, Some(number)) => Wanted::Verify(number),
            (None, None) => return Err("a pending verification with neither wanted nor number"),
        };
        // A stray `pkce` beside a flow that has none is ignored: no version writes one.
        let flow = match (stored.protocol, wanted, stored.pkce) {
            (Protocol::MobileConnect, Wanted::Verify(number), _) => Flow::MobileConnect { number },
            (Protocol::Camara, Wanted::Verify(number), _) => Flow::Vonage { number },
            (Protocol::CamaraStandard, wanted, Some(pkce)) => Flow::CamaraStandard { wanted, pkce },
            (Protocol::CamaraStandard, _, None) => return Err("a standard CAMARA flow without its PKCE verifier"),
            (Protocol::MobileConnect | Protocol::Camara, Wanted::Share, _) => {
                return Err("a number share by an operator that cannot share it")
            }
        };
        Ok(Pending {
            flow,
            nonce: stored.nonce,
            correlator: stored.correlator.unwrap_or_else(Correlator::random),
            origin: stored.origin,
            expires_at_ms: stored.expires_at_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{phone::normalise, verification::SessionId};

    fn number() -> E164 {
        normalise("+99012345678").unwrap()
    }

    fn pending(flow: Flow, origin: Origin) -> Pending {
        Pending {
            flow,
            nonce: Nonce::new("n-1"),
            correlator: Correlator::new("c-1"),
            origin,
            expires_at_ms: 1_900_000_000_000,
        }
    }

    /// A record written by the version before standard CAMARA (`number`, no `wanted`, no
    /// correlator) still reads: a rolling upgrade on one Redis loses no flow in progress.
    #[test]
    fn a_pending_record_of_the_previous_version_still_reads() {
        let old = json!({
            "protocol": "Camara",
            "number": "+99012345678",
            "nonce": "n-1",
            "origin": "Api",
            "expires_at_ms": 1_900_000_000_000u64,
        });
        let read: Pending = serde_json::from_value(old).unwrap();
        assert_eq!(read.flow, Flow::Vonage { number: number() });
        assert_eq!(read.nonce, Nonce::new("n-1"));
        // And the previous version's own records (`wanted`, `pkce`, `correlator`).
        let previous = json!({
            "protocol": "CamaraStandard",
            "wanted": "Share",
            "nonce": "n-1",
            "pkce": "v-1",
            "correlator": "c-1",
            "origin": "Api",
            "expires_at_ms": 1_900_000_000_000u64,
        });
        let read: Pending = serde_json::from_value(previous).unwrap();
        let share = Flow::CamaraStandard {
            wanted: Wanted::Share,
            pkce: CodeVerifier::new("v-1"),
        };
        assert_eq!(read, pending(share, Origin::Api));
    }

    /// What this version writes is exactly what the previous version wrote, field for
    /// field (so an instance of it reads it), and reads back as it was.
    #[test]
    fn a_record_written_now_has_the_previous_shape_and_round_trips() {
        let browser = Origin::Browser {
            session: SessionId::new("s-1"),
        };
        let cases = [
            (
                pending(Flow::MobileConnect { number: number() }, browser),
                r#"{"protocol":"MobileConnect","wanted":{"Verify":"+99012345678"},"nonce":"n-1","pkce":null,"correlator":"c-1","origin":{"Browser":{"session":"s-1"}},"expires_at_ms":1900000000000}"#,
            ),
            (
                pending(Flow::Vonage { number: number() }, Origin::Api),
                r#"{"protocol":"Camara","wanted":{"Verify":"+99012345678"},"nonce":"n-1","pkce":null,"correlator":"c-1","origin":"Api","expires_at_ms":1900000000000}"#,
            ),
            (
                pending(
                    Flow::CamaraStandard {
                        wanted: Wanted::Verify(number()),
                        pkce: CodeVerifier::new("v-1"),
                    },
                    Origin::Api,
                ),
                r#"{"protocol":"CamaraStandard","wanted":{"Verify":"+99012345678"},"nonce":"n-1","pkce":"v-1","correlator":"c-1","origin":"Api","expires_at_ms":1900000000000}"#,
            ),
            (
                pending(
                    Flow::CamaraStandard {
                        wanted: Wanted::Share,
                        pkce: CodeVerifier::new("v-1"),
                    },
                    Origin::Api,
                ),
                r#"{"protocol":"CamaraStandard","wanted":"Share","nonce":"n-1","pkce":"v-1","correlator":"c-1","origin":"Api","expires_at_ms":1900000000000}"#,
            ),
        ];
        for (pending, written) in cases {
            assert_eq!(serde_json::to_string(&pending).unwrap(), written);
            assert_eq!(serde_json::from_str::<Pending>(written).unwrap(), pending);
        }
    }

    #[test]
    fn a_record_no_version_writes_is_unreadable() {
        let record = |protocol: &str, wanted: serde_json::Value, pkce: Option<&str>| {
            json!({
                "protocol": protocol,
                "wanted": wanted,
                "nonce": "n",
                "pkce": pkce,
                "origin": "Api",
                "expires_at_ms": 1,
            })
        };
        let verify = json!({"Verify": "+99012345678"});
        let impossible = [
            record("Camara", json!("Share"), None),
            record("MobileConnect", json!("Share"), None),
            record("CamaraStandard", verify.clone(), None),
            json!({"protocol": "Camara", "nonce": "n", "origin": "Api", "expires_at_ms": 1}),
        ];
        for value in impossible {
            assert!(serde_json::from_value::<Pending>(value.clone()).is_err(), "{value}");
        }
        // A verifier beside a flow without one is dropped, not refused.
        let read: Pending = serde_json::from_value(record("MobileConnect", verify, Some("v"))).unwrap();
        assert_eq!(read.flow, Flow::MobileConnect { number: number() });
    }

    #[test]
    fn only_standard_camara_shares() {
        for operator in Operator::ALL {
            let flow = Flow::new(operator, Wanted::Verify(number())).unwrap();
            assert_eq!((flow.operator(), flow.number()), (operator, Some(&number())));
            let share = Flow::new(operator, Wanted::Share);
            assert_eq!(share.is_ok(), operator == Operator::CamaraStandard, "{operator:?}");
        }
    }
}
