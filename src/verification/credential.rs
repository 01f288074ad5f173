//! The phone-number credential channel: a verification that needs no mobile data. The
//! page asks for a credential request, the browser asks its wallet (the Digital
//! Credentials API), and the wallet's answer comes back here: checked
//! ([`operators::ts43`]), its operator token redeemed at the standard CAMARA operator
//! (JWT-bearer grant), then `verify` as in the redirect flow.
//!
//! Between the two steps the request lives in the store for [`REQUEST_TTL`], keyed by a
//! random id the page holds: its nonce, the private half of its ephemeral key, the number
//! and the browser session it belongs to. It is taken once, so a nonce answers once.

use std::{net::IpAddr, time::Duration};

use serde::{Deserialize, Serialize};

use super::{journal::Entry, store::now_ms, Answer};
use super::{HandoffRefusal, HandoffSecret, Origin, ResultId, SessionId, StateProblem, Verifier, VerifyError, WatchId};
use crate::{
    metrics::Channel,
    operators::{
        camara::Correlator,
        ts43::{self, browser_request, EphemeralKey, Expected},
        OperatorFailure,
    },
    outcome::{Outcome, Proof, Verdict},
    phone::{normalise, E164},
    protocol::Operator,
    support::{random_token, unix_now},
};

/// How long the browser has to answer a credential request: the person reads the
/// wallet's prompt and confirms.
pub const REQUEST_TTL: Duration = Duration::from_secs(5 * 60);
/// The store's kind for pending credential requests.
const KIND: &str = "credential";
pub(crate) const STEP: &str = "TS.43 credential";

/// What the page passes to `navigator.credentials.get({digital: {requests: [request]}})`,
/// and the id it answers with.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialStarted {
    pub request_id: String,
    pub request: serde_json::Value,
}

/// A credential request between its two steps.
#[derive(Serialize, Deserialize)]
struct PendingCredential {
    owner: SessionId,
    number: E164,
    nonce: String,
    /// Hex of the ephemeral private key's 32 bytes.
    key: String,
    /// A desktop's handoff this phone continues: the verdict goes there.
    #[serde(default)]
    handoff: Option<WatchId>,
    /// The verification's public id, sent as `x-correlator` (absent in requests written
    /// before it was kept: one is made when the answer comes).
    #[serde(default = "Correlator::random")]
    correlator: Correlator,
    /// When it started, in Unix milliseconds (absent in older requests).
    #[serde(default)]
    started_at_ms: Option<u64>,
}

/// Where a credential's verdict went.
#[derive(Debug)]
pub enum CredentialVerdict {
    /// Kept for the browser that asked: its result id.
    Kept(ResultId),
    /// Sent to the desktop whose handoff the phone continued.
    HandedBack,
}

impl Verifier {
    /// Whether the page may offer the credential channel: standard CAMARA with `TS43_*`.
    pub fn offers_credentials(&self) -> bool {
        self.clients
            .camara_standard
            .as_ref()
            .is_some_and(|c| c.ts43().is_some())
    }

    /// Step 1: a credential request for the browser of `owner` to verify `typed`. Spends a
    /// page start from `client`'s budget, like a redirect start.
    pub async fn request_credential(
        &self,
        typed: &str,
        owner: SessionId,
        client: Option<IpAddr>,
    ) -> Result<CredentialStarted, VerifyError> {
        self.charge(&Origin::Browser { session: owner.clone() }, client).await?;
        let number = normalise(typed).map_err(VerifyError::InvalidPhone)?;
        self.credential_request(number, owner, None).await
    }

    /// Step 1 on a phone that continues a desktop's handoff (`secret`): the handed-off
    /// number, and the phone holds the link from now on, as with Continue.
    pub async fn request_handoff_credential(
        &self,
        secret: &HandoffSecret,
        phone: SessionId,
        client: Option<IpAddr>,
    ) -> Result<CredentialStarted, HandoffRefusal> {
        self.credential_operator()?;
        let (watch, number) = self.claim_handoff(secret, &phone, client).await?;
        Ok(self.credential_request(number, phone, Some(watch)).await?)
    }

    async fn credential_request(
        &self,
        number: E164,
        owner: SessionId,
        handoff: Option<WatchId>,
    ) -> Result<CredentialStarted, VerifyError> {
        let camara = self.credential_operator()?;
        let (nonce, key) = (random_token(), EphemeralKey::random());
        let correlator = Correlator::random();
        let entry = Entry {
            operator: Operator::CamaraStandard,
            channel: Channel::Credential,
            id: correlator.secret(),
            client_ref: None,
            started_at_ms: Some(now_ms()),
        };
        let expires_at_ms = now_ms() + REQUEST_TTL.as_millis() as u64;
        self.journal.started(&entry, expires_at_ms).await;
        let asked = self
            .timed(
                Operator::CamaraStandard,
                camara.request_credential(&nonce, &key, Some(&number)),
            )
            .await
            .ok_or(VerifyError::ProtocolUnavailable)?
            .map_err(VerifyError::from);
        let query = match asked {
            Ok(query) => query,
            Err(e) => {
                self.journal.ended(&entry, Err(&e), Proof::OperatorToken.amr()).await;
                return Err(e);
            }
        };
        let request_id = random_token();
        let pending = PendingCredential {
            owner,
            number,
            key: hex::encode(key.to_bytes()),
            nonce: nonce.clone(),
            handoff,
            started_at_ms: entry.started_at_ms,
            correlator: correlator.clone(),
        };
        let value = serde_json::to_string(&pending)
            .map_err(|e| VerifyError::StoreUnavailable(format!("a credential request does not encode: {e}")))?;
        self.store.put_once(KIND, &request_id, value, REQUEST_TTL).await?;
        tracing::info!(number = %pending.number, "credential request issued");
        Ok(CredentialStarted {
            request_id,
            request: browser_request(&query, &nonce),
        })
    }

    /// Step 2: the wallet's answer (`vp_token`, the JSON the browser returned in `data`)
    /// to the request `request_id`, from the browser of `reader`, whose page is at
    /// `page_origin`. The verdict is kept for that browser; its result id.
    pub async fn answer_credential(
        &self,
        request_id: &str,
        vp_token: &serde_json::Value,
        reader: &SessionId,
        page_origin: &str,
    ) -> Result<CredentialVerdict, VerifyError> {
        let taken = self
            .store
            .take_once(KIND, request_id)
            .await?
            .ok_or(VerifyError::InvalidState(StateProblem::Unknown))?;
        let pending: PendingCredential =
            serde_json::from_str(&taken).map_err(|_| VerifyError::InvalidState(StateProblem::Malformed))?;
        if &pending.owner != reader {
            return Err(VerifyError::InvalidState(StateProblem::OtherBrowser));
        }
        let entry = Entry {
            operator: Operator::CamaraStandard,
            channel: Channel::Credential,
            id: pending.correlator.secret(),
            client_ref: None,
            started_at_ms: pending.started_at_ms,
        };
        let checked = self
            .timed(
                Operator::CamaraStandard,
                self.check_credential(&pending, vp_token, page_origin),
            )
            .await;
        let answer = checked.as_ref().map(|&verified| Answer::Verified(verified));
        self.journal
            .ended(&entry, answer.as_ref().map_err(|e| *e), Proof::OperatorToken.amr())
            .await;
        let verified = checked?;
        let outcome = Outcome {
            number: Some(pending.number),
            verdict: if verified { Verdict::Verified } else { Verdict::Invalid },
            sandbox: self.sandbox_backed(Operator::CamaraStandard),
            proof: Proof::OperatorToken,
            fallback: None,
            reason: None,
        };
        match pending.handoff {
            Some(watch) => {
                self.finish_handoff(&watch, outcome).await?;
                Ok(CredentialVerdict::HandedBack)
            }
            None => Ok(CredentialVerdict::Kept(self.keep_result(reader, outcome).await?)),
        }
    }

    /// The credential's checks, its operator token redeemed and the number verified.
    async fn check_credential(
        &self,
        pending: &PendingCredential,
        vp_token: &serde_json::Value,
        page_origin: &str,
    ) -> Result<bool, VerifyError> {
        let key = hex::decode(&pending.key)
            .ok()
            .and_then(|bytes| EphemeralKey::from_bytes(&bytes).ok())
            .ok_or(VerifyError::InvalidState(StateProblem::Malformed))?;
        let camara = self.credential_operator()?;
        let anchors = &camara.ts43().ok_or(VerifyError::ProtocolUnavailable)?.trust_anchors;
        let presentation = presentation_of(vp_token).ok_or_else(|| refused("no presentation in the vp_token"))?;
        let expected = Expected {
            nonce: &pending.nonce,
            origin: page_origin,
            key: &key,
        };
        let token = ts43::verify(presentation, anchors, &expected, unix_now()).map_err(|e| {
            tracing::warn!(reason = e.code(), detail = %e, "a phone-number credential was refused");
            refused(e.code())
        })?;
        let access = camara.exchange_operator_token(token.token.secret()).await?;
        let verified = camara.verify(&access, &pending.number, &pending.correlator).await?;
        tracing::info!(
            number = %pending.number,
            carrier = token.carrier_hint.as_deref().unwrap_or("unknown"),
            verified,
            correlator = pending.correlator.secret(),
            "credential verification finished"
        );
        Ok(verified)
    }

    fn credential_operator(&self) -> Result<&crate::operators::CamaraClient, VerifyError> {
        self.clients
            .camara_standard
            .as_ref()
            .filter(|c| c.ts43().is_some())
            .ok_or(VerifyError::ProtocolUnavailable)
    }
}

/// The one presentation of a `vp_token` (`{<query id>: [presentation]}`, OpenID4VP §8.1).
fn presentation_of(vp_token: &serde_json::Value) -> Option<&str> {
    let mut presentations = vp_token.as_object()?.values().filter_map(|v| v.as_array());
    let first = presentations.next()?;
    match (first.as_slice(), presentations.next()) {
        ([only], None) => only.as_str(),
        _ => None,
    }
}

fn refused(reason: &str) -> VerifyError {
    VerifyError::OperatorError(OperatorFailure::Refused {
        step: STEP,
        reason: reason.to_owned(),
    })
}
