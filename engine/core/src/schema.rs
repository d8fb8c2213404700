//! JSON Schema (2020-12) generated from a document type, and the validators
//! built from it. The schema checks single values; cross-field rules are Rhai.

use std::fmt;

use indexmap::IndexMap;
use jsonschema::{Keyword, ValidationError, Validator};
use serde_json::{Map, Value, json};

use crate::checks;
use crate::model::{Field, Format, ParamTable, Table};
use crate::raw::FieldType;

/// Keyword for a limit in UTF-8 bytes (customs message fields count bytes).
pub(crate) const MAX_BYTES_KEYWORD: &str = "x-max-bytes";

/// Which checks a validation runs: a draft is saved with gaps, a declaration
/// must be complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Draft,
    Submit,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Draft => "draft",
            Mode::Submit => "submit",
        }
    }
}

pub(crate) struct DocSchemas {
    pub draft: Validator,
    pub submit: Validator,
    pub submit_json: Value,
}

impl fmt::Debug for DocSchemas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DocSchemas").finish_non_exhaustive()
    }
}

impl DocSchemas {
    pub fn for_mode(&self, mode: Mode) -> &Validator {
        match mode {
            Mode::Draft => &self.draft,
            Mode::Submit => &self.submit,
        }
    }
}

/// The schema of one value.
pub(crate) fn field_schema(field: &Field, params: &IndexMap<String, ParamTable>) -> Value {
    let mut s = Map::new();
    let json_type = match field.field_type {
        FieldType::String | FieldType::Date => "string",
        FieldType::Integer => "integer",
        FieldType::Number => "number",
        FieldType::Boolean => "boolean",
    };
    s.insert("type".into(), json!(json_type));
    let format = match (field.format, field.field_type) {
        (Some(f), _) => Some(f),
        (None, FieldType::Date) => Some(Format::Date),
        _ => None,
    };
    if let Some(format) = format {
        s.insert("format".into(), json!(format.name()));
    }
    if let Some(n) = field.max_length {
        s.insert("maxLength".into(), json!(n));
    }
    if let Some(n) = field.max_bytes {
        s.insert(MAX_BYTES_KEYWORD.into(), json!(n));
    }
    if let Some(table) = field.param.as_deref().and_then(|p| params.get(p)) {
        let codes: Vec<Value> = table.rows.iter().map(|r| json!(r.code)).collect();
        s.insert("enum".into(), Value::Array(codes));
    }
    if let Some(Value::Object(extra)) = &field.schema {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    Value::Object(s)
}

fn object_schema<'a>(
    fields: impl Iterator<Item = &'a Field>,
    tables: &[&Table],
    params: &IndexMap<String, ParamTable>,
    mode: Mode,
) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for field in fields {
        properties.insert(field.id.clone(), field_schema(field, params));
        if mode == Mode::Submit && field.required {
            required.push(json!(field.id));
        }
    }
    for table in tables {
        let row = object_schema(table.fields.values(), &[], params, mode);
        let mut t = Map::new();
        t.insert("type".into(), json!("array"));
        t.insert("items".into(), row);
        if mode == Mode::Submit && table.min_rows > 0 {
            t.insert("minItems".into(), json!(table.min_rows));
        }
        if let Some(max) = table.max_rows {
            t.insert("maxItems".into(), json!(max));
        }
        properties.insert(table.id.clone(), Value::Object(t));
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// The schema of a whole document of a type.
pub(crate) fn document_schema(
    fields: &IndexMap<String, Field>,
    tables: &IndexMap<String, Table>,
    params: &IndexMap<String, ParamTable>,
    mode: Mode,
) -> Value {
    let tables: Vec<&Table> = tables.values().collect();
    let mut schema = object_schema(fields.values(), &tables, params, mode);
    schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    schema
}

/// Builds a validator with the built-in formats and keywords.
pub(crate) fn build_validator(schema: &Value) -> Result<Validator, String> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .with_format(Format::Date.name(), checks::date_valid)
        .with_format(Format::DeclarationNo.name(), checks::declaration_no_valid)
        .with_format(Format::Iso6346.name(), checks::iso6346_valid)
        .with_format(Format::Uscc.name(), checks::uscc_valid)
        .with_keyword(MAX_BYTES_KEYWORD, |_, value, _| {
            let limit = value
                .as_u64()
                .ok_or_else(|| ValidationError::custom(format!("{MAX_BYTES_KEYWORD} takes a whole number")))?;
            Ok(Box::new(MaxBytes(limit as usize)))
        })
        .build(schema)
        .map_err(|e| e.to_string())
}

struct MaxBytes(usize);

impl<'i> Keyword<'i> for MaxBytes {
    fn validate(&self, instance: &'i Value) -> Result<(), ValidationError<'i>> {
        match instance {
            Value::String(s) if checks::byte_len(s) > self.0 => {
                Err(ValidationError::custom(checks::byte_len(s).to_string()))
            }
            _ => Ok(()),
        }
    }

    fn is_valid(&self, instance: &'i Value) -> bool {
        !matches!(instance, Value::String(s) if checks::byte_len(s) > self.0)
    }
}
