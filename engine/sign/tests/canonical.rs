//! The signed bytes of a document: shared with certflow-core, guarded
//! against ambiguous headers, and covered end to end by a signature.

use certflow_sign::SignError;
use certflow_sign::SoftCard;
use certflow_sign::canonical::{canonical_bytes, signed_bytes};
use serde_json::json;

#[test]
fn signed_bytes_are_the_core_canonical_form() {
    let data = json!({"b": 1, "a": [true, null, "乙"]});
    let bytes = signed_bytes("cert-c5", "hash1", Some("A1"), &data).unwrap();
    assert_eq!(bytes, canonical_bytes("cert-c5", "hash1", Some("A1"), &data));
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "certflow-document-v1\ndoctype:cert-c5\nbundle:hash1\nnumber:A1\n{\"a\":[true,null,\"乙\"],\"b\":1}"
    );
    assert_eq!(
        signed_bytes("t", "h", None, &json!({})).unwrap(),
        b"certflow-document-v1\ndoctype:t\nbundle:h\nnumber:\n{}"
    );
}

#[test]
fn ambiguous_headers_are_refused() {
    let data = json!({});
    for (doctype, bundle, number) in
        [("t\nbundle:x", "h", None), ("t", "h\n", None), ("t", "h", Some("1\n{}")), ("", "h", None), ("t", "", None)]
    {
        assert!(
            matches!(signed_bytes(doctype, bundle, number, &data), Err(SignError::InvalidCanonicalField { .. })),
            "{doctype:?} {bundle:?} {number:?}"
        );
    }
}

#[test]
fn a_signature_covers_data_type_definition_and_number() {
    let tmp = tempfile::tempdir().unwrap();
    let card = SoftCard::create(tmp.path(), "8930000012345").unwrap();
    let data = json!({"goods": [{"qty": 12}], "consignee": "X"});
    let signed = signed_bytes("cert-c5", "hash1", Some("A1"), &data).unwrap();
    let signature = card.sign_base64(&signed).unwrap();
    let cert = card.certificate();
    cert.verify(&signed, signature.as_bytes()).unwrap();
    // Key order and white space of the data do not matter.
    let reordered: serde_json::Value = serde_json::from_str(r#"{ "consignee":"X", "goods":[ {"qty":12} ] }"#).unwrap();
    cert.verify(&signed_bytes("cert-c5", "hash1", Some("A1"), &reordered).unwrap(), signature.as_bytes()).unwrap();
    // Everything else does.
    for other in [
        signed_bytes("cert-c6", "hash1", Some("A1"), &data),
        signed_bytes("cert-c5", "hash2", Some("A1"), &data),
        signed_bytes("cert-c5", "hash1", Some("A2"), &data),
        signed_bytes("cert-c5", "hash1", None, &data),
        signed_bytes("cert-c5", "hash1", Some("A1"), &json!({"goods": [{"qty": 13}], "consignee": "X"})),
    ] {
        assert!(matches!(cert.verify(&other.unwrap(), signature.as_bytes()), Err(SignError::BadSignature)));
    }
}
