//! Who started a verification: where its verdict goes, and which browser may see it.

use serde::{Deserialize, Serialize};

use super::{RelyingPartyRequest, SessionId, WatchId};

/// Who started a verification, so its callback answers them the right way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// The page, in the browser holding this session cookie value.
    Browser { session: SessionId },
    /// The mobile-app JSON API (`POST /login`).
    Api,
    /// The mobile-app JSON API, for the backend named by the `client_id` the app gave:
    /// the audience of its verification token.
    ApiFor { audience: String },
    /// A relying party's hosted page (`/authorize`), in the browser holding this session
    /// cookie value: the answer goes back to the relying party as a code.
    RelyingParty {
        session: SessionId,
        /// Boxed: the rarer, larger origin keeps every pending record small.
        request: Box<RelyingPartyRequest>,
    },
    /// A phone that continued a desktop's handoff, in the browser holding this session
    /// cookie value: the verdict goes to the desktop's `watch`.
    Handoff { session: SessionId, watch: WatchId },
}

impl Origin {
    /// The relying party the verification is for, as signed events name it.
    pub(super) fn client_ref(&self) -> Option<&str> {
        match self {
            Origin::RelyingParty { request, .. } => Some(&request.client_id),
            Origin::ApiFor { audience } => Some(audience),
            Origin::Browser { .. } | Origin::Api | Origin::Handoff { .. } => None,
        }
    }

    /// The browser session a flow must be completed in, if it was started in a browser.
    pub(super) fn session(&self) -> Option<&SessionId> {
        match self {
            Origin::Browser { session } | Origin::RelyingParty { session, .. } | Origin::Handoff { session, .. } => {
                Some(session)
            }
            Origin::Api | Origin::ApiFor { .. } => None,
        }
    }
}
