//! The PIV client: a [`Card`] over PC/SC.

use std::ffi::{CStr, CString};

use certflow_sign::Certificate;
use certflow_sign::card::{Card, CardError};
use pcsc::{Context, Protocols, Scope, ShareMode, State};
use sha2::{Digest as _, Sha256};

use crate::piv::*;
use crate::tlv;

/// A PIV card in a PC/SC reader, signing with its Digital Signature key
/// (9C, ECDSA P-256). See the crate documentation for the protocol.
pub struct PivCard {
    // Kept alive for `card`'s sake; PC/SC handles belong to a context.
    _context: Context,
    card: pcsc::Card,
    reader: String,
    certificate: Option<Certificate>,
}

impl std::fmt::Debug for PivCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivCard").field("reader", &self.reader).finish_non_exhaustive()
    }
}

/// A response APDU: data and status word.
struct Response {
    data: Vec<u8>,
    sw: u16,
}

fn io(what: impl std::fmt::Display) -> CardError {
    CardError::Io(what.to_string())
}

/// PC/SC errors as the person at the desk sees them.
fn pcsc_error(error: pcsc::Error) -> CardError {
    use pcsc::Error as E;
    match error {
        E::NoReadersAvailable | E::UnknownReader | E::ReaderUnavailable | E::NoService | E::ServiceStopped => {
            CardError::NoReader
        }
        E::NoSmartcard => CardError::NoCard,
        E::RemovedCard | E::ResetCard | E::UnpoweredCard | E::UnresponsiveCard => CardError::CardRemoved,
        other => io(other),
    }
}

impl PivCard {
    /// Connects to the card in `reader_name`, or without a name to the
    /// first reader holding a card, and selects the PIV application.
    ///
    /// Errors: [`CardError::NoReader`] when PC/SC has no readers (or no
    /// reader of that name, or no PC/SC service), [`CardError::NoCard`]
    /// when the reader is empty, [`CardError::Unsupported`] when the card
    /// has no PIV application.
    pub fn connect(reader_name: Option<&str>) -> Result<PivCard, CardError> {
        let context = Context::establish(Scope::User).map_err(pcsc_error)?;
        let readers = context.list_readers_owned().map_err(pcsc_error)?;
        if readers.is_empty() {
            return Err(CardError::NoReader);
        }
        let reader = match reader_name {
            Some(name) => {
                let found = readers.iter().find(|r| r.to_bytes() == name.as_bytes());
                found.cloned().ok_or(CardError::NoReader)?
            }
            None => first_reader_with_card(&context, &readers)?,
        };
        let card = context.connect(&reader, ShareMode::Shared, Protocols::ANY).map_err(|e| match e {
            pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard => CardError::NoCard,
            other => pcsc_error(other),
        })?;
        let mut piv =
            PivCard { _context: context, card, reader: reader.to_string_lossy().into_owned(), certificate: None };
        piv.select()?;
        Ok(piv)
    }

    /// The reader's name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// PIN tries left, asked without trying a PIN (VERIFY without data).
    /// `None` when the PIN is currently verified.
    pub fn pin_retries(&mut self) -> Result<Option<u8>, CardError> {
        let tx = self.card.transaction().map_err(pcsc_error)?;
        select(&tx)?;
        let response = exchange(&tx, &[0x00, INS_VERIFY, 0x00, PIN_REF])?;
        match response.sw {
            SW_OK => Ok(None),
            SW_PIN_BLOCKED => Ok(Some(0)),
            sw if sw & 0xfff0 == 0x63c0 => Ok(Some((sw & 0x0f) as u8)),
            sw => Err(status_error("VERIFY", sw)),
        }
    }

    fn select(&mut self) -> Result<(), CardError> {
        let tx = self.card.transaction().map_err(pcsc_error)?;
        select(&tx)
    }

    fn get_data(card: &pcsc::Card, object: &[u8; 3]) -> Result<Option<Vec<u8>>, CardError> {
        let mut apdu = vec![0x00, INS_GET_DATA, 0x3f, 0xff, 0x05, 0x5c, 0x03];
        apdu.extend_from_slice(object);
        apdu.push(0x00);
        let response = exchange(card, &apdu)?;
        match response.sw {
            SW_OK => {}
            SW_NOT_FOUND => return Ok(None),
            sw => return Err(status_error("GET DATA", sw)),
        }
        let value = tlv::find(&response.data, &[0x53]).ok_or_else(|| io("data object without tag 53"))?;
        Ok(Some(value.to_vec()))
    }
}

fn first_reader_with_card(context: &Context, readers: &[CString]) -> Result<CString, CardError> {
    let mut states: Vec<_> = readers.iter().map(|r| pcsc::ReaderState::new(r.clone(), State::UNAWARE)).collect();
    context.get_status_change(std::time::Duration::ZERO, &mut states).map_err(pcsc_error)?;
    states
        .iter()
        .find(|s| s.event_state().contains(State::PRESENT) && !s.event_state().contains(State::MUTE))
        .map(|s| s.name().to_owned())
        .ok_or(CardError::NoCard)
}

fn select(card: &pcsc::Card) -> Result<(), CardError> {
    let mut apdu = vec![0x00, INS_SELECT, 0x04, 0x00, AID.len() as u8];
    apdu.extend_from_slice(&AID);
    apdu.push(0x00);
    let response = exchange(card, &apdu)?;
    match response.sw {
        SW_OK => Ok(()),
        SW_NOT_FOUND => Err(CardError::Unsupported("not a PIV card (no PIV application)".into())),
        sw => Err(status_error("SELECT", sw)),
    }
}

fn status_error(command: &str, sw: u16) -> CardError {
    io(format!("{command} failed with status {sw:04X}"))
}

/// Sends an APDU and collects the whole response: GET RESPONSE while the
/// card answers 61xx, the command again with the right Le on 6Cxx.
fn exchange(card: &pcsc::Card, apdu: &[u8]) -> Result<Response, CardError> {
    let mut buffer = [0u8; 258];
    let mut data = Vec::new();
    let mut command = apdu.to_vec();
    for _ in 0..64 {
        let received = card.transmit(&command, &mut buffer).map_err(|e| transmit_error(card, e))?;
        let Some((body, sw)) = received.split_at_checked(received.len().wrapping_sub(2)) else {
            // No status word: the reader lost the card (vpcd answers an empty
            // response when the card goes away mid-command).
            return Err(lost_card(card, "the card gave no answer"));
        };
        data.extend_from_slice(body);
        match (sw[0], sw[1]) {
            (0x61, le) => command = vec![0x00, INS_GET_RESPONSE, 0x00, 0x00, le],
            (0x6c, le) => {
                command = apdu.to_vec();
                if let Some(last) = command.last_mut().filter(|_| apdu.len() > 4) {
                    *last = le;
                } else {
                    command.push(le);
                }
            }
            (sw1, sw2) => return Ok(Response { data, sw: u16::from_be_bytes([sw1, sw2]) }),
        }
    }
    Err(io("response too long"))
}

/// A failed exchange: when the card is no longer there, it was removed.
fn transmit_error(card: &pcsc::Card, error: pcsc::Error) -> CardError {
    match pcsc_error(error) {
        CardError::Io(message) => lost_card(card, &message),
        CardError::NoCard => CardError::CardRemoved,
        other => other,
    }
}

/// After an exchange went wrong: [`CardError::CardRemoved`] if the reader
/// reports the card gone within a second (the reader notices a removal
/// only when it next polls), else an I/O error with `message`.
fn lost_card(card: &pcsc::Card, message: &str) -> CardError {
    for _ in 0..20 {
        match card.status2_owned() {
            Ok(status) if status.status().contains(pcsc::Status::PRESENT) => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            _ => return CardError::CardRemoved,
        }
    }
    io(message)
}

fn verify_pin(card: &pcsc::Card, pin: &str) -> Result<(), CardError> {
    let block = pin_block(pin).ok_or(CardError::WrongPin { retries_left: None })?;
    let mut apdu = vec![0x00, INS_VERIFY, 0x00, PIN_REF, PIN_BLOCK_LEN as u8];
    apdu.extend_from_slice(&block);
    let response = exchange(card, &apdu)?;
    match response.sw {
        SW_OK => Ok(()),
        SW_PIN_BLOCKED | 0x63c0 => Err(CardError::PinBlocked),
        sw if sw & 0xfff0 == 0x63c0 => Err(CardError::WrongPin { retries_left: Some((sw & 0x0f) as u8) }),
        sw => Err(status_error("VERIFY", sw)),
    }
}

/// GENERAL AUTHENTICATE with key 9C over a SHA-256 digest; the signature
/// as raw `r‖s`.
fn sign_digest(card: &pcsc::Card, digest: &[u8; 32]) -> Result<Vec<u8>, CardError> {
    let mut template = Vec::new();
    tlv::push(&mut template, &[0x82], &[]);
    tlv::push(&mut template, &[0x81], digest);
    let data = tlv::encode(&[0x7c], &template);
    let mut apdu = vec![0x00, INS_GENERAL_AUTHENTICATE, ALG_ECC_P256, SLOT_SIGNATURE, data.len() as u8];
    apdu.extend_from_slice(&data);
    apdu.push(0x00);
    let response = exchange(card, &apdu)?;
    match response.sw {
        SW_OK => {}
        SW_SECURITY_STATUS => return Err(CardError::WrongPin { retries_left: None }),
        SW_WRONG_P1P2 | SW_NOT_FOUND => {
            return Err(CardError::Unsupported("no ECDSA P-256 key in slot 9C".into()));
        }
        sw => return Err(status_error("GENERAL AUTHENTICATE", sw)),
    }
    let der = tlv::find(&response.data, &[0x7c])
        .and_then(|t| tlv::find(t, &[0x82]))
        .ok_or_else(|| io("GENERAL AUTHENTICATE answered without a signature"))?;
    let signature = p256::ecdsa::Signature::from_der(der).map_err(|e| io(format!("signature from the card: {e}")))?;
    Ok(signature.to_bytes().to_vec())
}

impl Card for PivCard {
    /// The CHUID GUID in lowercase hex (32 digits), or, for cards whose
    /// CHUID has no GUID (all zero or absent), the certificate number.
    fn card_id(&mut self) -> Result<String, CardError> {
        let chuid = {
            let tx = self.card.transaction().map_err(pcsc_error)?;
            select(&tx)?;
            PivCard::get_data(&tx, &OBJ_CHUID)?
        };
        if let Some(guid) = chuid.as_deref().and_then(|c| tlv::find(c, &[0x34]))
            && guid.len() == 16
            && guid.iter().any(|&b| b != 0)
        {
            return Ok(hex::encode(guid));
        }
        Ok(self.certificate()?.cert_no())
    }

    fn certificate(&mut self) -> Result<Certificate, CardError> {
        if let Some(certificate) = &self.certificate {
            return Ok(certificate.clone());
        }
        let object = {
            let tx = self.card.transaction().map_err(pcsc_error)?;
            select(&tx)?;
            PivCard::get_data(&tx, &OBJ_CERT_SIGNATURE)?
        };
        let object = object.ok_or_else(|| CardError::Unsupported("no certificate for key 9C".into()))?;
        if tlv::find(&object, &[0x71]).is_some_and(|info| info.first().is_some_and(|&b| b & 0x01 != 0)) {
            return Err(CardError::Unsupported("compressed certificate".into()));
        }
        let der = tlv::find(&object, &[0x70]).ok_or_else(|| io("certificate object without tag 70"))?;
        let certificate = Certificate::from_der(der).map_err(|e| io(format!("certificate on the card: {e}")))?;
        self.certificate = Some(certificate.clone());
        Ok(certificate)
    }

    fn verify_pin(&mut self, pin: &str) -> Result<(), CardError> {
        let tx = self.card.transaction().map_err(pcsc_error)?;
        select(&tx)?;
        verify_pin(&tx, pin)
    }

    /// VERIFY, then GENERAL AUTHENTICATE over SHA-256(data), in one PC/SC
    /// transaction. Returns raw `r‖s` (64 bytes).
    fn sign(&mut self, pin: &str, data: &[u8]) -> Result<Vec<u8>, CardError> {
        let digest: [u8; 32] = Sha256::digest(data).into();
        let tx = self.card.transaction().map_err(pcsc_error)?;
        select(&tx)?;
        verify_pin(&tx, pin)?;
        sign_digest(&tx, &digest)
    }
}

/// The names of the readers PC/SC knows, and whether each holds a card.
pub fn readers() -> Result<Vec<(String, bool)>, CardError> {
    let context = Context::establish(Scope::User).map_err(pcsc_error)?;
    let readers = context.list_readers_owned().map_err(pcsc_error)?;
    if readers.is_empty() {
        return Ok(Vec::new());
    }
    let mut states: Vec<_> = readers.iter().map(|r| pcsc::ReaderState::new(r.clone(), State::UNAWARE)).collect();
    context.get_status_change(std::time::Duration::ZERO, &mut states).map_err(pcsc_error)?;
    Ok(states
        .iter()
        .map(|s| (name(s.name()), s.event_state().contains(State::PRESENT) && !s.event_state().contains(State::MUTE)))
        .collect())
}

fn name(name: &CStr) -> String {
    name.to_string_lossy().into_owned()
}
