//! `certflow lint`: every problem of the bundle in one pass.

use std::process::ExitCode;

use certflow_core::{BundleSource, compile};

use crate::BundleArgs;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// `human`: one line a problem, `path:line:col: severity[code]: message`; `json`: an array.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,
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
    let (bundle, diagnostics) = compile(&source);
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
