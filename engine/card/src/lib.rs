//! Smart cards over PC/SC for the certflow card agent.
//!
//! # Protocol: PIV
//!
//! Real cards are spoken to as PIV cards (NIST SP 800-73-4, the U.S.
//! Personal Identity Verification card; algorithms per SP 800-78-4), a
//! documented, standard applet that common tokens implement (YubiKey,
//! many national and corporate ID cards). [`PivCard`] uses:
//!
//! - SELECT of the PIV application, AID `A0 00 00 03 08`;
//! - VERIFY of the PIV Card Application PIN (key reference `80`), the PIN
//!   as ASCII digits padded with `FF` to 8 bytes; `63Cx` means a wrong PIN
//!   with x tries left ([`CardError::WrongPin`]), `6983` or `63C0` a
//!   blocked PIN ([`CardError::PinBlocked`]);
//! - GET DATA of the X.509 Certificate for Digital Signature (object
//!   `5FC10A`: `53 { 70 certificate, 71 CertInfo, FE }`), and of the CHUID
//!   (`5FC102`) for the card's identity;
//! - GENERAL AUTHENTICATE with the Digital Signature key (`9C`), algorithm
//!   `11` (ECC P-256): `7C { 82 00, 81 SHA-256 digest }` answered with
//!   `7C { 82 DER ECDSA signature }`, which [`PivCard`] returns as raw
//!   `r‖s` (64 bytes), as [`certflow_sign::Card`] wants for ECDSA P-256.
//!   The data is hashed with SHA-256 on the host; the signature verifies
//!   with [`certflow_sign::verify`] and the card's certificate;
//! - GET RESPONSE for responses longer than 256 bytes (`61xx`).
//!
//! Key 9C is "PIN Always" in PIV, so [`Card::sign`]
//! sends VERIFY and GENERAL AUTHENTICATE together in one PC/SC transaction.
//!
//! **Card id**: the GUID of the CHUID (tag `34`) as 32 lowercase hex
//! digits — the card's own unique identifier, which stays the same when
//! the certificate is renewed. Cards whose CHUID is missing or has an
//! all-zero GUID get the certificate number instead.
//!
//! **Errors**: no readers, no reader of the given name, or no PC/SC
//! service → [`CardError::NoReader`]; an empty reader →
//! [`CardError::NoCard`]; the card removed or reset during an operation
//! (PC/SC `SCARD_W_REMOVED_CARD`, `SCARD_W_RESET_CARD`, or a failed
//! exchange after which the reader reports no card) →
//! [`CardError::CardRemoved`], never a partial result.
//!
//! # Testing without hardware
//!
//! [`emulator`] is a PIV card in software that plugs into vsmartcard's
//! virtual reader (vpcd, loaded by pcscd), so the tests run the whole
//! stack: pcscd → the `pcsc` crate → APDUs → emulator. The binary
//! `certflow-piv-emulator` runs it standalone.
//!
//! [`CardError::WrongPin`]: certflow_sign::card::CardError::WrongPin
//! [`CardError::PinBlocked`]: certflow_sign::card::CardError::PinBlocked
//! [`CardError::NoReader`]: certflow_sign::card::CardError::NoReader
//! [`CardError::NoCard`]: certflow_sign::card::CardError::NoCard
//! [`CardError::CardRemoved`]: certflow_sign::card::CardError::CardRemoved

mod client;
pub mod emulator;
pub mod piv;
pub mod tlv;

pub use certflow_sign::card::{Card, CardError};
pub use client::{PivCard, readers};
