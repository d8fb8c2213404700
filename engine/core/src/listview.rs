//! List views: the query pages of the bundle (criteria, date limits,
//! columns, row actions), compiled against the workflows and types they
//! list. The server runs them; nothing here touches a database.

use indexmap::IndexMap;
use serde::Serialize;

use crate::raw::{
    ColumnLink, CriterionKind, DateColumn, RawColumn, RawDateCriterion, RawRowAction, RawViewRefused, Text,
};

#[derive(Debug, Clone, Serialize)]
pub struct ListView {
    pub id: String,
    pub title: Text,
    /// Every document type listed.
    pub doctypes: Vec<String>,
    pub page_size: u32,
    pub date: Option<RawDateCriterion>,
    pub criteria: Vec<Criterion>,
    pub columns: Vec<RawColumn>,
    pub row_actions: Vec<RowAction>,
    pub view_refused: Option<RawViewRefused>,
    /// Types the list page offers to create.
    pub create: Vec<String>,
    /// Place in the menu.
    pub order: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Criterion {
    pub id: String,
    pub label: Text,
    pub kind: CriterionKind,
    pub all: Option<Text>,
    /// For `status`: the states; for `choice`: the options.
    pub options: Vec<Choice>,
    pub required_without_date: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    pub code: String,
    pub label: Text,
    /// Types this choice selects (for status criteria: empty).
    pub doctypes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RowAction {
    pub id: String,
    pub label: Text,
    pub opens: crate::raw::RowActionOpens,
    pub doctypes: Vec<String>,
    pub enabled_in: Vec<String>,
}

impl RowAction {
    pub fn applies_to(&self, doctype: &str) -> bool {
        self.doctypes.iter().any(|d| d == doctype)
    }

    pub fn enabled(&self, doctype: &str, status: &str) -> bool {
        self.applies_to(doctype) && (self.enabled_in.is_empty() || self.enabled_in.iter().any(|s| s == status))
    }
}

impl ListView {
    pub fn criterion(&self, id: &str) -> Option<&Criterion> {
        self.criteria.iter().find(|c| c.id == id)
    }

    /// The label of the choice of `criterion` that stands for `doctype`.
    pub fn choice_label(&self, criterion: &str, doctype: &str) -> Option<&Text> {
        self.criterion(criterion)?.options.iter().find(|o| o.doctypes.iter().any(|d| d == doctype)).map(|o| &o.label)
    }

    pub fn date_column(&self) -> Option<DateColumn> {
        self.date.as_ref().map(|d| d.field)
    }

    pub fn is_view_refused(&self, status: &str) -> Option<&Text> {
        self.view_refused.as_ref().filter(|r| r.states.iter().any(|s| s == status)).map(|r| &r.message)
    }

    pub fn link_of(&self, column: &str) -> Option<ColumnLink> {
        self.columns.iter().find(|c| c.id == column).and_then(|c| c.link)
    }
}

/// Values a column may show, checked by lint.
pub fn column_value_valid(value: &str, criteria: &IndexMap<String, CriterionKind>) -> bool {
    match value.split_once('.') {
        None => matches!(value, "business_no" | "unified_no" | "customs_no" | "status" | "created_at" | "updated_at"),
        Some(("doctype", rest)) => matches!(rest, "name" | "category"),
        Some(("meta" | "data", rest)) => !rest.is_empty(),
        Some(("criterion", id)) => criteria.contains_key(id),
        _ => false,
    }
}

pub(crate) fn row_action(raw: &RawRowAction, doctypes: Vec<String>) -> RowAction {
    RowAction {
        id: raw.id.clone(),
        label: raw.label.clone(),
        opens: raw.opens,
        doctypes,
        enabled_in: raw.enabled_in.clone(),
    }
}
