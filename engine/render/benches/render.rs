//! Warm render throughput of a shipped certificate format: one process,
//! fonts loaded once, `--renders N` layouts of the same document (PDF
//! export included), each timed; median, p95 and the process's peak memory.
//! With `--export DIR` it also writes the template root (templates,
//! data.json, certflow/qr.svg) so that Python's Typst binding can compile
//! exactly the same thing (tools/bench/render.sh runs both side by side).
//!
//! `cargo bench -p certflow-render --bench render -- --lines 20 --renders 10000`

#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};
use std::time::Instant;

use certflow_core::Variant;
use certflow_render::service::DEFAULT_VERIFY_BASE;
use certflow_render::{DocumentFacts, LayoutOptions, Renderer, TemplateSet, job_for};
use serde_json::Value;

struct Options {
    doctype: String,
    lines: usize,
    renders: usize,
    export: Option<PathBuf>,
}

fn options() -> Options {
    let mut o = Options { doctype: "export-c5-1".into(), lines: 20, renders: 1000, export: None };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--doctype" => o.doctype = args.next().expect("--doctype ID"),
            "--lines" => o.lines = args.next().and_then(|v| v.parse().ok()).expect("--lines N"),
            "--renders" => o.renders = args.next().and_then(|v| v.parse().ok()).expect("--renders N"),
            "--export" => o.export = args.next().map(PathBuf::from),
            _ => {} // cargo bench passes --bench
        }
    }
    o
}

/// The sample with its goods repeated to `lines` lines, numbered.
fn document(sample: &Value, lines: usize) -> Value {
    let mut doc = sample.clone();
    let goods = sample["goods"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Value> = (0..lines)
        .map(|i| {
            let mut row = goods[i % goods.len()].clone();
            if let Some(name) = row.get("name_en").and_then(Value::as_str) {
                row["name_en"] = Value::from(format!("{name} LOT {}", i + 1));
            }
            row
        })
        .collect();
    doc["goods"] = Value::Array(rows);
    doc
}

/// Peak resident memory of this process (VmHWM), in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn export(dir: &Path, set: &TemplateSet, input: &Value, url: &str) {
    for (path, bytes) in set.raw_files() {
        let target = dir.join(&path);
        std::fs::create_dir_all(target.parent().expect("a parent")).expect("mkdir");
        std::fs::write(target, bytes).expect("write template");
    }
    std::fs::write(dir.join("data.json"), serde_json::to_vec(input).expect("json")).expect("write data");
    std::fs::create_dir_all(dir.join("certflow")).expect("mkdir");
    std::fs::write(dir.join("certflow/qr.svg"), certflow_render::qr_svg(url)).expect("write qr");
}

fn main() {
    let o = options();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bundle = certflow_core::load(&root).expect("the shipped bundle");
    let ty = bundle.doctype(&o.doctype).expect("the document type");
    let doc = document(ty.sample.as_ref().expect("a sample"), o.lines);
    let date = time::macros::date!(2026 - 11 - 25);
    let url = format!("{DEFAULT_VERIFY_BASE}/440100226000042");
    let options = LayoutOptions::new(Variant::Final, date, url.clone());
    let job = job_for(&bundle, ty, &doc, &DocumentFacts::default(), &options).expect("a layout");
    let set = TemplateSet::from_bundle(&bundle);
    if let Some(dir) = &o.export {
        export(dir, &set, &job.input, &url);
        std::fs::write(dir.join("entry.txt"), &job.entry).expect("write entry");
    }

    let started = Instant::now();
    let renderer = Renderer::default();
    let first = renderer.render(&set, &job).expect("renders");
    let cold_ms = started.elapsed().as_secs_f64() * 1000.0;
    let mut times = Vec::with_capacity(o.renders);
    let mut early_peak = 0.0;
    for i in 0..o.renders {
        let t = Instant::now();
        let out = renderer.render(&set, &job).expect("renders");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(out.pages, first.pages);
        if i + 1 == o.renders.min(1000) {
            early_peak = peak_mib();
        }
    }
    times.sort_by(f64::total_cmp);
    println!(
        "certflow {} {} lines {} pages: first {:.1} ms; {} warm renders median {:.2} ms p95 {:.2} ms; peak memory {:.0} MiB (after 1,000 renders {:.0} MiB); {} bytes",
        o.doctype,
        o.lines,
        first.pages,
        cold_ms,
        o.renders,
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        peak_mib(),
        early_peak,
        first.pdf.len()
    );
}
