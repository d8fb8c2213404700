//! Built-in value checks shared by JSON Schema formats and Rhai rules.

/// A customs declaration number (报关单号): 18 digits.
pub fn declaration_no_valid(s: &str) -> bool {
    s.len() == 18 && s.bytes().all(|b| b.is_ascii_digit())
}

/// An ISO 6346 container number: owner code (3 letters), category (U, J, Z
/// or R), six-digit serial and the check digit.
pub fn iso6346_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 11
        || !b[..3].iter().all(u8::is_ascii_uppercase)
        || !matches!(b[3], b'U' | b'J' | b'Z' | b'R')
        || !b[4..].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    let sum: u32 = b[..10].iter().enumerate().map(|(i, &c)| iso6346_value(c) << i).sum();
    (sum % 11) % 10 == u32::from(b[10] - b'0')
}

/// Letters count 10 upwards, skipping multiples of 11 (A=10, B=12 … Z=38).
fn iso6346_value(c: u8) -> u32 {
    if c.is_ascii_digit() {
        return u32::from(c - b'0');
    }
    let mut value = 10;
    for _ in b'A'..c {
        value += 1;
        if value % 11 == 0 {
            value += 1;
        }
    }
    value
}

const USCC_CHARSET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const USCC_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

/// A unified social credit code (统一社会信用代码) per GB 32100-2015,
/// including its check character.
pub fn uscc_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 18 {
        return false;
    }
    let value = |c: u8| USCC_CHARSET.iter().position(|&x| x == c).map(|p| p as u32);
    let mut sum = 0;
    for (i, &c) in b[..17].iter().enumerate() {
        match value(c) {
            Some(v) => sum += v * USCC_WEIGHTS[i],
            None => return false,
        }
    }
    let check = (31 - sum % 31) % 31;
    value(b[17]) == Some(check)
}

/// The number of bytes a text takes in UTF-8, the measure of the customs
/// message fields (a Chinese character takes three).
pub fn byte_len(s: &str) -> usize {
    s.len()
}

/// `YYYY-MM-DD` naming a real calendar day.
pub fn date_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok()).flatten()
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_numbers_from_the_standard() {
        assert!(iso6346_valid("CSQU3054383"));
        assert!(iso6346_valid("MSKU9070323"));
        assert!(!iso6346_valid("CSQU3054384"), "wrong check digit");
        assert!(!iso6346_valid("CSQA3054383"), "category letter must be U, J, Z or R");
        assert!(!iso6346_valid("QAZX1106001"));
    }

    #[test]
    fn credit_codes_with_their_check_character() {
        assert!(uscc_valid("91350100M000100Y43"));
        assert!(uscc_valid("9144030071526726XG"));
        assert!(!uscc_valid("91350100M000100Y44"));
        assert!(!uscc_valid("91350100M000100Y4"));
        assert!(!uscc_valid("9135010OM000100Y43"), "O is not in the charset");
    }

    #[test]
    fn declaration_numbers_are_eighteen_digits() {
        assert!(declaration_no_valid("010120241000003476"));
        assert!(!declaration_no_valid("01012024100000347"));
        assert!(!declaration_no_valid("01012024100000347X"));
    }

    #[test]
    fn dates_must_exist() {
        assert!(date_valid("2024-02-29"));
        assert!(!date_valid("2023-02-29"));
        assert!(!date_valid("2024-13-01"));
        assert!(!date_valid("2024/01/01"));
    }

    #[test]
    fn bytes_not_characters() {
        assert_eq!(byte_len("批号"), 6);
        assert_eq!(byte_len("AB"), 2);
    }
}
