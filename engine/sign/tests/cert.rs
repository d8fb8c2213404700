//! Certificates made by OpenSSL (tests/fixtures, see its README): parsing,
//! the certificate number, validity, binding, and verification of
//! signatures OpenSSL made, for each key algorithm.

use std::path::PathBuf;

use certflow_sign::cert::{OID_ECDSA_SHA256, OID_RSA_SHA1, OID_SM2_WITH_SM3, verify_registered};
use certflow_sign::{Certificate, KeyAlgorithm, SignError, verify, verify_binding};
use time::Duration;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn message() -> Vec<u8> {
    fixture("message.txt")
}

#[test]
fn sm2_certificate_parses_like_an_eport_one() {
    let cert = Certificate::parse(fixture("sm2-cert.pem")).unwrap();
    assert_eq!(cert.cert_no(), "03000000000cde6f");
    assert_eq!(cert.subject_cn().as_deref(), Some("张三"));
    assert!(cert.subject().contains("OU=测试进出口有限公司"), "{}", cert.subject());
    assert_eq!(cert.issuer(), cert.subject());
    assert_eq!(cert.key_algorithm(), KeyAlgorithm::Sm2);
    assert_eq!(cert.signature_algorithm(), OID_SM2_WITH_SM3);
    let days = (cert.not_after() - cert.not_before()).whole_days();
    assert_eq!(days, 3650);
    cert.verify_self_signed().unwrap();

    // As the E-Port client hands it out: base64 DER, no armour; and as DER.
    let from_b64 = Certificate::parse(fixture("sm2-cert.b64")).unwrap();
    assert_eq!(from_b64, cert);
    assert_eq!(cert.to_base64(), String::from_utf8(fixture("sm2-cert.b64")).unwrap().trim());
    assert_eq!(Certificate::parse(cert.der()).unwrap(), cert);
    assert_eq!(Certificate::from_pem(&cert.to_pem()).unwrap(), cert);
}

#[test]
fn openssl_sm2_signature_verifies() {
    let cert = Certificate::parse(fixture("sm2-cert.pem")).unwrap();
    let der = fixture("sm2-signature.der");
    verify(&cert, &message(), &der).unwrap();
    // The same signature as the E-Port client would return it: raw r‖s, base64.
    let raw = certflow_sign::sm2::decode_signature(&der).unwrap();
    verify(&cert, &message(), certflow_sign::sm2::encode_signature(&raw).as_bytes()).unwrap();

    let mut tampered = message();
    tampered[0] ^= 1;
    assert!(matches!(verify(&cert, &tampered, &der), Err(SignError::BadSignature)));
}

#[test]
fn rsa_sha1_certificate_and_signature() {
    let cert = Certificate::parse(fixture("rsa-sha1-cert.pem")).unwrap();
    assert_eq!(cert.cert_no(), "0100000000001234");
    assert_eq!(cert.subject_cn().as_deref(), Some("legacy-rsa"));
    assert_eq!(cert.key_algorithm(), KeyAlgorithm::Rsa { bits: 2048 });
    assert_eq!(cert.signature_algorithm(), OID_RSA_SHA1);
    cert.verify_self_signed().unwrap();

    let signature = fixture("rsa-sha1-signature.bin");
    verify(&cert, &message(), &signature).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&signature);
    verify(&cert, &message(), b64.as_bytes()).unwrap();

    let mut bad = signature.clone();
    bad[100] ^= 1;
    assert!(matches!(verify(&cert, &message(), &bad), Err(SignError::BadSignature)));
    let mut tampered = message();
    tampered.push(b'\n');
    assert!(verify(&cert, &tampered, &signature).is_err());
    assert!(matches!(verify(&cert, &message(), &signature[1..]), Err(SignError::MalformedSignature(_))));
}

#[test]
fn p256_certificate_and_signature() {
    let cert = Certificate::parse(fixture("p256-cert.pem")).unwrap();
    // DER writes 00 80 00 … 01; the certificate number leaves the 00 out.
    assert_eq!(cert.cert_no(), "8000000000000001");
    assert_eq!(cert.key_algorithm(), KeyAlgorithm::EcdsaP256);
    assert_eq!(cert.signature_algorithm(), OID_ECDSA_SHA256);
    cert.verify_self_signed().unwrap();
    let signature = fixture("p256-signature.der");
    verify(&cert, &message(), &signature).unwrap();
    let mut tampered = message();
    tampered[3] ^= 0x20;
    assert!(matches!(verify(&cert, &tampered, &signature), Err(SignError::BadSignature)));
}

#[test]
fn signatures_do_not_cross_certificates() {
    let sm2 = Certificate::parse(fixture("sm2-cert.pem")).unwrap();
    let rsa = Certificate::parse(fixture("rsa-sha1-cert.pem")).unwrap();
    let p256 = Certificate::parse(fixture("p256-cert.pem")).unwrap();
    assert!(verify(&rsa, &message(), &fixture("sm2-signature.der")).is_err());
    assert!(verify(&p256, &message(), &fixture("sm2-signature.der")).is_err());
    assert!(verify(&sm2, &message(), &fixture("p256-signature.der")).is_err());
    assert!(verify(&sm2, &message(), &fixture("rsa-sha1-signature.bin")).is_err());
    assert!(sm2.verify_issued_by(&rsa).is_err());
    assert!(p256.verify_issued_by(&sm2).is_err());
}

#[test]
fn validity_is_checked_at_both_ends() {
    let cert = Certificate::parse(fixture("sm2-cert.pem")).unwrap();
    let (start, end) = (cert.not_before(), cert.not_after());
    cert.check_valid_at(start).unwrap();
    cert.check_valid_at(end).unwrap();
    cert.check_valid_at(start + Duration::days(100)).unwrap();
    match cert.check_valid_at(end + Duration::seconds(1)) {
        Err(SignError::Expired { cert_no, not_after }) => {
            assert_eq!(cert_no, "03000000000cde6f");
            assert!(not_after.ends_with('Z'), "{not_after}");
        }
        other => panic!("expected Expired, got {other:?}"),
    }
    assert!(matches!(cert.check_valid_at(start - Duration::seconds(1)), Err(SignError::NotYetValid { .. })));
}

#[test]
fn binding_compares_certificate_numbers() {
    let cert = Certificate::parse(fixture("sm2-cert.pem")).unwrap();
    verify_binding(&cert, "03000000000cde6f").unwrap();
    verify_binding(&cert, "03000000000CDE6F").unwrap();
    verify_binding(&cert, " 3000000000cde6f ").unwrap();
    verify_binding(&cert, "03:00:00:00:00:0c:de:6f").unwrap();
    for wrong in ["03000000000cde6e", "", "0", "13000000000cde6f"] {
        assert!(matches!(verify_binding(&cert, wrong), Err(SignError::CertificateMismatch { .. })), "{wrong:?}");
    }
}

#[test]
fn registered_check_runs_binding_validity_and_signature() {
    let cert = Certificate::parse(fixture("sm2-cert.pem")).unwrap();
    let signature = fixture("sm2-signature.der");
    let during = cert.not_before() + Duration::days(1);
    verify_registered(&cert, "03000000000cde6f", during, &message(), &signature).unwrap();
    assert!(matches!(
        verify_registered(&cert, "0300000000000001", during, &message(), &signature),
        Err(SignError::CertificateMismatch { .. })
    ));
    assert!(matches!(
        verify_registered(&cert, "03000000000cde6f", cert.not_after() + Duration::days(1), &message(), &signature),
        Err(SignError::Expired { .. })
    ));
    assert!(matches!(
        verify_registered(&cert, "03000000000cde6f", during, b"other", &signature),
        Err(SignError::BadSignature)
    ));
}

#[test]
fn garbage_is_not_a_certificate() {
    for bad in
        [&b""[..], b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", &[0x30, 0x03, 1, 2, 3]]
    {
        assert!(matches!(Certificate::parse(bad), Err(SignError::MalformedCertificate(_))), "{bad:?}");
    }
}
