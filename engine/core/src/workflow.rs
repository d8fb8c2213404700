//! Workflows: declared state machines. Given a state and an action the
//! interpreter checks where the action may start, runs its guard and returns
//! the steps to perform and the state to go to; customs receipts map to
//! transitions the same way.

use std::collections::{BTreeSet, VecDeque};

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

use crate::model::CompiledBundle;
use crate::raw::Text;
use crate::rules::GuardDecision;

/// The built-in steps an action can list, run in the order listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Formats and rules; required fields not enforced (暂存).
    ValidateDraft,
    /// Everything, required fields included (申报, 提交).
    Validate,
    /// The card signature over the canonical document.
    Sign,
    /// Give the document its number from the type's numbering scheme.
    Number,
    Store,
    /// Hand the document to the customs gateway through the outbox.
    SendToCustoms,
    Render,
    /// Keep the uploaded files.
    Attach,
    /// Run the same action on every document made inside this one (an
    /// application's 提交 submits its certificates); all or none.
    Children,
    /// Remove the document (with its receipts and attachments; the audit
    /// trail stays) and the documents made inside it.
    Delete,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::ValidateDraft,
        Step::Validate,
        Step::Sign,
        Step::Number,
        Step::Store,
        Step::SendToCustoms,
        Step::Render,
        Step::Attach,
        Step::Children,
        Step::Delete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::ValidateDraft => "validate_draft",
            Step::Validate => "validate",
            Step::Sign => "sign",
            Step::Number => "number",
            Step::Store => "store",
            Step::SendToCustoms => "send_to_customs",
            Step::Render => "render",
            Step::Attach => "attach",
            Step::Children => "children",
            Step::Delete => "delete",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct State {
    pub code: String,
    pub label: Text,
    pub is_final: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub id: String,
    pub label: Text,
    pub from: Vec<String>,
    pub to: String,
    pub guard: Option<String>,
    pub steps: Vec<Step>,
    pub done: Option<Text>,
    pub refused: Option<Text>,
    /// The question to confirm before the action runs.
    pub confirm: Option<Text>,
    /// Only run through the parent's `children` step.
    pub via_parent: bool,
    /// What a user trying a `via_parent` action alone is told.
    pub alone: Option<Text>,
    /// Fields this action lets the user change.
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Receipt {
    pub code: String,
    pub label: Text,
    pub from: Vec<String>,
    pub to: String,
    pub simulator: Option<crate::raw::SimulatorRole>,
    pub number: Option<crate::raw::RawReceiptNumber>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workflow {
    pub id: String,
    pub name: Text,
    pub initial: String,
    /// Who makes its documents.
    pub started_by: crate::raw::StartedBy,
    /// Rule file (under rules/) holding the guards.
    pub rules: Option<String>,
    pub states: IndexMap<String, State>,
    pub actions: IndexMap<String, Action>,
    pub receipts: IndexMap<String, Receipt>,
}

impl Workflow {
    /// Actions that may start from `state` (guards not yet asked).
    pub fn actions_from<'a>(&'a self, state: &'a str) -> impl Iterator<Item = &'a Action> + 'a {
        self.actions.values().filter(move |a| a.from.iter().any(|f| f == state))
    }

    /// States no action or receipt can reach from the initial state.
    pub fn unreachable_states(&self) -> Vec<&str> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([self.initial.as_str()]);
        while let Some(state) = queue.pop_front() {
            if !seen.insert(state) {
                continue;
            }
            let targets = self.transitions().filter(|(from, _)| from.iter().any(|f| f == state)).map(|(_, to)| to);
            queue.extend(targets);
        }
        self.states.keys().map(String::as_str).filter(|s| !seen.contains(s)).collect()
    }

    /// Non-final states with no way out to another state.
    pub fn dead_ends(&self) -> Vec<&str> {
        self.states
            .values()
            .filter(|s| !s.is_final)
            .filter(|s| !self.transitions().any(|(from, to)| to != s.code && from.contains(&s.code)))
            .map(|s| s.code.as_str())
            .collect()
    }

    fn transitions(&self) -> impl Iterator<Item = (&[String], &str)> {
        let actions = self.actions.values().map(|a| (a.from.as_slice(), a.to.as_str()));
        let receipts = self.receipts.values().map(|r| (r.from.as_slice(), r.to.as_str()));
        actions.chain(receipts)
    }
}

/// What an allowed action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionPlan {
    pub action: String,
    pub from: String,
    pub to: String,
    pub steps: Vec<Step>,
    /// Shown when the action succeeds (`暂存成功`).
    pub done: Option<Text>,
}

/// Why an action may not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionRefused {
    #[error("unknown document type `{0}`")]
    UnknownDocType(String),
    #[error("document type `{0}` has no workflow")]
    NoWorkflow(String),
    #[error("workflow `{workflow}` has no action `{action}`")]
    UnknownAction { workflow: String, action: String },
    /// Not allowed in the current state; the message is the user's.
    #[error("{}", message.zh)]
    WrongState { state: String, message: Text },
    #[error("{}", message.zh)]
    Guard { message: Text },
}

impl ActionRefused {
    /// The message for the user, both languages.
    pub fn message(&self) -> Text {
        match self {
            ActionRefused::WrongState { message, .. } | ActionRefused::Guard { message } => message.clone(),
            other => Text::new(other.to_string(), other.to_string()),
        }
    }
}

/// A receipt that does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptRefused {
    #[error("workflow `{workflow}` has no receipt `{code}`")]
    Unknown { workflow: String, code: String },
    #[error("receipt `{code}` does not apply in state `{state}`")]
    WrongState { code: String, state: String },
}

impl CompiledBundle {
    fn workflow_of(&self, doctype: &str) -> Result<&Workflow, ActionRefused> {
        let ty = self.doctype(doctype).ok_or_else(|| ActionRefused::UnknownDocType(doctype.into()))?;
        let id = ty.workflow.as_deref().ok_or_else(|| ActionRefused::NoWorkflow(doctype.into()))?;
        self.workflow(id).ok_or_else(|| ActionRefused::NoWorkflow(doctype.into()))
    }

    /// Plans `action` on a document of `doctype` in `state`: checks where
    /// it may start, asks its guard, and returns its steps and target.
    pub fn plan_action(
        &self,
        doctype: &str,
        state: &str,
        action: &str,
        doc: &Value,
    ) -> Result<ActionPlan, ActionRefused> {
        self.plan_action_with(doctype, state, action, doc, &Value::Null)
    }

    /// As [`Self::plan_action`], giving a guard written `fn name(doc, ctx)`
    /// what the server knows beside the data: `ctx` such as
    /// `{attachments: {slot: count}, children: [...], lookups: {...}}`.
    pub fn plan_action_with(
        &self,
        doctype: &str,
        state: &str,
        action: &str,
        doc: &Value,
        ctx: &Value,
    ) -> Result<ActionPlan, ActionRefused> {
        let workflow = self.workflow_of(doctype)?;
        let act = workflow
            .actions
            .get(action)
            .ok_or_else(|| ActionRefused::UnknownAction { workflow: workflow.id.clone(), action: action.into() })?;
        if !act.from.iter().any(|f| f == state) {
            let label = workflow.states.get(state).map(|s| s.label.clone()).unwrap_or_else(|| Text::new(state, state));
            let message = act.refused.clone().unwrap_or_else(|| {
                Text::new(
                    format!("当前状态（{}）不可进行{}操作", label.zh, act.label.zh),
                    format!("{} is not possible in status {}", act.label.en_or_zh(), label.en_or_zh()),
                )
            });
            return Err(ActionRefused::WrongState { state: state.into(), message });
        }
        if let (Some(guard), Some(script)) = (&act.guard, &workflow.rules)
            && let GuardDecision::Refuse { zh, en } = if self.rules.has_function(script, guard, 2) {
                self.rules.guard_with(script, guard, &[doc.clone(), ctx.clone()])
            } else {
                self.rules.guard(script, guard, doc)
            }
        {
            return Err(ActionRefused::Guard { message: Text::new(zh, en) });
        }
        Ok(ActionPlan {
            action: act.id.clone(),
            from: state.into(),
            to: act.to.clone(),
            steps: act.steps.clone(),
            done: act.done.clone(),
        })
    }

    /// The state a customs receipt moves a document to.
    pub fn apply_receipt(&self, workflow: &str, state: &str, code: &str) -> Result<&Receipt, ReceiptRefused> {
        let unknown = || ReceiptRefused::Unknown { workflow: workflow.into(), code: code.into() };
        let wf = self.workflow(workflow).ok_or_else(unknown)?;
        let receipt = wf.receipts.get(code).ok_or_else(unknown)?;
        if receipt.from.iter().any(|f| f == state) {
            Ok(receipt)
        } else {
            Err(ReceiptRefused::WrongState { code: code.into(), state: state.into() })
        }
    }
}
