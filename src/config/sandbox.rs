//! Where the virtual operator runs, and what each protocol is configured with when it is
//! the operator: its documented test credentials under the mounted base URL.

use url::Url;

use super::{settings::Vars, ConfigError};
use crate::{
    operators::{
        sms::VonageSmsSettings,
        ts43::{TrustAnchors, Ts43Settings},
        CamaraSettings, MobileConnectSettings, SigningKey, VonageCredentials, VonageSettings,
    },
    phone::{normalise, E164},
    sandbox_contract::{credentials, CAMARA_V2_PATH, DEFAULT_SANDBOX_SIM, MC_JWKS_PATH, TS43_CREDENTIALS_PATH},
    support::{redacted::Secret, urls::is_loopback_http},
};

/// Where the virtual operator runs, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Not here: the app talks to the operators configured by `MC_*` / `VONAGE_*`.
    Off,
    /// Mounted under `/sandbox` beside the app (`SANDBOX=on`, or `auto` with no live
    /// credentials on a loopback `http://` `APP_PUBLIC_URL`); protocols with no live
    /// configuration use it.
    Mounted,
    /// This process is the virtual operator alone (`SANDBOX=only`): `/sandbox/…` and
    /// `/healthz`, no page and no API.
    Only,
}

/// `SANDBOX`: auto (the default), on, off, only. `auto` mounts the virtual operator only
/// when no live credentials are set and `public_url` is a loopback `http://` URL, a
/// laptop: on any other address a missing secret must stop the server, not turn every
/// number into "verified". A server built without the virtual operator refuses on and
/// only, saying so.
pub(super) fn mode(value: Option<&str>, any_live: bool, public_url: &str) -> Result<SandboxMode, ConfigError> {
    let wanted = match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("auto") if any_live => SandboxMode::Off,
        None | Some("auto") if !cfg!(feature = "sandbox") => SandboxMode::Off,
        None | Some("auto") if !is_loopback_http(public_url) => SandboxMode::Off,
        None | Some("auto") => SandboxMode::Mounted,
        Some("on" | "true" | "1") => SandboxMode::Mounted,
        Some("off" | "false" | "0") => SandboxMode::Off,
        Some("only") => SandboxMode::Only,
        Some(other) => {
            return Err(ConfigError::new(
                "SANDBOX",
                format!("“{other}” is not one of auto, on, off, only"),
            ))
        }
    };
    if wanted != SandboxMode::Off && !cfg!(feature = "sandbox") {
        return Err(ConfigError::new(
            "SANDBOX",
            "asks for the virtual operator, but this server was built without one (cargo feature \"sandbox\"): \
             rebuild with default features, or set SANDBOX=off and configure a live operator"
                .into(),
        ));
    }
    Ok(wanted)
}

/// Whether the virtual operator is mounted because `SANDBOX` is `auto` (or unset) rather
/// than `on`. A deployment whose env file failed to load looks just like a laptop, so then
/// the virtual operator and every flow it backs serve only this machine
/// (`server::local_only`).
pub(super) fn mounted_by_auto(value: Option<&str>, mode: SandboxMode) -> bool {
    mode == SandboxMode::Mounted && value.is_none_or(|v| v.eq_ignore_ascii_case("auto"))
}

/// `SANDBOX_DEFAULT_SIM`: the simulated device's SIM when nothing else decides.
pub(super) fn default_sim(vars: &Vars) -> Result<E164, ConfigError> {
    match vars.get("SANDBOX_DEFAULT_SIM") {
        None => normalise(DEFAULT_SANDBOX_SIM).map_err(|e| ConfigError::new("SANDBOX_DEFAULT_SIM", e.to_string())),
        Some(v) => normalise(&v).map_err(|e| ConfigError::new("SANDBOX_DEFAULT_SIM", e.to_string())),
    }
}

/// `SANDBOX_REDIRECT_URIS`: comma-separated URLs; required when the process is the
/// virtual operator alone.
pub(super) fn redirect_uris(vars: &Vars, mode: SandboxMode) -> Result<Vec<String>, ConfigError> {
    let uris: Vec<String> = match vars.get("SANDBOX_REDIRECT_URIS") {
        None => Vec::new(),
        Some(v) => v
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| super::settings::base_url("SANDBOX_REDIRECT_URIS", s, false).map(|u| u.to_string()))
            .collect::<Result<_, _>>()?,
    };
    if mode == SandboxMode::Only && uris.is_empty() {
        return Err(ConfigError::missing(
            "SANDBOX_REDIRECT_URIS",
            "the app's callback URL(s), comma-separated, e.g. https://verify.example.com/callback (SANDBOX=only)",
        ));
    }
    Ok(uris)
}

/// `path` under the virtual operator's base URL.
fn under(base: &Url, path: &str) -> Url {
    Url::parse(&format!("{}{path}", base.as_str().trim_end_matches('/'))).unwrap_or_else(|_| base.clone())
}

/// The virtual operator's JWKS under its base URL.
pub(super) fn jwks_url(base: &Url) -> Url {
    under(base, MC_JWKS_PATH)
}

pub(super) fn mobile_connect(base: &Url) -> MobileConnectSettings {
    MobileConnectSettings {
        api_base: base.clone(),
        client_id: credentials::MC_CLIENT_ID.into(),
        client_secret: Secret::new(credentials::MC_CLIENT_SECRET),
        jwks_url: Some(jwks_url(base)),
    }
}

pub(super) fn vonage(base: &Url, hashed: bool) -> Result<VonageSettings, ConfigError> {
    let key = SigningKey::rsa_from_pem(credentials::VONAGE_PRIVATE_KEY).map_err(|e| {
        ConfigError::new(
            "SANDBOX",
            format!("cannot read the virtual operator's Vonage test key: {e}"),
        )
    })?;
    Ok(VonageSettings {
        api_base: base.clone(),
        application_id: credentials::VONAGE_APPLICATION_ID.into(),
        credentials: VonageCredentials::PrivateKey(key),
        hashed,
        // The virtual operator's auth_url is under its own base.
        auth_hosts: base.host_str().map(str::to_owned).into_iter().collect(),
    })
}

pub(super) fn camara_standard(base: &Url, hashed: bool) -> Result<CamaraSettings, ConfigError> {
    let root = under(base, CAMARA_V2_PATH);
    let client_key = SigningKey::ec_or_rsa_from_pem(credentials::CAMARA_CLIENT_PRIVATE_KEY).ok_or_else(|| {
        ConfigError::new(
            "SANDBOX",
            "cannot read the virtual operator's CAMARA test client key".into(),
        )
    })?;
    Ok(CamaraSettings {
        issuer: root.clone(),
        api_root: root,
        client_id: credentials::CAMARA_CLIENT_ID.into(),
        client_key,
        client_key_id: credentials::CAMARA_CLIENT_KEY_ID.into(),
        hashed,
        issuer_in_process: true,
        ts43: Some(Ts43Settings {
            credentials_url: under(base, TS43_CREDENTIALS_PATH),
            trust_anchors: TrustAnchors::from_pem(credentials::TS43_SANDBOX_CA)
                .map_err(|reason| ConfigError::new("SANDBOX", format!("the virtual operator's TS.43 CA: {reason}")))?,
        }),
    })
}

/// The virtual operator's SMS gateway, as a Vonage account: its published API key and
/// secret, with the virtual operator's base URL as Vonage's.
pub(super) fn sms_gateway(base: &Url) -> VonageSmsSettings {
    VonageSmsSettings {
        api_base: base.clone(),
        api_key: credentials::SMS_API_KEY.into(),
        api_secret: Secret::new(credentials::SMS_API_SECRET),
        from: credentials::SMS_FROM.into(),
    }
}
