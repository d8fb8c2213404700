//! The Rhai host: one engine per bundle with hard limits, every script
//! compiled once, run with the document, the mode and a `report` to write
//! errors and computed values to.

use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use rhai::{AST, Dynamic, Engine, EvalAltResult, ImmutableString, Position, Scope};
use serde_json::Value;

use crate::checks;
use crate::diag::{Diagnostic, SourceSpan};
use crate::model::ParamTable;
use crate::schema::Mode;
use crate::validate::FieldError;

/// Limits a rule runs under. A rule past any of them is stopped and
/// reported; the request carries on.
#[derive(Debug, Clone, Copy)]
pub struct RuleLimits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    pub wall_clock: Duration,
}

impl Default for RuleLimits {
    fn default() -> Self {
        Self {
            max_operations: 5_000_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_string_size: 1 << 20,
            max_array_size: 100_000,
            max_map_size: 10_000,
            wall_clock: Duration::from_millis(500),
        }
    }
}

thread_local! {
    /// When the rule running on this thread must stop.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The `report` object scripts write to.
#[derive(Debug, Clone, Default)]
pub struct Report(Arc<Mutex<ReportInner>>);

#[derive(Debug, Default)]
struct ReportInner {
    errors: Vec<FieldError>,
    computed: Vec<(String, Value)>,
}

impl Report {
    fn error(&mut self, path: ImmutableString, code: ImmutableString, zh: ImmutableString, en: ImmutableString) {
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.errors.push(FieldError::new(path.as_str(), code.as_str(), zh.as_str(), en.as_str()));
    }

    fn set(&mut self, path: ImmutableString, value: Dynamic) {
        let value = rhai::serde::from_dynamic::<Value>(&value).unwrap_or(Value::Null);
        let mut inner = self.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.computed.push((path.to_string(), value));
    }

    fn take(&self) -> ReportInner {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// What the rules of a type produced for one document.
#[derive(Debug, Default)]
pub struct RuleOutcome {
    pub errors: Vec<FieldError>,
    pub computed: Vec<(String, Value)>,
}

/// What a workflow guard decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardDecision {
    Allow,
    /// Refused, with the reason for the user (zh, en).
    Refuse {
        zh: String,
        en: String,
    },
}

pub(crate) struct RuleHost {
    engine: Engine,
    /// Rule files by path under rules/, each merged with the library.
    scripts: IndexMap<String, Arc<AST>>,
    /// Scripts that exist but did not compile (already reported).
    broken: Vec<String>,
    wall_clock: Duration,
}

impl std::fmt::Debug for RuleHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleHost").field("scripts", &self.scripts.keys()).finish_non_exhaustive()
    }
}

/// The path of the shared function library under rules/.
pub const LIBRARY: &str = "lib.rhai";

fn declared_scope() -> Scope<'static> {
    let mut scope = Scope::new();
    // Declared as variables, not constants: the optimiser would otherwise
    // fold these placeholder values into the compiled scripts.
    scope.push_dynamic("doc", Dynamic::UNIT);
    scope.push_dynamic("lookups", Dynamic::UNIT);
    scope.push("mode", ImmutableString::from("submit"));
    scope.push("report", Report::default());
    scope
}

impl RuleHost {
    /// Compiles every script (the library first); problems become
    /// diagnostics that name the script's line and column.
    pub fn compile(
        sources: &IndexMap<String, String>,
        params: Arc<IndexMap<String, ParamTable>>,
        limits: RuleLimits,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let engine = new_engine(params, limits);
        let scope = declared_scope();
        let library = match sources.get(LIBRARY) {
            Some(src) => match engine.compile_with_scope(&scope, src) {
                Ok(ast) => ast.clone_functions_only(),
                Err(e) => {
                    diagnostics.push(parse_diagnostic(LIBRARY, &e.to_string(), e.position()));
                    AST::empty()
                }
            },
            None => AST::empty(),
        };
        let mut scripts = IndexMap::new();
        let mut broken = Vec::new();
        for (path, src) in sources {
            if path == LIBRARY {
                continue;
            }
            // The library's functions are visible while compiling, so calls
            // to them resolve; the merged AST carries both.
            let combined = library.clone();
            match engine.compile_with_scope(&scope, src) {
                Ok(ast) => {
                    scripts.insert(path.clone(), Arc::new(combined.merge(&ast)));
                }
                Err(e) => {
                    diagnostics.push(parse_diagnostic(path, &e.to_string(), e.position()));
                    broken.push(path.clone());
                }
            }
        }
        scripts.insert(LIBRARY.to_owned(), Arc::new(library));
        Self { engine, scripts, broken, wall_clock: limits.wall_clock }
    }

    /// Whether `path` names a script of the bundle (compiled or not).
    pub fn has_script(&self, path: &str) -> bool {
        self.scripts.contains_key(path) || self.broken.iter().any(|b| b == path)
    }

    fn is_broken(&self, path: &str) -> bool {
        self.broken.iter().any(|b| b == path)
    }

    /// Whether `script` defines `name` taking `arity` parameters.
    pub fn has_function(&self, script: &str, name: &str, arity: usize) -> bool {
        // A script that did not compile was reported already; do not add a
        // second, misleading error about what it defines.
        self.is_broken(script)
            || self
                .scripts
                .get(script)
                .is_some_and(|ast| ast.iter_functions().any(|f| f.name == name && f.params.len() == arity))
    }

    /// Runs the rule files in order on a document; `lookups` are the records
    /// it was filled from (`()` in scripts when there are none).
    pub fn run(&self, files: &[String], doc: &Value, mode: Mode, lookups: &Value) -> RuleOutcome {
        let mut outcome = RuleOutcome::default();
        if files.is_empty() {
            return outcome;
        }
        let doc = match rhai::serde::to_dynamic(doc) {
            Ok(d) => d.into_shared(),
            Err(e) => {
                outcome.errors.push(rule_failure("", &format!("document: {e}")));
                return outcome;
            }
        };
        let lookups = if lookups.is_null() {
            Dynamic::UNIT
        } else {
            rhai::serde::to_dynamic(lookups).unwrap_or(Dynamic::UNIT).into_shared()
        };
        for file in files {
            let Some(ast) = self.scripts.get(file) else { continue };
            let report = Report::default();
            let mut scope = Scope::new();
            scope.push_constant_dynamic("doc", doc.clone());
            scope.push_constant_dynamic("lookups", lookups.clone());
            scope.push_constant("mode", ImmutableString::from(mode.as_str()));
            scope.push_constant("report", report.clone());
            let result = self.with_deadline(|| self.engine.run_ast_with_scope(&mut scope, ast));
            let produced = report.take();
            outcome.errors.extend(produced.errors);
            outcome.computed.extend(produced.computed);
            if let Err(e) = result {
                outcome.errors.push(rule_failure(file, &describe(&e)));
            }
        }
        outcome
    }

    /// Calls a guard: `fn name(doc)` returning `true`, or a refusal as a
    /// string (Chinese) or a map `#{zh: …, en: …}`.
    pub fn guard(&self, script: &str, name: &str, doc: &Value) -> GuardDecision {
        self.guard_with(script, name, std::slice::from_ref(doc))
    }

    /// Calls a guard with several arguments (a lookup's `fn name(record,
    /// party)`); the answer as for [`Self::guard`].
    pub fn guard_with(&self, script: &str, name: &str, args: &[Value]) -> GuardDecision {
        let Some(ast) = self.scripts.get(script) else {
            return GuardDecision::Refuse {
                zh: format!("规则文件 {script} 不存在"),
                en: format!("rule file {script} does not exist"),
            };
        };
        let args: Vec<Dynamic> = args.iter().map(|a| rhai::serde::to_dynamic(a).unwrap_or(Dynamic::UNIT)).collect();
        let mut scope = Scope::new();
        // Only the function runs: a rule file's statements check documents
        // and are not part of a guard.
        let options = rhai::CallFnOptions::new().eval_ast(false);
        let result =
            self.with_deadline(|| self.engine.call_fn_with_options::<Dynamic>(options, &mut scope, ast, name, args));
        match result {
            Ok(v) if v.as_bool() == Ok(true) => GuardDecision::Allow,
            Ok(v) if v.is_string() => {
                let zh = v.to_string();
                GuardDecision::Refuse { en: zh.clone(), zh }
            }
            Ok(v) if v.is_map() => {
                let map = v.cast::<rhai::Map>();
                let get = |k: &str| map.get(k).map(ToString::to_string).unwrap_or_default();
                GuardDecision::Refuse { zh: get("zh"), en: get("en") }
            }
            Ok(_) => GuardDecision::Refuse {
                zh: "当前单证不满足该操作的条件".into(),
                en: "The document does not meet the conditions of this action".into(),
            },
            Err(e) => GuardDecision::Refuse {
                zh: format!("规则 {script}::{name} 执行失败：{}", describe(&e)),
                en: format!("rule {script}::{name} failed: {}", describe(&e)),
            },
        }
    }

    fn with_deadline<T>(&self, f: impl FnOnce() -> T) -> T {
        DEADLINE.with(|d| d.set(Some(Instant::now() + self.wall_clock)));
        let out = f();
        DEADLINE.with(|d| d.set(None));
        out
    }
}

fn new_engine(params: Arc<IndexMap<String, ParamTable>>, limits: RuleLimits) -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(limits.max_operations)
        .set_max_call_levels(limits.max_call_levels)
        .set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth)
        .set_max_string_size(limits.max_string_size)
        .set_max_array_size(limits.max_array_size)
        .set_max_map_size(limits.max_map_size)
        .set_strict_variables(true);
    engine.disable_symbol("eval");
    engine.on_progress(|ops| {
        if ops % 1024 != 0 {
            return None;
        }
        let late = DEADLINE.with(|d| d.get().is_some_and(|at| Instant::now() > at));
        late.then(|| Dynamic::from("wall-clock limit"))
    });
    engine.on_print(|_| {});
    engine.on_debug(|_, _, _| {});

    engine
        .register_type_with_name::<Report>("Report")
        .register_fn("error", Report::error)
        .register_fn("set", Report::set);

    engine.register_fn("is_blank", |v: Dynamic| {
        v.is_unit() || v.clone().into_immutable_string().is_ok_and(|s| s.trim().is_empty())
    });
    engine.register_fn("byte_len", |s: ImmutableString| checks::byte_len(&s) as i64);
    engine.register_fn("iso6346_valid", |s: ImmutableString| checks::iso6346_valid(&s));
    engine.register_fn("uscc_valid", |s: ImmutableString| checks::uscc_valid(&s));
    engine.register_fn("declaration_no_valid", |s: ImmutableString| checks::declaration_no_valid(&s));
    engine.register_fn("date_valid", |s: ImmutableString| checks::date_valid(&s));
    let p = params.clone();
    engine.register_fn("in_param", move |table: ImmutableString, code: ImmutableString| {
        p.get(table.as_str()).is_some_and(|t| t.contains(&code))
    });
    engine.register_fn("param_label", move |table: ImmutableString, code: ImmutableString| {
        params
            .get(table.as_str())
            .and_then(|t| t.get(&code))
            .map(|r| Dynamic::from(r.zh.clone()))
            .unwrap_or(Dynamic::UNIT)
    });
    engine
}

fn describe(e: &EvalAltResult) -> String {
    match e {
        EvalAltResult::ErrorTooManyOperations(pos) => format!("operation limit reached at {pos}"),
        EvalAltResult::ErrorTerminated(_, pos) => format!("time limit reached at {pos}"),
        other => other.to_string(),
    }
}

fn rule_failure(file: &str, what: &str) -> FieldError {
    let limit = what.contains("limit");
    FieldError::new(
        "",
        if limit { "rule.limit" } else { "rule.failed" },
        format!("校验规则 {file} 未能完成（{what}），请联系系统管理员"),
        format!("Rule {file} could not finish ({what}): contact the administrator"),
    )
}

fn parse_diagnostic(file: &str, message: &str, pos: Position) -> Diagnostic {
    let span =
        SourceSpan::new(format!("rules/{file}"), pos.line().unwrap_or(1) as u32, pos.position().unwrap_or(1) as u32);
    // Rhai appends the position to its text; the span already says it.
    let message = message.split(" (line ").next().unwrap_or(message).to_owned();
    Diagnostic::error("rule.syntax", span, message)
}
