//! Fonts: Typst's own Latin fonts (embedded) and the machine's fonts (the
//! CJK ones come from Debian `fonts-noto-cjk`), indexed once per process.
//! Files are read for their metadata at start and loaded again only when a
//! layout uses them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use typst::foundations::Bytes;
use typst::text::{Font, FontBook, FontInfo};
use typst::utils::LazyHash;

/// Where fonts are searched besides the embedded ones, in this order.
const SYSTEM_FONT_DIRS: &[&str] = &["/usr/share/fonts", "/usr/local/share/fonts"];
/// The Chinese families the shipped layouts use (Debian `fonts-noto-cjk`).
pub const CJK_FAMILIES: [&str; 2] = ["Noto Serif CJK SC", "Noto Sans CJK SC"];
/// Extra font directories, `:`-separated.
pub const FONT_PATH_ENV: &str = "CERTFLOW_FONT_PATHS";

/// The fonts every render shares.
#[derive(Debug)]
pub struct Fonts {
    book: LazyHash<FontBook>,
    slots: Vec<FontSlot>,
}

#[derive(Debug)]
struct FontSlot {
    source: FontSource,
    index: u32,
    font: OnceLock<Option<Font>>,
}

#[derive(Debug)]
enum FontSource {
    Embedded(&'static [u8]),
    File(PathBuf),
}

impl Fonts {
    /// The process-wide set: embedded fonts, then the system's and
    /// `CERTFLOW_FONT_PATHS`. Built on first use (about 60–80 ms).
    pub fn shared() -> Arc<Fonts> {
        static SHARED: OnceLock<Arc<Fonts>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let mut dirs: Vec<PathBuf> = SYSTEM_FONT_DIRS.iter().map(PathBuf::from).collect();
                if let Some(home) = std::env::var_os("HOME") {
                    dirs.push(Path::new(&home).join(".local/share/fonts"));
                }
                if let Some(extra) = std::env::var_os(FONT_PATH_ENV) {
                    dirs.extend(std::env::split_paths(&extra));
                }
                Arc::new(Fonts::search(&dirs))
            })
            .clone()
    }

    /// The embedded fonts and those under `dirs` (recursively).
    pub fn search(dirs: &[PathBuf]) -> Fonts {
        let mut book = FontBook::new();
        let mut slots = Vec::new();
        for data in typst_assets::fonts() {
            for (index, info) in FontInfo::iter(data).enumerate() {
                book.push(info);
                slots.push(FontSlot { source: FontSource::Embedded(data), index: index as u32, font: OnceLock::new() });
            }
        }
        let mut files = Vec::new();
        for dir in dirs {
            collect_font_files(dir, &mut files);
        }
        files.sort();
        for path in files {
            let Ok(data) = std::fs::read(&path) else { continue };
            let count = ttf_collection_len(&data);
            for index in 0..count {
                if let Some(info) = FontInfo::new(&data, index) {
                    book.push(info);
                    slots.push(FontSlot { source: FontSource::File(path.clone()), index, font: OnceLock::new() });
                }
            }
        }
        Fonts { book: LazyHash::new(book), slots }
    }

    pub fn book(&self) -> &LazyHash<FontBook> {
        &self.book
    }

    /// The font at `index` of the book, loaded on first use.
    pub fn font(&self, index: usize) -> Option<Font> {
        let slot = self.slots.get(index)?;
        slot.font
            .get_or_init(|| {
                let bytes = match &slot.source {
                    FontSource::Embedded(data) => Bytes::new(*data),
                    FontSource::File(path) => Bytes::new(std::fs::read(path).ok()?),
                };
                Font::new(bytes, slot.index)
            })
            .clone()
    }

    /// Whether a family of this name is known (case-insensitive).
    pub fn has_family(&self, family: &str) -> bool {
        self.book.families().any(|(name, _)| name.eq_ignore_ascii_case(family))
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// How many faces a font file holds (1 unless it is a collection).
fn ttf_collection_len(data: &[u8]) -> u32 {
    if data.starts_with(b"ttcf") && data.len() >= 12 {
        u32::from_be_bytes([data[8], data[9], data[10], data[11]])
    } else {
        1
    }
}

fn collect_font_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_font_files(&path, out);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "ttf" | "otf" | "ttc" | "otc"))
        {
            out.push(path);
        }
    }
}
