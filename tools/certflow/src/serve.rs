//! `certflow serve`: the web server on the bundle and a database.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use certflow_server::{AppState, CustomsConfig, ServerConfig};
use certflow_store::Store;

use crate::{BundleArgs, load_bundle};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    bundle: BundleArgs,
    /// `sqlite:PATH` (the default, ./data/certflow.sqlite) or `postgres://…`.
    #[arg(long)]
    database: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Seed demo data and print how to log in.
    #[arg(long)]
    demo: bool,
    /// Where `--demo` keeps the demo accounts' soft cards.
    #[arg(long, value_name = "DIR", default_value = "data/demo-cards")]
    demo_cards: PathBuf,
    /// The local signer the pages talk to (the E-Port client's address).
    #[arg(long, value_name = "URL", default_value = certflow_server::DEFAULT_SIGNER_URL)]
    signer_url: String,
    /// Time the built-in customs simulator takes to answer a submission.
    #[arg(long, default_value = "1500")]
    customs_delay_ms: u64,
    /// Share of submissions the simulator refuses on storing (0.0–1.0).
    #[arg(long, default_value = "0.0")]
    customs_failure_rate: f64,
    /// Let the simulator also review (审核合格/不合格) instead of an officer.
    #[arg(long)]
    customs_auto_review: bool,
    /// Do not run the customs simulator (an outside gateway posts receipts).
    #[arg(long)]
    no_customs_simulator: bool,
    /// Certificate layouts rendered at once (each in a worker process).
    #[arg(long, default_value = "2")]
    render_workers: usize,
    /// Seconds a certificate layout may take before it is stopped.
    #[arg(long, default_value = "20")]
    render_time_limit: u64,
    /// Root certificates (PEM) trusted for https:// webhooks besides the
    /// built-in public ones (a receiver with a private CA).
    #[arg(long, value_name = "FILE")]
    webhook_ca: Option<PathBuf>,
    /// Deliver webhooks to loopback and private network addresses too.
    #[arg(long)]
    allow_private_webhooks: bool,
    /// Where e-mail status notifications are written (.eml files) for the mail system.
    #[arg(long, value_name = "DIR", default_value = "data/mail-outbox")]
    mail_spool: PathBuf,
    /// Where the control token for `certflow reload` is written.
    #[arg(long, value_name = "FILE", default_value = "data/control-token")]
    control_token: PathBuf,
    /// Bearer token an outside customs gateway uses to post receipts.
    #[arg(long, env = "CERTFLOW_GATEWAY_TOKEN")]
    gateway_token: Option<String>,
}

/// The database to use: the one given, else SQLite under ./data.
pub fn database_url(given: Option<String>) -> anyhow::Result<String> {
    match given {
        Some(url) => Ok(url),
        None => {
            std::fs::create_dir_all("data").context("creating ./data for the database")?;
            Ok("sqlite:data/certflow.sqlite".to_owned())
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: Args) -> anyhow::Result<()> {
    let bundle = load_bundle(&args.bundle)?;
    let url = database_url(args.database.clone())?;
    let store = Store::connect(&url).await.with_context(|| format!("opening the database {url}"))?;
    tracing::info!(bundle = bundle.short_hash(), doctypes = bundle.doctypes.len(), database = %url, "starting");
    let config = ServerConfig {
        customs: CustomsConfig {
            simulate: !args.no_customs_simulator,
            delay: std::time::Duration::from_millis(args.customs_delay_ms),
            failure_rate: args.customs_failure_rate.clamp(0.0, 1.0),
            auto_review: args.customs_auto_review,
            gateway_token: args.gateway_token.clone(),
        },
        signer_url: args.signer_url.clone(),
        render: certflow_render::RenderService::Pool(crate::render::worker_pool(
            args.render_workers,
            std::time::Duration::from_secs(args.render_time_limit),
        )?),
        public_url: format!("http://{}", args.listen),
        mail_spool: args.mail_spool.clone(),
        bundle_root: Some(args.bundle.bundle.canonicalize().unwrap_or_else(|_| args.bundle.bundle.clone())),
        control_token: Some(write_control_token(&args.control_token)?),
        webhooks: webhooks(&args)?,
        ..ServerConfig::default()
    };
    let fonts = certflow_render::Fonts::shared();
    for family in certflow_render::fonts::CJK_FAMILIES {
        if !fonts.has_family(family) {
            tracing::warn!(
                "font {family:?} is not installed: certificate layouts will fail until it is \
                 (apt-get install fonts-noto-cjk, or set CERTFLOW_FONT_PATHS)"
            );
        }
    }
    let state = AppState::new(bundle, store, config);
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    if args.demo {
        certflow_server::demo::seed(&state).await.map_err(|e| anyhow::anyhow!("seeding demo data: {e}"))?;
        let cards = certflow_server::demo::bind_soft_cards(&state, &args.demo_cards)
            .await
            .map_err(|e| anyhow::anyhow!("demo soft cards in {}: {e}", args.demo_cards.display()))?;
        print_demo_logins(&address, &cards);
    }
    println!("certflow is serving on http://{address}");
    certflow_server::spawn_background(&state);
    let (bundle, render) = (state.bundle.current(), state.config.render.clone());
    tokio::task::spawn_blocking(move || certflow_render::warm_up(&bundle, &render));
    // The bundle's folders are watched for as long as the server runs.
    let _watcher = certflow_server::reload::watch(state.clone());
    axum::serve(listener, certflow_server::app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// How webhooks are delivered; a bad `--webhook-ca` stops the start.
fn webhooks(args: &Args) -> anyhow::Result<certflow_server::webhook::WebhookConfig> {
    let config = certflow_server::webhook::WebhookConfig {
        extra_roots: args.webhook_ca.clone(),
        allow_private: args.allow_private_webhooks,
    };
    certflow_server::webhook::check(&config).map_err(|e| anyhow::anyhow!("--webhook-ca: {e}"))?;
    Ok(config)
}

/// A fresh secret for `certflow reload`, written where only this user reads it.
fn write_control_token(path: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let token = certflow_server::random_token();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing the control token {}", path.display()))?;
    file.write_all(token.as_bytes())?;
    Ok(token)
}

/// How to log in to the demo: each account's card, PIN and the agent
/// command that puts the card "in the reader".
fn print_demo_logins(address: &SocketAddr, cards: &[certflow_server::demo::DemoCard]) {
    println!("demo data ready. Log in at http://{address}/login with a demo card:");
    for card in cards {
        let login = &card.login;
        println!("  card {}  PIN {}  {}", login.card_no, login.pin, login.who);
        // The agent trusts the default server origin by itself.
        let origin = if address.to_string() == "127.0.0.1:8080" {
            String::new()
        } else {
            format!(" --allow-origin http://{address}")
        };
        println!("    insert it: certflow agent --soft-card {}{origin}", card.dir.display());
    }
    println!("  (without a running agent the demo cards' PINs are also accepted directly)");
}
