//! What the app and the virtual operator agree on without importing each other: the
//! simulated device's cookie and form names (the page's "Simulated SIM" control posts the
//! form; the virtual operator reads the cookies), and the virtual operator's documented
//! test credentials (README, "Virtual operator"). Compiled for both sides of the page; the
//! credentials for the server only.

/// Where the app mounts the virtual operator, and where a `SANDBOX=only` process serves it.
pub const MOUNT: &str = "/sandbox";
/// The simulated device's form (`POST`), relative to the site root.
pub const DEVICE_FORM_ACTION: &str = "/sandbox/device";
/// The virtual operator's Mobile Connect signing keys (JWKS), relative to its base URL:
/// the default `MC_JWKS_URL` when it is the Mobile Connect operator.
pub const MC_JWKS_PATH: &str = "/.well-known/jwks.json";
/// The virtual operator's standard CAMARA v2.1 operator, relative to its base URL: its
/// issuer (`{base}/camara/v2`), and the API root the app calls
/// (`{root}/number-verification/v2/verify`).
pub const CAMARA_V2_PATH: &str = "/camara/v2";

/// TS.43 phone-number credentials through the Digital Credentials API (docs/reference.md
/// §2.4): the aggregator's credential-request endpoint and the virtual wallet, relative to
/// the virtual operator's base URL.
pub const TS43_CREDENTIALS_PATH: &str = "/openid4vp/credentials";
pub const VIRTUAL_WALLET_PATH: &str = "/virtual-wallet";
/// The credential's format and type, as the DCQL query names them.
pub const TS43_FORMAT: &str = "dc-authorization+sd-jwt";
pub const TS43_VCT: &str = "number-verification/verify/ts43";
/// The DC API protocol the page asks for.
pub const TS43_DC_PROTOCOL: &str = "openid4vp-v1-unsigned";
/// RFC 7523 §2.1's grant type, and CAMARA ICM's `sub` prefix for an operator token.
pub const JWT_BEARER_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const OPERATOR_TOKEN_SUB_PREFIX: &str = "operatortoken:";

/// The virtual operator's SMS gateway, relative to its base URL: Vonage's SMS API path
/// (`POST {base}/sms/json`), so a Vonage SMS client whose base URL is the virtual
/// operator's talks to it unchanged; and the inbox where a test reads what was
/// "delivered".
pub const SMS_SEND_PATH: &str = "/sms/json";
pub const SMS_INBOX_PATH: &str = "/sms/messages";

/// The simulated device's cookies (percent-encoded values; `+` travels as `%2B`).
pub const COOKIE_SIM: &str = "sandbox_sim";
pub const COOKIE_NETWORK: &str = "sandbox_network";
pub const COOKIE_FAULT: &str = "sandbox_fault";
pub const COOKIE_DELAY: &str = "sandbox_delay_ms";

/// The device form's fields and the values the virtual operator understands.
pub mod form {
    pub const SIM: &str = "sim";
    pub const NETWORK: &str = "network";
    pub const ACTION: &str = "action";
    pub const RETURN_TO: &str = "return_to";
    pub const NETWORK_WIFI: &str = "wifi";
    pub const NETWORK_MOBILE: &str = "mobile";
    pub const ACTION_CLEAR: &str = "clear";
}

/// The SIM of the simulated device when nothing else decides.
pub const DEFAULT_SANDBOX_SIM: &str = "+99012345678";

/// The virtual operator's documented test client and application. Public on purpose:
/// they open only the virtual operator.
#[cfg(feature = "ssr")]
pub mod credentials {
    pub const MC_CLIENT_ID: &str = "nv-sandbox-mc-client";
    pub const MC_CLIENT_SECRET: &str = "nv-sandbox-mc-secret";
    pub const VONAGE_APPLICATION_ID: &str = "5b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    pub const VONAGE_PRIVATE_KEY: &str = include_str!("../sandbox-keys/vonage-sandbox-private.pem");
    pub const VONAGE_PUBLIC_KEY: &str = include_str!("../sandbox-keys/vonage-sandbox-public.pem");
    /// The standard CAMARA v2.1 test client: `private_key_jwt` with this ES256 key pair.
    pub const CAMARA_CLIENT_ID: &str = "nv-sandbox-camara-client";
    pub const CAMARA_CLIENT_KEY_ID: &str = "nv-sandbox-camara-key-1";
    pub const CAMARA_CLIENT_PRIVATE_KEY: &str = include_str!("../sandbox-keys/camara-client-private.pem");
    pub const CAMARA_CLIENT_PUBLIC_KEY: &str = include_str!("../sandbox-keys/camara-client-public.pem");
    /// The sandbox CA that issues the virtual operator's TS.43 certificates (the trust
    /// anchor of its credentials' and authorization JWTs' `x5c` chains).
    pub const TS43_SANDBOX_CA: &str = include_str!("../sandbox-keys/ts43-sandbox-ca.pem");
    /// The SMS gateway's account (Vonage SMS API `api_key` / `api_secret`), and the
    /// sender name the app uses with it.
    pub const SMS_API_KEY: &str = "nv-sandbox-sms-key";
    pub const SMS_API_SECRET: &str = "nv-sandbox-sms-secret";
    pub const SMS_FROM: &str = "NVSandbox";
}

/// The OpenID Provider's sandbox key and demo relying party: public on purpose, so that
/// anyone can try the provider locally with any OIDC library. They exist only in sandbox
/// mode; a live deployment has its own `OIDC_SIGNING_KEYS` and `RELYING_PARTIES`.
#[cfg(feature = "ssr")]
pub mod oidc {
    /// The ES256 (P-256) key that signs id_tokens and verification tokens in sandbox
    /// mode. NOT SECRET: never use it live.
    pub const SIGNING_KEY: &str = include_str!("../sandbox-keys/oidc-provider-sandbox-1.pem");
    pub const SIGNING_KEY_ID: &str = "nv-sandbox-oidc-1";
    /// The demo relying party (`client_secret_basic`), which accepts any loopback
    /// `http://127.0.0.1:{port}/…` redirect URI.
    pub const DEMO_CLIENT_ID: &str = "nv-demo-rp";
    pub const DEMO_CLIENT_SECRET: &str = "nv-demo-rp-secret";
    pub const DEMO_CLIENT_NAME: &str = "Number Verify demo app";
    /// The key pairwise subject identifiers are derived with in sandbox mode (public).
    pub const SUBJECT_KEY: &str = "nv-sandbox-pairwise-subject-key-not-secret";
}
