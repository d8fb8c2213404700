//! docs/analyst-guide.md, followed literally: its `sh` blocks are run (with
//! `certflow` this build's binary) and its `yaml` blocks appended to the file
//! they name, in a copy of the bundle that a running `certflow serve`
//! watches; the new format must lint, pass its scenarios and be served.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{bundle_copy, repo_root};

/// The guide's fenced blocks in order: (language, content).
fn blocks(guide: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in guide.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) => current = Some((lang.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => out.push(current.take().unwrap()),
            (Some((_, body)), None) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(address: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn the_analyst_guide_works_when_followed_literally() {
    let bin = env!("CARGO_BIN_EXE_certflow");
    let dir = bundle_copy();
    // A running server on the copy (its database and control token under data/).
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--render-workers", "1"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("certflow serve starts");
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let mut address = String::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("certflow is serving on http://") {
            address = rest.trim().to_owned();
            break;
        }
    }
    assert!(!address.is_empty(), "the server says where it listens");

    let guide = std::fs::read_to_string(repo_root().join("docs/analyst-guide.md")).unwrap();
    let steps = blocks(&guide);
    assert!(steps.iter().filter(|(l, _)| l == "sh").count() >= 4, "the guide has its commands");
    for (lang, body) in steps {
        match lang.as_str() {
            "sh" => {
                let line = body.trim();
                let rest = line.strip_prefix("certflow ").expect("a certflow command");
                let mut command = format!("'{bin}' {rest}");
                if rest == "reload" {
                    // The guide's server is on the default address; this one is elsewhere.
                    command.push_str(&format!(" --server {address}"));
                }
                let out = Command::new("sh").arg("-c").arg(&command).current_dir(dir.path()).output().unwrap();
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                assert!(out.status.success(), "`{line}` failed:\n{text}{}", String::from_utf8_lossy(&out.stderr));
                if rest == "lint" {
                    assert!(text.contains(" ok: "), "{text}");
                }
                if rest == "test" {
                    assert!(text.contains("ok    forms/scenarios/export-c2-8.yaml"), "{text}");
                    assert!(text.contains("a production lot has at most 30 characters"), "{text}");
                    assert!(text.trim_end().ends_with(" passed, 0 failed"), "{text}");
                }
            }
            "yaml" => {
                let (first, content) = body.split_once('\n').unwrap();
                let target = first.strip_prefix("# append to ").expect("a yaml block names its file").trim();
                let mut file = std::fs::OpenOptions::new().append(true).open(dir.path().join(target)).unwrap();
                file.write_all(content.as_bytes()).unwrap();
            }
            other => panic!("an unexpected block `{other}` in the guide"),
        }
    }
    // Live: the running server serves the new format.
    let started = Instant::now();
    loop {
        let types = get(&address, "/api/v1/doctypes");
        if types.contains("\"export-c2-8\"") && types.contains("\"C2-8\"") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the server never served the new format:\n{types}");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
}
