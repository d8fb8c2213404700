//! The bytes a document signature covers.
//!
//! The canonical form is defined once, in [`certflow_core::canonical`], and
//! re-exported here so that signers and verifiers cannot drift apart:
//!
//! ```text
//! certflow-document-v1
//! doctype:<id>
//! bundle:<definition hash>
//! number:<unified number, or empty>
//! <the data as canonical JSON>
//! ```
//!
//! (lines separated by `\n`, UTF-8; canonical JSON has object keys sorted by
//! their UTF-8 bytes and no insignificant white space). A change to the data,
//! the document type, the definition bundle the document was made with, or
//! its number changes the bytes, so the signature no longer verifies.
//!
//! [`signed_bytes`] adds one thing to [`canonical_bytes`]: it refuses header
//! fields that would make the form ambiguous (a line break in the document
//! type could otherwise forge a `bundle:` line), so what is signed can always
//! be parsed back into the same four header fields.

pub use certflow_core::canonical::{HEADER, canonical_bytes, canonical_json, digest};
use serde_json::Value;

use crate::SignError;

/// The canonical bytes of a document, for signing or verifying, after
/// checking that the header fields cannot be confused with one another.
///
/// `doctype` and `bundle_hash` must be non-empty; none of the three header
/// fields may contain control characters (line breaks in particular).
pub fn signed_bytes(
    doctype: &str,
    bundle_hash: &str,
    number: Option<&str>,
    data: &Value,
) -> Result<Vec<u8>, SignError> {
    check_field("doctype", doctype, false)?;
    check_field("bundle", bundle_hash, false)?;
    if let Some(number) = number {
        check_field("number", number, true)?;
    }
    Ok(canonical_bytes(doctype, bundle_hash, number, data))
}

fn check_field(field: &'static str, value: &str, may_be_empty: bool) -> Result<(), SignError> {
    if value.is_empty() && !may_be_empty {
        return Err(SignError::InvalidCanonicalField { field, reason: "must not be empty" });
    }
    if value.chars().any(char::is_control) {
        return Err(SignError::InvalidCanonicalField { field, reason: "must not contain control characters" });
    }
    Ok(())
}
