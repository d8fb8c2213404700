//! RSA PKCS#1 v1.5 with SHA-1 with a key made in the test (the fixture
//! certificate's signature is checked in tests/cert.rs).

use certflow_sign::SignError;
use certflow_sign::rsa::{RsaPublicKey, verify_sha1};
use rsa::pkcs1::EncodeRsaPublicKey as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use sha1::Sha1;

#[test]
fn sha1_round_trip_and_tampering() {
    let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
    let public = private.to_public_key();
    let spki = public.to_public_key_der().unwrap();
    let pkcs1 = public.to_pkcs1_der().unwrap();
    let key = RsaPublicKey::from_spki_der(spki.as_bytes()).unwrap();
    assert_eq!(key, RsaPublicKey::from_pkcs1_der(pkcs1.as_bytes()).unwrap());
    assert_eq!(key.bits(), 1024);

    let message = "报关单 legacy card".as_bytes();
    let signature = SigningKey::<Sha1>::new(private).sign(message).to_vec();
    assert_eq!(signature.len(), 128);
    verify_sha1(&key, message, &signature).unwrap();
    use base64::Engine as _;
    verify_sha1(&key, message, base64::engine::general_purpose::STANDARD.encode(&signature).as_bytes()).unwrap();

    let mut bad = signature.clone();
    bad[0] ^= 0x80;
    assert!(verify_sha1(&key, message, &bad).is_err());
    assert!(matches!(verify_sha1(&key, b"other", &signature), Err(SignError::BadSignature)));
    // A SHA-1 signature is not a SHA-256 one.
    assert!(key.verify_sha256(message, &signature).is_err());

    let other = rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap();
    let other = RsaPublicKey::from_spki_der(other.to_public_key().to_public_key_der().unwrap().as_bytes()).unwrap();
    assert!(matches!(verify_sha1(&other, message, &signature), Err(SignError::BadSignature)));
}
