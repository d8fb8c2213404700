//! `certflow ledger import FILE`: imports records of an outside system (the
//! inspection e-ledger) into the database, each checked against the bundle's
//! record type first. Valid records are stored (a key already present is
//! replaced); every invalid one is reported with its place in the file and
//! the fields at fault, and nothing of it is stored.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use certflow_core::records::{RecordFormat, parse_records};
use certflow_core::{Mode, ValidationReport};
use certflow_store::Store;
use serde_json::Value;

use crate::{BundleArgs, load_bundle};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(Debug, clap::Subcommand)]
enum LedgerCommand {
    /// Import records from a JSON or CSV file.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
struct ImportArgs {
    /// The file: JSON (an array, `{"records": […]}` or one record a line) or CSV.
    file: PathBuf,
    #[command(flatten)]
    bundle: BundleArgs,
    /// `sqlite:PATH` (default ./data/certflow.sqlite) or `postgres://…`.
    #[arg(long)]
    database: Option<String>,
    /// The bundle's record type the file holds (default: the bundle's only one).
    #[arg(long)]
    source: Option<String>,
    /// Print the outcome as JSON.
    #[arg(long)]
    json: bool,
}

/// Records stored per transaction.
const BATCH: usize = 500;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let LedgerCommand::Import(args) = args.command;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(import(args))
}

async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let bundle = load_bundle(&args.bundle)?;
    let record_types: Vec<&str> =
        bundle.doctypes.values().filter(|t| t.record_key.is_some()).map(|t| t.id.as_str()).collect();
    let source = match (&args.source, record_types.as_slice()) {
        (Some(given), _) => given.clone(),
        (None, [only]) => (*only).to_owned(),
        (None, []) => anyhow::bail!("the bundle describes no records (no type has a `record_key`)"),
        (None, many) => {
            anyhow::bail!("the bundle has several record types ({}): choose one with --source", many.join(", "))
        }
    };
    let ty = bundle
        .doctype(&source)
        .filter(|t| t.record_key.is_some())
        .with_context(|| format!("the bundle has no record type `{source}`"))?;
    let bytes = std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let records = parse_records(&bytes, RecordFormat::of_path(&args.file), ty)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let store = Store::connect(&crate::serve::database_url(args.database.clone())?).await?;
    let total = records.len();
    let mut rejected: Vec<(usize, Option<String>, Vec<certflow_core::FieldError>)> = Vec::new();
    let mut batch: Vec<(String, Value)> = Vec::with_capacity(BATCH);
    let mut stored = 0u64;
    let mut progress = Progress::new(total, !args.json);
    for (i, record) in records.into_iter().enumerate() {
        let ValidationReport { errors, document } = bundle.validate_as(ty, &record.data, Mode::Submit);
        match (&record.key, errors.is_empty()) {
            (Some(key), true) => batch.push((key.clone(), document)),
            (None, _) => rejected.push((record.line, None, missing_key(ty))),
            (Some(_), false) => rejected.push((record.line, record.key.clone(), errors)),
        }
        if batch.len() == BATCH {
            stored += store.put_lookup_records(&ty.id, &batch).await?;
            batch.clear();
        }
        progress.show(i + 1);
    }
    if !batch.is_empty() {
        stored += store.put_lookup_records(&ty.id, &batch).await?;
    }
    progress.finish();
    if args.json {
        let report: Vec<Value> = rejected
            .iter()
            .map(|(line, key, errors)| serde_json::json!({"record": line, "key": key, "errors": errors}))
            .collect();
        println!("{}", serde_json::json!({"read": total, "stored": stored, "rejected": report}));
    } else {
        for (line, key, errors) in &rejected {
            let key = key.as_deref().unwrap_or("-");
            for e in errors {
                println!("record {line} ({key}): {}: [{}] {} / {}", e.path, e.code, e.message_zh, e.message_en);
            }
        }
        println!(
            "{}: {total} read, {stored} stored, {} rejected ({} in the database now)",
            args.file.display(),
            rejected.len(),
            store.count_lookup_records(&ty.id).await?
        );
    }
    Ok(if rejected.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn missing_key(ty: &certflow_core::DocType) -> Vec<certflow_core::FieldError> {
    let key = ty.record_key.clone().unwrap_or_default();
    vec![certflow_core::FieldError::new(
        key.clone(),
        "required",
        format!("记录缺少关键字段 {key}"),
        format!("The record has no {key}, its key"),
    )]
}

/// A progress bar on standard error, redrawn at most a hundred times.
struct Progress {
    total: usize,
    shown: usize,
    enabled: bool,
}

impl Progress {
    fn new(total: usize, enabled: bool) -> Self {
        Self { total, shown: 0, enabled: enabled && total > 0 }
    }

    fn show(&mut self, done: usize) {
        if !self.enabled {
            return;
        }
        let step = (self.total / 100).max(1);
        if done != self.total && done < self.shown + step {
            return;
        }
        self.shown = done;
        let width = 30;
        let filled = done * width / self.total;
        let mut err = std::io::stderr();
        let _ = write!(err, "\r[{}{}] {done}/{}", "#".repeat(filled), ".".repeat(width - filled), self.total);
        let _ = err.flush();
    }

    fn finish(&self) {
        if self.enabled {
            eprintln!();
        }
    }
}
