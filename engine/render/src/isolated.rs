//! Renders in worker processes, under a time limit.
//!
//! Typst cannot be interrupted: a template with a runaway loop would keep a
//! thread busy until it ends. Here each render runs in a worker process
//! (fonts loaded once, templates cached per bundle version); when a render
//! passes the limit its worker is killed and replaced, the render fails
//! with [`RenderError::TimeLimit`], and everything else goes on. Workers
//! are also replaced after many renders, which keeps memory flat.
//!
//! Protocol on the worker's stdin/stdout: frames of a 4-byte big-endian
//! length and the bytes. A request is a JSON header `{hash, files, job}`
//! followed by one frame per file named in `files` (the templates of a
//! version the worker has not seen yet); the answer is a JSON header
//! `{ok: {pages, warnings}}` followed by the PDF, or `{err: …}`.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use certflow_core::Diagnostic;
use serde::{Deserialize, Serialize};

use crate::{RenderError, RenderJob, Rendered, Renderer, TemplateSet};

/// Largest frame accepted (a template set with images, or a long PDF).
const MAX_FRAME: usize = 256 << 20;
/// A worker is replaced after this many renders.
const RECYCLE_AFTER: usize = 2_000;
/// Template sets a worker keeps (the active version and a few old ones).
const KEEP_SETS: usize = 4;

/// How to start a worker: a program that runs [`serve_worker`].
#[derive(Debug, Clone)]
pub struct WorkerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl WorkerCommand {
    pub fn new(program: impl Into<PathBuf>, args: impl IntoIterator<Item = impl Into<OsString>>) -> Self {
        Self { program: program.into(), args: args.into_iter().map(Into::into).collect() }
    }
}

/// A pool of render workers with a time limit per render.
#[derive(Debug, Clone)]
pub struct RenderPool {
    inner: Arc<PoolInner>,
}

#[derive(Debug)]
struct PoolInner {
    command: WorkerCommand,
    limit: Duration,
    max_workers: usize,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Debug, Default)]
struct PoolState {
    idle: Vec<Worker>,
    running: usize,
}

#[derive(Debug)]
struct Worker {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    frames: Receiver<io::Result<Vec<u8>>>,
    loaded: HashSet<String>,
    renders: usize,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Serialize, Deserialize)]
struct Request {
    hash: String,
    files: Vec<String>,
    job: RenderJob,
    /// Lay out only, no PDF (checking a template).
    #[serde(default)]
    layout_only: bool,
}

#[derive(Serialize, Deserialize)]
enum Answer {
    #[serde(rename = "ok")]
    Ok { pages: usize, warnings: Vec<Diagnostic> },
    #[serde(rename = "err")]
    Err { template: Option<Vec<Diagnostic>>, message: String },
}

impl RenderPool {
    /// At most `max_workers` renders at once, each stopped after `limit`.
    pub fn new(command: WorkerCommand, max_workers: usize, limit: Duration) -> Self {
        Self {
            inner: Arc::new(PoolInner {
                command,
                limit,
                max_workers: max_workers.max(1),
                state: Mutex::new(PoolState::default()),
                freed: Condvar::new(),
            }),
        }
    }

    /// Renders that may run at once.
    pub fn max_workers(&self) -> usize {
        self.inner.max_workers
    }

    pub fn limit(&self) -> Duration {
        self.inner.limit
    }

    /// Renders `job` in a worker; blocks (use a blocking thread in async code).
    pub fn render(&self, set: &TemplateSet, job: &RenderJob) -> Result<Rendered, RenderError> {
        self.render_as(set, job, false)
    }

    /// Lays `job` out without making the PDF (the answer's `pdf` is empty):
    /// what checking a template needs.
    pub fn layout(&self, set: &TemplateSet, job: &RenderJob) -> Result<Rendered, RenderError> {
        self.render_as(set, job, true)
    }

    /// Starts the workers the pool may have and lays `jobs` out in each,
    /// so that fonts are loaded and the shared templates evaluated before
    /// the first real render needs them. Each worker is taken, used and
    /// given back on its own: a render already running is not waited for.
    pub fn warm_up(&self, set: &TemplateSet, jobs: &[RenderJob]) {
        std::thread::scope(|scope| {
            for _ in 0..self.inner.max_workers {
                scope.spawn(|| {
                    let Ok(mut worker) = self.acquire() else { return };
                    let healthy = jobs.iter().all(|job| match self.run(&mut worker, set, job, true) {
                        Ok(_) | Err(RenderError::Template(_)) => true,
                        Err(_) => false,
                    });
                    self.release(healthy.then_some(worker));
                });
            }
        });
    }

    fn render_as(&self, set: &TemplateSet, job: &RenderJob, layout_only: bool) -> Result<Rendered, RenderError> {
        let mut worker = self.acquire()?;
        let outcome = self.run(&mut worker, set, job, layout_only);
        let keep = match &outcome {
            Ok(_) | Err(RenderError::Template(_)) => worker.renders < RECYCLE_AFTER,
            Err(_) => false,
        };
        self.release(keep.then_some(worker));
        outcome
    }

    fn acquire(&self) -> Result<Worker, RenderError> {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(worker) = state.idle.pop() {
                state.running += 1;
                return Ok(worker);
            }
            if state.running < self.inner.max_workers {
                state.running += 1;
                drop(state);
                return self.spawn().inspect_err(|_| self.release(None));
            }
            state = self.inner.freed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn release(&self, worker: Option<Worker>) {
        let mut state = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        state.running -= 1;
        if let Some(worker) = worker {
            state.idle.push(worker);
        }
        self.inner.freed.notify_one();
    }

    fn spawn(&self) -> Result<Worker, RenderError> {
        let command = &self.inner.command;
        let mut child = Command::new(&command.program)
            .args(&command.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| RenderError::Worker(format!("cannot start {}: {e}", command.program.display())))?;
        let stdin = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let (tx, frames) = mpsc::channel();
        std::thread::spawn(move || {
            loop {
                let frame = read_frame(&mut stdout);
                let end = frame.is_err();
                if tx.send(frame).is_err() || end {
                    break;
                }
            }
        });
        Ok(Worker { child, stdin, frames, loaded: HashSet::new(), renders: 0 })
    }

    fn run(
        &self,
        worker: &mut Worker,
        set: &TemplateSet,
        job: &RenderJob,
        layout_only: bool,
    ) -> Result<Rendered, RenderError> {
        let files: Vec<(String, Vec<u8>)> =
            if worker.loaded.contains(&set.hash) { Vec::new() } else { set.raw_files().collect() };
        let request = Request {
            hash: set.hash.clone(),
            files: files.iter().map(|(p, _)| p.clone()).collect(),
            job: job.clone(),
            layout_only,
        };
        let broken = |e: io::Error| RenderError::Worker(format!("sending to the worker: {e}"));
        write_frame(&mut worker.stdin, &serde_json::to_vec(&request).map_err(|e| RenderError::Worker(e.to_string()))?)
            .map_err(broken)?;
        for (_, bytes) in &files {
            write_frame(&mut worker.stdin, bytes).map_err(broken)?;
        }
        worker.stdin.flush().map_err(broken)?;
        worker.loaded.insert(set.hash.clone());
        worker.renders += 1;
        let deadline = std::time::Instant::now() + self.inner.limit;
        let next = || -> Result<Vec<u8>, RenderError> {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match worker.frames.recv_timeout(left) {
                Ok(Ok(frame)) => Ok(frame),
                Ok(Err(e)) => Err(RenderError::Worker(format!("the worker ended: {e}"))),
                Err(RecvTimeoutError::Timeout) => Err(RenderError::TimeLimit(self.inner.limit)),
                Err(RecvTimeoutError::Disconnected) => Err(RenderError::Worker("the worker ended".into())),
            }
        };
        let header = next()?;
        match serde_json::from_slice::<Answer>(&header).map_err(|e| RenderError::Worker(e.to_string()))? {
            Answer::Ok { pages, warnings } => Ok(Rendered { pdf: next()?, pages, warnings }),
            Answer::Err { template: Some(diagnostics), .. } => Err(RenderError::Template(diagnostics)),
            Answer::Err { template: None, message } => Err(RenderError::Worker(message)),
        }
    }
}

/// The worker's loop: requests on `input`, answers on `output`, until
/// `input` ends.
pub fn serve_worker(input: impl Read, output: impl Write) -> io::Result<()> {
    let renderer = Renderer::default();
    let mut input = BufReader::new(input);
    let mut output = BufWriter::new(output);
    let mut sets: Vec<Arc<TemplateSet>> = Vec::new();
    let mut pending: HashMap<String, Vec<(String, Vec<u8>)>> = HashMap::new();
    loop {
        let header = match read_frame(&mut input) {
            Ok(frame) => frame,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let request: Request =
            serde_json::from_slice(&header).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if !request.files.is_empty() {
            let mut files = Vec::with_capacity(request.files.len());
            for path in &request.files {
                files.push((path.clone(), read_frame(&mut input)?));
            }
            pending.insert(request.hash.clone(), files);
        }
        if let Some(files) = pending.remove(&request.hash) {
            sets.retain(|s| s.hash != request.hash);
            sets.push(Arc::new(TemplateSet::from_files(request.hash.clone(), files)));
            if sets.len() > KEEP_SETS {
                sets.remove(0);
            }
        }
        let answer = match sets.iter().find(|s| s.hash == request.hash) {
            None => Err(RenderError::Worker(format!("templates of version {} were not sent", request.hash))),
            Some(set) if request.layout_only => renderer.layout(set, &request.job).map(|laid_out| Rendered {
                pdf: Vec::new(),
                pages: laid_out.document.pages().len(),
                warnings: laid_out.warnings,
            }),
            Some(set) => renderer.render(set, &request.job),
        };
        match answer {
            Ok(rendered) => {
                let header = Answer::Ok { pages: rendered.pages, warnings: rendered.warnings };
                write_frame(&mut output, &serde_json::to_vec(&header)?)?;
                write_frame(&mut output, &rendered.pdf)?;
            }
            Err(e) => {
                let template = match &e {
                    RenderError::Template(d) => Some(d.clone()),
                    _ => None,
                };
                write_frame(&mut output, &serde_json::to_vec(&Answer::Err { template, message: e.to_string() })?)?;
            }
        }
        output.flush()?;
    }
}

fn write_frame(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)
}

fn read_frame(input: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a frame of {len} bytes")));
    }
    let mut bytes = vec![0u8; len];
    input.read_exact(&mut bytes)?;
    Ok(bytes)
}
