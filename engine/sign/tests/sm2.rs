//! SM2 with SM3: known answers, round trips in every signature encoding,
//! and tampering.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use certflow_sign::SignError;
use certflow_sign::sm2::{
    DEFAULT_USER_ID, Sm2PrivateKey, Sm2PublicKey, decode_signature, encode_signature, signature_to_der, sm3,
};

#[test]
fn sm3_matches_gbt_32905_examples() {
    assert_eq!(hex::encode(sm3(b"abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    assert_eq!(
        hex::encode(sm3("abcd".repeat(16).as_bytes())),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
}

/// The key pair of the GM/T 0003.5-2012 (GB/T 32918.5) signature example on
/// the recommended curve, with a signature of "message digest" under user id
/// ALICE123@YAHOO.COM that gmssl 3.2.2 computed with the fixed nonce
/// k = 59276e27…eac1bc21 (`CryptSM2.sign(SM3(Z ‖ M), k)`, Z computed by hand
/// for that id, since gmssl hard-codes the default one).
#[test]
fn known_key_pair_and_other_user_id() {
    let private = Sm2PrivateKey::from_bytes(
        &hex::decode("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8").unwrap(),
    )
    .unwrap();
    let public = private.public_key();
    assert_eq!(
        hex::encode(public.to_sec1_uncompressed()),
        concat!(
            "04",
            "09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020",
            "ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
        )
    );
    let signature = hex::decode(concat!(
        "b0e3e7d4ac2178f833ad73fa9d1191e41c76c8bfedb5ad89040ba2e5184bde58",
        "cc8d096578f7dd2669ac1ac42f7e722bcfa42b9e0be0b1b5df7ca0b53fdd5750"
    ))
    .unwrap();
    public.verify_with_user_id("ALICE123@YAHOO.COM", b"message digest", &signature).unwrap();
    // The same signature under the default user id is another statement.
    assert!(matches!(public.verify(b"message digest", &signature), Err(SignError::BadSignature)));
    assert!(public.verify_with_user_id("ALICE123@YAHOO.COM", b"message digesT", &signature).is_err());
}

#[test]
fn round_trip_in_every_encoding() {
    let key = Sm2PrivateKey::generate().unwrap();
    let public = key.public_key();
    let message = "出证 certificate 470020250000001".as_bytes();
    let raw = key.sign(message).unwrap();
    assert_eq!(raw.len(), 64);
    let der = signature_to_der(&raw);
    assert_eq!(der[0], 0x30);

    public.verify(message, &raw).unwrap();
    public.verify(message, &der).unwrap();
    public.verify(message, encode_signature(&raw).as_bytes()).unwrap();
    public.verify(message, STANDARD.encode(&der).as_bytes()).unwrap();
    // Base64 with line breaks and surrounding white space, as PEM-ish tools wrap it.
    let wrapped = format!("  {}\r\n{}\n", &encode_signature(&raw)[..40], &encode_signature(&raw)[40..]);
    public.verify(message, wrapped.as_bytes()).unwrap();
    public.verify_with_user_id(DEFAULT_USER_ID, message, &raw).unwrap();

    assert_eq!(decode_signature(&der).unwrap(), raw);
    assert_eq!(decode_signature(encode_signature(&raw).as_bytes()).unwrap(), raw);
    assert_eq!(key.sign_base64(message).unwrap(), encode_signature(&raw), "signing is deterministic");
}

#[test]
fn tampering_is_detected() {
    let key = Sm2PrivateKey::generate().unwrap();
    let public = key.public_key();
    let message = b"{\"goods\":[{\"qty\":12}]}".to_vec();
    let raw = key.sign(&message).unwrap();

    for i in [0, message.len() / 2, message.len() - 1] {
        let mut tampered = message.clone();
        tampered[i] ^= 0x01;
        assert!(matches!(public.verify(&tampered, &raw), Err(SignError::BadSignature)), "data byte {i}");
    }
    let mut longer = message.clone();
    longer.push(b' ');
    assert!(public.verify(&longer, &raw).is_err());

    for i in [0, 31, 32, 63] {
        let mut bad = raw;
        bad[i] ^= 0x01;
        assert!(public.verify(&message, &bad).is_err(), "signature byte {i}");
    }
    let mut der = signature_to_der(&raw);
    let last = der.len() - 1;
    der[last] ^= 0x01;
    assert!(public.verify(&message, &der).is_err());
}

#[test]
fn wrong_key_fails() {
    let key = Sm2PrivateKey::generate().unwrap();
    let other = Sm2PrivateKey::generate().unwrap();
    let raw = key.sign(b"data").unwrap();
    assert!(matches!(other.public_key().verify(b"data", &raw), Err(SignError::BadSignature)));
    assert!(key.public_key().verify_with_user_id("ALICE123@YAHOO.COM", b"data", &raw).is_err());
}

#[test]
fn malformed_signatures_are_reported_as_such() {
    let public = Sm2PrivateKey::generate().unwrap().public_key();
    for bad in [&b""[..], &[0u8; 63], &[0u8; 65], b"not base64!", &[0x30, 0x02, 0x02, 0x00]] {
        assert!(matches!(public.verify(b"x", bad), Err(SignError::MalformedSignature(_))), "{bad:?}");
    }
    // r = 0 is out of range.
    assert!(matches!(public.verify(b"x", &[0u8; 64]), Err(SignError::MalformedSignature(_))));
}

#[test]
fn der_decoding_tolerates_redundant_leading_zeros() {
    let key = Sm2PrivateKey::generate().unwrap();
    let raw = key.sign(b"data").unwrap();
    // Both integers as 33 bytes with a leading zero, whether needed or not.
    let mut der = vec![0x30, 70, 0x02, 33, 0x00];
    der.extend_from_slice(&raw[..32]);
    der.extend_from_slice(&[0x02, 33, 0x00]);
    der.extend_from_slice(&raw[32..]);
    assert_eq!(decode_signature(&der).unwrap(), raw);
    key.public_key().verify(b"data", &der).unwrap();
    // Trailing bytes after the SEQUENCE are not a signature.
    der.push(0);
    assert!(decode_signature(&der).is_err());
}

#[test]
fn keys_round_trip_through_pkcs8_and_sec1() {
    let key = Sm2PrivateKey::generate().unwrap();
    let pem = key.to_pkcs8_pem().unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let again = Sm2PrivateKey::from_pkcs8_pem(&pem).unwrap();
    assert_eq!(again.to_bytes(), key.to_bytes());

    let public = key.public_key();
    let sec1 = public.to_sec1_uncompressed();
    assert_eq!((sec1.len(), sec1[0]), (65, 0x04));
    assert_eq!(Sm2PublicKey::from_sec1(&sec1).unwrap(), public);
    assert_eq!(Sm2PublicKey::from_sec1(&sec1[1..]).unwrap(), public, "x‖y without the 04 prefix");
    assert_eq!(Sm2PublicKey::from_spki_der(&public.to_spki_der().unwrap()).unwrap(), public);
    assert!(Sm2PublicKey::from_sec1(&[0x04; 65]).is_err());
}
