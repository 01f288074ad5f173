//! The one-time-code channel's SMS: who sends the codes — a Vonage account
//! (`VONAGE_API_KEY`, `VONAGE_API_SECRET`, `SMS_FROM`), the integrator's own hook
//! (`OTP_HOOK_URL`, `OTP_HOOK_SECRET`), or the virtual operator's gateway — and where to
//! (`SMS_COUNTRIES`).
//!
//! As for the operators, any variable of a sender makes that sender live and then all it
//! needs are required; none is filled in from the virtual operator. Live, codes go only
//! to the countries listed: with no `SMS_COUNTRIES` the channel is off (and start-up says
//! so), since an open SMS endpoint is what SMS-pumping fraud looks for.

use url::Url;

/// The wait before another code may be asked for.
pub const RESEND_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

use super::{sandbox, settings::Vars, Backing, ConfigError, SandboxMode};
use crate::{
    operators::sms::{vonage, Country, HookSettings, SmsCountries, SmsSenderSettings, VonageSmsSettings},
    sandbox_contract::credentials,
    support::{redacted::Secret, signed_body::MIN_SECRET_BYTES},
};

pub(super) const VONAGE_SMS: [&str; 4] = ["VONAGE_API_KEY", "VONAGE_API_SECRET", "SMS_FROM", "VONAGE_SMS_API_BASE"];
pub(super) const HOOK: [&str; 2] = ["OTP_HOOK_URL", "OTP_HOOK_SECRET"];

/// The SMS channel: its sender and where it may send.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    pub sender: SmsSenderSettings,
    pub countries: SmsCountries,
    /// `SMS_PER_NUMBER_PER_DAY`: codes one number may be sent per UTC day.
    pub per_number_per_day: u32,
    /// `SMS_PER_COUNTRY_PER_DAY`: codes one destination country may be sent per UTC day:
    /// what a pumping attack on a country costs at most.
    pub per_country_per_day: u32,
    /// How long a code is good for (five minutes; what the message says).
    pub code_ttl: std::time::Duration,
    /// The wait before another code may be asked for.
    pub resend_after: std::time::Duration,
}

impl SmsSettings {
    /// Whether a code sent this way reaches a phone. The virtual operator's gateway —
    /// mounted, or another process reached with its published account — never does.
    pub fn backing(&self) -> Backing {
        match &self.sender {
            SmsSenderSettings::VirtualGateway(_) => Backing::VirtualOperator,
            SmsSenderSettings::Vonage(s) if s.api_key == credentials::SMS_API_KEY => Backing::VirtualOperator,
            SmsSenderSettings::Vonage(_) | SmsSenderSettings::Hook(_) => Backing::Live,
        }
    }
}

/// The SMS channel from the variables, or `None` when it is off.
pub(super) fn sms(vars: &Vars, mode: SandboxMode, sandbox_base: &Url) -> Result<Option<SmsSettings>, ConfigError> {
    // Alone, the virtual operator is the gateway; it sends nothing itself.
    if mode == SandboxMode::Only {
        return Ok(None);
    }
    let countries = vars
        .get("SMS_COUNTRIES")
        .map(|v| SmsCountries::parse(&v).map_err(|e| ConfigError::new("SMS_COUNTRIES", e.to_string())))
        .transpose()?;
    let vonage_set = VONAGE_SMS.iter().any(|name| vars.is_set(name));
    let hook_set = HOOK.iter().any(|name| vars.is_set(name));
    let sender = match (vonage_set, hook_set) {
        (true, true) => {
            return Err(ConfigError::new(
                "OTP_HOOK_URL",
                "and VONAGE_API_KEY (or another VONAGE_API_*/SMS_FROM variable) are both set: choose one SMS \
                 sender, Vonage or your own hook"
                    .into(),
            ))
        }
        (true, false) => SmsSenderSettings::Vonage(vonage_sms(vars)?),
        (false, true) => SmsSenderSettings::Hook(hook(vars)?),
        (false, false) if mode == SandboxMode::Mounted => {
            SmsSenderSettings::VirtualGateway(sandbox::sms_gateway(sandbox_base))
        }
        (false, false) => {
            if countries.is_some() {
                return Err(ConfigError::new(
                    "SMS_COUNTRIES",
                    "is set, but no SMS sender is: set VONAGE_API_KEY, VONAGE_API_SECRET and SMS_FROM (Vonage), \
                     or OTP_HOOK_URL and OTP_HOOK_SECRET (your own sender)"
                        .into(),
                ));
            }
            return Ok(None);
        }
    };
    let per_number_per_day = vars.count("SMS_PER_NUMBER_PER_DAY", 1..=100, 5)? as u32;
    let per_country_per_day = vars.count("SMS_PER_COUNTRY_PER_DAY", 1..=10_000_000, 1_000)? as u32;
    let settings = |countries| SmsSettings {
        sender: sender.clone(),
        countries,
        per_number_per_day,
        per_country_per_day,
        code_ttl: crate::operators::sms::CODE_TTL,
        resend_after: RESEND_AFTER,
    };
    let backing = settings(SmsCountries::sandbox()).backing();
    Ok(match (backing, countries) {
        // Test numbers only, unless more are listed: the gateway delivers to its inbox.
        (Backing::VirtualOperator, countries) => Some(settings(
            countries.unwrap_or_else(SmsCountries::sandbox).with(Country::SANDBOX),
        )),
        (Backing::Live, Some(countries)) => Some(settings(countries)),
        (Backing::Live, None) => {
            tracing::warn!(
                "SMS_COUNTRIES is not set, so the one-time-code (SMS) channel is off although an SMS sender is \
                 configured: list the countries codes may be sent to, e.g. SMS_COUNTRIES=GB,FR,DE"
            );
            None
        }
    })
}

/// A Vonage account: `VONAGE_API_KEY`, `VONAGE_API_SECRET`, `SMS_FROM`, all required
/// once one is set; `VONAGE_SMS_API_BASE` optional.
fn vonage_sms(vars: &Vars) -> Result<VonageSmsSettings, ConfigError> {
    let api_base = match vars.operator_url("VONAGE_SMS_API_BASE")? {
        Some(base) => base,
        None => Url::parse(vonage::DEFAULT_API_BASE)
            .map_err(|e| ConfigError::new("VONAGE_SMS_API_BASE", format!("the default does not parse: {e}")))?,
    };
    let api_key = vars.required("VONAGE_API_KEY", "the Vonage account's API key (Vonage dashboard)")?;
    if api_key.len() > 64 || !api_key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::new(
            "VONAGE_API_KEY",
            "is not an API key: letters and digits, as the Vonage dashboard shows it".into(),
        ));
    }
    let api_secret = Secret::new(vars.required("VONAGE_API_SECRET", "the Vonage account's API secret")?);
    let from = vars.required(
        "SMS_FROM",
        "the sender the SMS shows: up to 11 letters and digits (where the destination allows a name), or a \
         number of yours in international format",
    )?;
    if !vonage::is_sender(&from) {
        return Err(ConfigError::new(
            "SMS_FROM",
            format!("“{from}” is not a sender: up to 11 letters and digits, or a number of up to 15 digits"),
        ));
    }
    Ok(VonageSmsSettings {
        api_base,
        api_key,
        api_secret,
        from,
    })
}

/// The integrator's hook: `OTP_HOOK_URL` and `OTP_HOOK_SECRET`, both required.
fn hook(vars: &Vars) -> Result<HookSettings, ConfigError> {
    let url = vars.operator_url("OTP_HOOK_URL")?.ok_or_else(|| {
        ConfigError::missing(
            "OTP_HOOK_URL",
            "your endpoint that sends the SMS (https://…), with OTP_HOOK_SECRET",
        )
    })?;
    let secret = vars.required(
        "OTP_HOOK_SECRET",
        "the secret the hook's requests are signed with (at least 32 random characters, e.g. from `openssl rand -hex \
         32`)",
    )?;
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            "OTP_HOOK_SECRET",
            format!("is shorter than {MIN_SECRET_BYTES} bytes: use a random secret, e.g. from `openssl rand -hex 32`"),
        ));
    }
    Ok(HookSettings {
        url,
        secret: Secret::new(secret),
    })
}
