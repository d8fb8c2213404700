//! What the layout tests share: reading a rendered page like a scanner.

use std::path::Path;

use typst_layout::Page;

/// Renders `page` at 4 px/pt, keeps the picture in target/screenshots
/// under `name`, and returns the texts of the QR codes found on it.
pub fn scan_qr_codes(page: &Page, name: &str) -> Vec<String> {
    let options = typst_render::RenderOptions { pixel_per_pt: 4.0.into(), ..Default::default() };
    let pixmap = typst_render::render(page, &options);
    let (w, h) = (pixmap.width() as usize, pixmap.height() as usize);
    let data = pixmap.data();
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        let i = (y * w + x) * 4;
        // Premultiplied RGBA over white.
        let alpha = u16::from(data[i + 3]);
        (u16::from(data[i]) + 255 - alpha).min(255) as u8
    });
    let found = image.detect_grids().iter().filter_map(|g| g.decode().ok()).map(|(_, text)| text).collect();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    if std::fs::create_dir_all(&shots).is_ok() {
        let _ = pixmap.save_png(shots.join(format!("{name}.png")));
    }
    found
}
