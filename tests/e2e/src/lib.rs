//! Harness of certflow's browser tests.
//!
//! Every [`Session`] is a whole world of its own: a `certflow serve --demo`
//! on its own port and SQLite database (run from the workspace root, which
//! is the bundle), a chromedriver, and a headless Chromium with a fresh
//! profile driven through WebDriver. Tests therefore run in parallel, and
//! everything is stopped when the session is dropped, also when a test
//! fails.
//!
//! The helpers wait for what a user would see (an element, a text, a new
//! page) with a deadline instead of sleeping. Screenshots go to
//! `<target dir>/screenshots/`.
//!
//! Without Chromium and chromedriver the tests are skipped with a note on
//! stderr, unless `CI` is set, where that is a failure.

#![allow(clippy::print_stderr)] // stderr is how a test harness talks

use std::fmt;
use std::fs::File;
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub use fantoccini::key::Key;

/// How long a user is willing to wait for the page to answer.
pub const WAIT: Duration = Duration::from_secs(10);

/// The Debian packages' paths; `CERTFLOW_E2E_CHROMIUM` / `CERTFLOW_E2E_CHROMEDRIVER`
/// point elsewhere.
fn chromium() -> PathBuf {
    std::env::var_os("CERTFLOW_E2E_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into())
}

fn chromedriver() -> PathBuf {
    std::env::var_os("CERTFLOW_E2E_CHROMEDRIVER").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromedriver".into())
}

/// The workspace root: the bundle the server serves.
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The cargo target directory this test binary was built into
/// (`<target>/<profile>/deps/<test>`), with the profile's directory name.
fn target_and_profile() -> (PathBuf, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().filter(|d| d.file_name().is_some_and(|n| n == "deps"));
    if let Some(profile_dir) = deps.and_then(Path::parent)
        && let Some(target) = profile_dir.parent()
    {
        let profile =
            profile_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "debug".into());
        return (target.to_path_buf(), profile);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"));
    (target, "debug".into())
}

/// Where screenshots go: `<target dir>/screenshots`.
pub fn screenshot_dir() -> PathBuf {
    target_and_profile().0.join("screenshots")
}

/// The newest modification time of the server's sources: a binary older
/// than this is rebuilt so that the tests see the pages as they are now.
fn newest_source(root: &Path) -> Option<SystemTime> {
    fn walk(dir: &Path, newest: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, newest);
            } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified())
                && newest.is_none_or(|n| modified > n)
            {
                *newest = Some(modified);
            }
        }
    }
    let mut newest = None;
    let mut dirs = vec![root.join("tools/certflow/src")];
    if let Ok(crates) = std::fs::read_dir(root.join("engine")) {
        for krate in crates.flatten() {
            dirs.extend(["src", "templates", "static"].map(|d| krate.path().join(d)));
        }
    }
    for dir in dirs {
        walk(&dir, &mut newest);
    }
    newest
}

/// Copies the workspace's bundle (forms/, rules/, certificate-templates/)
/// into `to`, for a server whose bundle a test changes.
pub fn copy_bundle(to: &Path) {
    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("a bundle folder");
        for entry in std::fs::read_dir(from).expect("a bundle folder") {
            let entry = entry.expect("an entry");
            let target = to.join(entry.file_name());
            if entry.path().is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).expect("a copy");
            }
        }
    }
    for sub in ["forms", "rules", "certificate-templates"] {
        copy_tree(&workspace_root().join(sub), &to.join(sub));
    }
}

/// The `certflow` binary, built (once per test process; cargo's own lock
/// serialises test processes) when it is missing or older than the sources.
/// `CERTFLOW_E2E_BIN` names a binary to use as it is.
pub fn certflow_binary() -> PathBuf {
    static BUILT: Mutex<Option<PathBuf>> = Mutex::new(None);
    if let Some(bin) = std::env::var_os("CERTFLOW_E2E_BIN") {
        return PathBuf::from(bin);
    }
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(bin) = built.as_ref() {
        return bin.clone();
    }
    let root = workspace_root();
    let (target, profile) = target_and_profile();
    let bin = target.join(&profile).join("certflow");
    let modified = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
    let stale = match (modified, newest_source(&root)) {
        (None, _) => true,
        (Some(bin_time), Some(source_time)) => source_time > bin_time,
        (Some(_), None) => false,
    };
    if stale {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root).args(["build", "-p", "certflow", "--target-dir"]).arg(&target);
        if profile != "debug" {
            cmd.args(["--profile", &profile]);
        }
        eprintln!("e2e: building {} (missing or older than the sources)", bin.display());
        let status = cmd.status().expect("cargo runs");
        assert!(status.success() || bin.exists(), "cargo build -p certflow failed");
        if !status.success() {
            eprintln!("e2e: the build failed; testing the existing, older {}", bin.display());
        }
    }
    *built = Some(bin.clone());
    bin
}

/// Whether the browser is here; when it is not, `Err` says what is missing.
fn browser_present() -> Result<(), String> {
    let missing: Vec<String> =
        [chromium(), chromedriver()].into_iter().filter(|p| !p.exists()).map(|p| p.display().to_string()).collect();
    if missing.is_empty() { Ok(()) } else { Err(format!("missing {}", missing.join(" and "))) }
}

/// Reads a child's stdout line by line on a thread, forever (so the pipe
/// never fills), and hands over the lines until the receiver is dropped.
fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    rx
}

/// Waits for the first line for which `pick` finds something.
fn wait_line<T>(lines: &mpsc::Receiver<String>, what: &str, timeout: Duration, pick: impl Fn(&str) -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(found) = pick(&line) {
                    return found;
                }
                seen.push(line);
            }
            Err(e) => panic!("{what}: no such line within {timeout:?} ({e}); it printed:\n{}", seen.join("\n")),
        }
    }
}

/// A minimal HTTP/1.1 request on loopback, for readiness checks and for
/// ending the WebDriver session from `Drop`: the status and the body.
/// (chromedriver keeps the connection open whatever the request says, so
/// the body is read by its length.)
fn http(addr: SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    (&stream)
        .write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .ok()?;
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).ok()?;
    let status = status_line.split_whitespace().nth(1)?.parse().ok()?;
    let mut length: Option<usize> = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.trim().eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok();
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).ok()?;
        }
        None => {
            reader.read_to_end(&mut body).ok()?;
        }
    }
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

fn wait_http(addr: SocketAddr, path: &str, what: &str, ready: impl Fn(u16, &str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some((status, body)) = http(addr, "GET", path)
            && ready(status, &body)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not answer on http://{addr}{path} within 30 s");
}

/// A local address nobody listens on (the port is released again).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

/// A child process that is killed when dropped; with `group`, its whole
/// process group (it was started as the group's leader).
#[derive(Debug)]
struct Proc {
    child: Child,
    group: bool,
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One test's server, browser and WebDriver session.
pub struct Session {
    /// The WebDriver client, for what the helpers do not cover.
    pub client: Client,
    /// `http://127.0.0.1:<port>` of this session's server.
    pub base: String,
    session_id: Option<String>,
    driver_addr: SocketAddr,
    // Held to be dropped, in this order: the driver with its browser, the
    // server, the files.
    _driver: Proc,
    _server: Proc,
    /// The card agent, when one is "plugged in" ([`Session::start_agent`]).
    agent: Option<Proc>,
    /// Where the pages look for the local signer (free until an agent runs).
    signer_addr: SocketAddr,
    dir: tempfile::TempDir,
    shots: Vec<PathBuf>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session").field("base", &self.base).field("dir", &self.dir.path()).finish_non_exhaustive()
    }
}

impl Session {
    /// Starts the server (fresh demo database), chromedriver and Chromium.
    /// `None` when the browser is not installed and `CI` is not set: the
    /// caller returns, and the test is skipped with a note on stderr.
    pub async fn start() -> Option<Session> {
        Self::start_on(None).await
    }

    /// As [`Session::start`], the server serving (and watching) the bundle
    /// at `bundle` instead of the workspace's own.
    pub async fn start_on(bundle: Option<&Path>) -> Option<Session> {
        if let Err(missing) = browser_present() {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "browser tests need Chromium and chromedriver (apt-get install chromium chromium-driver): {missing}"
                );
            }
            eprintln!("e2e: skipped, {missing} (apt-get install chromium chromium-driver fonts-noto-cjk)");
            return None;
        }
        let bin = certflow_binary();
        let dir = tempfile::Builder::new().prefix("certflow-e2e-").tempdir().expect("a temporary directory");

        // The server: `--listen 127.0.0.1:0` and the address it prints; the
        // demo's soft cards in the session's directory, and a port of its
        // own for the local signer, where no agent listens until a test
        // starts one.
        let signer_addr = free_port();
        let server_log = File::create(dir.path().join("server.log")).expect("server log");
        let root = workspace_root();
        let mut server = Proc {
            child: Command::new(&bin)
                .current_dir(&root)
                .arg("serve")
                .arg("--bundle")
                .arg(bundle.unwrap_or(&root))
                .args(["--demo", "--listen", "127.0.0.1:0", "--customs-delay-ms", "300", "--database"])
                .arg(format!("sqlite:{}", dir.path().join("db.sqlite").display()))
                .arg("--demo-cards")
                .arg(dir.path().join("cards"))
                .arg("--signer-url")
                .arg(format!("ws://{signer_addr}"))
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(server_log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display())),
            group: false,
        };
        let server_lines = lines_of(server.child.stdout.take().expect("server stdout"));
        let server_addr: SocketAddr = wait_line(&server_lines, "certflow serve", Duration::from_secs(60), |line| {
            line.split_once("serving on http://").and_then(|(_, addr)| addr.trim().parse().ok())
        });
        wait_http(server_addr, "/healthz", "certflow", |status, _| status == 200);

        // chromedriver on a port of its choosing (`--port=0` prints it), in a
        // process group of its own so that Drop can end it with its browser.
        let mut driver = Proc {
            child: Command::new(chromedriver())
                .arg("--port=0")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn()
                .expect("cannot start chromedriver"),
            group: true,
        };
        let driver_lines = lines_of(driver.child.stdout.take().expect("chromedriver stdout"));
        let port: u16 = wait_line(&driver_lines, "chromedriver", Duration::from_secs(30), |line| {
            line.split_once("started successfully on port ")
                .and_then(|(_, p)| p.trim().trim_end_matches('.').parse().ok())
        });
        let driver_addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_http(driver_addr, "/status", "chromedriver", |status, body| {
            status == 200 && body.contains("\"ready\":true")
        });

        let profile = dir.path().join("chromium-profile");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--no-first-run",
                    "--disable-sync", format!("--user-data-dir={}", profile.display()),
                    "--window-size=1400,1000", "--lang=zh-CN", "--disable-breakpad", "--disable-crash-reporter",
                ],
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut session = None;
        let mut last_error = String::new();
        for _ in 0..3 {
            match ClientBuilder::new(connector.clone())
                .capabilities(caps.clone())
                .connect(&format!("http://{driver_addr}"))
                .await
            {
                Ok(client) => {
                    session = Some(client);
                    break;
                }
                Err(e) => {
                    last_error = e.to_string();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        let Some(client) = session else { panic!("no WebDriver session: {last_error}") };
        let session_id = client.session_id().await.ok().flatten();
        Some(Session {
            client,
            base: format!("http://{server_addr}"),
            session_id,
            driver_addr,
            _driver: driver,
            _server: server,
            agent: None,
            signer_addr,
            dir,
            shots: Vec::new(),
        })
    }

    /// Ends the browser session cleanly; dropping does the rest.
    pub async fn finish(mut self) {
        if self.client.clone().close().await.is_ok() {
            self.session_id = None;
        }
        if !self.shots.is_empty() {
            let names: Vec<String> = self.shots.iter().map(|p| p.display().to_string()).collect();
            eprintln!("e2e screenshots:\n  {}", names.join("\n  "));
        }
    }

    /// Starts `certflow agent` with a demo account's soft card on the port
    /// the pages use, as a user starts the E-Port client with the card in
    /// the reader. Replaces a running agent.
    pub fn start_agent(&mut self, card_no: &str) {
        self.stop_agent();
        let card = self.dir.path().join("cards").join(card_no);
        let mut agent = Proc {
            child: Command::new(certflow_binary())
                .args(["agent", "--soft-card"])
                .arg(&card)
                .args(["--listen", &self.signer_addr.to_string(), "--allow-origin", &self.base])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start certflow agent"),
            group: false,
        };
        let lines = lines_of(agent.child.stdout.take().expect("agent stdout"));
        wait_line(&lines, "certflow agent", Duration::from_secs(30), |line| {
            line.contains("listening on").then_some(())
        });
        self.agent = Some(agent);
    }

    /// Ends the agent, as when the card is pulled and the client exits.
    pub fn stop_agent(&mut self) {
        self.agent = None;
    }

    /// A scratch directory of this session (deleted with it).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens a page of the server and waits for it to load.
    pub async fn goto(&self, path: &str) {
        self.client.goto(&self.url(path)).await.unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Runs a script in the page (`arguments[i]` are `args`).
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls `script` until it returns something other than `null`,
    /// `false` or `""`, and returns that; panics with `what` after `timeout`.
    pub async fn wait_js_for(&self, what: &str, timeout: Duration, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + timeout;
        let mut last;
        loop {
            match self.client.execute(script, args.clone()).await {
                Ok(Value::Null | Value::Bool(false)) => last = "null/false".into(),
                Ok(Value::String(s)) if s.is_empty() => last = "\"\"".into(),
                Ok(v) => return v,
                // A page being replaced answers with errors for a moment.
                Err(e) => last = e.to_string(),
            }
            if Instant::now() >= deadline {
                let path = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                panic!("timed out after {timeout:?} waiting for {what} (on {path}; last: {last})");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_js(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        self.wait_js_for(what, WAIT, script, args).await
    }

    /// Does `action` (a click that submits, a link) and waits until the
    /// browser shows the next page, fully loaded.
    pub async fn navigating<F: Future>(&self, action: F) -> F::Output {
        self.js("window.__e2eOldPage = true;", vec![]).await;
        let out = action.await;
        self.wait_js(
            "the next page",
            "return document.readyState === 'complete' && window.__e2eOldPage === undefined ? location.href : null;",
            vec![],
        )
        .await;
        out
    }

    /// The text of the message box (`alert`) the page shows, once it shows one.
    pub async fn alert_text(&self) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.client.get_alert_text().await {
                Ok(text) => return text,
                Err(e) if Instant::now() >= deadline => panic!("no message box within {WAIT:?}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// The element, once it is in the page.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} within {WAIT:?}: {e}"))
    }

    /// The element, scrolled to the middle of the window as a user would
    /// before using it (WebDriver alone scrolls it to the bottom edge,
    /// under the page's fixed hint bar).
    pub async fn find_in_view(&self, css: &str) -> Element {
        let el = self.find(css).await;
        self.client
            .execute("arguments[0].scrollIntoView({block: 'center', inline: 'nearest'});", vec![json!(el)])
            .await
            .unwrap_or_else(|e| panic!("scrolling to {css}: {e}"));
        el
    }

    /// Clicks like a user (WebDriver moves the pointer there and clicks).
    pub async fn click(&self, css: &str) {
        self.find_in_view(css).await.click().await.unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// Clears a field and types into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.find_in_view(css).await;
        el.clear().await.unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        el.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Types into the focused element (keys such as [`Key::Enter`] too).
    pub async fn type_keys(&self, keys: &str) {
        let el = self.client.active_element().await.expect("a focused element");
        el.send_keys(keys).await.unwrap_or_else(|e| panic!("typing {keys:?}: {e}"));
    }

    /// The text of an element (white space collapsed), if it is there.
    pub async fn text(&self, css: &str) -> Option<String> {
        match self
            .js(
                "const e = document.querySelector(arguments[0]); return e ? e.textContent.replace(/\\s+/g, ' ').trim() : null;",
                vec![json!(css)],
            )
            .await
        {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Waits until the element's text contains `needle`, and returns the text.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            // While a page is being replaced, scripts fail for a moment.
            let text = match self
                .client
                .execute(
                    "const e = document.querySelector(arguments[0]); return e ? e.textContent.replace(/\\s+/g, ' ').trim() : null;",
                    vec![json!(css)],
                )
                .await
            {
                Ok(Value::String(text)) if text.contains(needle) => return text,
                Ok(Value::String(text)) => Some(text),
                _ => None,
            };
            if Instant::now() >= deadline {
                let path = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
                match text {
                    Some(text) => panic!("{css} does not say {needle:?} within {WAIT:?} (on {path}); it says {text:?}"),
                    None => panic!("no {css} saying {needle:?} within {WAIT:?} (on {path})"),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The current value of a form field.
    pub async fn value(&self, css: &str) -> String {
        self.find(css).await.prop("value").await.unwrap_or_else(|e| panic!("value of {css}: {e}")).unwrap_or_default()
    }

    /// A computed style property of an element, as the browser paints it.
    pub async fn style(&self, css: &str, property: &str) -> String {
        self.wait_js(
            &format!("{css} to be in the page"),
            "const e = document.querySelector(arguments[0]); return e ? getComputedStyle(e).getPropertyValue(arguments[1]) : null;",
            vec![json!(css), json!(property)],
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Whether the element is in the page and shown.
    pub async fn is_shown(&self, css: &str) -> bool {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.is_displayed().await.unwrap_or(false),
            Err(e) if e.is_no_such_element() => false,
            Err(e) => panic!("looking for {css}: {e}"),
        }
    }

    /// Saves a screenshot of the viewport as `<target>/screenshots/<name>.png`.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("writing the screenshot");
        self.shots.push(path.clone());
        path
    }

    /// Logs in on the login page with a card number and PIN.
    pub async fn login(&self, card_no: &str, pin: &str) {
        if !self.path().await.starts_with("/login") {
            self.goto("/login").await;
        }
        self.fill("#card_no", card_no).await;
        self.fill("#pin", pin).await;
        self.navigating(self.click("#login-button")).await;
    }

    /// 安全退出, back on the login page.
    pub async fn logout(&self) {
        self.navigating(self.click("#logout")).await;
        let path = self.path().await;
        assert_eq!(path, "/login", "安全退出 leads to the login page");
    }

    /// The id (`data-id`) of the first list row whose cells (by column id)
    /// have exactly these texts, if one is shown.
    pub async fn row_with(&self, cells: &[(&str, &str)]) -> Option<String> {
        let wanted: serde_json::Map<String, Value> = cells.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        let found = self
            .js(
                "const want = arguments[0];
                 for (const tr of document.querySelectorAll('#results tbody tr[data-id]')) {
                   const ok = Object.entries(want).every(([col, text]) => {
                     const td = tr.querySelector(`td[data-column=\"${col}\"]`);
                     return td && td.textContent.replace(/\\s+/g, ' ').trim() === text;
                   });
                   if (ok) return tr.dataset.id;
                 }
                 return null;",
                vec![Value::Object(wanted)],
            )
            .await;
        found.as_str().map(str::to_owned)
    }

    /// The text of one cell of a list row.
    pub async fn cell(&self, row_id: &str, column: &str) -> Option<String> {
        self.text(&format!("#results tr[data-id=\"{row_id}\"] td[data-column=\"{column}\"]")).await
    }

    /// Sets the list's query form (`select`s by option value, text inputs
    /// typed) and presses 查询.
    pub async fn query(&self, criteria: &[(&str, &str)]) {
        for (id, value) in criteria {
            let css = format!("#q-{id}");
            let el = self.find(&css).await;
            if el.tag_name().await.expect("tag name").eq_ignore_ascii_case("select") {
                el.select_by_value(value).await.unwrap_or_else(|e| panic!("choosing {value} in {css}: {e}"));
            } else {
                self.fill(&css, value).await;
            }
        }
        self.navigating(self.click("#query")).await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            eprintln!("e2e: the server's log (last lines):\n{}", tail.join("\n"));
        }
        // End the browser through its driver; the fields' own drops then
        // end the driver's process group (with any browser process left)
        // and the server.
        if let Some(id) = self.session_id.take() {
            let _ = http(self.driver_addr, "DELETE", &format!("/session/{id}"));
        }
    }
}

/// Starts a [`Session`], or returns from the test when the browser is
/// missing outside CI.
#[macro_export]
macro_rules! session {
    () => {
        match $crate::Session::start().await {
            Some(session) => session,
            None => return,
        }
    };
}

/// A small valid one-page PDF (A4, one line of text).
pub fn small_pdf() -> Vec<u8> {
    use lopdf::{Dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(Dictionary::from_iter([
        ("Type", Object::Name(b"Font".to_vec())),
        ("Subtype", Object::Name(b"Type1".to_vec())),
        ("BaseFont", Object::Name(b"Helvetica".to_vec())),
    ]));
    let content = b"BT /F1 18 Tf 72 770 Td (certflow e2e: certificate of origin) Tj ET".to_vec();
    let content_id = doc.add_object(Stream::new(Dictionary::new(), content));
    let resources = Dictionary::from_iter([(
        "Font",
        Object::Dictionary(Dictionary::from_iter([("F1", Object::Reference(font_id))])),
    )]);
    let page_id = doc.add_object(Dictionary::from_iter([
        ("Type", Object::Name(b"Page".to_vec())),
        ("Parent", Object::Reference(pages_id)),
        ("MediaBox", Object::Array(vec![0.into(), 0.into(), 595.into(), 842.into()])),
        ("Contents", Object::Reference(content_id)),
        ("Resources", Object::Dictionary(resources)),
    ]));
    doc.objects.insert(
        pages_id,
        Object::Dictionary(Dictionary::from_iter([
            ("Type", Object::Name(b"Pages".to_vec())),
            ("Kids", Object::Array(vec![Object::Reference(page_id)])),
            ("Count", Object::Integer(1)),
        ])),
    );
    let catalog_id = doc.add_object(Dictionary::from_iter([
        ("Type", Object::Name(b"Catalog".to_vec())),
        ("Pages", Object::Reference(pages_id)),
    ]));
    doc.trailer.set("Root", catalog_id);
    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).expect("writing the PDF");
    bytes
}

/// Today in China Standard Time (the server's notice dates), as a day count
/// from 1970-01-01, and a day count as `YYYY-MM-DD`.
pub fn today_cst() -> i64 {
    let secs = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("clock").as_secs() as i64;
    (secs + 8 * 3600).div_euclid(86400)
}

pub fn ymd(days: i64) -> String {
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_written_as_dates() {
        assert_eq!(ymd(0), "1970-01-01");
        assert_eq!(ymd(19_783), "2024-03-01");
        assert_eq!(ymd(19_782), "2024-02-29");
    }

    #[test]
    fn the_pdf_is_one_page() {
        let bytes = small_pdf();
        let doc = lopdf::Document::load_mem(&bytes).expect("reads back");
        assert_eq!(doc.get_pages().len(), 1);
    }
}
