//! Excel goods templates and imports (REQUIREMENTS IN-5/IN-6).
//!
//! [`template`] writes the xlsx import template of one table of a document
//! type; [`import`] reads a filled-in xls or xlsx back into rows of that
//! table, which the caller uses to replace the document's lines and then
//! validates as a whole document.
//!
//! # Template layout
//!
//! - The first sheet, named after the table (`商品信息`), is for the user.
//!   Row 1 holds each field's Chinese label, row 2 its English label, in the
//!   table's field order; data goes from row 3 on. Required columns start
//!   with `*` and are yellow like the form's required class (back-filled
//!   columns grey, optional ones white). The Chinese heading carries a note
//!   with the field's entry hint and what to enter: the parameter table whose
//!   codes it takes, `YYYY-MM-DD` for dates. Text and date columns are
//!   formatted as text, so that codes keep their leading zeros (`035`) and
//!   Excel does not turn dates into numbers.
//! - A very hidden sheet named `certflow` (one the Excel interface cannot
//!   unhide) holds the **marker** `certflow:<doctype id>:<table id>` in A1
//!   and, below it, the list of columns (field id, labels, type, required,
//!   parameter table) for people and tools that look.
//! - The same marker is the workbook-level defined name `certflow_template`.
//!
//! The marker lives where a user editing visible cells cannot reach it; an
//! import needs one of the two copies and refuses a workbook where either
//! names another type or table ([`ImportError::WrongType`]).
//!
//! # Import
//!
//! Columns are matched by their row-1 heading (Chinese label, English label
//! or field id; `*` and blanks ignored), not by position, so a moved column
//! or a template written before the table gained a field still imports.
//! Row 2 is skipped when it holds the English headings. Blank rows are
//! skipped; each other row becomes one line, numbered from 1 in the error
//! paths (`goods/2/qty1`), while the messages name the Excel row and column
//! the user has in front of them. Every problem of every row is collected in
//! one pass ([`ImportError::Invalid`]). The checks here are the ones that
//! need the cell: presence of required values, conversion to the field's
//! type, the built-in formats, `max_length` and `max_bytes`. Parameter codes,
//! further schema keywords and the type's rules are the caller's full
//! validation.
//!
//! # Hostile files
//!
//! The input is refused past [`ImportLimits::max_bytes`] before anything
//! parses it. An xlsx is a zip: the declared uncompressed sizes in its
//! central directory must add up to at most
//! [`ImportLimits::max_unpacked_bytes`] (the zip reader then enforces the
//! declared sizes while inflating), which defeats zip bombs; its sheets are
//! streamed and reading stops at the first cell outside the allowed rows or
//! columns. The xls reader parses every sheet eagerly into a dense grid, so
//! an xls is pre-scanned first: every value cell and every sheet's declared
//! dimensions must lie within the same bounds. A parser panic on a malformed
//! file is caught and reported as an unreadable file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use calamine::{Data, ExcelDateTime, Reader, SheetType, Xls, XlsError, Xlsx, XlsxError};
use certflow_core::model::Format;
use certflow_core::raw::{FieldClass, FieldType};
use certflow_core::{DocType, Field, FieldError, Table, checks};
use rust_xlsxwriter::{Color, DocProperties, FormatAlign, FormatBorder, Note, Workbook, Worksheet};
use serde_json::{Map, Number, Value};

/// Name of the very hidden sheet holding the template marker in A1.
pub const MARKER_SHEET: &str = "certflow";
/// Workbook-level defined name holding the template marker.
pub const MARKER_DEFINED_NAME: &str = "certflow_template";
/// Excel row number (1-based) of the first data row of a template.
pub const FIRST_DATA_ROW: u32 = HEADER_ROWS + 1;

/// Rows above the data: Chinese headings, English headings.
const HEADER_ROWS: u32 = 2;
/// An xlsx holds a dozen parts; thousands means a crafted file.
const MAX_ZIP_ENTRIES: usize = 10_000;
/// The xls reader reserves a cell for every position a sheet's DIMENSIONS
/// record declares; allow up to this many (about 40 MB) before refusing.
const MAX_XLS_DECLARED_CELLS: u64 = 1 << 20;
/// Enough to correct a file; more only makes an unreadable response.
const MAX_REPORTED_ERRORS: usize = 500;
/// Longest cell text quoted back in a message, in characters.
const MAX_QUOTED_CHARS: usize = 40;
/// The form's field classes: required yellow, back-filled grey, optional white.
const REQUIRED_FILL: u32 = 0xFFFF99;
const BACKFILLED_FILL: u32 = 0xE7E6E6;
const OPTIONAL_FILL: u32 = 0xFFFFFF;

/// The marker a template of `doctype`'s `table` carries.
pub fn template_marker(doctype: &str, table: &str) -> String {
    format!("certflow:{doctype}:{table}")
}

/// Why a template could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExcelError {
    #[error("document type `{doctype}` has no table `{table}`")]
    UnknownTable { doctype: String, table: String },
    #[error("table `{table}` of document type `{doctype}` is not imported from Excel (`excel_import` is not set)")]
    NotImportable { doctype: String, table: String },
    #[error("could not write the workbook: {0}")]
    Write(#[from] rust_xlsxwriter::XlsxError),
}

/// Bounds on what an import reads, against hostile or mistaken files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportLimits {
    /// Size of the uploaded file; default 4 MiB.
    pub max_bytes: usize,
    /// Data rows, counted as Excel rows from row 3 (blank rows in between
    /// count); default 1000. The table's own `max_rows` applies too.
    pub max_rows: usize,
    /// Columns that may hold anything; default 64.
    pub max_columns: usize,
    /// Sum of the declared uncompressed sizes of an xlsx's parts; default
    /// 64 MiB.
    pub max_unpacked_bytes: u64,
}

impl Default for ImportLimits {
    fn default() -> Self {
        Self { max_bytes: 4 << 20, max_rows: 1000, max_columns: 64, max_unpacked_bytes: 64 << 20 }
    }
}

/// Why an import was refused. `Display` gives the English message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("The document type has no table \"{table}\"")]
    UnknownTable { table: String },
    #[error("The table \"{table}\" cannot be imported from Excel")]
    NotImportable { table: String },
    #[error("The file is larger than {}: remove some rows and import it again", file_size_text(.limit_bytes))]
    FileTooLarge { limit_bytes: usize },
    #[error("Import format error: please import an xls or xlsx file!")]
    NotExcel,
    #[error("The file is password-protected: remove the password and import it again")]
    Protected,
    #[error(
        "Unpacked, the file exceeds {}, far more than any import template needs: fill in a fresh template and import it",
        unpacked_size_text(.limit_bytes)
    )]
    ContentTooLarge { limit_bytes: u64 },
    #[error("The file is damaged or cannot be read: open it in Excel, save it as xlsx and import it again")]
    Unreadable {
        /// What the reader said, for the log; not shown to users.
        detail: String,
    },
    #[error("Certificate type mismatch: download the import template of this certificate type")]
    WrongType {
        /// The marker the file carries, if any, for the log.
        found: Option<String>,
    },
    #[error(
        "The file can hold at most {limit} data rows (rows {FIRST_DATA_ROW} to {}); row {row} is beyond that: remove the extra rows and import it again",
        last_data_row(.limit)
    )]
    TooManyRows {
        limit: usize,
        /// Excel row number of the first row found beyond the limit.
        row: u64,
    },
    #[error(
        "The file can hold at most {limit} columns; column {column} is beyond that: delete the extra columns and import it again"
    )]
    TooManyColumns { limit: usize, column: String },
    #[error("The file has no data rows: fill them in from row {FIRST_DATA_ROW} on and import it again")]
    NoRows,
    #[error("The file has {} problem(s): correct them and import it again", .0.len())]
    Invalid(Vec<FieldError>),
}

impl ImportError {
    /// The message shown to a user reading Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            ImportError::UnknownTable { table } => format!("单证类型中没有“{table}”表"),
            ImportError::NotImportable { table } => format!("“{table}”表不支持 Excel 导入"),
            ImportError::FileTooLarge { limit_bytes } => {
                format!("导入文件超过 {}，请删减后再导入", file_size_text(limit_bytes))
            }
            ImportError::NotExcel => "导入格式错误，请导入 xls/xlsx 格式文件！".to_owned(),
            ImportError::Protected => "导入文件设有密码保护，请取消密码后再导入".to_owned(),
            ImportError::ContentTooLarge { limit_bytes } => format!(
                "导入文件解压后超过 {}，远超导入模板所需，请重新下载导入模板录入后再导入",
                unpacked_size_text(limit_bytes)
            ),
            ImportError::Unreadable { .. } => {
                "导入文件已损坏或无法读取，请用 Excel 打开并另存为 xlsx 格式后再导入".to_owned()
            }
            ImportError::WrongType { .. } => "证书类别不匹配，请下载当前证书类型的导入模板".to_owned(),
            ImportError::TooManyRows { limit, row } => format!(
                "导入文件最多 {limit} 行数据（第 {FIRST_DATA_ROW} 行至第 {} 行），第 {row} 行超出范围，请删减后再导入",
                last_data_row(limit)
            ),
            ImportError::TooManyColumns { limit, column } => {
                format!("导入文件最多 {limit} 列，{column} 列超出范围，请删除多余的列后再导入")
            }
            ImportError::NoRows => format!("导入文件中没有数据，请从第 {FIRST_DATA_ROW} 行起逐行录入后再导入"),
            ImportError::Invalid(errors) => format!("导入文件有 {} 处错误，请修改后重新导入", errors.len()),
        }
    }

    /// The message shown to a user reading English.
    pub fn message_en(&self) -> String {
        self.to_string()
    }
}

fn last_data_row(limit: &usize) -> u64 {
    u64::from(HEADER_ROWS) + *limit as u64
}

fn file_size_text(limit: &usize) -> String {
    size_text(*limit as u64)
}

fn unpacked_size_text(limit: &u64) -> String {
    size_text(*limit)
}

/// `4 MB`, `1500 KB`: a limit as people write it.
fn size_text(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    const KIB: u64 = 1 << 10;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MB", bytes / MIB)
    } else if bytes >= KIB {
        format!("{} KB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// The two file formats an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkbookKind {
    /// Excel 97–2003 binary workbook (BIFF in a compound file).
    Xls,
    /// Office Open XML workbook (a zip).
    Xlsx,
}

const CFB_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// What the upload is, judged by its name *and* its first bytes: the name
/// must end in `.xls` or `.xlsx`, the content must be a compound file or a
/// zip. Either content is accepted under either name, as Excel opens both.
/// The form checks this when a file is chosen, the import again on upload.
pub fn detect_kind(file_name: &str, bytes: &[u8]) -> Option<WorkbookKind> {
    let extension = Path::new(file_name).extension()?.to_str()?.to_ascii_lowercase();
    if extension != "xls" && extension != "xlsx" {
        return None;
    }
    if bytes.starts_with(&ZIP_MAGIC) {
        Some(WorkbookKind::Xlsx)
    } else if bytes.starts_with(&CFB_MAGIC) {
        Some(WorkbookKind::Xls)
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Template

/// The xlsx import template of `ty`'s table `table_id` (see the module
/// documentation for its layout).
pub fn template(ty: &DocType, table_id: &str) -> Result<Vec<u8>, ExcelError> {
    let table = ty
        .tables
        .get(table_id)
        .ok_or_else(|| ExcelError::UnknownTable { doctype: ty.id.clone(), table: table_id.to_owned() })?;
    if !table.excel_import {
        return Err(ExcelError::NotImportable { doctype: ty.id.clone(), table: table_id.to_owned() });
    }
    let marker = template_marker(&ty.id, table_id);

    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title(format!("{} — {}导入模板", ty.name.zh, table.label.zh))
            .set_subject(format!("{} — {} import template", ty.name.en_or_zh(), table.label.en_or_zh()))
            .set_keywords(marker.as_str()),
    );
    write_data_sheet(workbook.add_worksheet(), table)?;
    write_marker_sheet(workbook.add_worksheet(), &marker, table)?;
    // Ids are `[a-z0-9._-]`, so the marker needs no escaping in a formula string.
    workbook.define_name(MARKER_DEFINED_NAME, &format!("=\"{marker}\""))?;
    Ok(workbook.save_to_buffer()?)
}

fn write_data_sheet(sheet: &mut Worksheet, table: &Table) -> Result<(), rust_xlsxwriter::XlsxError> {
    sheet.set_name(data_sheet_name(&table.label.zh))?;
    for (index, field) in table.fields.values().enumerate() {
        let col = u16::try_from(index).unwrap_or(u16::MAX);
        let heading = heading_format(field.class);
        let mark = if field.required { "*" } else { "" };
        sheet.write_string_with_format(0, col, format!("{mark}{}", field.label.zh), &heading)?;
        sheet.write_string_with_format(1, col, format!("{mark}{}", field.label.en_or_zh()), &heading.set_italic())?;
        let note = Note::new(column_note(field)).add_author_prefix(false).set_width(360).set_height(180);
        sheet.insert_note(0, col, &note)?;
        if let Some(format) = column_format(field) {
            sheet.set_column_format(col, &format)?;
        }
        sheet.set_column_width(col, column_width(field))?;
    }
    sheet.set_freeze_panes(HEADER_ROWS, 0)?;
    Ok(())
}

fn heading_format(class: FieldClass) -> rust_xlsxwriter::Format {
    let fill = match class {
        FieldClass::Required => REQUIRED_FILL,
        FieldClass::Backfilled => BACKFILLED_FILL,
        FieldClass::Optional => OPTIONAL_FILL,
    };
    rust_xlsxwriter::Format::new()
        .set_bold()
        .set_background_color(Color::RGB(fill))
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter)
}

/// Text for text and dates, so Excel keeps `035` and `2024-04-12` as typed.
fn column_format(field: &Field) -> Option<rust_xlsxwriter::Format> {
    match field.field_type {
        FieldType::String | FieldType::Date => Some(rust_xlsxwriter::Format::new().set_num_format("@")),
        FieldType::Integer => Some(rust_xlsxwriter::Format::new().set_num_format("0")),
        FieldType::Number | FieldType::Boolean => None,
    }
}

fn column_width(field: &Field) -> f64 {
    // A Chinese character is about two Latin ones wide.
    let zh = field.label.zh.chars().count() * 2 + 4;
    let en = field.label.en_or_zh().chars().count() + 4;
    let floor = if field.field_type == FieldType::Date { 14 } else { 12 };
    zh.max(en).clamp(floor, 40) as f64
}

fn column_note(field: &Field) -> String {
    let mut zh = Vec::new();
    let mut en = Vec::new();
    if field.required {
        zh.push("必填。".to_owned());
        en.push("Required.".to_owned());
    }
    match field.field_type {
        FieldType::Date => {
            zh.push("日期格式 YYYY-MM-DD，如 2024-04-12。".to_owned());
            en.push("A date written YYYY-MM-DD, e.g. 2024-04-12.".to_owned());
        }
        FieldType::Integer => {
            zh.push("填写整数。".to_owned());
            en.push("A whole number.".to_owned());
        }
        FieldType::Number => {
            zh.push("填写数字。".to_owned());
            en.push("A number.".to_owned());
        }
        FieldType::Boolean => {
            zh.push("填写“是”或“否”。".to_owned());
            en.push("Yes or no.".to_owned());
        }
        FieldType::String => {}
    }
    if let Some(param) = &field.param {
        zh.push(format!("填写参数代码（参数表 {param}）。"));
        en.push(format!("Enter a code of parameter table {param}."));
    }
    if let Some(max) = field.max_bytes {
        zh.push(format!("最长 {max} 字节（一个汉字占 3 字节）。"));
        en.push(format!("At most {max} bytes."));
    }
    if let Some(max) = field.max_length {
        zh.push(format!("最多 {max} 个字符。"));
        en.push(format!("At most {max} characters."));
    }
    if let Some(hint) = &field.hint {
        zh.push(hint.zh.clone());
        en.push(hint.en_or_zh().to_owned());
    }
    format!("{}\n\n{}", zh.join(""), en.join(" "))
}

/// Excel sheet names: at most 31 characters, none of `[]:*?/\`, and not the
/// marker sheet's.
fn data_sheet_name(label: &str) -> String {
    let name: String = label.chars().map(|c| if "[]:*?/\\".contains(c) { '_' } else { c }).take(31).collect();
    let name = name.trim_matches('\'').trim().to_owned();
    if name.is_empty() || name.eq_ignore_ascii_case(MARKER_SHEET) { "data".to_owned() } else { name }
}

fn write_marker_sheet(sheet: &mut Worksheet, marker: &str, table: &Table) -> Result<(), rust_xlsxwriter::XlsxError> {
    sheet.set_name(MARKER_SHEET)?;
    sheet.write_string(0, 0, marker)?;
    sheet.write_string(1, 0, "此工作表供系统识别导入模板，请勿修改 / Identifies the import template: do not change")?;
    let headings =
        ["列 Column", "字段 Field", "中文名称", "English", "类型 Type", "必填 Required", "参数表 Parameter table"];
    for (col, heading) in (0u16..).zip(headings) {
        sheet.write_string(3, col, heading)?;
    }
    for (row, (index, field)) in (4u32..).zip(table.fields.values().enumerate()) {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        sheet.write_string(row, 0, column_letter(index))?;
        sheet.write_string(row, 1, &field.id)?;
        sheet.write_string(row, 2, &field.label.zh)?;
        sheet.write_string(row, 3, field.label.en_or_zh())?;
        sheet.write_string(row, 4, type_name(field.field_type))?;
        sheet.write_string(row, 5, if field.required { "yes" } else { "no" })?;
        sheet.write_string(row, 6, field.param.as_deref().unwrap_or(""))?;
    }
    sheet.set_very_hidden(true);
    Ok(())
}

fn type_name(field_type: FieldType) -> &'static str {
    match field_type {
        FieldType::String => "string",
        FieldType::Integer => "integer",
        FieldType::Number => "number",
        FieldType::Date => "date",
        FieldType::Boolean => "boolean",
    }
}

/// `0` → `A`, `25` → `Z`, `26` → `AA`.
fn column_letter(index: u32) -> String {
    let mut n = u64::from(index) + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = ((n - 1) % 26) as u8;
        letters.push(char::from(b'A' + rem));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

// ---------------------------------------------------------------------------
// Import

/// Reads a filled-in template of `ty`'s table `table_id` into its rows
/// (field id → value, in the table's field order), for the caller to
/// replace the table's lines with. See the module documentation for what is
/// checked here and in which order.
pub fn import(
    ty: &DocType,
    table_id: &str,
    file_name: &str,
    bytes: &[u8],
    limits: &ImportLimits,
) -> Result<Vec<Map<String, Value>>, ImportError> {
    let table = ty.tables.get(table_id).ok_or_else(|| ImportError::UnknownTable { table: table_id.to_owned() })?;
    if !table.excel_import {
        return Err(ImportError::NotImportable { table: table_id.to_owned() });
    }
    if bytes.len() > limits.max_bytes {
        return Err(ImportError::FileTooLarge { limit_bytes: limits.max_bytes });
    }
    let kind = detect_kind(file_name, bytes).ok_or(ImportError::NotExcel)?;
    let row_limit = match table.max_rows {
        Some(table_max) => limits.max_rows.min(table_max as usize),
        None => limits.max_rows,
    };
    let bounds = SheetBounds { row_limit, column_limit: limits.max_columns };
    let expected = template_marker(&ty.id, table_id);

    let sheet = catch_parser_panic(|| {
        let mut workbook = OpenWorkbook::open(kind, bytes, limits, &bounds)?;
        check_marker(&expected, workbook.markers())?;
        workbook.data_cells(&bounds)
    })?;
    rows_from_cells(table, &sheet)
}

/// The parsers are third-party code fed hostile bytes: a panic there must
/// become a refusal, not take the request (or the server) down.
fn catch_parser_panic<T>(read: impl FnOnce() -> Result<T, ImportError>) -> Result<T, ImportError> {
    panic::catch_unwind(AssertUnwindSafe(read)).unwrap_or_else(|payload| {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "parser panicked".to_owned());
        Err(ImportError::Unreadable { detail })
    })
}

fn check_marker(expected: &str, found: Vec<String>) -> Result<(), ImportError> {
    if found.is_empty() {
        return Err(ImportError::WrongType { found: None });
    }
    match found.into_iter().find(|marker| marker != expected) {
        Some(other) => Err(ImportError::WrongType { found: Some(other) }),
        None => Ok(()),
    }
}

/// Where non-empty cells may be: rows up to the last allowed data row,
/// columns up to the column limit (0-based indices).
#[derive(Debug, Clone, Copy)]
struct SheetBounds {
    row_limit: usize,
    column_limit: usize,
}

impl SheetBounds {
    fn check(&self, row: u64, col: u64) -> Result<(), ImportError> {
        if row >= u64::from(HEADER_ROWS) + self.row_limit as u64 {
            return Err(ImportError::TooManyRows { limit: self.row_limit, row: row + 1 });
        }
        if col >= self.column_limit as u64 {
            let column = u32::try_from(col).map(column_letter).unwrap_or_else(|_| col.to_string());
            return Err(ImportError::TooManyColumns { limit: self.column_limit, column });
        }
        Ok(())
    }
}

/// One non-empty cell, as read.
#[derive(Debug, Clone, PartialEq)]
enum CellValue {
    /// Trimmed, never empty.
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A cell Excel knows as a date (time of day dropped).
    Date {
        year: u16,
        month: u8,
        day: u8,
    },
    /// `#N/A`, `#VALUE!` …
    Error(String),
}

impl CellValue {
    fn from_data(data: &Data) -> Option<Self> {
        match data {
            Data::Empty => None,
            Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => {
                let trimmed = s.trim();
                (!trimmed.is_empty()).then(|| CellValue::Text(trimmed.to_owned()))
            }
            Data::Int(i) => Some(CellValue::Int(*i)),
            Data::Float(f) => Some(CellValue::Float(*f)),
            Data::Bool(b) => Some(CellValue::Bool(*b)),
            Data::DateTime(dt) => Some(Self::from_excel_datetime(dt)),
            Data::Error(e) => Some(CellValue::Error(e.to_string())),
        }
    }

    fn from_excel_datetime(dt: &ExcelDateTime) -> Self {
        let serial = dt.as_f64();
        // Below 1 is a time of day; from 2958466 on is past 9999-12-31.
        if dt.is_duration() || !(1.0..2_958_466.0).contains(&serial) {
            return CellValue::Float(serial);
        }
        let (year, month, day, ..) = dt.to_ymd_hms_milli();
        CellValue::Date { year, month, day }
    }

    /// The whole text of a cell (markers, headings, text fields).
    fn shown_full(&self) -> String {
        match self {
            CellValue::Text(s) => s.clone(),
            CellValue::Int(i) => i.to_string(),
            CellValue::Float(f) => float_text(*f),
            CellValue::Bool(true) => "TRUE".to_owned(),
            CellValue::Bool(false) => "FALSE".to_owned(),
            CellValue::Date { year, month, day } => format!("{year:04}-{month:02}-{day:02}"),
            CellValue::Error(e) => e.clone(),
        }
    }

    /// The cell as quoted back in a message, cut short.
    fn shown(&self) -> String {
        let text = self.shown_full();
        if text.chars().count() > MAX_QUOTED_CHARS {
            let mut cut: String = text.chars().take(MAX_QUOTED_CHARS).collect();
            cut.push('…');
            cut
        } else {
            text
        }
    }
}

/// A number as text without a spurious `.0`: `5400`, `3200.5`.
fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { format!("{f}") }
}

/// The non-empty cells of the data sheet by (row, column), 0-based.
#[derive(Debug, Default)]
struct SheetCells {
    rows: BTreeMap<u32, BTreeMap<u32, CellValue>>,
}

impl SheetCells {
    fn insert(&mut self, row: u32, col: u32, value: CellValue) {
        self.rows.entry(row).or_default().insert(col, value);
    }
}

enum OpenWorkbook<'a> {
    Xlsx(Xlsx<Cursor<&'a [u8]>>),
    Xls(Xls<Cursor<&'a [u8]>>),
}

impl<'a> OpenWorkbook<'a> {
    fn open(
        kind: WorkbookKind,
        bytes: &'a [u8],
        limits: &ImportLimits,
        bounds: &SheetBounds,
    ) -> Result<Self, ImportError> {
        match kind {
            WorkbookKind::Xlsx => {
                check_zip(bytes, limits)?;
                let xlsx = Xlsx::new(Cursor::new(bytes)).map_err(|e| match e {
                    XlsxError::Password => ImportError::Protected,
                    // A zip that is not a workbook (a renamed docx, a zip of anything).
                    _ => ImportError::NotExcel,
                })?;
                Ok(OpenWorkbook::Xlsx(xlsx))
            }
            WorkbookKind::Xls => {
                prescan_xls(bytes, bounds)?;
                let xls = Xls::new(Cursor::new(bytes)).map_err(|e| match e {
                    XlsError::Password => ImportError::Protected,
                    XlsError::Cfb(_) => ImportError::NotExcel,
                    other => unreadable(other),
                })?;
                Ok(OpenWorkbook::Xls(xls))
            }
        }
    }

    fn markers(&mut self) -> Vec<String> {
        let mut markers = Vec::new();
        let defined = match self {
            OpenWorkbook::Xlsx(book) => marker_from_defined_names(book.defined_names()),
            OpenWorkbook::Xls(book) => marker_from_defined_names(book.defined_names()),
        };
        markers.extend(defined);
        let in_sheet = match self {
            OpenWorkbook::Xlsx(book) => xlsx_marker_cell(book),
            OpenWorkbook::Xls(book) => xls_marker_cell(book),
        };
        markers.extend(in_sheet);
        markers
    }

    /// The data sheet: the first worksheet that is not the marker sheet.
    fn first_data_sheet(&self) -> Option<String> {
        let sheets = match self {
            OpenWorkbook::Xlsx(book) => book.sheets_metadata(),
            OpenWorkbook::Xls(book) => book.sheets_metadata(),
        };
        sheets
            .iter()
            .find(|sheet| sheet.typ == SheetType::WorkSheet && !sheet.name.eq_ignore_ascii_case(MARKER_SHEET))
            .map(|sheet| sheet.name.clone())
    }

    fn data_cells(&mut self, bounds: &SheetBounds) -> Result<SheetCells, ImportError> {
        let name = self.first_data_sheet().ok_or(ImportError::NoRows)?;
        let mut cells = SheetCells::default();
        match self {
            OpenWorkbook::Xlsx(book) => {
                // Streamed so that a sheet too large is refused at its first
                // cell out of bounds, without building a grid.
                let mut reader = book.worksheet_cells_reader(&name).map_err(unreadable)?;
                while let Some(cell) = reader.next_cell().map_err(unreadable)? {
                    let (row, col) = cell.get_position();
                    let Some(value) = CellValue::from_data(&Data::from(cell.get_value().clone())) else {
                        continue;
                    };
                    bounds.check(u64::from(row), u64::from(col))?;
                    cells.insert(row, col, value);
                }
            }
            OpenWorkbook::Xls(book) => {
                let range = book.worksheet_range(&name).map_err(unreadable)?;
                let (top, left) = range.start().unwrap_or((0, 0));
                for (row, col, data) in range.used_cells() {
                    let Some(value) = CellValue::from_data(data) else { continue };
                    let (row, col) = (u64::from(top) + row as u64, u64::from(left) + col as u64);
                    bounds.check(row, col)?;
                    // Within bounds, so both fit in u32.
                    cells.insert(row as u32, col as u32, value);
                }
            }
        }
        Ok(cells)
    }
}

fn unreadable(error: impl std::fmt::Display) -> ImportError {
    ImportError::Unreadable { detail: error.to_string() }
}

fn marker_from_defined_names(names: &[(String, String)]) -> Option<String> {
    let (_, formula) = names.iter().find(|(name, _)| name.eq_ignore_ascii_case(MARKER_DEFINED_NAME))?;
    let value = formula.trim().trim_start_matches('=').trim().trim_matches('"');
    Some(value.to_owned())
}

fn xlsx_marker_cell(book: &mut Xlsx<Cursor<&[u8]>>) -> Option<String> {
    let name = book.sheet_names().into_iter().find(|name| name.eq_ignore_ascii_case(MARKER_SHEET))?;
    let mut reader = book.worksheet_cells_reader(&name).ok()?;
    // A1 comes first; stop at the first cell past row 1, whatever else the
    // sheet holds.
    while let Ok(Some(cell)) = reader.next_cell() {
        match cell.get_position() {
            (0, 0) => return CellValue::from_data(&Data::from(cell.get_value().clone())).map(|v| v.shown_full()),
            (0, _) => continue,
            _ => return None,
        }
    }
    None
}

fn xls_marker_cell(book: &mut Xls<Cursor<&[u8]>>) -> Option<String> {
    let name = book.sheet_names().into_iter().find(|name| name.eq_ignore_ascii_case(MARKER_SHEET))?;
    let range = book.worksheet_range(&name).ok()?;
    CellValue::from_data(range.get_value((0, 0))?).map(|v| v.shown_full())
}

/// Refuses zip bombs before the workbook reader inflates anything: the
/// declared uncompressed sizes must fit the limit (the zip reader then
/// refuses to inflate an entry past its declared size).
fn check_zip(bytes: &[u8], limits: &ImportLimits) -> Result<(), ImportError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|_| ImportError::NotExcel)?;
    let too_large = ImportError::ContentTooLarge { limit_bytes: limits.max_unpacked_bytes };
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(too_large);
    }
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(|_| ImportError::NotExcel)?;
        if entry.encrypted() {
            return Err(ImportError::Protected);
        }
        total = total.saturating_add(entry.size());
        if total > limits.max_unpacked_bytes {
            return Err(too_large);
        }
    }
    Ok(())
}

/// BIFF record types that place a value cell: row and first column in the
/// record's first four bytes.
const XLS_CELL_RECORDS: [u16; 7] = [
    0x0006, // Formula
    0x00D6, // RString
    0x00FD, // LabelSst
    0x0203, // Number
    0x0204, // Label
    0x0205, // BoolErr
    0x027E, // Rk
];
const XLS_MUL_RK: u16 = 0x00BD;
const XLS_DIMENSIONS: u16 = 0x0200;

/// The xls reader turns each sheet into a dense grid spanning its cells and
/// reserves room for the declared dimensions, both before we see a cell: walk
/// the workbook stream's records first and refuse a file whose value cells or
/// dimensions lie beyond the bounds (or whose dimensions would overflow).
fn prescan_xls(bytes: &[u8], bounds: &SheetBounds) -> Result<(), ImportError> {
    let mut compound = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|_| ImportError::NotExcel)?;
    if compound.is_stream("EncryptedPackage") {
        // A password-protected xlsx travels inside a compound file.
        return Err(ImportError::Protected);
    }
    let stream_name =
        ["Workbook", "Book"].into_iter().find(|name| compound.is_stream(name)).ok_or(ImportError::NotExcel)?;
    let mut stream = Vec::new();
    compound
        .open_stream(stream_name)
        .and_then(|s| s.take(bytes.len() as u64).read_to_end(&mut stream))
        .map_err(unreadable)?;

    let mut rest = stream.as_slice();
    while rest.len() >= 4 {
        let record_type = u16::from_le_bytes([rest[0], rest[1]]);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]]));
        let Some(data) = rest.get(4..4 + len) else { break };
        rest = &rest[4 + len..];
        let u16_at = |at: usize| data.get(at..at + 2).map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])));
        match record_type {
            t if XLS_CELL_RECORDS.contains(&t) => {
                if let (Some(row), Some(col)) = (u16_at(0), u16_at(2)) {
                    bounds.check(row, col)?;
                }
            }
            XLS_MUL_RK => {
                if let (Some(row), Some(first), Some(last)) = (u16_at(0), u16_at(2), u16_at(len.saturating_sub(2))) {
                    bounds.check(row, first.max(last))?;
                }
            }
            XLS_DIMENSIONS => check_xls_dimensions(data, bounds)?,
            _ => {}
        }
    }
    Ok(())
}

/// Mirrors the reader's reading of a DIMENSIONS record (first row, last
/// row plus one, first column, last column plus one) and refuses what it
/// could not allocate or would underflow on.
fn check_xls_dimensions(data: &[u8], bounds: &SheetBounds) -> Result<(), ImportError> {
    let u16_at = |at: usize| u64::from(u16::from_le_bytes([data[at], data[at + 1]]));
    let u32_at = |at: usize| u64::from(u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]));
    let (first_row, row_end, mut first_col, col_end) = match data.len() {
        10 => (u16_at(0), u16_at(2), u16_at(4), u16_at(6)),
        14 | 16 => (u32_at(0), u32_at(4), u16_at(8), u16_at(10)),
        // The reader refuses other lengths itself.
        _ => return Ok(()),
    };
    if first_col > 0xFF || col_end < first_col {
        first_col = 0;
    }
    if row_end == 0 || col_end == 0 {
        return Ok(());
    }
    let (last_row, last_col) = (row_end - 1, col_end - 1);
    if last_row < first_row || last_col < first_col {
        return Err(ImportError::Unreadable { detail: "xls DIMENSIONS record with an empty range".to_owned() });
    }
    let declared = (last_row - first_row + 1).saturating_mul(last_col - first_col + 1);
    if declared > MAX_XLS_DECLARED_CELLS {
        // Name the first place out of bounds, as for a cell.
        bounds.check(last_row, 0)?;
        bounds.check(0, last_col)?;
        return Err(ImportError::TooManyRows { limit: bounds.row_limit, row: last_row + 1 });
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Cells to rows

/// A column of the sheet matched to a field.
struct Column<'t> {
    index: u32,
    field: &'t Field,
}

fn rows_from_cells(table: &Table, sheet: &SheetCells) -> Result<Vec<Map<String, Value>>, ImportError> {
    let mut errors = Vec::new();
    let heading_row = sheet.rows.get(&0);
    let columns = match_columns(table, heading_row, sheet, &mut errors);

    let mut data_rows = sheet.rows.range(1..).peekable();
    if let Some(&(&1, cells)) = data_rows.peek()
        && is_english_heading_row(cells, &columns)
    {
        data_rows.next();
    }

    let mut rows = Vec::new();
    for (&row, cells) in data_rows {
        let line = rows.len() + 1;
        rows.push(convert_row(table, &columns, row, line, cells, &mut errors));
    }

    if rows.is_empty() && errors.is_empty() {
        return Err(ImportError::NoRows);
    }
    if errors.is_empty() {
        return Ok(rows);
    }
    if errors.len() > MAX_REPORTED_ERRORS {
        let more = errors.len() - MAX_REPORTED_ERRORS;
        errors.truncate(MAX_REPORTED_ERRORS);
        errors.push(FieldError::new(
            table.id.as_str(),
            "excel.more_errors",
            format!("另有 {more} 处错误未列出，请先修改以上错误"),
            format!("{more} more problem(s) not listed: correct the ones above first"),
        ));
    }
    Err(ImportError::Invalid(errors))
}

/// Matches row 1's headings to the table's fields. Headings that name no
/// field, repeated headings, data under no heading and required fields with
/// no column are reported against the table.
fn match_columns<'t>(
    table: &'t Table,
    heading_row: Option<&BTreeMap<u32, CellValue>>,
    sheet: &SheetCells,
    errors: &mut Vec<FieldError>,
) -> Vec<Column<'t>> {
    let mut columns: Vec<Column<'t>> = Vec::new();
    let empty = BTreeMap::new();
    for (&index, heading) in heading_row.unwrap_or(&empty) {
        let text = heading.shown_full();
        let letter = column_letter(index);
        let Some(field) = field_for_heading(table, &text) else {
            errors.push(FieldError::new(
                table.id.as_str(),
                "excel.column",
                format!(
                    "第 1 行 {letter} 列的列名“{}”不是「{}」的字段，请使用导入模板的表头",
                    heading.shown(),
                    table.label.zh
                ),
                format!(
                    "Row 1, column {letter}: \"{}\" is not a column of {}: keep the template's headings",
                    heading.shown(),
                    table.label.en_or_zh()
                ),
            ));
            continue;
        };
        if let Some(first) = columns.iter().find(|c| c.field.id == field.id) {
            let first_letter = column_letter(first.index);
            errors.push(FieldError::new(
                table.id.as_str(),
                "excel.column",
                format!("第 1 行 {first_letter} 列与 {letter} 列都是「{}」，请删除重复的列", field.label.zh),
                format!(
                    "Row 1: columns {first_letter} and {letter} are both {}: delete one of them",
                    field.label.en_or_zh()
                ),
            ));
            continue;
        }
        columns.push(Column { index, field });
    }

    // Data where no heading says what it is would be silently dropped.
    let headed: BTreeSet<u32> = heading_row.map(|r| r.keys().copied().collect()).unwrap_or_default();
    let mut unheaded: BTreeMap<u32, u32> = BTreeMap::new();
    for (&row, cells) in sheet.rows.range(1..) {
        for &col in cells.keys().filter(|col| !headed.contains(col)) {
            unheaded.entry(col).or_insert(row);
        }
    }
    for (col, row) in unheaded {
        let letter = column_letter(col);
        let excel_row = row + 1;
        errors.push(FieldError::new(
            table.id.as_str(),
            "excel.column",
            format!("第 {excel_row} 行 {letter} 列有数据，但第 1 行该列没有列名，请使用导入模板的表头"),
            format!(
                "Row {excel_row}, column {letter} holds data under no heading in row 1: keep the template's headings"
            ),
        ));
    }

    for field in table.fields.values().filter(|f| f.required) {
        if !columns.iter().any(|c| c.field.id == field.id) {
            errors.push(FieldError::new(
                table.id.as_str(),
                "excel.column",
                format!("导入文件缺少必填列「{}」，请使用当前证书类型的导入模板", field.label.zh),
                format!(
                    "The file has no column {} which is required: use the import template of this certificate type",
                    field.label.en_or_zh()
                ),
            ));
        }
    }
    columns
}

/// A heading without its required mark and blanks, compared with the
/// field's Chinese label, English label (any case) or id.
fn field_for_heading<'t>(table: &'t Table, heading: &str) -> Option<&'t Field> {
    let heading = bare_heading(heading);
    if heading.is_empty() {
        return None;
    }
    table.fields.values().find(|field| heading_names(field, heading))
}

fn bare_heading(heading: &str) -> &str {
    const MARKS: [char; 2] = ['*', '＊'];
    heading.trim().trim_matches(MARKS).trim()
}

fn heading_names(field: &Field, heading: &str) -> bool {
    heading == field.label.zh
        || heading.eq_ignore_ascii_case(field.label.en_or_zh())
        || heading.eq_ignore_ascii_case(&field.id)
}

/// Row 2 of a template repeats the headings in English.
fn is_english_heading_row(cells: &BTreeMap<u32, CellValue>, columns: &[Column<'_>]) -> bool {
    !cells.is_empty()
        && cells.iter().all(|(col, value)| {
            columns.iter().find(|c| c.index == *col).is_some_and(|c| {
                let CellValue::Text(text) = value else { return false };
                heading_names(c.field, bare_heading(text))
            })
        })
}

/// Where a cell is, for messages and paths.
struct CellPlace<'a> {
    table: &'a Table,
    field: &'a Field,
    /// Excel row number (1-based).
    excel_row: u32,
    column: String,
    line: usize,
}

impl CellPlace<'_> {
    fn error(&self, code: &str, zh: impl std::fmt::Display, en: impl std::fmt::Display) -> FieldError {
        let Self { table, field, excel_row, column, line } = self;
        FieldError::new(
            format!("{}/{line}/{}", table.id, field.id),
            code,
            format!("第 {excel_row} 行 {column} 列「{}」{zh}", field.label.zh),
            format!("Row {excel_row}, column {column} ({}) {en}", field.label.en_or_zh()),
        )
    }
}

fn convert_row(
    table: &Table,
    columns: &[Column<'_>],
    row: u32,
    line: usize,
    cells: &BTreeMap<u32, CellValue>,
    errors: &mut Vec<FieldError>,
) -> Map<String, Value> {
    let mut values: BTreeMap<&str, Value> = BTreeMap::new();
    for column in columns {
        let place =
            CellPlace { table, field: column.field, excel_row: row + 1, column: column_letter(column.index), line };
        match cells.get(&column.index) {
            Some(cell) => match convert_cell(&place, cell) {
                Ok(value) => {
                    values.insert(column.field.id.as_str(), value);
                }
                Err(error) => errors.push(error),
            },
            None if column.field.required => {
                errors.push(place.error("required", "为必填项，请录入", "is required: enter a value"));
            }
            None => {}
        }
    }
    // The table's field order, whatever the sheet's column order.
    table.fields.keys().filter_map(|id| values.remove(id.as_str()).map(|v| (id.clone(), v))).collect()
}

fn convert_cell(place: &CellPlace<'_>, cell: &CellValue) -> Result<Value, FieldError> {
    let field = place.field;
    if let CellValue::Error(e) = cell {
        return Err(place.error(
            "type",
            format!("的单元格是 Excel 错误值 {e}，请改为有效的值"),
            format!("holds the Excel error {e}: enter a proper value"),
        ));
    }
    let is_date = field.field_type == FieldType::Date || field.format == Some(Format::Date);
    if is_date {
        return cell_date(cell).map(Value::String).ok_or_else(|| {
            place.error(
                "format.date",
                format!("“{}”不是有效日期，请按 YYYY-MM-DD 填写（如 2024-04-12）", cell.shown()),
                format!("\"{}\" is not a valid date: write it YYYY-MM-DD (e.g. 2024-04-12)", cell.shown()),
            )
        });
    }
    match field.field_type {
        FieldType::String | FieldType::Date => {
            let text = cell_text(cell);
            check_text(place, &text)?;
            Ok(Value::String(text))
        }
        FieldType::Integer => cell_integer(cell).map(Value::from).ok_or_else(|| {
            place.error(
                "type",
                format!("应为整数，“{}”不是整数", cell.shown()),
                format!("must be a whole number, not \"{}\"", cell.shown()),
            )
        }),
        FieldType::Number => cell_number(cell).ok_or_else(|| {
            place.error(
                "type",
                format!("应为数字，“{}”不是数字", cell.shown()),
                format!("must be a number, not \"{}\"", cell.shown()),
            )
        }),
        FieldType::Boolean => cell_bool(cell).map(Value::Bool).ok_or_else(|| {
            place.error(
                "type",
                format!("应为“是”或“否”，当前为“{}”", cell.shown()),
                format!("must be yes or no, not \"{}\"", cell.shown()),
            )
        }),
    }
}

fn cell_text(cell: &CellValue) -> String {
    match cell {
        CellValue::Text(s) => s.clone(),
        // A code typed into a general cell arrives as a number.
        other => other.shown_full(),
    }
}

/// Length and the built-in formats, as the schema would check them, but
/// with the cell named.
fn check_text(place: &CellPlace<'_>, text: &str) -> Result<(), FieldError> {
    let field = place.field;
    let chars = text.chars().count();
    if let Some(max) = field.max_length
        && chars > max as usize
    {
        return Err(place.error(
            "max_length",
            format!("最多 {max} 个字符（当前 {chars} 个），请删减"),
            format!("takes at most {max} characters (now {chars}): shorten it"),
        ));
    }
    let bytes = checks::byte_len(text);
    if let Some(max) = field.max_bytes
        && bytes > max as usize
    {
        return Err(place.error(
            "max_bytes",
            format!("最长 {max} 字节（当前 {bytes} 字节，一个汉字占 3 字节），请删减"),
            format!("takes at most {max} bytes (now {bytes}; a Chinese character takes 3): shorten it"),
        ));
    }
    let shown = || CellValue::Text(text.to_owned()).shown();
    // Dates are read (and checked) as dates before this.
    let wrong = field.format.filter(|f| *f != Format::Date && !f.accepts(text));
    if let Some(format) = wrong {
        let (zh, en) = format.problem();
        return Err(place.error(
            &format!("format.{}", format.name()),
            format!("“{}”{zh}", shown()),
            format!("\"{}\" {en}", shown()),
        ));
    }
    Ok(())
}

/// Excel date cells, and text dates: `2024-04-12`, `2024/4/12`,
/// `2024.04.12`, `20240412`, `2024年4月12日`, with any time after a space or
/// `T` ignored.
fn cell_date(cell: &CellValue) -> Option<String> {
    let text = match cell {
        CellValue::Date { year, month, day } => format!("{year:04}-{month:02}-{day:02}"),
        CellValue::Text(s) => text_date(s)?,
        CellValue::Int(i) => text_date(&i.to_string())?,
        CellValue::Float(f) if f.fract() == 0.0 => text_date(&float_text(*f))?,
        _ => return None,
    };
    checks::date_valid(&text).then_some(text)
}

fn text_date(text: &str) -> Option<String> {
    let date = text.trim().split([' ', 'T']).next()?;
    let date = date.replace(['年', '月'], "-").replace('日', "");
    let parts: Vec<&str> = if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) {
        vec![&date[..4], &date[4..6], &date[6..]]
    } else {
        date.split(['-', '/', '.']).collect()
    };
    let [year, month, day] = parts.as_slice() else { return None };
    let digits = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok())?
    };
    if year.len() != 4 {
        return None;
    }
    let (year, month, day) = (digits(year, 4)?, digits(month, 2)?, digits(day, 2)?);
    Some(format!("{year:04}-{month:02}-{day:02}"))
}

fn cell_integer(cell: &CellValue) -> Option<i64> {
    match cell {
        CellValue::Int(i) => Some(*i),
        CellValue::Float(f) => float_as_integer(*f),
        CellValue::Text(s) => s.parse::<i64>().ok().or_else(|| parse_decimal(s).and_then(float_as_integer)),
        _ => None,
    }
}

/// Integral floats within the range JSON readers keep exact.
fn float_as_integer(f: f64) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    (f.fract() == 0.0 && f.abs() <= EXACT).then_some(f as i64)
}

/// Whole numbers as JSON integers (5400, not 5400.0), so an imported line
/// equals one typed into the form.
fn cell_number(cell: &CellValue) -> Option<Value> {
    let number = match cell {
        CellValue::Int(i) => return Some(Value::from(*i)),
        CellValue::Float(f) => *f,
        CellValue::Text(s) => parse_decimal(s)?,
        _ => return None,
    };
    match float_as_integer(number) {
        Some(i) => Some(Value::from(i)),
        None => Number::from_f64(number).map(Value::Number),
    }
}

/// Plain decimal notation only: `12`, `-3.5`, `1.2e3`; not `inf`, `NaN`
/// or `1,000` (a thousands separator in one locale is a decimal point in
/// another).
fn parse_decimal(text: &str) -> Option<f64> {
    let plain = text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    if !plain || !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn cell_bool(cell: &CellValue) -> Option<bool> {
    match cell {
        CellValue::Bool(b) => Some(*b),
        CellValue::Int(1) => Some(true),
        CellValue::Int(0) => Some(false),
        CellValue::Float(f) if *f == 1.0 => Some(true),
        CellValue::Float(f) if *f == 0.0 => Some(false),
        CellValue::Text(s) => match s.to_lowercase().as_str() {
            "是" | "true" | "yes" | "y" | "1" => Some(true),
            "否" | "false" | "no" | "n" | "0" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn text_dates() {
        let date = |s: &str| cell_date(&CellValue::Text(s.to_owned()));
        assert_eq!(date("2024-04-12").as_deref(), Some("2024-04-12"));
        assert_eq!(date("2024/4/2").as_deref(), Some("2024-04-02"));
        assert_eq!(date("2024.04.12").as_deref(), Some("2024-04-12"));
        assert_eq!(date("20240412").as_deref(), Some("2024-04-12"));
        assert_eq!(date("2024年4月12日").as_deref(), Some("2024-04-12"));
        assert_eq!(date("2024-04-12 08:30:00").as_deref(), Some("2024-04-12"));
        assert_eq!(date("2024-04-12T00:00:00").as_deref(), Some("2024-04-12"));
        assert_eq!(date("2023-02-29"), None);
        assert_eq!(date("2024-13-01"), None);
        assert_eq!(date("24-04-12"), None);
        assert_eq!(date("soon"), None);
        assert_eq!(cell_date(&CellValue::Int(20240412)).as_deref(), Some("2024-04-12"));
    }

    #[test]
    fn numbers() {
        assert_eq!(cell_number(&CellValue::Float(5400.0)), Some(Value::from(5400)));
        assert_eq!(cell_number(&CellValue::Float(3200.5)), Some(Value::from(3200.5)));
        assert_eq!(cell_number(&CellValue::Text("12.25".into())), Some(Value::from(12.25)));
        assert_eq!(cell_number(&CellValue::Text("inf".into())), None);
        assert_eq!(cell_number(&CellValue::Text("NaN".into())), None);
        assert_eq!(cell_number(&CellValue::Text("1,000".into())), None);
        assert_eq!(cell_integer(&CellValue::Text("730".into())), Some(730));
        assert_eq!(cell_integer(&CellValue::Text("730.0".into())), Some(730));
        assert_eq!(cell_integer(&CellValue::Float(1.5)), None);
        assert_eq!(cell_text(&CellValue::Float(1101000213.0)), "1101000213");
    }

    #[test]
    fn headings() {
        assert_eq!(bare_heading(" *货物品名 "), "货物品名");
        assert_eq!(bare_heading("＊Goods name"), "Goods name");
    }

    #[test]
    fn sizes() {
        assert_eq!(size_text(4 << 20), "4 MB");
        assert_eq!(size_text(1500), "1 KB");
    }
}
