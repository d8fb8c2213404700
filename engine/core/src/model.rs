//! The compiled bundle: immutable, checked definitions the engine runs on.

use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use serde::Serialize;

use crate::diag::SourceSpan;
use crate::raw::{FieldClass, FieldType, RawAttachment, RawCategory, Text, Variant, Widget};
use crate::rules::RuleHost;
use crate::schema::DocSchemas;
use crate::workflow::Workflow;

/// Built-in checks a field can name with `format:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Date,
    DeclarationNo,
    Iso6346,
    Uscc,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Date, Format::DeclarationNo, Format::Iso6346, Format::Uscc];

    pub fn name(self) -> &'static str {
        match self {
            Format::Date => "date",
            Format::DeclarationNo => "declaration-no",
            Format::Iso6346 => "iso6346",
            Format::Uscc => "uscc",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether `text` is written in this format.
    pub fn accepts(self, text: &str) -> bool {
        match self {
            Format::Date => crate::checks::date_valid(text),
            Format::DeclarationNo => crate::checks::declaration_no_valid(text),
            Format::Iso6346 => crate::checks::iso6346_valid(text),
            Format::Uscc => crate::checks::uscc_valid(text),
        }
    }

    /// What a value in the wrong format is told, after the value: (zh, en).
    pub fn problem(self) -> (&'static str, &'static str) {
        match self {
            Format::Date => (
                "日期格式不正确，请按 YYYY-MM-DD 录入或从日历中选择",
                "must be a date written YYYY-MM-DD: type it so or pick it from the calendar",
            ),
            Format::DeclarationNo => {
                ("应为 18 位数字的报关单号，请核对", "must be an 18-digit customs declaration number: check it")
            }
            Format::Iso6346 => (
                "不符合集装箱号规则（4 位字母加 7 位数字，末位为校验位），请核对",
                "is not a valid container number (4 letters and 7 digits, the last one a check digit, per ISO 6346): check it",
            ),
            Format::Uscc => (
                "不是有效的 18 位统一社会信用代码（末位校验码不符），请核对",
                "is not a valid 18-character unified social credit code (the check character does not match): check it",
            ),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub id: String,
    pub label: Text,
    pub class: FieldClass,
    /// Back-filled fields the user may still change (标记唛码).
    pub editable: bool,
    /// Must be present when the document is declared.
    pub required: bool,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    pub format: Option<Format>,
    pub param: Option<String>,
    pub max_length: Option<u32>,
    pub max_bytes: Option<u32>,
    /// Further JSON Schema keywords the definition adds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    pub hint: Option<Text>,
    pub widget: Widget,
    /// Typed in Latin letters: upper-cased by the form's 英文转大写 switch.
    pub latin: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub id: String,
    pub label: Text,
    pub min_rows: u32,
    pub max_rows: Option<u32>,
    pub excel_import: bool,
    pub hint: Option<Text>,
    pub fields: IndexMap<String, Field>,
    /// Lines picked from a looked-up record, when they are.
    pub pick: Option<Pick>,
}

/// Lines picked from a list of a looked-up record (see [`crate::raw::RawPick`]).
#[derive(Debug, Clone, Serialize)]
pub struct Pick {
    pub lookup: String,
    pub rows: String,
    pub key: String,
    pub into: String,
    pub fill: IndexMap<String, String>,
    pub not_exceeding: IndexMap<String, String>,
    pub only_listed: bool,
}

/// Documents made inside a document (see [`crate::raw::RawChildren`]).
#[derive(Debug, Clone, Serialize)]
pub struct Children {
    pub id: String,
    pub label: Text,
    pub workflow: String,
    pub allowed_by: Option<AllowedBy>,
    pub fill: IndexMap<String, String>,
    pub max: Option<u32>,
    pub similar: Vec<String>,
    pub messages: ChildMessages,
}

/// The texts of a child slot (see [`crate::raw::RawChildMessages`]).
#[derive(Debug, Clone, Serialize)]
pub struct ChildMessages {
    pub item: Text,
    pub not_offered: Text,
    pub similar_mismatch: Text,
    pub similar_number: Text,
}

impl ChildMessages {
    /// The name of child `n` of format `name` in messages.
    pub fn item(&self, n: usize, name: &str) -> Text {
        let fill = |t: &str| t.replace("{n}", &n.to_string()).replace("{name}", name);
        Text::new(fill(&self.item.zh), fill(self.item.en_or_zh()))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AllowedBy {
    pub lookup: String,
    pub rows: String,
    pub field: String,
    pub fill: IndexMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub id: String,
    pub label: Text,
    pub fields: Vec<String>,
    pub table: Option<String>,
}

impl Pick {
    /// The line a picked record row becomes: the key and the filled fields.
    pub fn line_from(&self, row: &serde_json::Value) -> serde_json::Value {
        let mut line = serde_json::Map::new();
        if let Some(key) = row.get(&self.key) {
            line.insert(self.into.clone(), key.clone());
        }
        for (target, from) in &self.fill {
            if let Some(v) = row.get(from).filter(|v| !v.is_null()) {
                line.insert(target.clone(), v.clone());
            }
        }
        serde_json::Value::Object(line)
    }
}

impl Lookup {
    /// The fields and tables a record fills, by the declared mapping
    /// (`a.b` reads a nested value).
    pub fn filled_from(&self, record: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for (target, from) in &self.fill {
            let value = from.split('.').try_fold(record, |v, k| v.get(k));
            if let Some(v) = value.filter(|v| !v.is_null()) {
                out.insert(target.clone(), v.clone());
            }
        }
        out
    }
}

pub type AttachmentSlot = RawAttachment;
pub type Category = RawCategory;

#[derive(Debug, Clone, Serialize)]
pub struct Lookup {
    pub id: String,
    pub source: String,
    pub key: String,
    /// Target field or table → the lookup record's key.
    pub fill: IndexMap<String, String>,
    /// `(rule file, function)` deciding who may use a record.
    pub guard: Option<(String, String)>,
}

/// How a type is laid out (see [`crate::raw::Variant`]).
#[derive(Debug, Clone, Serialize)]
pub struct Layout {
    /// Path of the Typst entry file inside certificate-templates/.
    pub template: String,
    pub variants: Vec<Variant>,
    /// Status → the variant a preview shows in it.
    pub by_status: IndexMap<String, Variant>,
    pub stationery: Option<String>,
}

impl Layout {
    /// The variant a preview shows for a document in `status`: the declared
    /// one, else the first variant offered.
    pub fn variant_for(&self, status: &str) -> Variant {
        self.by_status.get(status).copied().unwrap_or(self.variants[0])
    }
}

/// A document type ready to validate documents.
#[derive(Debug, Serialize)]
pub struct DocType {
    pub id: String,
    pub name: Text,
    pub format_code: Option<String>,
    pub category: Option<Category>,
    pub workflow: Option<String>,
    pub numbering: Option<String>,
    /// Chain of types this one was built from, nearest first.
    pub extends: Vec<String>,
    pub sections: Vec<Section>,
    pub fields: IndexMap<String, Field>,
    pub tables: IndexMap<String, Table>,
    pub attachments: IndexMap<String, AttachmentSlot>,
    pub lookups: IndexMap<String, Lookup>,
    /// Rule files (under rules/) run after the schema.
    pub rules: Vec<String>,
    /// How it is laid out on paper, when it is.
    pub layout: Option<Layout>,
    /// For a type describing records of an outside system: the key field.
    pub record_key: Option<String>,
    /// Documents made inside documents of this type.
    pub children: IndexMap<String, Children>,
    /// Field → what of the signed-in enterprise fills it on creation.
    pub from_party: IndexMap<String, String>,
    /// A stored document keeps the definitions it was made with (else it
    /// follows the active bundle).
    pub pinned: bool,
    /// Fields an initial-value template keeps (empty: the type has none).
    pub value_templates: Vec<String>,
    #[serde(skip)]
    pub sample: Option<serde_json::Value>,
    #[serde(skip)]
    pub origin: SourceSpan,
    #[serde(skip)]
    pub(crate) schemas: DocSchemas,
}

impl DocType {
    /// The JSON Schema (2020-12) a declared document must satisfy.
    pub fn json_schema(&self) -> &serde_json::Value {
        &self.schemas.submit_json
    }

    /// The field a validation path points at: `decl_no` or `goods/3/qty2`.
    pub fn field_at(&self, path: &str) -> Option<&Field> {
        let mut parts = path.split('/');
        let first = parts.next()?;
        match (parts.next(), parts.next()) {
            (None, _) => self.fields.get(first),
            (Some(_row), Some(name)) => self.tables.get(first)?.fields.get(name),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ParamRow {
    pub code: String,
    pub zh: String,
    pub en: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub extra: IndexMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParamTable {
    pub id: String,
    pub name: Text,
    pub source: Option<String>,
    pub rows: Vec<ParamRow>,
    #[serde(skip)]
    pub(crate) index: BTreeMap<String, usize>,
}

impl ParamTable {
    pub fn get(&self, code: &str) -> Option<&ParamRow> {
        self.index.get(code).map(|&i| &self.rows[i])
    }

    pub fn contains(&self, code: &str) -> bool {
        self.index.contains_key(code)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NumberingScheme {
    pub id: String,
    pub name: Text,
    pub prefix: String,
    pub year: bool,
    pub serial_width: u8,
}

impl NumberingScheme {
    /// The number for a serial in a year: `A` + `2026` + `000000001`.
    pub fn format(&self, year: i32, serial: u64) -> String {
        let width = usize::from(self.serial_width);
        if self.year {
            format!("{}{year:04}{serial:0width$}", self.prefix)
        } else {
            format!("{}{serial:0width$}", self.prefix)
        }
    }
}

/// One line of the document type list (the interface contract's shape).
#[derive(Debug, Clone, Serialize)]
pub struct DocTypeSummary<'a> {
    pub id: &'a str,
    pub name_zh: &'a str,
    pub name_en: &'a str,
    pub workflow: Option<&'a str>,
    pub format_code: Option<&'a str>,
}

/// A source file of the bundle, kept so a version can be stored and rebuilt.
#[derive(Debug, Clone, Serialize)]
pub struct SourceFile {
    /// Path relative to the bundle root, `/`-separated.
    pub path: String,
    #[serde(skip)]
    pub bytes: Arc<[u8]>,
}

/// The whole bundle, compiled and checked. Immutable: a change to the
/// definitions makes a new one.
#[derive(Debug)]
pub struct CompiledBundle {
    /// SHA-256 over every source file's path and content.
    pub hash: String,
    pub doctypes: IndexMap<String, Arc<DocType>>,
    /// Abstract bases, kept for lint and documentation; not instantiable.
    pub bases: IndexMap<String, Arc<DocType>>,
    pub workflows: IndexMap<String, Workflow>,
    pub params: Arc<IndexMap<String, ParamTable>>,
    pub numbering: IndexMap<String, NumberingScheme>,
    pub list_views: IndexMap<String, crate::listview::ListView>,
    /// Analyst scenarios (`certflow test`).
    pub scenarios: Vec<crate::scenario::Scenario>,
    pub templates: Vec<String>,
    pub sources: Vec<SourceFile>,
    pub(crate) rules: RuleHost,
}

impl CompiledBundle {
    pub fn doctype(&self, id: &str) -> Option<&Arc<DocType>> {
        self.doctypes.get(id)
    }

    pub fn workflow(&self, id: &str) -> Option<&Workflow> {
        self.workflows.get(id)
    }

    pub fn list_view(&self, id: &str) -> Option<&crate::listview::ListView> {
        self.list_views.get(id)
    }

    /// The workflow governing a document type.
    pub fn workflow_for(&self, doctype: &str) -> Option<&Workflow> {
        self.doctype(doctype)?.workflow.as_deref().and_then(|w| self.workflow(w))
    }

    pub fn param(&self, id: &str) -> Option<&ParamTable> {
        self.params.get(id)
    }

    /// Whether `party` (the signed-in enterprise: `{code, credit_code,
    /// name_zh}`) may use a looked-up record, by the lookup's guard.
    pub fn lookup_allows(
        &self,
        lookup: &Lookup,
        record: &serde_json::Value,
        party: &serde_json::Value,
    ) -> crate::rules::GuardDecision {
        match &lookup.guard {
            Some((file, function)) => self.rules.guard_with(file, function, &[record.clone(), party.clone()]),
            None => crate::rules::GuardDecision::Allow,
        }
    }

    /// The concrete types governed by `workflow` (the types a child slot
    /// offers).
    pub fn doctypes_of_workflow<'a>(&'a self, workflow: &'a str) -> impl Iterator<Item = &'a Arc<DocType>> + 'a {
        self.doctypes.values().filter(move |t| t.workflow.as_deref() == Some(workflow))
    }

    /// The document types as `certflow doctypes --json` and
    /// `GET /api/v1/doctypes` list them.
    pub fn doctype_summaries(&self) -> Vec<DocTypeSummary<'_>> {
        self.doctypes
            .values()
            .map(|t| DocTypeSummary {
                id: &t.id,
                name_zh: &t.name.zh,
                name_en: &t.name.en,
                workflow: t.workflow.as_deref(),
                format_code: t.format_code.as_deref(),
            })
            .collect()
    }

    /// The short form of the hash shown to people.
    pub fn short_hash(&self) -> &str {
        &self.hash[..12]
    }
}
