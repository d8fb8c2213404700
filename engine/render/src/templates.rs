//! The templates of one bundle version, kept with their parsed sources so
//! that consecutive renders reuse them.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use certflow_core::CompiledBundle;
use certflow_core::compile::TEMPLATES_DIR;
use typst::diag::{FileError, FileResult};
use typst::foundations::Bytes;
use typst::syntax::{FileId, Source, SyntaxNode, ast};

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

    /// The text of a file, by its path inside certificate-templates/.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.raw.iter().find(|(p, _)| p == path).and_then(|(_, b)| std::str::from_utf8(b).ok())
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

/// The template files `entry` reads through `import` and `include`,
/// itself included, following them transitively; paths are inside
/// certificate-templates/ (`export/common.typ`). `read` gives a file's text.
///
/// `None` when a template on the way imports or includes a computed path:
/// then it could read any file. Files other than .typ (pictures a template
/// shows) are not followed; a change to one concerns every layout.
pub fn template_reach<'a>(entry: &str, read: impl Fn(&str) -> Option<&'a str>) -> Option<BTreeSet<String>> {
    ImportGraph::new(read).reach(entry)
}

/// What each template imports, each file parsed once however many entries
/// reach it (a reload asks for every format's entry).
pub struct ImportGraph<'a, R> {
    read: R,
    imports: HashMap<String, Option<Vec<String>>>,
    _text: std::marker::PhantomData<&'a str>,
}

impl<'a, R: Fn(&str) -> Option<&'a str>> ImportGraph<'a, R> {
    pub fn new(read: R) -> Self {
        Self { read, imports: HashMap::new(), _text: std::marker::PhantomData }
    }

    /// As [`template_reach`].
    pub fn reach(&mut self, entry: &str) -> Option<BTreeSet<String>> {
        let mut reached = BTreeSet::new();
        let mut pending = vec![normalize(entry)];
        while let Some(path) = pending.pop() {
            if !reached.insert(path.clone()) {
                continue;
            }
            let read = &self.read;
            let imports = self.imports.entry(path.clone()).or_insert_with(|| match read(&path) {
                Some(text) => imported_paths(&typst::syntax::parse(text)),
                None => Some(Vec::new()),
            });
            let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
            for target in imports.as_ref()? {
                if target.starts_with('@') {
                    continue; // a package: not part of the bundle
                }
                let joined = match target.strip_prefix('/') {
                    Some(absolute) => absolute.to_owned(),
                    None if dir.is_empty() => target.clone(),
                    None => format!("{dir}/{target}"),
                };
                pending.push(normalize(&joined));
            }
        }
        Some(reached)
    }
}

impl<R> std::fmt::Debug for ImportGraph<'_, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportGraph").field("parsed", &self.imports.len()).finish()
    }
}

/// The literal paths a file imports or includes; `None` for a computed one.
fn imported_paths(node: &SyntaxNode) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        let source = node
            .cast::<ast::ModuleImport>()
            .map(|i| i.source())
            .or_else(|| node.cast::<ast::ModuleInclude>().map(|i| i.source()));
        match source {
            Some(ast::Expr::Str(path)) => out.push(path.get().to_string()),
            Some(_) => return None,
            None => {}
        }
        stack.extend(node.children());
    }
    Some(out)
}

/// `a/./b/../c.typ` as `a/c.typ`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reach(files: &[(&str, &str)], entry: &str) -> Option<Vec<String>> {
        let files: HashMap<&str, &str> = files.iter().copied().collect();
        template_reach(entry, |p| files.get(p).copied()).map(|set| set.into_iter().collect())
    }

    #[test]
    fn follows_relative_absolute_and_nested_imports() {
        let files = [
            ("export/c5-1.typ", "#import \"common.typ\": *\n#include \"../shared/notes.typ\"\n#show: certificate"),
            ("export/common.typ", "#import \"/lib/certificate.typ\": certificate\n#let x = 1"),
            ("lib/certificate.typ", "#let certificate(body) = body"),
            ("shared/notes.typ", "Notes"),
            ("export/c2-1.typ", "#import \"/lib/certificate.typ\": *"),
        ];
        assert_eq!(
            reach(&files, "export/c5-1.typ").unwrap(),
            ["export/c5-1.typ", "export/common.typ", "lib/certificate.typ", "shared/notes.typ"]
        );
        assert_eq!(reach(&files, "export/c2-1.typ").unwrap(), ["export/c2-1.typ", "lib/certificate.typ"]);
    }

    #[test]
    fn a_computed_import_may_read_anything() {
        let files = [("a.typ", "#let name = \"b.typ\"\n#import name: *"), ("b.typ", "")];
        assert_eq!(reach(&files, "a.typ"), None);
    }

    #[test]
    fn cycles_and_packages_end() {
        let files = [("a.typ", "#import \"b.typ\"\n#import \"@preview/x:0.1.0\""), ("b.typ", "#import \"a.typ\"")];
        assert_eq!(reach(&files, "a.typ").unwrap(), ["a.typ", "b.typ"]);
    }
}
