//! Hot reload (ENG-3): the bundle's three folders are watched; a change is
//! compiled and checked aside — schemas, references, rules, and every
//! layout rendered with its type's sample — and the new bundle replaces the
//! active one atomically only when clean. Otherwise the last good bundle
//! keeps serving and the refusal, with each problem's file:line:col, is kept
//! for `GET /api/v1/bundle` and the admin page. Requests in flight finish on
//! the bundle they started with (they hold its `Arc`).
//!
//! Editors save in many ways (write in place, write aside and rename over,
//! truncate then write, delete and recreate, several files in a burst):
//! events are gathered until the folders have been quiet for a moment, then
//! one reload reads the whole set.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use certflow_core::{BundleError, BundleSource, Diagnostic, Diagnostics};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::state::AppState;

/// Where the layouts live, from the bundle root.
const TEMPLATES: &str = "certificate-templates/";
/// How long the folders must be quiet before a reload, unless configured.
pub const QUIET: Duration = Duration::from_millis(150);
/// The longest a burst of saves delays a reload.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// Reload events kept for the admin page.
const LOG_LENGTH: usize = 30;

/// What a reload did.
#[derive(Debug, Clone, PartialEq)]
pub enum ReloadOutcome {
    /// The new bundle serves now.
    Activated { version: String },
    /// Nothing changed since the active bundle.
    Unchanged { version: String },
    /// The change has problems; the active bundle stays.
    Refused { diagnostics: Vec<Diagnostic> },
}

/// The last refused reload, as `GET /api/v1/bundle` shows it.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub at: OffsetDateTime,
    pub diagnostics: Vec<Diagnostic>,
}

/// Where the bundle comes from and what reloading it did.
#[derive(Debug, Default)]
pub struct Reloader {
    /// The bundle directory; `None` for a bundle given in memory (tests).
    root: Option<PathBuf>,
    /// One reload at a time.
    running: tokio::sync::Mutex<()>,
    /// The last refusal, until a later reload succeeds.
    last_error: Mutex<Option<Refusal>>,
    /// Recent reloads, newest last.
    log: Mutex<Vec<Value>>,
}

impl Reloader {
    pub fn new(root: Option<PathBuf>) -> Self {
        Self { root, ..Self::default() }
    }

    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    pub fn last_error(&self) -> Option<Refusal> {
        self.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn log(&self) -> Vec<Value> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn record(&self, entry: Value) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.push(entry);
        let excess = log.len().saturating_sub(LOG_LENGTH);
        log.drain(..excess);
    }
}

/// Where a reload's time went, for the admin page and the benchmark.
#[derive(Debug, Default)]
struct Phases {
    read: Duration,
    compile: Duration,
    render: Duration,
    /// Types whose sample layouts were rendered.
    layouts: usize,
}

impl Phases {
    fn to_json(&self) -> Value {
        json!({
            "read_ms": self.read.as_millis() as u64, "compile_ms": self.compile.as_millis() as u64,
            "render_ms": self.render.as_millis() as u64, "layouts": self.layouts,
        })
    }
}

/// Successive durations from one start.
struct Lap(Instant);

impl Lap {
    fn start() -> Self {
        Self(Instant::now())
    }

    fn next(&mut self) -> Duration {
        let now = Instant::now();
        now - std::mem::replace(&mut self.0, now)
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A diagnostic as the API shows it.
pub fn diagnostic_json(d: &Diagnostic) -> Value {
    json!({
        "file": d.span.file, "line": d.span.line, "column": d.span.column,
        "severity": d.severity, "code": d.code, "message": d.message, "hints": d.hints,
    })
}

/// The last refusal as `GET /api/v1/bundle`'s `last_error`.
pub fn refusal_json(refusal: &Option<Refusal>) -> Value {
    match refusal {
        None => Value::Null,
        Some(r) => {
            json!({"at": rfc3339(r.at), "diagnostics": r.diagnostics.iter().map(diagnostic_json).collect::<Vec<_>>()})
        }
    }
}

/// Reads, compiles and checks the bundle directory; activates it when clean.
pub async fn reload(state: &AppState, actor: &str) -> ReloadOutcome {
    let Some(root) = state.reloader.root().map(Path::to_path_buf) else {
        let current = state.bundle.current();
        return ReloadOutcome::Unchanged { version: current.hash.clone() };
    };
    let _one_at_a_time = state.reloader.running.lock().await;
    let started = Instant::now();
    let render = state.config.render.clone();
    let current = state.bundle.current();
    let (phases, checked) = tokio::task::spawn_blocking(move || {
        let mut phases = Phases::default();
        let checked = check(&root, &current, &render, &mut phases);
        (phases, checked)
    })
    .await
    .unwrap_or_else(|e| {
        let failed = Diagnostic::error("reload.failed", certflow_core::SourceSpan::file(""), e.to_string());
        (Phases::default(), Err(vec![failed]))
    });
    let mut phases = phases.to_json();
    let took = started.elapsed().as_millis() as u64;
    let now = OffsetDateTime::now_utc();
    match checked {
        Ok(None) => {
            let version = state.bundle.current().hash.clone();
            ReloadOutcome::Unchanged { version }
        }
        Ok(Some(bundle)) => {
            let version = bundle.hash.clone();
            let types = bundle.doctypes.len();
            // Kept before it serves: documents made with it must find it again.
            let storing = Instant::now();
            if let Err(e) = state.store.save_bundle_version(&version, &crate::state::sources_of(&bundle)).await {
                tracing::warn!("cannot keep bundle version {version}: {e}");
            }
            phases["store_ms"] = json!(storing.elapsed().as_millis() as u64);
            let took = started.elapsed().as_millis() as u64;
            state.bundle.replace(bundle);
            *state.reloader.last_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
            state.reloader.record(json!({"at": rfc3339(now), "outcome": "activated", "version": version, "doctypes": types, "ms": took, "phases": phases, "by": actor}));
            audit(state, actor, "bundle.activated", json!({"version": version, "doctypes": types, "ms": took})).await;
            tracing::info!(version = &version[..12], doctypes = types, ms = took, "bundle activated");
            ReloadOutcome::Activated { version }
        }
        Err(mut diagnostics) => {
            diagnostics.retain(|d| d.severity == certflow_core::Severity::Error);
            let first = diagnostics
                .first()
                .map(|d| format!("{}:{}:{}: {}", d.span.file, d.span.line, d.span.column, d.message));
            *state.reloader.last_error.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Refusal { at: now, diagnostics: diagnostics.clone() });
            state.reloader.record(json!({"at": rfc3339(now), "outcome": "refused", "problems": diagnostics.len(), "first": first, "ms": took, "phases": phases, "by": actor}));
            let listed: Vec<Value> = diagnostics.iter().map(diagnostic_json).collect();
            audit(state, actor, "bundle.refused", json!({"problems": listed})).await;
            tracing::warn!(
                problems = diagnostics.len(),
                first = first.unwrap_or_default(),
                "bundle change refused; the last good bundle keeps serving"
            );
            ReloadOutcome::Refused { diagnostics }
        }
    }
}

/// Reads the bundle directory and compiles and checks it aside: `None` when
/// it is the active bundle, else the new bundle or every problem found.
fn check(
    root: &Path,
    current: &certflow_core::CompiledBundle,
    render: &certflow_render::RenderService,
    phases: &mut Phases,
) -> Result<Option<certflow_core::CompiledBundle>, Vec<Diagnostic>> {
    let mut lap = Lap::start();
    let source = BundleSource::read_dir(root).map_err(|e| vec![read_error(root, e)])?;
    if source.hash() == current.hash {
        return Ok(None);
    }
    phases.read = lap.next();
    let (bundle, diagnostics) = certflow_core::compile(&source);
    phases.compile = lap.next();
    let mut problems: Vec<Diagnostic> = diagnostics.into_vec();
    let Some(bundle) = bundle else { return Err(problems) };
    let touched = touched_types(current, &bundle);
    let rendered = |id: &str| touched.as_ref().is_none_or(|t| t.contains(id));
    phases.layouts = bundle.doctypes.values().filter(|t| t.layout.is_some() && rendered(&t.id)).count();
    problems.extend(certflow_render::check_layouts_of(&bundle, render, rendered));
    phases.render = lap.next();
    let errors: Diagnostics = problems.into_iter().collect();
    if errors.has_errors() { Err(errors.into_vec()) } else { Ok(Some(bundle)) }
}

/// The types whose layouts a change can have touched, or `None` for all:
/// a changed parameter table, workflow, rule, list or template picture can
/// touch any; otherwise a type is touched when a definition of its chain,
/// its sample, or a template its layout imports or includes (before or
/// after the change) changed.
fn touched_types(
    old: &certflow_core::CompiledBundle,
    new: &certflow_core::CompiledBundle,
) -> Option<std::collections::HashSet<String>> {
    let before: std::collections::HashMap<&str, &[u8]> =
        old.sources.iter().map(|f| (f.path.as_str(), &*f.bytes)).collect();
    let after: std::collections::HashMap<&str, &[u8]> =
        new.sources.iter().map(|f| (f.path.as_str(), &*f.bytes)).collect();
    let mut changed: Vec<&str> = after.iter().filter(|(p, b)| before.get(*p) != Some(*b)).map(|(p, _)| *p).collect();
    changed.extend(before.keys().filter(|p| !after.contains_key(*p)));
    let definition_file =
        |p: &str| ["forms/doctypes/", "forms/samples/", "forms/scenarios/"].iter().any(|d| p.starts_with(d));
    let template_text = |p: &str| p.starts_with(TEMPLATES) && (p.ends_with(".typ") || p.ends_with(".md"));
    if changed.iter().any(|p| !(definition_file(p) || template_text(p))) {
        return None;
    }
    let mut graphs = [import_graph(&before), import_graph(&after)];
    let mut touched = std::collections::HashSet::new();
    for ty in new.doctypes.values() {
        let Some(layout) = &ty.layout else { continue };
        let mut files = vec![ty.origin.file.clone()];
        files.extend(
            ty.extends
                .iter()
                .filter_map(|b| new.bases.get(b).or_else(|| new.doctypes.get(b)))
                .map(|b| b.origin.file.clone()),
        );
        // A template importing a computed path could read any template.
        let mut reads_any = false;
        for graph in &mut graphs {
            match graph.reach(&layout.template) {
                Some(read) => files.extend(read.into_iter().map(|p| format!("{TEMPLATES}{p}"))),
                None => reads_any = true,
            }
        }
        // The sample as compiled, whichever file it comes from.
        let sample_changed = old.doctypes.get(&ty.id).map(|o| &o.sample) != Some(&ty.sample);
        if reads_any || sample_changed || changed.iter().any(|c| files.iter().any(|f| f == c)) {
            touched.insert(ty.id.clone());
        }
    }
    Some(touched)
}

/// The imports between a version's templates (paths from the bundle root).
fn import_graph<'a>(
    files: &'a std::collections::HashMap<&'a str, &'a [u8]>,
) -> certflow_render::ImportGraph<'a, impl Fn(&str) -> Option<&'a str>> {
    certflow_render::ImportGraph::new(move |p: &str| {
        files.get(format!("{TEMPLATES}{p}").as_str()).and_then(|b| std::str::from_utf8(b).ok())
    })
}

fn read_error(root: &Path, e: BundleError) -> Diagnostic {
    Diagnostic::error("bundle.read", certflow_core::SourceSpan::file(root.display().to_string()), e.to_string())
}

async fn audit(state: &AppState, actor: &str, action: &str, detail: Value) {
    let entry = certflow_store::NewAuditEntry {
        actor: actor.to_owned(),
        enterprise: String::new(),
        document_id: None,
        action: action.to_owned(),
        detail,
    };
    if let Err(e) = state.store.append_audit(entry).await {
        tracing::warn!("could not write the audit line of a reload: {e}");
    }
}

/// Keeps the bundle's folders watched while it lives.
pub struct BundleWatch(#[allow(dead_code)] std::sync::Arc<Mutex<notify::RecommendedWatcher>>);

impl std::fmt::Debug for BundleWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BundleWatch")
    }
}

/// The folders a bundle watch covers: the three, recursively, and the root,
/// so that a folder replaced whole is seen.
fn watch_all(watcher: &mut notify::RecommendedWatcher, root: &Path) {
    use notify::{RecursiveMode, Watcher};
    for (path, mode) in [
        (root.join("forms"), RecursiveMode::Recursive),
        (root.join("rules"), RecursiveMode::Recursive),
        (root.join("certificate-templates"), RecursiveMode::Recursive),
        (root.to_path_buf(), RecursiveMode::NonRecursive),
    ] {
        if let Err(e) = watcher.watch(&path, mode) {
            tracing::warn!("cannot watch {}: {e}", path.display());
        }
    }
}

/// Watches the bundle's folders and reloads after each quiet moment.
pub fn watch(state: AppState) -> Option<BundleWatch> {
    let root = state.reloader.root()?.to_path_buf();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| !matches!(e.kind, notify::EventKind::Access(_))) {
            let _ = tx.send(());
        }
    })
    .map_err(|e| tracing::warn!("cannot watch the bundle: {e}"))
    .ok()?;
    watch_all(&mut watcher, &root);
    let watcher = std::sync::Arc::new(Mutex::new(watcher));
    let guard = BundleWatch(watcher.clone());
    let quiet = state.config.reload_quiet;
    tokio::spawn(async move {
        while rx.recv().await.is_some() {
            let first = Instant::now();
            // Gather the burst: wait until quiet, at most MAX_WAIT.
            loop {
                let left = MAX_WAIT.saturating_sub(first.elapsed());
                if left.is_zero() {
                    break;
                }
                match tokio::time::timeout(quiet.min(left), rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            // A folder renamed into place is a new folder: watch it again.
            watch_all(&mut watcher.lock().unwrap_or_else(|p| p.into_inner()), &root);
            reload(&state, "watcher").await;
        }
    });
    Some(guard)
}
