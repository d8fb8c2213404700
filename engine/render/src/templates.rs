//! The templates of one bundle version, kept with their parsed sources so
//! that consecutive renders reuse them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use certflow_core::CompiledBundle;
use certflow_core::compile::TEMPLATES_DIR;
use typst::diag::{FileError, FileResult};
use typst::foundations::Bytes;
use typst::syntax::{FileId, Source};

use crate::world::{project_file, project_path};

/// The files under certificate-templates/ of one bundle version.
#[derive(Debug)]
pub struct TemplateSet {
    /// The bundle's content hash (the set is immutable, like the bundle).
    pub hash: String,
    files: HashMap<FileId, Bytes>,
    /// The same files by path, as they were given (for render workers).
    raw: Vec<(String, Bytes)>,
    sources: Mutex<HashMap<FileId, Source>>,
}

impl TemplateSet {
    /// The templates of a compiled bundle.
    pub fn from_bundle(bundle: &CompiledBundle) -> Arc<TemplateSet> {
        let prefix = format!("{TEMPLATES_DIR}/");
        let files = bundle.sources.iter().filter_map(|f| {
            let path = f.path.strip_prefix(&prefix)?;
            Some((path.to_owned(), f.bytes.to_vec()))
        });
        Arc::new(Self::from_files(bundle.hash.clone(), files))
    }

    /// A set from (path inside certificate-templates/, bytes) pairs.
    pub fn from_files(hash: String, files: impl IntoIterator<Item = (String, Vec<u8>)>) -> TemplateSet {
        let raw: Vec<(String, Bytes)> = files.into_iter().map(|(path, bytes)| (path, Bytes::new(bytes))).collect();
        let files = raw
            .iter()
            .filter_map(|(path, bytes)| {
                Some((project_file(&format!("/{}", path.trim_start_matches('/')))?, bytes.clone()))
            })
            .collect();
        TemplateSet { hash, files, raw, sources: Mutex::new(HashMap::new()) }
    }

    /// The files as (path inside certificate-templates/, bytes).
    pub fn raw_files(&self) -> impl Iterator<Item = (String, Vec<u8>)> + '_ {
        self.raw.iter().map(|(p, b)| (p.clone(), b.to_vec()))
    }

    pub fn contains(&self, path: &str) -> bool {
        project_file(&format!("/{}", path.trim_start_matches('/'))).is_some_and(|id| self.files.contains_key(&id))
    }

    /// The files, by project path (`/lib/certificate.typ`).
    pub fn paths(&self) -> impl Iterator<Item = String> + '_ {
        self.files.keys().map(|id| project_path(*id))
    }

    pub(crate) fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files.get(&id).cloned().ok_or_else(|| FileError::NotFound(project_path(id).into()))
    }

    /// The parsed source of a .typ file of the set; `None` when the set
    /// does not have it (a virtual file).
    pub(crate) fn source(&self, id: FileId) -> FileResult<Option<Source>> {
        let Some(bytes) = self.files.get(&id) else { return Ok(None) };
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(source) = sources.get(&id) {
            return Ok(Some(source.clone()));
        }
        let text = std::str::from_utf8(bytes).map_err(|_| FileError::InvalidUtf8)?;
        let source = Source::new(id, text.to_owned());
        sources.insert(id, source.clone());
        Ok(Some(source))
    }
}
