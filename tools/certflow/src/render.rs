//! `certflow render`: lays out a document as PDF, and `certflow
//! render-worker`, the worker process renders run in.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use certflow_core::Variant;
use certflow_render::isolated::{RenderPool, WorkerCommand};
use certflow_render::service::DEFAULT_VERIFY_BASE;
use certflow_render::{DocumentFacts, LayoutOptions, RenderService, TemplateSet, job_for};

use crate::{BundleArgs, load_bundle};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// The document type.
    doctype: String,
    /// The document (JSON); or `--sample`.
    #[arg(required_unless_present = "sample", conflicts_with = "sample")]
    data: Option<PathBuf>,
    /// Lay out the sample document the type ships.
    #[arg(long)]
    sample: bool,
    /// check (核对单), draft (草稿), final (e-certificate), overlay (stationery), a4.
    #[arg(long, value_parser = parse_variant)]
    variant: Variant,
    /// Where to write the PDF.
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// The document's status (its label is printed where the layout shows it).
    #[arg(long)]
    status: Option<String>,
    /// The issue date, YYYY-MM-DD (default: today).
    #[arg(long, value_parser = parse_date)]
    issue_date: Option<time::Date>,
    /// The certificate number printed and encoded in the verification QR code.
    #[arg(long)]
    number: Option<String>,
    /// Overlay shift to the right, in millimetres.
    #[arg(long, default_value = "0")]
    margin_left: f64,
    /// Overlay shift downwards, in millimetres.
    #[arg(long, default_value = "0")]
    margin_top: f64,
    /// Stop a layout that takes longer than this many seconds.
    #[arg(long, default_value = "30")]
    time_limit: u64,
}

fn parse_variant(s: &str) -> Result<Variant, String> {
    Variant::parse(s).ok_or_else(|| format!("`{s}` is not a variant: use check, draft, final, overlay or a4"))
}

fn parse_date(s: &str) -> Result<time::Date, String> {
    time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|e| format!("`{s}` is not a date YYYY-MM-DD: {e}"))
}

/// The pool of `certflow render-worker` processes of this binary.
pub fn worker_pool(workers: usize, limit: Duration) -> anyhow::Result<RenderPool> {
    let exe = std::env::current_exe().context("finding the certflow binary for render workers")?;
    Ok(RenderPool::new(WorkerCommand::new(exe, ["render-worker"]), workers, limit))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = load_bundle(&args.bundle)?;
    let Some(ty) = bundle.doctype(&args.doctype) else {
        let known: Vec<&str> = bundle.doctypes.keys().map(String::as_str).collect();
        anyhow::bail!("no document type `{}` (known: {})", args.doctype, known.join(", "));
    };
    let data = match &args.data {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice(&text).with_context(|| format!("{} is not JSON", path.display()))?
        }
        None => ty.sample.clone().with_context(|| format!("`{}` ships no sample document", ty.id))?,
    };
    let Some(layout) = &ty.layout else { anyhow::bail!("`{}` has no layout", ty.id) };
    if !layout.variants.contains(&args.variant) {
        let offered: Vec<&str> = layout.variants.iter().map(|v| v.as_str()).collect();
        anyhow::bail!("`{}` is not laid out as {} (it offers {})", ty.id, args.variant, offered.join(", "));
    }
    let issue_date = args.issue_date.unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let number = args.number.clone().unwrap_or_else(|| format!("{}-SAMPLE", ty.id));
    let mut options = LayoutOptions::new(args.variant, issue_date, format!("{DEFAULT_VERIFY_BASE}/{number}"));
    options.margin_left_mm = args.margin_left;
    options.margin_top_mm = args.margin_top;
    let facts = DocumentFacts { status: args.status.clone(), unified_no: args.number.clone(), ..Default::default() };
    let job = job_for(&bundle, ty, &data, &facts, &options).context("the type's layout does not offer this variant")?;
    let service = RenderService::Pool(worker_pool(1, Duration::from_secs(args.time_limit))?);
    match service.render(&TemplateSet::from_bundle(&bundle), &job) {
        Ok(rendered) => {
            for w in &rendered.warnings {
                eprintln!("{w}");
            }
            std::fs::write(&args.output, &rendered.pdf)
                .with_context(|| format!("writing {}", args.output.display()))?;
            println!("{}: {} page(s), {} bytes", args.output.display(), rendered.pages, rendered.pdf.len());
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            for d in e.diagnostics() {
                eprintln!("{d}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `certflow render-worker`: serve render requests on stdin/stdout.
pub fn worker() -> anyhow::Result<ExitCode> {
    certflow_render::isolated::serve_worker(std::io::stdin().lock(), std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}
