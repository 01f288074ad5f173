//! Standard CAMARA NumberVerification v2.1 with the CAMARA ICM security profile
//! (docs/reference.md §2.3): discovery, authorization with PKCE, `private_key_jwt`,
//! single-use access tokens, and every scenario of the two CAMARA feature files
//! (`docs/camara/camara-number-verification-v2.1.0-{verify,share}.feature`), one table per
//! file.

mod api;
mod authorize;
mod features;
mod id_token;
mod token;

/// The SIM of the simulated device (the default: no login_hint is sent).
const SIM: &str = "+99012345678";
/// A valid number that is not the device's.
const OTHER: &str = "+99012345670";
/// A P-256 key that is not the client's (the virtual operator's own id_token key).
const OTHER_EC_KEY: &str = include_str!("../../../sandbox-keys/mc-id-token-ec-2.pem");
/// An RSA key that is not the client's.
const FORGED_RSA_KEY: &str = include_str!("../../fixtures/forged-test-only-private.pem");
