//! A render worker: requests on stdin, PDFs on stdout (see
//! `certflow_render::isolated`). `certflow render-worker` is the same.

fn main() -> std::io::Result<()> {
    certflow_render::isolated::serve_worker(std::io::stdin().lock(), std::io::stdout().lock())
}
