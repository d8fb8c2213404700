//! `certflow agent`: the local signer as a page talks to it, over a real
//! WebSocket to the binary.
#![allow(clippy::print_stderr)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use certflow_sign::protocol::{self, Reply, Request};
use certflow_sign::softcard::DEFAULT_PIN;
use certflow_sign::{Certificate, SoftCard};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const ALLOWED_ORIGIN: &str = "http://127.0.0.1:8080";
const CARD_ID: &str = "AGENT-TEST-0001";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

fn certflow() -> Command {
    Command::new(env!("CARGO_BIN_EXE_certflow"))
}

/// Creates a soft card with the binary; returns (card dir, card id, cert no)
/// as printed.
fn new_soft_card(root: &Path, extra: &[&str]) -> (PathBuf, String, String) {
    let dir = root.join("card");
    let out = certflow().arg("agent").arg("--new-soft-card").arg(&dir).args(extra).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let field = |name: &str| {
        stdout.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_else(|| panic!("no {name} in {stdout}")).to_owned()
    };
    (dir, field("card id: "), field("cert no: "))
}

/// A running `certflow agent`, killed on drop.
struct Agent {
    child: Child,
    url: String,
}

impl Agent {
    fn start(card_dir: &Path, extra: &[&str]) -> Agent {
        let card_dir = card_dir.to_str().unwrap();
        Agent::start_with(&["--soft-card", card_dir], extra)
    }

    fn start_with(card: &[&str], extra: &[&str]) -> Agent {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = format!("127.0.0.1:{port}");
        let mut child = certflow()
            .arg("agent")
            .args(card)
            .args(["--listen", &listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the agent to say it listens.
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                let mut stderr = String::new();
                child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
                panic!("the agent exited before listening: {stderr}");
            }
            if line.contains("listening on") {
                break;
            }
        }
        Agent { child, url: format!("ws://{listen}") }
    }

    async fn connect(&self, origin: Option<&str>) -> Result<Socket, tungstenite::Error> {
        let mut request = self.url.as_str().into_client_request().unwrap();
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", HeaderValue::from_str(origin).unwrap());
        }
        tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn call(socket: &mut Socket, request: &Request) -> Reply {
    socket.send(Message::text(serde_json::to_string(request).unwrap())).await.unwrap();
    next_reply(socket).await
}

async fn next_reply(socket: &mut Socket) -> Reply {
    loop {
        match socket.next().await.expect("connection closed").unwrap() {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

fn canonical_document() -> Vec<u8> {
    certflow_sign::canonical::signed_bytes(
        "CIQ_TEST",
        "sha256:0123456789abcdef",
        Some("440000126000001"),
        &json!({"consignor": "某某进出口有限公司", "goods": [{"hs": "0306170000", "weight": 12.5}]}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_answers_every_method() {
    let root = tempfile::tempdir().unwrap();
    let (dir, card_id, cert_no) = new_soft_card(root.path(), &["--card-id", CARD_ID]);
    assert_eq!(card_id, CARD_ID);
    let soft = SoftCard::open(&dir).unwrap();
    assert_eq!(cert_no, soft.cert_no());

    let agent = Agent::start(&dir, &[]);
    let mut ws = agent.connect(Some(ALLOWED_ORIGIN)).await.unwrap();

    let reply = call(&mut ws, &Request::new(protocol::GET_CARD_ID, 1)).await;
    assert!(reply.is_ok(), "{reply:?}");
    assert_eq!((reply.method.as_str(), reply.id.clone()), (protocol::GET_CARD_ID, json!(1)));
    assert_eq!(reply.first_data(), Some(CARD_ID));

    let reply = call(&mut ws, &Request::new(protocol::GET_CERT_NO, 2)).await;
    assert_eq!(reply.first_data(), Some(soft.cert_no().as_str()));

    let reply = call(&mut ws, &Request::new(protocol::GET_SIGN_CERT_AS_PEM, 3)).await;
    let cert_b64 = reply.first_data().unwrap();
    assert!(!cert_b64.contains("-----"), "base64 DER without armour");
    let cert = Certificate::parse(cert_b64).unwrap();
    assert_eq!(cert.cert_no(), soft.cert_no());

    let reply = call(&mut ws, &Request::new(protocol::VERIFY_PIN, 4).arg("passwd", "00000000")).await;
    assert!(!reply.is_ok());
    assert_eq!(reply.args.error, vec!["卡介质密码错误".to_owned()]);
    assert_eq!(reply.id, json!(4));
    let reply = call(&mut ws, &Request::new(protocol::VERIFY_PIN, 5).arg("passwd", DEFAULT_PIN)).await;
    assert!(reply.is_ok(), "{reply:?}");

    let data = canonical_document();
    let text = String::from_utf8(data.clone()).unwrap();
    let request = Request::new(protocol::SIGN_DATA_AS_PEM, 6).arg("inData", text).arg("passwd", DEFAULT_PIN);
    let reply = call(&mut ws, &request).await;
    assert!(reply.is_ok(), "{reply:?}");
    let signature = reply.first_data().unwrap().to_owned();
    {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD.decode(&signature).unwrap();
        assert_eq!(raw.len(), 64, "raw r‖s");
    }
    certflow_sign::verify(&cert, &data, signature.as_bytes()).unwrap();
    let mut tampered = data.clone();
    let last = tampered.len() - 2;
    tampered[last] ^= 0x01;
    assert!(certflow_sign::verify(&cert, &tampered, signature.as_bytes()).is_err());

    let request = Request::new(protocol::SIGN_DATA_AS_PEM, 7).arg("inData", "x").arg("passwd", "wrong");
    let reply = call(&mut ws, &request).await;
    assert_eq!((reply.is_ok(), reply.args.error[0].as_str()), (false, "卡介质密码错误"));

    let nonce = "b3c1f0e2-login-challenge-20261124";
    let request = Request::new(protocol::SIGN_RANDOM, 8).arg("random", nonce).arg("passwd", DEFAULT_PIN);
    let reply = call(&mut ws, &request).await;
    assert!(reply.is_ok(), "{reply:?}");
    certflow_sign::verify(&cert, nonce.as_bytes(), reply.first_data().unwrap().as_bytes()).unwrap();
    assert!(certflow_sign::verify(&cert, b"another nonce", reply.first_data().unwrap().as_bytes()).is_err());

    let reply = call(&mut ws, &Request::new("cus-sec_SpcNoSuchMethod", 9)).await;
    assert!(!reply.is_ok());
    assert_eq!(reply.id, json!(9));
    assert!(reply.args.error[0].contains("cus-sec_SpcNoSuchMethod"));

    ws.send(Message::text("not json")).await.unwrap();
    let reply = next_reply(&mut ws).await;
    assert!(!reply.is_ok());

    ws.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_carry_the_request_ids() {
    let root = tempfile::tempdir().unwrap();
    let (dir, _, _) = new_soft_card(root.path(), &["--card-id", CARD_ID]);
    let agent = Agent::start(&dir, &[]);
    let mut ws = agent.connect(Some(ALLOWED_ORIGIN)).await.unwrap();
    let methods = [protocol::GET_CARD_ID, protocol::GET_CERT_NO, protocol::GET_SIGN_CERT_AS_PEM, protocol::GET_CARD_ID];
    let ids = [17, 4, 99, 1000];
    // Send them all before reading any reply.
    for (method, id) in methods.iter().zip(ids) {
        let text = serde_json::to_string(&Request::new(*method, id)).unwrap();
        ws.send(Message::text(text)).await.unwrap();
    }
    for (method, id) in methods.iter().zip(ids) {
        let reply = next_reply(&mut ws).await;
        assert_eq!((reply.method.as_str(), reply.id.clone()), (*method, json!(id)));
        assert!(reply.is_ok());
    }

    // Two pages at once: the card answers both, one operation at a time.
    let mut other = agent.connect(Some("http://localhost:8080")).await.unwrap();
    let sign = |id: u64| Request::new(protocol::SIGN_RANDOM, id).arg("random", "r").arg("passwd", DEFAULT_PIN);
    let (first, second) = (sign(1), sign(2));
    let (a, b) = tokio::join!(call(&mut ws, &first), call(&mut other, &second));
    assert_eq!((a.is_ok(), a.id.clone(), b.is_ok(), b.id.clone()), (true, json!(1), true, json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_trusted_origins_are_served() {
    let root = tempfile::tempdir().unwrap();
    let (dir, _, _) = new_soft_card(root.path(), &[]);
    let agent = Agent::start(&dir, &[]);

    for origin in ["http://evil.example", "http://localhost:9999", "null"] {
        match agent.connect(Some(origin)).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403, "{origin}"),
            Err(e) => panic!("{origin}: expected 403, got {e}"),
            Ok(_) => panic!("{origin}: upgrade accepted"),
        }
    }
    // No Origin: a local tool, not a browser page.
    let mut ws = agent.connect(None).await.unwrap();
    assert!(call(&mut ws, &Request::new(protocol::GET_CARD_ID, 1)).await.is_ok());
    drop(agent);

    // --allow-origin replaces the defaults.
    let agent = Agent::start(&dir, &["--allow-origin", "https://certflow.example"]);
    let mut ws = agent.connect(Some("https://certflow.example")).await.unwrap();
    assert!(call(&mut ws, &Request::new(protocol::GET_CERT_NO, 1)).await.is_ok());
    assert!(matches!(agent.connect(Some(ALLOWED_ORIGIN)).await, Err(tungstenite::Error::Http(r)) if r.status() == 403));
}

#[test]
fn new_soft_card_with_pin() {
    let root = tempfile::tempdir().unwrap();
    let (dir, card_id, cert_no) = new_soft_card(root.path(), &["--pin", "246810"]);
    let card = SoftCard::open(&dir).unwrap();
    assert_eq!((card.card_id(), card.cert_no()), (card_id.as_str(), cert_no));
    card.verify_pin("246810").unwrap();
    assert!(card.verify_pin(DEFAULT_PIN).is_err());
    // It refuses to overwrite a card.
    let out = certflow().arg("agent").arg("--new-soft-card").arg(&dir).output().unwrap();
    assert!(!out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_without_a_card_answers_with_the_card_error() {
    let agent = Agent::start_with(&["--reader", "certflow test: no such reader"], &[]);
    let mut ws = agent.connect(Some(ALLOWED_ORIGIN)).await.unwrap();
    let reply = call(&mut ws, &Request::new(protocol::GET_CARD_ID, 1)).await;
    assert!(!reply.is_ok());
    assert_eq!(reply.args.error, vec!["未检测到读卡器，请连接读卡器".to_owned()]);
    let reply =
        call(&mut ws, &Request::new(protocol::SIGN_RANDOM, 2).arg("random", "r").arg("passwd", DEFAULT_PIN)).await;
    assert_eq!((reply.is_ok(), reply.id.clone()), (false, json!(2)));
}

#[test]
fn a_card_is_required() {
    let out = certflow().args(["agent"]).output().unwrap();
    assert!(!out.status.success());
}

/// The agent on a PIV card in a PC/SC reader: the card crate's emulator in
/// vsmartcard's vpcd reader. Skipped when pcscd with vpcd is not there.
mod reader {
    use std::fs::File;
    use std::path::Path;
    use std::time::{Duration, Instant};

    use certflow_card::emulator::{self, EmulatorHandle, EmulatorOptions, VPCD_READER};

    use super::*;

    fn has_reader() -> bool {
        certflow_card::readers().is_ok_and(|r| r.iter().any(|(n, _)| n == VPCD_READER))
    }

    fn card_present() -> bool {
        certflow_card::readers().is_ok_and(|r| r.iter().any(|(n, present)| n == VPCD_READER && *present))
    }

    fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The vpcd slot, shared with the card crate's tests through the same
    /// lock file.
    fn slot() -> Option<File> {
        if !Path::new("/run/pcscd/pcscd.comm").exists() || !has_reader() {
            eprintln!("skipped: pcscd with the vpcd reader {VPCD_READER:?} is not running");
            return None;
        }
        let lock = File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("certflow-vpcd-slot.lock")).unwrap();
        lock.lock().unwrap();
        wait_for(|| !card_present(), "the vpcd slot to be empty");
        Some(lock)
    }

    fn insert() -> EmulatorHandle {
        let start = Instant::now();
        let card = loop {
            match emulator::spawn(&EmulatorOptions::default()) {
                Ok(card) => break card,
                Err(e) if start.elapsed() < Duration::from_secs(10) => {
                    eprintln!("vpcd not ready ({e}), retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("cannot connect to vpcd: {e}"),
            }
        };
        wait_for(card_present, "the emulated card in the reader");
        card
    }

    /// Calls until the card answers (pcscd may still be powering it up).
    async fn call_until_ok(ws: &mut Socket, request: &Request) -> Reply {
        let start = Instant::now();
        loop {
            let reply = call(ws, request).await;
            if reply.is_ok() || start.elapsed() > Duration::from_secs(10) {
                return reply;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn agent_signs_with_a_piv_card() {
        let Some(_slot) = slot() else { return };
        let emulated = insert();
        let agent = Agent::start_with(&["--reader", VPCD_READER], &[]);
        let mut ws = agent.connect(Some(ALLOWED_ORIGIN)).await.unwrap();

        let reply = call_until_ok(&mut ws, &Request::new(protocol::GET_CARD_ID, 1)).await;
        assert_eq!(reply.first_data(), Some(hex::encode(emulated.guid()).as_str()), "{reply:?}");
        let reply = call(&mut ws, &Request::new(protocol::GET_SIGN_CERT_AS_PEM, 2)).await;
        let cert = Certificate::parse(reply.first_data().unwrap()).unwrap();
        assert_eq!(cert.der(), emulated.certificate_der());
        let reply = call(&mut ws, &Request::new(protocol::GET_CERT_NO, 3)).await;
        assert_eq!(reply.first_data(), Some(cert.cert_no().as_str()));

        let data = canonical_document();
        let text = String::from_utf8(data.clone()).unwrap();
        let request =
            Request::new(protocol::SIGN_DATA_AS_PEM, 4).arg("inData", text).arg("passwd", emulator::DEFAULT_PIN);
        let reply = call(&mut ws, &request).await;
        assert!(reply.is_ok(), "{reply:?}");
        certflow_sign::verify(&cert, &data, reply.first_data().unwrap().as_bytes()).unwrap();

        let reply = call(&mut ws, &Request::new(protocol::VERIFY_PIN, 5).arg("passwd", "000000")).await;
        assert!(!reply.is_ok());
        assert!(reply.args.error[0].starts_with("卡介质密码错误"), "{reply:?}");

        // Taken out: the card's error; another card put in: served without
        // restarting the agent.
        emulated.stop().unwrap();
        wait_for(|| !card_present(), "the card to leave the reader");
        let reply = call(&mut ws, &Request::new(protocol::GET_CARD_ID, 6)).await;
        assert!(!reply.is_ok(), "{reply:?}");
        let second = insert();
        let reply = call_until_ok(&mut ws, &Request::new(protocol::GET_CARD_ID, 7)).await;
        assert_eq!(reply.first_data(), Some(hex::encode(second.guid()).as_str()), "{reply:?}");

        drop(ws);
        drop(agent);
        second.stop().unwrap();
        wait_for(|| !card_present(), "the card to leave the reader");
    }
}
