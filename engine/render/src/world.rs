//! The one embedding boundary with Typst: a [`World`] over a bundle's
//! templates, the document's data as virtual files, the shared fonts and a
//! fixed "today".

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};

use crate::fonts::Fonts;
use crate::templates::TemplateSet;

/// Path of the document's data inside the project.
pub const DATA_PATH: &str = "/data.json";
/// Path of the verification QR code image.
pub const QR_PATH: &str = "/certflow/qr.svg";

/// A file id of the project root (certificate-templates/).
pub fn project_file(path: &str) -> Option<FileId> {
    let vpath = VirtualPath::new(path).ok()?;
    Some(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

/// The project path of a file id (`/lib/certificate.typ`), for diagnostics.
pub fn project_path(id: FileId) -> String {
    id.get().vpath().get_with_slash().to_owned()
}

/// One render's world.
pub(crate) struct RenderWorld<'a> {
    library: &'a LazyHash<Library>,
    fonts: &'a Fonts,
    templates: &'a TemplateSet,
    main: FileId,
    /// Virtual files of this render (data, QR).
    virtual_files: HashMap<FileId, Bytes>,
    today: Datetime,
    /// Sources parsed in this render that the set does not keep.
    scratch: Mutex<HashMap<FileId, Source>>,
}

impl<'a> RenderWorld<'a> {
    pub(crate) fn new(
        library: &'a LazyHash<Library>,
        fonts: &'a Fonts,
        templates: &'a TemplateSet,
        main: FileId,
        virtual_files: HashMap<FileId, Bytes>,
        today: Datetime,
    ) -> Self {
        Self { library, fonts, templates, main, virtual_files, today, scratch: Mutex::new(HashMap::new()) }
    }
}

impl World for RenderWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        self.fonts.book()
    }

    fn main(&self) -> FileId {
        self.main
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if let Some(source) = self.templates.source(id)? {
            return Ok(source);
        }
        let bytes = self.file(id)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| FileError::InvalidUtf8)?;
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        Ok(scratch.entry(id).or_insert_with(|| Source::new(id, text.to_owned())).clone())
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        if !matches!(id.get().root(), VirtualRoot::Project) {
            // Packages would be downloaded: templates are self-contained.
            return Err(FileError::AccessDenied);
        }
        if let Some(bytes) = self.virtual_files.get(&id) {
            return Ok(bytes.clone());
        }
        self.templates.file(id)
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.font(index)
    }

    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        Some(self.today)
    }
}

/// The library every render uses: the standard one, no inputs (the data
/// comes as a file, which keeps compiled templates cacheable).
pub(crate) fn library() -> Arc<LazyHash<Library>> {
    static LIBRARY: std::sync::OnceLock<Arc<LazyHash<Library>>> = std::sync::OnceLock::new();
    LIBRARY.get_or_init(|| Arc::new(LazyHash::new(Library::default()))).clone()
}
