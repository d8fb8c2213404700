//! The canonical form of a document: the exact bytes a card signature
//! covers, so that any change to the data, its type, the definition version
//! or its number makes the signature fail.
//!
//! Format (UTF-8, lines separated by `\n`):
//!
//! ```text
//! certflow-document-v1
//! doctype:<id>
//! bundle:<definition hash>
//! number:<unified number, or empty>
//! <the data as canonical JSON>
//! ```
//!
//! Canonical JSON: objects with keys sorted by their UTF-8 bytes, no
//! insignificant white space, strings escaped as serde_json escapes them,
//! numbers as serde_json prints them (integers without a fraction).

use serde_json::Value;
use sha2::{Digest, Sha256};

pub const HEADER: &str = "certflow-document-v1";

pub fn canonical_bytes(doctype: &str, bundle_hash: &str, number: Option<&str>, data: &Value) -> Vec<u8> {
    let mut out = format!("{HEADER}\ndoctype:{doctype}\nbundle:{bundle_hash}\nnumber:{}\n", number.unwrap_or(""));
    write_json(data, &mut out);
    out.into_bytes()
}

/// SHA-256 of the canonical bytes, hex.
pub fn digest(doctype: &str, bundle_hash: &str, number: Option<&str>, data: &Value) -> String {
    hex::encode(Sha256::digest(canonical_bytes(doctype, bundle_hash, number, data)))
}

pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_json(value, &mut out);
    out
}

fn write_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_json(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_and_spacing_do_not_matter() {
        let a = json!({"b": 1, "a": [1, {"y": "乙", "x": null}]});
        let b: Value = serde_json::from_str(r#"{ "a" : [1, {"x": null, "y": "乙"}], "b": 1 }"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":[1,{"x":null,"y":"乙"}],"b":1}"#);
        assert_eq!(digest("t", "h", None, &a), digest("t", "h", None, &b));
    }

    #[test]
    fn type_version_and_number_are_covered() {
        let d = json!({"a": 1});
        let base = digest("t", "h", Some("A1"), &d);
        assert_ne!(base, digest("u", "h", Some("A1"), &d));
        assert_ne!(base, digest("t", "g", Some("A1"), &d));
        assert_ne!(base, digest("t", "h", Some("A2"), &d));
        assert_ne!(base, digest("t", "h", Some("A1"), &json!({"a": 2})));
    }
}
