//! The PIV client against the PIV emulator through real PC/SC: pcscd with
//! vsmartcard's vpcd reader, the `pcsc` crate, APDUs.
//!
//! Needs pcscd running with vpcd (see .ci/run). Without it the tests are
//! skipped, unless `CI` is set, where they fail. vpcd has one slot on port
//! 35963, so the tests take a lock file under the target directory and
//! run one at a time, across test processes too.
#![allow(clippy::print_stderr)]

use std::fs::File;

use std::path::Path;
use std::time::{Duration, Instant};

use certflow_card::emulator::{self, EmulatorHandle, EmulatorOptions, VPCD_READER};
use certflow_card::{Card as _, CardError, PivCard};
use certflow_sign::{Certificate, KeyAlgorithm, verify};

/// Holds the vpcd slot for one test.
struct Slot {
    _lock: File,
}

/// Whether pcscd with vpcd is there; when it is not, skips (returns
/// `None`) or, under CI, fails.
fn pcscd() -> Option<Slot> {
    let socket = Path::new("/run/pcscd/pcscd.comm");
    let reachable = socket.exists() && pcsc::Context::establish(pcsc::Scope::User).is_ok();
    let problem = if !reachable {
        Some("pcscd is not running (no /run/pcscd/pcscd.comm)".to_owned())
    } else if !has_reader(VPCD_READER) {
        Some(format!("pcscd has no reader {VPCD_READER:?} (vsmartcard-vpcd not installed?)"))
    } else {
        None
    };
    if let Some(problem) = problem {
        if std::env::var_os("CI").is_some() {
            panic!("{problem}; CI needs pcscd and vsmartcard-vpcd");
        }
        eprintln!("skipped: {problem}");
        return None;
    }
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("certflow-vpcd-slot.lock");
    let lock = File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    lock.lock().expect("lock the vpcd slot");
    // The previous holder's card must be out before ours goes in.
    wait_for(|| !card_present(VPCD_READER), "the vpcd slot to be empty");
    Some(Slot { _lock: lock })
}

fn has_reader(name: &str) -> bool {
    certflow_card::readers().is_ok_and(|r| r.iter().any(|(n, _)| n == name))
}

fn card_present(name: &str) -> bool {
    certflow_card::readers().is_ok_and(|r| r.iter().any(|(n, present)| n == name && *present))
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Puts an emulated card into the vpcd reader and waits until PC/SC sees
/// it.
fn insert(options: &EmulatorOptions) -> EmulatorHandle {
    // vpcd may still be closing the previous card's connection.
    let start = Instant::now();
    let card = loop {
        match emulator::spawn(options) {
            Ok(card) => break card,
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                eprintln!("vpcd not ready ({e}), retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("cannot connect to vpcd: {e}"),
        }
    };
    wait_for(|| card_present(VPCD_READER), "the emulated card in the reader");
    card
}

fn connect() -> PivCard {
    // Right after insertion pcscd may still be powering the card up.
    let start = Instant::now();
    loop {
        match PivCard::connect(Some(VPCD_READER)) {
            Ok(card) => return card,
            Err(e) if start.elapsed() < Duration::from_secs(10) => {
                eprintln!("connect: {e}, retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cannot connect to the emulated card: {e}"),
        }
    }
}

fn remove(card: EmulatorHandle) {
    card.stop().expect("emulator stops cleanly");
    wait_for(|| !card_present(VPCD_READER), "the card to leave the reader");
}

#[test]
fn sign_and_verify_round_trip() {
    let Some(_slot) = pcscd() else { return };
    let emulated = insert(&EmulatorOptions::default());
    let mut card = connect();
    assert_eq!(card.reader(), VPCD_READER);

    let certificate = card.certificate().unwrap();
    assert_eq!(certificate.der(), emulated.certificate_der(), "certificate read through GET RESPONSE chaining");
    assert!(certificate.der().len() > 256);
    assert_eq!(certificate.key_algorithm(), KeyAlgorithm::EcdsaP256);
    certificate.verify_self_signed().unwrap();
    assert_eq!(card.card_id().unwrap(), hex::encode(emulated.guid()));

    let message = "报关单 certflow round trip".as_bytes();
    let signature = card.sign(emulator::DEFAULT_PIN, message).unwrap();
    assert_eq!(signature.len(), 64, "raw r‖s");
    verify(&certificate, message, &signature).unwrap();
    let parsed = Certificate::from_der(emulated.certificate_der()).unwrap();
    verify(&parsed, message, &signature).unwrap();
    assert!(verify(&certificate, b"another message", &signature).is_err());

    // PIN Always: every signature verifies the PIN again, and a second one works.
    let second = card.sign(emulator::DEFAULT_PIN, b"second").unwrap();
    verify(&certificate, b"second", &second).unwrap();

    drop(card);
    remove(emulated);
}

#[test]
fn wrong_pin_counts_down_then_blocks() {
    let Some(_slot) = pcscd() else { return };
    let emulated = insert(&EmulatorOptions::default());
    let mut card = connect();
    assert_eq!(card.pin_retries().unwrap(), Some(3));

    assert_eq!(card.verify_pin("000000"), Err(CardError::WrongPin { retries_left: Some(2) }));
    assert_eq!(card.sign("111111", b"data"), Err(CardError::WrongPin { retries_left: Some(1) }));
    assert_eq!(card.pin_retries().unwrap(), Some(1));

    // The right PIN restores the tries.
    card.verify_pin(emulator::DEFAULT_PIN).unwrap();
    let signature = card.sign(emulator::DEFAULT_PIN, b"data").unwrap();
    verify(&card.certificate().unwrap(), b"data", &signature).unwrap();
    assert_eq!(card.pin_retries().unwrap(), Some(3));

    assert_eq!(card.verify_pin("000000"), Err(CardError::WrongPin { retries_left: Some(2) }));
    assert_eq!(card.verify_pin("000000"), Err(CardError::WrongPin { retries_left: Some(1) }));
    assert_eq!(card.verify_pin("000000"), Err(CardError::PinBlocked));
    assert_eq!(card.sign(emulator::DEFAULT_PIN, b"data"), Err(CardError::PinBlocked));
    assert_eq!(card.pin_retries().unwrap(), Some(0));

    drop(card);
    remove(emulated);
}

#[test]
fn card_removed_mid_signature_gives_no_signature() {
    let Some(_slot) = pcscd() else { return };
    let emulated = insert(&EmulatorOptions::default());
    let mut card = connect();
    card.certificate().unwrap();

    emulated.drop_on_next_general_authenticate();
    let result = card.sign(emulator::DEFAULT_PIN, b"data");
    assert_eq!(result, Err(CardError::CardRemoved));
    wait_for(|| !emulated.is_running(), "the emulator to stop");
    // The card is gone for later calls too.
    let after = card.sign(emulator::DEFAULT_PIN, b"data");
    assert!(matches!(after, Err(CardError::CardRemoved | CardError::NoCard)), "{after:?}");

    drop(card);
    remove(emulated);
    assert_eq!(PivCard::connect(Some(VPCD_READER)).unwrap_err(), CardError::NoCard);
}

#[test]
fn no_reader_and_no_card() {
    let Some(_slot) = pcscd() else { return };
    assert_eq!(PivCard::connect(Some("No Such Reader 99 99")).unwrap_err(), CardError::NoReader);
    // The vpcd reader is empty while we hold the slot.
    assert_eq!(PivCard::connect(Some(VPCD_READER)).unwrap_err(), CardError::NoCard);
}
