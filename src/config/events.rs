//! The signed events' endpoint and key (`EVENTS_URL`, `EVENTS_SECRET`): both or neither.

use super::{settings, settings::Vars, ConfigError};
use crate::{
    events::EventsSettings,
    support::{redacted::Secret, signed_body::MIN_SECRET_BYTES},
};

/// `None` when neither is set: no events are sent. The error never quotes the secret.
pub(super) fn events(vars: &Vars) -> Result<Option<EventsSettings>, ConfigError> {
    let (url, secret) = match (vars.get("EVENTS_URL"), vars.get("EVENTS_SECRET")) {
        (None, None) => return Ok(None),
        (Some(url), Some(secret)) => (url, secret),
        (Some(_), None) => return Err(together("EVENTS_SECRET", "EVENTS_URL")),
        (None, Some(_)) => return Err(together("EVENTS_URL", "EVENTS_SECRET")),
    };
    // The same rules as an operator's URL: the signed body goes there.
    let url = settings::operator_url("EVENTS_URL", &url)?;
    // RFC 7518 §3.2: an HS256 key at least as long as the hash output.
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            "EVENTS_SECRET",
            format!("is shorter than {MIN_SECRET_BYTES} bytes: use a random key, e.g. `openssl rand -hex 32`"),
        ));
    }
    Ok(Some(EventsSettings {
        url,
        secret: Secret::new(secret),
    }))
}

fn together(missing: &'static str, set: &str) -> ConfigError {
    ConfigError::new(
        missing,
        format!(
            "is missing while {set} is set: EVENTS_URL and EVENTS_SECRET go together (set both to send signed \
             events, or neither)"
        ),
    )
}
