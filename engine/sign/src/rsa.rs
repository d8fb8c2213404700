//! RSA signatures, PKCS#1 v1.5 (RFC 8017 §8.2), with SHA-1: what legacy
//! E-Port cards produce (`xmldsig#rsa-sha1`). Verification only: no RSA card
//! is ever emulated, and SHA-1 is accepted solely because those cards know
//! nothing better. Keys from 1024 to 8192 bits are accepted.

use std::fmt;

use ::rsa::pkcs1::DecodeRsaPublicKey as _;
use ::rsa::pkcs1v15::{Signature, VerifyingKey};
use ::rsa::pkcs8::DecodePublicKey as _;
use ::rsa::signature::Verifier as _;
use ::rsa::traits::PublicKeyParts as _;
use sha1::Sha1;
use sha2::Sha256;

use crate::SignError;
use crate::encoding;

/// An RSA public key, as found in a certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    key: ::rsa::PublicKey,
}

impl RsaPublicKey {
    /// The key from a DER `SubjectPublicKeyInfo` (rsaEncryption).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, SignError> {
        let key = ::rsa::PublicKey::from_public_key_der(der).map_err(|e| SignError::MalformedKey(e.to_string()))?;
        Ok(RsaPublicKey { key })
    }

    /// The key from a DER PKCS#1 `RSAPublicKey` (the contents of a
    /// certificate's public key bit string).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, SignError> {
        let key = ::rsa::PublicKey::from_pkcs1_der(der).map_err(|e| SignError::MalformedKey(e.to_string()))?;
        Ok(RsaPublicKey { key })
    }

    /// Size of the modulus in bits.
    pub fn bits(&self) -> usize {
        self.key.size() * 8
    }

    /// Verifies an RSA PKCS#1 v1.5 signature with SHA-1 over `message`.
    /// `signature` is the raw signature (as long as the modulus) or base64
    /// text of it.
    pub fn verify_sha1(&self, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
        let signature = self.decode(signature)?;
        VerifyingKey::<Sha1>::new(self.key.clone()).verify(message, &signature).map_err(|_| SignError::BadSignature)
    }

    /// As [`RsaPublicKey::verify_sha1`] with SHA-256 (certificate signatures
    /// of newer issuers).
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
        let signature = self.decode(signature)?;
        VerifyingKey::<Sha256>::new(self.key.clone()).verify(message, &signature).map_err(|_| SignError::BadSignature)
    }

    fn decode(&self, signature: &[u8]) -> Result<Signature, SignError> {
        let len = self.key.size();
        let bytes = if signature.len() == len {
            signature.to_vec()
        } else {
            encoding::base64_text(signature).filter(|b| b.len() == len).ok_or_else(|| {
                SignError::MalformedSignature(format!(
                    "{} bytes: neither a {len}-byte RSA signature nor base64 of one",
                    signature.len()
                ))
            })?
        };
        Signature::try_from(bytes.as_slice()).map_err(|e| SignError::MalformedSignature(e.to_string()))
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits())
    }
}

/// Verifies an RSA PKCS#1 v1.5 SHA-1 signature; see
/// [`RsaPublicKey::verify_sha1`].
pub fn verify_sha1(public_key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
    public_key.verify_sha1(message, signature)
}
