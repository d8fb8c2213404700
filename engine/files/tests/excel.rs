//! Excel templates and imports, driven by the shipped bundle's goods tables.

use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use calamine::{Data, Reader, SheetVisible, Xlsx};
use certflow_core::{CompiledBundle, DocType, FieldError};
use certflow_files::excel::{
    self, FIRST_DATA_ROW, ImportError, ImportLimits, MARKER_DEFINED_NAME, MARKER_SHEET, WorkbookKind,
};
use serde_json::{Map, Value, json};

static BUNDLE: LazyLock<CompiledBundle> = LazyLock::new(|| {
    certflow_core::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).expect("the shipped bundle loads")
});

fn doctype(id: &str) -> &'static DocType {
    BUNDLE.doctype(id).unwrap_or_else(|| panic!("the bundle defines {id}"))
}

fn import(ty: &str, file_name: &str, bytes: &[u8]) -> Result<Vec<Map<String, Value>>, ImportError> {
    excel::import(doctype(ty), "goods", file_name, bytes, &ImportLimits::default())
}

fn template(ty: &str) -> Vec<u8> {
    excel::template(doctype(ty), "goods").expect("template")
}

/// A value typed into a cell.
#[derive(Debug, Clone)]
enum In {
    Text(&'static str),
    Owned(String),
    Number(f64),
    Empty,
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        letters.push(char::from(b'A' + ((n - 1) % 26) as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

/// Sheet XML rows, from Excel row `first_row` on.
fn rows_xml(first_row: u32, rows: &[Vec<In>]) -> String {
    let mut xml = String::new();
    for (row, cells) in (first_row..).zip(rows) {
        xml.push_str(&format!("<row r=\"{row}\">"));
        for (col, cell) in cells.iter().enumerate() {
            let at = format!("{}{row}", column_letter(col));
            match cell {
                In::Text(text) => xml.push_str(&format!(
                    "<c r=\"{at}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">{}</t></is></c>",
                    xml_escape(text)
                )),
                In::Owned(text) => xml.push_str(&format!(
                    "<c r=\"{at}\" t=\"inlineStr\"><is><t xml:space=\"preserve\">{}</t></is></c>",
                    xml_escape(text)
                )),
                In::Number(n) => xml.push_str(&format!("<c r=\"{at}\"><v>{n}</v></c>")),
                In::Empty => {}
            }
        }
        xml.push_str("</row>");
    }
    xml
}

/// Rewrites every part of an xlsx through `edit` (part name, content).
fn rewrite_xlsx(xlsx: &[u8], mut edit: impl FnMut(&str, Vec<u8>) -> Vec<u8>) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(xlsx)).expect("xlsx is a zip");
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).expect("entry");
        let name = entry.name().expect("entry name").into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).expect("read entry");
        out.start_file(name.as_str(), options).expect("start entry");
        out.write_all(&edit(&name, content)).expect("write entry");
    }
    out.finish().expect("finish zip").into_inner()
}

/// The template with rows typed in from row 3, as a user fills it.
fn fill_template(template: &[u8], rows: &[Vec<In>]) -> Vec<u8> {
    fill_template_from(template, FIRST_DATA_ROW, rows)
}

fn fill_template_from(template: &[u8], first_row: u32, rows: &[Vec<In>]) -> Vec<u8> {
    let added = rows_xml(first_row, rows);
    rewrite_xlsx(template, |name, content| {
        if name != "xl/worksheets/sheet1.xml" {
            return content;
        }
        let xml = String::from_utf8(content).expect("sheet xml is utf-8");
        assert!(xml.contains("</sheetData>"), "template sheet has rows");
        xml.replacen("</sheetData>", &format!("{added}</sheetData>"), 1).into_bytes()
    })
}

/// The cells of a row as the user would type `values` (field id → value) into
/// the template's columns.
fn row_for(ty: &DocType, values: &Map<String, Value>) -> Vec<In> {
    ty.tables["goods"]
        .fields
        .keys()
        .map(|id| match values.get(id) {
            None | Some(Value::Null) => In::Empty,
            Some(Value::String(s)) => In::Owned(s.clone()),
            Some(Value::Number(n)) => In::Number(n.as_f64().expect("finite")),
            Some(other) => panic!("unexpected sample value {other}"),
        })
        .collect()
}

fn sample_goods(ty: &DocType) -> Vec<Map<String, Value>> {
    let sample = ty.sample.as_ref().expect("the type ships a sample");
    sample["goods"]
        .as_array()
        .expect("sample goods")
        .iter()
        .map(|row| row.as_object().expect("a goods line is an object").clone())
        .collect()
}

fn invalid(result: Result<Vec<Map<String, Value>>, ImportError>) -> Vec<FieldError> {
    match result {
        Err(ImportError::Invalid(errors)) => errors,
        other => panic!("expected row errors, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------

#[test]
fn template_has_headings_in_field_order_and_a_hidden_marker() {
    let ty = doctype("import-food");
    let bytes = template("import-food");
    let mut book = Xlsx::new(Cursor::new(bytes)).expect("the template opens");

    let sheets = book.sheets_metadata().to_vec();
    assert_eq!(sheets.len(), 2);
    assert_eq!(sheets[0].name, "商品信息");
    assert_eq!(sheets[0].visible, SheetVisible::Visible);
    assert_eq!(sheets[1].name, MARKER_SHEET);
    assert_eq!(sheets[1].visible, SheetVisible::VeryHidden);

    let marker = excel::template_marker("import-food", "goods");
    assert!(
        book.defined_names().iter().any(|(name, value)| name == MARKER_DEFINED_NAME && value.contains(&marker)),
        "defined names: {:?}",
        book.defined_names()
    );
    let hidden = book.worksheet_range(MARKER_SHEET).expect("marker sheet");
    assert_eq!(hidden.get_value((0, 0)), Some(&Data::String(marker)));

    let data = book.worksheet_range("商品信息").expect("data sheet");
    let fields: Vec<_> = ty.tables["goods"].fields.values().collect();
    assert_eq!(data.width(), fields.len());
    assert_eq!(data.height(), 2, "two heading rows, no data");
    for (col, field) in fields.iter().enumerate() {
        let mark = if field.required { "*" } else { "" };
        assert_eq!(data.get((0, col)), Some(&Data::String(format!("{mark}{}", field.label.zh))));
        assert_eq!(data.get((1, col)), Some(&Data::String(format!("{mark}{}", field.label.en))));
    }
    assert_eq!(data.get((0, 0)), Some(&Data::String("*商品名称".into())));
    let qty2 = fields.iter().position(|f| f.id == "qty2").expect("qty2 column");
    assert_eq!(data.get((0, qty2)), Some(&Data::String("法定第二数量".into())), "optional: no mark");
}

#[test]
fn template_refuses_tables_without_excel_import() {
    let ty = doctype("import-food");
    assert!(matches!(excel::template(ty, "qualifications"), Err(excel::ExcelError::NotImportable { .. })));
    assert!(matches!(excel::template(ty, "nothing"), Err(excel::ExcelError::UnknownTable { .. })));
    let refused = excel::import(ty, "qualifications", "a.xlsx", &template("import-food"), &ImportLimits::default());
    assert!(matches!(refused, Err(ImportError::NotImportable { .. })));
}

#[test]
fn food_goods_round_trip_through_the_template() {
    let ty = doctype("import-food");
    let mut expected = sample_goods(ty);
    expected.push(
        json!({
            "goods_name": "冷冻带骨牛肉（“草饲”）& <精选>",
            "brand": "无品牌",
            "spec": "20千克/箱",
            "origin_country": "AUS",
            "qty1": 12.5,
            "unit1": "035",
            "qty2": 3,
            "unit2": "007",
            "prod_date": "2024-02-29",
            "prod_batch": "B-0001, B-0002"
        })
        .as_object()
        .expect("object")
        .clone(),
    );
    let rows: Vec<_> = expected.iter().map(|line| row_for(ty, line)).collect();
    let filled = fill_template(&template("import-food"), &rows);

    let imported = import("import-food", "商品导入.xlsx", &filled).expect("imports");
    assert_eq!(imported, expected);
    // Whole numbers come back as JSON integers, as typed into the form.
    assert_eq!(imported[0]["qty1"], json!(5400));
    assert!(imported[0]["qty1"].is_i64());
}

#[test]
fn medical_device_round_trip_keeps_long_chinese_text() {
    let ty = doctype("import-medical-device");
    let serials: Vec<String> = (1..=120).map(|n| format!("SN{n:05}")).collect();
    let mut expected = sample_goods(ty);
    expected.push(
        json!({
            "goods_name": "一次性使用无菌注射器 带针",
            "model": "5ml 0.6×25mm",
            "serial_batch": serials.join(","),
            "qty1": 2000,
            "unit1": "011",
        })
        .as_object()
        .expect("object")
        .clone(),
    );
    let rows: Vec<_> = expected.iter().map(|line| row_for(ty, line)).collect();
    let filled = fill_template(&template("import-medical-device"), &rows);
    assert_eq!(import("import-medical-device", "devices.XLSX", &filled).expect("imports"), expected);
}

#[test]
fn text_trimmed_numbers_as_text_and_dates_as_text_are_converted() {
    let ty = doctype("import-food");
    let columns: Vec<&str> = ty.tables["goods"].fields.keys().map(String::as_str).collect();
    let cell = |id: &str, value: In| (columns.iter().position(|c| *c == id).expect("column"), value);
    let mut row = vec![In::Empty; columns.len()];
    for (col, value) in [
        cell("goods_name", In::Text("  橄榄油 \n")),
        cell("brand", In::Text("BORGES")),
        cell("spec", In::Text("1升/瓶")),
        cell("origin_country", In::Text("ESP")),
        cell("qty1", In::Text(" 5400.50 ")),
        cell("unit1", In::Number(35.0)),
        cell("prod_date", In::Text("2024/4/2")),
        cell("prod_batch", In::Number(2024001.0)),
    ] {
        row[col] = value;
    }
    let filled = fill_template(&template("import-food"), &[row]);
    let imported = import("import-food", "goods.xlsx", &filled).expect("imports");
    assert_eq!(
        Value::Object(imported[0].clone()),
        json!({
            "goods_name": "橄榄油",
            "brand": "BORGES",
            "spec": "1升/瓶",
            "origin_country": "ESP",
            "qty1": 5400.5,
            "unit1": "35",
            "prod_date": "2024-04-02",
            "prod_batch": "2024001"
        })
    );
}

/// A workbook written from scratch that carries the marker: Excel date cells,
/// headings by English label in another column order, no English row.
#[test]
fn excel_date_cells_and_moved_columns_import() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    {
        let sheet = workbook.add_worksheet();
        let headings =
            ["Production date", "*Goods name", "brand", "货物规格", "Country of origin", "First legal quantity"];
        for (col, heading) in (0u16..).zip(headings) {
            sheet.write_string(0, col, heading).expect("heading");
        }
        sheet.write_string(0, 6, "*法定第一计量单位").expect("heading");
        sheet.write_string(0, 7, "Production batch").expect("heading");
        let date = rust_xlsxwriter::ExcelDateTime::from_ymd(2024, 4, 12).expect("date");
        sheet.write_date_with_format(1, 0, &date, &date_format).expect("date cell");
        sheet.write_string(1, 1, "特级初榨橄榄油").expect("cell");
        sheet.write_string(1, 2, "BORGES").expect("cell");
        sheet.write_string(1, 3, "1升/瓶×12瓶/箱").expect("cell");
        sheet.write_string(1, 4, "ESP").expect("cell");
        sheet.write_number(1, 5, 5400).expect("cell");
        sheet.write_string(1, 6, "035").expect("cell");
        sheet.write_string(1, 7, "L24103A").expect("cell");
    }
    let marker = workbook.add_worksheet();
    marker.set_name(MARKER_SHEET).expect("name");
    marker.write_string(0, 0, excel::template_marker("import-food", "goods")).expect("marker");
    marker.set_hidden(true);
    let bytes = workbook.save_to_buffer().expect("save");

    let imported = import("import-food", "goods.xlsx", &bytes).expect("imports");
    assert_eq!(imported[0], sample_goods(doctype("import-food"))[0]);
}

#[test]
fn a_template_of_another_type_is_refused() {
    let dairy = doctype("import-dairy");
    let filled = fill_template(&template("import-dairy"), &[row_for(dairy, &sample_goods(dairy)[0])]);
    // The dairy template would import as dairy goods …
    assert!(import("import-dairy", "dairy.xlsx", &filled).is_ok());
    // … but not as food goods, though their columns largely agree.
    let refused = import("import-food", "dairy.xlsx", &filled).expect_err("refused");
    assert_eq!(refused, ImportError::WrongType { found: Some(excel::template_marker("import-dairy", "goods")) });
    assert!(refused.message_zh().contains("证书类别不匹配"), "{}", refused.message_zh());
    assert!(refused.message_en().contains("Certificate type mismatch"));
}

#[test]
fn a_workbook_without_the_marker_is_refused() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.write_string(0, 0, "商品名称").expect("heading");
    sheet.write_string(1, 0, "橄榄油").expect("cell");
    let bytes = workbook.save_to_buffer().expect("save");
    assert_eq!(import("import-food", "own.xlsx", &bytes), Err(ImportError::WrongType { found: None }));
}

#[test]
fn the_defined_name_alone_identifies_the_template() {
    let without_sheet = rewrite_xlsx(&template("import-food"), |name, content| {
        if name == "xl/worksheets/sheet2.xml" {
            // The marker sheet emptied: only the defined name is left.
            let xml = String::from_utf8(content).expect("utf-8");
            let start = xml.find("<sheetData>").expect("sheet data");
            let end = xml.find("</sheetData>").expect("sheet data end") + "</sheetData>".len();
            return format!("{}<sheetData/>{}", &xml[..start], &xml[end..]).into_bytes();
        }
        content
    });
    let ty = doctype("import-food");
    let filled = fill_template(&without_sheet, &[row_for(ty, &sample_goods(ty)[0])]);
    assert_eq!(import("import-food", "goods.xlsx", &filled).expect("imports"), vec![sample_goods(ty)[0].clone()]);

    let other = rewrite_xlsx(&filled, |name, content| {
        if name == "xl/workbook.xml" {
            let xml = String::from_utf8(content).expect("utf-8");
            return xml.replace("certflow:import-food:goods", "certflow:import-meat:goods").into_bytes();
        }
        content
    });
    assert!(matches!(import("import-food", "goods.xlsx", &other), Err(ImportError::WrongType { .. })));
}

#[test]
fn a_file_that_is_not_excel_is_refused_with_the_manuals_message() {
    let text = "商品名称,货物品牌\n橄榄油,BORGES\n".as_bytes();
    let refused = import("import-food", "goods.xlsx", text).expect_err("refused");
    assert_eq!(refused, ImportError::NotExcel);
    assert_eq!(refused.message_zh(), "导入格式错误，请导入 xls/xlsx 格式文件！");
    assert_eq!(refused.message_en(), "Import format error: please import an xls or xlsx file!");

    // A real workbook under another name, and a zip that is no workbook.
    assert_eq!(import("import-food", "goods.csv", &template("import-food")), Err(ImportError::NotExcel));
    assert_eq!(import("import-food", "goods", &template("import-food")), Err(ImportError::NotExcel));
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("word/document.xml", zip::write::SimpleFileOptions::default()).expect("entry");
    zip.write_all(b"<w:document/>").expect("write");
    let docx = zip.finish().expect("zip").into_inner();
    assert_eq!(import("import-food", "goods.xlsx", &docx), Err(ImportError::NotExcel));
    // A compound file without a workbook stream (a renamed .doc).
    let mut compound = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("cfb");
    compound.create_stream("WordDocument").expect("stream").write_all(&[0; 64]).expect("write");
    compound.flush().expect("flush");
    let doc = compound.into_inner().into_inner();
    assert_eq!(import("import-food", "goods.xls", &doc), Err(ImportError::NotExcel));
}

#[test]
fn a_password_protected_workbook_is_refused_as_such() {
    // Excel stores an encrypted xlsx as a compound file holding the package.
    let mut compound = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("cfb");
    compound.create_stream("EncryptionInfo").expect("stream").write_all(&[0; 64]).expect("write");
    compound.create_stream("EncryptedPackage").expect("stream").write_all(&[0; 64]).expect("write");
    compound.flush().expect("flush");
    let encrypted = compound.into_inner().into_inner();
    let refused = import("import-food", "goods.xlsx", &encrypted).expect_err("refused");
    assert_eq!(refused, ImportError::Protected);
    assert_eq!(refused.message_zh(), "导入文件设有密码保护，请取消密码后再导入");
}

#[test]
fn content_sniffing_needs_both_the_name_and_the_bytes() {
    let biff_header = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0];
    assert_eq!(excel::detect_kind("goods.xls", &biff_header), Some(WorkbookKind::Xls));
    assert_eq!(excel::detect_kind(r"C:\fakepath\GOODS.XLS", &biff_header), Some(WorkbookKind::Xls));
    assert_eq!(excel::detect_kind("goods.xlsx", b"PK\x03\x04rest"), Some(WorkbookKind::Xlsx));
    assert_eq!(excel::detect_kind("goods.pdf", &biff_header), None);
    assert_eq!(excel::detect_kind("goods.xls", b"%PDF-1.7"), None);
    assert_eq!(excel::detect_kind("goods.xlsx", b""), None);
}

#[test]
fn a_missing_required_value_names_the_excel_row_and_column() {
    let ty = doctype("import-medical-device");
    let goods = sample_goods(ty);
    let mut second = row_for(ty, &goods[0]);
    second[0] = In::Empty; // 货物品名, column A
    let filled = fill_template(&template("import-medical-device"), &[row_for(ty, &goods[0]), second]);

    let errors = invalid(import("import-medical-device", "devices.xlsx", &filled));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let error = &errors[0];
    assert_eq!(error.path, "goods/2/goods_name");
    assert_eq!(error.code, "required");
    assert_eq!(error.message_zh, "第 4 行 A 列「货物品名」为必填项，请录入");
    assert_eq!(error.message_en, "Row 4, column A (Goods description) is required: enter a value");
}

#[test]
fn every_row_problem_is_reported_in_one_pass() {
    let ty = doctype("import-food");
    let columns: Vec<&str> = ty.tables["goods"].fields.keys().map(String::as_str).collect();
    let col = |id: &str| columns.iter().position(|c| *c == id).expect("column");
    let good = row_for(ty, &sample_goods(ty)[0]);
    let mut bad_number = good.clone();
    bad_number[col("qty1")] = In::Text("五千");
    let mut bad_date = good.clone();
    bad_date[col("prod_date")] = In::Text("2024-13-01");
    bad_date[col("brand")] = In::Empty;
    let mut too_long = good.clone();
    too_long[col("goods_name")] = In::Owned("油".repeat(100)); // 300 bytes > 255

    // A blank row between the lines is skipped and does not count as a line.
    let rows = [good.clone(), bad_number, vec![], bad_date, too_long];
    let filled = fill_template(&template("import-food"), &rows);
    let errors = invalid(import("import-food", "goods.xlsx", &filled));
    let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.path.as_str(), e.code.as_str())).collect();
    assert_eq!(
        found,
        [
            ("goods/2/qty1", "type"),
            ("goods/3/brand", "required"),
            ("goods/3/prod_date", "format.date"),
            ("goods/4/goods_name", "max_bytes"),
        ]
    );
    let letter = |id: &str| column_letter(col(id));
    assert_eq!(errors[0].message_zh, format!("第 4 行 {} 列「法定第一数量」应为数字，“五千”不是数字", letter("qty1")));
    assert!(errors[2].message_zh.starts_with(&format!("第 6 行 {} 列「生产日期」", letter("prod_date"))));
    assert!(errors[2].message_en.starts_with(&format!("Row 6, column {} (Production date)", letter("prod_date"))));
    assert!(errors[3].message_zh.starts_with("第 7 行 A 列「商品名称」最长 255 字节（当前 300 字节"));
}

#[test]
fn headings_that_name_no_field_and_missing_required_columns_are_reported() {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, heading) in (0u16..).zip(["货物品名", "型号", "颜色", "型号"]) {
        sheet.write_string(0, col, heading).expect("heading");
    }
    for col in 0..5 {
        sheet.write_string(1, col, "x").expect("cell");
    }
    let marker = workbook.add_worksheet();
    marker.set_name(MARKER_SHEET).expect("name");
    marker.write_string(0, 0, excel::template_marker("import-medical-device", "goods")).expect("marker");
    let bytes = workbook.save_to_buffer().expect("save");

    let errors = invalid(import("import-medical-device", "devices.xlsx", &bytes));
    let zh: Vec<&str> = errors.iter().map(|e| e.message_zh.as_str()).collect();
    assert!(errors.iter().all(|e| e.path == "goods" && e.code == "excel.column"), "{errors:#?}");
    assert!(zh.contains(&"第 1 行 C 列的列名“颜色”不是「商品信息」的字段，请使用导入模板的表头"), "{zh:#?}");
    assert!(zh.contains(&"第 1 行 B 列与 D 列都是「型号」，请删除重复的列"), "{zh:#?}");
    assert!(zh.contains(&"第 2 行 E 列有数据，但第 1 行该列没有列名，请使用导入模板的表头"), "{zh:#?}");
    assert!(zh.iter().any(|m| m.contains("缺少必填列「序列号/批号」")), "{zh:#?}");
}

#[test]
fn an_empty_template_imports_nothing() {
    assert_eq!(import("import-food", "goods.xlsx", &template("import-food")), Err(ImportError::NoRows));
}

#[test]
fn too_many_rows_are_refused() {
    let ty = doctype("import-food");
    let row = row_for(ty, &sample_goods(ty)[0]);
    let limits = ImportLimits { max_rows: 5, ..ImportLimits::default() };
    let five = fill_template(&template("import-food"), &vec![row.clone(); 5]);
    assert_eq!(excel::import(ty, "goods", "goods.xlsx", &five, &limits).expect("five rows").len(), 5);
    let six = fill_template(&template("import-food"), &vec![row.clone(); 6]);
    let refused = excel::import(ty, "goods", "goods.xlsx", &six, &limits).expect_err("six rows");
    assert_eq!(refused, ImportError::TooManyRows { limit: 5, row: 8 });
    assert!(
        refused.message_zh().contains("最多 5 行数据（第 3 行至第 7 行），第 8 行超出范围"),
        "{}",
        refused.message_zh()
    );

    // The table's own max_rows (999) is tighter than the default limit.
    let far = fill_template_from(&template("import-food"), 1002, &[row]);
    assert_eq!(import("import-food", "goods.xlsx", &far), Err(ImportError::TooManyRows { limit: 999, row: 1002 }));
}

#[test]
fn too_many_columns_are_refused() {
    let ty = doctype("import-food");
    let mut row = row_for(ty, &sample_goods(ty)[0]);
    row.resize(80, In::Empty);
    row.push(In::Text("stray"));
    let filled = fill_template(&template("import-food"), &[row]);
    assert_eq!(
        import("import-food", "goods.xlsx", &filled),
        Err(ImportError::TooManyColumns { limit: 64, column: "CC".into() })
    );
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_parsing() {
    let limits = ImportLimits { max_bytes: 1000, ..ImportLimits::default() };
    let refused = excel::import(doctype("import-food"), "goods", "goods.xlsx", &template("import-food"), &limits);
    assert_eq!(refused, Err(ImportError::FileTooLarge { limit_bytes: 1000 }));
}

#[test]
fn a_zip_bomb_is_refused_quickly() {
    // 100 MiB of blanks in the sheet XML deflate to a few hundred kilobytes.
    let padding = vec![b' '; 1 << 20];
    let bomb = rewrite_xlsx(&template("import-food"), |name, content| {
        if name != "xl/worksheets/sheet1.xml" {
            return content;
        }
        let xml = String::from_utf8(content).expect("utf-8");
        let at = xml.find("<sheetData>").expect("sheet data") + "<sheetData>".len();
        let mut out = xml.as_bytes()[..at].to_vec();
        for _ in 0..100 {
            out.extend_from_slice(&padding);
        }
        out.extend_from_slice(&xml.as_bytes()[at..]);
        out
    });
    assert!(bomb.len() < ImportLimits::default().max_bytes, "the bomb passes the file size check: {}", bomb.len());

    let started = Instant::now();
    let refused = import("import-food", "goods.xlsx", &bomb).expect_err("refused");
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
    assert_eq!(refused, ImportError::ContentTooLarge { limit_bytes: 64 << 20 });
    assert!(refused.message_zh().contains("64 MB"));
}

/// A zip whose directory understates a part's size: the reader stops at the
/// declared size instead of inflating whatever follows.
#[test]
fn a_zip_that_lies_about_its_sizes_is_refused() {
    let ty = doctype("import-food");
    let filled = fill_template(&template("import-food"), &[row_for(ty, &sample_goods(ty)[0])]);
    let lying = understate_size(filled, "xl/worksheets/sheet1.xml", 100);
    let result = import("import-food", "goods.xlsx", &lying);
    assert!(matches!(result, Err(ImportError::Unreadable { .. })), "{result:?}");
}

/// Sets the declared uncompressed size of `part` in both its local header
/// and the central directory.
fn understate_size(mut zip: Vec<u8>, part: &str, size: u32) -> Vec<u8> {
    let name = part.as_bytes();
    let le16 = |b: &[u8], at: usize| usize::from(u16::from_le_bytes([b[at], b[at + 1]]));
    let mut patched = 0;
    let mut at = 0;
    while at + 4 <= zip.len() {
        match &zip[at..at + 4] {
            b"PK\x03\x04" if zip[at + 30..].starts_with(name) && le16(&zip, at + 26) == name.len() => {
                zip[at + 22..at + 26].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
            b"PK\x01\x02" if zip[at + 46..].starts_with(name) && le16(&zip, at + 28) == name.len() => {
                zip[at + 24..at + 28].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
            _ => {}
        }
        at += 1;
    }
    assert_eq!(patched, 2, "both headers of {part} found");
    zip
}

// ---------------------------------------------------------------------------
// xls: written here as a minimal BIFF8 workbook in a compound file, the way
// Excel 97–2003 stores one.

fn biff_record(out: &mut Vec<u8>, record_type: u16, data: &[u8]) {
    out.extend_from_slice(&record_type.to_le_bytes());
    out.extend_from_slice(&u16::try_from(data.len()).expect("short record").to_le_bytes());
    out.extend_from_slice(data);
}

fn biff_bof(substream: u16) -> Vec<u8> {
    let mut data = Vec::new();
    for value in [0x0600u16, substream, 0x0DBB, 0x07CC] {
        data.extend_from_slice(&value.to_le_bytes());
    }
    data.extend_from_slice(&[0; 8]);
    data
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

#[derive(Debug, Clone)]
enum XlsCell {
    Text(String),
    Number(f64),
}

struct XlsSheet {
    name: &'static str,
    very_hidden: bool,
    cells: Vec<(u16, u16, XlsCell)>,
    /// Extra raw records after the cells.
    raw: Vec<(u16, Vec<u8>)>,
}

fn sheet_stream(sheet: &XlsSheet) -> Vec<u8> {
    let mut out = Vec::new();
    biff_record(&mut out, 0x0809, &biff_bof(0x0010));
    for (row, col, cell) in &sheet.cells {
        let mut data = Vec::new();
        data.extend_from_slice(&row.to_le_bytes());
        data.extend_from_slice(&col.to_le_bytes());
        data.extend_from_slice(&0u16.to_le_bytes()); // XF
        match cell {
            XlsCell::Text(text) => {
                let units = u16::try_from(text.encode_utf16().count()).expect("short text");
                data.extend_from_slice(&units.to_le_bytes());
                data.push(1); // UTF-16
                data.extend_from_slice(&utf16(text));
                biff_record(&mut out, 0x0204, &data); // Label
            }
            XlsCell::Number(n) => {
                data.extend_from_slice(&n.to_le_bytes());
                biff_record(&mut out, 0x0203, &data); // Number
            }
        }
    }
    for (record_type, data) in &sheet.raw {
        biff_record(&mut out, *record_type, data);
    }
    biff_record(&mut out, 0x000A, &[]);
    out
}

fn globals_stream(sheets: &[XlsSheet], offsets: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    biff_record(&mut out, 0x0809, &biff_bof(0x0005));
    biff_record(&mut out, 0x0042, &1200u16.to_le_bytes()); // CodePage: UTF-16
    for (sheet, offset) in sheets.iter().zip(offsets) {
        let mut data = Vec::new();
        data.extend_from_slice(&offset.to_le_bytes());
        data.push(if sheet.very_hidden { 2 } else { 0 });
        data.push(0); // worksheet
        data.push(u8::try_from(sheet.name.encode_utf16().count()).expect("short name"));
        data.push(1);
        data.extend_from_slice(&utf16(sheet.name));
        biff_record(&mut out, 0x0085, &data); // BoundSheet8
    }
    biff_record(&mut out, 0x000A, &[]);
    out
}

fn xls_workbook(sheets: &[XlsSheet]) -> Vec<u8> {
    let bodies: Vec<Vec<u8>> = sheets.iter().map(sheet_stream).collect();
    let globals_len = globals_stream(sheets, &vec![0; sheets.len()]).len();
    let mut offsets = Vec::new();
    let mut at = globals_len;
    for body in &bodies {
        offsets.push(u32::try_from(at).expect("small"));
        at += body.len();
    }
    let mut stream = globals_stream(sheets, &offsets);
    for body in &bodies {
        stream.extend_from_slice(body);
    }
    let mut compound = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("cfb");
    compound.create_stream("Workbook").expect("stream").write_all(&stream).expect("write");
    compound.flush().expect("flush");
    compound.into_inner().into_inner()
}

fn marker_sheet(ty: &str) -> XlsSheet {
    XlsSheet {
        name: MARKER_SHEET,
        very_hidden: true,
        cells: vec![(0, 0, XlsCell::Text(excel::template_marker(ty, "goods")))],
        raw: vec![],
    }
}

/// The goods of `ty`'s sample as an xls data sheet with both heading rows.
fn xls_goods_sheet(ty: &DocType) -> XlsSheet {
    let mut cells = Vec::new();
    for (col, field) in (0u16..).zip(ty.tables["goods"].fields.values()) {
        cells.push((0, col, XlsCell::Text(field.label.zh.clone())));
        cells.push((1, col, XlsCell::Text(field.label.en.clone())));
    }
    for (row, line) in (2u16..).zip(sample_goods(ty)) {
        for (col, id) in (0u16..).zip(ty.tables["goods"].fields.keys()) {
            match line.get(id) {
                Some(Value::String(s)) => cells.push((row, col, XlsCell::Text(s.clone()))),
                Some(Value::Number(n)) => cells.push((row, col, XlsCell::Number(n.as_f64().expect("finite")))),
                _ => {}
            }
        }
    }
    XlsSheet { name: "商品信息", very_hidden: false, cells, raw: vec![] }
}

#[test]
fn an_old_binary_xls_is_accepted() {
    let ty = doctype("import-food");
    let xls = xls_workbook(&[xls_goods_sheet(ty), marker_sheet("import-food")]);
    assert_eq!(excel::detect_kind("goods.xls", &xls), Some(WorkbookKind::Xls));
    assert_eq!(import("import-food", "goods.xls", &xls).expect("imports"), sample_goods(ty));
    // The marker is checked in xls too.
    let dairy = xls_workbook(&[xls_goods_sheet(ty), marker_sheet("import-dairy")]);
    assert!(matches!(import("import-food", "goods.xls", &dairy), Err(ImportError::WrongType { .. })));
}

#[test]
fn an_xls_with_cells_far_out_is_refused_before_the_reader_builds_its_grid() {
    let ty = doctype("import-food");
    let mut sheet = xls_goods_sheet(ty);
    // The reader would allocate a 65536 × 65536 grid for these two cells.
    sheet.cells.push((65_535, 65_535, XlsCell::Number(1.0)));
    let xls = xls_workbook(&[sheet, marker_sheet("import-food")]);
    let started = Instant::now();
    assert_eq!(import("import-food", "goods.xls", &xls), Err(ImportError::TooManyRows { limit: 999, row: 65_536 }));
    assert!(started.elapsed() < Duration::from_secs(1));

    let mut sheet = xls_goods_sheet(ty);
    sheet.cells.push((3, 60_000, XlsCell::Number(1.0)));
    let xls = xls_workbook(&[sheet, marker_sheet("import-food")]);
    assert!(matches!(import("import-food", "goods.xls", &xls), Err(ImportError::TooManyColumns { limit: 64, .. })));
}

#[test]
fn an_xls_declaring_huge_dimensions_is_refused() {
    let ty = doctype("import-food");
    let mut dimensions = Vec::new();
    for value in [0u32, u32::MAX] {
        dimensions.extend_from_slice(&value.to_le_bytes());
    }
    dimensions.extend_from_slice(&[0, 0, 0xFF, 0, 0, 0]);
    let mut sheet = xls_goods_sheet(ty);
    sheet.raw.push((0x0200, dimensions));
    let xls = xls_workbook(&[sheet, marker_sheet("import-food")]);
    assert!(matches!(import("import-food", "goods.xls", &xls), Err(ImportError::TooManyRows { limit: 999, .. })));

    // First row past the last one: the reader would underflow.
    let mut backwards = Vec::new();
    for value in [10u32, 5] {
        backwards.extend_from_slice(&value.to_le_bytes());
    }
    backwards.extend_from_slice(&[0, 0, 5, 0, 0, 0]);
    let mut sheet = xls_goods_sheet(ty);
    sheet.raw.push((0x0200, backwards));
    let xls = xls_workbook(&[sheet, marker_sheet("import-food")]);
    assert!(matches!(import("import-food", "goods.xls", &xls), Err(ImportError::Unreadable { .. })));
}

#[test]
fn a_malformed_xls_is_refused_without_a_panic() {
    let ty = doctype("import-food");
    let mut stream = Vec::new();
    biff_record(&mut stream, 0x0809, &biff_bof(0x0005));
    biff_record(&mut stream, 0x0085, &[0, 0]); // BoundSheet8 cut short
    biff_record(&mut stream, 0x000A, &[]);
    let mut compound = cfb::CompoundFile::create(Cursor::new(Vec::new())).expect("cfb");
    compound.create_stream("Workbook").expect("stream").write_all(&stream).expect("write");
    compound.flush().expect("flush");
    let xls = compound.into_inner().into_inner();
    let result = excel::import(ty, "goods", "goods.xls", &xls, &ImportLimits::default());
    assert!(matches!(result, Err(ImportError::Unreadable { .. })), "{result:?}");
}

#[test]
fn import_errors_display_in_english() {
    let error = ImportError::TooManyRows { limit: 999, row: 1002 };
    assert_eq!(error.to_string(), error.message_en());
    assert!(error.to_string().contains("rows 3 to 1001"));
    let invalid = ImportError::Invalid(vec![FieldError::new("goods/1/qty1", "type", "zh", "en")]);
    assert_eq!(invalid.message_zh(), "导入文件有 1 处错误，请修改后重新导入");
}
