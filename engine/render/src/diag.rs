//! Typst's diagnostics as bundle diagnostics: the .typ file under
//! certificate-templates/ with line and column, hints, and the call trace.

use certflow_core::compile::TEMPLATES_DIR;
use certflow_core::{Diagnostic, SourceSpan};
use typst::diag::{Severity, SourceDiagnostic};
use typst::syntax::{DiagSpan, FileId};
use typst::{World, WorldExt};

use crate::world::project_path;

/// Where a span points: bundle path, 1-based line and column.
fn locate(world: &dyn World, id: Option<FileId>, range: Option<std::ops::Range<usize>>) -> SourceSpan {
    let Some(id) = id else { return SourceSpan::new(TEMPLATES_DIR, 0, 0) };
    let file = format!("{TEMPLATES_DIR}{}", project_path(id));
    let position = range.and_then(|r| {
        let source = world.source(id).ok()?;
        let (line, column) = source.lines().byte_to_line_column(r.start)?;
        Some((line as u32 + 1, column as u32 + 1))
    });
    let (line, column) = position.unwrap_or((0, 0));
    SourceSpan::new(file, line, column)
}

fn locate_span(world: &dyn World, span: DiagSpan) -> SourceSpan {
    locate(world, span.id(), world.range(span))
}

/// One Typst diagnostic. Missing fonts and glyphs are errors: they would
/// print tofu on a certificate.
pub(crate) fn convert(world: &dyn World, d: &SourceDiagnostic) -> Diagnostic {
    let mut span = locate_span(world, d.span);
    let message = d.message.to_string();
    // A panic of the template library is raised on its caller's behalf (a
    // field the type lacks): the caller's line — the innermost call from
    // another file, a format's or a family template's — is the one to fix;
    // where it was raised becomes a hint. Other errors (a broken shared
    // file) stay where they are.
    let mut raised_at = None;
    if message.starts_with("panicked")
        && let Some(call) = d
            .trace
            .iter()
            .map(|point| locate_span(world, DiagSpan::from_span(point.span, None)))
            .find(|at| at.file != span.file)
    {
        raised_at = Some(std::mem::replace(&mut span, call));
    }
    let font_problem = message.contains("unknown font family") || message.contains("glyph");
    let mut out = match d.severity {
        Severity::Error => Diagnostic::error("template.error", span, message),
        Severity::Warning if font_problem => Diagnostic::error("template.font", span, message),
        Severity::Warning => Diagnostic::warning("template.warning", span, message),
    };
    if let Some(at) = raised_at {
        out.hints.push(format!("raised at {at}"));
    }
    for hint in &d.hints {
        out.hints.push(hint.v.to_string());
    }
    for point in &d.trace {
        let at = locate_span(world, DiagSpan::from_span(point.span, None));
        out.hints.push(format!("{} ({at})", point.v));
    }
    out
}

/// A problem of the render itself, not of a template line.
pub(crate) fn general(code: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic::error(code, SourceSpan::new(TEMPLATES_DIR, 0, 0), message)
}
