//! `certflow test`: runs the analyst scenarios of the bundle (`scenarios:`
//! files under forms/) — errors, values, actions, and the rendered layout's
//! texts and pages — and reports each case that does not hold.

use std::process::ExitCode;

use certflow_core::Variant;
use certflow_render::{DocumentFacts, LayoutOptions, Renderer, TemplateSet, job_for};

use crate::{BundleArgs, load_bundle};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = load_bundle(&args.bundle)?;
    let renderer = Renderer::default();
    let templates = TemplateSet::from_bundle(&bundle);
    let issue_date = time::OffsetDateTime::now_utc().date();
    let (mut passed, mut failed) = (0, 0);
    for scenario in &bundle.scenarios {
        let ty = bundle.doctype(&scenario.doctype).expect("checked when compiled");
        for (span, case) in &scenario.cases {
            let run = bundle.run_case(&scenario.doctype, case);
            let mut failures = run.failures;
            if let Some(expect) = &case.layout {
                let variant = expect.variant.as_deref().and_then(Variant::parse).unwrap_or_else(|| {
                    ty.layout
                        .as_ref()
                        .map(|l| l.variant_for(run.state.as_deref().unwrap_or_default()))
                        .unwrap_or(Variant::A4)
                });
                let options =
                    LayoutOptions::new(variant, issue_date, format!("http://127.0.0.1:8080/verify/{}-TEST", ty.id));
                let facts = DocumentFacts { status: run.state.clone(), ..DocumentFacts::default() };
                match job_for(&bundle, ty, &run.document, &facts, &options) {
                    None => failures.push(format!("`{}` has no {} layout", ty.id, variant.as_str())),
                    Some(job) => match renderer.layout(&templates, &job) {
                        Err(e) => failures.push(format!("the layout failed: {e}")),
                        Ok(laid) => {
                            let pages = laid.page_texts();
                            let text: String = pages.concat().chars().filter(|c| !c.is_whitespace()).collect();
                            for want in &expect.contains {
                                let squeezed: String = want.chars().filter(|c| !c.is_whitespace()).collect();
                                if !text.contains(&squeezed) {
                                    failures.push(format!("the {} layout does not show {want:?}", variant.as_str()));
                                }
                            }
                            if let Some(n) = expect.pages
                                && n != pages.len()
                            {
                                failures.push(format!(
                                    "the {} layout has {} pages, not {n}",
                                    variant.as_str(),
                                    pages.len()
                                ));
                            }
                        }
                    },
                }
            }
            if failures.is_empty() {
                passed += 1;
                println!("ok    {span}: {}: {}", scenario.doctype, case.name);
            } else {
                failed += 1;
                println!("FAIL  {span}: {}: {}", scenario.doctype, case.name);
                for f in failures {
                    println!("      {f}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
