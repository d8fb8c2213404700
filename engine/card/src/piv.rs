//! PIV constants (NIST SP 800-73-4) shared by the client and the emulator.

/// The PIV application identifier prefix (PIX without version), which a
/// SELECT may use as a partial AID.
pub const AID: [u8; 5] = [0xa0, 0x00, 0x00, 0x03, 0x08];
/// The full AID with the version the emulator announces.
pub const AID_FULL: [u8; 11] = [0xa0, 0x00, 0x00, 0x03, 0x08, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00];

pub const INS_SELECT: u8 = 0xa4;
pub const INS_VERIFY: u8 = 0x20;
pub const INS_GET_DATA: u8 = 0xcb;
pub const INS_GENERAL_AUTHENTICATE: u8 = 0x87;
pub const INS_GET_RESPONSE: u8 = 0xc0;

/// Key reference of the PIV Card Application PIN.
pub const PIN_REF: u8 = 0x80;
/// Key reference of the Digital Signature key.
pub const SLOT_SIGNATURE: u8 = 0x9c;
/// Cryptographic mechanism identifier of ECC P-256 (SP 800-78-4 table 6-2).
pub const ALG_ECC_P256: u8 = 0x11;

/// Data object of the X.509 Certificate for Digital Signature (key 9C).
pub const OBJ_CERT_SIGNATURE: [u8; 3] = [0x5f, 0xc1, 0x0a];
/// Data object of the Card Holder Unique Identifier.
pub const OBJ_CHUID: [u8; 3] = [0x5f, 0xc1, 0x02];

/// PIN length on the wire: padded with 0xFF to eight bytes.
pub const PIN_BLOCK_LEN: usize = 8;

pub const SW_OK: u16 = 0x9000;
pub const SW_SECURITY_STATUS: u16 = 0x6982;
pub const SW_PIN_BLOCKED: u16 = 0x6983;
pub const SW_WRONG_DATA: u16 = 0x6a80;
pub const SW_NOT_FOUND: u16 = 0x6a82;
pub const SW_WRONG_P1P2: u16 = 0x6a86;
pub const SW_WRONG_LENGTH: u16 = 0x6700;
pub const SW_INS_NOT_SUPPORTED: u16 = 0x6d00;
pub const SW_CLA_NOT_SUPPORTED: u16 = 0x6e00;
pub const SW_CONDITIONS: u16 = 0x6985;

/// The PIN block: the PIN's ASCII digits padded with 0xFF. `None` if the
/// PIN is not 6 to 8 digits (SP 800-73-4 part 2, 2.4.3).
pub fn pin_block(pin: &str) -> Option<[u8; PIN_BLOCK_LEN]> {
    let bytes = pin.as_bytes();
    if !(6..=PIN_BLOCK_LEN).contains(&bytes.len()) || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut block = [0xff; PIN_BLOCK_LEN];
    block[..bytes.len()].copy_from_slice(bytes);
    Some(block)
}
