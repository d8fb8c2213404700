//! A PIV card in software, for tests: the applet ([`PivApplet`]) and its
//! connection to vsmartcard's virtual reader ([`spawn`]), so that tests go
//! through the real stack: pcscd → the `pcsc` crate → APDUs → this applet.
//!
//! # vpcd's protocol
//!
//! vpcd (the reader driver pcscd loads) listens on TCP port 35963 for
//! reader `Virtual PCD 00 00`; the card connects to it as a client. Each
//! message in either direction is a 2-byte big-endian length and a payload.
//! From vpcd, a 1-byte payload is a control command — `00` power off, `01`
//! power on, `02` reset, `04` get ATR (answered with the ATR; the others
//! are not answered) — and any longer payload is a command APDU, answered
//! with the response APDU. The card is "inserted" while the connection is
//! open and "removed" when it closes.
//!
//! # The applet
//!
//! The subset of SP 800-73-4 a signing client needs:
//!
//! | command | |
//! |---|---|
//! | SELECT `00 A4 04 00` AID `A0 00 00 03 08` (prefix) | application property template `61` |
//! | VERIFY `00 20 00 80` with an 8-byte PIN block | `9000`; wrong: `63Cx` (x tries left); blocked: `6983`; no data: the status |
//! | GET DATA `00 CB 3F FF` `5C 03 5FC10A` | `53 { 70 certificate, 71 01 00, FE 00 }` |
//! | GET DATA `00 CB 3F FF` `5C 03 5FC102` | CHUID `53 { 30 FASC-N, 34 GUID, 35 expiry, 3E 00, FE 00 }` |
//! | GENERAL AUTHENTICATE `00 87 11 9C` `7C { 82 00, 81 20 digest }` | `7C { 82 DER ECDSA signature }`, PIN required just before (PIN Always) |
//! | GET RESPONSE `00 C0 00 00` | the rest of a long response |
//!
//! Responses longer than 256 bytes are cut into 256-byte pieces ending
//! `61xx` (xx = bytes left, `00` for 256 or more), fetched with GET
//! RESPONSE. The key is ECDSA P-256 in slot 9C; the certificate is
//! self-signed (ecdsa-with-SHA256).

use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use der::Encode as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::ecdsa::{DerSignature, Signature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::builder::{Builder as _, CertificateBuilder};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use certflow_sign::softcard::SelfSigned;

use crate::piv::*;
use crate::tlv;

/// vpcd's port for its first reader, `Virtual PCD 00 00`.
pub const VPCD_PORT: u16 = 35963;
/// The reader name pcscd gives vpcd's first slot.
pub const VPCD_READER: &str = "Virtual PCD 00 00";
/// The emulator's default PIN.
pub const DEFAULT_PIN: &str = "123456";
/// PIN tries before it blocks.
pub const DEFAULT_PIN_RETRIES: u8 = 3;

/// ATR: T=1 offered, historical bytes "certflow".
const ATR_BODY: [u8; 12] = [0x88, 0x80, 0x01, b'c', b'e', b'r', b't', b'f', b'l', b'o', b'w', 0];

/// The card's answer to reset, with its check byte.
pub fn atr() -> Vec<u8> {
    let body = &ATR_BODY[..11];
    let tck = body.iter().fold(0u8, |acc, b| acc ^ b);
    let mut atr = vec![0x3b];
    atr.extend_from_slice(body);
    atr.push(tck);
    atr
}

/// What the emulated card holds.
#[derive(Clone, Debug)]
pub struct AppletOptions {
    pub pin: String,
    pub pin_retries: u8,
    /// Common name in the certificate's subject.
    pub subject_cn: String,
    /// The P-256 private key (32 bytes); random when `None`.
    pub key: Option<[u8; 32]>,
    /// The 16-byte CHUID GUID; random when `None`.
    pub guid: Option<[u8; 16]>,
}

impl Default for AppletOptions {
    fn default() -> Self {
        AppletOptions {
            pin: DEFAULT_PIN.into(),
            pin_retries: DEFAULT_PIN_RETRIES,
            subject_cn: "certflow PIV emulator".into(),
            key: None,
            guid: None,
        }
    }
}

/// The PIV applet: APDUs in, responses out. Holds the PIN state, so one
/// instance is one card.
pub struct PivApplet {
    key: SigningKey,
    cert_der: Vec<u8>,
    guid: [u8; 16],
    pin_block: [u8; PIN_BLOCK_LEN],
    max_retries: u8,
    retries: u8,
    selected: bool,
    pin_verified: bool,
    pending: Vec<u8>,
}

impl std::fmt::Debug for PivApplet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivApplet")
            .field("guid", &hex::encode(self.guid))
            .field("retries", &self.retries)
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

fn random<const N: usize>() -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(bytes)
}

impl PivApplet {
    /// A fresh card: key, self-signed certificate, PIN with full tries.
    pub fn new(options: &AppletOptions) -> io::Result<PivApplet> {
        let pin_block = pin_block(&options.pin)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the PIN must be 6 to 8 digits"))?;
        let key = loop {
            let bytes = match options.key {
                Some(bytes) => bytes,
                None => random()?,
            };
            match SigningKey::from_slice(&bytes) {
                Ok(key) => break key,
                Err(_) if options.key.is_none() => continue,
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("key: {e}"))),
            }
        };
        let cert_der = self_signed_certificate(&key, &options.subject_cn)?;
        let guid = match options.guid {
            Some(guid) => guid,
            None => random()?,
        };
        Ok(PivApplet {
            key,
            cert_der,
            guid,
            pin_block,
            max_retries: options.pin_retries,
            retries: options.pin_retries,
            selected: false,
            pin_verified: false,
            pending: Vec::new(),
        })
    }

    /// The certificate of key 9C, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The CHUID GUID.
    pub fn guid(&self) -> [u8; 16] {
        self.guid
    }

    /// PIN tries left.
    pub fn pin_retries(&self) -> u8 {
        self.retries
    }

    /// What a power cycle or reset does: nothing selected, PIN forgotten.
    pub fn reset(&mut self) {
        self.selected = false;
        self.pin_verified = false;
        self.pending.clear();
    }

    /// Answers one command APDU.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let Some(command) = Command::parse(apdu) else {
            return sw(SW_WRONG_LENGTH);
        };
        if command.cla & 0xef != 0x00 {
            return sw(SW_CLA_NOT_SUPPORTED);
        }
        if command.ins != INS_GET_RESPONSE {
            self.pending.clear();
        }
        match command.ins {
            INS_SELECT => self.select(&command),
            INS_GET_RESPONSE => self.get_response(&command),
            _ if !self.selected => sw(SW_INS_NOT_SUPPORTED),
            INS_VERIFY => self.verify(&command),
            INS_GET_DATA => self.get_data(&command),
            INS_GENERAL_AUTHENTICATE => self.general_authenticate(&command),
            _ => sw(SW_INS_NOT_SUPPORTED),
        }
    }

    fn select(&mut self, command: &Command<'_>) -> Vec<u8> {
        if command.p1 != 0x04 {
            return sw(SW_WRONG_P1P2);
        }
        let data = command.data;
        if data.len() < AID.len() || !AID_FULL.starts_with(data) {
            self.selected = false;
            return sw(SW_NOT_FOUND);
        }
        self.selected = true;
        self.pin_verified = false;
        let mut template = Vec::new();
        tlv::push(&mut template, &[0x4f], &AID_FULL[5..]);
        tlv::push(&mut template, &[0x79], &tlv::encode(&[0x4f], &AID));
        self.respond(tlv::encode(&[0x61], &template))
    }

    fn verify(&mut self, command: &Command<'_>) -> Vec<u8> {
        if command.p1 != 0x00 || command.p2 != PIN_REF {
            return sw(SW_WRONG_P1P2);
        }
        if command.data.is_empty() {
            return if self.pin_verified {
                sw(SW_OK)
            } else if self.retries == 0 {
                sw(SW_PIN_BLOCKED)
            } else {
                sw(0x63c0 | u16::from(self.retries.min(15)))
            };
        }
        if self.retries == 0 {
            return sw(SW_PIN_BLOCKED);
        }
        if command.data.len() != PIN_BLOCK_LEN {
            return sw(SW_WRONG_DATA);
        }
        if command.data == self.pin_block {
            self.retries = self.max_retries;
            self.pin_verified = true;
            sw(SW_OK)
        } else {
            self.retries -= 1;
            self.pin_verified = false;
            sw(0x63c0 | u16::from(self.retries.min(15)))
        }
    }

    fn get_data(&mut self, command: &Command<'_>) -> Vec<u8> {
        if command.p1 != 0x3f || command.p2 != 0xff {
            return sw(SW_WRONG_P1P2);
        }
        let Some(tag) = tlv::find(command.data, &[0x5c]) else {
            return sw(SW_WRONG_DATA);
        };
        let object = if tag == OBJ_CERT_SIGNATURE {
            let mut value = Vec::new();
            tlv::push(&mut value, &[0x70], &self.cert_der);
            tlv::push(&mut value, &[0x71], &[0x00]);
            tlv::push(&mut value, &[0xfe], &[]);
            value
        } else if tag == OBJ_CHUID {
            let mut value = Vec::new();
            // FASC-N of a test card: agency 9999, system 9999, credential 999999.
            let fascn: [u8; 25] = [
                0xd4, 0xe7, 0x39, 0xda, 0x73, 0x9c, 0xed, 0x39, 0xce, 0x73, 0x9d, 0x83, 0x68, 0x58, 0x21, 0x08, 0x42,
                0x10, 0x84, 0x21, 0xc8, 0x42, 0x10, 0xc3, 0xeb,
            ];
            tlv::push(&mut value, &[0x30], &fascn);
            tlv::push(&mut value, &[0x34], &self.guid);
            tlv::push(&mut value, &[0x35], b"20991231");
            tlv::push(&mut value, &[0x3e], &[]);
            tlv::push(&mut value, &[0xfe], &[]);
            value
        } else {
            return sw(SW_NOT_FOUND);
        };
        self.respond(tlv::encode(&[0x53], &object))
    }

    fn general_authenticate(&mut self, command: &Command<'_>) -> Vec<u8> {
        if command.p1 != ALG_ECC_P256 || command.p2 != SLOT_SIGNATURE {
            return sw(SW_WRONG_P1P2);
        }
        if command.cla & 0x10 != 0 {
            // Command chaining is not needed for a P-256 digest.
            return sw(SW_CONDITIONS);
        }
        let Some(template) = tlv::find(command.data, &[0x7c]) else {
            return sw(SW_WRONG_DATA);
        };
        let Some(items) = tlv::parse(template) else {
            return sw(SW_WRONG_DATA);
        };
        let wants_response = items.iter().any(|(t, v)| t == &[0x82] && v.is_empty());
        let challenge = items.iter().find(|(t, _)| t == &[0x81]).map(|(_, v)| *v);
        let (true, Some(digest)) = (wants_response, challenge) else {
            return sw(SW_WRONG_DATA);
        };
        if digest.len() != 32 {
            return sw(SW_WRONG_DATA);
        }
        // Key 9C is "PIN Always": the PIN right before each signature.
        if !std::mem::take(&mut self.pin_verified) {
            return sw(SW_SECURITY_STATUS);
        }
        let signature: Signature = match self.key.sign_prehash(digest) {
            Ok(signature) => signature,
            Err(_) => return sw(SW_WRONG_DATA),
        };
        let der = signature.to_der();
        self.respond(tlv::encode(&[0x7c], &tlv::encode(&[0x82], der.as_bytes())))
    }

    fn get_response(&mut self, command: &Command<'_>) -> Vec<u8> {
        if self.pending.is_empty() {
            return sw(SW_CONDITIONS);
        }
        let _ = command;
        let pending = std::mem::take(&mut self.pending);
        self.respond(pending)
    }

    /// Sends `data` with 9000, or its first 256 bytes with `61xx`.
    fn respond(&mut self, mut data: Vec<u8>) -> Vec<u8> {
        if data.len() <= 256 {
            data.extend_from_slice(&SW_OK.to_be_bytes());
            return data;
        }
        self.pending = data.split_off(256);
        let left = self.pending.len().min(256) as u8; // 256 or more: 00
        data.extend_from_slice(&[0x61, left]);
        data
    }
}

fn sw(sw: u16) -> Vec<u8> {
    sw.to_be_bytes().to_vec()
}

/// A command APDU, short or extended length.
struct Command<'a> {
    cla: u8,
    ins: u8,
    p1: u8,
    p2: u8,
    data: &'a [u8],
}

impl<'a> Command<'a> {
    fn parse(apdu: &'a [u8]) -> Option<Command<'a>> {
        let (header, body) = apdu.split_at_checked(4)?;
        let data = match body {
            [] | [_] => &[][..],
            [0, rest @ ..] if rest.len() >= 2 => {
                // Extended: 00 Lc1 Lc2 data [Le1 Le2] or 00 Le1 Le2.
                let lc = usize::from(rest[0]) << 8 | usize::from(rest[1]);
                if rest.len() == 2 {
                    &[][..]
                } else {
                    let data = rest.get(2..2 + lc)?;
                    if !matches!(rest.len() - 2 - lc, 0 | 2) {
                        return None;
                    }
                    data
                }
            }
            [lc, rest @ ..] => {
                let lc = usize::from(*lc);
                let data = rest.get(..lc)?;
                if !matches!(rest.len() - lc, 0 | 1) {
                    return None;
                }
                data
            }
        };
        Some(Command { cla: header[0], ins: header[1], p1: header[2], p2: header[3], data })
    }
}

fn self_signed_certificate(key: &SigningKey, subject_cn: &str) -> io::Result<Vec<u8>> {
    let bad = |what: &str, e: &dyn std::fmt::Display| io::Error::other(format!("certificate {what}: {e}"));
    let subject =
        Name::from_str(&format!("CN={subject_cn},O=certflow PIV emulator")).map_err(|e| bad("subject", &e))?;
    let mut serial: [u8; 8] = random()?;
    serial[0] = (serial[0] & 0x7f).max(1);
    let serial = SerialNumber::new(&serial).map_err(|e| bad("serial", &e))?;
    let now = SystemTime::now();
    let validity = Validity::new(
        Time::try_from(now - Duration::from_secs(3600)).map_err(|e| bad("validity", &e))?,
        Time::try_from(now + Duration::from_secs(5 * 365 * 86_400)).map_err(|e| bad("validity", &e))?,
    );
    let spki_der = key.verifying_key().to_public_key_der().map_err(|e| bad("public key", &e))?;
    let spki = SubjectPublicKeyInfoOwned::try_from(spki_der.as_bytes()).map_err(|e| bad("public key", &e))?;
    let builder =
        CertificateBuilder::new(SelfSigned { subject }, serial, validity, spki).map_err(|e| bad("builder", &e))?;
    let cert = builder.build::<_, DerSignature>(key).map_err(|e| bad("signature", &e))?;
    cert.to_der().map_err(|e| bad("encoding", &e))
}

/// Where and how the emulator runs.
#[derive(Clone, Debug)]
pub struct EmulatorOptions {
    pub applet: AppletOptions,
    /// vpcd's address; 127.0.0.1:35963 by default.
    pub vpcd: SocketAddr,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions { applet: AppletOptions::default(), vpcd: SocketAddr::from(([127, 0, 0, 1], VPCD_PORT)) }
    }
}

/// A running emulator: the card is in vpcd's reader until [`stop`]
/// (or drop), which takes it out.
///
/// [`stop`]: EmulatorHandle::stop
#[derive(Debug)]
pub struct EmulatorHandle {
    stream: TcpStream,
    drop_on_sign: Arc<AtomicBool>,
    certificate: Vec<u8>,
    guid: [u8; 16],
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl EmulatorHandle {
    /// The card's certificate (key 9C), DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The card's CHUID GUID.
    pub fn guid(&self) -> [u8; 16] {
        self.guid
    }

    /// Makes the card vanish on the next GENERAL AUTHENTICATE: the
    /// connection to vpcd closes instead of an answer, as when a card is
    /// pulled out mid-signature.
    pub fn drop_on_next_general_authenticate(&self) {
        self.drop_on_sign.store(true, Ordering::SeqCst);
    }

    /// Whether the connection to vpcd is still served.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Takes the card out and waits for the emulator's thread.
    pub fn stop(mut self) -> io::Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<()> {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| io::Error::other("emulator thread panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Connects a new card to vpcd and serves it on a thread.
pub fn spawn(options: &EmulatorOptions) -> io::Result<EmulatorHandle> {
    let applet = PivApplet::new(&options.applet)?;
    let stream = TcpStream::connect_timeout(&options.vpcd, Duration::from_secs(2))?;
    stream.set_nodelay(true)?;
    let certificate = applet.certificate_der().to_vec();
    let guid = applet.guid();
    let drop_on_sign = Arc::new(AtomicBool::new(false));
    let thread = {
        let stream = stream.try_clone()?;
        let drop_on_sign = Arc::clone(&drop_on_sign);
        std::thread::Builder::new().name("piv-emulator".into()).spawn(move || serve(stream, applet, &drop_on_sign))?
    };
    Ok(EmulatorHandle { stream, drop_on_sign, certificate, guid, thread: Some(thread) })
}

/// Serves `applet` on a connection to vpcd until it closes. With
/// `drop_on_sign` set, closes the connection when a GENERAL AUTHENTICATE
/// arrives instead of answering it.
pub fn serve(mut stream: TcpStream, mut applet: PivApplet, drop_on_sign: &AtomicBool) -> io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        match stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected) => {
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
        match stream.read_exact(&mut message) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let reply = match message.as_slice() {
            [0x00] | [0x01] | [0x02] => {
                applet.reset();
                continue;
            }
            [0x04] => atr(),
            [_] => continue,
            apdu => {
                if apdu.get(1) == Some(&INS_GENERAL_AUTHENTICATE) && drop_on_sign.swap(false, Ordering::SeqCst) {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return Ok(());
                }
                applet.process(apdu)
            }
        };
        let len = u16::try_from(reply.len()).map_err(|_| io::Error::other("reply too long"))?;
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&reply);
        match stream.write_all(&out) {
            Ok(()) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applet() -> PivApplet {
        PivApplet::new(&AppletOptions::default()).unwrap()
    }

    fn status(response: &[u8]) -> u16 {
        u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
    }

    fn select(applet: &mut PivApplet) {
        let response = applet.process(&[0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x03, 0x08, 0x00]);
        assert_eq!(status(&response), SW_OK);
        assert_eq!(response[0], 0x61);
    }

    fn verify(applet: &mut PivApplet, pin: &str) -> u16 {
        let mut apdu = vec![0x00, 0x20, 0x00, 0x80, 0x08];
        apdu.extend_from_slice(&pin_block(pin).unwrap());
        status(&applet.process(&apdu))
    }

    fn general_authenticate(applet: &mut PivApplet, digest: &[u8; 32]) -> Vec<u8> {
        let mut apdu = vec![0x00, 0x87, 0x11, 0x9c, 0x26, 0x7c, 0x24, 0x82, 0x00, 0x81, 0x20];
        apdu.extend_from_slice(digest);
        apdu.push(0x00);
        applet.process(&apdu)
    }

    #[test]
    fn atr_check_byte() {
        let atr = atr();
        assert_eq!(atr[0], 0x3b);
        assert_eq!(atr[1..].iter().fold(0u8, |acc, b| acc ^ b), 0, "TCK makes the XOR of T0..TCK zero");
    }

    #[test]
    fn commands_need_the_application_selected() {
        let mut applet = applet();
        assert_eq!(status(&applet.process(&[0x00, 0x20, 0x00, 0x80])), SW_INS_NOT_SUPPORTED);
        let other = applet.process(&[0x00, 0xa4, 0x04, 0x00, 0x05, 0xa0, 0x00, 0x00, 0x01, 0x51, 0x00]);
        assert_eq!(status(&other), SW_NOT_FOUND);
        select(&mut applet);
        assert_eq!(status(&applet.process(&[0x00, 0x20, 0x00, 0x80])), 0x63c3);
    }

    #[test]
    fn certificate_comes_in_256_byte_pieces() {
        let mut applet = applet();
        select(&mut applet);
        let mut response = applet.process(&[0x00, 0xcb, 0x3f, 0xff, 0x05, 0x5c, 0x03, 0x5f, 0xc1, 0x0a, 0x00]);
        let mut data = Vec::new();
        let mut pieces = 0;
        loop {
            pieces += 1;
            let (body, sw) = response.split_at(response.len() - 2);
            data.extend_from_slice(body);
            match sw {
                [0x90, 0x00] => break,
                [0x61, le] => {
                    assert_eq!(body.len(), 256);
                    response = applet.process(&[0x00, 0xc0, 0x00, 0x00, *le]);
                }
                other => panic!("status {other:02x?}"),
            }
        }
        assert!(pieces >= 2);
        let object = tlv::find(&data, &[0x53]).unwrap();
        assert_eq!(tlv::find(object, &[0x70]).unwrap(), applet.certificate_der());
        assert_eq!(tlv::find(object, &[0x71]).unwrap(), &[0x00]);
        certflow_sign::Certificate::from_der(applet.certificate_der()).unwrap().verify_self_signed().unwrap();
    }

    #[test]
    fn signing_needs_the_pin_right_before() {
        let mut applet = applet();
        select(&mut applet);
        let digest = [7u8; 32];
        assert_eq!(status(&general_authenticate(&mut applet, &digest)), SW_SECURITY_STATUS);
        assert_eq!(verify(&mut applet, DEFAULT_PIN), SW_OK);
        let response = general_authenticate(&mut applet, &digest);
        assert_eq!(status(&response), SW_OK);
        let der = tlv::find(tlv::find(&response[..response.len() - 2], &[0x7c]).unwrap(), &[0x82]).unwrap();
        let signature = Signature::from_der(der).unwrap();
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        applet.key.verifying_key().verify_prehash(&digest, &signature).unwrap();
        // PIN Always: used up by the signature.
        assert_eq!(status(&general_authenticate(&mut applet, &digest)), SW_SECURITY_STATUS);
    }

    #[test]
    fn pin_tries_count_down_reset_and_block() {
        let mut applet = applet();
        select(&mut applet);
        assert_eq!(verify(&mut applet, "000000"), 0x63c2);
        assert_eq!(verify(&mut applet, "000000"), 0x63c1);
        assert_eq!(verify(&mut applet, DEFAULT_PIN), SW_OK);
        assert_eq!(applet.pin_retries(), 3);
        for left in [2u16, 1, 0] {
            assert_eq!(verify(&mut applet, "000000"), 0x63c0 | left);
        }
        assert_eq!(verify(&mut applet, DEFAULT_PIN), SW_PIN_BLOCKED);
        assert_eq!(status(&applet.process(&[0x00, 0x20, 0x00, 0x80])), SW_PIN_BLOCKED);
    }

    #[test]
    fn pin_blocks_follow_sp_800_73() {
        assert_eq!(pin_block("123456").unwrap(), *b"123456\xff\xff");
        assert_eq!(pin_block("12345678").unwrap(), *b"12345678");
        assert!(pin_block("12345").is_none());
        assert!(pin_block("123456789").is_none());
        assert!(pin_block("12345a").is_none());
    }
}
