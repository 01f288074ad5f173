//! Number Verify as an OpenID Provider whose one job is proving phone numbers: a relying
//! party sends the person to `/authorize`, the hosted page runs the operator's check as
//! the page does, and the answer goes back as a code the relying party exchanges at
//! `/token` for an id_token with `phone_number` and `phone_number_verified`.
//!
//! - `relying_parties` (beside it): the registered relying parties (`RELYING_PARTIES`);
//! - [`request`]: the authorization request, read strictly;
//! - [`provider`]: codes, the token exchange, userinfo, the verification token;
//! - [`error`]: what each endpoint answers when it refuses.

pub mod error;
pub mod provider;
pub mod request;

pub use error::{AuthorizeError, TokenError};
pub use provider::{Provider, TokenRequest, Tokens};
