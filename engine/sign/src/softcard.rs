//! A development soft card: an SM2 key, a self-signed certificate and a PIN
//! in a directory, standing in for an E-Port card where none is at hand
//! (development, demos, tests, the card agent's `--soft-card`).
//!
//! Files in the card directory:
//!
//! | file | content |
//! |---|---|
//! | `key.pem` | the SM2 private key, PKCS#8 PEM, unencrypted, file mode 0600 |
//! | `cert.pem` | a self-signed X.509 v3 certificate: SM2 key (id-ecPublicKey, curve sm2p256v1), signed with SM2-with-SM3 (1.2.156.10197.1.501, DER signature, user id `1234567812345678`), subject `CN=<card id>, O=certflow development soft card`, random 8-byte serial (the certificate number), valid 5 years (1826 days) from an hour before creation, key usage digitalSignature + nonRepudiation (as E-Port certificates) |
//! | `card.json` | `{"format": "certflow-soft-card/1", "card_id", "cert_no", "created_at", "pin": {"kdf": "pbkdf2-hmac-sha256", "iterations", "salt", "hash"}}` |
//!
//! The PIN (default [`DEFAULT_PIN`], `88888888`, as on E-Port cards as
//! issued) is kept only as a salted PBKDF2-HMAC-SHA256 hash. It gates
//! signing through the signer protocol, like a card's PIN; it does not
//! encrypt `key.pem`, which is protected by its file mode only. A soft card
//! is for development: it is not a place for a key that matters.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::{Duration, SystemTime};

use ::sm2::dsa::DerSignature;
use ::sm2::dsa::signature::{self, Keypair, Signer};
use der::asn1::AnyRef;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use spki::{AlgorithmIdentifier, SignatureAlgorithmIdentifier, SubjectPublicKeyInfo, SubjectPublicKeyInfoRef};
use time::OffsetDateTime;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder as _, CertificateBuilder};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::ext::{Extension, ToExtension as _};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::cert::{Certificate, OID_SM2_WITH_SM3, rfc3339};
use crate::sm2::{RawSignature, Sm2PrivateKey, Sm2PublicKey};
use crate::{SignError, encoding};

/// The PIN of a soft card created without one (as E-Port cards are issued).
pub const DEFAULT_PIN: &str = "88888888";
/// Organisation (O) in a soft card certificate's subject.
pub const SOFT_CARD_ORGANIZATION: &str = "certflow development soft card";
/// Value of `format` in `card.json`.
pub const CARD_FORMAT: &str = "certflow-soft-card/1";
/// File names in a card directory.
pub const KEY_FILE: &str = "key.pem";
pub const CERT_FILE: &str = "cert.pem";
pub const CARD_FILE: &str = "card.json";

const PIN_KDF: &str = "pbkdf2-hmac-sha256";
const PIN_ITERATIONS: u32 = 100_000;
const VALIDITY_DAYS: u64 = 5 * 365 + 1;

/// How to make a soft card; [`SoftCardOptions::new`] gives the defaults.
#[derive(Clone, Debug)]
pub struct SoftCardOptions {
    /// The card id (`cus-sec_SpcGetCardID`), also the certificate's CN:
    /// 1 to 64 characters of `A-Z a-z 0-9 . _ -`.
    pub card_id: String,
    /// The PIN: 1 to 64 characters, no control characters.
    pub pin: String,
    /// Start of the certificate's validity (default: an hour ago).
    pub not_before: SystemTime,
    /// End of the certificate's validity (default: 5 years after the start).
    pub not_after: SystemTime,
}

impl SoftCardOptions {
    /// Defaults: the default PIN, valid from an hour ago for 5 years.
    pub fn new(card_id: impl Into<String>) -> Self {
        let not_before = SystemTime::now() - Duration::from_secs(3600);
        SoftCardOptions {
            card_id: card_id.into(),
            pin: DEFAULT_PIN.to_string(),
            not_before,
            not_after: not_before + Duration::from_secs(VALIDITY_DAYS * 86_400),
        }
    }

    /// With another PIN.
    pub fn pin(mut self, pin: impl Into<String>) -> Self {
        self.pin = pin.into();
        self
    }

    /// With another validity.
    pub fn validity(mut self, not_before: SystemTime, not_after: SystemTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }
}

/// A soft card opened from (or just written to) its directory.
pub struct SoftCard {
    dir: PathBuf,
    card_id: String,
    key: Sm2PrivateKey,
    cert: Certificate,
    pin: PinHash,
}

#[derive(Serialize, Deserialize)]
struct CardFile {
    format: String,
    card_id: String,
    cert_no: String,
    created_at: String,
    pin: PinHash,
}

#[derive(Clone, Serialize, Deserialize)]
struct PinHash {
    kdf: String,
    iterations: u32,
    salt: String,
    hash: String,
}

impl SoftCard {
    /// Creates a soft card with the default PIN and validity in `dir` (made
    /// if missing). Refuses to overwrite an existing card.
    pub fn create(dir: impl AsRef<Path>, card_id: &str) -> Result<SoftCard, SignError> {
        Self::create_with(dir, &SoftCardOptions::new(card_id))
    }

    /// Creates a soft card as `options` say.
    pub fn create_with(dir: impl AsRef<Path>, options: &SoftCardOptions) -> Result<SoftCard, SignError> {
        let dir = dir.as_ref().to_path_buf();
        let fail = |reason: String| SignError::SoftCard { dir: dir.clone(), reason };
        check_card_id(&options.card_id).map_err(&fail)?;
        check_pin(&options.pin).map_err(&fail)?;
        if options.not_after <= options.not_before {
            return Err(fail("the validity ends before it starts".into()));
        }
        for name in [KEY_FILE, CERT_FILE, CARD_FILE] {
            if dir.join(name).exists() {
                return Err(fail(format!("{name} exists already; not overwriting a card")));
            }
        }
        fs::create_dir_all(&dir).map_err(|e| SignError::io(&dir, e))?;

        let key = Sm2PrivateKey::generate()?;
        let cert = self_signed_certificate(&key, options)?;
        let pin = PinHash::new(&options.pin)?;
        let card = CardFile {
            format: CARD_FORMAT.to_string(),
            card_id: options.card_id.clone(),
            cert_no: cert.cert_no(),
            created_at: rfc3339(OffsetDateTime::now_utc()),
            pin: pin.clone(),
        };
        let card_json = serde_json::to_string_pretty(&card).expect("card.json serialises") + "\n";

        write_new(&dir.join(KEY_FILE), key.to_pkcs8_pem()?.as_bytes(), true)?;
        write_new(&dir.join(CERT_FILE), cert.to_pem().as_bytes(), false)?;
        write_new(&dir.join(CARD_FILE), card_json.as_bytes(), false)?;
        Ok(SoftCard { dir, card_id: options.card_id.clone(), key, cert, pin })
    }

    /// Opens the soft card in `dir`, checking that its three files agree
    /// (the key is the certificate's, the numbers and ids match).
    pub fn open(dir: impl AsRef<Path>) -> Result<SoftCard, SignError> {
        let dir = dir.as_ref().to_path_buf();
        let fail = |reason: String| SignError::SoftCard { dir: dir.clone(), reason };
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read_to_string(&path).map_err(|e| SignError::io(path, e))
        };
        let card: CardFile = serde_json::from_str(&read(CARD_FILE)?).map_err(|e| fail(format!("{CARD_FILE}: {e}")))?;
        if card.format != CARD_FORMAT {
            return Err(fail(format!("{CARD_FILE}: format {:?}, expected {CARD_FORMAT:?}", card.format)));
        }
        if card.pin.kdf != PIN_KDF {
            return Err(fail(format!("{CARD_FILE}: PIN hashed with {:?}, expected {PIN_KDF:?}", card.pin.kdf)));
        }
        let key = Sm2PrivateKey::from_pkcs8_pem(&read(KEY_FILE)?)?;
        let cert = Certificate::parse(read(CERT_FILE)?)?;
        if cert.sm2_public_key() != Some(&key.public_key()) {
            return Err(fail(format!("{KEY_FILE} is not the key of {CERT_FILE}")));
        }
        if cert.cert_no() != card.cert_no {
            return Err(fail(format!(
                "{CARD_FILE} says certificate {}, {CERT_FILE} is {}",
                card.cert_no,
                cert.cert_no()
            )));
        }
        if cert.subject_cn().as_deref() != Some(card.card_id.as_str()) {
            return Err(fail(format!("{CARD_FILE} says card {}, {CERT_FILE} is not issued to it", card.card_id)));
        }
        Ok(SoftCard { dir, card_id: card.card_id, key, cert, pin: card.pin })
    }

    /// The directory the card lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The card id (`cus-sec_SpcGetCardID`).
    pub fn card_id(&self) -> &str {
        &self.card_id
    }

    /// The certificate number (`cus-sec_SpcGetCertNo`).
    pub fn cert_no(&self) -> String {
        self.cert.cert_no()
    }

    /// The signing certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The certificate's DER.
    pub fn cert_der(&self) -> &[u8] {
        self.cert.der()
    }

    /// The certificate as `cus-sec_SpcGetSignCertAsPEM` returns it (base64
    /// DER, no armour).
    pub fn cert_base64(&self) -> String {
        self.cert.to_base64()
    }

    /// The card's public key.
    pub fn public_key(&self) -> Sm2PublicKey {
        self.key.public_key()
    }

    /// Checks a PIN (`cus-sec_SpcVerifyPIN`): `Err(WrongPin)` unless it is
    /// the card's. No retry counter: a soft card never locks.
    pub fn verify_pin(&self, pin: &str) -> Result<(), SignError> {
        if self.pin.matches(pin) { Ok(()) } else { Err(SignError::WrongPin) }
    }

    /// Signs `data` with SM2/SM3 (default user id), raw `r‖s`. The caller is
    /// responsible for having checked the PIN; see [`SoftCard::sign_with_pin`].
    pub fn sign(&self, data: &[u8]) -> Result<RawSignature, SignError> {
        self.key.sign(data)
    }

    /// Checks the PIN, then signs, as `cus-sec_SpcSignData` (`inData`,
    /// `passwd`).
    pub fn sign_with_pin(&self, data: &[u8], pin: &str) -> Result<RawSignature, SignError> {
        self.verify_pin(pin)?;
        self.sign(data)
    }

    /// Signs `data` and returns base64 of the raw `r‖s`, as
    /// `cus-sec_SpcSignDataAsPEM` does.
    pub fn sign_base64(&self, data: &[u8]) -> Result<String, SignError> {
        Ok(encoding::base64(&self.sign(data)?))
    }
}

impl std::fmt::Debug for SoftCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftCard")
            .field("dir", &self.dir)
            .field("card_id", &self.card_id)
            .field("cert_no", &self.cert_no())
            .finish_non_exhaustive()
    }
}

/// A random card id for a soft card: `99` and 11 digits (13 digits, like an
/// E-Port card number; real ones do not start with 99).
pub fn new_card_id() -> Result<String, SignError> {
    let mut bytes = [0u8; 11];
    random(&mut bytes)?;
    Ok(std::iter::once("99".to_string()).chain(bytes.iter().map(|b| (b % 10).to_string())).collect())
}

fn check_card_id(card_id: &str) -> Result<(), String> {
    let ok = !card_id.is_empty()
        && card_id.len() <= 64
        && card_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok { Ok(()) } else { Err(format!("card id {card_id:?}: 1 to 64 characters of A-Z a-z 0-9 . _ -")) }
}

fn check_pin(pin: &str) -> Result<(), String> {
    if pin.is_empty() || pin.len() > 64 || pin.chars().any(char::is_control) {
        return Err("the PIN must be 1 to 64 characters without control characters".into());
    }
    Ok(())
}

fn random(bytes: &mut [u8]) -> Result<(), SignError> {
    getrandom::fill(bytes).map_err(|e| SignError::Signing(format!("no randomness: {e}")))
}

impl PinHash {
    fn new(pin: &str) -> Result<Self, SignError> {
        let mut salt = [0u8; 16];
        random(&mut salt)?;
        Ok(PinHash {
            kdf: PIN_KDF.to_string(),
            iterations: PIN_ITERATIONS,
            salt: hex::encode(salt),
            hash: hex::encode(derive(pin, &salt, PIN_ITERATIONS)),
        })
    }

    fn matches(&self, pin: &str) -> bool {
        let (Ok(salt), Ok(expected)) = (hex::decode(&self.salt), hex::decode(&self.hash)) else {
            return false;
        };
        if self.iterations == 0 || expected.len() != 32 {
            return false;
        }
        let actual = derive(pin, &salt, self.iterations);
        // Constant time: the comparison does not stop at the first difference.
        actual.iter().zip(&expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

fn derive(pin: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pin.as_bytes(), salt, iterations, &mut out);
    out
}

fn write_new(path: &Path, contents: &[u8], private: bool) -> Result<(), SignError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(|e| SignError::io(path, e))?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(|e| SignError::io(path, e))
}

/// Signs a certificate with an SM2 key the way SM2 certificates are signed:
/// SM2 with SM3 and the default user id, the signature DER-encoded in the
/// BIT STRING (GM/T 0015), which `sm2::dsa::SigningKey` alone would encode
/// raw.
struct CertSigner<'a> {
    key: &'a Sm2PrivateKey,
}

impl Keypair for CertSigner<'_> {
    type VerifyingKey = ::sm2::dsa::VerifyingKey;

    fn verifying_key(&self) -> Self::VerifyingKey {
        self.key.signing_key().verifying_key().clone()
    }
}

impl Signer<DerSignature> for CertSigner<'_> {
    fn try_sign(&self, message: &[u8]) -> signature::Result<DerSignature> {
        let signature: ::sm2::dsa::Signature = self.key.signing_key().try_sign(message)?;
        Ok(signature.to_der())
    }
}

impl SignatureAlgorithmIdentifier for CertSigner<'_> {
    type Params = AnyRef<'static>;

    const SIGNATURE_ALGORITHM_IDENTIFIER: AlgorithmIdentifier<Self::Params> =
        AlgorithmIdentifier { oid: OID_SM2_WITH_SM3, parameters: None };
}

/// Subject = issuer, and the extensions of an end-entity signing
/// certificate: the profile of development and test cards' certificates.
#[derive(Debug, Clone)]
pub struct SelfSigned {
    pub subject: Name,
}

impl BuilderProfile for SelfSigned {
    fn get_issuer(&self, subject: &Name) -> Name {
        subject.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let basic = BasicConstraints { ca: false, path_len_constraint: None };
        let usage = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::NonRepudiation);
        let mut extensions = vec![(&basic).to_extension(subject, &[])?];
        extensions.push((&usage).to_extension(subject, &extensions)?);
        Ok(extensions)
    }
}

fn self_signed_certificate(key: &Sm2PrivateKey, options: &SoftCardOptions) -> Result<Certificate, SignError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| SignError::MalformedCertificate(format!("{what}: {e}"));
    let subject = Name::from_str(&format!("CN={},O={SOFT_CARD_ORGANIZATION}", options.card_id))
        .map_err(|e| bad("subject", &e))?;
    let mut serial = [0u8; 8];
    random(&mut serial)?;
    // Positive, and eight bytes long in DER (16 hex digits, as E-Port's).
    serial[0] = (serial[0] & 0x7f).max(1);
    let serial = SerialNumber::new(&serial).map_err(|e| bad("serial", &e))?;
    let validity = Validity::new(
        Time::try_from(options.not_before).map_err(|e| bad("validity", &e))?,
        Time::try_from(options.not_after).map_err(|e| bad("validity", &e))?,
    );
    let spki_der = key.public_key().to_spki_der()?;
    let spki = SubjectPublicKeyInfo::try_from(spki_der.as_slice()).map_err(|e| bad("public key", &e))?;
    let builder =
        CertificateBuilder::new(SelfSigned { subject }, serial, validity, spki).map_err(|e| bad("certificate", &e))?;
    let x509 = builder.build::<_, DerSignature>(&CertSigner { key }).map_err(|e| bad("certificate", &e))?;
    Certificate::from_x509(x509)
}
