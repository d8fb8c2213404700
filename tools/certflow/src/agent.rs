//! `certflow agent`: the local signer. A WebSocket server on the enterprise's
//! own machine that speaks the China E-Port client's protocol
//! ([`certflow_sign::protocol`]) and answers from one card: a development
//! soft card (`--soft-card DIR`) or a PIV card in a PC/SC reader
//! (`--reader NAME`, through `certflow-card`). `--new-soft-card DIR` makes a
//! soft card and exits.
//!
//! Only pages the user trusts may use the card: a browser sends the page's
//! `Origin` with the WebSocket upgrade, and an origin not in the allow list
//! is answered `403 Forbidden` without upgrading. Connections without an
//! `Origin` (local tools, not browsers) are served. The agent binds to
//! loopback unless told otherwise.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use certflow_card::PivCard;
use certflow_sign::card::{Card, CardError};
use certflow_sign::cert::Certificate;
use certflow_sign::protocol::{self, Reply};
use certflow_sign::softcard::{SoftCard, SoftCardOptions, new_card_id};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// The address the E-Port client listens on.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:61232";
/// Origins trusted when no `--allow-origin` is given: the certflow server
/// as `certflow serve` runs it by default.
pub const DEFAULT_ORIGINS: &[&str] = &["http://127.0.0.1:8080", "http://localhost:8080"];
/// The largest request accepted (a signature request carries a document).
const MAX_MESSAGE: usize = 16 << 20;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("card").required(true).args(["soft_card", "reader", "new_soft_card"])))]
pub struct Args {
    /// Serve a soft card from this directory.
    #[arg(long, value_name = "DIR")]
    soft_card: Option<PathBuf>,
    /// Serve the card in this PC/SC reader.
    #[arg(long, value_name = "NAME")]
    reader: Option<String>,
    /// Create a soft card (SM2 key, self-signed certificate, PIN) in this
    /// directory, print its card id and certificate number, and exit.
    #[arg(long, value_name = "DIR")]
    new_soft_card: Option<PathBuf>,
    /// Card id of the new soft card (default: a random one).
    #[arg(long, value_name = "ID", requires = "new_soft_card")]
    card_id: Option<String>,
    /// PIN of the new soft card (default: 88888888).
    #[arg(long, value_name = "PIN", requires = "new_soft_card", env = "CERTFLOW_SOFT_CARD_PIN")]
    pin: Option<String>,
    /// Address to listen on; a non-loopback address exposes the card to the
    /// network.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// A page origin (scheme://host[:port]) allowed to use the card;
    /// repeatable; replaces the defaults (http://127.0.0.1:8080,
    /// http://localhost:8080).
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origin: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.new_soft_card {
        return new_soft_card(dir, args.card_id.as_deref(), args.pin.as_deref());
    }
    let card: Box<dyn Card> = if let Some(dir) = &args.soft_card {
        let card = SoftCard::open(dir).with_context(|| format!("cannot open the soft card in {}", dir.display()))?;
        println!("certflow agent: soft card {} (certificate {})", card.card_id(), card.cert_no());
        Box::new(card)
    } else if let Some(reader) = &args.reader {
        announce_reader(reader);
        Box::new(ReaderCard { reader: reader.clone(), card: None })
    } else {
        anyhow::bail!("give --soft-card DIR, --reader NAME or --new-soft-card DIR");
    };
    let origins = if args.allow_origin.is_empty() {
        DEFAULT_ORIGINS.iter().map(|o| normalize_origin(o)).collect()
    } else {
        args.allow_origin.iter().map(|o| normalize_origin(o)).collect()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(serve(args.listen, card, origins))?;
    Ok(ExitCode::SUCCESS)
}

fn new_soft_card(dir: &std::path::Path, card_id: Option<&str>, pin: Option<&str>) -> anyhow::Result<ExitCode> {
    let card_id = match card_id {
        Some(id) => id.to_owned(),
        None => new_card_id()?,
    };
    let mut options = SoftCardOptions::new(card_id);
    if let Some(pin) = pin {
        options = options.pin(pin);
    }
    let card = SoftCard::create_with(dir, &options)
        .with_context(|| format!("cannot create a soft card in {}", dir.display()))?;
    println!("card id: {}", card.card_id());
    println!("cert no: {}", card.cert_no());
    Ok(ExitCode::SUCCESS)
}

/// Says which readers PC/SC has; a missing reader is only a warning, as
/// the reader may be plugged in after the agent starts.
fn announce_reader(reader: &str) {
    match certflow_card::readers() {
        Ok(readers) => {
            let listed: Vec<String> =
                readers.iter().map(|(name, card)| format!("{name:?}{}", if *card { " (card)" } else { "" })).collect();
            if readers.iter().any(|(name, _)| name == reader) {
                println!("certflow agent: reader {reader:?}");
            } else {
                eprintln!(
                    "certflow agent: warning: no reader {reader:?} yet (readers: {})",
                    if listed.is_empty() { "none".to_owned() } else { listed.join(", ") }
                );
            }
        }
        Err(e) => eprintln!("certflow agent: warning: PC/SC: {e}"),
    }
}

/// The card in a PC/SC reader, connected on first use and again after an
/// error that loses the connection, so the agent can start before the card
/// is inserted and survives the card being taken out and put back.
struct ReaderCard {
    reader: String,
    card: Option<PivCard>,
}

impl ReaderCard {
    fn with<T>(&mut self, op: impl Fn(&mut PivCard) -> Result<T, CardError>) -> Result<T, CardError> {
        let reused = self.card.is_some();
        let result = self.attempt(&op);
        // A card put back since the last operation: the old connection says
        // "removed"; try once more on a fresh one.
        if reused && matches!(result, Err(CardError::CardRemoved)) { self.attempt(&op) } else { result }
    }

    fn attempt<T>(&mut self, op: &impl Fn(&mut PivCard) -> Result<T, CardError>) -> Result<T, CardError> {
        let mut card = match self.card.take() {
            Some(card) => card,
            None => PivCard::connect(Some(&self.reader))?,
        };
        let result = op(&mut card);
        let lost =
            matches!(result, Err(CardError::CardRemoved | CardError::NoCard | CardError::NoReader | CardError::Io(_)));
        if !lost {
            self.card = Some(card);
        }
        result
    }
}

impl Card for ReaderCard {
    fn card_id(&mut self) -> Result<String, CardError> {
        self.with(|card| card.card_id())
    }

    fn certificate(&mut self) -> Result<Certificate, CardError> {
        self.with(|card| card.certificate())
    }

    fn verify_pin(&mut self, pin: &str) -> Result<(), CardError> {
        self.with(|card| card.verify_pin(pin))
    }

    fn sign(&mut self, pin: &str, data: &[u8]) -> Result<Vec<u8>, CardError> {
        self.with(|card| card.sign(pin, data))
    }
}

/// What the connections share.
struct Agent {
    /// One card operation at a time, whichever page asks.
    card: Arc<Mutex<Box<dyn Card>>>,
    origins: Vec<String>,
}

async fn serve(listen: SocketAddr, card: Box<dyn Card>, origins: Vec<String>) -> anyhow::Result<()> {
    if !listen.ip().is_loopback() {
        eprintln!(
            "certflow agent: warning: listening on {listen}, not a loopback address: \
             other machines can reach the card (a PIN is still needed to sign)"
        );
    }
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    println!("certflow agent: listening on ws://{local} (origins: {})", origins.join(", "));
    let agent = Arc::new(Agent { card: Arc::new(Mutex::new(card)), origins });
    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let agent = Arc::clone(&agent);
                    tokio::spawn(async move {
                        if let Err(e) = connection(agent, stream).await {
                            eprintln!("certflow agent: {peer}: {e}");
                        }
                    });
                }
                Err(e) => {
                    eprintln!("certflow agent: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = &mut shutdown => {
                println!("certflow agent: stopped");
                return Ok(());
            }
        }
    }
}

async fn connection(agent: Arc<Agent>, stream: TcpStream) -> Result<(), tungstenite::Error> {
    let origins = agent.origins.clone();
    // The error type is tungstenite's handshake callback's.
    #[allow(clippy::result_large_err)]
    let check = move |request: &Request, response: Response| check_origin(&origins, request, response);
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    let mut socket = match tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config)).await {
        Ok(socket) => socket,
        // Refused origins and non-WebSocket requests were answered already.
        Err(tungstenite::Error::Http(_)) | Err(tungstenite::Error::Protocol(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    while let Some(message) = socket.next().await {
        let reply = match message? {
            Message::Text(text) => answer(&agent.card, text.as_str().to_owned()).await,
            Message::Binary(bytes) => match String::from_utf8(bytes.to_vec()) {
                Ok(text) => answer(&agent.card, text).await,
                Err(_) => Reply::failure("", serde_json::Value::Null, "请求必须是 UTF-8 JSON 文本"),
            },
            Message::Close(_) => break,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
        };
        let text = serde_json::to_string(&reply).unwrap_or_default();
        socket.send(Message::text(text)).await?;
    }
    Ok(())
}

/// Answers one request; the card is held for the whole operation, off the
/// async threads (a card operation blocks).
async fn answer(card: &Arc<Mutex<Box<dyn Card>>>, text: String) -> Reply {
    let mut card = Arc::clone(card).lock_owned().await;
    match tokio::task::spawn_blocking(move || protocol::handle_text(card.as_mut(), &text)).await {
        Ok(reply) => reply,
        Err(e) => Reply::failure("", serde_json::Value::Null, format!("读卡失败：{e}")),
    }
}

/// Accepts the upgrade when the request has no `Origin` or a trusted one.
/// (The error type is tungstenite's handshake callback's.)
#[allow(clippy::result_large_err)]
fn check_origin(origins: &[String], request: &Request, response: Response) -> Result<Response, ErrorResponse> {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return Ok(response);
    };
    let allowed = origin.to_str().map(|o| origins.contains(&normalize_origin(o))).unwrap_or(false);
    if allowed {
        return Ok(response);
    }
    eprintln!("certflow agent: refused origin {origin:?}");
    let mut refusal = ErrorResponse::new(Some(format!(
        "origin {} is not allowed to use this card (start the agent with --allow-origin)\n",
        origin.to_str().unwrap_or("?")
    )));
    *refusal.status_mut() = StatusCode::FORBIDDEN;
    Err(refusal)
}

/// Origins compare case-insensitively, without a trailing `/`.
fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>) -> Request {
        let mut builder = Request::builder().uri("/");
        if let Some(origin) = origin {
            builder = builder.header(header::ORIGIN, origin);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn origin_check() {
        let origins: Vec<String> = DEFAULT_ORIGINS.iter().map(|o| normalize_origin(o)).collect();
        assert!(check_origin(&origins, &request(None), Response::default()).is_ok());
        assert!(check_origin(&origins, &request(Some("http://localhost:8080")), Response::default()).is_ok());
        assert!(check_origin(&origins, &request(Some("HTTP://127.0.0.1:8080/")), Response::default()).is_ok());
        let refused = check_origin(&origins, &request(Some("http://evil.example")), Response::default()).unwrap_err();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(check_origin(&origins, &request(Some("http://localhost:8081")), Response::default()).is_err());
        assert!(check_origin(&origins, &request(Some("null")), Response::default()).is_err());
    }
}
