//! A relying party's authorization request, as a verification started from the hosted
//! page (`/authorize`) carries it until its callback: where the answer goes and what
//! binds the code the provider then issues.

use serde::{Deserialize, Serialize};

use crate::support::redacted::redacted_newtype;

redacted_newtype!(
    /// The relying party's `state`: echoed back in the redirect, never logged.
    RpState
);
redacted_newtype!(
    /// The relying party's `nonce`: echoed in the id_token, never logged.
    RpNonce
);
redacted_newtype!(
    /// The PKCE `code_challenge` (RFC 7636 §4.2, S256 only).
    CodeChallenge
);

/// What the token endpoint must later check and what the id_token echoes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelyingPartyRequest {
    pub client_id: String,
    /// Exactly as the client sent it; the token request must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<RpState>,
    pub nonce: Option<RpNonce>,
    pub code_challenge: Option<CodeChallenge>,
    /// The client accepts a one-time code by SMS when the network cannot answer. Absent in
    /// requests kept before it existed: no.
    #[serde(default)]
    pub sms_fallback: bool,
}
