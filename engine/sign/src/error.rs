use std::path::PathBuf;

/// Everything that can go wrong while signing or checking a signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The signature is well formed but does not verify: the data, the
    /// signature or the key is not the one that was signed with.
    #[error("the signature does not verify")]
    BadSignature,
    /// The signature could not be decoded (neither raw, DER nor base64).
    #[error("malformed signature: {0}")]
    MalformedSignature(String),
    /// A public or private key could not be decoded.
    #[error("malformed key: {0}")]
    MalformedKey(String),
    /// The certificate could not be decoded.
    #[error("malformed certificate: {0}")]
    MalformedCertificate(String),
    /// The key or signature algorithm is not one this crate verifies.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The certificate's validity has not begun.
    #[error("certificate {cert_no} is not valid before {not_before}")]
    NotYetValid { cert_no: String, not_before: String },
    /// The certificate's validity has ended.
    #[error("certificate {cert_no} expired at {not_after}")]
    Expired { cert_no: String, not_after: String },
    /// The certificate is not the one registered for the account or card.
    #[error("certificate {actual} is not the registered certificate {expected}")]
    CertificateMismatch { expected: String, actual: String },
    /// The header fields of a signed document contain characters that would
    /// make the canonical form ambiguous.
    #[error("invalid canonical field {field}: {reason}")]
    InvalidCanonicalField { field: &'static str, reason: &'static str },
    /// Signing failed, or the operating system gave no randomness for a key,
    /// salt or serial number.
    #[error("signing failed: {0}")]
    Signing(String),
    /// The PIN given does not match the card's.
    #[error("wrong PIN")]
    WrongPin,
    /// A soft card on disk is incomplete, inconsistent or already exists.
    #[error("soft card {dir}: {reason}")]
    SoftCard { dir: PathBuf, reason: String },
    /// Reading or writing a soft card file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SignError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        SignError::Io { path: path.into(), source }
    }
}
