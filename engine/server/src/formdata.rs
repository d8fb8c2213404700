//! Between documents and HTML forms: the form a type generates (with
//! values and errors in place) and the document a posted form makes.

use std::collections::BTreeMap;

use certflow_core::raw::FieldType;
use certflow_core::{CompiledBundle, DocType, Field, FieldError, Text};
use serde_json::{Map, Value, json};

/// The document a posted form describes: `f.<field>` for fields,
/// `t.<table>.<line>.<field>` for table cells. Lines are renumbered in
/// order; values are typed by their fields (a value that does not parse is
/// kept as text, so that validation reports it on its field).
pub fn document_from_form(ty: &DocType, form: &[(String, String)]) -> Value {
    let mut doc = Map::new();
    let mut tables: BTreeMap<&str, BTreeMap<u32, Map<String, Value>>> = BTreeMap::new();
    for (name, value) in form {
        if let Some(field) = name.strip_prefix("f.") {
            if let Some(f) = ty.fields.get(field)
                && let Some(v) = typed(f, value)
            {
                doc.insert(field.to_owned(), v);
            }
        } else if let Some(rest) = name.strip_prefix("t.") {
            let mut parts = rest.splitn(3, '.');
            let (Some(table), Some(line), Some(field)) = (parts.next(), parts.next(), parts.next()) else { continue };
            let (Some(t), Ok(line)) = (ty.tables.get(table), line.parse::<u32>()) else { continue };
            let Some(f) = t.fields.get(field) else { continue };
            let row = tables.entry(t.id.as_str()).or_default().entry(line).or_default();
            if let Some(v) = typed(f, value) {
                row.insert(field.to_owned(), v);
            }
        }
    }
    for (table, lines) in tables {
        let rows: Vec<Value> = lines.into_values().filter(|r| !r.is_empty()).map(Value::Object).collect();
        doc.insert(table.to_owned(), Value::Array(rows));
    }
    Value::Object(doc)
}

fn typed(field: &Field, raw: &str) -> Option<Value> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    let parsed = match field.field_type {
        FieldType::Integer => s.parse::<i64>().ok().map(Value::from),
        FieldType::Number => s
            .parse::<i64>()
            .ok()
            .map(Value::from)
            .or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from)),
        FieldType::Boolean => match s {
            "true" | "on" | "1" | "是" => Some(Value::Bool(true)),
            "false" | "0" | "否" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldType::String | FieldType::Date => Some(Value::String(s.to_owned())),
    };
    Some(parsed.unwrap_or_else(|| Value::String(s.to_owned())))
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Errors by path, as bilingual texts.
fn errors_by_path(errors: &[FieldError]) -> BTreeMap<&str, Vec<Text>> {
    let mut map: BTreeMap<&str, Vec<Text>> = BTreeMap::new();
    for e in errors {
        map.entry(e.path.as_str()).or_default().push(Text::new(&e.message_zh, &e.message_en));
    }
    map
}

/// The Chinese name of a parameter field's code (国别 AUS → 澳大利亚), or "".
fn param_label(bundle: &CompiledBundle, f: &Field, code: &str) -> String {
    f.param.as_deref().and_then(|p| bundle.param(p)).and_then(|t| t.get(code)).map(|r| r.zh.clone()).unwrap_or_default()
}

fn field_context(bundle: &CompiledBundle, f: &Field, value: Option<&Value>, errors: Option<&Vec<Text>>) -> Value {
    let value = shown(value);
    let param_label = param_label(bundle, f, &value);
    json!({
        "id": f.id,
        "label": f.label,
        "class": f.class,
        "editable": f.editable,
        "required": f.required,
        "widget": f.widget,
        "param": f.param,
        "param_label": param_label,
        "hint": f.hint,
        "max_length": f.max_length,
        "latin": f.latin,
        "value": value,
        "errors": errors.cloned().unwrap_or_default(),
    })
}

/// The sections of a type's form with the document's values and errors.
pub fn sections_context(bundle: &CompiledBundle, ty: &DocType, data: &Value, errors: &[FieldError]) -> Value {
    let by_path = errors_by_path(errors);
    let sections: Vec<Value> = ty
        .sections
        .iter()
        .map(|s| {
            let fields: Vec<Value> = s
                .fields
                .iter()
                .filter_map(|id| ty.fields.get(id))
                .map(|f| field_context(bundle, f, data.get(&f.id), by_path.get(f.id.as_str())))
                .collect();
            let table = s.table.as_deref().and_then(|id| ty.tables.get(id)).map(|t| {
                let rows: Vec<Value> = data
                    .get(&t.id)
                    .and_then(Value::as_array)
                    .map(|rows| {
                        rows.iter()
                            .enumerate()
                            .map(|(i, row)| {
                                let n = i + 1;
                                let cells: Vec<Value> = t
                                    .fields
                                    .values()
                                    .map(|f| {
                                        let path = format!("{}/{n}/{}", t.id, f.id);
                                        let value = shown(row.get(&f.id));
                                        json!({"id": f.id, "label": param_label(bundle, f, &value), "value": value, "errors": by_path.get(path.as_str()).cloned().unwrap_or_default()})
                                    })
                                    .collect();
                                let has_errors = by_path.keys().any(|p| p.starts_with(&format!("{}/{n}/", t.id)));
                                json!({"n": n, "cells": cells, "has_errors": has_errors})
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let editor_fields: Vec<Value> = t.fields.values().map(|f| field_context(bundle, f, None, None)).collect();
                json!({
                    "id": t.id,
                    "label": t.label,
                    "hint": t.hint,
                    "excel_import": t.excel_import,
                    "only_listed": t.pick.as_ref().is_some_and(|p| p.only_listed),
                    // Lines the system fills and nobody edits (申请证书).
                    "fixed": t.fields.values().all(|f| !f.editable),
                    "fields": editor_fields,
                    "rows": rows,
                    "errors": by_path.get(t.id.as_str()).cloned().unwrap_or_default(),
                })
            });
            json!({"id": s.id, "label": s.label, "fields": fields, "table": table})
        })
        .collect();
    Value::Array(sections)
}

/// Errors that belong to no field shown on the form.
pub fn document_errors(ty: &DocType, errors: &[FieldError]) -> Vec<Text> {
    errors
        .iter()
        .filter(|e| e.path.is_empty() || (ty.field_at(&e.path).is_none() && !ty.tables.contains_key(e.path.as_str())))
        .map(|e| {
            let at = if e.path.is_empty() { String::new() } else { format!("{}: ", e.path) };
            Text::new(format!("{at}{}", e.message_zh), format!("{at}{}", e.message_en))
        })
        .collect()
}

/// The parameter tables a type's pickers need: `{id: [[code, zh, en]]}`.
pub fn params_context(bundle: &CompiledBundle, ty: &DocType) -> Value {
    let mut out = Map::new();
    let fields = ty.fields.values().chain(ty.tables.values().flat_map(|t| t.fields.values()));
    for f in fields {
        if let Some(p) = f.param.as_deref()
            && !out.contains_key(p)
            && let Some(table) = bundle.param(p)
        {
            let rows: Vec<Value> =
                table.rows.iter().map(|r| json!([r.code, r.zh, r.en.clone().unwrap_or_default()])).collect();
            out.insert(p.to_owned(), Value::Array(rows));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> CompiledBundle {
        certflow_core::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).expect("bundle")
    }

    #[test]
    fn a_posted_form_becomes_a_typed_document() {
        let bundle = bundle();
        let ty = bundle.doctype("import-food").expect("type");
        let form: Vec<(String, String)> = [
            ("f.decl_no", "010120241000003476"),
            ("f.marks", " N/M "),
            ("t.goods.2.goods_name", "苹果"),
            ("t.goods.2.qty1", "12.5"),
            ("t.goods.1.goods_name", "梨"),
            ("t.goods.1.qty1", "abc"),
            ("t.goods.1.unknown", "x"),
            ("f.unknown", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let doc = document_from_form(ty, &form);
        assert_eq!(doc["marks"], "N/M");
        assert_eq!(doc["goods"][0]["goods_name"], "梨", "lines in their numbered order");
        assert_eq!(doc["goods"][0]["qty1"], "abc", "kept as text for validation to report");
        assert_eq!(doc["goods"][1]["qty1"], 12.5);
        assert!(doc.get("unknown").is_none());
    }
}
