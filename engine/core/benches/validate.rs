//! Full validation (schema + rules) of a document with 100 goods lines, and
//! the schema part alone — the figure `tools/bench/validation.sh` sets beside
//! Python's jsonschema on the same schema and document.

use std::path::Path;

use certflow_core::validate::normalize;
use certflow_core::{CompiledBundle, Mode};
use criterion::{Criterion, criterion_group, criterion_main};

const DOCTYPE: &str = "import-food";
const LINES: usize = 100;

fn bundle() -> CompiledBundle {
    certflow_core::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).expect("shipped bundle compiles")
}

/// The type's sample with its goods line repeated to `LINES` lines.
pub fn hundred_line_document(bundle: &CompiledBundle) -> serde_json::Value {
    let mut doc = bundle.doctype(DOCTYPE).and_then(|t| t.sample.clone()).expect("sample");
    let line = doc["goods"][0].clone();
    doc["goods"] = serde_json::Value::Array((0..LINES).map(|_| line.clone()).collect());
    doc
}

fn bench(c: &mut Criterion) {
    let bundle = bundle();
    let ty = bundle.doctype(DOCTYPE).expect("type").clone();
    let doc = hundred_line_document(&bundle);
    assert!(bundle.validate_as(&ty, &doc, Mode::Submit).is_valid(), "the benchmark document must be valid");
    if let Ok(dir) = std::env::var("CERTFLOW_BENCH_EXPORT") {
        // The same schema and document for the Python baseline.
        let dir = Path::new(&dir);
        std::fs::write(dir.join("schema.json"), serde_json::to_vec(ty.json_schema()).expect("json")).expect("write");
        std::fs::write(dir.join("document.json"), serde_json::to_vec(&normalize(&ty, &doc)).expect("json"))
            .expect("write");
    }
    let mut group = c.benchmark_group(format!("validate {DOCTYPE} {LINES} lines"));
    group.bench_function("full (schema + rules)", |b| b.iter(|| bundle.validate_as(&ty, &doc, Mode::Submit)));
    let normalized = normalize(&ty, &doc);
    group.bench_function("schema only", |b| b.iter(|| bundle.validate_schema(&ty, &normalized, Mode::Submit)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
