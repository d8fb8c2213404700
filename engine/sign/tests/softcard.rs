//! The development soft card: create, open, PIN, sign, and the certificate
//! it makes.

use std::process::Command;
use std::time::{Duration, SystemTime};

use certflow_sign::cert::{OID_SM2_WITH_SM3, verify_registered};
use certflow_sign::softcard::{DEFAULT_PIN, SOFT_CARD_ORGANIZATION, SoftCardOptions, new_card_id};
use certflow_sign::{Certificate, KeyAlgorithm, SignError, SoftCard, verify, verify_binding};

#[test]
fn create_open_pin_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("card");
    let card = SoftCard::create(&dir, "8930000012345").unwrap();
    assert_eq!(card.card_id(), "8930000012345");
    let cert_no = card.cert_no();
    assert_eq!(cert_no.len(), 16, "{cert_no}");
    assert!(cert_no.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{cert_no}");

    let opened = SoftCard::open(&dir).unwrap();
    assert_eq!(opened.card_id(), "8930000012345");
    assert_eq!(opened.cert_no(), cert_no);
    assert_eq!(opened.cert_der(), card.cert_der());
    assert_eq!(opened.public_key(), card.public_key());

    opened.verify_pin(DEFAULT_PIN).unwrap();
    assert!(matches!(opened.verify_pin("12345678"), Err(SignError::WrongPin)));
    assert!(matches!(opened.verify_pin(""), Err(SignError::WrongPin)));

    let data = "{\"consignee\":\"收货人\"}".as_bytes();
    let raw = opened.sign(data).unwrap();
    let cert = Certificate::parse(opened.cert_base64()).unwrap();
    verify(&cert, data, &raw).unwrap();
    verify(&cert, data, opened.sign_base64(data).unwrap().as_bytes()).unwrap();
    verify_binding(&cert, &cert_no).unwrap();
    verify(&cert, b"{}", &raw).unwrap_err();
    assert!(matches!(opened.sign_with_pin(data, "00000000"), Err(SignError::WrongPin)));
    assert_eq!(opened.sign_with_pin(data, DEFAULT_PIN).unwrap(), raw);

    // Another card's certificate does not verify this card's signature.
    let other = SoftCard::create(tmp.path().join("other"), "8930000012346").unwrap();
    assert_ne!(other.cert_no(), cert_no);
    assert!(matches!(verify(other.certificate(), data, &raw), Err(SignError::BadSignature)));
    assert!(verify_binding(other.certificate(), &cert_no).is_err());
}

#[test]
fn files_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let card = SoftCard::create(tmp.path(), "dev-card_1.0").unwrap();
    let key = std::fs::read_to_string(tmp.path().join("key.pem")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");
    let cert = std::fs::read_to_string(tmp.path().join("cert.pem")).unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\n"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(tmp.path().join("key.pem")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("card.json")).unwrap()).unwrap();
    assert_eq!(json["format"], "certflow-soft-card/1");
    assert_eq!(json["card_id"], "dev-card_1.0");
    assert_eq!(json["cert_no"], card.cert_no());
    assert_eq!(json["pin"]["kdf"], "pbkdf2-hmac-sha256");
    assert_eq!(json["pin"]["salt"].as_str().unwrap().len(), 32);
    assert_eq!(json["pin"]["hash"].as_str().unwrap().len(), 64);
    let text = serde_json::to_string(&json).unwrap();
    assert!(!text.contains(DEFAULT_PIN), "the PIN is stored only hashed");

    // Creating again in the same place refuses to overwrite.
    assert!(matches!(SoftCard::create(tmp.path(), "again"), Err(SignError::SoftCard { .. })));
}

#[test]
fn the_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let before = SystemTime::now();
    let card = SoftCard::create(tmp.path(), "8930000099999").unwrap();
    let cert = card.certificate();
    assert_eq!(cert.subject_cn().as_deref(), Some("8930000099999"));
    assert!(cert.subject().contains(&format!("O={SOFT_CARD_ORGANIZATION}")), "{}", cert.subject());
    assert_eq!(cert.issuer(), cert.subject());
    assert_eq!(cert.key_algorithm(), KeyAlgorithm::Sm2);
    assert_eq!(cert.signature_algorithm(), OID_SM2_WITH_SM3);
    assert_eq!(cert.sm2_public_key(), Some(&card.public_key()));
    cert.verify_self_signed().unwrap();
    cert.check_valid_now().unwrap();
    let years = (cert.not_after() - cert.not_before()).whole_days();
    assert_eq!(years, 5 * 365 + 1);
    let now = time::OffsetDateTime::from(before);
    assert!(cert.not_before() <= now && now - cert.not_before() <= time::Duration::hours(2));
}

#[test]
fn custom_pin_and_expired_card() {
    let tmp = tempfile::tempdir().unwrap();
    let start = SystemTime::now() - Duration::from_secs(10 * 86_400);
    let options =
        SoftCardOptions::new("expired-card").pin("135790").validity(start, start + Duration::from_secs(86_400));
    let card = SoftCard::create_with(tmp.path(), &options).unwrap();
    let card = SoftCard::open(card.dir()).unwrap();
    card.verify_pin("135790").unwrap();
    assert!(matches!(card.verify_pin(DEFAULT_PIN), Err(SignError::WrongPin)));

    let data = b"signed after expiry";
    let signature = card.sign(data).unwrap();
    let cert = card.certificate();
    verify(cert, data, &signature).unwrap();
    assert!(matches!(cert.check_valid_now(), Err(SignError::Expired { .. })));
    assert!(matches!(
        verify_registered(cert, &card.cert_no(), time::OffsetDateTime::now_utc(), data, &signature),
        Err(SignError::Expired { .. })
    ));
}

#[test]
fn bad_inputs_and_inconsistent_cards_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for bad_id in ["", "has space", "CN=x,O=y", "卡", &"9".repeat(65)] {
        assert!(SoftCard::create(tmp.path().join("x"), bad_id).is_err(), "{bad_id:?}");
    }
    assert!(SoftCard::create_with(tmp.path().join("y"), &SoftCardOptions::new("ok").pin("")).is_err());
    assert!(SoftCard::open(tmp.path().join("missing")).is_err());

    // A card whose card.json names another certificate.
    let a = SoftCard::create(tmp.path().join("a"), "card-a").unwrap();
    let b = SoftCard::create(tmp.path().join("b"), "card-b").unwrap();
    std::fs::copy(b.dir().join("cert.pem"), a.dir().join("cert.pem")).unwrap();
    assert!(matches!(SoftCard::open(a.dir()), Err(SignError::SoftCard { .. })));
    // A card whose key is another card's.
    std::fs::copy(b.dir().join("card.json"), a.dir().join("card.json")).unwrap();
    assert!(matches!(SoftCard::open(a.dir()), Err(SignError::SoftCard { .. })));
}

#[test]
fn new_card_ids_look_like_card_numbers() {
    let id = new_card_id().unwrap();
    assert_eq!(id.len(), 13);
    assert!(id.starts_with("99") && id.chars().all(|c| c.is_ascii_digit()), "{id}");
}

/// OpenSSL, when present, reads the soft card's files and verifies its
/// certificate and a signature (SM2 with SM3, user id 1234567812345678).
#[test]
#[allow(clippy::print_stderr)] // a skipped check says why
fn openssl_accepts_the_soft_card() {
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("openssl not found: skipping");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let card = SoftCard::create(tmp.path().join("card"), "8930000012345").unwrap();
    let dir = card.dir();
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = run(&["x509", "-in", "cert.pem", "-noout", "-serial", "-subject"]);
    assert!(text.contains(&format!("serial={}", card.cert_no().to_uppercase())), "{text}");
    run(&["pkey", "-in", "key.pem", "-pubout", "-out", "pub.pem"]);
    let data = b"certflow-document-v1\ndoctype:t\nbundle:h\nnumber:\n{}";
    std::fs::write(dir.join("data.bin"), data).unwrap();
    let raw = card.sign(data).unwrap();
    std::fs::write(dir.join("sig.der"), certflow_sign::sm2::signature_to_der(&raw)).unwrap();
    let out = run(&[
        "dgst",
        "-sm3",
        "-verify",
        "pub.pem",
        "-sigopt",
        "distid:1234567812345678",
        "-signature",
        "sig.der",
        "data.bin",
    ]);
    assert!(out.contains("Verified OK"), "{out}");
    let out = run(&["verify", "-CAfile", "cert.pem", "cert.pem"]);
    assert!(out.contains("OK"), "{out}");
}
