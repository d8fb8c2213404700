//! The shipped export workflows against the manual (OUT-5, OUT-11, OUT-14,
//! SP-4, manual 4.4.1): every action from every state, allowed or refused
//! with the workflow's words, and every receipt from every state.

use std::path::Path;

use certflow_core::{ActionRefused, CompiledBundle};
use serde_json::json;

fn shipped() -> CompiledBundle {
    certflow_core::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).expect("the shipped bundle")
}

/// `(action, the states it is allowed from)`; every other state refuses it.
fn check_actions(bundle: &CompiledBundle, doctype: &str, table: &[(&str, &[&str])]) {
    let workflow = bundle.workflow_for(doctype).expect("a workflow");
    let data = bundle.doctype(doctype).unwrap().sample.clone().unwrap();
    let ctx = json!({"children": [{"doctype": "x", "status": "S"}], "attachments": {"entrustment": 1}});
    for (action, allowed) in table {
        for state in workflow.states.keys() {
            let mut doc = data.clone();
            doc["confirm_opinion"] = json!("到达口岸有误");
            let planned = bundle.plan_action_with(doctype, state, action, &doc, &ctx);
            if allowed.contains(&state.as_str()) {
                assert!(planned.is_ok(), "{doctype}: {action} from {state} is allowed: {planned:?}");
            } else {
                match planned {
                    Err(ActionRefused::WrongState { message, .. }) => {
                        // In the workflow's own words (当前状态不可进行暂存操作！…).
                        let declared = workflow.actions[*action].refused.as_ref().expect("a refusal text");
                        assert_eq!(&message, declared, "{doctype} {action} {state}");
                    }
                    other => panic!("{doctype}: {action} from {state} must be refused, got {other:?}"),
                }
            }
        }
    }
    assert_eq!(workflow.actions.len(), table.len(), "{doctype}: every action is in the table");
}

/// `(receipt, the states it applies in, the state it leads to)`.
fn check_receipts(bundle: &CompiledBundle, doctype: &str, table: &[(&str, &[&str], &str)]) {
    let workflow = bundle.workflow_for(doctype).expect("a workflow");
    for (code, from, to) in table {
        for state in workflow.states.keys() {
            let applied = bundle.apply_receipt(&workflow.id, state, code);
            if from.contains(&state.as_str()) {
                assert_eq!(applied.map(|r| r.to.as_str()).ok(), Some(*to), "{doctype}: receipt {code} in {state}");
            } else {
                assert!(applied.is_err(), "{doctype}: receipt {code} must not apply in {state}");
            }
        }
    }
    assert_eq!(workflow.receipts.len(), table.len());
}

#[test]
fn certificates_move_through_the_fifteen_statuses_of_the_manual() {
    let bundle = shipped();
    let editable: &[&str] = &["S", "SF", "HF", "HT"];
    check_actions(
        &bundle,
        "export-c5-1",
        &[
            ("save", editable),
            ("submit", editable),
            ("upload", &["S"]),
            ("delete", &["S"]),
            ("confirm_agree", &["EW", "EF"]),
            ("confirm_disagree", &["EW", "EF"]),
            ("print_confirm", &["HP"]),
        ],
    );
    check_receipts(
        &bundle,
        "export-c5-1",
        &[
            ("SS", &["D"], "SS"),
            ("SF", &["D"], "SF"),
            ("HS", &["D", "SS"], "HS"),
            ("HF", &["D", "SS"], "HF"),
            ("HT", &["HS", "ES"], "HT"),
            ("EW", &["HS", "ES"], "EW"),
            ("ES", &["EA", "ED"], "ES"),
            ("EF", &["EA", "ED"], "EF"),
            ("HP", &["HS", "ES"], "HP"),
            ("HA", &["HS", "ES", "HP"], "HA"),
        ],
    );
    let states: Vec<&str> = bundle.workflow("export-certificate").unwrap().states.keys().map(String::as_str).collect();
    assert_eq!(states, ["S", "D", "SS", "SF", "HS", "HF", "HT", "EW", "EA", "ED", "ES", "EF", "HP", "HA", "HB"]);
    // A certificate goes to customs with its application only.
    assert!(bundle.workflow("export-certificate").unwrap().actions["submit"].via_parent);
}

#[test]
fn applications_are_submitted_again_only_after_a_failure() {
    let bundle = shipped();
    let again: &[&str] = &["S", "SF", "HF"];
    check_actions(
        &bundle,
        "export-application",
        &[("save", again), ("submit", again), ("upload", &["S"]), ("delete", &["S"])],
    );
    check_receipts(
        &bundle,
        "export-application",
        &[("SS", &["D"], "SS"), ("SF", &["D"], "SF"), ("HS", &["D", "SS"], "HS"), ("HF", &["D", "SS"], "HF")],
    );
    // Without a certificate, or an agent without the letter, 提交 is refused in the manual's words.
    let sample = bundle.doctype("export-application").unwrap().sample.clone().unwrap();
    let none = bundle.plan_action_with("export-application", "S", "submit", &sample, &json!({"children": []}));
    assert!(matches!(none, Err(ActionRefused::Guard { .. })), "{none:?}");
    let mut agent = sample.clone();
    agent["consignor_code"] = json!("1201960088");
    let refused = bundle.plan_action_with(
        "export-application",
        "S",
        "submit",
        &agent,
        &json!({"children": [{"doctype": "export-c5-1"}], "attachments": {}}),
    );
    match refused {
        Err(ActionRefused::Guard { message }) => {
            assert_eq!(message.zh, "委托代理企业申报证书时，必须在随附单据上传“签字委托书”！")
        }
        other => panic!("{other:?}"),
    }
}
