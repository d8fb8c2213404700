//! What a template is given in `/data.json` (the contract is written in
//! certificate-templates/README.md): the document, its type's labels and
//! structure, the parameter rows its fields use, and the variant.

use certflow_core::raw::Variant;
use certflow_core::{CompiledBundle, DocType, Text};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// Everything about one document that a layout may print.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DocumentFacts {
    pub status: Option<String>,
    pub business_no: Option<String>,
    pub customs_no: Option<String>,
    pub unified_no: Option<String>,
}

/// How to lay it out.
#[derive(Debug, Clone)]
pub struct LayoutOptions {
    pub variant: Variant,
    /// The issue date (`datetime.today()` in the template), `YYYY-MM-DD`.
    pub issue_date: time::Date,
    /// The URL that verifies the certificate (in its QR code).
    pub verification_url: String,
    /// The user's shift of the overlay, in millimetres.
    pub margin_left_mm: f64,
    pub margin_top_mm: f64,
}

impl LayoutOptions {
    pub fn new(variant: Variant, issue_date: time::Date, verification_url: impl Into<String>) -> Self {
        Self { variant, issue_date, verification_url: verification_url.into(), margin_left_mm: 0.0, margin_top_mm: 0.0 }
    }
}

/// The `/data.json` value for `data` of type `ty`.
pub fn template_input(
    bundle: &CompiledBundle,
    ty: &DocType,
    data: &Value,
    facts: &DocumentFacts,
    options: &LayoutOptions,
) -> Value {
    let status = facts.status.as_ref().map(|code| {
        let label = ty
            .workflow
            .as_deref()
            .and_then(|w| bundle.workflow(w))
            .and_then(|w| w.states.get(code))
            .map(|s| s.label.clone())
            .unwrap_or_else(|| Text::new(code.clone(), code.clone()));
        json!({"code": code, "label": text(&label)})
    });
    let layout = ty.layout.as_ref();
    json!({
        "variant": options.variant.as_str(),
        "doctype": {"id": ty.id, "name": text(&ty.name), "format_code": ty.format_code},
        "document": data,
        "status": status,
        "numbers": {"business_no": facts.business_no, "customs_no": facts.customs_no, "unified_no": facts.unified_no},
        "issue_date": format!("{:04}-{:02}-{:02}", options.issue_date.year(), u8::from(options.issue_date.month()), options.issue_date.day()),
        "params": params_of(bundle, ty),
        "form": form_of(ty),
        "verification": {"url": options.verification_url, "qr": crate::world::QR_PATH},
        "margins": {"left": options.margin_left_mm, "top": options.margin_top_mm},
        "stationery": layout.and_then(|l| l.stationery.clone()),
    })
}

fn text(t: &Text) -> Value {
    json!({"zh": t.zh, "en": t.en_or_zh()})
}

/// The rows of every parameter table the type's fields use.
fn params_of(bundle: &CompiledBundle, ty: &DocType) -> Value {
    let mut out = Map::new();
    let used =
        ty.fields.values().chain(ty.tables.values().flat_map(|t| t.fields.values())).filter_map(|f| f.param.as_deref());
    for id in used {
        if out.contains_key(id) {
            continue;
        }
        let Some(table) = bundle.params.get(id) else { continue };
        let rows: Map<String, Value> = table
            .rows
            .iter()
            .map(|r| (r.code.clone(), json!({"zh": r.zh, "en": r.en.clone().unwrap_or_else(|| r.zh.clone())})))
            .collect();
        out.insert(id.to_owned(), Value::Object(rows));
    }
    Value::Object(out)
}

/// The definition's sections, fields and tables, for generic layouts.
fn form_of(ty: &DocType) -> Value {
    let field = |f: &certflow_core::Field| json!({"id": f.id, "label": text(&f.label), "param": f.param});
    let sections: Vec<Value> = ty
        .sections
        .iter()
        .map(|s| {
            let table = s.table.as_ref().and_then(|t| ty.tables.get(t)).map(|t| {
                json!({"id": t.id, "label": text(&t.label), "fields": t.fields.values().map(field).collect::<Vec<_>>()})
            });
            json!({
                "id": s.id,
                "label": text(&s.label),
                "fields": s.fields.iter().filter_map(|f| ty.fields.get(f)).map(field).collect::<Vec<_>>(),
                "table": table,
            })
        })
        .collect();
    // Every field, in sections or not: a check render tells a misspelt id
    // from a blank field by these.
    let tables: Map<String, Value> =
        ty.tables.values().map(|t| (t.id.clone(), json!(t.fields.keys().collect::<Vec<_>>()))).collect();
    json!({"sections": sections, "fields": ty.fields.keys().collect::<Vec<_>>(), "tables": tables})
}
