//! Fixture bundles under tests/fixtures/bundles: `minimal` compiles clean,
//! every other one is broken on purpose and its rendered diagnostics are
//! snapshotted, so a change in what lint says is seen in review.

use std::path::{Path, PathBuf};

use certflow_core::{BundleSource, Mode, compile};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bundles").join(name)
}

fn diagnostics_of(name: &str) -> String {
    let source = BundleSource::read_dir(&fixture(name)).expect("fixture bundle readable");
    let (bundle, diagnostics) = compile(&source);
    assert!(bundle.is_none(), "{name} is meant to be broken");
    diagnostics.render_human()
}

#[test]
fn minimal_bundle_is_clean() {
    let source = BundleSource::read_dir(&fixture("minimal")).expect("readable");
    let (bundle, diagnostics) = compile(&source);
    assert!(diagnostics.is_empty(), "{}", diagnostics.render_human());
    let bundle = bundle.expect("compiles");
    assert_eq!(bundle.doctypes.keys().collect::<Vec<_>>(), ["order"]);
}

#[test]
fn yaml_errors() {
    insta::assert_snapshot!(diagnostics_of("yaml-errors"));
}

#[test]
fn bad_references() {
    insta::assert_snapshot!(diagnostics_of("bad-references"));
}

#[test]
fn workflow_problems() {
    insta::assert_snapshot!(diagnostics_of("workflow-problems"));
}

#[test]
fn rule_errors() {
    insta::assert_snapshot!(diagnostics_of("rule-errors"));
}

#[test]
fn composition_errors() {
    insta::assert_snapshot!(diagnostics_of("composition-errors"));
}

#[test]
fn every_problem_is_found_in_one_pass() {
    // bad-references has four independent mistakes in one file; all are reported.
    let text = diagnostics_of("bad-references");
    for code in [
        "ref.unknown-param",
        "ref.unknown-workflow",
        "ref.unknown-rule-file",
        "field.unknown-format",
        "section.unknown-field",
    ] {
        assert!(text.contains(code), "{code} missing from:\n{text}");
    }
}

#[test]
fn json_rendering_carries_file_line_and_column() {
    let source = BundleSource::read_dir(&fixture("bad-references")).expect("readable");
    let (_, diagnostics) = compile(&source);
    let json: serde_json::Value = serde_json::from_str(&diagnostics.render_json()).expect("JSON");
    let first = json.as_array().unwrap().iter().find(|d| d["severity"] == "error").expect("an error");
    assert_eq!(first["file"], "forms/doctypes/order.yaml");
    assert!(first["line"].as_u64().unwrap() > 1);
    assert!(first["column"].as_u64().unwrap() > 1);
    assert_eq!(first["code"], "ref.unknown-workflow");
}

#[test]
fn rules_compute_values_and_report_by_row() {
    let source = BundleSource::read_dir(&fixture("minimal")).expect("readable");
    let bundle = compile(&source).0.expect("compiles");
    let doc = serde_json::json!({
        "decl_no": "010120241000003476",
        "goods": [{"name": "苹果", "qty": 2, "unit": "035"}, {"name": "梨", "qty": 3.5}]
    });
    let report = bundle.validate("order", &doc, Mode::Submit).expect("known type");
    let got: Vec<String> = report.errors.iter().map(|e| format!("{} [{}]", e.path, e.code)).collect();
    assert_eq!(got, ["goods/2/unit [goods.unit_needed]"]);
    assert_eq!(report.document["total"], serde_json::json!(5.5), "computed by the rule");
}
