//! The shipped bundle against the document fixtures of tests/fixtures/documents:
//! every `valid/*.json` passes as a declaration, every `invalid/NAME.json`
//! fails with exactly the `path [code]` lines of `NAME.expected`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use certflow_core::{CompiledBundle, Mode};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shipped_bundle() -> CompiledBundle {
    certflow_core::load(&repo_root()).unwrap_or_else(|e| match e {
        certflow_core::BundleError::Invalid(d) => panic!("the shipped bundle does not compile:\n{}", d.render_human()),
        other => panic!("{other}"),
    })
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> =
        entries.map(|e| e.expect("dir entry").path()).filter(|p| p.extension().is_some_and(|x| x == "json")).collect();
    files.sort();
    files
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read fixture")).expect("fixture is JSON")
}

#[test]
fn every_shipped_type_has_fixtures_and_they_behave() {
    let bundle = shipped_bundle();
    let root = repo_root().join("tests/fixtures/documents");
    let mut failures = Vec::new();
    let mut checked = 0;
    for (id, ty) in &bundle.doctypes {
        let dir = root.join(id);
        let valid = json_files(&dir.join("valid"));
        let invalid = json_files(&dir.join("invalid"));
        if valid.len() < 2 || invalid.len() < 4 {
            failures.push(format!("{id}: needs at least 2 valid and 4 invalid fixtures"));
        }
        for file in valid {
            checked += 1;
            let report = bundle.validate_as(ty, &read_json(&file), Mode::Submit);
            for e in report.errors {
                failures.push(format!("{}: unexpected {}: [{}] {}", file.display(), e.path, e.code, e.message_en));
            }
        }
        for file in invalid {
            checked += 1;
            let expected_file = file.with_extension("expected");
            let expected: BTreeSet<String> = std::fs::read_to_string(&expected_file)
                .unwrap_or_else(|_| panic!("{} is missing", expected_file.display()))
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned)
                .collect();
            let report = bundle.validate_as(ty, &read_json(&file), Mode::Submit);
            let got: BTreeSet<String> = report.errors.iter().map(|e| format!("{} [{}]", e.path, e.code)).collect();
            if got != expected {
                failures.push(format!(
                    "{}:\n  missing: {:?}\n  unexpected: {:?}",
                    file.display(),
                    expected.difference(&got).collect::<Vec<_>>(),
                    got.difference(&expected).collect::<Vec<_>>()
                ));
            }
            for e in &report.errors {
                if e.message_zh.is_empty() || e.message_en.is_empty() {
                    failures.push(format!("{}: {} [{}] lacks a message", file.display(), e.path, e.code));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} fixtures found");
    assert!(failures.is_empty(), "{} fixture failure(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_nine_import_supplement_forms_are_defined() {
    let bundle = shipped_bundle();
    let names: BTreeSet<&str> = bundle
        .doctypes
        .values()
        .filter(|t| t.workflow.as_deref() == Some("import-supplement"))
        .filter_map(|t| t.category.as_ref().map(|c| c.zh.as_str()))
        .collect();
    let expected: BTreeSet<&str> = [
        "进口食品",
        "进口乳品",
        "进口水产品",
        "进口肉类",
        "进口化妆品",
        "进口中药材",
        "进口医疗器械",
        "陆生动物源性食品及乳品",
        "进口化妆品、水产品及其他食品",
    ]
    .into();
    assert_eq!(names, expected);
}

#[test]
fn a_draft_may_be_incomplete_but_not_wrong() {
    let bundle = shipped_bundle();
    let draft = serde_json::json!({
        "decl_no": "010120241000003476",
        "goods": [{"goods_name": "冻牛肉", "origin_country": "XXX"}]
    });
    let report = bundle.validate("import-food", &draft, Mode::Draft).expect("type exists");
    let got: Vec<String> = report.errors.iter().map(|e| format!("{} [{}]", e.path, e.code)).collect();
    assert_eq!(got, ["goods/1/origin_country [param]"], "only the wrong code, not the gaps");
    let submit = bundle.validate("import-food", &draft, Mode::Submit).expect("type exists");
    assert!(submit.errors.iter().any(|e| e.path == "goods/1/qty1" && e.code == "required"));
}

#[test]
fn messages_name_the_field_and_the_line() {
    let bundle = shipped_bundle();
    let doc = serde_json::json!({
        "decl_no": "010120241000003476",
        "marks": "N/M",
        "goods": [
            {"goods_name": "其他黑麦", "brand": "-", "spec": "1kg", "origin_country": "AUS",
             "qty1": 1, "unit1": "035", "prod_date": "2024-01-01", "prod_batch": "B1"},
            {"goods_name": "其他黑麦", "brand": "-", "spec": "1kg", "origin_country": "AUS",
             "qty1": 1, "unit1": "035", "prod_date": "2024-02-30", "prod_batch": "B1"}
        ]
    });
    let report = bundle.validate("import-food", &doc, Mode::Submit).expect("type exists");
    let e = report.errors.iter().find(|e| e.path == "goods/2/prod_date").expect("bad date reported");
    assert_eq!(e.code, "format.date");
    assert!(e.message_zh.contains("第 2 行") && e.message_zh.contains("生产日期"), "{}", e.message_zh);
    assert!(e.message_en.contains("line 2") && e.message_en.contains("YYYY-MM-DD"), "{}", e.message_en);
}
