//! The Rhai host's limits and the workflow interpreter, on the `minimal`
//! fixture bundle (changed in memory where a test needs it).

use std::path::Path;
use std::time::{Duration, Instant};

use certflow_core::rules::RuleLimits;
use certflow_core::workflow::ReceiptRefused;
use certflow_core::{ActionRefused, BundleSource, CompiledBundle, Mode, Step};
use serde_json::json;

fn minimal() -> BundleSource {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/bundles/minimal");
    BundleSource::read_dir(&dir).expect("readable")
}

fn build(source: &BundleSource) -> CompiledBundle {
    let (bundle, diagnostics) = certflow_core::compile(source);
    bundle.unwrap_or_else(|| panic!("{}", diagnostics.render_human()))
}

fn order() -> serde_json::Value {
    json!({"decl_no": "010120241000003476", "goods": [{"name": "苹果", "qty": 2, "unit": "035"}]})
}

/// A rule that misbehaves only on one declaration number, so that the
/// bundle's sample (checked by the compiler) still passes.
const TRIGGER: &str = "999999999999999999";

fn order_that_triggers() -> serde_json::Value {
    json!({"decl_no": TRIGGER, "goods": [{"name": "苹果", "qty": 2, "unit": "035"}]})
}

fn misbehaving(body: &str) -> String {
    format!("if doc.decl_no == \"{TRIGGER}\" {{ {body} }}")
}

#[test]
fn an_endless_rule_is_stopped_and_reported() {
    let mut source = minimal();
    source.insert("rules/order.rhai", misbehaving("let n = 0; loop { n += 1; }"));
    let bundle = build(&source);
    let started = Instant::now();
    let report = bundle.validate("order", &order_that_triggers(), Mode::Submit).expect("known type");
    assert!(started.elapsed() < Duration::from_secs(10), "the loop was not stopped");
    let e = report.errors.iter().find(|e| e.code == "rule.limit").expect("limit reported");
    assert!(e.message_en.contains("order.rhai"), "{}", e.message_en);
    assert!(e.message_zh.contains("联系系统管理员"), "{}", e.message_zh);
}

#[test]
fn a_slow_rule_hits_the_wall_clock() {
    let mut source = minimal();
    // Few operations but each slow: string building under the operation limit.
    source.insert("rules/order.rhai", misbehaving("let s = \"\"; for i in 0..200000 { s = `${i}`; }"));
    let limits = RuleLimits { wall_clock: Duration::from_millis(20), ..RuleLimits::default() };
    let (bundle, d) = certflow_core::compile::compile_with(&source, limits);
    let bundle = bundle.unwrap_or_else(|| panic!("{}", d.render_human()));
    let report = bundle.validate("order", &order_that_triggers(), Mode::Submit).expect("known type");
    assert!(report.errors.iter().any(|e| e.code == "rule.limit"), "{:?}", report.errors);
}

#[test]
fn lint_runs_the_samples_so_a_looping_rule_is_caught_before_it_is_served() {
    let mut source = minimal();
    source.insert("rules/order.rhai", "loop { }");
    let (bundle, diagnostics) = certflow_core::compile(&source);
    assert!(bundle.is_none());
    let text = diagnostics.render_human();
    assert!(text.contains("sample.invalid") && text.contains("rule.limit"), "{text}");
}

#[test]
fn eval_is_not_available_to_rules() {
    let mut source = minimal();
    source.insert("rules/order.rhai", "eval(\"1 + 1\");");
    let (bundle, diagnostics) = certflow_core::compile(&source);
    assert!(bundle.is_none());
    assert!(diagnostics.render_human().contains("rules/order.rhai:1:"), "{}", diagnostics.render_human());
}

#[test]
fn a_runtime_error_in_a_rule_is_reported_not_panicked() {
    let mut source = minimal();
    source.insert("rules/order.rhai", misbehaving("let x = doc.goods[0].qty / 0;"));
    let bundle = build(&source);
    let report = bundle.validate("order", &order_that_triggers(), Mode::Submit).expect("known type");
    assert!(report.errors.iter().any(|e| e.code == "rule.failed"), "{:?}", report.errors);
}

#[test]
fn actions_follow_the_declared_states() {
    let bundle = build(&minimal());
    let plan = bundle.plan_action("order", "1", "declare", &order()).expect("allowed from 1");
    assert_eq!(plan.to, "4");
    assert_eq!(plan.steps, [Step::Validate, Step::Sign, Step::Store, Step::SendToCustoms]);
    assert_eq!(plan.done.expect("message").zh, "数据申报成功");

    let refused = bundle.plan_action("order", "4", "declare", &order()).expect_err("not from 4");
    assert!(matches!(refused, ActionRefused::WrongState { .. }));
    assert_eq!(refused.message().zh, "当前状态不可申报！");

    let save = bundle.plan_action("order", "4", "save", &order()).expect_err("save only from 1");
    assert!(save.message().zh.contains("已办"), "default refusal names the state: {}", save.message().zh);

    assert!(matches!(bundle.plan_action("order", "1", "approve", &order()), Err(ActionRefused::UnknownAction { .. })));
}

#[test]
fn guards_can_refuse_with_a_reason() {
    let bundle = build(&minimal());
    let empty = json!({"decl_no": "010120241000003476", "goods": []});
    let refused = bundle.plan_action("order", "1", "declare", &empty).expect_err("guard says no");
    let ActionRefused::Guard { message } = refused else { panic!("expected a guard refusal") };
    assert_eq!(message.zh, "请先录入商品");
    assert_eq!(message.en, "Enter the goods first");
}

#[test]
fn receipts_move_documents_only_from_their_states() {
    let bundle = build(&minimal());
    let receipt = bundle.apply_receipt("simple", "4", "10").expect("4 → 10");
    assert_eq!(receipt.to, "10");
    assert!(matches!(bundle.apply_receipt("simple", "1", "10"), Err(ReceiptRefused::WrongState { .. })));
    assert!(matches!(bundle.apply_receipt("simple", "4", "99"), Err(ReceiptRefused::Unknown { .. })));
}

#[test]
fn the_shipped_import_workflow_matches_the_manual() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bundle = certflow_core::load(&root).expect("shipped bundle compiles");
    let sample = bundle.doctype("import-food").and_then(|t| t.sample.clone()).expect("sample");
    // 暂存 from 待办 → 暂存; 申报 from 暂存 → 已办 with a signature; no upload on a data supplement.
    let save = bundle.plan_action("import-food", "3", "save", &sample).expect("save from 3");
    assert_eq!((save.to.as_str(), save.done.unwrap().zh.as_str()), ("1", "暂存成功"));
    let declare = bundle.plan_action("import-food", "1", "declare", &sample).expect("declare from 1");
    assert_eq!(declare.to, "4");
    assert!(declare.steps.contains(&Step::Sign));
    assert!(bundle.plan_action("import-food", "4", "declare", &sample).is_err());
    // 单据补传: only in 3-待办, with the manual's words.
    let up = bundle.plan_action("import-reupload", "3", "upload", &json!({})).expect("upload from 3");
    assert_eq!(up.done.unwrap().zh, "上传成功！");
    let refused = bundle.plan_action("import-reupload", "4", "upload", &json!({})).expect_err("not from 4");
    assert_eq!(refused.message().zh, "当前状态不可进行上传操作！");
    for (from, code, to) in [("4", "8", "8"), ("4", "9", "9"), ("9", "10", "10"), ("9", "11", "11")] {
        assert_eq!(bundle.apply_receipt("import-supplement", from, code).expect("receipt applies").to, to);
    }
}
