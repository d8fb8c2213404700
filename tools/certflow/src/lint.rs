//! `certflow lint`: every problem of the bundle in one pass.

use std::process::ExitCode;

use std::time::Duration;

use certflow_core::{BundleSource, compile};
use certflow_render::RenderService;

use crate::BundleArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// `human`: one line a problem, `path:line:col: severity[code]: message`; `json`: an array.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
    /// Seconds one sample layout may take before it is stopped and reported.
    #[arg(long, default_value = "20")]
    layout_time_limit: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Human,
    Json,
}

/// Exit 0 when the bundle has no error, 1 when it has (warnings alone do
/// not fail), 2 when it cannot be read.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let source = BundleSource::read_dir(&args.bundle.bundle)?;
    let (bundle, mut diagnostics) = compile(&source);
    diagnostics.extend(certflow_core::lints(&source).into_vec());
    // Every layout is rendered with its type's sample, in worker processes
    // so that a looping template is stopped and reported.
    if let Some(bundle) = &bundle {
        let pool = crate::render::worker_pool(2, Duration::from_secs(args.layout_time_limit))?;
        diagnostics.extend(certflow_render::check_layouts(bundle, &RenderService::Pool(pool)));
    }
    let bundle = bundle.filter(|_| !diagnostics.has_errors());
    match args.format {
        Format::Human => {
            print!("{}", diagnostics.render_human());
            if let Some(bundle) = &bundle {
                println!(
                    "bundle {} ok: {} document types, {} workflows, {} parameter tables",
                    bundle.short_hash(),
                    bundle.doctypes.len(),
                    bundle.workflows.len(),
                    bundle.params.len()
                );
            }
        }
        Format::Json => println!("{}", diagnostics.render_json()),
    }
    Ok(if diagnostics.has_errors() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
