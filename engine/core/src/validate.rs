//! Validating a document against its type: the generated JSON Schema first,
//! then the type's Rhai rules. Every problem becomes a `FieldError` with a
//! user-facing path and messages in Chinese and English.

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{CompiledBundle, DocType, Field, Format};
use crate::schema::{MAX_BYTES_KEYWORD, Mode};

/// One problem with a document, as shown beside the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldError {
    /// `decl_no`, `goods/3/qty2` (rows numbered from 1), `goods` for a
    /// table, or empty for the document as a whole.
    pub path: String,
    pub code: String,
    pub message_zh: String,
    pub message_en: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, code: impl Into<String>, zh: impl Into<String>, en: impl Into<String>) -> Self {
        Self { path: path.into(), code: code.into(), message_zh: zh.into(), message_en: en.into() }
    }
}

/// What a validation found, and the document as the rules left it
/// (normalised, computed values applied).
#[derive(Debug, Clone, Serialize)]
pub struct ValidationReport {
    pub errors: Vec<FieldError>,
    pub document: Value,
}

impl ValidationReport {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Asked to validate against a type the bundle does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown document type `{0}`")]
pub struct UnknownDocType(pub String);

impl CompiledBundle {
    /// Validates `document` as a `doctype`. `Mode::Draft` checks what is
    /// filled in; `Mode::Submit` also requires completeness.
    pub fn validate(&self, doctype: &str, document: &Value, mode: Mode) -> Result<ValidationReport, UnknownDocType> {
        let ty = self.doctype(doctype).ok_or_else(|| UnknownDocType(doctype.to_owned()))?;
        Ok(self.validate_as(ty, document, mode))
    }

    pub fn validate_as(&self, ty: &DocType, document: &Value, mode: Mode) -> ValidationReport {
        self.validate_with(ty, document, mode, &Value::Null)
    }

    /// As [`Self::validate_as`], with the records the document was filled
    /// from (`{lookup id: record}`, kept with the document): picked lines are
    /// checked against them and rules see them as `lookups`.
    pub fn validate_with(&self, ty: &DocType, document: &Value, mode: Mode, lookups: &Value) -> ValidationReport {
        let mut doc = normalize(ty, document);
        let mut errors = Vec::new();
        if !doc.is_object() {
            errors.push(FieldError::new(
                "",
                "type",
                "单证数据应为 JSON 对象，请检查提交的内容",
                "The document must be a JSON object: check what was sent",
            ));
            return ValidationReport { errors, document: doc };
        }
        errors.extend(self.validate_schema(ty, &doc, mode));
        errors.extend(self.validate_picks(ty, &doc, lookups));
        let outcome = self.rules.run(&ty.rules, &doc, mode, lookups);
        errors.extend(outcome.errors);
        for (path, value) in outcome.computed {
            set_path(&mut doc, &path, value);
        }
        errors.sort_by(|a, b| path_order(&a.path).cmp(&path_order(&b.path)).then(a.code.cmp(&b.code)));
        errors.dedup();
        ValidationReport { errors, document: doc }
    }
}

impl CompiledBundle {
    /// Lines picked from a looked-up record: each names a row of the record
    /// (when the table takes only listed rows) and stays within that row's
    /// bounds. Without the record nothing can be checked here.
    fn validate_picks(&self, ty: &DocType, doc: &Value, lookups: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if lookups.is_object() {
            errors.extend(self.validate_lookup_keys(ty, doc, lookups));
        }
        for table in ty.tables.values() {
            let Some(pick) = &table.pick else { continue };
            let Some(record) = lookups.get(&pick.lookup).filter(|r| r.is_object()) else { continue };
            let source = ty
                .lookups
                .get(&pick.lookup)
                .and_then(|l| self.doctype(&l.source))
                .map(|t| t.name.clone())
                .unwrap_or_else(|| crate::raw::Text::new(&pick.lookup, &pick.lookup));
            let rows = record.get(&pick.rows).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let lines = doc.get(&table.id).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            for (i, line) in lines.iter().enumerate() {
                let n = i + 1;
                let key = line.get(&pick.into).map(scalar_text).unwrap_or_default();
                if key.is_empty() {
                    if pick.only_listed {
                        errors.push(FieldError::new(
                            format!("{}/{n}/{}", table.id, pick.into),
                            "pick.unlisted",
                            format!(
                                "{}第 {n} 行不是从{}中选取的，只能选择{}中已有的数据",
                                table.label.zh, source.zh, source.zh
                            ),
                            format!(
                                "{} line {n} was not picked from the {}: only its lines can be used",
                                table.label.en_or_zh(),
                                source.en_or_zh()
                            ),
                        ));
                    }
                    continue;
                }
                let Some(row) =
                    rows.iter().find(|r| r.get(&pick.key).map(scalar_text).as_deref() == Some(key.as_str()))
                else {
                    // A line of the user's own, where the table allows them.
                    if !pick.only_listed {
                        continue;
                    }
                    errors.push(FieldError::new(
                        format!("{}/{n}/{}", table.id, pick.into),
                        "pick.unknown-row",
                        format!("{}第 {n} 行对应的{}数据（{key}）不存在，请重新选择", table.label.zh, source.zh),
                        format!(
                            "{} line {n}: line {key} of the {} does not exist; pick again",
                            table.label.en_or_zh(),
                            source.en_or_zh()
                        ),
                    ));
                    continue;
                };
                for (field, bound) in &pick.not_exceeding {
                    let (Some(value), Some(limit)) =
                        (line.get(field).and_then(number_of), row.get(bound).and_then(number_of))
                    else {
                        continue;
                    };
                    if value > limit + 1e-9 {
                        let label = table.fields.get(field).map(|f| f.label.clone()).unwrap_or_default();
                        errors.push(FieldError::new(
                            format!("{}/{n}/{field}", table.id),
                            "pick.exceeds",
                            format!(
                                "{}不能超过{}中的值 {}（现为 {}）",
                                label.zh,
                                source.zh,
                                show_number(limit),
                                show_number(value)
                            ),
                            format!(
                                "{} cannot exceed the {}'s {} (now {})",
                                label.en_or_zh(),
                                source.en_or_zh(),
                                show_number(limit),
                                show_number(value)
                            ),
                        ));
                    }
                }
            }
        }
        errors
    }

    /// A document filled from a record must still name that record: its key
    /// field equals the record's key (changed after the look-up, it must be
    /// looked up again).
    fn validate_lookup_keys(&self, ty: &DocType, doc: &Value, lookups: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for lookup in ty.lookups.values() {
            let Some(source) = self.doctype(&lookup.source) else { continue };
            let Some(record_key) = &source.record_key else { continue };
            let Some(field) = ty.fields.get(&lookup.key) else { continue };
            let Some(value) = doc.get(&lookup.key).map(scalar_text).filter(|v| !v.is_empty()) else { continue };
            let looked_up = lookups.get(&lookup.id).and_then(|r| r.get(record_key)).map(scalar_text);
            if looked_up.as_deref() != Some(value.as_str()) {
                errors.push(FieldError::new(
                    lookup.key.clone(),
                    "lookup.stale",
                    format!("{}“{value}”尚未调取{}，请录入后按回车键查询", field.label.zh, source.name.zh),
                    format!(
                        "{} \"{value}\" has not been looked up in the {}: enter it and press Enter",
                        field.label.en_or_zh(),
                        source.name.en_or_zh()
                    ),
                ));
            }
        }
        errors
    }

    /// Only the JSON Schema part of validation, on an already normalised
    /// document (see [`normalize`]).
    pub fn validate_schema(&self, ty: &DocType, doc: &Value, mode: Mode) -> Vec<FieldError> {
        let mut errors = Vec::new();
        for error in ty.schemas.for_mode(mode).iter_errors(doc) {
            schema_error_to_field_errors(self, ty, &error, &mut errors);
        }
        errors
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn number_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn show_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

/// Orders paths as a reader meets them: fields, then rows by number.
fn path_order(path: &str) -> Vec<(u64, String)> {
    path.split('/')
        .map(|p| match p.parse::<u64>() {
            Ok(n) => (n, String::new()),
            Err(_) => (0, p.to_owned()),
        })
        .collect()
}

/// Empty strings, blank text and nulls count as absent; absent tables as
/// empty; text is trimmed.
pub fn normalize(ty: &DocType, document: &Value) -> Value {
    let Value::Object(map) = document else {
        return document.clone();
    };
    let mut out = clean_object(map);
    for table in ty.tables.keys() {
        out.entry(table.clone()).or_insert_with(|| Value::Array(Vec::new()));
    }
    Value::Object(out)
}

fn clean_object(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter().filter_map(|(k, v)| clean_value(v).map(|v| (k.clone(), v))).collect()
}

fn clean_value(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) => {
            let t = s.trim();
            (!t.is_empty()).then(|| Value::String(t.to_owned()))
        }
        Value::Array(rows) => Some(Value::Array(
            rows.iter()
                .map(|row| match row {
                    Value::Object(m) => Value::Object(clean_object(m)),
                    other => other.clone(),
                })
                .collect(),
        )),
        Value::Object(m) => Some(Value::Object(clean_object(m))),
        other => Some(other.clone()),
    }
}

/// Writes a computed value at a user path (`total`, `goods/2/amount`).
fn set_path(doc: &mut Value, path: &str, value: Value) {
    let mut parts = path.split('/');
    let Some(first) = parts.next() else { return };
    let Some(obj) = doc.as_object_mut() else { return };
    match (parts.next(), parts.next()) {
        (None, _) => {
            obj.insert(first.to_owned(), value);
        }
        (Some(row), Some(name)) => {
            let index = row.parse::<usize>().ok().and_then(|n| n.checked_sub(1));
            if let (Some(Value::Array(rows)), Some(i)) = (obj.get_mut(first), index)
                && let Some(Value::Object(r)) = rows.get_mut(i)
            {
                r.insert(name.to_owned(), value);
            }
        }
        _ => {}
    }
}

/// A JSON pointer made user-facing: array indices count from 1.
fn user_path(location: &jsonschema::paths::Location) -> String {
    location
        .iter()
        .map(|seg| match seg {
            LocationSegment::Index(i) => (i + 1).to_string(),
            LocationSegment::Property(p) => p.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_owned() } else { format!("{parent}/{name}") }
}

/// Labels for messages: `「商品名称」` and `Goods name`.
struct Names {
    zh: String,
    en: String,
}

fn names_for(ty: &DocType, path: &str) -> Names {
    if let Some(field) = ty.field_at(path) {
        return Names { zh: field.label.zh.clone(), en: field.label.en_or_zh().to_owned() };
    }
    if let Some(table) = ty.tables.get(path) {
        return Names { zh: table.label.zh.clone(), en: table.label.en_or_zh().to_owned() };
    }
    let last = path.rsplit('/').next().unwrap_or(path);
    Names { zh: last.to_owned(), en: last.to_owned() }
}

/// Row context for messages on table cells: `第 3 行` / `line 3`.
fn row_note(path: &str) -> (String, String) {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [_, row, _] => (format!("第 {row} 行"), format!(" (line {row})")),
        _ => (String::new(), String::new()),
    }
}

fn schema_error_to_field_errors(
    bundle: &CompiledBundle,
    ty: &DocType,
    error: &jsonschema::ValidationError<'_>,
    out: &mut Vec<FieldError>,
) {
    let path = user_path(error.instance_path());
    let push = |out: &mut Vec<FieldError>, path: String, code: &str, zh: String, en: String| {
        out.push(FieldError::new(path, code, zh, en));
    };
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let p = join(&path, name);
            let n = names_for(ty, &p);
            let (rz, re) = row_note(&p);
            push(
                out,
                p,
                "required",
                format!("{rz}「{}」为必填项，请录入", n.zh),
                format!("{}{re} is required: enter a value", n.en),
            );
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            for name in unexpected {
                push(
                    out,
                    join(&path, name),
                    "unknown_field",
                    format!("未定义的字段“{name}”，请删除该字段"),
                    format!("Unknown field \"{name}\": remove it"),
                );
            }
        }
        ValidationErrorKind::MinItems { limit } => {
            let n = names_for(ty, &path);
            push(
                out,
                path,
                "min_rows",
                format!("「{}」至少需要 {limit} 条，请点击【新增】录入", n.zh),
                format!("{} needs at least {limit} line(s): add them with New", n.en),
            );
        }
        ValidationErrorKind::MaxItems { limit } => {
            let n = names_for(ty, &path);
            push(
                out,
                path,
                "max_rows",
                format!("「{}」最多 {limit} 条，请删除多余的行", n.zh),
                format!("{} takes at most {limit} lines: delete the extra ones", n.en),
            );
        }
        kind => {
            let field = ty.field_at(&path);
            let (code, zh, en) = value_error(bundle, field, error, kind);
            let n = names_for(ty, &path);
            let (rz, re) = row_note(&path);
            push(out, path, &code, format!("{rz}「{}」{zh}", n.zh), format!("{}{re}: {en}", n.en));
        }
    }
}

/// Code and message tails for an error on one value.
fn value_error(
    bundle: &CompiledBundle,
    field: Option<&Field>,
    error: &jsonschema::ValidationError<'_>,
    kind: &ValidationErrorKind,
) -> (String, String, String) {
    let value = error.instance();
    let shown = match value.as_ref() {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match kind {
        ValidationErrorKind::Type { .. } => {
            let (zh, en) = match field.map(|f| f.field_type) {
                Some(crate::raw::FieldType::Integer) => ("整数", "a whole number"),
                Some(crate::raw::FieldType::Number) => ("数字", "a number"),
                Some(crate::raw::FieldType::Boolean) => ("是/否", "true or false"),
                _ => ("文本", "text"),
            };
            ("type".into(), format!("应为{zh}，请重新录入"), format!("must be {en}: enter it again"))
        }
        ValidationErrorKind::Format { format } => {
            let (zh, en) = Format::parse(format).map_or(("格式不正确", "has the wrong format"), Format::problem);
            (format!("format.{format}"), format!("“{shown}”{zh}"), format!("\"{shown}\" {en}"))
        }
        ValidationErrorKind::Enum { .. } if field.and_then(|f| f.param.as_ref()).is_some() => {
            let table_id = field.and_then(|f| f.param.as_deref()).unwrap_or_default();
            let table = bundle.param(table_id);
            let tzh = table.map(|t| t.name.zh.as_str()).unwrap_or(table_id);
            let ten = table.map(|t| t.name.en_or_zh()).unwrap_or(table_id);
            (
                "param".into(),
                format!("“{shown}”不在参数表「{tzh}」中，请按空格键从参数列表中选择"),
                format!("\"{shown}\" is not in the {ten} table: press Space and pick from the list"),
            )
        }
        ValidationErrorKind::MaxLength { limit } => (
            "max_length".into(),
            format!("最多 {limit} 个字符，请删减"),
            format!("takes at most {limit} characters: shorten it"),
        ),
        ValidationErrorKind::MinLength { limit } => {
            ("min_length".into(), format!("至少 {limit} 个字符"), format!("takes at least {limit} characters"))
        }
        ValidationErrorKind::Pattern { .. } => (
            "pattern".into(),
            format!("“{shown}”格式不正确，请按录入提示填写"),
            format!("\"{shown}\" has the wrong format: follow the entry hint"),
        ),
        ValidationErrorKind::Minimum { limit } => {
            ("range".into(), format!("不能小于 {limit}"), format!("must be at least {limit}"))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            ("range".into(), format!("必须大于 {limit}"), format!("must be greater than {limit}"))
        }
        ValidationErrorKind::Maximum { limit } => {
            ("range".into(), format!("不能大于 {limit}"), format!("must be at most {limit}"))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            ("range".into(), format!("必须小于 {limit}"), format!("must be less than {limit}"))
        }
        ValidationErrorKind::Custom { message, .. } if is_max_bytes(error) => {
            let limit = field.and_then(|f| f.max_bytes).unwrap_or_default();
            (
                "max_bytes".into(),
                format!("最长 {limit} 字节（当前 {message} 字节，一个汉字占 3 字节），请删减"),
                format!("takes at most {limit} bytes (now {message}; a Chinese character takes 3): shorten it"),
            )
        }
        other => {
            ("schema".into(), format!("不符合要求：{other:?}"), format!("does not meet the definition: {}", error))
        }
    }
}

fn is_max_bytes(error: &jsonschema::ValidationError<'_>) -> bool {
    error.schema_path().as_str().ends_with(MAX_BYTES_KEYWORD)
}
