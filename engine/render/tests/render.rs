//! Templates compiled to PDF and read back: pages, size, text, QR; a
//! template error with its line; a runaway template stopped by the time
//! limit while the next render still works.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use certflow_render::isolated::{RenderPool, WorkerCommand};
use certflow_render::{RenderError, RenderJob, Renderer, TemplateSet};
use serde_json::{Value, json};

fn fixture_set() -> TemplateSet {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/templates");
    let files = std::fs::read_dir(&dir)
        .expect("fixture templates")
        .map(|e| {
            let path = e.expect("entry").path();
            (path.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&path).expect("read"))
        })
        .collect::<Vec<_>>();
    TemplateSet::from_files("fixture-v1".into(), files)
}

fn job(entry: &str, goods: usize) -> RenderJob {
    let goods: Vec<Value> =
        (1..=goods).map(|i| json!({"name": format!("冻虾仁 Frozen shrimp {i}"), "qty": i * 10})).collect();
    RenderJob {
        entry: entry.into(),
        input: json!({
            "variant": "final",
            "issue_date": "2026-03-15",
            "document": {"consignor": "青岛海滨食品有限公司 QINGDAO HAIBIN FOODS CO., LTD.", "goods": goods},
            "verification": {"url": "https://certflow.example/verify/520000226000123", "qr": "/certflow/qr.svg"},
        }),
    }
}

/// The text of every page, as a PDF reader extracts it.
fn pdf_text(pdf: &[u8]) -> (usize, String, Vec<(f32, f32)>) {
    let doc = lopdf::Document::load_mem(pdf).expect("a readable PDF");
    let pages = doc.get_pages();
    let numbers: Vec<u32> = pages.keys().copied().collect();
    let text = doc.extract_text(&numbers).expect("text");
    let sizes = pages
        .values()
        .map(|id| {
            let page = doc.get_dictionary(*id).expect("page");
            let media = page.get(b"MediaBox").and_then(|m| m.as_array()).expect("media box");
            let n = |o: &lopdf::Object| o.as_float().or_else(|_| o.as_i64().map(|i| i as f32)).expect("number");
            (n(&media[2]) - n(&media[0]), n(&media[3]) - n(&media[1]))
        })
        .collect();
    (pages.len(), text, sizes)
}

#[test]
fn a_bilingual_sheet_renders_with_real_chinese_text() {
    let set = fixture_set();
    let rendered = Renderer::default().render(&set, &job("sheet.typ", 3)).expect("renders");
    let (pages, text, sizes) = pdf_text(&rendered.pdf);
    assert_eq!(pages, 1);
    assert_eq!(rendered.pages, 1);
    let (w, h) = sizes[0];
    assert!((w - 595.28).abs() < 0.5 && (h - 841.89).abs() < 0.5, "A4 in points: {w}×{h}");
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in ["植物检疫证书", "PHYTOSANITARY", "青岛海滨食品有限公司", "冻虾仁", "2026-03-15"] {
        assert!(flat.contains(needle), "{needle:?} is not in the PDF text: {flat}");
    }
    assert!(rendered.warnings.is_empty(), "{:?}", rendered.warnings);
}

#[test]
fn the_same_input_gives_the_same_pdf() {
    let set = fixture_set();
    let renderer = Renderer::default();
    let a = renderer.render(&set, &job("sheet.typ", 2)).expect("renders");
    let b = renderer.render(&set, &job("sheet.typ", 2)).expect("renders");
    assert_eq!(a.pdf, b.pdf, "today() is the issue date, so output is reproducible");
}

#[test]
fn a_template_error_names_the_typ_line() {
    let error = Renderer::default().render(&fixture_set(), &job("broken.typ", 2)).expect_err("fails");
    let RenderError::Template(diagnostics) = &error else { panic!("a template error: {error}") };
    let first = &diagnostics[0];
    assert_eq!(first.span.file, "certificate-templates/broken.typ");
    assert_eq!(first.span.line, 5, "{first}");
    assert!(first.span.column >= 2, "{first}");
    assert!(first.message.contains("cannot add"), "{first}");
}

#[test]
fn an_unknown_font_is_an_error_not_tofu() {
    let error = Renderer::default().render(&fixture_set(), &job("tofu.typ", 0)).expect_err("fails");
    let diagnostics = error.diagnostics();
    assert!(
        diagnostics
            .iter()
            .any(|d| d.code == "template.font" && d.span.file == "certificate-templates/tofu.typ" && d.span.line == 1),
        "{diagnostics:?}"
    );
}

#[test]
fn a_missing_entry_is_reported() {
    let error = Renderer::default().render(&fixture_set(), &job("nowhere.typ", 0)).expect_err("fails");
    assert!(error.to_string().contains("certificate-templates/nowhere.typ"), "{error}");
}

fn pool(limit: Duration) -> RenderPool {
    RenderPool::new(WorkerCommand::new(env!("CARGO_BIN_EXE_certflow-render-worker"), Vec::<String>::new()), 2, limit)
}

#[test]
fn a_runaway_template_is_stopped_and_the_next_render_works() {
    let set = fixture_set();
    let pool = pool(Duration::from_secs(3));
    // Warm: the worker has started and loaded its fonts.
    pool.render(&set, &job("sheet.typ", 1)).expect("renders in a worker");
    let started = Instant::now();
    let error = pool.render(&set, &job("loop.typ", 0)).expect_err("stopped");
    assert!(matches!(error, RenderError::TimeLimit(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(10), "stopped near the limit: {:?}", started.elapsed());
    let again = pool.render(&set, &job("sheet.typ", 2)).expect("a fresh worker renders");
    assert_eq!(again.pages, 1);
    // Template errors come back from the worker with their lines.
    let broken = pool.render(&set, &job("broken.typ", 1)).expect_err("fails");
    assert_eq!(broken.diagnostics()[0].span.line, 5);
}

#[test]
fn workers_render_in_parallel_and_agree_with_in_process_renders() {
    let set = std::sync::Arc::new(fixture_set());
    let pool = pool(Duration::from_secs(60));
    let expected = Renderer::default().render(&set, &job("sheet.typ", 4)).expect("renders").pdf;
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (pool, set) = (pool.clone(), set.clone());
            std::thread::spawn(move || pool.render(&set, &job("sheet.typ", 4)).expect("renders").pdf)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().expect("thread"), expected);
    }
}

#[test]
fn the_qr_code_decodes_to_the_verification_url() {
    let set = fixture_set();
    let laid_out = Renderer::default().layout(&set, &job("sheet.typ", 1)).expect("lays out");
    let found = common::scan_qr_codes(&laid_out.document.pages()[0], "render-fixture-sheet");
    assert_eq!(found, vec!["https://certflow.example/verify/520000226000123".to_owned()]);
}

#[test]
fn a_warmed_pool_checks_a_layout_without_making_its_pdf() {
    let set = fixture_set();
    let pool = pool(Duration::from_secs(60));
    pool.warm_up(&set, &[job("sheet.typ", 1)]);
    let checked = pool.layout(&set, &job("sheet.typ", 40)).expect("lays out");
    let rendered = pool.render(&set, &job("sheet.typ", 40)).expect("renders");
    assert!(checked.pdf.is_empty(), "a check makes no PDF");
    assert_eq!(checked.pages, rendered.pages);
    assert!(rendered.pages > 1, "40 lines run over a page");
    // The check still reports a broken template with its line.
    let broken = pool.layout(&set, &job("broken.typ", 1)).expect_err("fails");
    assert_eq!(broken.diagnostics()[0].span.line, 5);
}
