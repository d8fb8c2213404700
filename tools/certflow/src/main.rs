//! The `certflow` command: one binary, a subcommand per tool. Each
//! subcommand lives in its own module; this file only parses and dispatches.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod agent;
mod check;
mod doctypes;
mod ledger;
mod lint;
mod new_format;
mod reload;
mod render;
mod schema;
mod serve;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "certflow", version, about = "Draft, sign, issue and exchange inspection and quarantine certificates")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options every bundle-reading command takes.
#[derive(Debug, clap::Args)]
struct BundleArgs {
    /// The bundle directory (holding forms/, rules/, certificate-templates/).
    #[arg(long, default_value = ".")]
    bundle: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the whole bundle in one pass and report every problem.
    Lint(lint::Args),
    /// List the document types.
    Doctypes(doctypes::Args),
    /// Validate a document (JSON) as a document type.
    Check(check::Args),
    /// Print the JSON Schema of a document type.
    Schema(schema::Args),
    /// Lay out a document as PDF (check sheet, draft, certificate, overlay, A4).
    Render(render::Args),
    /// Serve render requests on stdin/stdout (used by serve, render and lint).
    #[command(hide = true)]
    RenderWorker,
    /// Run the server.
    Serve(serve::Args),
    /// Records of outside systems: `ledger import FILE` (the inspection e-ledger).
    Ledger(ledger::Args),
    /// Scaffold a certificate format on a base: definition, sample, layout, scenarios.
    NewFormat(new_format::Args),
    /// Run the analyst scenarios of the bundle.
    Test(test::Args),
    /// Ask a running server to reload its bundle now and print the outcome.
    Reload(reload::Args),
    /// Run the local card signer (E-Port client compatible WebSocket), or create a soft card.
    Agent(agent::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lint(args) => lint::run(args),
        Command::Doctypes(args) => doctypes::run(args),
        Command::Check(args) => check::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Render(args) => render::run(args),
        Command::RenderWorker => render::worker(),
        Command::Serve(args) => serve::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Ledger(args) => ledger::run(args),
        Command::Reload(args) => reload::run(args),
        Command::NewFormat(args) => new_format::run(args),
        Command::Test(args) => test::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("certflow: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads the bundle for commands that need a valid one; on errors prints
/// the diagnostics and says how to see them all.
fn load_bundle(args: &BundleArgs) -> anyhow::Result<certflow_core::CompiledBundle> {
    match certflow_core::load(&args.bundle) {
        Ok(bundle) => Ok(bundle),
        Err(certflow_core::BundleError::Invalid(diagnostics)) => {
            eprint!("{}", diagnostics.render_human());
            anyhow::bail!("the bundle at {} has errors (run `certflow lint`)", args.bundle.display())
        }
        Err(e) => Err(e.into()),
    }
}
