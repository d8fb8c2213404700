//! Raw definitions → `CompiledBundle`. One pass collects every problem it
//! can find; the bundle is produced only when there is no error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use crate::diag::{Diagnostic, Diagnostics, SourceSpan, display_path};
use crate::model::{
    AllowedBy, Children, CompiledBundle, DocType, Field, Format, Layout, Lookup, NumberingScheme, ParamRow, ParamTable,
    Pick, Section, SourceFile, Table,
};
use crate::raw::{
    FieldClass, FieldType, RawDefinition, RawDocType, RawField, RawNumbering, RawParamTable, RawSection, RawTable,
    RawWorkflow, S, Text, Variant, Widget,
};
use crate::rules::{RuleHost, RuleLimits};
use crate::schema::{self, DocSchemas, Mode};
use crate::workflow::{Action, Receipt, State, Step, Workflow};

pub const FORMS_DIR: &str = "forms";
pub const RULES_DIR: &str = "rules";
pub const TEMPLATES_DIR: &str = "certificate-templates";

/// The bundle's files, read into memory: what the compiler works on. Tests
/// build one from strings; the server reads one from disk.
#[derive(Debug, Clone, Default)]
pub struct BundleSource {
    /// Bundle-relative `/`-separated path → content, sorted.
    pub files: BTreeMap<String, Arc<[u8]>>,
}

/// The bundle directory could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("cannot read the bundle at {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{} has no forms/ folder: is it a bundle? (pass --bundle DIR)", .0.display())]
    NotABundle(PathBuf),
    /// The bundle has errors; the diagnostics say which.
    #[error("the bundle has {} problem(s)", .0.len())]
    Invalid(Diagnostics),
}

impl BundleSource {
    /// Reads forms/, rules/ and certificate-templates/ under `root`.
    pub fn read_dir(root: &Path) -> Result<Self, BundleError> {
        if !root.join(FORMS_DIR).is_dir() {
            return Err(BundleError::NotABundle(root.to_path_buf()));
        }
        let mut files = BTreeMap::new();
        for dir in [FORMS_DIR, RULES_DIR, TEMPLATES_DIR] {
            let base = root.join(dir);
            if base.is_dir() {
                read_tree(root, &base, &mut files)?;
            }
        }
        Ok(Self { files })
    }

    pub fn insert(&mut self, path: impl Into<String>, content: impl AsRef<[u8]>) {
        self.files.insert(path.into(), Arc::from(content.as_ref()));
    }

    /// A file's content, when it is UTF-8 text.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.files.get(path).and_then(|b| std::str::from_utf8(b).ok())
    }

    /// SHA-256 over every file's path and content.
    pub fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (path, bytes) in &self.files {
            h.update((path.len() as u64).to_le_bytes());
            h.update(path.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        hex::encode(h.finalize())
    }
}

fn read_tree(root: &Path, dir: &Path, out: &mut BTreeMap<String, Arc<[u8]>>) -> Result<(), BundleError> {
    let io = |path: &Path, source| BundleError::Io { path: path.to_path_buf(), source };
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).and_then(|d| d.collect::<Result<_, _>>()).map_err(|e| io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        // Editors' swap and backup files are not part of the bundle.
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with('~') || name.ends_with(".swp") {
            continue;
        }
        if path.is_dir() {
            read_tree(root, &path, out)?;
        } else {
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            out.insert(display_path(root, &path), Arc::from(bytes));
        }
    }
    Ok(())
}

/// Reads and compiles the bundle at `root`.
pub fn load(root: &Path) -> Result<CompiledBundle, BundleError> {
    let source = BundleSource::read_dir(root)?;
    let (bundle, diagnostics) = compile(&source);
    bundle.ok_or(BundleError::Invalid(diagnostics))
}

/// Compiles a bundle: the bundle when it has no error, and every problem
/// found (warnings too) either way.
pub fn compile(source: &BundleSource) -> (Option<CompiledBundle>, Diagnostics) {
    compile_with(source, RuleLimits::default())
}

pub fn compile_with(source: &BundleSource, limits: RuleLimits) -> (Option<CompiledBundle>, Diagnostics) {
    let mut cx = Compiler { source, diags: Vec::new() };
    let bundle = cx.run(limits);
    let diagnostics: Diagnostics = cx.diags.into_iter().collect();
    let diagnostics = diagnostics.sorted();
    let bundle = if diagnostics.has_errors() { None } else { bundle };
    (bundle, diagnostics)
}

struct Compiler<'a> {
    source: &'a BundleSource,
    diags: Vec<Diagnostic>,
}

fn at<T>(file: &str, s: &S<T>) -> SourceSpan {
    SourceSpan::new(file, s.referenced.line().max(1) as u32, s.referenced.column().max(1) as u32)
}

/// A definition with the file it came from.
struct Def<T> {
    file: String,
    raw: T,
}

#[derive(Default)]
struct Raws {
    params: Vec<Def<RawParamTable>>,
    numbering: Vec<Def<RawNumbering>>,
    workflows: Vec<Def<RawWorkflow>>,
    doctypes: Vec<Def<RawDocType>>,
    list_views: Vec<Def<crate::raw::RawListView>>,
    scenarios: Vec<Def<crate::raw::RawScenarios>>,
}

impl Compiler<'_> {
    fn error(&mut self, code: &str, span: SourceSpan, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, span, message));
        self.diags.last_mut().expect("just pushed")
    }

    fn warn(&mut self, code: &str, span: SourceSpan, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::warning(code, span, message));
        self.diags.last_mut().expect("just pushed")
    }

    fn run(&mut self, limits: RuleLimits) -> Option<CompiledBundle> {
        let raws = self.parse_forms();
        let params = Arc::new(self.compile_params(&raws.params));
        let rule_sources = self.rule_sources();
        let rules = RuleHost::compile(&rule_sources, params.clone(), limits, &mut self.diags);
        let numbering = self.compile_numbering(&raws.numbering);
        let workflows = self.compile_workflows(&raws.workflows, &rules);
        let (doctypes, bases) = self.compile_doctypes(&raws.doctypes, &params, &workflows, &numbering, &rules);
        let list_views = self.compile_list_views(&raws.list_views, &workflows, &doctypes);
        let scenarios = self.compile_scenarios(&raws.scenarios, &doctypes, &workflows);
        let templates: Vec<String> =
            self.source.files.keys().filter(|p| p.starts_with(&format!("{TEMPLATES_DIR}/"))).cloned().collect();
        let sources = self
            .source
            .files
            .iter()
            .map(|(path, bytes)| SourceFile { path: path.clone(), bytes: bytes.clone() })
            .collect();
        let bundle = CompiledBundle {
            hash: self.source.hash(),
            doctypes,
            bases,
            workflows,
            params,
            numbering,
            list_views,
            scenarios,
            templates,
            sources,
            rules,
        };
        self.check_samples(&bundle);
        Some(bundle)
    }

    fn parse_forms(&mut self) -> Raws {
        let mut raws = Raws::default();
        let prefix = format!("{FORMS_DIR}/");
        let yaml_files: Vec<String> = self
            .source
            .files
            .keys()
            .filter(|p| p.starts_with(&prefix) && (p.ends_with(".yaml") || p.ends_with(".yml")))
            .cloned()
            .collect();
        for file in yaml_files {
            let Some(text) = self.source.text(&file) else {
                self.error("yaml.encoding", SourceSpan::file(&file), "the file is not UTF-8 text");
                continue;
            };
            match serde_saphyr::from_str::<RawDefinition>(text) {
                Ok(RawDefinition::ParamTable(raw)) => raws.params.push(Def { file, raw }),
                Ok(RawDefinition::Numbering(raw)) => raws.numbering.push(Def { file, raw }),
                Ok(RawDefinition::Workflow(raw)) => raws.workflows.push(Def { file, raw }),
                Ok(RawDefinition::Doctype(raw)) => raws.doctypes.push(Def { file, raw: *raw }),
                Ok(RawDefinition::ListView(raw)) => raws.list_views.push(Def { file, raw }),
                Ok(RawDefinition::Scenarios(raw)) => raws.scenarios.push(Def { file, raw }),
                Err(e) => {
                    let diagnostic = yaml_diagnostic(&file, &e);
                    self.diags.push(diagnostic);
                }
            }
        }
        raws
    }

    fn rule_sources(&mut self) -> IndexMap<String, String> {
        let prefix = format!("{RULES_DIR}/");
        let mut out = IndexMap::new();
        for (path, bytes) in &self.source.files {
            let Some(rel) = path.strip_prefix(&prefix) else { continue };
            if !rel.ends_with(".rhai") {
                continue;
            }
            match std::str::from_utf8(bytes) {
                Ok(text) => {
                    out.insert(rel.to_owned(), text.to_owned());
                }
                Err(_) => {
                    self.diags.push(Diagnostic::error(
                        "rule.encoding",
                        SourceSpan::file(path),
                        "the script is not UTF-8 text",
                    ));
                }
            }
        }
        out
    }

    /// Reports ids defined twice; returns whether `id` is new.
    fn claim_id(&mut self, seen: &mut HashMap<String, SourceSpan>, kind: &str, id: &S<String>, file: &str) -> bool {
        let span = at(file, id);
        if !valid_id(&id.value) {
            self.error("def.bad-id", span.clone(), format!("`{}` is not a valid {kind} id", id.value))
                .hints
                .push("ids are lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit".into());
        }
        if let Some(first) = seen.get(&id.value) {
            let first = first.clone();
            self.error("def.duplicate-id", span, format!("{kind} `{}` is defined twice", id.value))
                .hints
                .push(format!("first defined at {first}"));
            return false;
        }
        seen.insert(id.value.clone(), span);
        true
    }

    fn check_text(&mut self, what: &str, text: &Text, span: &SourceSpan) {
        if text.zh.trim().is_empty() {
            self.error("i18n.missing-zh", span.clone(), format!("{what} has no Chinese text"));
        }
        // A missing English text is an analyst's lint (crate::lints), found
        // wherever a text is written, not only where the compiler reads one.
    }

    fn compile_params(&mut self, defs: &[Def<RawParamTable>]) -> IndexMap<String, ParamTable> {
        let mut seen = HashMap::new();
        let mut out = IndexMap::new();
        for Def { file, raw } in defs {
            if !self.claim_id(&mut seen, "parameter table", &raw.id, file) {
                continue;
            }
            let mut index = BTreeMap::new();
            let mut rows = Vec::with_capacity(raw.rows.len());
            for row in &raw.rows {
                let span = at(file, row);
                let r = &row.value;
                if r.code.trim().is_empty() {
                    self.error("param.empty-code", span, "a row has an empty code");
                    continue;
                }
                if index.contains_key(&r.code) {
                    self.error(
                        "param.duplicate-code",
                        span,
                        format!("code `{}` appears twice in `{}`", r.code, raw.id.value),
                    );
                    continue;
                }
                index.insert(r.code.clone(), rows.len());
                rows.push(ParamRow {
                    code: r.code.clone(),
                    zh: r.zh.clone(),
                    en: r.en.clone(),
                    extra: r.extra.clone(),
                });
            }
            if rows.is_empty() {
                self.error("param.empty", at(file, &raw.id), format!("parameter table `{}` has no rows", raw.id.value));
            }
            out.insert(
                raw.id.value.clone(),
                ParamTable {
                    id: raw.id.value.clone(),
                    name: raw.name.clone(),
                    source: raw.source.clone(),
                    rows,
                    index,
                },
            );
        }
        out
    }

    fn compile_numbering(&mut self, defs: &[Def<RawNumbering>]) -> IndexMap<String, NumberingScheme> {
        let mut seen = HashMap::new();
        let mut out = IndexMap::new();
        for Def { file, raw } in defs {
            if !self.claim_id(&mut seen, "numbering scheme", &raw.id, file) {
                continue;
            }
            if raw.prefix.value.is_empty() || !raw.prefix.value.chars().all(|c| c.is_ascii_uppercase()) {
                self.error(
                    "numbering.prefix",
                    at(file, &raw.prefix),
                    "the prefix must be upper-case letters, e.g. `A`",
                );
            }
            if !(1..=18).contains(&raw.serial_width.value) {
                self.error("numbering.width", at(file, &raw.serial_width), "serial_width must be between 1 and 18");
            }
            out.insert(
                raw.id.value.clone(),
                NumberingScheme {
                    id: raw.id.value.clone(),
                    name: raw.name.clone(),
                    prefix: raw.prefix.value.clone(),
                    year: raw.year,
                    serial_width: raw.serial_width.value,
                },
            );
        }
        out
    }

    fn compile_workflows(&mut self, defs: &[Def<RawWorkflow>], rules: &RuleHost) -> IndexMap<String, Workflow> {
        let mut seen = HashMap::new();
        let mut out = IndexMap::new();
        for Def { file, raw } in defs {
            if !self.claim_id(&mut seen, "workflow", &raw.id, file) {
                continue;
            }
            let id_span = at(file, &raw.id);
            let states: IndexMap<String, State> = raw
                .states
                .iter()
                .map(|(code, s)| {
                    (
                        code.clone(),
                        State { code: code.clone(), label: s.value.label.clone(), is_final: s.value.is_final },
                    )
                })
                .collect();
            for (code, s) in &raw.states {
                self.check_text(&format!("state `{code}`"), &s.value.label, &at(file, s));
            }
            if !states.contains_key(&raw.initial.value) {
                self.error(
                    "workflow.unknown-state",
                    at(file, &raw.initial),
                    format!("initial state `{}` is not among the states", raw.initial.value),
                );
            }
            if let Some(r) = &raw.rules
                && !rules.has_script(&r.value)
            {
                self.error(
                    "ref.unknown-rule-file",
                    at(file, r),
                    format!("rule file `rules/{}` does not exist", r.value),
                );
            }
            let check_state = |cx: &mut Self, s: &S<String>| {
                if !states.contains_key(&s.value) {
                    cx.error(
                        "workflow.unknown-state",
                        at(file, s),
                        format!("state `{}` is not defined in workflow `{}`", s.value, raw.id.value),
                    )
                    .hints
                    .push(format!("defined states: {}", states.keys().cloned().collect::<Vec<_>>().join(", ")));
                }
            };
            let mut actions = IndexMap::new();
            for (id, a) in &raw.actions {
                let a_span = at(file, a);
                let a = &a.value;
                self.check_text(&format!("action `{id}`"), &a.label, &a_span);
                for f in &a.from {
                    check_state(self, f);
                }
                check_state(self, &a.to);
                if a.from.is_empty() {
                    self.error("workflow.no-from", a_span.clone(), format!("action `{id}` starts from no state"));
                }
                let mut steps = Vec::new();
                for s in &a.steps {
                    match Step::parse(&s.value) {
                        Some(step) => steps.push(step),
                        None => {
                            self.error(
                                "workflow.unknown-step",
                                at(file, s),
                                format!("`{}` is not a built-in step", s.value),
                            )
                            .hints
                            .push(format!("steps: {}", Step::ALL.map(Step::name).join(", ")));
                        }
                    }
                }
                if let Some(g) = &a.guard {
                    match &raw.rules {
                        None => {
                            self.error(
                                "workflow.guard-without-rules",
                                at(file, g),
                                format!("guard `{}` needs the workflow's `rules:` file", g.value),
                            );
                        }
                        Some(r)
                            if rules.has_script(&r.value)
                                && !rules.has_function(&r.value, &g.value, 1)
                                && !rules.has_function(&r.value, &g.value, 2) =>
                        {
                            self.error(
                                "ref.unknown-guard",
                                at(file, g),
                                format!("rules/{} defines no function `{}(doc)`", r.value, g.value),
                            );
                        }
                        _ => {}
                    }
                }
                actions.insert(
                    id.clone(),
                    Action {
                        id: id.clone(),
                        label: a.label.clone(),
                        from: a.from.iter().map(|s| s.value.clone()).collect(),
                        to: a.to.value.clone(),
                        guard: a.guard.as_ref().map(|g| g.value.clone()),
                        steps,
                        done: a.done.clone(),
                        refused: a.refused.clone(),
                        confirm: a.confirm.clone(),
                        via_parent: a.via_parent,
                        alone: a.alone.clone(),
                        fields: a.fields.iter().map(|f| f.value.clone()).collect(),
                    },
                );
            }
            let mut receipts = IndexMap::new();
            for (code, r) in &raw.receipts {
                let r_span = at(file, r);
                let r = &r.value;
                self.check_text(&format!("receipt `{code}`"), &r.label, &r_span);
                for f in &r.from {
                    check_state(self, f);
                }
                check_state(self, &r.to);
                receipts.insert(
                    code.clone(),
                    Receipt {
                        code: code.clone(),
                        label: r.label.clone(),
                        from: r.from.iter().map(|s| s.value.clone()).collect(),
                        to: r.to.value.clone(),
                        simulator: r.simulator,
                        number: r.number.clone(),
                    },
                );
            }
            let workflow = Workflow {
                id: raw.id.value.clone(),
                name: raw.name.clone(),
                initial: raw.initial.value.clone(),
                started_by: raw.started_by,
                rules: raw.rules.as_ref().map(|r| r.value.clone()),
                states,
                actions,
                receipts,
            };
            for state in workflow.unreachable_states() {
                let span = raw.states.get(state).map(|s| at(file, s)).unwrap_or_else(|| id_span.clone());
                self.error(
                    "workflow.unreachable",
                    span,
                    format!("state `{state}` cannot be reached from `{}`", workflow.initial),
                )
                .hints
                .push("add an action or receipt leading to it, or remove it".into());
            }
            for state in workflow.dead_ends() {
                let span = raw.states.get(state).map(|s| at(file, s)).unwrap_or_else(|| id_span.clone());
                self.error("workflow.dead-end", span, format!("state `{state}` has no way out"))
                    .hints
                    .push("mark it `final: true` if documents are meant to end there".into());
            }
            out.insert(workflow.id.clone(), workflow);
        }
        out
    }

    /// Analyst scenarios: what they name must exist.
    fn compile_scenarios(
        &mut self,
        defs: &[Def<crate::raw::RawScenarios>],
        doctypes: &IndexMap<String, Arc<DocType>>,
        workflows: &IndexMap<String, Workflow>,
    ) -> Vec<crate::scenario::Scenario> {
        let mut out = Vec::new();
        for Def { file, raw } in defs {
            let Some(ty) = doctypes.get(&raw.doctype.value) else {
                let d = self.error(
                    "scenario.unknown-doctype",
                    at(file, &raw.doctype),
                    format!("scenarios for `{}`, which is not a document type", raw.doctype.value),
                );
                if let Some(near) = closest(&raw.doctype.value, doctypes.keys().map(String::as_str)) {
                    d.hints.push(format!("did you mean `{near}`?"));
                }
                continue;
            };
            let workflow = ty.workflow.as_deref().and_then(|w| workflows.get(w));
            for case in &raw.cases {
                let span = at(file, case);
                let c = &case.value;
                if c.mode.as_deref().is_some_and(|m| m != "draft" && m != "submit") {
                    self.error("scenario.mode", span.clone(), format!("`{}`: mode is draft or submit", c.name));
                }
                if let Some(state) = &c.state
                    && !workflow.is_some_and(|w| w.states.contains_key(state))
                {
                    self.error(
                        "scenario.unknown-state",
                        span.clone(),
                        format!("`{}`: `{state}` is not a state of `{}`", c.name, ty.id),
                    );
                }
                for action in c.allowed.iter().chain(&c.refused) {
                    if !workflow.is_some_and(|w| w.actions.contains_key(action)) {
                        self.error(
                            "scenario.unknown-action",
                            span.clone(),
                            format!("`{}`: `{action}` is not an action of `{}`", c.name, ty.id),
                        );
                    }
                }
                for path in c.set.keys().chain(c.values.keys()) {
                    if ty.field_at(path).is_none() && !ty.tables.contains_key(path.as_str()) {
                        self.error(
                            "scenario.unknown-field",
                            span.clone(),
                            format!("`{}`: `{path}` is not a field of `{}`", c.name, ty.id),
                        );
                    }
                }
                if let Some(v) = c.layout.as_ref().and_then(|l| l.variant.as_deref())
                    && Variant::parse(v).is_none()
                {
                    self.error(
                        "scenario.variant",
                        span.clone(),
                        format!("`{}`: `{v}` is not a layout variant", c.name),
                    );
                }
                if c.document.is_none() && ty.sample.is_none() {
                    self.error(
                        "scenario.no-document",
                        span.clone(),
                        format!("`{}`: no document and `{}` has no sample", c.name, ty.id),
                    );
                }
            }
            out.push(crate::scenario::Scenario {
                file: file.clone(),
                doctype: ty.id.clone(),
                cases: raw.cases.iter().map(|c| (at(file, c), c.value.clone())).collect(),
            });
        }
        out
    }

    fn compile_list_views(
        &mut self,
        defs: &[Def<crate::raw::RawListView>],
        workflows: &IndexMap<String, Workflow>,
        doctypes: &IndexMap<String, Arc<DocType>>,
    ) -> IndexMap<String, crate::listview::ListView> {
        use crate::listview::{Choice, Criterion, ListView, column_value_valid, row_action};
        use crate::raw::CriterionKind;
        let types_of = |wfs: &[String]| -> Vec<String> {
            doctypes
                .values()
                .filter(|t| t.workflow.as_ref().is_some_and(|w| wfs.contains(w)))
                .map(|t| t.id.clone())
                .collect()
        };
        let mut seen = HashMap::new();
        let mut out = IndexMap::new();
        for Def { file, raw } in defs {
            if !self.claim_id(&mut seen, "list view", &raw.id, file) {
                continue;
            }
            self.check_text("the list view's title", &raw.title, &at(file, &raw.id));
            let mut wf_ids = Vec::new();
            for w in &raw.workflows {
                if workflows.contains_key(&w.value) {
                    wf_ids.push(w.value.clone());
                } else {
                    self.error("ref.unknown-workflow", at(file, w), format!("workflow `{}` is not defined", w.value));
                }
            }
            let listed = types_of(&wf_ids);
            let mut kinds = IndexMap::new();
            let mut criteria = Vec::new();
            for c in &raw.criteria {
                let span = at(file, c);
                let c = &c.value;
                kinds.insert(c.id.clone(), c.kind);
                let options = match c.kind {
                    CriterionKind::BusinessNo | CriterionKind::UnifiedNo => Vec::new(),
                    CriterionKind::Status => {
                        let mut states: Vec<Choice> = Vec::new();
                        for w in &wf_ids {
                            for s in workflows[w].states.values() {
                                if !states.iter().any(|x| x.code == s.code) {
                                    states.push(Choice {
                                        code: s.code.clone(),
                                        label: s.label.clone(),
                                        doctypes: Vec::new(),
                                    });
                                }
                            }
                        }
                        states.sort_by_key(|s| (s.code.parse::<u64>().unwrap_or(u64::MAX), s.code.clone()));
                        states
                    }
                    CriterionKind::Choice => {
                        if c.options.is_empty() {
                            self.error(
                                "listview.no-options",
                                span.clone(),
                                format!("criterion `{}` offers no options", c.id),
                            );
                        }
                        c.options
                            .iter()
                            .map(|o| {
                                let mut types: Vec<String> = o.doctypes.clone();
                                for w in &o.workflows {
                                    if !workflows.contains_key(w) {
                                        self.error(
                                            "ref.unknown-workflow",
                                            span.clone(),
                                            format!("option `{}` of `{}` names unknown workflow `{w}`", o.code, c.id),
                                        );
                                    }
                                }
                                types.extend(types_of(&o.workflows));
                                for t in &o.doctypes {
                                    if !doctypes.contains_key(t) {
                                        self.error(
                                            "ref.unknown-doctype",
                                            span.clone(),
                                            format!(
                                                "option `{}` of `{}` names unknown document type `{t}`",
                                                o.code, c.id
                                            ),
                                        );
                                    }
                                }
                                if o.doctypes.is_empty() && o.workflows.is_empty() {
                                    types = listed.clone();
                                }
                                Choice { code: o.code.clone(), label: o.label.clone(), doctypes: types }
                            })
                            .collect()
                    }
                };
                criteria.push(Criterion {
                    id: c.id.clone(),
                    label: c.label.clone(),
                    kind: c.kind,
                    all: c.all.clone(),
                    options,
                    required_without_date: c.required_without_date,
                });
            }
            let mut columns = Vec::new();
            for col in &raw.columns {
                if !column_value_valid(&col.value.value, &kinds) {
                    self.error("listview.bad-column", at(file, col), format!("column `{}` shows `{}`, which is not a value a list can show", col.value.id, col.value.value))
                        .hints
                        .push("business_no, unified_no, customs_no, status, created_at, updated_at, doctype.name, doctype.category, meta.KEY, data.FIELD, criterion.ID".into());
                }
                columns.push(col.value.clone());
            }
            let row_actions = raw
                .row_actions
                .iter()
                .map(|a| {
                    for w in &a.value.workflows {
                        if !workflows.contains_key(w) {
                            self.error(
                                "ref.unknown-workflow",
                                at(file, a),
                                format!("row action `{}` names unknown workflow `{w}`", a.value.id),
                            );
                        }
                    }
                    row_action(&a.value, types_of(&a.value.workflows))
                })
                .collect();
            if let Some(d) = &raw.date
                && d.default_days > d.max_days
            {
                self.error("listview.date", at(file, &raw.id), "the default date range is longer than the maximum");
            }
            let mut create = Vec::new();
            for c in &raw.create {
                if listed.contains(&c.value) {
                    create.push(c.value.clone());
                } else {
                    self.error(
                        "listview.create",
                        at(file, c),
                        format!("the list offers to create `{}`, which is not a type it lists", c.value),
                    );
                }
            }
            out.insert(
                raw.id.value.clone(),
                ListView {
                    id: raw.id.value.clone(),
                    title: raw.title.clone(),
                    doctypes: listed,
                    page_size: raw.page_size.unwrap_or(10).clamp(1, 200),
                    date: raw.date.clone(),
                    criteria,
                    columns,
                    row_actions,
                    view_refused: raw.view_refused.clone(),
                    create,
                    order: raw.order.unwrap_or(100),
                },
            );
        }
        out.sort_by(|_, a, _, b| a.order.cmp(&b.order).then_with(|| a.id.cmp(&b.id)));
        out
    }

    fn compile_doctypes(
        &mut self,
        defs: &[Def<RawDocType>],
        params: &IndexMap<String, ParamTable>,
        workflows: &IndexMap<String, Workflow>,
        numbering: &IndexMap<String, NumberingScheme>,
        rules: &RuleHost,
    ) -> (IndexMap<String, Arc<DocType>>, IndexMap<String, Arc<DocType>>) {
        let mut seen = HashMap::new();
        let mut by_id: IndexMap<String, &Def<RawDocType>> = IndexMap::new();
        for def in defs {
            if self.claim_id(&mut seen, "document type", &def.raw.id, &def.file) {
                by_id.insert(def.raw.id.value.clone(), def);
            }
        }
        // Checks that need only the file a definition is written in.
        for def in by_id.values() {
            self.check_raw_doctype(def, params, workflows, numbering, rules);
        }
        let mut doctypes = IndexMap::new();
        let mut bases = IndexMap::new();
        for (id, def) in &by_id {
            let Some(merged) = self.merge(id, &by_id, &mut Vec::new()) else { continue };
            let Some(ty) = self.build_doctype(def, merged, params, workflows) else { continue };
            if def.raw.is_abstract {
                bases.insert(id.clone(), Arc::new(ty));
            } else {
                doctypes.insert(id.clone(), Arc::new(ty));
            }
        }
        self.check_links(&doctypes, rules);
        (doctypes, bases)
    }

    fn check_raw_doctype(
        &mut self,
        def: &Def<RawDocType>,
        params: &IndexMap<String, ParamTable>,
        workflows: &IndexMap<String, Workflow>,
        numbering: &IndexMap<String, NumberingScheme>,
        rules: &RuleHost,
    ) {
        let file = def.file.as_str();
        let raw = &def.raw;
        let id_span = at(file, &raw.id);
        if let Some(name) = &raw.name {
            self.check_text("the document type's name", name, &id_span);
        }
        if let Some(w) = &raw.workflow
            && !workflows.contains_key(&w.value)
        {
            self.error("ref.unknown-workflow", at(file, w), format!("workflow `{}` is not defined", w.value));
        }
        if let Some(n) = &raw.numbering
            && !numbering.contains_key(&n.value)
        {
            self.error("ref.unknown-numbering", at(file, n), format!("numbering scheme `{}` is not defined", n.value));
        }
        for r in raw.rules.iter().flatten() {
            if !rules.has_script(&r.value) {
                self.error(
                    "ref.unknown-rule-file",
                    at(file, r),
                    format!("rule file `rules/{}` does not exist", r.value),
                );
            }
        }
        if let Some(sample) = &raw.sample {
            let path = format!("{FORMS_DIR}/{}", sample.value);
            match self.source.files.get(&path) {
                None => {
                    self.error("ref.unknown-sample", at(file, sample), format!("sample `{path}` does not exist"));
                }
                Some(bytes) => {
                    if let Err(e) = serde_json::from_slice::<serde_json::Value>(bytes) {
                        self.error(
                            "sample.json",
                            SourceSpan::new(&path, e.line() as u32, e.column() as u32),
                            format!("the sample is not valid JSON: {e}"),
                        );
                    }
                }
            }
        }
        for (id, f) in &raw.fields {
            self.check_raw_field(file, id, f, params);
        }
        for (table_id, t) in &raw.tables {
            if let Some(label) = &t.value.label {
                self.check_text(&format!("table `{table_id}`"), label, &at(file, t));
            }
            for (id, f) in &t.value.fields {
                self.check_raw_field(file, &format!("{table_id}/{id}"), f, params);
            }
        }
    }

    fn check_raw_field(&mut self, file: &str, id: &str, f: &S<RawField>, params: &IndexMap<String, ParamTable>) {
        let span = at(file, f);
        let raw = &f.value;
        if !valid_field_id(id.rsplit('/').next().unwrap_or(id)) {
            self.error(
                "field.bad-id",
                span.clone(),
                format!("`{id}` is not a valid field id (use letters, digits and `_`)"),
            );
        }
        if let Some(label) = &raw.label {
            self.check_text(&format!("field `{id}`"), label, &span);
        }
        if let Some(hint) = &raw.hint {
            self.check_text(&format!("the hint of `{id}`"), hint, &span);
        }
        if let Some(format) = &raw.format
            && Format::parse(&format.value).is_none()
        {
            self.error(
                "field.unknown-format",
                at(file, format),
                format!("`{}` is not a built-in format", format.value),
            )
            .hints
            .push(format!("formats: {}", Format::ALL.map(Format::name).join(", ")));
        }
        if let Some(p) = &raw.param {
            if !params.contains_key(&p.value) {
                let mut known: Vec<&String> = params.keys().collect();
                known.sort();
                let d = self.error(
                    "ref.unknown-param",
                    at(file, p),
                    format!("parameter table `{}` is not defined", p.value),
                );
                if let Some(close) = closest(&p.value, known.iter().map(|s| s.as_str())) {
                    d.hints.push(format!("did you mean `{close}`?"));
                }
            }
            if let Some(t) = &raw.field_type
                && t.value != FieldType::String
            {
                self.error("field.param-type", at(file, t), "a parameter field holds codes: its type must be `string`");
            }
        }
        if let Some(extra) = &raw.schema {
            match &extra.value {
                serde_json::Value::Object(_) => {
                    if let Err(e) = schema::build_validator(&extra.value) {
                        self.error(
                            "field.schema",
                            at(file, extra),
                            format!("the schema of `{id}` is not valid JSON Schema: {e}"),
                        );
                    }
                }
                _ => {
                    self.error("field.schema", at(file, extra), "`schema:` takes a map of JSON Schema keywords");
                }
            }
        }
    }

    /// Resolves `extends` into one merged definition; `stack` detects cycles.
    fn merge(
        &mut self,
        id: &str,
        by_id: &IndexMap<String, &Def<RawDocType>>,
        stack: &mut Vec<String>,
    ) -> Option<Merged> {
        let def = by_id.get(id)?;
        let raw = &def.raw;
        let file = def.file.as_str();
        if stack.iter().any(|s| s == id) {
            stack.push(id.to_owned());
            self.error(
                "doctype.extends-cycle",
                at(file, &raw.id),
                format!("`extends` goes round in a circle: {}", stack.join(" → ")),
            );
            return None;
        }
        let mut merged = match &raw.extends {
            None => Merged::default(),
            Some(base) => {
                if !by_id.contains_key(&base.value) {
                    self.error(
                        "ref.unknown-doctype",
                        at(file, base),
                        format!("base type `{}` is not defined", base.value),
                    );
                    return None;
                }
                stack.push(id.to_owned());
                let m = self.merge(&base.value, by_id, stack);
                stack.pop();
                let mut m = m?;
                m.chain.insert(0, base.value.clone());
                m
            }
        };
        merged.overlay(raw, file);
        for r in &raw.remove {
            let found = merged.fields.shift_remove(&r.value).is_some() | merged.tables.shift_remove(&r.value).is_some();
            // An inherited lookup no longer fills what the format removed.
            for (_, lookup) in merged.lookups.values_mut() {
                lookup.fill.shift_remove(&r.value);
            }
            if !found {
                self.error(
                    "doctype.remove-unknown",
                    at(file, r),
                    format!("`{}` is neither a field nor a table of the base", r.value),
                );
            }
        }
        Some(merged)
    }

    fn build_doctype(
        &mut self,
        def: &Def<RawDocType>,
        m: Merged,
        params: &IndexMap<String, ParamTable>,
        workflows: &IndexMap<String, Workflow>,
    ) -> Option<DocType> {
        let file = def.file.as_str();
        let raw = &def.raw;
        let id = raw.id.value.clone();
        let id_span = at(file, &raw.id);
        let Some(name) = m.name.clone() else {
            self.error("doctype.no-name", id_span, format!("document type `{id}` has no `name`"));
            return None;
        };
        if !raw.is_abstract && m.workflow.is_none() && m.record_key.is_none() {
            self.warn(
                "doctype.no-workflow",
                id_span.clone(),
                format!("document type `{id}` names no workflow: its documents cannot move"),
            );
        }
        let mut ok = true;
        let mut fields = IndexMap::new();
        for (fid, f) in &m.fields {
            match self.build_field(fid, f, &id_span) {
                Some(field) => {
                    fields.insert(fid.clone(), field);
                }
                None => ok = false,
            }
        }
        let mut tables = IndexMap::new();
        for (tid, t) in &m.tables {
            if m.fields.contains_key(tid) {
                self.error("doctype.name-clash", id_span.clone(), format!("`{tid}` is both a field and a table"));
                ok = false;
            }
            let mut tfields = IndexMap::new();
            for (fid, f) in &t.fields {
                match self.build_field(&format!("{tid}/{fid}"), f, &id_span) {
                    Some(field) => {
                        tfields.insert(fid.clone(), Field { id: fid.clone(), ..field });
                    }
                    None => ok = false,
                }
            }
            if tfields.is_empty() {
                self.error("table.empty", id_span.clone(), format!("table `{tid}` of `{id}` has no fields"));
                ok = false;
            }
            let Some(label) = t.label.clone() else {
                self.error("table.no-label", id_span.clone(), format!("table `{tid}` of `{id}` has no label"));
                ok = false;
                continue;
            };
            let min_rows = t.min_rows.unwrap_or(0);
            if t.max_rows.is_some_and(|max| max < min_rows) {
                self.error("table.rows", id_span.clone(), format!("table `{tid}`: max_rows is below min_rows"));
            }
            let pick = t.pick.as_ref().map(|(pfile, p)| self.build_pick(tid, pfile, p, &tfields, &m));
            tables.insert(
                tid.clone(),
                Table {
                    id: tid.clone(),
                    label,
                    min_rows,
                    max_rows: t.max_rows,
                    excel_import: t.excel_import.unwrap_or(false),
                    hint: t.hint.clone(),
                    fields: tfields,
                    pick,
                },
            );
        }
        let sections = self.build_sections(&id, &m, &fields, &tables, file, &id_span);
        let mut lookups = IndexMap::new();
        for (lid, (lfile, l)) in &m.lookups {
            for (target, from) in &l.fill {
                if !fields.contains_key(target) && !tables.contains_key(target) {
                    self.error(
                        "lookup.unknown-target",
                        id_span.clone(),
                        format!("lookup `{lid}` fills `{target}`, which `{id}` does not have (from `{}`)", from.value),
                    );
                }
            }
            if !fields.contains_key(&l.key.value) {
                self.error(
                    "lookup.unknown-key",
                    id_span.clone(),
                    format!("lookup `{lid}` is keyed by `{}`, which `{id}` does not have", l.key.value),
                );
            }
            lookups.insert(
                lid.clone(),
                Lookup {
                    id: lid.clone(),
                    source: l.source.clone(),
                    key: l.key.value.clone(),
                    fill: l.fill.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
                    guard: self.lookup_guard(lid, lfile, l),
                },
            );
        }
        let record_key = m.record_key.as_ref().map(|(kfile, key)| {
            if !fields.contains_key(&key.value) {
                self.error(
                    "doctype.unknown-record-key",
                    at(kfile, key),
                    format!("`{id}` is keyed by `{}`, which is not one of its fields", key.value),
                );
            }
            key.value.clone()
        });
        let mut from_party = IndexMap::new();
        for (target, (pfile, source)) in &m.from_party {
            if !fields.contains_key(target) {
                self.error(
                    "doctype.unknown-field",
                    at(pfile, source),
                    format!("`from_party` fills `{target}`, which is not a field of `{id}`"),
                );
            }
            if !["code", "credit_code", "name_zh", "name_en"].contains(&source.value.as_str()) {
                self.error(
                    "doctype.from-party",
                    at(pfile, source),
                    format!(
                        "`{}` is not something known of an enterprise: use code, credit_code, name_zh or name_en",
                        source.value
                    ),
                );
            }
            from_party.insert(target.clone(), source.value.clone());
        }
        let pinned = match &m.versioning {
            None => true,
            Some((_, v)) if v.value == "pinned" => true,
            Some((_, v)) if v.value == "latest" => false,
            Some((vfile, v)) => {
                self.error(
                    "doctype.versioning",
                    at(vfile, v),
                    format!("`versioning` is `pinned` or `latest`, not `{}`", v.value),
                );
                true
            }
        };
        let mut value_templates = Vec::new();
        if let Some((tfile, names)) = &m.value_templates {
            for name in names {
                if fields.contains_key(&name.value) || tables.contains_key(&name.value) {
                    value_templates.push(name.value.clone());
                } else {
                    self.error(
                        "doctype.unknown-field",
                        at(tfile, name),
                        format!("`value_templates` keeps `{}`, which is not a field of `{id}`", name.value),
                    );
                }
            }
        }
        let children = m
            .children
            .iter()
            .map(|(cid, (cfile, c))| {
                (cid.clone(), self.build_children(&id, cid, cfile, c, &fields, &lookups, workflows))
            })
            .collect();
        if !ok {
            return None;
        }
        let draft_json = schema::document_schema(&fields, &tables, params, Mode::Draft);
        let submit_json = schema::document_schema(&fields, &tables, params, Mode::Submit);
        let (draft, submit) = match (schema::build_validator(&draft_json), schema::build_validator(&submit_json)) {
            (Ok(d), Ok(s)) => (d, s),
            (Err(e), _) | (_, Err(e)) => {
                self.error("doctype.schema", id_span, format!("the generated schema of `{id}` does not compile: {e}"));
                return None;
            }
        };
        let sample = m.sample.as_ref().and_then(|s| {
            let bytes = self.source.files.get(&format!("{FORMS_DIR}/{}", s.value))?;
            serde_json::from_slice(bytes).ok()
        });
        let workflow = m.workflow.as_ref().and_then(|w| workflows.get(&w.value));
        let layout = if raw.is_abstract { None } else { self.build_layout(&id, &m.layout, workflow, &id_span) };
        Some(DocType {
            id,
            name,
            format_code: m.format_code.clone(),
            category: m.category.clone(),
            workflow: m.workflow.as_ref().map(|w| w.value.clone()),
            numbering: m.numbering.as_ref().map(|n| n.value.clone()),
            extends: m.chain.clone(),
            sections,
            fields,
            tables,
            attachments: m.attachments.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
            lookups,
            rules: m.rules.iter().map(|r| r.value.clone()).collect(),
            layout,
            record_key,
            from_party,
            pinned,
            value_templates,
            children,
            sample,
            origin: SourceSpan::new(file, id_span.line, id_span.column),
            schemas: DocSchemas { draft, submit, submit_json },
        })
    }

    /// A table's `pick`: its lookup must be the type's, the fields it fills
    /// and bounds the table's.
    fn build_pick(
        &mut self,
        table: &str,
        file: &str,
        p: &S<crate::raw::RawPick>,
        fields: &IndexMap<String, Field>,
        m: &Merged,
    ) -> Pick {
        let span = at(file, p);
        let raw = &p.value;
        if !m.lookups.contains_key(&raw.lookup.value) {
            self.error(
                "pick.unknown-lookup",
                at(file, &raw.lookup),
                format!("table `{table}` picks from lookup `{}`, which the type does not declare", raw.lookup.value),
            );
        }
        for name in std::iter::once(raw.into.value.as_str())
            .chain(raw.fill.keys().map(String::as_str))
            .chain(raw.not_exceeding.keys().map(String::as_str))
        {
            if !fields.contains_key(name) {
                self.error(
                    "pick.unknown-field",
                    span.clone(),
                    format!("table `{table}` picks into `{name}`, which is not one of its fields"),
                );
            }
        }
        Pick {
            lookup: raw.lookup.value.clone(),
            rows: raw.rows.value.clone(),
            key: raw.key.value.clone(),
            into: raw.into.value.clone(),
            fill: raw.fill.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
            not_exceeding: raw.not_exceeding.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
            only_listed: raw.only_listed,
        }
    }

    /// A lookup's guard: `rules` and `guard` come together.
    fn lookup_guard(&mut self, lid: &str, file: &str, l: &crate::raw::RawLookup) -> Option<(String, String)> {
        match (&l.rules, &l.guard) {
            (Some(r), Some(g)) => Some((r.value.clone(), g.value.clone())),
            (None, None) => None,
            (Some(s), None) | (None, Some(s)) => {
                self.error(
                    "lookup.guard",
                    at(file, s),
                    format!("lookup `{lid}`: `rules` (the file) and `guard` (the function) go together"),
                );
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build_children(
        &mut self,
        id: &str,
        cid: &str,
        file: &str,
        c: &S<crate::raw::RawChildren>,
        fields: &IndexMap<String, Field>,
        lookups: &IndexMap<String, Lookup>,
        workflows: &IndexMap<String, Workflow>,
    ) -> Children {
        let raw = &c.value;
        if !workflows.contains_key(&raw.workflow.value) {
            self.error(
                "ref.unknown-workflow",
                at(file, &raw.workflow),
                format!(
                    "children `{cid}` of `{id}` are the types of workflow `{}`, which does not exist",
                    raw.workflow.value
                ),
            );
        }
        for (target, from) in &raw.fill {
            if !fields.contains_key(&from.value) {
                self.error(
                    "children.unknown-field",
                    at(file, from),
                    format!(
                        "children `{cid}` copy `{}` into `{target}`, but `{id}` has no field `{}`",
                        from.value, from.value
                    ),
                );
            }
        }
        let allowed_by = raw.allowed_by.as_ref().map(|a| {
            if !lookups.contains_key(&a.lookup.value) {
                self.error(
                    "children.unknown-lookup",
                    at(file, &a.lookup),
                    format!(
                        "children `{cid}` are allowed by lookup `{}`, which `{id}` does not declare",
                        a.lookup.value
                    ),
                );
            }
            AllowedBy {
                lookup: a.lookup.value.clone(),
                rows: a.rows.value.clone(),
                field: a.field.value.clone(),
                fill: a.fill.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
            }
        });
        Children {
            id: cid.to_owned(),
            label: raw.label.clone(),
            workflow: raw.workflow.value.clone(),
            allowed_by,
            fill: raw.fill.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
            max: raw.max,
            similar: raw.similar.iter().map(|s| s.value.clone()).collect(),
            messages: crate::model::ChildMessages {
                item: raw
                    .messages
                    .item
                    .clone()
                    .unwrap_or_else(|| Text::new("第 {n} 项（{name}）", "Item {n} ({name})")),
                not_offered: raw
                    .messages
                    .not_offered
                    .clone()
                    .unwrap_or_else(|| Text::new("该种类不可在此添加", "This kind cannot be added here")),
                similar_mismatch: raw.messages.similar_mismatch.clone().unwrap_or_else(|| {
                    Text::new("所选的单证须为同一类型", "The earlier document must be of the same type")
                }),
                similar_number: raw
                    .messages
                    .similar_number
                    .clone()
                    .unwrap_or_else(|| Text::new("请输入用于查找的编号", "Enter the number to search by")),
            },
        }
    }

    /// Checks between types once all are built: a lookup's source type has
    /// what the lookup reads, a guard function exists, a child slot's types
    /// have the fields the parent fills.
    fn check_links(&mut self, doctypes: &IndexMap<String, Arc<DocType>>, rules: &RuleHost) {
        for ty in doctypes.values() {
            let span = ty.origin.clone();
            for l in ty.lookups.values() {
                if let Some(source) = doctypes.get(&l.source) {
                    for from in l.fill.values() {
                        let head = from.split('.').next().unwrap_or_default();
                        if !source.fields.contains_key(head) && !source.tables.contains_key(head) {
                            self.error(
                                "lookup.unknown-source-field",
                                span.clone(),
                                format!(
                                    "lookup `{}` of `{}` reads `{from}`, which records of `{}` do not have",
                                    l.id, ty.id, source.id
                                ),
                            );
                        }
                    }
                }
                if let Some((file, function)) = &l.guard
                    && !rules.has_function(file, function, 2)
                {
                    self.error(
                        "lookup.unknown-guard",
                        span.clone(),
                        format!("lookup `{}` of `{}` is guarded by `{function}(record, party)`, which rules/{file} does not define", l.id, ty.id),
                    );
                }
            }
            // What a pick or a child slot reads of a record must be in the
            // record's type.
            let record_table = |lookup: &str, rows: &str| {
                let source = ty.lookups.get(lookup).and_then(|l| doctypes.get(&l.source))?;
                Some((source.id.clone(), source.tables.get(rows).map(|t| t.fields.keys().cloned().collect::<Vec<_>>())))
            };
            let mut reads: Vec<(String, String, Vec<String>)> = Vec::new();
            for t in ty.tables.values() {
                if let Some(p) = &t.pick {
                    let mut names = vec![p.key.clone()];
                    names.extend(p.fill.values().cloned());
                    names.extend(p.not_exceeding.values().cloned());
                    reads.push((p.lookup.clone(), p.rows.clone(), names));
                }
            }
            for c in ty.children.values() {
                if let Some(a) = &c.allowed_by {
                    let mut names = vec![a.field.clone()];
                    names.extend(a.fill.values().cloned());
                    reads.push((a.lookup.clone(), a.rows.clone(), names));
                }
            }
            for (lookup, rows, names) in reads {
                match record_table(&lookup, &rows) {
                    Some((source, None)) => {
                        self.error(
                            "lookup.unknown-source-table",
                            span.clone(),
                            format!("`{}` reads the list `{rows}` of lookup `{lookup}`, which records of `{source}` do not have", ty.id),
                        );
                    }
                    Some((source, Some(fields))) => {
                        for name in names.iter().filter(|n| !fields.contains(n)) {
                            self.error(
                                "lookup.unknown-source-field",
                                span.clone(),
                                format!("`{}` reads `{rows}/{name}` of lookup `{lookup}`, which records of `{source}` do not have", ty.id),
                            );
                        }
                    }
                    None => {}
                }
            }
            for c in ty.children.values() {
                let mut any = false;
                for child in doctypes.values().filter(|t| t.workflow.as_deref() == Some(c.workflow.as_str())) {
                    any = true;
                    let fills = c.fill.keys().chain(c.allowed_by.iter().flat_map(|a| a.fill.keys()));
                    for target in fills {
                        if !child.fields.contains_key(target) {
                            self.error(
                                "children.unknown-field",
                                span.clone(),
                                format!(
                                    "children `{}` of `{}` fill `{target}`, which `{}` does not have",
                                    c.id, ty.id, child.id
                                ),
                            );
                        }
                    }
                }
                if !any {
                    self.warn(
                        "children.none",
                        span.clone(),
                        format!("children `{}` of `{}`: no document type is governed by `{}`", c.id, ty.id, c.workflow),
                    );
                }
            }
        }
    }

    /// The layout of a concrete type: its template must exist, the statuses
    /// it maps must be its workflow's, each once, to variants it offers.
    fn build_layout(
        &mut self,
        id: &str,
        m: &MergedLayout,
        workflow: Option<&Workflow>,
        id_span: &SourceSpan,
    ) -> Option<Layout> {
        let (file, template) = m.template.as_ref()?;
        let path = format!("{TEMPLATES_DIR}/{}", template.value);
        if !self.source.files.contains_key(&path) {
            let known: Vec<&str> = self
                .source
                .files
                .keys()
                .filter_map(|p| p.strip_prefix(&format!("{TEMPLATES_DIR}/")))
                .filter(|p| p.ends_with(".typ"))
                .collect();
            let d = self.error(
                "ref.unknown-template",
                at(file, template),
                format!("template `{path}` (the layout of `{id}`) does not exist"),
            );
            if let Some(near) = closest(&template.value, known.iter().copied()) {
                d.hints.push(format!("did you mean `{near}`?"));
            }
            return None;
        }
        let variants: Vec<Variant> = match &m.variants {
            Some((_, v)) if !v.is_empty() => v.iter().map(|v| v.value).collect(),
            _ => Variant::ALL.to_vec(),
        };
        let mut by_status = IndexMap::new();
        if let Some((file, map)) = &m.by_status {
            for (variant, statuses) in map {
                for status in statuses {
                    if !variants.contains(variant) {
                        self.error(
                            "layout.variant",
                            at(file, status),
                            format!("`{id}` shows `{}` as {variant}, a variant it does not offer", status.value),
                        );
                    }
                    if let Some(w) = workflow
                        && !w.states.contains_key(&status.value)
                    {
                        self.error(
                            "ref.unknown-state",
                            at(file, status),
                            format!("status `{}` is not a state of workflow `{}`", status.value, w.id),
                        )
                        .hints
                        .push(format!("in the layout of `{id}` (defined at {id_span})"));
                    }
                    if let Some(previous) = by_status.insert(status.value.clone(), *variant) {
                        self.error(
                            "layout.status-twice",
                            at(file, status),
                            format!("status `{}` is shown both as {previous} and as {variant}", status.value),
                        );
                    }
                }
            }
        }
        Some(Layout { template: template.value.clone(), variants, by_status, stationery: m.stationery.clone() })
    }

    fn build_field(&mut self, id: &str, f: &Located<RawField>, owner: &SourceSpan) -> Option<Field> {
        let raw = &f.raw;
        let span = f.span.clone();
        let Some(label) = raw.label.clone() else {
            self.error("field.no-label", span, format!("field `{id}` has no label"))
                .hints
                .push(format!("in the type defined at {owner}"));
            return None;
        };
        let class = raw.class.as_ref().map(|c| c.value).unwrap_or(FieldClass::Optional);
        let field_type = match (&raw.field_type, &raw.format) {
            (Some(t), _) => t.value,
            (None, Some(f)) if f.value == "date" => FieldType::Date,
            _ => FieldType::String,
        };
        let format = raw.format.as_ref().and_then(|f| Format::parse(&f.value));
        let widget = raw.widget.as_ref().map(|w| w.value).unwrap_or(match (field_type, &raw.param) {
            (_, Some(_)) => Widget::Picker,
            (FieldType::Date, _) => Widget::Date,
            (FieldType::Boolean, _) => Widget::Checkbox,
            (FieldType::Integer | FieldType::Number, _) => Widget::Number,
            _ if raw.max_length.is_some_and(|n| n > 255) || raw.max_bytes.is_some_and(|n| n > 255) => Widget::Textarea,
            _ => Widget::Text,
        });
        let leaf = id.rsplit('/').next().unwrap_or(id).to_owned();
        Some(Field {
            id: leaf,
            label,
            class,
            editable: raw.editable.unwrap_or(class != FieldClass::Backfilled),
            required: raw.required.unwrap_or(class == FieldClass::Required),
            field_type,
            format,
            param: raw.param.as_ref().map(|p| p.value.clone()),
            max_length: raw.max_length,
            max_bytes: raw.max_bytes,
            schema: raw.schema.as_ref().map(|s| s.value.clone()),
            hint: raw.hint.clone(),
            widget,
            latin: raw.latin.unwrap_or(false),
        })
    }

    fn build_sections(
        &mut self,
        id: &str,
        m: &Merged,
        fields: &IndexMap<String, Field>,
        tables: &IndexMap<String, Table>,
        file: &str,
        id_span: &SourceSpan,
    ) -> Vec<Section> {
        let Some(raw_sections) = &m.sections else {
            // No layout written: the fields first, then a section per table.
            let mut out = Vec::new();
            if !fields.is_empty() {
                out.push(Section {
                    id: "main".into(),
                    label: Text::new("基本信息", "Basic information"),
                    fields: fields.keys().cloned().collect(),
                    table: None,
                });
            }
            out.extend(tables.values().map(|t| Section {
                id: t.id.clone(),
                label: t.label.clone(),
                fields: Vec::new(),
                table: Some(t.id.clone()),
            }));
            return out;
        };
        let mut placed = HashSet::new();
        let mut out = Vec::new();
        for s in raw_sections {
            // Sections inherited from a base point into the base's file.
            let sfile = s.file.as_str();
            let sec: &RawSection = &s.raw.value;
            self.check_text(&format!("section `{}`", sec.id), &sec.label, &at(sfile, &s.raw));
            for f in &sec.fields {
                if !fields.contains_key(&f.value) {
                    self.error(
                        "section.unknown-field",
                        at(sfile, f),
                        format!("section `{}` shows `{}`, which `{id}` does not have", sec.id, f.value),
                    );
                }
                placed.insert(f.value.clone());
            }
            if let Some(t) = &sec.table {
                if !tables.contains_key(&t.value) {
                    self.error(
                        "section.unknown-table",
                        at(sfile, t),
                        format!("section `{}` shows table `{}`, which `{id}` does not have", sec.id, t.value),
                    );
                }
                placed.insert(t.value.clone());
            }
            out.push(Section {
                id: sec.id.clone(),
                label: sec.label.clone(),
                fields: sec.fields.iter().map(|f| f.value.clone()).filter(|f| fields.contains_key(f)).collect(),
                table: sec.table.as_ref().map(|t| t.value.clone()).filter(|t| tables.contains_key(t)),
            });
        }
        let _ = file;
        for name in fields.keys().chain(tables.keys()) {
            if !placed.contains(name) {
                self.warn(
                    "section.unplaced",
                    id_span.clone(),
                    format!("`{name}` of `{id}` is in no section: the form will not show it"),
                );
            }
        }
        out
    }

    /// Every type's sample must pass its own validation as a declaration.
    fn check_samples(&mut self, bundle: &CompiledBundle) {
        for ty in bundle.doctypes.values() {
            let Some(sample) = &ty.sample else {
                self.warn("sample.missing", ty.origin.clone(), format!("`{}` ships no sample document", ty.id))
                    .hints
                    .push("add `sample: samples/<id>.json` so lint and previews can use it".into());
                continue;
            };
            let report = bundle.validate_as(ty, sample, Mode::Submit);
            for e in report.errors {
                self.error(
                    "sample.invalid",
                    ty.origin.clone(),
                    format!("the sample of `{}` fails validation: {}: [{}] {}", ty.id, e.path, e.code, e.message_en),
                );
            }
        }
    }
}

/// A definition part with the place it was written.
#[derive(Clone)]
struct Located<T> {
    span: SourceSpan,
    raw: T,
}

#[derive(Clone, Default)]
struct MergedTable {
    label: Option<Text>,
    min_rows: Option<u32>,
    max_rows: Option<u32>,
    excel_import: Option<bool>,
    hint: Option<Text>,
    fields: IndexMap<String, Located<RawField>>,
    pick: Option<(String, S<crate::raw::RawPick>)>,
}

/// A type with its bases folded in.
#[derive(Default)]
struct Merged {
    chain: Vec<String>,
    name: Option<Text>,
    format_code: Option<String>,
    category: Option<crate::raw::RawCategory>,
    workflow: Option<S<String>>,
    numbering: Option<S<String>>,
    sample: Option<S<String>>,
    rules: Vec<S<String>>,
    sections: Option<Vec<SectionDef>>,
    fields: IndexMap<String, Located<RawField>>,
    tables: IndexMap<String, MergedTable>,
    attachments: IndexMap<String, S<crate::raw::RawAttachment>>,
    lookups: IndexMap<String, (String, crate::raw::RawLookup)>,
    layout: MergedLayout,
    record_key: Option<(String, S<String>)>,
    from_party: IndexMap<String, (String, S<String>)>,
    value_templates: Option<(String, Vec<S<String>>)>,
    versioning: Option<(String, S<String>)>,
    children: IndexMap<String, (String, S<crate::raw::RawChildren>)>,
}

/// Statuses shown in each variant, as written.
type StatusVariants = IndexMap<Variant, Vec<S<String>>>;

/// A layout with its bases folded in, each property with the file it came from.
#[derive(Default)]
struct MergedLayout {
    template: Option<(String, S<String>)>,
    variants: Option<(String, Vec<S<Variant>>)>,
    by_status: Option<(String, StatusVariants)>,
    stationery: Option<String>,
}

impl MergedLayout {
    fn overlay(&mut self, raw: &crate::raw::RawLayout, file: &str) {
        if let Some(t) = &raw.template {
            self.template = Some((file.to_owned(), t.clone()));
        }
        if let Some(v) = &raw.variants {
            self.variants = Some((file.to_owned(), v.clone()));
        }
        if let Some(b) = &raw.by_status {
            self.by_status = Some((file.to_owned(), b.clone()));
        }
        if let Some(st) = &raw.stationery {
            self.stationery = Some(st.value.clone());
        }
    }
}

struct SectionDef {
    file: String,
    raw: S<RawSection>,
}

impl Merged {
    fn overlay(&mut self, raw: &RawDocType, file: &str) {
        if raw.name.is_some() {
            self.name.clone_from(&raw.name);
        }
        if raw.format_code.is_some() {
            self.format_code.clone_from(&raw.format_code);
        }
        if raw.category.is_some() {
            self.category.clone_from(&raw.category);
        }
        if raw.workflow.is_some() {
            self.workflow.clone_from(&raw.workflow);
        }
        if raw.numbering.is_some() {
            self.numbering.clone_from(&raw.numbering);
        }
        // A base's sample does not describe a format derived from it.
        self.sample.clone_from(&raw.sample);
        if let Some(rules) = &raw.rules {
            self.rules.clone_from(rules);
        }
        if let Some(sections) = &raw.sections {
            self.sections =
                Some(sections.iter().map(|s| SectionDef { file: file.to_owned(), raw: s.clone() }).collect());
        }
        overlay_fields(&mut self.fields, &raw.fields, file);
        for (id, t) in &raw.tables {
            let target = self.tables.entry(id.clone()).or_default();
            overlay_table(target, &t.value, file);
        }
        if let Some(att) = &raw.attachments {
            self.attachments.clone_from(att);
        }
        if let Some(lookups) = &raw.lookups {
            self.lookups = lookups.iter().map(|(k, v)| (k.clone(), (file.to_owned(), v.value.clone()))).collect();
        }
        if let Some(v) = &raw.versioning {
            self.versioning = Some((file.to_owned(), v.clone()));
        }
        if let Some(fields) = &raw.value_templates {
            self.value_templates = Some((file.to_owned(), fields.clone()));
        }
        if let Some(from_party) = &raw.from_party {
            self.from_party = from_party.iter().map(|(k, v)| (k.clone(), (file.to_owned(), v.clone()))).collect();
        }
        if let Some(key) = &raw.record_key {
            self.record_key = Some((file.to_owned(), key.clone()));
        }
        if let Some(children) = &raw.children {
            self.children = children.iter().map(|(k, v)| (k.clone(), (file.to_owned(), v.clone()))).collect();
        }
        if let Some(layout) = &raw.layout {
            self.layout.overlay(layout, file);
        }
    }
}

fn overlay_table(target: &mut MergedTable, t: &RawTable, file: &str) {
    macro_rules! take {
        ($($f:ident),*) => { $( if t.$f.is_some() { target.$f.clone_from(&t.$f); } )* };
    }
    take!(label, min_rows, max_rows, excel_import, hint);
    if let Some(pick) = &t.pick {
        target.pick = Some((file.to_owned(), pick.clone()));
    }
    overlay_fields(&mut target.fields, &t.fields, file);
    for r in &t.remove {
        target.fields.shift_remove(&r.value);
        // Picked lines no longer fill or bound what the format removed.
        if let Some((_, pick)) = target.pick.as_mut() {
            pick.value.fill.shift_remove(&r.value);
            pick.value.not_exceeding.shift_remove(&r.value);
        }
    }
}

fn overlay_fields(
    target: &mut IndexMap<String, Located<RawField>>,
    fields: &IndexMap<String, S<RawField>>,
    file: &str,
) {
    for (id, f) in fields {
        let span = at(file, f);
        match target.get_mut(id) {
            Some(base) => {
                base.raw = f.value.clone().over(&base.raw);
                base.span = span;
            }
            None => {
                target.insert(id.clone(), Located { span, raw: f.value.clone() });
            }
        }
    }
}

impl RawField {
    /// This field's properties, falling back to the base's where unset.
    fn over(self, base: &RawField) -> RawField {
        macro_rules! or {
            ($($f:ident),*) => { RawField { $( $f: self.$f.or_else(|| base.$f.clone()), )* } };
        }
        or!(
            label, class, editable, required, field_type, format, param, max_length, max_bytes, schema, hint, widget,
            latin
        )
    }
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

fn valid_field_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The known name nearest to a misspelt one, if any is near.
fn closest<'a>(wrong: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (edit_distance(wrong, k), k))
        .filter(|(d, k)| *d <= 2.max(k.chars().count() / 2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push((prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

fn yaml_diagnostic(file: &str, e: &serde_saphyr::Error) -> Diagnostic {
    let (line, column) = e.location().map(|l| (l.line() as u32, l.column() as u32)).unwrap_or((1, 1));
    let options = serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off };
    let message = e.render_with_options(options);
    let message = message.lines().next().unwrap_or_default().trim();
    // The span already says where; drop the parser's own " at line …".
    let message = message.split(" at line ").next().unwrap_or(message).to_owned();
    let code = if message.contains("unknown field")
        || message.contains("missing field")
        || message.contains("unknown variant")
        || message.contains("invalid type")
    {
        "yaml.shape"
    } else {
        "yaml.syntax"
    };
    let mut d = Diagnostic::error(code, SourceSpan::new(file, line.max(1), column.max(1)), message);
    if code == "yaml.shape" {
        d.hints.push("see docs/bundle-format.md for the keys each definition takes".into());
    }
    d
}
