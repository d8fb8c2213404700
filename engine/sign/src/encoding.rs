//! Small helpers for the encodings the E-Port client uses on the wire.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Decodes base64 text (standard alphabet, padded, white space and line
/// breaks allowed anywhere), or `None` when `bytes` is not such text.
pub(crate) fn base64_text(bytes: &[u8]) -> Option<Vec<u8>> {
    let compact: Vec<u8> = bytes.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return None;
    }
    STANDARD.decode(&compact).ok()
}

/// Standard padded base64, as the E-Port client returns binary values.
pub(crate) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}
