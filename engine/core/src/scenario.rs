//! Analyst scenarios (`certflow test`): a document of a type — its sample,
//! or written out — changed at a few paths, validated, and compared with
//! what the analyst expects: the exact errors, values after the rules, the
//! actions allowed and refused from a state. Laying the document out (texts
//! and page count) is the render crate's and done by the command.

use serde_json::{Value, json};

use crate::diag::SourceSpan;
use crate::model::CompiledBundle;
use crate::raw::RawScenario;
use crate::schema::Mode;

/// The scenarios of one file.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub file: String,
    pub doctype: String,
    pub cases: Vec<(SourceSpan, RawScenario)>,
}

/// What running a case's checks found.
#[derive(Debug, Clone)]
pub struct CaseRun {
    /// The document after validation (what a layout check lays out).
    pub document: Value,
    /// The state the actions were tried from.
    pub state: Option<String>,
    /// Each expectation that did not hold.
    pub failures: Vec<String>,
}

/// Sets `value` at a `goods/1/weight`-style path (rows from 1); null removes.
pub fn set_path(doc: &mut Value, path: &str, value: &Value) {
    let parts: Vec<&str> = path.split('/').collect();
    let mut at = doc;
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if let Ok(n) = part.parse::<usize>() {
            let Some(rows) = at.as_array_mut() else { return };
            while rows.len() < n {
                rows.push(json!({}));
            }
            at = &mut rows[n.saturating_sub(1)];
            continue;
        }
        if last {
            if let Some(obj) = at.as_object_mut() {
                if value.is_null() {
                    obj.remove(*part);
                } else {
                    obj.insert((*part).to_owned(), value.clone());
                }
            }
            return;
        }
        if at.get(*part).is_none() {
            let next_is_row = parts.get(i + 1).is_some_and(|p| p.parse::<usize>().is_ok());
            at[*part] = if next_is_row { json!([]) } else { json!({}) };
        }
        at = &mut at[*part];
    }
}

fn get_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('/').try_fold(doc, |v, part| match part.parse::<usize>() {
        Ok(n) => v.as_array()?.get(n.checked_sub(1)?),
        Err(_) => v.get(part),
    })
}

impl CompiledBundle {
    /// Runs a case's checks (not its layout).
    pub fn run_case(&self, doctype: &str, case: &RawScenario) -> CaseRun {
        let mut failures = Vec::new();
        let Some(ty) = self.doctype(doctype) else {
            return CaseRun {
                document: Value::Null,
                state: None,
                failures: vec![format!("no document type `{doctype}`")],
            };
        };
        let mut doc = case.document.clone().or_else(|| ty.sample.clone()).unwrap_or_else(|| json!({}));
        for (path, value) in &case.set {
            set_path(&mut doc, path, value);
        }
        let mode = if case.mode.as_deref() == Some("draft") { Mode::Draft } else { Mode::Submit };
        let report = self.validate_as(ty, &doc, mode);
        if let Some(expected) = &case.errors {
            let mut got: Vec<String> = report.errors.iter().map(|e| format!("{} [{}]", e.path, e.code)).collect();
            let mut want = expected.clone();
            got.sort();
            want.sort();
            if got != want {
                let messages: Vec<String> =
                    report.errors.iter().map(|e| format!("{} [{}] {}", e.path, e.code, e.message_zh)).collect();
                failures.push(format!("errors: expected {want:?}, got {got:?} ({})", messages.join("; ")));
            }
        }
        for (path, want) in &case.values {
            let got = get_path(&report.document, path);
            let same = match (got, want) {
                (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (Some(a), b) => a == b,
                (None, b) => b.is_null(),
            };
            if !same {
                failures.push(format!(
                    "{path}: expected {want}, got {}",
                    got.map(Value::to_string).unwrap_or_else(|| "nothing".into())
                ));
            }
        }
        let workflow = self.workflow_for(doctype);
        let state = case.state.clone().or_else(|| workflow.map(|w| w.initial.clone()));
        if let Some(state) = &state {
            let ctx = case
                .context
                .clone()
                .unwrap_or_else(|| json!({"attachments": {}, "children": [{"doctype": "", "status": ""}]}));
            for action in &case.allowed {
                if let Err(refused) = self.plan_action_with(doctype, state, action, &report.document, &ctx) {
                    failures
                        .push(format!("{action} from {state}: expected allowed, refused ({})", refused.message().zh));
                }
            }
            for action in &case.refused {
                if self.plan_action_with(doctype, state, action, &report.document, &ctx).is_ok() {
                    failures.push(format!("{action} from {state}: expected refused, allowed"));
                }
            }
        }
        CaseRun { document: report.document, state, failures }
    }
}
