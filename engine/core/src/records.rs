//! Records of outside systems (the inspection e-ledger) as files: JSON or
//! CSV read into documents of the record type that describes them, ready to
//! be checked against it and imported. Nothing here stores anything.
//!
//! JSON: an array of records, an object `{"records": [...]}`, or one record
//! per line. CSV: a header row naming fields (`insp_no`) and table fields
//! (`goods.hs_code`); rows with the same key make one record, each row
//! adding a line to every table it has cells for. Values are typed by the
//! record type's fields.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::model::{DocType, Field};
use crate::raw::FieldType;

/// A record read from a file, with where it started.
#[derive(Debug, Clone)]
pub struct ParsedRecord {
    /// 1-based: the record's place in a JSON file, or the CSV line it starts on.
    pub line: usize,
    /// The value of the type's key field, when the record has one.
    pub key: Option<String>,
    pub data: Value,
}

/// A file that could not be read as records at all.
#[derive(Debug, thiserror::Error)]
pub enum RecordsError {
    #[error("the type `{0}` describes no records (it has no `record_key`)")]
    NotARecordType(String),
    #[error("not JSON records: {0}")]
    Json(String),
    #[error("CSV line {line}: {message}")]
    Csv { line: usize, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    Json,
    Csv,
}

impl RecordFormat {
    /// By the file name's extension (`.csv`, else JSON).
    pub fn of_path(path: &std::path::Path) -> Self {
        match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("csv") => RecordFormat::Csv,
            _ => RecordFormat::Json,
        }
    }
}

/// Reads the records of a file described by `ty`.
pub fn parse_records(bytes: &[u8], format: RecordFormat, ty: &DocType) -> Result<Vec<ParsedRecord>, RecordsError> {
    let key = ty.record_key.as_deref().ok_or_else(|| RecordsError::NotARecordType(ty.id.clone()))?;
    let records = match format {
        RecordFormat::Json => parse_json(bytes)?,
        RecordFormat::Csv => parse_csv(bytes, ty, key)?,
    };
    Ok(records.into_iter().map(|(line, data)| ParsedRecord { line, key: key_of(&data, key), data }).collect())
}

fn key_of(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(key_text)
}

fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_json(bytes: &[u8]) -> Result<Vec<(usize, Value)>, RecordsError> {
    let text = std::str::from_utf8(bytes).map_err(|e| RecordsError::Json(format!("not UTF-8: {e}")))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect()),
        Ok(Value::Object(mut obj)) => match obj.remove("records") {
            Some(Value::Array(items)) => Ok(items.into_iter().enumerate().map(|(i, v)| (i + 1, v)).collect()),
            Some(_) => Err(RecordsError::Json("`records` is not an array".into())),
            None => Ok(vec![(1, Value::Object(obj))]),
        },
        Ok(_) => Err(RecordsError::Json("expected an array of records or an object".into())),
        // One record per line (JSON Lines).
        Err(whole) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map(|v| (i + 1, v)).map_err(|e| {
                    RecordsError::Json(if i == 0 { whole.to_string() } else { format!("line {}: {e}", i + 1) })
                })
            })
            .collect(),
    }
}

/// A CSV column: a field of the record, or a field of one of its tables.
enum Column<'a> {
    Field(&'a Field),
    Table(&'a str, &'a Field),
    Unknown,
}

fn parse_csv(bytes: &[u8], ty: &DocType, key: &str) -> Result<Vec<(usize, Value)>, RecordsError> {
    // A byte-order mark from spreadsheet exports is not part of the first name.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers = reader.headers().map_err(|e| RecordsError::Csv { line: 1, message: e.to_string() })?.clone();
    let columns: Vec<(String, Column<'_>)> = headers
        .iter()
        .map(|h| {
            let h = h.trim();
            let column = match h.split_once('.') {
                None => ty.fields.get(h).map(Column::Field),
                Some((t, f)) => ty.tables.get(t).and_then(|table| table.fields.get(f)).map(|f| Column::Table(t, f)),
            };
            (h.to_owned(), column.unwrap_or(Column::Unknown))
        })
        .collect();
    if let Some((name, _)) = columns.iter().find(|(_, c)| matches!(c, Column::Unknown)) {
        return Err(RecordsError::Csv {
            line: 1,
            message: format!("column `{name}` is neither a field nor a `table.field` of `{}`", ty.id),
        });
    }
    if !columns.iter().any(|(n, _)| n == key) {
        return Err(RecordsError::Csv { line: 1, message: format!("there is no `{key}` column (the records' key)") });
    }
    let mut records: IndexMap<String, (usize, Map<String, Value>)> = IndexMap::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| RecordsError::Csv { line, message: e.to_string() })?;
        let mut fields = Map::new();
        let mut lines: IndexMap<&str, Map<String, Value>> = IndexMap::new();
        for ((_, column), cell) in columns.iter().zip(row.iter()) {
            let cell = cell.trim();
            if cell.is_empty() {
                continue;
            }
            match column {
                Column::Field(f) => {
                    fields.insert(f.id.clone(), typed(f, cell));
                }
                Column::Table(t, f) => {
                    lines.entry(t).or_default().insert(f.id.clone(), typed(f, cell));
                }
                Column::Unknown => {}
            }
        }
        let Some(k) = fields.get(key).and_then(key_text) else {
            return Err(RecordsError::Csv { line, message: format!("`{key}` is empty") });
        };
        let (_, record) = records.entry(k).or_insert_with(|| (line, Map::new()));
        for (name, value) in fields {
            record.entry(name).or_insert(value);
        }
        for (table, line_values) in lines {
            let rows = record.entry(table.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(rows) = rows {
                rows.push(Value::Object(line_values));
            }
        }
    }
    Ok(records.into_values().map(|(line, m)| (line, Value::Object(m))).collect())
}

fn typed(field: &Field, cell: &str) -> Value {
    let parsed = match field.field_type {
        FieldType::Integer => cell.parse::<i64>().ok().map(Value::from),
        FieldType::Number => cell
            .parse::<i64>()
            .ok()
            .map(Value::from)
            .or_else(|| cell.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from)),
        FieldType::Boolean => match cell.to_ascii_lowercase().as_str() {
            "true" | "1" | "y" | "yes" | "是" => Some(Value::Bool(true)),
            "false" | "0" | "n" | "no" | "否" => Some(Value::Bool(false)),
            _ => None,
        },
        FieldType::String | FieldType::Date => None,
    };
    // Kept as text when it does not parse, so that the check names it.
    parsed.unwrap_or_else(|| Value::String(cell.to_owned()))
}
