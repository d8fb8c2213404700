//! `certflow check`: validate a document as a document type.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use certflow_core::Mode;

use crate::{BundleArgs, load_bundle};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The document type id (see `certflow doctypes`).
    doctype: String,
    /// The document, a JSON file (`-` for standard input).
    data: PathBuf,
    #[command(flatten)]
    bundle: BundleArgs,
    /// `submit` checks a declaration (required fields too); `draft` a temporary save.
    #[arg(long, value_enum, default_value_t = ModeArg::Submit)]
    mode: ModeArg,
    /// Language of the messages.
    #[arg(long, value_enum, default_value_t = Lang::Both)]
    lang: Lang,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ModeArg {
    Draft,
    Submit,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Lang {
    Zh,
    En,
    Both,
}

/// Exit 0 valid, 1 invalid (one line an error: `path: [code] message`).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = load_bundle(&args.bundle)?;
    let text = if args.data.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the document from standard input")?
    } else {
        std::fs::read_to_string(&args.data).with_context(|| format!("reading {}", args.data.display()))?
    };
    let document: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", args.data.display()))?;
    let mode = match args.mode {
        ModeArg::Draft => Mode::Draft,
        ModeArg::Submit => Mode::Submit,
    };
    let Some(ty) = bundle.doctype(&args.doctype) else {
        let known: Vec<&str> = bundle.doctypes.keys().map(String::as_str).collect();
        anyhow::bail!("unknown document type `{}`; the bundle has: {}", args.doctype, known.join(", "));
    };
    let report = bundle.validate_as(ty, &document, mode);
    for e in &report.errors {
        let path = if e.path.is_empty() { "(document)" } else { &e.path };
        let message = match args.lang {
            Lang::Zh => e.message_zh.clone(),
            Lang::En => e.message_en.clone(),
            Lang::Both => format!("{} / {}", e.message_zh, e.message_en),
        };
        println!("{path}: [{}] {message}", e.code);
    }
    Ok(if report.is_valid() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
