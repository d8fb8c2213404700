//! The shipped certificate layouts, read back: every format in every
//! variant, the overlay's positions against the full certificate, goods on
//! continuation sheets, and the QR code of the issued certificate.

mod common;

use std::path::Path;
use std::sync::Arc;

use certflow_core::{CompiledBundle, Variant};
use certflow_render::{DocumentFacts, LayoutOptions, PagedDocument, Renderer, TemplateSet, job_for};
use serde_json::Value;
use typst::layout::{Frame, FrameItem, Transform};

const URL: &str = "http://127.0.0.1:8080/verify/440100226000042";
const MM: f64 = 72.0 / 25.4;

fn bundle() -> &'static (CompiledBundle, Arc<TemplateSet>) {
    static BUNDLE: std::sync::OnceLock<(CompiledBundle, Arc<TemplateSet>)> = std::sync::OnceLock::new();
    BUNDLE.get_or_init(|| {
        let bundle = certflow_core::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).expect("shipped bundle");
        let set = TemplateSet::from_bundle(&bundle);
        (bundle, set)
    })
}

fn lay_out(doctype: &str, data: &Value, variant: Variant, margins: (f64, f64)) -> PagedDocument {
    let (bundle, set) = bundle();
    let ty = bundle.doctype(doctype).expect("the type");
    let mut options = LayoutOptions::new(variant, time::macros::date!(2026 - 11 - 25), URL);
    (options.margin_left_mm, options.margin_top_mm) = margins;
    let job = job_for(bundle, ty, data, &DocumentFacts::default(), &options).expect("a layout");
    Renderer::default().layout(set, &job).unwrap_or_else(|e| panic!("{doctype} {variant}: {e}")).document
}

fn sample(doctype: &str) -> Value {
    bundle().0.doctype(doctype).and_then(|t| t.sample.clone()).expect("a sample")
}

/// Every run of text on a page with its absolute position (points).
fn texts(frame: &Frame) -> Vec<(String, f64, f64)> {
    fn walk(frame: &Frame, ts: Transform, out: &mut Vec<(String, f64, f64)>) {
        for (pos, item) in frame.items() {
            match item {
                FrameItem::Group(group) => {
                    let inner = ts.pre_concat(Transform::translate(pos.x, pos.y)).pre_concat(group.transform);
                    walk(&group.frame, inner, out);
                }
                FrameItem::Text(text) => {
                    let at = pos.transform(ts);
                    out.push((text.text.to_string(), at.x.to_pt(), at.y.to_pt()));
                }
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(frame, Transform::identity(), &mut out);
    out
}

fn page_text(doc: &PagedDocument) -> Vec<String> {
    doc.pages().iter().map(|p| texts(&p.frame).into_iter().map(|(t, ..)| t).collect::<String>()).collect()
}

const EXPORT_FORMATS: [&str; 6] =
    ["export-c1-1", "export-c2-1", "export-c2-2", "export-c3-1", "export-c5-1", "export-c7-1"];

#[test]
fn every_format_lays_out_its_sample_in_every_variant_on_a4() {
    let (bundle, _) = bundle();
    let mut checked = 0;
    for ty in bundle.doctypes.values().filter(|t| t.layout.is_some()) {
        let data = ty.sample.clone().expect("every laid-out type ships a sample");
        for variant in &ty.layout.as_ref().unwrap().variants {
            let doc = lay_out(&ty.id, &data, *variant, (0.0, 0.0));
            for page in doc.pages() {
                let size = page.frame.size();
                assert!(
                    (size.x.to_mm() - 210.0).abs() < 0.5 && (size.y.to_mm() - 297.0).abs() < 0.5,
                    "{} {variant} A4",
                    ty.id
                );
            }
            checked += 1;
        }
    }
    let expected = 6 * 5 + 9 * 2 + 1; // export formats × 5, import types × 2, the pickup notice
    assert!(checked >= expected, "{checked} layouts");
}

#[test]
fn the_phytosanitary_certificate_prints_its_labels_and_data() {
    let doc = lay_out("export-c5-1", &sample("export-c5-1"), Variant::Final, (0.0, 0.0));
    let text = page_text(&doc).concat();
    for needle in [
        "中华人民共和国海关",
        "植物检疫证书",
        "PHYTOSANITARYCERTIFICATE",
        "发货人名称及地址",
        "Nameandaddressofexporter",
        "金乡县金晟农产品进出口有限公司",
        "Alliumsativum",
        "MALAYSIA",
        "第1页共1页",
    ] {
        let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(squashed.contains(needle), "{needle} in {squashed}");
    }
}

#[test]
fn the_overlay_prints_only_the_data_where_the_certificate_has_it_shifted_by_the_margins() {
    // Every certificate format of the bundle, not only the first ones.
    let (bundle, _) = bundle();
    let formats: Vec<&str> =
        bundle.doctypes.values().filter(|t| t.format_code.is_some()).map(|t| t.id.as_str()).collect();
    assert!(formats.len() >= 30, "the catalogue has {} formats", formats.len());
    assert!(EXPORT_FORMATS.iter().all(|f| formats.contains(f)));
    for doctype in formats {
        let data = sample(doctype);
        let full = lay_out(doctype, &data, Variant::Final, (0.0, 0.0));
        let overlay = lay_out(doctype, &data, Variant::Overlay, (5.0, 8.0));
        assert_eq!(full.pages().len(), overlay.pages().len(), "{doctype}");
        for (page, (f, o)) in full.pages().iter().zip(overlay.pages()).enumerate() {
            let full_texts = texts(&f.frame);
            let overlay_texts = texts(&o.frame);
            assert!(!overlay_texts.is_empty(), "{doctype} page {page}: data is printed");
            assert!(overlay_texts.len() < full_texts.len(), "{doctype}: labels are not printed");
            for (text, x, y) in &overlay_texts {
                let found = full_texts.iter().any(|(t, fx, fy)| {
                    t == text && (fx + 5.0 * MM - x).abs() < 0.01 && (fy + 8.0 * MM - y).abs() < 0.01
                });
                assert!(
                    found,
                    "{doctype} page {page}: {text:?} at ({x:.2}, {y:.2}) is not the certificate's position + (5 mm, 8 mm)"
                );
            }
            let labels = ["发货人", "Consignor", "CUSTOMS OF THE PEOPLE", "1.1 发货人", "I.1 Consignor"];
            assert!(
                // A label opens its run of text; data may quote the same words
                // further in (the EU formats' central authority names customs).
                !overlay_texts.iter().any(|(t, ..)| labels.iter().any(|l| t.trim_start().starts_with(l))),
                "{doctype}: a pre-printed label was printed on the overlay"
            );
        }
    }
}

#[test]
fn goods_continue_on_numbered_continuation_sheets() {
    let mut data = sample("export-c5-1");
    let line = data["goods"][0].clone();
    data["goods"] = Value::Array((0..200).map(|_| line.clone()).collect());
    let doc = lay_out("export-c5-1", &data, Variant::Final, (0.0, 0.0));
    let pages = doc.pages().len();
    assert!(pages >= 3, "200 lines take several pages, not {pages}");
    for (i, text) in page_text(&doc).iter().enumerate() {
        let squashed: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(squashed.contains(&format!("第{}页共{pages}页", i + 1)), "page {} of {pages}: {squashed}", i + 1);
        if i > 0 {
            assert!(
                squashed.contains("续页") || squashed.contains("CONTINUATION"),
                "page {} is a continuation sheet",
                i + 1
            );
        }
    }
}

#[test]
fn the_issued_certificate_carries_a_qr_code_of_its_verification_url() {
    let doc = lay_out("export-c5-1", &sample("export-c5-1"), Variant::Final, (0.0, 0.0));
    assert_eq!(common::scan_qr_codes(&doc.pages()[0], "render-export-c5-1-final"), vec![URL.to_owned()]);
}

#[test]
fn a_check_names_a_field_the_type_lacks_at_the_formats_line_once_for_all_variants() {
    // The shipped bundle in memory, one field id of C5-1's layout misspelt.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut source = certflow_core::BundleSource::read_dir(&root).expect("readable");
    let entry = "certificate-templates/export/c5-1.typ";
    let text = source.text(entry).expect("the layout").to_owned();
    let line = text.lines().position(|l| l.contains(r#""marks", size: 8.6pt"#)).expect("the marks cell") + 1;
    source.insert(entry, text.replacen(r#""marks", size"#, r#""marsk", size"#, 1));
    let (bundle, diagnostics) = certflow_core::compile(&source);
    let bundle = bundle.unwrap_or_else(|| panic!("{}", diagnostics.render_human()));
    let service = certflow_render::RenderService::Local(Renderer::default());
    let problems = certflow_render::check_layouts_of(&bundle, &service, |id| id == "export-c5-1");
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let d = &problems[0];
    assert_eq!(d.span.file, entry);
    // The row of boxes holding the misspelt field, not the shared library.
    assert!((d.span.line as usize) < line && line - d.span.line as usize <= 6, "{d}");
    assert!(d.message.contains("field `marsk` is not defined by the document type"), "{d}");
    assert!(d.hints.iter().any(|h| h.starts_with("raised at certificate-templates/lib/")), "{d}");
    assert!(d.hints.iter().any(|h| h.ends_with("as check, draft, final, overlay, a4")), "{d}");
    // An ordinary render of the same document prints a blank there instead.
    assert!(lay_out("export-c5-1", &sample("export-c5-1"), Variant::Final, (0.0, 0.0)).pages().len() == 1);
}

#[test]
fn a_broken_shared_template_is_reported_once_at_its_own_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut source = certflow_core::BundleSource::read_dir(&root).expect("readable");
    let shared = "certificate-templates/export/silk.typ";
    let text = source.text(shared).expect("the silk library").to_owned();
    let line = text.lines().count() + 2;
    source.insert(shared, format!("{text}\n#let broken = (\n"));
    let (bundle, diagnostics) = certflow_core::compile(&source);
    let bundle = bundle.unwrap_or_else(|| panic!("{}", diagnostics.render_human()));
    let service = certflow_render::RenderService::Local(Renderer::default());
    let importing: Vec<&str> = bundle
        .doctypes
        .values()
        .filter(|t| {
            t.layout.as_ref().is_some_and(|l| {
                source
                    .text(&format!("certificate-templates/{}", l.template))
                    .is_some_and(|e| e.contains("#import \"silk.typ\""))
            })
        })
        .map(|t| t.id.as_str())
        .collect();
    assert!(importing.len() > 5, "{importing:?}");
    let problems = certflow_render::check_layouts_of(&bundle, &service, |id| importing.contains(&id));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let d = &problems[0];
    assert_eq!((d.span.file.as_str(), d.span.line as usize), (shared, line), "{d}");
    let hint = d.hints.last().expect("where it showed");
    assert!(
        hint.starts_with("rendering the samples of `") && hint.ends_with(&format!(" and {} more", importing.len() - 5)),
        "{hint}"
    );
}

#[test]
fn a_field_misspelt_in_a_family_template_is_reported_once_at_its_line() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut source = certflow_core::BundleSource::read_dir(&root).expect("readable");
    let family = "certificate-templates/export/silk.typ";
    let text = source.text(family).expect("the silk family").to_owned();
    let line = text.lines().position(|l| l.contains(r#"cell(L.marks, "marks""#)).expect("the marks cell") + 1;
    source.insert(family, text.replacen(r#"cell(L.marks, "marks""#, r#"cell(L.marks, "marsk""#, 1));
    let (bundle, diagnostics) = certflow_core::compile(&source);
    let bundle = bundle.unwrap_or_else(|| panic!("{}", diagnostics.render_human()));
    let service = certflow_render::RenderService::Local(Renderer::default());
    let silk = ["export-c1-2-1", "export-c1-2-2", "export-c1-2-3"];
    let problems = certflow_render::check_layouts_of(&bundle, &service, |id| silk.contains(&id));
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let d = &problems[0];
    assert_eq!(d.span.file, family, "{d}");
    assert!((d.span.line as usize) <= line && line - d.span.line as usize <= 4, "{d}");
    assert!(d.message.contains("field `marsk`"), "{d}");
    assert!(d.hints.iter().any(|h| h.starts_with("rendering the samples of `export-c1-2-1`")), "{d}");
}
