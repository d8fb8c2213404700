//! `certflow doctypes`: the document types of the bundle.

use std::process::ExitCode;

use crate::{BundleArgs, load_bundle};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// An array of `{id, name_zh, name_en, workflow, format_code}`.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = load_bundle(&args.bundle)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&bundle.doctype_summaries())?);
    } else {
        let width = bundle.doctypes.keys().map(|k| k.len()).max().unwrap_or(0);
        for t in bundle.doctypes.values() {
            let code = t.format_code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default();
            println!("{:width$}  {}{code}  ({})", t.id, t.name.zh, t.name.en);
        }
    }
    Ok(ExitCode::SUCCESS)
}
