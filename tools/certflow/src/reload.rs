//! `certflow reload`: asks a running `certflow serve` to reload its bundle
//! now, with the control token the server wrote at start, and prints what
//! happened — the new version, or every problem as `file:line:col`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    server: String,
    /// The control token file `certflow serve` wrote.
    #[arg(long, value_name = "FILE", default_value = "data/control-token")]
    control_token: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let token = std::fs::read_to_string(&args.control_token)
        .with_context(|| format!("reading {} (is certflow serve running here?)", args.control_token.display()))?;
    let address = args.server.trim_start_matches("http://").trim_end_matches('/').to_owned();
    let mut stream = TcpStream::connect(&address).with_context(|| format!("connecting to {address}"))?;
    // Renders every layout with its sample: give it time.
    stream.set_read_timeout(Some(Duration::from_secs(300)))?;
    write!(
        stream,
        "POST /api/v1/admin/reload HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        token.trim()
    )?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let Some((head, body)) = reply.split_once("\r\n\r\n") else { bail!("the server's answer is not HTTP: {reply:?}") };
    let status = head.split_whitespace().nth(1).unwrap_or_default();
    let body: Value = serde_json::from_str(body.trim())
        .or_else(|_| serde_json::from_str(dechunk(body).trim()))
        .with_context(|| format!("the server answered {status}: {body}"))?;
    match body["outcome"].as_str() {
        Some("activated") => println!("reloaded: version {} is active", body["version"].as_str().unwrap_or_default()),
        Some("unchanged") => {
            println!("unchanged: version {} stays active", body["version"].as_str().unwrap_or_default())
        }
        Some("refused") => {
            for d in body["diagnostics"].as_array().into_iter().flatten() {
                println!(
                    "{}:{}:{}: {}[{}]: {}",
                    d["file"].as_str().unwrap_or_default(),
                    d["line"],
                    d["column"],
                    d["severity"].as_str().unwrap_or("error"),
                    d["code"].as_str().unwrap_or_default(),
                    d["message"].as_str().unwrap_or_default()
                );
            }
            println!("refused: the last good version keeps serving");
            return Ok(ExitCode::from(1));
        }
        _ => bail!("the server answered {status}: {body}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The body of a chunked HTTP answer.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}
