//! Signatures for certflow: what a card signature covers, and whether it is
//! genuine.
//!
//! An enterprise signs a document with its E-Port (电子口岸) card, at its own
//! desk, through a local signer (the official E-Port client or the project's
//! card agent). The server then checks the signature against the X.509
//! certificate the enterprise registered and the card bound to the account.
//! This crate is that check, plus the pieces a local signer needs:
//!
//! * [`canonical`]: the exact bytes a document signature covers (data, document
//!   type, definition bundle hash and number), shared with `certflow-core`;
//! * [`sm2`]: SM2 signatures with SM3 and the GB/T 35276 default user id
//!   `1234567812345678`, the algorithm of current cards; signatures are
//!   accepted as raw `r‖s` or DER, each also in base64, and produced as the
//!   E-Port client produces them (base64 of the 64-byte raw `r‖s`);
//! * [`rsa`]: RSA PKCS#1 v1.5 with SHA-1, the algorithm of legacy cards;
//! * [`cert`]: X.509 certificates: certificate number (the serial as
//!   `cus-sec_SpcGetCertNo` returns it), validity, binding to a registered
//!   card, and [`cert::verify`], which dispatches on the key algorithm
//!   (SM2/SM3, ECDSA P-256/SHA-256 for PIV cards, RSA/SHA-1);
//! * [`softcard`]: a development soft card (SM2 key, self-signed certificate,
//!   PIN) on disk, for the card agent, demos and tests.
//!
//! What this crate must not do: no network and no card I/O (the card agent
//! talks PC/SC, the server talks HTTP); no knowledge of what a certificate
//! means to the business (which enterprise owns which card is the store's
//! and the server's concern: they pass the expected certificate number in).
//! It only answers "do these bytes carry a valid signature by this
//! certificate, and is this the certificate we expected".

pub mod canonical;
pub mod card;
pub mod cert;
mod encoding;
mod error;
pub mod protocol;
pub mod rsa;
pub mod sm2;
pub mod softcard;

pub use card::{Card, CardError};
pub use cert::{Certificate, KeyAlgorithm, verify, verify_binding, verify_registered};
pub use error::SignError;
pub use softcard::{SoftCard, SoftCardOptions};
