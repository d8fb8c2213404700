//! certflow-piv-emulator: a PIV card (ECDSA P-256 key in slot 9C) in
//! vsmartcard's virtual reader, for trying the card agent without a card.
//!
//! Usage: certflow-piv-emulator [--vpcd HOST:PORT] [--pin PIN]
//!        [--retries N] [--cn NAME] [--cert-out FILE]
//!
//! Connects to vpcd (127.0.0.1:35963, reader "Virtual PCD 00 00"), which
//! makes the card appear in that reader, and serves it until vpcd closes
//! the connection or the process is stopped.

use std::process::ExitCode;

use certflow_card::emulator::{self, EmulatorOptions, PivApplet};

const USAGE: &str =
    "usage: certflow-piv-emulator [--vpcd HOST:PORT] [--pin PIN] [--retries N] [--cn NAME] [--cert-out FILE]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("certflow-piv-emulator: {message}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut options = EmulatorOptions::default();
    let mut cert_out = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--vpcd" => options.vpcd = value()?.parse().map_err(|e| format!("--vpcd: {e}"))?,
            "--pin" => options.applet.pin = value()?,
            "--retries" => options.applet.pin_retries = value()?.parse().map_err(|e| format!("--retries: {e}"))?,
            "--cn" => options.applet.subject_cn = value()?,
            "--cert-out" => cert_out = Some(value()?),
            "-h" | "--help" => {
                #[allow(clippy::print_stdout)]
                {
                    println!("{USAGE}");
                }
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let applet = PivApplet::new(&options.applet).map_err(|e| e.to_string())?;
    if let Some(path) = cert_out {
        let pem = certflow_sign::Certificate::from_der(applet.certificate_der()).map_err(|e| e.to_string())?.to_pem();
        std::fs::write(&path, pem).map_err(|e| format!("{path}: {e}"))?;
    }
    let stream = std::net::TcpStream::connect(options.vpcd).map_err(|e| format!("vpcd at {}: {e}", options.vpcd))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let never = std::sync::atomic::AtomicBool::new(false);
    emulator::serve(stream, applet, &never).map_err(|e| e.to_string())
}
