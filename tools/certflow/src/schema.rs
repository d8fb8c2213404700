//! `certflow schema`: the JSON Schema a declared document of a type must
//! satisfy, for enterprise software that checks before sending.

use std::process::ExitCode;

use crate::{BundleArgs, load_bundle};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The document type id (see `certflow doctypes`).
    doctype: String,
    #[command(flatten)]
    bundle: BundleArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = load_bundle(&args.bundle)?;
    let Some(ty) = bundle.doctype(&args.doctype) else {
        anyhow::bail!("unknown document type `{}` (see `certflow doctypes`)", args.doctype);
    };
    println!("{}", serde_json::to_string_pretty(ty.json_schema())?);
    Ok(ExitCode::SUCCESS)
}
