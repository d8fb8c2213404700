//! The `certflow` command as scripts use it (../shared/spec/CONTRACT.md):
//! exit codes, output lines, the shipped bundle and broken copies of it.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{bundle_copy, repo_root};

fn certflow(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_certflow")).args(args).current_dir(repo_root()).output().expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn lint_is_clean_on_the_shipped_bundle() {
    let out = certflow(&["lint"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(stdout(&out).contains(" ok: "), "{}", stdout(&out));
    assert!(!stdout(&out).contains("warning["), "the shipped bundle has warnings:\n{}", stdout(&out));
}

#[test]
fn lint_names_file_line_and_column_in_a_broken_copy() {
    let dir = bundle_copy();
    let base = dir.path().join("forms/doctypes/import/import-supplement-base.yaml");
    let text = std::fs::read_to_string(&base).expect("base exists");
    let (line_no, line) =
        text.lines().enumerate().find(|(_, l)| l.contains("param: country")).expect("a country field");
    let column = line.find("country").expect("on the line") + 1;
    std::fs::write(&base, text.replacen("param: country", "param: countries", 1)).expect("write");
    let rule = dir.path().join("rules/import/supplement.rhai");
    std::fs::write(&rule, "let x = ;\n").expect("write");

    let out = certflow(&["lint", "--bundle", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected = format!(
        "forms/doctypes/import/import-supplement-base.yaml:{}:{column}: error[ref.unknown-param]: parameter table `countries` is not defined",
        line_no + 1
    );
    assert!(text.lines().any(|l| l == expected), "wanted {expected:?} in:\n{text}");
    assert!(text.contains("did you mean `country`?"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("rules/import/supplement.rhai:1:") && l.contains("error[rule.syntax]")),
        "{text}"
    );

    let json = certflow(&["lint", "--bundle", dir.path().to_str().unwrap(), "--format", "json"]);
    assert_eq!(json.status.code(), Some(1));
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON output");
    assert!(parsed.as_array().unwrap().iter().any(|d| d["code"] == "ref.unknown-param" && d["line"] == line_no + 1));
}

#[test]
fn doctypes_json_lists_the_import_forms_and_the_export_formats() {
    let out = certflow(&["doctypes", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let list: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(list.iter().filter(|t| t["id"].as_str().unwrap().starts_with("import-")).count(), 10);
    let formats: Vec<&str> = list.iter().filter_map(|t| t["format_code"].as_str()).collect();
    for code in ["C1-1", "C2-1", "C2-2", "C3-1", "C5-1", "C7-1"] {
        assert!(formats.contains(&code), "{code} is listed: {formats:?}");
    }
    for t in &list {
        for key in ["id", "name_zh", "name_en", "workflow", "format_code"] {
            assert!(t.get(key).is_some(), "{key} missing in {t}");
        }
    }
    let food = list.iter().find(|t| t["id"] == "import-food").expect("import-food listed");
    assert_eq!(food["workflow"], "import-supplement");
    assert!(food["format_code"].is_null());
}

#[test]
fn check_accepts_every_sample_and_rejects_with_paths_and_codes() {
    for entry in std::fs::read_dir(repo_root().join("forms/samples")).expect("samples") {
        let path = entry.expect("entry").path();
        let id = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let out = certflow(&["check", &id, path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{id}: {}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    }
    let bad = repo_root().join("tests/fixtures/documents/import-medical-device/invalid");
    let doc = std::fs::read_dir(&bad)
        .expect("fixtures")
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "json")
                && std::fs::read_to_string(p.with_extension("expected")).unwrap().contains("[max_bytes]")
        })
        .expect("a serial/batch over 2000 bytes fixture");
    let out = certflow(&["check", "import-medical-device", doc.to_str().unwrap(), "--lang", "en"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("[max_bytes]")).expect("max_bytes line");
    assert!(line.starts_with("goods/") && line.contains("/serial_batch: [max_bytes] "), "{line}");
    assert!(line.contains("2000 bytes"), "{line}");
}

#[test]
fn check_refuses_an_unknown_type_with_the_list() {
    let sample = repo_root().join("forms/samples/import-food.json");
    let out = certflow(&["check", "import-fud", sample.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("import-food"));
}

#[test]
fn parameter_tables_match_the_reference_data() {
    let reference = repo_root().join("../shared/reference-data");
    if !reference.is_dir() {
        assert!(std::env::var_os("CI").is_none(), "CI must have ../shared/reference-data beside the checkout");
        #[allow(clippy::print_stderr)]
        {
            eprintln!("skipped: no {} here", reference.display());
        }
        return;
    }
    let out = Command::new("python3")
        .arg(repo_root().join("tools/params/build_params.py"))
        .arg(&reference)
        .arg("--check")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "forms/params is stale; run tools/params/build_params.py:\n{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Pages and text of a PDF, as a reader extracts them.
fn pdf_pages_and_text(path: &Path) -> (usize, String) {
    let doc = lopdf::Document::load(path).expect("a readable PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).expect("text");
    (pages.len(), text.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[test]
fn render_lays_out_every_variant_of_the_phytosanitary_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    for variant in ["check", "draft", "final", "overlay", "a4"] {
        let out_file = dir.path().join(format!("{variant}.pdf"));
        let out = certflow(&[
            "render",
            "export-c5-1",
            "--sample",
            "--variant",
            variant,
            "-o",
            out_file.to_str().unwrap(),
            "--issue-date",
            "2026-11-25",
        ]);
        assert_eq!(out.status.code(), Some(0), "{variant}: {}", String::from_utf8_lossy(&out.stderr));
        let (pages, text) = pdf_pages_and_text(&out_file);
        assert_eq!(pages, 1, "{variant}");
        // The data is on every variant.
        assert!(text.contains("金乡县金晟农产品进出口有限公司") && text.contains("MALAYSIA"), "{variant}: {text}");
        // Labels are printed except on the overlay for pre-printed stationery.
        let labelled = text.contains("发货人名称及地址") && text.contains("Name and address of exporter");
        assert_eq!(labelled, variant != "overlay", "{variant}: {text}");
        // Marks are letter-spaced on the page.
        let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        match variant {
            "check" => assert!(squashed.contains("核对单"), "{text}"),
            "draft" => assert!(squashed.contains("草稿") && squashed.contains("DRAFT"), "{text}"),
            _ => assert!(!squashed.contains("草稿") && !squashed.contains("核对单"), "{variant}: {text}"),
        }
    }
}

#[test]
fn render_refuses_a_variant_the_type_does_not_offer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("x.pdf");
    let out =
        certflow(&["render", "blank-application", "--sample", "--variant", "final", "-o", out_file.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("offers a4"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn lint_renders_templates_and_names_the_typ_line() {
    let dir = bundle_copy();
    let layout = dir.path().join("certificate-templates/export/c7-1.typ");
    let text = std::fs::read_to_string(&layout).expect("the C7-1 layout");
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("#certificate(")).expect("the certificate call") + 1;
    let broken = text.replacen("#certificate(", "#let oops = 1 + \"one\"\n#certificate(", 1);
    std::fs::write(&layout, broken).expect("write");
    let out = certflow(&["lint", "--bundle", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let expected = format!("certificate-templates/export/c7-1.typ:{at}:");
    assert!(stdout(&out).contains(&expected), "{expected} in:\n{}", stdout(&out));
    assert!(stdout(&out).contains("error[template.error]"), "{}", stdout(&out));
    assert!(stdout(&out).contains("rendering the sample of `export-c7-1`"), "{}", stdout(&out));
}

#[test]
fn lint_stops_a_looping_template_and_reports_it() {
    let dir = bundle_copy();
    let layout = dir.path().join("certificate-templates/export/c2-2.typ");
    let text = std::fs::read_to_string(&layout).expect("the C2-2 layout");
    let looping = format!("{text}\n#for i in range(100000) {{ for j in range(100000) {{ }} }}\n");
    std::fs::write(&layout, looping).expect("write");
    let started = std::time::Instant::now();
    let out = certflow(&["lint", "--layout-time-limit", "2", "--bundle", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("error[template.render]"), "{}", stdout(&out));
    assert!(stdout(&out).contains("export-c2-2"), "{}", stdout(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "stopped: {:?}", started.elapsed());
}

#[test]
fn ledger_import_stores_valid_records_and_names_the_fields_of_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite:{}", dir.path().join("ledger.sqlite").display());
    let sample: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("forms/samples/e-ledger.json")).unwrap())
            .unwrap();
    let mut bad = sample.clone();
    bad["insp_no"] = "224N42010009999".into();
    bad["destination_country"] = "XXX".into();
    bad["goods"][1]["hs_code"] = "07".into();
    let file = dir.path().join("ledger.json");
    std::fs::write(&file, serde_json::json!({"records": [sample, bad]}).to_string()).unwrap();

    let out = certflow(&["ledger", "import", file.to_str().unwrap(), "--database", &db]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "a rejected record fails the import: {text}");
    assert!(text.contains("record 2 (224N42010009999): destination_country: [param]"), "{text}");
    assert!(text.contains("record 2 (224N42010009999): goods/2/hs_code: [pattern]"), "{text}");
    assert!(text.contains("2 read, 1 stored, 1 rejected (1 in the database now)"), "{text}");

    // CSV: one row per goods line, the header naming fields and table.fields.
    let csv = dir.path().join("ledger.csv");
    std::fs::write(
        &csv,
        "\u{feff}insp_no,office,consignor_code,consignor_credit_code,consignor_name_zh,consignee_name_en,destination_country,transport_mode,certificates.cert_code,certificates.originals,certificates.copies,goods.item_no,goods.hs_code,goods.name_zh,goods.weight,goods.weight_unit\n\
         222N01040001300,0104,1101910023,91350100M000100Y43,北京华夏示范食品进出口有限公司,SAKURA FOODS CO. LTD.,JPN,2,18,1,2,1,0703200000,鲜大蒜,1200.5,035\n\
         222N01040001300,,,,,,,,,,,2,0910110000,鲜姜,800,035\n",
    )
    .unwrap();
    let out = certflow(&["ledger", "import", csv.to_str().unwrap(), "--database", &db, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["read"], 1, "two rows of one record");
    assert_eq!(report["stored"], 1);

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let record = runtime.block_on(async {
        let store = certflow_store::Store::connect(&db).await.unwrap();
        store.get_lookup_record("e-ledger", "222N01040001300").await.unwrap().expect("stored")
    });
    assert_eq!(record.data["goods"].as_array().unwrap().len(), 2);
    assert_eq!(record.data["goods"][0]["weight"], 1200.5);
    assert_eq!(record.data["certificates"][0]["cert_code"], "18");
}

#[test]
fn the_analyst_scenarios_pass_and_a_broken_expectation_is_named() {
    let out = certflow(&["test"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.lines().last().is_some_and(|l| l.ends_with(" passed, 0 failed")), "{text}");

    let dir = bundle_copy();
    let file = dir.path().join("forms/scenarios/export-c5-1.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, yaml.replace("\"Allium sativum L.\"", "\"Allium cepa L.\"")).unwrap();
    let out = certflow(&["test", "--bundle", dir.path().to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL  forms/scenarios/export-c5-1.yaml:"), "{text}");
    assert!(text.contains("the final layout does not show \"Allium cepa L.\""), "{text}");

    // A scenario naming what the type lacks is a lint error with its place.
    std::fs::write(
        &file,
        yaml.replace("set: {marks: null, containers/1/container_no: OOLU1835208}", "set: {mark: null}"),
    )
    .unwrap();
    let out = certflow(&["lint", "--bundle", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("error[scenario.unknown-field]: `a draft may be incomplete but not wrong`: `mark`"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn new_format_scaffolds_a_format_that_lints_and_passes_its_scenarios() {
    let dir = bundle_copy();
    let bundle = dir.path().to_str().unwrap();
    let out = certflow(&[
        "new-format",
        "export-c2-9",
        "--base",
        "export-sanitary-base",
        "--format-code",
        "C2-9",
        "--name-zh",
        "C2-9卫生证书（英文证）",
        "--name-en",
        "C2-9 Sanitary certificate (English)",
        "--bundle",
        bundle,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    for created in
        ["forms/doctypes/export/export-c2-9.yaml", "forms/samples/export-c2-9.json", "forms/scenarios/export-c2-9.yaml"]
    {
        assert!(dir.path().join(created).is_file(), "{created}");
    }
    let lint = certflow(&["lint", "--bundle", bundle]);
    assert_eq!(lint.status.code(), Some(0), "{}", stdout(&lint));
    let types = certflow(&["doctypes", "--json", "--bundle", bundle]);
    let list: serde_json::Value = serde_json::from_slice(&types.stdout).unwrap();
    assert!(list.as_array().unwrap().iter().any(|t| t["id"] == "export-c2-9" && t["format_code"] == "C2-9"));
    let test = certflow(&["test", "--bundle", bundle]);
    let text = stdout(&test);
    assert_eq!(test.status.code(), Some(0), "{text}");
    assert!(text.contains("ok    forms/scenarios/export-c2-9.yaml:"), "{text}");
    // Twice is refused: it exists.
    let again = certflow(&["new-format", "export-c2-9", "--base", "export-sanitary-base", "--bundle", bundle]);
    assert_eq!(again.status.code(), Some(2));
}
