//! SM2 signatures with SM3 (GB/T 32918.2, GB/T 32905), signed data as in
//! GB/T 35276: `e = SM3(Z ‖ M)` where `Z` hashes the signer's user id, the
//! curve and the public key. The user id is the standard default
//! [`DEFAULT_USER_ID`] (`1234567812345678`), which is what the E-Port client,
//! China E-Port certificates and most SM2 software use.
//!
//! Signatures on the wire come in several dresses; [`decode_signature`]
//! accepts all of them:
//!
//! * raw 64 bytes `r ‖ s` (what `cus-sec_SpcSignData` returns);
//! * DER, `SEQUENCE { r INTEGER, s INTEGER }` (GM/T 0009, X.509, OpenSSL);
//! * base64 text of either (what `cus-sec_SpcSignDataAsPEM` returns).
//!
//! Signatures are produced as the E-Port client produces them: 64-byte raw
//! `r ‖ s`, base64 with [`encode_signature`]. Signing is deterministic
//! (RFC 6979 nonces with SM3), which makes it independent of a random source.

use std::fmt;

use ::sm2::dsa::signature::{Signer as _, Verifier as _};
use ::sm2::dsa::{Signature, SigningKey, VerifyingKey};
use ::sm2::elliptic_curve::Generate as _;
use ::sm2::elliptic_curve::sec1::ToSec1Point as _;
use ::sm2::pkcs8::{
    DecodePrivateKey as _, DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _, LineEnding,
};
use ::sm2::{PublicKey, SecretKey};
use sm3::{Digest as _, Sm3};

use crate::SignError;
use crate::encoding;

/// The GB/T 35276 default user id (`ID_A`) that enters `Z`.
pub const DEFAULT_USER_ID: &str = "1234567812345678";

/// Length of a raw SM2 signature, `r ‖ s`.
pub const SIGNATURE_LEN: usize = 64;

/// A raw SM2 signature, `r ‖ s`, each 32 bytes big-endian.
pub type RawSignature = [u8; SIGNATURE_LEN];

/// SM3 hash (GB/T 32905) of `data`.
pub fn sm3(data: &[u8]) -> [u8; 32] {
    Sm3::digest(data).into()
}

/// An SM2 private key (a soft card's; a real card never lets its key out).
#[derive(Clone)]
pub struct Sm2PrivateKey {
    secret: SecretKey,
    signing: SigningKey,
}

impl Sm2PrivateKey {
    /// A new random key from the operating system's random source.
    pub fn generate() -> Result<Self, SignError> {
        let secret = SecretKey::try_generate().map_err(|e| SignError::Signing(format!("no randomness: {e}")))?;
        Self::from_secret(secret)
    }

    /// The key from its 32-byte big-endian scalar.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SignError> {
        let secret =
            SecretKey::from_slice(bytes).map_err(|_| SignError::MalformedKey("not an SM2 private key".into()))?;
        Self::from_secret(secret)
    }

    /// The key from PKCS#8 DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, SignError> {
        let secret = SecretKey::from_pkcs8_der(der).map_err(|e| SignError::MalformedKey(e.to_string()))?;
        Self::from_secret(secret)
    }

    /// The key from PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, SignError> {
        let secret = SecretKey::from_pkcs8_pem(pem).map_err(|e| SignError::MalformedKey(e.to_string()))?;
        Self::from_secret(secret)
    }

    fn from_secret(secret: SecretKey) -> Result<Self, SignError> {
        let signing = SigningKey::new(DEFAULT_USER_ID, &secret).map_err(|e| SignError::MalformedKey(e.to_string()))?;
        Ok(Sm2PrivateKey { secret, signing })
    }

    /// The key as PKCS#8 PEM (unencrypted).
    pub fn to_pkcs8_pem(&self) -> Result<String, SignError> {
        let pem = self.secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| SignError::MalformedKey(e.to_string()))?;
        Ok(pem.to_string())
    }

    /// The 32-byte big-endian scalar.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes().into()
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The matching public key.
    pub fn public_key(&self) -> Sm2PublicKey {
        Sm2PublicKey::from_public(self.secret.public_key())
    }

    /// Signs `message` (SM3 with the default user id) and returns the raw
    /// `r ‖ s`.
    pub fn sign(&self, message: &[u8]) -> Result<RawSignature, SignError> {
        let signature: Signature = self.signing.try_sign(message).map_err(|e| SignError::Signing(e.to_string()))?;
        Ok(signature.to_bytes().into())
    }

    /// Signs `message` and returns the base64 of the raw `r ‖ s`, as
    /// `cus-sec_SpcSignDataAsPEM` does.
    pub fn sign_base64(&self, message: &[u8]) -> Result<String, SignError> {
        Ok(encode_signature(&self.sign(message)?))
    }
}

impl fmt::Debug for Sm2PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2PrivateKey").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

/// An SM2 public key, as found in a certificate.
#[derive(Clone)]
pub struct Sm2PublicKey {
    public: PublicKey,
    verifying: VerifyingKey,
}

impl Sm2PublicKey {
    /// The key from a SEC1 point: 65 bytes `04 ‖ x ‖ y` (as in certificates),
    /// 64 bytes `x ‖ y` (as some card middleware returns it), or compressed.
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, SignError> {
        let public = if bytes.len() == 64 {
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(bytes);
            PublicKey::from_sec1_bytes(&point)
        } else {
            PublicKey::from_sec1_bytes(bytes)
        }
        .map_err(|_| SignError::MalformedKey("not a point on the SM2 curve".into()))?;
        Ok(Self::from_public(public))
    }

    /// The key from a DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, SignError> {
        let public = PublicKey::from_public_key_der(der).map_err(|e| SignError::MalformedKey(e.to_string()))?;
        Ok(Self::from_public(public))
    }

    fn from_public(public: PublicKey) -> Self {
        let verifying = VerifyingKey::new(DEFAULT_USER_ID, public).expect("the default user id is short enough");
        Sm2PublicKey { public, verifying }
    }

    /// The uncompressed SEC1 point, `04 ‖ x ‖ y` (65 bytes).
    pub fn to_sec1_uncompressed(&self) -> Vec<u8> {
        self.public.to_sec1_point(false).as_bytes().to_vec()
    }

    /// The key as a DER `SubjectPublicKeyInfo` (id-ecPublicKey, curve SM2).
    pub fn to_spki_der(&self) -> Result<Vec<u8>, SignError> {
        let doc = self.public.to_public_key_der().map_err(|e| SignError::MalformedKey(e.to_string()))?;
        Ok(doc.as_bytes().to_vec())
    }

    /// Verifies `signature` (any encoding [`decode_signature`] accepts) over
    /// `message` with SM3 and the default user id.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
        let signature = parse(signature)?;
        self.verifying.verify(message, &signature).map_err(|_| SignError::BadSignature)
    }

    /// As [`Sm2PublicKey::verify`], with another user id than the default.
    pub fn verify_with_user_id(&self, user_id: &str, message: &[u8], signature: &[u8]) -> Result<(), SignError> {
        let signature = parse(signature)?;
        let verifying =
            VerifyingKey::new(user_id, self.public).map_err(|_| SignError::MalformedKey("user id too long".into()))?;
        verifying.verify(message, &signature).map_err(|_| SignError::BadSignature)
    }
}

impl PartialEq for Sm2PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.public == other.public
    }
}

impl Eq for Sm2PublicKey {}

impl fmt::Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm2PublicKey({})", hex::encode(self.to_sec1_uncompressed()))
    }
}

fn parse(signature: &[u8]) -> Result<Signature, SignError> {
    let raw = decode_signature(signature)?;
    Signature::from_slice(&raw).map_err(|_| SignError::MalformedSignature("r or s out of range".into()))
}

/// Decodes an SM2 signature given as raw `r ‖ s` (64 bytes), DER
/// (`SEQUENCE { INTEGER r, INTEGER s }`), or base64 text of either, into raw
/// `r ‖ s`.
pub fn decode_signature(signature: &[u8]) -> Result<RawSignature, SignError> {
    decode_binary(signature)
        .or_else(|| encoding::base64_text(signature).and_then(|bytes| decode_binary(&bytes)))
        .ok_or_else(|| {
            SignError::MalformedSignature(format!(
                "{} bytes: neither 64-byte r‖s, DER, nor base64 of either",
                signature.len()
            ))
        })
}

fn decode_binary(bytes: &[u8]) -> Option<RawSignature> {
    if bytes.len() == SIGNATURE_LEN {
        return bytes.try_into().ok();
    }
    decode_der(bytes)
}

/// `SEQUENCE { INTEGER, INTEGER }`, tolerant of non-minimal integer
/// encodings (a redundant leading zero) that some card middleware emits.
fn decode_der(bytes: &[u8]) -> Option<RawSignature> {
    let (tag, body, rest) = der_tlv(bytes)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tag_r, r, rest) = der_tlv(body)?;
    let (tag_s, s, rest) = der_tlv(rest)?;
    if tag_r != 0x02 || tag_s != 0x02 || !rest.is_empty() {
        return None;
    }
    let mut out = [0u8; SIGNATURE_LEN];
    put_unsigned(r, &mut out[..32])?;
    put_unsigned(s, &mut out[32..])?;
    Some(out)
}

fn der_tlv(bytes: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81 => {
            let (&len, rest) = rest.split_first()?;
            (usize::from(len), rest)
        }
        _ => return None,
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

fn put_unsigned(integer: &[u8], out: &mut [u8]) -> Option<()> {
    if integer.is_empty() || integer[0] & 0x80 != 0 {
        return None;
    }
    let start = integer.iter().position(|&b| b != 0).unwrap_or(integer.len());
    let magnitude = &integer[start..];
    if magnitude.len() > out.len() {
        return None;
    }
    let offset = out.len() - magnitude.len();
    out[offset..].copy_from_slice(magnitude);
    Some(())
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of a raw signature.
pub fn signature_to_der(raw: &RawSignature) -> Vec<u8> {
    fn integer(magnitude: &[u8], out: &mut Vec<u8>) {
        let start = magnitude.iter().position(|&b| b != 0).unwrap_or(magnitude.len() - 1);
        let value = &magnitude[start..];
        let pad = value[0] & 0x80 != 0;
        out.push(0x02);
        out.push((value.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(value);
    }
    let mut body = Vec::with_capacity(70);
    integer(&raw[..32], &mut body);
    integer(&raw[32..], &mut body);
    let mut out = Vec::with_capacity(body.len() + 2);
    out.push(0x30);
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
    out
}

/// Base64 of a raw signature, as `cus-sec_SpcSignDataAsPEM` returns it.
pub fn encode_signature(raw: &RawSignature) -> String {
    encoding::base64(raw)
}
