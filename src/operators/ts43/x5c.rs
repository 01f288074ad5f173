//! The credential issuer's certificate chain (`x5c`, RFC 7515 §4.1.6): leaf first, each
//! certificate signed by the next, the last signed by (or equal to) a configured trust
//! anchor, every one within its validity period, and every issuer a CA. Only ECDSA P-256
//! with SHA-256 is accepted: a chain in anything else is refused by name, never skipped.

use base64::{engine::general_purpose::STANDARD, Engine};
use p256::ecdsa::{signature::Verifier, DerSignature, VerifyingKey};
use x509_cert::{
    der::{referenced::OwnedToRef, Decode, DecodePem, Encode},
    ext::pkix::BasicConstraints,
    Certificate,
};

use super::CredentialError;

/// ecdsa-with-SHA256 (RFC 5758 §3.2).
const ECDSA_WITH_SHA256: &str = "1.2.840.10045.4.3.2";
/// The longest chain read (leaf, intermediates), so a header cannot make the server
/// verify signatures without end.
const MAX_CHAIN: usize = 5;

/// The certificates a credential's chain must end in (`TS43_TRUST_ANCHORS`).
#[derive(Clone)]
pub struct TrustAnchors(Vec<Certificate>);

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TrustAnchors({} certificates)", self.0.len())
    }
}

impl TrustAnchors {
    /// Every `-----BEGIN CERTIFICATE-----` block of `pem`; at least one.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let mut anchors = Vec::new();
        for block in pem.split_inclusive("-----END CERTIFICATE-----") {
            let Some(start) = block.find("-----BEGIN CERTIFICATE-----") else {
                continue;
            };
            let cert = Certificate::from_pem(&block.as_bytes()[start..])
                .map_err(|e| format!("a certificate does not parse: {e}"))?;
            anchors.push(cert);
        }
        if anchors.is_empty() {
            return Err("holds no PEM certificate".into());
        }
        Ok(Self(anchors))
    }

    /// The leaf's key, once `x5c` chains to one of these anchors at `now` (Unix seconds).
    pub fn verify(&self, x5c: &[String], now: u64) -> Result<VerifyingKey, CredentialError> {
        if x5c.is_empty() || x5c.len() > MAX_CHAIN {
            return Err(CredentialError::Untrusted(
                "the issuer's x5c must hold 1 to 5 certificates",
            ));
        }
        let chain = x5c
            .iter()
            .map(|b64| {
                STANDARD
                    .decode(b64)
                    .ok()
                    .and_then(|der| Certificate::from_der(&der).ok())
                    .ok_or(CredentialError::Malformed("an x5c certificate does not decode"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for cert in &chain {
            within_validity(cert, now)?;
        }
        for pair in chain.windows(2) {
            is_ca(&pair[1])?;
            signed_by(&pair[0], &pair[1])?;
        }
        let last = chain.last().expect("x5c is not empty");
        let anchored = self.0.iter().any(|anchor| {
            anchor == last
                || (anchor.tbs_certificate.subject == last.tbs_certificate.issuer
                    && within_validity(anchor, now).is_ok()
                    && is_ca(anchor).is_ok()
                    && signed_by(last, anchor).is_ok())
        });
        if !anchored {
            return Err(CredentialError::Untrusted(
                "the issuer's chain does not end in a trust anchor",
            ));
        }
        public_key(&chain[0])
    }
}

fn within_validity(cert: &Certificate, now: u64) -> Result<(), CredentialError> {
    let validity = &cert.tbs_certificate.validity;
    let (from, to) = (
        validity.not_before.to_unix_duration().as_secs(),
        validity.not_after.to_unix_duration().as_secs(),
    );
    if now < from || now > to {
        return Err(CredentialError::Untrusted(
            "a certificate of the issuer's chain is not valid now",
        ));
    }
    Ok(())
}

/// RFC 5280 §4.2.1.9: only a CA's key verifies certificates.
fn is_ca(cert: &Certificate) -> Result<(), CredentialError> {
    match cert.tbs_certificate.get::<BasicConstraints>() {
        Ok(Some((_, constraints))) if constraints.ca => Ok(()),
        _ => Err(CredentialError::Untrusted(
            "a certificate that signs another is not a CA",
        )),
    }
}

fn public_key(cert: &Certificate) -> Result<VerifyingKey, CredentialError> {
    VerifyingKey::try_from(cert.tbs_certificate.subject_public_key_info.owned_to_ref())
        .map_err(|_| CredentialError::Unsupported("a certificate's key is not a P-256 key"))
}

/// `cert` carries a valid ECDSA P-256 SHA-256 signature by `issuer`'s key.
fn signed_by(cert: &Certificate, issuer: &Certificate) -> Result<(), CredentialError> {
    if cert.signature_algorithm.oid.to_string() != ECDSA_WITH_SHA256 {
        return Err(CredentialError::Unsupported(
            "a certificate of the issuer's chain is not signed with ECDSA P-256 SHA-256",
        ));
    }
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return Err(CredentialError::Untrusted("the issuer's chain is out of order"));
    }
    let key = public_key(issuer)?;
    let signature = cert
        .signature
        .as_bytes()
        .and_then(|bytes| DerSignature::from_bytes(bytes).ok())
        .ok_or(CredentialError::Malformed("a certificate's signature does not decode"))?;
    let tbs = cert
        .tbs_certificate
        .to_der()
        .map_err(|_| CredentialError::Malformed("a certificate does not re-encode"))?;
    key.verify(&tbs, &signature)
        .map_err(|_| CredentialError::Untrusted("a certificate's signature does not verify"))
}
