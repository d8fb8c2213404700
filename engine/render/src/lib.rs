//! certflow-render: certificate layouts. The bundle's Typst templates
//! (certificate-templates/) are compiled with the document as data into PDF
//! — check sheet, draft, issued certificate, stationery overlay, A4.
//!
//! Typst is used as a library behind one [`typst::World`] ([`world`]): the
//! templates of the active bundle, the document as a virtual `/data.json`,
//! fonts loaded once per process, and "today" fixed to the issue date so a
//! render is reproducible. Template problems become bundle diagnostics with
//! the .typ file, line and column.
//!
//! It must not know any certificate: what is printed where is the
//! template's business. It reads no files but fonts, downloads no packages,
//! and a template runs under a time limit when rendered through
//! [`isolated`] (a runaway loop cannot be interrupted inside Typst, so the
//! limit is enforced on a worker process).

mod diag;
pub mod fonts;
pub mod input;
pub mod isolated;
pub mod service;
pub mod templates;
pub mod world;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use certflow_core::Diagnostic;
use typst::foundations::{Bytes, Datetime};
pub use typst_layout::PagedDocument;

pub use fonts::Fonts;
pub use input::{DocumentFacts, LayoutOptions, template_input};
pub use service::{RenderService, TemplateCache, check_layouts, check_layouts_of, job_for, sample_jobs, warm_up};
pub use templates::{ImportGraph, TemplateSet, template_reach};

/// Evict Typst's memo cache after this many renders: it is global and
/// grows with every distinct input, while eviction after every render
/// would throw away the warm cache that makes renders fast.
const EVICT_EVERY: usize = 64;

/// Why a render failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RenderError {
    /// The template (or the data it was given) has problems.
    #[error("the template does not compile: {}", first_message(.0))]
    Template(Vec<Diagnostic>),
    /// The render ran past its time limit and was stopped.
    #[error("the layout took longer than {0:?} and was stopped")]
    TimeLimit(std::time::Duration),
    /// The render worker failed (it crashed or could not start).
    #[error("the render worker failed: {0}")]
    Worker(String),
}

impl RenderError {
    /// The diagnostics to show: the template's, or one for the failure.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            RenderError::Template(d) => d.clone(),
            other => vec![diag::general("template.render", other.to_string())],
        }
    }
}

fn first_message(d: &[Diagnostic]) -> String {
    d.iter()
        .find(|d| d.severity == certflow_core::Severity::Error)
        .or(d.first())
        .map(|d| d.to_string())
        .unwrap_or_default()
}

/// A rendered PDF.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub pages: usize,
    /// Warnings the template produced (its errors fail the render).
    pub warnings: Vec<Diagnostic>,
}

/// What to render: an entry template of a set and the `/data.json` value
/// ([`template_input`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RenderJob {
    /// Path inside certificate-templates/ (`export/c5-1.typ`).
    pub entry: String,
    /// The template input.
    pub input: serde_json::Value,
}

/// Compiles templates in this process. Cheap to clone; share one.
#[derive(Debug, Clone)]
pub struct Renderer {
    fonts: Arc<Fonts>,
    renders: Arc<AtomicUsize>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new(Fonts::shared())
    }
}

impl Renderer {
    pub fn new(fonts: Arc<Fonts>) -> Self {
        Self { fonts, renders: Arc::new(AtomicUsize::new(0)) }
    }

    pub fn fonts(&self) -> &Fonts {
        &self.fonts
    }

    /// Lays out `job` with the templates of `set` and exports the PDF.
    pub fn render(&self, set: &TemplateSet, job: &RenderJob) -> Result<Rendered, RenderError> {
        let laid_out = self.layout(set, job)?;
        let options = typst_pdf::PdfOptions {
            // A stable identifier and no timestamp: the same input gives the same bytes.
            ident: typst::foundations::Smart::Custom(job.entry.clone()),
            timestamp: None,
            ..Default::default()
        };
        let pdf = typst_pdf::pdf(&laid_out.document, &options).map_err(|errors| {
            RenderError::Template(errors.iter().map(|e| diag::general("template.pdf", e.message.to_string())).collect())
        })?;
        Ok(Rendered { pdf, pages: laid_out.document.pages().len(), warnings: laid_out.warnings })
    }

    /// Lays out `job` without exporting it (pages for pictures, tests).
    pub fn layout(&self, set: &TemplateSet, job: &RenderJob) -> Result<LaidOut, RenderError> {
        let entry = format!("/{}", job.entry.trim_start_matches('/'));
        let Some(main) = world::project_file(&entry).filter(|_| set.contains(&entry)) else {
            return Err(RenderError::Template(vec![diag::general(
                "ref.unknown-template",
                format!("template `certificate-templates{entry}` does not exist"),
            )]));
        };
        let mut files = HashMap::new();
        let data = serde_json::to_vec(&job.input).map_err(|e| RenderError::Worker(e.to_string()))?;
        if let Some(id) = world::project_file(world::DATA_PATH) {
            files.insert(id, Bytes::new(data));
        }
        let url = job.input.pointer("/verification/url").and_then(|v| v.as_str()).unwrap_or("");
        if let Some(id) = world::project_file(world::QR_PATH) {
            files.insert(id, Bytes::new(qr_svg(url).into_bytes()));
        }
        let library = world::library();
        let world = world::RenderWorld::new(&library, &self.fonts, set, main, files, issue_date(&job.input));
        let warned = typst::compile::<PagedDocument>(&world);
        let warnings: Vec<Diagnostic> = warned.warnings.iter().map(|w| diag::convert(&world, w)).collect();
        let result = match warned.output {
            Ok(_) if warnings.iter().any(|w| w.severity == certflow_core::Severity::Error) => {
                Err(RenderError::Template(warnings))
            }
            Ok(document) => Ok(LaidOut { document, warnings }),
            Err(errors) => {
                let mut all: Vec<Diagnostic> = errors.iter().map(|e| diag::convert(&world, e)).collect();
                all.extend(warnings);
                Err(RenderError::Template(all))
            }
        };
        if self.renders.fetch_add(1, Ordering::Relaxed) % EVICT_EVERY == EVICT_EVERY - 1 {
            comemo::evict(10);
        }
        result
    }
}

/// A laid-out document: its pages, and the template's warnings.
#[derive(Debug)]
pub struct LaidOut {
    pub document: PagedDocument,
    pub warnings: Vec<Diagnostic>,
}

impl LaidOut {
    /// The text of each page, runs in the order they were laid out.
    pub fn page_texts(&self) -> Vec<String> {
        fn walk(frame: &typst::layout::Frame, out: &mut String) {
            for (_, item) in frame.items() {
                match item {
                    typst::layout::FrameItem::Group(group) => walk(&group.frame, out),
                    typst::layout::FrameItem::Text(text) => {
                        out.push_str(&text.text);
                        out.push(' ');
                    }
                    _ => {}
                }
            }
        }
        self.document
            .pages()
            .iter()
            .map(|page| {
                let mut text = String::new();
                walk(&page.frame, &mut text);
                text
            })
            .collect()
    }
}

/// The input's `issue_date`, else today (UTC).
fn issue_date(input: &serde_json::Value) -> Datetime {
    let parsed = input.get("issue_date").and_then(|v| v.as_str()).and_then(|s| {
        let mut parts = s.splitn(3, '-').map(|p| p.parse::<i64>().ok());
        let (y, m, d) = (parts.next()??, parts.next()??, parts.next()??);
        Datetime::from_ymd(i32::try_from(y).ok()?, u8::try_from(m).ok()?, u8::try_from(d).ok()?)
    });
    parsed.unwrap_or_else(|| {
        let now = time::OffsetDateTime::now_utc();
        Datetime::from_ymd(now.year(), u8::from(now.month()), now.day()).expect("a valid date")
    })
}

/// The QR code of `url` as SVG (black modules on white, quiet zone).
pub fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
        Err(_) => String::from(r#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>"#),
    }
}
