//! Independent verification: SM2/SM3 signatures made by this crate are
//! checked by PyPI's `gmssl` (pure Python, its own SM2 and SM3), and a
//! signature gmssl makes is checked by this crate. Both sides use the
//! GB/T 35276 default user id 1234567812345678.
//!
//! Needs `python3` with `pip install gmssl`. Without it the test fails when
//! the environment variable `CI` is set, and otherwise is skipped with a note.

use std::path::{Path, PathBuf};
use std::process::Command;

use certflow_sign::sm2::{Sm2PublicKey, signature_to_der};
use certflow_sign::{SoftCard, verify};

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/gmssl_verify.py")
}

/// Whether gmssl can be used; `false` means skip (outside CI).
#[allow(clippy::print_stderr)] // a skipped check says why
fn gmssl_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import gmssl.sm2"])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with gmssl is required in CI for the independent SM2 check (pip install gmssl)"
        );
        eprintln!("python3 with gmssl not found (pip install gmssl): skipping the independent SM2 check");
    }
    ok
}

fn run(mode: &str, dir: &Path) -> serde_json::Value {
    let out = Command::new("python3").arg(script()).arg(mode).arg(dir).output().expect("python3 runs");
    assert!(
        out.status.success(),
        "gmssl_verify.py {mode} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("gmssl_verify.py prints JSON")
}

#[test]
fn gmssl_verifies_our_signatures() {
    if !gmssl_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let card = SoftCard::create(tmp.path().join("card"), "8930000012345").unwrap();
    let dir = tmp.path();

    // A document's canonical bytes, as the signer is asked to sign them.
    let data = serde_json::json!({"consignee": "收货人 Ltd.", "goods": [{"hs": "0303.89", "qty": 12.5}]});
    let message =
        certflow_sign::canonical::signed_bytes("health-certificate", "0123abcd", Some("470020250000001"), &data)
            .unwrap();
    let raw = card.sign(&message).unwrap();
    let mut tampered = message.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x01;
    let mut bad = raw;
    bad[40] ^= 0x01;

    std::fs::write(dir.join("public_key.hex"), hex::encode(card.public_key().to_sec1_uncompressed())).unwrap();
    std::fs::write(dir.join("message.bin"), &message).unwrap();
    std::fs::write(dir.join("tampered.bin"), &tampered).unwrap();
    std::fs::write(dir.join("signature_raw.hex"), hex::encode(raw)).unwrap();
    std::fs::write(dir.join("signature_der.hex"), hex::encode(signature_to_der(&raw))).unwrap();
    std::fs::write(dir.join("bad_signature_raw.hex"), hex::encode(bad)).unwrap();

    let result = run("verify", dir);
    assert_eq!(
        result,
        serde_json::json!({"raw": true, "der": true, "tampered_message": false, "bad_signature": false}),
        "gmssl's verdicts"
    );
}

#[test]
fn we_verify_gmssl_signatures() {
    if !gmssl_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let message = "certflow-document-v1\ndoctype:t\nbundle:h\nnumber:\n{\"品名\":\"冻鱼\"}".as_bytes();
    std::fs::write(tmp.path().join("message.bin"), message).unwrap();
    for _ in 0..3 {
        let result = run("sign", tmp.path());
        let public = Sm2PublicKey::from_sec1(&hex::decode(result["public_key"].as_str().unwrap()).unwrap()).unwrap();
        let signature = hex::decode(result["signature"].as_str().unwrap()).unwrap();
        public.verify(message, &signature).unwrap();
        assert!(public.verify(b"another message", &signature).is_err());
    }
    // The crate's certificate-level entry point verifies a soft card's
    // signature over the same bytes (sanity check of the wiring).
    let card = SoftCard::create(tmp.path().join("card"), "8930000012345").unwrap();
    verify(card.certificate(), message, &card.sign(message).unwrap()).unwrap();
}
