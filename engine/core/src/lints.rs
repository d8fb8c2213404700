//! Checks for analysts that do not stop a bundle from serving: run by
//! `certflow lint` beside [`compile`](crate::compile()), not on every
//! reload.
//!
//! - `i18n.missing-en`: a text written `{zh: …}` without its English. Every
//!   text of every definition is found by its shape in the YAML (a mapping
//!   of `zh` and `en` only), so a new kind of message is covered the day it
//!   is added. Parameter table rows (`{code, zh, en}`) are not texts: their
//!   names come from the reference tables, which often have no English.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::compile::FORMS_DIR;
use crate::{BundleSource, Diagnostic, Diagnostics, SourceSpan};

/// Every analyst check over the bundle's sources.
pub fn lints(source: &BundleSource) -> Diagnostics {
    let mut out = Vec::new();
    for (path, _) in source.files.iter().filter(|(p, _)| is_definition(p)) {
        // A file that does not parse is reported by the compiler.
        let Some(Ok(root)) = source.text(path).map(serde_saphyr::from_str::<Spanned<Node>>) else { continue };
        missing_english(path, &root, &mut Vec::new(), &mut out);
    }
    out.into_iter().collect()
}

fn is_definition(path: &str) -> bool {
    path.starts_with(&format!("{FORMS_DIR}/")) && (path.ends_with(".yaml") || path.ends_with(".yml"))
}

/// A YAML value with the place of everything in it.
#[derive(Debug)]
enum Node {
    Map(Vec<(String, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar(String),
    Null,
}

impl Node {
    fn blank(&self) -> bool {
        match self {
            Node::Scalar(s) => s.trim().is_empty(),
            Node::Null => true,
            _ => false,
        }
    }
}

fn missing_english(file: &str, node: &Spanned<Node>, path: &mut Vec<String>, out: &mut Vec<Diagnostic>) {
    match &node.value {
        Node::Map(entries) => {
            let is_text = !entries.is_empty() && entries.iter().all(|(k, _)| k == "zh" || k == "en");
            let zh = entries.iter().find(|(k, _)| k == "zh").map(|(_, v)| v);
            let en = entries.iter().find(|(k, _)| k == "en").map(|(_, v)| v);
            if let (true, Some(zh)) = (is_text, zh)
                && let Node::Scalar(chinese) = &zh.value
                && !zh.value.blank()
                && en.is_none_or(|en| en.value.blank())
            {
                let at =
                    SourceSpan::new(file, node.referenced.line().max(1) as u32, node.referenced.column().max(1) as u32);
                let mut d = Diagnostic::warning(
                    "i18n.missing-en",
                    at,
                    format!("`{}` ({chinese}) has no English text", path.join(".")),
                );
                d.hints.push("add `en:` beside `zh:` so the page and the messages read in English too".into());
                out.push(d);
            }
            for (key, value) in entries {
                path.push(key.clone());
                missing_english(file, value, path, out);
                path.pop();
            }
        }
        Node::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                missing_english(file, item, path, out);
                path.pop();
            }
        }
        Node::Scalar(_) | Node::Null => {}
    }
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_owned()))
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        de::Deserialize::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Node>()? {
            let key = match key {
                Node::Scalar(k) => k,
                _ => String::new(),
            };
            entries.push((key, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(yaml: &str) -> Vec<String> {
        let mut source = BundleSource::default();
        source.insert("forms/doctypes/x.yaml", yaml);
        lints(&source).into_vec().iter().map(|d| format!("{}:{} {}", d.span.line, d.span.column, d.message)).collect()
    }

    #[test]
    fn a_text_without_english_is_named_by_its_path_and_place() {
        let yaml = "doctype:\n  id: x\n  name: {zh: 订单, en: Order}\n  actions:\n    - id: submit\n      confirm: {zh: 是否确认提交}\n      done:\n        zh: 已提交\n        en: ''\n";
        assert_eq!(
            lint(yaml),
            [
                "6:16 `doctype.actions.0.confirm` (是否确认提交) has no English text",
                "8:9 `doctype.actions.0.done` (已提交) has no English text"
            ]
        );
    }

    #[test]
    fn parameter_rows_and_complete_texts_pass() {
        let yaml =
            "param_table:\n  id: unit\n  name: {zh: 计量单位, en: Units}\n  rows:\n    - {code: \"001\", zh: 台}\n";
        assert!(lint(yaml).is_empty());
    }
}
