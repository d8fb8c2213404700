//! Rendering documents of a bundle: the job for a document in a variant,
//! where it runs (in this process or in time-limited workers), and the
//! check that every type's template renders its sample in every variant.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use certflow_core::raw::Variant;
use certflow_core::{CompiledBundle, Diagnostic, DocType};
use serde_json::Value;

use crate::isolated::RenderPool;
use crate::{
    DocumentFacts, LayoutOptions, RenderError, RenderJob, Rendered, Renderer, TemplateSet, template_input,
    template_reach,
};

/// Where verification URLs point when no server address is configured.
pub const DEFAULT_VERIFY_BASE: &str = "http://127.0.0.1:8080/verify";

/// The job that lays out `data` of type `ty`; `None` when the type has no
/// layout or does not offer the variant.
pub fn job_for(
    bundle: &CompiledBundle,
    ty: &DocType,
    data: &Value,
    facts: &DocumentFacts,
    options: &LayoutOptions,
) -> Option<RenderJob> {
    let layout = ty.layout.as_ref()?;
    if !layout.variants.contains(&options.variant) {
        return None;
    }
    Some(RenderJob { entry: layout.template.clone(), input: template_input(bundle, ty, data, facts, options) })
}

/// Every (type, variant, job) with which lint checks the layouts: each
/// concrete type's sample in each variant it offers.
pub fn sample_jobs(bundle: &CompiledBundle, issue_date: time::Date) -> Vec<(String, Variant, RenderJob)> {
    sample_jobs_of(bundle, issue_date, |_| true)
}

/// As [`sample_jobs`], for the types `wanted` accepts only (making a job
/// prepares the sample's whole template input: not for nothing).
fn sample_jobs_of(
    bundle: &CompiledBundle,
    issue_date: time::Date,
    wanted: impl Fn(&str) -> bool,
) -> Vec<(String, Variant, RenderJob)> {
    let mut jobs = Vec::new();
    for ty in bundle.doctypes.values().filter(|ty| wanted(&ty.id)) {
        let (Some(layout), Some(sample)) = (&ty.layout, &ty.sample) else { continue };
        for variant in &layout.variants {
            let options = LayoutOptions::new(*variant, issue_date, format!("{DEFAULT_VERIFY_BASE}/{}-SAMPLE", ty.id));
            if let Some(mut job) = job_for(bundle, ty, sample, &DocumentFacts::default(), &options) {
                // A check render: templates may be strict (the shared library
                // refuses to read a field the type does not define).
                job.input["check"] = Value::Bool(true);
                jobs.push((ty.id.clone(), *variant, job));
            }
        }
    }
    jobs
}

/// Renders every sample job to PDF, with every worker of the service (lint:
/// nobody else is waiting); the problems found, each with a hint naming the
/// types and variants. Types with a layout but no sample get a warning.
pub fn check_layouts(bundle: &CompiledBundle, service: &RenderService) -> Vec<Diagnostic> {
    check(bundle, service, |_| true, Depth::Pdf, Share::All)
}

/// As [`check_layouts`], for a running server: only the types `wanted`
/// accepts (what a reload's change can have touched), laid out without
/// making PDFs; a long check leaves a worker free for the users' previews.
pub fn check_layouts_of(
    bundle: &CompiledBundle,
    service: &RenderService,
    wanted: impl Fn(&str) -> bool,
) -> Vec<Diagnostic> {
    check(bundle, service, wanted, Depth::Layout, Share::LeaveOneWhenLong)
}

/// How many of the service's workers a check takes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Share {
    All,
    /// All for a short check (a format's few variants: a moment); all but
    /// one for a long one (a shared template reaching every format).
    LeaveOneWhenLong,
}

/// How far a check render goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Depth {
    /// Pages laid out: every template and data error.
    Layout,
    /// And the PDF made: also what only the export finds (a broken picture).
    Pdf,
}

fn check(
    bundle: &CompiledBundle,
    service: &RenderService,
    wanted: impl Fn(&str) -> bool,
    depth: Depth,
    share: Share,
) -> Vec<Diagnostic> {
    let set = TemplateSet::from_bundle(bundle);
    let today = time::OffsetDateTime::now_utc().date();
    let mut out: Vec<Diagnostic> = Vec::new();
    for ty in bundle.doctypes.values().filter(|t| t.layout.is_some() && t.sample.is_none()) {
        out.push(Diagnostic::warning(
            "layout.no-sample",
            ty.origin.clone(),
            format!("`{}` has a layout but no sample: its template is not checked", ty.id),
        ));
    }
    let jobs = sample_jobs_of(bundle, today, wanted);
    let workers = service.parallelism();
    let at_once = match share {
        Share::LeaveOneWhenLong if jobs.len() > 2 * workers => workers.saturating_sub(1).max(1),
        _ => workers,
    };
    // Renders run side by side, as many as the service allows; the
    // problems are gathered in the jobs' order so reports stay stable.
    let next = AtomicUsize::new(0);
    let found: Vec<Mutex<Vec<Diagnostic>>> = jobs.iter().map(|_| Mutex::new(Vec::new())).collect();
    std::thread::scope(|scope| {
        for _ in 0..at_once.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, _, job)) = jobs.get(index) else { break };
                    let checked = match depth {
                        Depth::Layout => service.check(&set, job),
                        Depth::Pdf => service.render(&set, job).map(drop),
                    };
                    let Err(e) = checked else { continue };
                    found[index].lock().unwrap_or_else(|p| p.into_inner()).extend(e.diagnostics());
                }
            });
        }
    });
    // A problem usually shows in every variant, and a broken shared file in
    // every format importing it: reported once, naming where it showed.
    let mut seen_in: Vec<(Diagnostic, ShowedIn)> = Vec::new();
    for ((doctype, variant, _), problems) in jobs.iter().zip(found) {
        for d in problems.into_inner().unwrap_or_else(|p| p.into_inner()) {
            // The same problem at the same place; the call trace (hints)
            // differs by the entry that reached it, the first one is kept.
            let same = |seen: &Diagnostic| {
                (seen.severity, &seen.code, &seen.message, &seen.span) == (d.severity, &d.code, &d.message, &d.span)
            };
            let index = match seen_in.iter().position(|(seen, _)| same(seen)) {
                Some(index) => index,
                None => {
                    seen_in.push((d, Vec::new()));
                    seen_in.len() - 1
                }
            };
            let types = &mut seen_in[index].1;
            match types.iter_mut().find(|(t, _)| t == doctype) {
                Some((_, variants)) => variants.push(*variant),
                None => types.push((doctype, vec![*variant])),
            }
        }
    }
    for (mut d, types) in seen_in {
        d.hints.push(rendering_hint(&types));
        out.push(d);
    }
    out
}

/// Where a problem showed: each type, with the variants.
type ShowedIn<'a> = Vec<(&'a str, Vec<Variant>)>;

/// `rendering the sample of `t` as check, draft`, or for several types
/// `rendering the samples of `a` (check, draft), `b` (final) and 3 more`.
fn rendering_hint(types: &[(&str, Vec<Variant>)]) -> String {
    const SHOWN: usize = 5;
    let variants = |v: &[Variant]| v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    match types {
        [(doctype, v)] => format!("rendering the sample of `{doctype}` as {}", variants(v)),
        _ => {
            let listed: Vec<String> =
                types.iter().take(SHOWN).map(|(t, v)| format!("`{t}` ({})", variants(v))).collect();
            let more = types.len().saturating_sub(SHOWN);
            let more = if more > 0 { format!(" and {more} more") } else { String::new() };
            format!("rendering the samples of {}{more}", listed.join(", "))
        }
    }
}

/// Starts every worker the service may use and has each lay out one
/// sample per distinct set of shared templates, so that the first preview
/// or reload check does not pay for starting a worker, loading fonts and
/// evaluating the shared template library.
pub fn warm_up(bundle: &CompiledBundle, service: &RenderService) {
    let set = TemplateSet::from_bundle(bundle);
    let today = time::OffsetDateTime::now_utc().date();
    // One type for each distinct set of templates its layout imports.
    let mut shared_seen = std::collections::HashSet::new();
    let chosen: std::collections::HashSet<&str> = bundle
        .doctypes
        .values()
        .filter(|ty| ty.sample.is_some())
        .filter_map(|ty| {
            let entry = &ty.layout.as_ref()?.template;
            let shared = template_reach(entry, |p| set.text(p)).map(|mut read| {
                read.remove(entry);
                read
            });
            shared_seen.insert(shared).then_some(ty.id.as_str())
        })
        .collect();
    let mut jobs: Vec<(String, Variant, RenderJob)> = sample_jobs_of(bundle, today, |id| chosen.contains(id));
    jobs.dedup_by(|a, b| a.0 == b.0);
    let jobs: Vec<RenderJob> = jobs.into_iter().map(|(_, _, job)| job).collect();
    match service {
        RenderService::Local(renderer) => jobs.iter().for_each(|job| drop(renderer.layout(&set, job))),
        RenderService::Pool(pool) => pool.warm_up(&set, &jobs),
    }
}

/// Where renders run.
#[derive(Debug, Clone)]
pub enum RenderService {
    /// In this process: fast, no time limit (tools and tests).
    Local(Renderer),
    /// In worker processes, each render under the pool's time limit.
    Pool(RenderPool),
}

impl RenderService {
    pub fn render(&self, set: &TemplateSet, job: &RenderJob) -> Result<Rendered, RenderError> {
        match self {
            RenderService::Local(renderer) => renderer.render(set, job),
            RenderService::Pool(pool) => pool.render(set, job),
        }
    }

    /// Lays `job` out without making its PDF: whether the template works.
    pub fn check(&self, set: &TemplateSet, job: &RenderJob) -> Result<(), RenderError> {
        match self {
            RenderService::Local(renderer) => renderer.layout(set, job).map(drop),
            RenderService::Pool(pool) => pool.layout(set, job).map(drop),
        }
    }

    /// How many renders may usefully run at once.
    pub fn parallelism(&self) -> usize {
        match self {
            RenderService::Local(_) => std::thread::available_parallelism().map_or(1, usize::from),
            RenderService::Pool(pool) => pool.max_workers(),
        }
    }
}

/// The template set of the bundle version last asked for, rebuilt when the
/// version changes (sources stay parsed between renders).
#[derive(Debug, Default)]
pub struct TemplateCache(Mutex<Option<Arc<TemplateSet>>>);

impl TemplateCache {
    pub fn get(&self, bundle: &CompiledBundle) -> Arc<TemplateSet> {
        let mut current = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*current {
            Some(set) if set.hash == bundle.hash => set.clone(),
            _ => {
                let set = TemplateSet::from_bundle(bundle);
                *current = Some(set.clone());
                set
            }
        }
    }
}
