//! X.509 certificates of signing cards: parsing, the certificate number,
//! validity, binding to a registered card, and signature verification with
//! the certificate's public key.
//!
//! Certificates arrive as the E-Port client returns them
//! (`cus-sec_SpcGetSignCertAsPEM`: base64 of the DER, no PEM header), as PEM,
//! or as DER; [`Certificate::parse`] takes any of them.
//!
//! The certificate number is the X.509 serial number in lowercase hex,
//! exactly as `cus-sec_SpcGetCertNo` returns it (e.g. `03000000000cde6f`).
//!
//! Key algorithms:
//!
//! | key | signature verified by [`verify`] |
//! |---|---|
//! | SM2: id-ecPublicKey with curve sm2p256v1 (1.2.156.10197.1.301), or the SM2 OID itself as the algorithm | SM2 with SM3, user id `1234567812345678` ([`crate::sm2`]) |
//! | ECDSA P-256 (PIV cards) | ECDSA with SHA-256, raw `r‖s` or DER |
//! | RSA | PKCS#1 v1.5 with SHA-1 ([`crate::rsa`]) |
//!
//! This module knows nothing about trust: whether a certificate belongs to
//! an enterprise is what the caller registered; [`verify_binding`] only
//! compares numbers, and [`Certificate::verify_issued_by`] only checks one
//! signature of one issuer.

use std::fmt;

use der::asn1::ObjectIdentifier;
use der::{Decode as _, DecodePem as _, Encode as _, EncodePem as _, pem::LineEnding};
use p256::ecdsa::signature::Verifier as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::SignError;
use crate::encoding;
use crate::rsa::RsaPublicKey;
use crate::sm2::Sm2PublicKey;

/// id-ecPublicKey (RFC 5480).
pub const OID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// The SM2 curve, sm2p256v1 (GM/T 0006), also used as an algorithm OID.
pub const OID_SM2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");
/// SM2-1, the SM2 signature algorithm (GM/T 0006), seen as a key algorithm.
pub const OID_SM2_SIGN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301.1");
/// NIST P-256 (prime256v1).
pub const OID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// rsaEncryption (PKCS#1).
pub const OID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// SM2 with SM3 (GM/T 0006), the signature algorithm of E-Port certificates.
pub const OID_SM2_WITH_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");
/// ecdsa-with-SHA256 (RFC 5758).
pub const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// sha1WithRSAEncryption (PKCS#1).
pub const OID_RSA_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
/// sha256WithRSAEncryption (PKCS#1).
pub const OID_RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// The public key algorithm of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// SM2 (signatures: SM2 with SM3).
    Sm2,
    /// ECDSA on NIST P-256 (signatures: ECDSA with SHA-256).
    EcdsaP256,
    /// RSA (signatures: PKCS#1 v1.5 with SHA-1).
    Rsa { bits: usize },
    /// Anything else; such a certificate parses but verifies nothing.
    Unsupported { description: String },
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyAlgorithm::Sm2 => f.write_str("SM2"),
            KeyAlgorithm::EcdsaP256 => f.write_str("ECDSA P-256"),
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA-{bits}"),
            KeyAlgorithm::Unsupported { description } => write!(f, "unsupported ({description})"),
        }
    }
}

#[derive(Clone)]
enum PublicKey {
    Sm2(Sm2PublicKey),
    P256(p256::ecdsa::VerifyingKey),
    Rsa(RsaPublicKey),
    Unsupported(String),
}

/// A parsed X.509 certificate with its decoded public key.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    x509: x509_cert::Certificate,
    key: PublicKey,
}

impl Certificate {
    /// Parses a certificate given as DER, PEM, or base64 of the DER (what
    /// `cus-sec_SpcGetSignCertAsPEM` returns); white space around and inside
    /// base64 is ignored.
    pub fn parse(input: impl AsRef<[u8]>) -> Result<Self, SignError> {
        let input = input.as_ref();
        let text = std::str::from_utf8(input).ok().map(str::trim);
        match text {
            Some(text) if text.starts_with("-----BEGIN") => Self::from_pem(text),
            _ if input.first() == Some(&0x30) => Self::from_der(input),
            _ => match encoding::base64_text(input) {
                Some(der) => Self::from_der(&der),
                None => Err(SignError::MalformedCertificate("neither DER, PEM nor base64 of DER".into())),
            },
        }
    }

    /// Parses a PEM certificate (`-----BEGIN CERTIFICATE-----`).
    pub fn from_pem(pem: &str) -> Result<Self, SignError> {
        let x509 = x509_cert::Certificate::from_pem(pem.trim().as_bytes())
            .map_err(|e| SignError::MalformedCertificate(e.to_string()))?;
        let der = x509.to_der().map_err(|e| SignError::MalformedCertificate(e.to_string()))?;
        Self::from_parts(der, x509)
    }

    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, SignError> {
        let x509 = x509_cert::Certificate::from_der(der).map_err(|e| SignError::MalformedCertificate(e.to_string()))?;
        Self::from_parts(der.to_vec(), x509)
    }

    pub(crate) fn from_x509(x509: x509_cert::Certificate) -> Result<Self, SignError> {
        let der = x509.to_der().map_err(|e| SignError::MalformedCertificate(e.to_string()))?;
        Self::from_parts(der, x509)
    }

    fn from_parts(der: Vec<u8>, x509: x509_cert::Certificate) -> Result<Self, SignError> {
        let key = decode_public_key(x509.tbs_certificate().subject_public_key_info())?;
        Ok(Certificate { der, x509, key })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Base64 of the DER without PEM armour, as
    /// `cus-sec_SpcGetSignCertAsPEM` returns it.
    pub fn to_base64(&self) -> String {
        encoding::base64(&self.der)
    }

    /// PEM (`-----BEGIN CERTIFICATE-----`, LF line endings).
    pub fn to_pem(&self) -> String {
        self.x509.to_pem(LineEnding::LF).expect("a parsed certificate re-encodes")
    }

    /// The certificate number: the serial number in lowercase hex, as
    /// `cus-sec_SpcGetCertNo` returns it (e.g. `03000000000cde6f`). A zero
    /// byte that DER puts before a serial with its high bit set is left out.
    pub fn cert_no(&self) -> String {
        let bytes = self.x509.tbs_certificate().serial_number().as_bytes();
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len().saturating_sub(1));
        hex::encode(&bytes[start..])
    }

    /// The subject's common name (CN), if any.
    pub fn subject_cn(&self) -> Option<String> {
        let cn = self.x509.tbs_certificate().subject().common_name().ok()??;
        Some(cn.value().into_owned())
    }

    /// The subject as an RFC 4514 string (e.g. `CN=…,OU=…,C=CN`).
    pub fn subject(&self) -> String {
        self.x509.tbs_certificate().subject().to_string()
    }

    /// The issuer as an RFC 4514 string.
    pub fn issuer(&self) -> String {
        self.x509.tbs_certificate().issuer().to_string()
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        to_datetime(self.x509.tbs_certificate().validity().not_before)
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        to_datetime(self.x509.tbs_certificate().validity().not_after)
    }

    /// The public key algorithm.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        match &self.key {
            PublicKey::Sm2(_) => KeyAlgorithm::Sm2,
            PublicKey::P256(_) => KeyAlgorithm::EcdsaP256,
            PublicKey::Rsa(key) => KeyAlgorithm::Rsa { bits: key.bits() },
            PublicKey::Unsupported(description) => KeyAlgorithm::Unsupported { description: description.clone() },
        }
    }

    /// The SM2 public key, when the certificate has one.
    pub fn sm2_public_key(&self) -> Option<&Sm2PublicKey> {
        match &self.key {
            PublicKey::Sm2(key) => Some(key),
            _ => None,
        }
    }

    /// The OID of the algorithm the issuer signed this certificate with.
    pub fn signature_algorithm(&self) -> ObjectIdentifier {
        self.x509.signature_algorithm().oid
    }

    /// Whether the certificate is valid at `at` (both ends inclusive).
    pub fn check_valid_at(&self, at: OffsetDateTime) -> Result<(), SignError> {
        let (not_before, not_after) = (self.not_before(), self.not_after());
        if at < not_before {
            return Err(SignError::NotYetValid { cert_no: self.cert_no(), not_before: rfc3339(not_before) });
        }
        if at > not_after {
            return Err(SignError::Expired { cert_no: self.cert_no(), not_after: rfc3339(not_after) });
        }
        Ok(())
    }

    /// Whether the certificate is valid now.
    pub fn check_valid_now(&self) -> Result<(), SignError> {
        self.check_valid_at(OffsetDateTime::now_utc())
    }

    /// Verifies `signature` over `message` with this certificate's key; see
    /// [`verify`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
        match &self.key {
            PublicKey::Sm2(key) => key.verify(message, signature),
            PublicKey::P256(key) => verify_p256(key, message, signature),
            PublicKey::Rsa(key) => key.verify_sha1(message, signature),
            PublicKey::Unsupported(description) => Err(SignError::UnsupportedAlgorithm(description.clone())),
        }
    }

    /// Verifies that `issuer`'s key signed this certificate (SM2 with SM3,
    /// ECDSA with SHA-256, RSA with SHA-1 or SHA-256). Checks nothing else:
    /// not the names, not the validity, not the issuer's own standing.
    pub fn verify_issued_by(&self, issuer: &Certificate) -> Result<(), SignError> {
        let tbs = self.x509.tbs_certificate().to_der().map_err(|e| SignError::MalformedCertificate(e.to_string()))?;
        let signature = self
            .x509
            .signature()
            .as_bytes()
            .ok_or_else(|| SignError::MalformedSignature("certificate signature has unused bits".into()))?;
        let algorithm = self.signature_algorithm();
        match (&issuer.key, algorithm) {
            (PublicKey::Sm2(key), OID_SM2_WITH_SM3) => key.verify(&tbs, signature),
            (PublicKey::P256(key), OID_ECDSA_SHA256) => verify_p256(key, &tbs, signature),
            (PublicKey::Rsa(key), OID_RSA_SHA1) => key.verify_sha1(&tbs, signature),
            (PublicKey::Rsa(key), OID_RSA_SHA256) => key.verify_sha256(&tbs, signature),
            _ => Err(SignError::UnsupportedAlgorithm(format!(
                "certificate signed with {algorithm} by a {} key",
                issuer.key_algorithm()
            ))),
        }
    }

    /// Verifies the certificate's signature with its own key.
    pub fn verify_self_signed(&self) -> Result<(), SignError> {
        self.verify_issued_by(self)
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("cert_no", &self.cert_no())
            .field("subject", &self.subject())
            .field("key", &self.key_algorithm())
            .field("not_after", &rfc3339(self.not_after()))
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

/// Verifies `signature` over `message` with the certificate's public key,
/// choosing the algorithm by the key: SM2 with SM3 (default user id), ECDSA
/// P-256 with SHA-256, or RSA PKCS#1 v1.5 with SHA-1. Signatures may be raw
/// (`r‖s` for the elliptic curves), DER, or base64 text of either.
///
/// Checks only the signature; see [`verify_registered`] for the checks a
/// server makes before accepting a signed document.
pub fn verify(cert: &Certificate, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
    cert.verify(message, signature)
}

/// Checks that `cert` is the certificate registered as `expected_cert_no`
/// (compared as numbers: case, `:` separators, white space and leading
/// zeros do not matter).
pub fn verify_binding(cert: &Certificate, expected_cert_no: &str) -> Result<(), SignError> {
    let actual = cert.cert_no();
    let expected = normalize_cert_no(expected_cert_no);
    if expected.is_empty() || expected != normalize_cert_no(&actual) {
        return Err(SignError::CertificateMismatch { expected: expected_cert_no.trim().to_string(), actual });
    }
    Ok(())
}

/// The checks a server makes on a signed document, in order: the
/// certificate is the registered one ([`verify_binding`]), it is valid at
/// `at` ([`Certificate::check_valid_at`]), and the signature over `message`
/// verifies ([`verify`]).
pub fn verify_registered(
    cert: &Certificate,
    expected_cert_no: &str,
    at: OffsetDateTime,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignError> {
    verify_binding(cert, expected_cert_no)?;
    cert.check_valid_at(at)?;
    cert.verify(message, signature)
}

fn normalize_cert_no(cert_no: &str) -> String {
    let digits: String =
        cert_no.chars().filter(|c| !c.is_whitespace() && *c != ':').map(|c| c.to_ascii_lowercase()).collect();
    digits.trim_start_matches('0').to_string()
}

fn decode_public_key(spki: &spki::SubjectPublicKeyInfoOwned) -> Result<PublicKey, SignError> {
    let algorithm = spki.algorithm.oid;
    let key_bits = spki.subject_public_key.as_bytes();
    let bits = || key_bits.ok_or_else(|| SignError::MalformedKey("public key bit string has unused bits".into()));
    if algorithm == OID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok())
            .ok_or_else(|| SignError::MalformedKey("EC key without a named curve".into()))?;
        return Ok(match curve {
            OID_SM2 => PublicKey::Sm2(Sm2PublicKey::from_sec1(bits()?)?),
            OID_P256 => PublicKey::P256(
                p256::ecdsa::VerifyingKey::from_sec1_bytes(bits()?)
                    .map_err(|_| SignError::MalformedKey("not a point on P-256".into()))?,
            ),
            other => PublicKey::Unsupported(format!("EC curve {other}")),
        });
    }
    Ok(match algorithm {
        OID_SM2 | OID_SM2_SIGN => PublicKey::Sm2(Sm2PublicKey::from_sec1(bits()?)?),
        OID_RSA => PublicKey::Rsa(RsaPublicKey::from_pkcs1_der(bits()?)?),
        other => PublicKey::Unsupported(format!("key algorithm {other}")),
    })
}

fn verify_p256(key: &p256::ecdsa::VerifyingKey, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
    let decode = |bytes: &[u8]| {
        if bytes.len() == 64 {
            p256::ecdsa::Signature::from_slice(bytes).ok()
        } else {
            p256::ecdsa::Signature::from_der(bytes).ok()
        }
    };
    let signature = decode(signature)
        .or_else(|| encoding::base64_text(signature).and_then(|b| decode(&b)))
        .ok_or_else(|| SignError::MalformedSignature("not an ECDSA P-256 signature (r‖s or DER)".into()))?;
    key.verify(message, &signature).map_err(|_| SignError::BadSignature)
}

fn to_datetime(time: x509_cert::time::Time) -> OffsetDateTime {
    let secs = i64::try_from(time.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

pub(crate) fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}
