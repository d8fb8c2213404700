//! BER-TLV as PIV uses it (SP 800-73-4 part 2, appendix A): one- or
//! two-byte tags, definite lengths of up to three bytes (`81 xx`,
//! `82 xx xx`).

/// Appends a TLV to `out`.
pub fn push(out: &mut Vec<u8>, tag: &[u8], value: &[u8]) {
    out.extend_from_slice(tag);
    push_len(out, value.len());
    out.extend_from_slice(value);
}

/// A TLV as bytes.
pub fn encode(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + tag.len() + 3);
    push(&mut out, tag, value);
    out
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

/// Splits `data` into its top-level TLVs: `(tag, value)`. `None` if the
/// encoding is broken (a length past the end, an indefinite length).
pub fn parse(mut data: &[u8]) -> Option<Vec<(Vec<u8>, &[u8])>> {
    let mut items = Vec::new();
    while !data.is_empty() {
        let first = *data.first()?;
        // Multi-byte tag: low five bits all set; later bytes continue while b8 is set.
        let mut tag_len = 1;
        if first & 0x1f == 0x1f {
            loop {
                let b = *data.get(tag_len)?;
                tag_len += 1;
                if b & 0x80 == 0 {
                    break;
                }
            }
        }
        let tag = data[..tag_len].to_vec();
        let (len, len_len) = match *data.get(tag_len)? {
            n @ 0..=0x7f => (n as usize, 1),
            0x81 => (*data.get(tag_len + 1)? as usize, 2),
            0x82 => ((*data.get(tag_len + 1)? as usize) << 8 | *data.get(tag_len + 2)? as usize, 3),
            _ => return None,
        };
        let start = tag_len + len_len;
        let end = start.checked_add(len)?;
        let value = data.get(start..end)?;
        items.push((tag, value));
        data = &data[end..];
    }
    Some(items)
}

/// The value of the first top-level TLV with `tag`.
pub fn find<'a>(data: &'a [u8], tag: &[u8]) -> Option<&'a [u8]> {
    parse(data)?.into_iter().find(|(t, _)| t == tag).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 0x7f, 0x80, 0xff, 0x100, 0x1234] {
            let value = vec![0xab; len];
            let mut data = encode(&[0x5f, 0xc1, 0x0a], &value);
            data.extend_from_slice(&encode(&[0x70], b"x"));
            let items = parse(&data).unwrap();
            assert_eq!(items.len(), 2);
            assert_eq!(items[0].0, vec![0x5f, 0xc1, 0x0a]);
            assert_eq!(items[0].1, &value[..]);
            assert_eq!(find(&data, &[0x70]), Some(&b"x"[..]));
        }
    }

    #[test]
    fn broken_lengths_are_rejected() {
        assert!(parse(&[0x53, 0x05, 0x01]).is_none());
        assert!(parse(&[0x53, 0x80]).is_none());
        assert!(parse(&[0x5f]).is_none());
    }
}
