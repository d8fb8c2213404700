//! The bundle as written: one serde structure per YAML definition, with the
//! source positions the compiler needs to point at problems. Nothing here is
//! checked beyond its shape; `compile` turns it into the `CompiledBundle`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// A value with the place it was written.
pub type S<T> = Spanned<T>;

/// A text shown to users, in Chinese and English.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Text {
    pub zh: String,
    #[serde(default)]
    pub en: String,
}

impl Text {
    pub fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self { zh: zh.into(), en: en.into() }
    }

    /// The English text, or the Chinese where no translation was written.
    pub fn en_or_zh(&self) -> &str {
        if self.en.is_empty() { &self.zh } else { &self.en }
    }
}

/// One YAML file under `forms/`: its single top-level key names the kind.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RawDefinition {
    ParamTable(RawParamTable),
    Workflow(RawWorkflow),
    Numbering(RawNumbering),
    Doctype(Box<RawDocType>),
    ListView(RawListView),
    Scenarios(RawScenarios),
}

/// Analyst scenarios for one document type (`certflow test`): documents and
/// what must come of them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenarios {
    pub doctype: S<String>,
    pub cases: Vec<S<RawScenario>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub name: String,
    /// The document; absent: the type's sample.
    #[serde(default)]
    pub document: Option<serde_json::Value>,
    /// Changes to it: `path → value` (`goods/1/weight`, rows from 1; null removes).
    #[serde(default)]
    pub set: IndexMap<String, serde_json::Value>,
    /// `draft` or `submit` (default).
    #[serde(default)]
    pub mode: Option<String>,
    /// The exact errors, as `path [code]`; absent: not checked.
    #[serde(default)]
    pub errors: Option<Vec<String>>,
    /// Values after validation (computed ones included): `path → value`.
    #[serde(default)]
    pub values: IndexMap<String, serde_json::Value>,
    /// The state the actions are tried from (default: the workflow's first).
    #[serde(default)]
    pub state: Option<String>,
    /// What guards see beside the document (attachments, children …).
    #[serde(default)]
    pub context: Option<serde_json::Value>,
    #[serde(default)]
    pub allowed: Vec<String>,
    #[serde(default)]
    pub refused: Vec<String>,
    /// The rendered layout: texts it must show, and its page count.
    #[serde(default)]
    pub layout: Option<RawScenarioLayout>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenarioLayout {
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub contains: Vec<String>,
    #[serde(default)]
    pub pages: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParamTable {
    pub id: S<String>,
    pub name: Text,
    #[serde(default)]
    pub source: Option<String>,
    pub rows: Vec<S<RawParamRow>>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RawParamRow {
    pub code: String,
    pub zh: String,
    #[serde(default)]
    pub en: Option<String>,
    /// Further columns a table may carry (default counts and the like).
    #[serde(flatten)]
    pub extra: IndexMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNumbering {
    pub id: S<String>,
    pub name: Text,
    pub prefix: S<String>,
    #[serde(default = "yes")]
    pub year: bool,
    pub serial_width: S<u8>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkflow {
    pub id: S<String>,
    pub name: Text,
    pub initial: S<String>,
    /// Who makes a document of this workflow: the enterprise (an
    /// application) or customs (a notice the enterprise answers).
    #[serde(default)]
    pub started_by: StartedBy,
    #[serde(default)]
    pub rules: Option<S<String>>,
    pub states: IndexMap<String, S<RawState>>,
    #[serde(default)]
    pub actions: IndexMap<String, S<RawAction>>,
    #[serde(default)]
    pub receipts: IndexMap<String, S<RawReceipt>>,
}

/// Who makes a workflow's documents.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartedBy {
    #[default]
    Enterprise,
    /// Customs issues them (the officer console offers the type).
    Customs,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    pub label: Text,
    #[serde(default, rename = "final")]
    pub is_final: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAction {
    pub label: Text,
    /// The question the page asks before the action (是否确认提交).
    #[serde(default)]
    pub confirm: Option<Text>,
    /// Only run through the parent's `children` step, never on its own (a
    /// certificate is submitted with its application).
    #[serde(default)]
    pub via_parent: bool,
    /// With `via_parent`: what a user trying it alone is told.
    #[serde(default)]
    pub alone: Option<Text>,
    /// Fields the user may change with this action in a state where the
    /// document is otherwise read-only (企业确认意见 when answering a draft).
    #[serde(default)]
    pub fields: Vec<S<String>>,
    pub from: Vec<S<String>>,
    pub to: S<String>,
    #[serde(default)]
    pub guard: Option<S<String>>,
    #[serde(default)]
    pub steps: Vec<S<String>>,
    #[serde(default)]
    pub done: Option<Text>,
    #[serde(default)]
    pub refused: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceipt {
    pub label: Text,
    pub from: Vec<S<String>>,
    pub to: S<String>,
    /// How the built-in customs simulator uses this receipt: `pass` (the
    /// answer it gives), `fail` (what it answers at its failure rate).
    #[serde(default)]
    pub simulator: Option<SimulatorRole>,
    /// The receipt carries the number customs gives the document.
    #[serde(default)]
    pub number: Option<RawReceiptNumber>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SimulatorRole {
    Pass,
    Fail,
}

/// The number a receipt brings (申请单海关编号, 证书编号).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiptNumber {
    /// How the simulator makes one: `{data.FIELD}`, `{category}`,
    /// `{unified_no}`, `{time}` (yyyyMMddHHmmss, China time) and text.
    pub template: String,
    /// A data field that also receives the number (证书编号 on the form).
    #[serde(default)]
    pub field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDocType {
    pub id: S<String>,
    #[serde(default)]
    pub extends: Option<S<String>>,
    #[serde(default, rename = "abstract")]
    pub is_abstract: bool,
    #[serde(default)]
    pub name: Option<Text>,
    #[serde(default)]
    pub format_code: Option<String>,
    #[serde(default)]
    pub category: Option<RawCategory>,
    #[serde(default)]
    pub workflow: Option<S<String>>,
    #[serde(default)]
    pub numbering: Option<S<String>>,
    #[serde(default)]
    pub sample: Option<S<String>>,
    #[serde(default)]
    pub rules: Option<Vec<S<String>>>,
    #[serde(default)]
    pub sections: Option<Vec<S<RawSection>>>,
    #[serde(default)]
    pub fields: IndexMap<String, S<RawField>>,
    #[serde(default)]
    pub tables: IndexMap<String, S<RawTable>>,
    #[serde(default)]
    pub attachments: Option<IndexMap<String, S<RawAttachment>>>,
    #[serde(default)]
    pub lookups: Option<IndexMap<String, S<RawLookup>>>,
    #[serde(default)]
    pub layout: Option<RawLayout>,
    /// For a type describing records of an outside system (the e-ledger):
    /// the field whose value keys a record.
    #[serde(default)]
    pub record_key: Option<S<String>>,
    /// Documents made inside this one (an application's certificates).
    #[serde(default)]
    pub children: Option<IndexMap<String, S<RawChildren>>>,
    /// Which definitions a stored document follows: `pinned` (the version it
    /// was made with; the default) or `latest` (always the active one).
    #[serde(default)]
    pub versioning: Option<S<String>>,
    /// Fields users may keep as named initial values (初始值模板).
    #[serde(default)]
    pub value_templates: Option<Vec<S<String>>>,
    /// Fields filled from the signed-in enterprise when a document is made:
    /// field → `code`, `credit_code`, `name_zh` or `name_en` (申报单位 from the card).
    #[serde(default)]
    pub from_party: Option<IndexMap<String, S<String>>>,
    #[serde(default)]
    pub remove: Vec<S<String>>,
}

/// Which documents can be made inside a document, and what they inherit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChildren {
    pub label: Text,
    /// The child types: every concrete type governed by this workflow.
    pub workflow: S<String>,
    /// Only types whose category code appears in a list of the parent's
    /// looked-up record (the certificates the e-ledger asks for).
    #[serde(default)]
    pub allowed_by: Option<RawAllowedBy>,
    /// Child field ← parent field, copied when the child is made.
    #[serde(default)]
    pub fill: IndexMap<String, S<String>>,
    #[serde(default)]
    pub max: Option<u32>,
    /// Fields and tables taken from an earlier document of the same type
    /// when a child is made "by a similar number" (相似检验检疫编号录入).
    #[serde(default)]
    pub similar: Vec<S<String>>,
    /// What users are told, in the words of the field.
    #[serde(default)]
    pub messages: RawChildMessages,
}

/// The texts of a child slot; unset ones have generic wording.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawChildMessages {
    /// How one child is named in messages; `{n}` its number, `{name}` its format.
    #[serde(default)]
    pub item: Option<Text>,
    /// A type the slot does not offer for this parent.
    #[serde(default)]
    pub not_offered: Option<Text>,
    /// The earlier document chosen "by a similar number" is of another type.
    #[serde(default)]
    pub similar_mismatch: Option<Text>,
    /// The similar number is missing.
    #[serde(default)]
    pub similar_number: Option<Text>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAllowedBy {
    /// A lookup of the parent type.
    pub lookup: S<String>,
    /// The record's list, and the field of its rows holding category codes.
    pub rows: S<String>,
    pub field: S<String>,
    /// Child field ← field of the matching row (正本/副本数量).
    #[serde(default)]
    pub fill: IndexMap<String, S<String>>,
}

/// How a type is laid out on paper; each property overrides the base's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLayout {
    /// The Typst file under certificate-templates/ that lays the type out.
    #[serde(default)]
    pub template: Option<S<String>>,
    /// The variants the type offers.
    #[serde(default)]
    pub variants: Option<Vec<S<Variant>>>,
    /// Which variant a preview shows in which status of the workflow.
    #[serde(default)]
    pub by_status: Option<IndexMap<Variant, Vec<S<String>>>>,
    /// The pre-printed blank stationery the overlay variant prints on.
    #[serde(default)]
    pub stationery: Option<S<String>>,
}

/// The ways a document is laid out: a check sheet (核对单) before the
/// authority has decided, a watermarked draft (草稿) to confirm, the final
/// issued document (signature, seal, background, QR), an overlay of the
/// variable data only for pre-printed stationery, and plain A4 of the whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    Check,
    Draft,
    Final,
    Overlay,
    A4,
}

impl Variant {
    pub const ALL: [Variant; 5] = [Variant::Check, Variant::Draft, Variant::Final, Variant::Overlay, Variant::A4];

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Check => "check",
            Variant::Draft => "draft",
            Variant::Final => "final",
            Variant::Overlay => "overlay",
            Variant::A4 => "a4",
        }
    }

    pub fn parse(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCategory {
    pub code: String,
    pub zh: String,
    #[serde(default)]
    pub en: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSection {
    pub id: String,
    pub label: Text,
    #[serde(default)]
    pub fields: Vec<S<String>>,
    #[serde(default)]
    pub table: Option<S<String>>,
}

/// The class the manual colours a field by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldClass {
    /// Yellow: the user must fill it in.
    Required,
    /// Grey: filled in by the system.
    Backfilled,
    /// White: filled in when it applies.
    Optional,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Date,
    Boolean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Widget {
    Text,
    Textarea,
    Picker,
    Date,
    Checkbox,
    Number,
}

/// A field as written; every property optional so that a format can restate
/// only what it changes of its base.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawField {
    #[serde(default)]
    pub label: Option<Text>,
    #[serde(default)]
    pub class: Option<S<FieldClass>>,
    #[serde(default)]
    pub editable: Option<bool>,
    #[serde(default)]
    pub required: Option<bool>,
    #[serde(default, rename = "type")]
    pub field_type: Option<S<FieldType>>,
    #[serde(default)]
    pub format: Option<S<String>>,
    #[serde(default)]
    pub param: Option<S<String>>,
    #[serde(default)]
    pub max_length: Option<u32>,
    #[serde(default)]
    pub max_bytes: Option<u32>,
    #[serde(default)]
    pub schema: Option<S<serde_json::Value>>,
    #[serde(default)]
    pub hint: Option<Text>,
    #[serde(default)]
    pub widget: Option<S<Widget>>,
    /// Typed in Latin letters (the English of a certificate): the form's
    /// 英文转大写 switch upper-cases it.
    #[serde(default)]
    pub latin: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTable {
    #[serde(default)]
    pub label: Option<Text>,
    #[serde(default)]
    pub min_rows: Option<u32>,
    #[serde(default)]
    pub max_rows: Option<u32>,
    #[serde(default)]
    pub excel_import: Option<bool>,
    #[serde(default)]
    pub hint: Option<Text>,
    #[serde(default)]
    pub fields: IndexMap<String, S<RawField>>,
    /// Lines are picked from a list of a looked-up record.
    #[serde(default)]
    pub pick: Option<S<RawPick>>,
    #[serde(default)]
    pub remove: Vec<S<String>>,
}

/// Lines picked from a looked-up record's list (goods of the e-ledger).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPick {
    /// A lookup of the type.
    pub lookup: S<String>,
    /// The record's list the lines come from.
    pub rows: S<String>,
    /// The record row's identifying field, kept in the line's field `into`.
    pub key: S<String>,
    pub into: S<String>,
    /// Line field ← record row field, copied when a row is picked.
    #[serde(default)]
    pub fill: IndexMap<String, S<String>>,
    /// Line field ← record row field it must not exceed (申请数量 ≤ 底账数量).
    #[serde(default)]
    pub not_exceeding: IndexMap<String, S<String>>,
    /// Whether every line must come from the record (no goods outside the ledger).
    #[serde(default)]
    pub only_listed: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawAttachment {
    pub label: Text,
    #[serde(default = "pdf_only")]
    pub accept: Vec<String>,
    pub max_file_bytes: u64,
    #[serde(default)]
    pub max_page_bytes: Option<u64>,
    #[serde(default = "one")]
    pub max_files: u32,
}

fn pdf_only() -> Vec<String> {
    vec!["pdf".into()]
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLookup {
    pub source: String,
    pub key: S<String>,
    #[serde(default)]
    pub fill: IndexMap<String, S<String>>,
    /// A rule file under rules/ holding `guard`.
    #[serde(default)]
    pub rules: Option<S<String>>,
    /// `fn name(record, party)` → true, or the refusal: who may use a record.
    #[serde(default)]
    pub guard: Option<S<String>>,
}

/// A query page over documents (单据补传及数据补录, 出境证书查询, …).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListView {
    pub id: S<String>,
    pub title: Text,
    /// Documents of every type governed by these workflows are listed.
    pub workflows: Vec<S<String>>,
    #[serde(default)]
    pub page_size: Option<u32>,
    #[serde(default)]
    pub date: Option<RawDateCriterion>,
    #[serde(default)]
    pub criteria: Vec<S<RawCriterion>>,
    pub columns: Vec<S<RawColumn>>,
    #[serde(default)]
    pub row_actions: Vec<S<RawRowAction>>,
    /// Opening a document from the list is refused in these states.
    #[serde(default)]
    pub view_refused: Option<RawViewRefused>,
    /// Types the list offers to create (新增); each must be listed by it.
    #[serde(default)]
    pub create: Vec<S<String>>,
    /// Place in the menu: lower first, then by id (default 100).
    #[serde(default)]
    pub order: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateColumn {
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawDateCriterion {
    pub label: Text,
    pub field: DateColumn,
    pub default_days: u32,
    pub max_days: u32,
    /// Shown when the range is longer than `max_days`.
    pub too_long: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    /// Exact match on the document's business number.
    BusinessNo,
    /// Exact match on the document's unified number (申请单统一编号).
    UnifiedNo,
    /// One of the workflows' states, or all.
    Status,
    /// One of the listed options, each standing for some document types.
    Choice,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawCriterion {
    pub id: String,
    pub label: Text,
    pub kind: CriterionKind,
    /// Label of the "any" choice (全部); absent means a value is needed.
    #[serde(default)]
    pub all: Option<Text>,
    #[serde(default)]
    pub options: Vec<RawChoice>,
    /// Needed when the date range is left empty (IN-1's status).
    #[serde(default)]
    pub required_without_date: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawChoice {
    pub code: String,
    pub label: Text,
    /// The document types this choice stands for; empty means all.
    #[serde(default)]
    pub doctypes: Vec<String>,
    /// …or every type governed by these workflows.
    #[serde(default)]
    pub workflows: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawColumn {
    pub id: String,
    pub label: Text,
    /// What the cell shows: `business_no`, `unified_no`, `customs_no`,
    /// `status`, `created_at`, `updated_at`, `doctype.name`,
    /// `doctype.category`, `meta.KEY`, `data.FIELD` or `criterion.ID`.
    pub value: String,
    /// `view` opens the document read-only; `receipts` lists its receipts.
    #[serde(default)]
    pub link: Option<ColumnLink>,
    /// Shown unless the user hides it with the column chooser.
    #[serde(default = "yes")]
    pub visible: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnLink {
    View,
    Receipts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowActionOpens {
    /// The document's form, to edit.
    Form,
    /// The document's attachment slots, to upload.
    Attachments,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRowAction {
    pub id: String,
    pub label: Text,
    pub opens: RowActionOpens,
    /// Offered for documents of types governed by these workflows.
    pub workflows: Vec<String>,
    /// Enabled only in these states (all when empty); the workflow's own
    /// `refused` message still applies when the action is taken.
    #[serde(default)]
    pub enabled_in: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawViewRefused {
    pub states: Vec<String>,
    pub message: Text,
}
