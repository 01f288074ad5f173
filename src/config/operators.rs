//! The operators, one table of variable names per protocol: any variable of a table set
//! makes that protocol live, and then all it needs are required — none is ever filled in
//! from the virtual operator (a live client id sent to the sandbox, or the sandbox's
//! secret to a live operator, is a misconfiguration, not a fallback). With none set, the
//! protocol points at the mounted virtual operator, if any.

use url::Url;

use super::{keys, sandbox, settings::Vars, ConfigError};
use crate::{
    operators::{
        app_jwt, ts43::Ts43Settings, vonage, CamaraSettings, MobileConnectSettings, VonageCredentials, VonageSettings,
    },
    protocol::Operator,
    support::{redacted::Secret, unix_now},
};

pub(super) const MOBILE_CONNECT: [&str; 3] = ["MC_API_BASE", "MC_CLIENT_ID", "MC_CLIENT_SECRET"];
pub(super) const VONAGE: [&str; 4] = [
    "VONAGE_API_BASE",
    "VONAGE_APPLICATION_ID",
    "VONAGE_PRIVATE_KEY",
    "VONAGE_JWT",
];
pub(super) const CAMARA: [&str; 5] = [
    "CAMARA_ISSUER",
    "CAMARA_API_ROOT",
    "CAMARA_CLIENT_ID",
    "CAMARA_CLIENT_KEY",
    "CAMARA_CLIENT_KEY_ID",
];

/// What a server with no operator must be given, named variable by variable.
pub(super) const SET_OPERATOR: &str = "set MC_API_BASE, MC_CLIENT_ID and MC_CLIENT_SECRET (Mobile Connect), and/or \
     VONAGE_API_BASE, VONAGE_APPLICATION_ID and VONAGE_PRIVATE_KEY or VONAGE_JWT (CAMARA through Vonage), and/or \
     CAMARA_ISSUER, CAMARA_API_ROOT, CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY and CAMARA_CLIENT_KEY_ID (standard CAMARA)";

/// Whether any live operator variable is set.
pub(super) fn any_live(vars: &Vars) -> bool {
    MOBILE_CONNECT
        .iter()
        .chain(&VONAGE)
        .chain(&CAMARA)
        .any(|name| vars.is_set(name))
}

fn none_set(vars: &Vars, table: &[&str]) -> bool {
    table.iter().all(|name| !vars.is_set(name))
}

/// What "CAMARA" means on the page and in the API (`CAMARA_PROFILE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CamaraProfile {
    /// CAMARA Number Verification through Vonage (v0.3.1), what the tutorial's client uses.
    Vonage,
    /// Standard CAMARA NumberVerification v2.1 at an Open Gateway operator.
    Standard,
}

impl CamaraProfile {
    /// The operator "camara" runs.
    pub fn operator(self) -> Operator {
        match self {
            CamaraProfile::Vonage => Operator::Vonage,
            CamaraProfile::Standard => Operator::CamaraStandard,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CamaraProfile::Vonage => "vonage",
            CamaraProfile::Standard => "standard",
        }
    }
}

/// Mobile Connect from `MC_*`; `MC_JWKS_URL` is optional (else the virtual operator's
/// keys when it is the operator).
pub(super) fn mobile_connect(vars: &Vars, mounted: Option<&Url>) -> Result<Option<MobileConnectSettings>, ConfigError> {
    let jwks_url = vars.operator_url("MC_JWKS_URL")?;
    if none_set(vars, &MOBILE_CONNECT) {
        return Ok(mounted.map(|base| MobileConnectSettings {
            jwks_url: jwks_url.or_else(|| Some(sandbox::jwks_url(base))),
            ..sandbox::mobile_connect(base)
        }));
    }
    let api_base = vars
        .operator_url("MC_API_BASE")?
        .ok_or_else(|| ConfigError::missing("MC_API_BASE", "the Mobile Connect API base URL (https://…)"))?;
    Ok(Some(MobileConnectSettings {
        api_base,
        client_id: vars.required("MC_CLIENT_ID", "the Mobile Connect client id")?,
        client_secret: Secret::new(vars.required("MC_CLIENT_SECRET", "the Mobile Connect client secret")?),
        jwks_url,
    }))
}

/// CAMARA through Vonage from `VONAGE_*`: a private key the app mints its JWTs with, or a
/// pre-made `VONAGE_JWT` that must live five more minutes.
pub(super) fn vonage(vars: &Vars, mounted: Option<&Url>) -> Result<Option<VonageSettings>, ConfigError> {
    let hashed = vars.flag("CAMARA_HASHED")?;
    if none_set(vars, &VONAGE) {
        return mounted.map(|base| sandbox::vonage(base, hashed)).transpose();
    }
    let api_base = vars
        .operator_url("VONAGE_API_BASE")?
        .ok_or_else(|| ConfigError::missing("VONAGE_API_BASE", "the Vonage API base URL (https://…)"))?;
    let application_id = vars.required("VONAGE_APPLICATION_ID", "the Vonage application id")?;
    let credentials = match (vars.get("VONAGE_JWT"), vars.get("VONAGE_PRIVATE_KEY")) {
        (Some(jwt), _) => {
            let expires_at =
                app_jwt::check_premade(&jwt, unix_now()).map_err(|reason| ConfigError::new("VONAGE_JWT", reason))?;
            VonageCredentials::Jwt {
                jwt: Secret::new(jwt),
                expires_at,
            }
        }
        (None, Some(key)) => VonageCredentials::PrivateKey(keys::vonage_private_key(&key)?),
        (None, None) => {
            return Err(ConfigError::missing(
                "VONAGE_PRIVATE_KEY",
                "the Vonage application's private key (a file path or the PEM itself), or VONAGE_JWT",
            ))
        }
    };
    let auth_hosts = vonage_auth_hosts(vars, &api_base)?;
    Ok(Some(VonageSettings {
        api_base,
        application_id,
        credentials,
        hashed,
        auth_hosts,
    }))
}

/// `VONAGE_AUTH_HOSTS`: the comma-separated host names an enablement's `auth_url` may
/// point at (default: Vonage's authorization host). A loopback `VONAGE_API_BASE` (a local
/// operator: tests, the virtual operator run on its own) is allowed its own host too.
pub(super) fn vonage_auth_hosts(vars: &Vars, api_base: &Url) -> Result<Vec<String>, ConfigError> {
    const NAME: &str = "VONAGE_AUTH_HOSTS";
    let value = vars.get(NAME).unwrap_or_else(|| vonage::DEFAULT_AUTH_HOSTS.to_owned());
    let mut hosts = Vec::new();
    for item in value.split(',').map(str::trim) {
        let bad = |why: &str| {
            ConfigError::new(
                NAME,
                format!(
                    "“{item}” {why}: give host names separated by commas, like {}",
                    vonage::DEFAULT_AUTH_HOSTS
                ),
            )
        };
        if item.is_empty() {
            return Err(ConfigError::new(
                NAME,
                format!(
                    "has an empty entry: give host names separated by commas, like {}",
                    vonage::DEFAULT_AUTH_HOSTS
                ),
            ));
        }
        if item.contains(['/', ':', '@', '?', '#']) && !item.starts_with('[') {
            return Err(bad("is not a bare host name (no scheme, port or path)"));
        }
        match url::Host::parse(item) {
            Ok(host) => hosts.push(host.to_string()),
            Err(_) => return Err(bad("is not a host name")),
        }
    }
    if crate::support::urls::is_loopback_http(api_base.as_str()) {
        hosts.extend(api_base.host_str().map(str::to_owned));
    }
    Ok(hosts)
}

/// Standard CAMARA v2.1 from `CAMARA_*`: all five required once one is set.
pub(super) fn camara_standard(vars: &Vars, mounted: Option<&Url>) -> Result<Option<CamaraSettings>, ConfigError> {
    let hashed = vars.flag("CAMARA_HASHED")?;
    if none_set(vars, &CAMARA) {
        return mounted.map(|base| sandbox::camara_standard(base, hashed)).transpose();
    }
    let issuer = super::settings::operator_url(
        "CAMARA_ISSUER",
        &vars.required("CAMARA_ISSUER", "the operator's OpenID issuer URL (https://…)")?,
    )?;
    let api_root = super::settings::operator_url(
        "CAMARA_API_ROOT",
        &vars.required("CAMARA_API_ROOT", "the operator's CAMARA API root (https://…)")?,
    )?;
    let client_id = vars.required("CAMARA_CLIENT_ID", "the client id the operator registered for this app")?;
    let client_key = keys::camara_client_key(&vars.required(
        "CAMARA_CLIENT_KEY",
        "the app's private key (a file path or the PEM itself) whose public key the operator registered",
    )?)?;
    let client_key_id = vars.required(
        "CAMARA_CLIENT_KEY_ID",
        "the key id (kid) the operator registered the app's public key under",
    )?;
    Ok(Some(CamaraSettings {
        issuer,
        api_root,
        client_id,
        client_key,
        client_key_id,
        hashed,
        issuer_in_process: false,
        ts43: ts43(vars)?,
    }))
}

/// The phone-number credential's aggregator: `TS43_CREDENTIALS_URL` and
/// `TS43_TRUST_ANCHORS` together, or neither (then the credential path is off).
fn ts43(vars: &Vars) -> Result<Option<Ts43Settings>, ConfigError> {
    let Some(credentials_url) = vars.operator_url("TS43_CREDENTIALS_URL")? else {
        if vars.get("TS43_TRUST_ANCHORS").is_some() {
            return Err(ConfigError::missing(
                "TS43_CREDENTIALS_URL",
                "the aggregator's credential-request endpoint (https://…), with TS43_TRUST_ANCHORS",
            ));
        }
        return Ok(None);
    };
    let trust_anchors = keys::ts43_trust_anchors(&vars.required(
        "TS43_TRUST_ANCHORS",
        "the certificates (a PEM file path or the PEM itself) a credential issuer's chain must end in",
    )?)?;
    Ok(Some(Ts43Settings {
        credentials_url,
        trust_anchors,
    }))
}

/// `CAMARA_PROFILE`: `vonage` or `standard`, and it must be configured. Unset, it is
/// `vonage` — unless only the standard operator is configured, which "camara" then means.
pub(super) fn camara_profile(vars: &Vars, vonage: bool, standard: bool) -> Result<CamaraProfile, ConfigError> {
    match vars.get("CAMARA_PROFILE").map(|v| v.to_ascii_lowercase()).as_deref() {
        None if standard && !vonage => Ok(CamaraProfile::Standard),
        None | Some("vonage") => Ok(CamaraProfile::Vonage),
        Some("standard") if standard => Ok(CamaraProfile::Standard),
        Some("standard") => Err(ConfigError::new(
            "CAMARA_PROFILE",
            "is standard, but no standard CAMARA operator is configured: set CAMARA_ISSUER, CAMARA_API_ROOT, \
             CAMARA_CLIENT_ID, CAMARA_CLIENT_KEY and CAMARA_CLIENT_KEY_ID"
                .into(),
        )),
        Some(other) => Err(ConfigError::new(
            "CAMARA_PROFILE",
            format!("“{other}” is not one of vonage, standard"),
        )),
    }
}
