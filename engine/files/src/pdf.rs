//! Acceptance checks for uploaded PDF files (随附单据 and the attachment
//! dialogs: REQUIREMENTS IN-3, OUT-12, AM-2, Q-3).
//!
//! An attachment slot of the bundle says `accept: [pdf]`, `max_file_bytes`
//! and `max_page_bytes` (4 MB a file and 400 KB a page in the shipped
//! bundle). [`check_pdf`] applies them to one uploaded file, in this order,
//! and stops at the first rule that fails:
//!
//! 1. **name**: the manual says 只可上传后缀名为pdf的文件, so the name must end
//!    in `.pdf` (any case) → [`PdfRejection::NotPdfName`];
//! 2. **file size**: more than `max_file_bytes` → [`PdfRejection::TooLarge`],
//!    decided before any parsing so that all later work is on a bounded input;
//! 3. **content**: the name proves nothing, the bytes decide: a `%PDF-`
//!    header within the first 1024 bytes ([`PdfRejection::NotPdfContent`]),
//!    a `%%EOF` marker within the last 1024 bytes (a file cut short, e.g. by
//!    an interrupted transfer, would otherwise be silently repaired with its
//!    last pages missing) and a document lopdf can read (both
//!    [`PdfRejection::Unreadable`]), not encrypted
//!    ([`PdfRejection::Encrypted`]: customs cannot open it), with at least
//!    one page ([`PdfRejection::NoPages`]);
//! 4. **page size**: every page within `max_page_bytes` →
//!    [`PdfRejection::PageTooLarge`] naming the first page over it.
//!
//! # What "the size of a page" is
//!
//! A PDF has no per-page size of its own; objects are shared between pages.
//! Here a page's size is what the page needs to be shown on its own, the
//! bytes a page extracted into its own file would carry: the stored length
//! of its content stream(s) plus the stored length of every stream reachable
//! from the resource dictionary it uses (its own `/Resources`, or the one it
//! inherits from its nearest ancestor in the page tree): images and Form
//! XObjects, fonts and their font files, colour spaces (ICC profiles),
//! patterns, shadings and functions, soft masks, and so on, recursively
//! through Form XObjects, tiling patterns and Type 3 fonts. Each object is
//! counted once per page, however many times the page refers to it; an
//! object shared by several pages (a font) is counted in each of them.
//! Lengths are the stored, i.e. compressed, lengths: nothing is decompressed
//! to be measured. Every resource the dictionary lists is counted whether
//! or not the content stream draws it (finding out would mean decompressing
//! and parsing the content), the same as when a page is extracted on its
//! own. Dictionaries and other small objects are not counted; annotations'
//! appearance streams and thumbnails are not part of the page's content and
//! are not counted either.
//!
//! Encryption is refused whatever the permissions: a file that opens
//! without a password but carries an owner password (printing or copying
//! restricted) is encrypted all the same, and customs' processing cannot
//! handle it.
//!
//! # Hostile input
//!
//! Everything below is bounded by constants of this module, and every
//! refusal for exceeding one is [`PdfRejection::Unreadable`].
//!
//! - The file size is checked before parsing, so lopdf only ever parses at
//!   most `max_file_bytes`. Parsing plain PDF syntax costs lopdf up to some
//!   60 bytes of memory per byte of file (an array of 2 million zeros in a
//!   4 MB file: ~240 MB); that is lopdf's own representation and is not
//!   limited further here.
//! - lopdf decodes object streams and cross-reference streams while
//!   loading, and nothing else. Each is capped at
//!   [`MAX_DECOMPRESSED_STREAM`] decoded bytes (lopdf's own bound). Their
//!   number is bounded too, as a few KB of compressed data can decode to
//!   megabytes and parse to hundreds of megabytes of objects: before the
//!   real load, a measuring load (with a lopdf filter that keeps only the
//!   object streams, renamed so that lopdf does not decode them) finds the
//!   object streams lopdf would decode, as the file is read and as lenient
//!   loading would read it with its cross-reference table rebuilt, and
//!   decodes them against [`OBJECT_STREAM_BYTES`] and
//!   [`OBJECT_STREAM_TOKENS`]. The cross-reference sections (one per
//!   incremental update) are bounded by [`MAX_XREF_SECTIONS`], counted from
//!   the `/Prev` and `/XRefStm` names of the raw bytes before anything is
//!   parsed (an upper bound: every section after the first needs one).
//! - lopdf decrypts a file that opens with the empty password while
//!   loading it, outside the filter that measuring relies on; so every
//!   `/Encrypt` name is overwritten in a copy of the bytes (same length,
//!   offsets unchanged) before loading, and a trailer that held it makes
//!   the file [`PdfRejection::Encrypted`].
//! - No stream is decompressed to measure a page.
//! - The walk over a page's resources uses an explicit stack and a visited
//!   set (so reference cycles end), refuses nesting of resource dictionaries
//!   (Form XObject inside Form XObject, …) deeper than [`MAX_NESTING`] rather
//!   than under-count, and stops after [`MAX_VISITS`] objects over the
//!   whole document. Resource dictionaries shared by several pages are
//!   measured once.
//! - Parsing and measuring run under [`std::panic::catch_unwind`]: lopdf
//!   parses untrusted bytes with slice indexing and `unwrap`s in places, and
//!   a panic there must become a refusal of that one file, not the end of
//!   the request (or of a worker thread). None was seen in 300,000 random
//!   mutations of valid files, but lopdf gives no guarantee. The default
//!   panic hook still prints the message of a caught panic; with
//!   `panic = "abort"` nothing can be caught.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use certflow_core::Text;
use certflow_core::model::AttachmentSlot;
use lopdf::{Dictionary, Document, LoadOptions, Object, ObjectId};

/// How far into the file the `%PDF-` header may start (as PDF readers
/// allow some leading junk).
pub const HEADER_WINDOW: usize = 1024;

/// How far from the end of the file the `%%EOF` marker may be (as PDF
/// readers allow some trailing junk); a file without it is truncated.
pub const TRAILER_WINDOW: usize = 1024;

/// The most bytes any single object stream or cross-reference stream may
/// decode to while the document is loaded.
pub const MAX_DECOMPRESSED_STREAM: usize = 2 * 1024 * 1024;

/// The most bytes all object streams together may decode to.
pub const OBJECT_STREAM_BYTES: usize = 16 * 1024 * 1024;

/// The most tokens (roughly, objects once parsed) all object streams
/// together may hold.
pub const OBJECT_STREAM_TOKENS: usize = 1_000_000;

/// The most cross-reference sections (incremental updates) a file may have.
pub const MAX_XREF_SECTIONS: usize = 32;

/// The deepest nesting of resource dictionaries (a page's resources →
/// a Form XObject's resources → …) that is measured.
pub const MAX_NESTING: u32 = 32;

/// The most objects the page measurement visits over the whole document.
pub const MAX_VISITS: u64 = 4_000_000;

/// How many levels of the page tree are climbed to find inherited
/// resources.
const MAX_TREE_DEPTH: usize = 64;

/// Dictionary types that are not part of a page's content even when
/// referred to from it (the page tree, the catalog, annotations, the
/// structure tree, outlines): a walk that reaches them goes no further.
const OUTSIDE_TYPES: &[&[u8]] =
    &[b"Page", b"Pages", b"Catalog", b"Annot", b"StructElem", b"StructTreeRoot", b"Outlines", b"Outline"];

/// The limits of an attachment slot that apply to one PDF file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdfLimits {
    /// The most bytes a file may have.
    pub max_file_bytes: u64,
    /// The most bytes a page may need (see the module documentation), if
    /// the slot limits pages.
    pub max_page_bytes: Option<u64>,
}

impl PdfLimits {
    /// The limits of a bundle's attachment slot.
    pub fn from_slot(slot: &AttachmentSlot) -> Self {
        Self { max_file_bytes: slot.max_file_bytes, max_page_bytes: slot.max_page_bytes }
    }
}

impl From<&AttachmentSlot> for PdfLimits {
    fn from(slot: &AttachmentSlot) -> Self {
        Self::from_slot(slot)
    }
}

/// What [`check_pdf`] found in an accepted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PdfInfo {
    /// The number of pages (at least 1).
    pub pages: u32,
    /// Each page's size in bytes as measured for the per-page limit; index
    /// 0 is page 1.
    pub page_bytes: Vec<u64>,
}

/// Why an uploaded file is refused. [`message_zh`](Self::message_zh) and
/// [`message_en`](Self::message_en) tell the user what to do; `Display` is
/// the English message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdfRejection {
    /// The file name does not end in `.pdf`.
    #[error("{}", self.message_en())]
    NotPdfName,
    /// The content is not a PDF (no `%PDF-` header near the start).
    #[error("{}", self.message_en())]
    NotPdfContent,
    /// The PDF is encrypted or password-protected.
    #[error("{}", self.message_en())]
    Encrypted,
    /// The file is over the slot's `max_file_bytes`.
    #[error("{}", self.message_en())]
    TooLarge { bytes: u64, limit: u64 },
    /// A page (1-based) needs more than the slot's `max_page_bytes`.
    #[error("{}", self.message_en())]
    PageTooLarge { page: u32, bytes: u64, limit: u64 },
    /// The PDF has no page.
    #[error("{}", self.message_en())]
    NoPages,
    /// The file starts like a PDF but cannot be read; `detail` is for logs,
    /// not for users.
    #[error("{}", self.message_en())]
    Unreadable { detail: String },
}

impl PdfRejection {
    /// A stable identifier of the rule that failed, for APIs and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotPdfName => "pdf_name",
            Self::NotPdfContent => "pdf_content",
            Self::Encrypted => "pdf_encrypted",
            Self::TooLarge { .. } => "file_too_large",
            Self::PageTooLarge { .. } => "page_too_large",
            Self::NoPages => "pdf_no_pages",
            Self::Unreadable { .. } => "pdf_unreadable",
        }
    }

    /// The message for the user, in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            Self::NotPdfName => "只可上传后缀名为 pdf 的文件，请上传 .pdf 文件".into(),
            Self::NotPdfContent => {
                "文件内容不是 PDF 格式（仅修改后缀名无效），请上传 PDF 文件，或将文件另存为/导出为 PDF 后重新上传"
                    .into()
            }
            Self::Encrypted => "文件已加密或设有密码保护，海关无法读取，请取消密码保护后重新上传".into(),
            Self::TooLarge { bytes, limit } => format!(
                "文件大小为 {}，超过每个文件 {} 的限制，请压缩或拆分后重新上传",
                size_over(*bytes),
                size_limit(*limit)
            ),
            Self::PageTooLarge { page, bytes, limit } => format!(
                "第 {page} 页大小为 {}，超过每页 {} 的限制，请压缩后重新上传",
                size_over(*bytes),
                size_limit(*limit)
            ),
            Self::NoPages => "PDF 文件中没有任何页面，请检查文件后重新上传".into(),
            Self::Unreadable { .. } => "PDF 文件已损坏或无法读取，请重新生成或另存为 PDF 后重新上传".into(),
        }
    }

    /// The message for the user, in English.
    pub fn message_en(&self) -> String {
        match self {
            Self::NotPdfName => "Only files named *.pdf can be uploaded: upload a .pdf file".into(),
            Self::NotPdfContent => "The file's content is not PDF (renaming a file does not make it one): \
                 upload a PDF, or save or export the document as PDF and upload it again"
                .into(),
            Self::Encrypted => "The PDF is encrypted or password-protected, which customs cannot read: \
                 remove the protection and upload it again"
                .into(),
            Self::TooLarge { bytes, limit } => format!(
                "The file is {}, over the {} a file limit: compress or split it and upload again",
                size_over(*bytes),
                size_limit(*limit)
            ),
            Self::PageTooLarge { page, bytes, limit } => format!(
                "Page {page} is {}, over the {} a page limit: compress it and upload again",
                size_over(*bytes),
                size_limit(*limit)
            ),
            Self::NoPages => "The PDF has no pages: check the file and upload it again".into(),
            Self::Unreadable { .. } => "The PDF is damaged or cannot be read: create it again \
                 or save it again as PDF, and upload it again"
                .into(),
        }
    }

    /// Both messages.
    pub fn message(&self) -> Text {
        Text::new(self.message_zh(), self.message_en())
    }
}

/// Checks one uploaded file against the PDF rules of an attachment slot.
///
/// `file_name` is the name the user's file had (a path is allowed; only
/// its ending is looked at). See the module documentation for the rules,
/// their order and how a page's size is measured.
pub fn check_pdf(file_name: &str, bytes: &[u8], limits: &PdfLimits) -> Result<PdfInfo, PdfRejection> {
    if !has_pdf_extension(file_name) {
        return Err(PdfRejection::NotPdfName);
    }
    let len = bytes.len() as u64;
    if len > limits.max_file_bytes {
        return Err(PdfRejection::TooLarge { bytes: len, limit: limits.max_file_bytes });
    }
    let window = &bytes[..bytes.len().min(HEADER_WINDOW)];
    if !window.windows(5).any(|w| w == b"%PDF-") {
        return Err(PdfRejection::NotPdfContent);
    }
    match catch_unwind(AssertUnwindSafe(|| inspect(bytes))) {
        Ok(Ok(page_bytes)) => {
            if let Some(limit) = limits.max_page_bytes
                && let Some((index, &bytes)) = page_bytes.iter().enumerate().find(|(_, b)| **b > limit)
            {
                let page = u32::try_from(index + 1).unwrap_or(u32::MAX);
                return Err(PdfRejection::PageTooLarge { page, bytes, limit });
            }
            let pages = u32::try_from(page_bytes.len()).unwrap_or(u32::MAX);
            Ok(PdfInfo { pages, page_bytes })
        }
        Ok(Err(rejection)) => Err(rejection),
        Err(_) => Err(PdfRejection::Unreadable { detail: "the PDF parser panicked".into() }),
    }
}

/// Whether the last path component ends in `.pdf` (any case) after a
/// non-empty stem.
fn has_pdf_extension(file_name: &str) -> bool {
    let name = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let bytes = name.as_bytes();
    bytes.len() > 4 && bytes[bytes.len() - 4..].eq_ignore_ascii_case(b".pdf")
}

/// Loads the document and measures its pages.
fn inspect(bytes: &[u8]) -> Result<Vec<u64>, PdfRejection> {
    // As lopdf does: trailing white space and NULs do not count.
    let end = bytes.iter().rposition(|b| !is_white(*b)).map_or(0, |pos| pos + 1);
    let tail = &bytes[end.saturating_sub(TRAILER_WINDOW)..end];
    if !tail.windows(5).any(|w| w == b"%%EOF") {
        return Err(unreadable("no %%EOF near the end: the file is truncated"));
    }
    let (bytes, names_encrypt) = hide_encrypt(bytes);
    let sections = xref_sections_bound(&bytes);
    if sections > MAX_XREF_SECTIONS {
        return Err(unreadable(format!("up to {sections} cross-reference sections")));
    }
    let doc = match load(&bytes) {
        Ok(doc) => doc,
        Err(LoadError::Refused(rejection)) => return Err(rejection),
        // An encrypted file that cannot be read is still best reported as
        // encrypted: that is what the user can do something about.
        Err(LoadError::Lopdf(_)) if names_encrypt => return Err(PdfRejection::Encrypted),
        Err(LoadError::Lopdf(error)) => return Err(unreadable(error.to_string())),
    };
    if doc.trailer.iter().any(|(key, _)| is_hidden_encrypt(key)) {
        return Err(PdfRejection::Encrypted);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(PdfRejection::NoPages);
    }
    let mut meter = Meter { doc: &doc, visits: 0, shared: HashMap::new() };
    pages
        .values()
        .map(|&page_id| meter.page(page_id))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(e.detail()))
}

fn unreadable(detail: impl Into<String>) -> PdfRejection {
    PdfRejection::Unreadable { detail: detail.into() }
}

enum LoadError {
    Refused(PdfRejection),
    Lopdf(lopdf::Error),
}

/// Loads the document, having first measured the object streams lopdf
/// will decode (see [`budget_object_streams`]): those of the file as read,
/// and those of the file with its cross-reference table rebuilt by
/// scanning, which lopdf's lenient loading does when the page tree does
/// not load otherwise.
fn load(bytes: &[u8]) -> Result<Document, LoadError> {
    let options = |filter: Option<lopdf::FilterFunc>, rebuild: bool| LoadOptions {
        filter,
        max_decompressed_size: Some(MAX_DECOMPRESSED_STREAM),
        force_reconstruct: rebuild,
        ..LoadOptions::default()
    };
    let as_read =
        Document::load_mem_with_options(bytes, options(Some(object_streams_only), false)).map_err(LoadError::Lopdf)?;
    budget_object_streams(&as_read).map_err(LoadError::Refused)?;
    drop(as_read);
    // If no cross-reference table can be rebuilt, lopdf keeps the file as read.
    if let Ok(rebuilt) = Document::load_mem_with_options(bytes, options(Some(object_streams_only), true)) {
        budget_object_streams(&rebuilt).map_err(LoadError::Refused)?;
    }
    Document::load_mem_with_options(bytes, options(None, false)).map_err(LoadError::Lopdf)
}

/// The type given to object streams in the measuring pass so that lopdf
/// keeps them as they are instead of decoding them.
const UNDECODED_OBJECT_STREAM: &[u8] = b"CertflowUndecodedObjStm";

/// The filter of the measuring pass: object streams only, undecoded.
fn object_streams_only(id: ObjectId, object: &mut Object) -> Option<(ObjectId, Object)> {
    match object {
        Object::Stream(stream) if stream.dict.has_type(b"ObjStm") => {
            stream.dict.set("Type", Object::Name(UNDECODED_OBJECT_STREAM.to_vec()));
            // lopdf keeps the object it passed in; this value is dropped.
            Some((id, Object::Null))
        }
        _ => None,
    }
}

/// Decodes the object streams lopdf is about to decode, counting their
/// decoded bytes and tokens (each token becomes an object of some 100 bytes
/// in memory) against [`OBJECT_STREAM_BYTES`] and [`OBJECT_STREAM_TOKENS`].
fn budget_object_streams(doc: &Document) -> Result<(), PdfRejection> {
    let mut decoded = 0usize;
    let mut tokens = 0usize;
    for object in doc.objects.values() {
        let Object::Stream(stream) = object else { continue };
        if !stream.dict.has_type(UNDECODED_OBJECT_STREAM) {
            continue;
        }
        let limit = MAX_DECOMPRESSED_STREAM.min(OBJECT_STREAM_BYTES - decoded);
        let content = match stream.get_plain_content_with_limit(limit) {
            Ok(content) => content,
            Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => {
                return Err(unreadable("object streams decode to too many bytes"));
            }
            // lopdf skips an object stream it cannot decode.
            Err(_) => continue,
        };
        decoded += content.len();
        tokens += count_tokens(&content);
        if tokens > OBJECT_STREAM_TOKENS {
            return Err(unreadable("object streams hold too many objects"));
        }
    }
    Ok(())
}

fn is_white(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | b'\0')
}

fn is_delimiter(byte: u8) -> bool {
    matches!(byte, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

/// Roughly how many objects a parser makes of these bytes: each delimiter
/// and each run of other characters.
fn count_tokens(bytes: &[u8]) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for &byte in bytes {
        if is_white(byte) {
            in_word = false;
        } else if is_delimiter(byte) {
            count += 1;
            in_word = false;
        } else if !in_word {
            count += 1;
            in_word = true;
        }
    }
    count
}

/// Calls `f` with the byte range and the decoded name (`#xx` escapes
/// resolved) of every name token in the bytes, wherever it is (a string,
/// a stream: the callers only need an upper bound).
fn for_each_name(bytes: &[u8], mut f: impl FnMut(std::ops::Range<usize>, &[u8])) {
    let mut i = 0;
    let mut decoded = Vec::new();
    while i < bytes.len() {
        if bytes[i] != b'/' {
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        while i < bytes.len() && !is_white(bytes[i]) && !is_delimiter(bytes[i]) {
            i += 1;
        }
        let raw = &bytes[start + 1..i];
        if raw.contains(&b'#') {
            decoded.clear();
            let mut j = 0;
            while j < raw.len() {
                let hex = |k: usize| raw.get(k).and_then(|c| (*c as char).to_digit(16));
                match (raw[j], hex(j + 1), hex(j + 2)) {
                    (b'#', Some(high), Some(low)) => {
                        decoded.push((high * 16 + low) as u8);
                        j += 3;
                    }
                    (byte, _, _) => {
                        decoded.push(byte);
                        j += 1;
                    }
                }
            }
            f(start..i, &decoded);
        } else {
            f(start..i, raw);
        }
    }
}

/// What `/Encrypt` names are overwritten with (same length, so no offset
/// moves): `/ZZZZZZZ…`.
const HIDDEN: u8 = b'Z';

fn is_hidden_encrypt(key: &[u8]) -> bool {
    key.len() >= b"Encrypt".len() && key.iter().all(|&c| c == HIDDEN)
}

/// The bytes with every `/Encrypt` name overwritten, and whether there was
/// one. lopdf decrypts a file whose trailer has `/Encrypt` when the empty
/// password opens it, decoding everything in it without the measuring pass;
/// with the name hidden it reads the file as it is, and the trailer tells
/// whether it was encrypted.
fn hide_encrypt(bytes: &[u8]) -> (std::borrow::Cow<'_, [u8]>, bool) {
    let mut found = Vec::new();
    for_each_name(bytes, |range, name| {
        if name == b"Encrypt" {
            found.push(range);
        }
    });
    if found.is_empty() {
        return (std::borrow::Cow::Borrowed(bytes), false);
    }
    let mut copy = bytes.to_vec();
    for range in found {
        copy[range.start + 1..range.end].fill(HIDDEN);
    }
    (std::borrow::Cow::Owned(copy), true)
}

/// An upper bound on the cross-reference sections lopdf reads: the one
/// `startxref` names, one more for each `/Prev` whose value is not a
/// reference (outline items have `/Prev n 0 R`) and one for each
/// `/XRefStm`. Each of them may be a stream lopdf decodes.
fn xref_sections_bound(bytes: &[u8]) -> usize {
    let mut count = 1usize;
    for_each_name(bytes, |range, name| {
        if name == b"XRefStm" || (name == b"Prev" && !reference_at(bytes, range.end)) {
            count += 1;
        }
    });
    count
}

/// Whether `n g R` (with white space or comments between) starts at `at`,
/// after white space.
fn reference_at(bytes: &[u8], at: usize) -> bool {
    let skip = |mut i: usize| {
        let start = i;
        loop {
            match bytes.get(i) {
                Some(byte) if is_white(*byte) => i += 1,
                Some(b'%') => {
                    while i < bytes.len() && !matches!(bytes[i], b'\r' | b'\n') {
                        i += 1;
                    }
                }
                _ => return (i > start).then_some(i),
            }
        }
    };
    let digits = |i: usize| {
        let end = i + bytes[i.min(bytes.len())..].iter().take_while(|b| b.is_ascii_digit()).count();
        (end > i).then_some(end)
    };
    let reference = || {
        let i = digits(skip(at)?)?;
        let i = digits(skip(i)?)?;
        let i = skip(i)?;
        (bytes.get(i) == Some(&b'R') && bytes.get(i + 1).is_none_or(|b| is_white(*b) || is_delimiter(*b))).then_some(())
    };
    reference().is_some()
}

/// Why a page could not be measured.
#[derive(Debug, Clone, Copy)]
enum MeterError {
    TooDeep,
    TooComplex,
}

impl MeterError {
    fn detail(self) -> &'static str {
        match self {
            Self::TooDeep => "resources nested deeper than the measured limit",
            Self::TooComplex => "too many objects to measure the pages",
        }
    }
}

/// Where a page's resource dictionary comes from, when other pages can
/// share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SharedKey {
    /// An indirect resource dictionary.
    Indirect(ObjectId),
    /// A direct resource dictionary of this page-tree node, inherited.
    Inherited(ObjectId),
}

/// A measured resource dictionary: its bytes and the indirect objects in
/// it (so that a content stream also listed there is not counted twice).
#[derive(Debug, Default)]
struct Measured {
    bytes: u64,
    objects: HashSet<ObjectId>,
}

struct Meter<'a> {
    doc: &'a Document,
    visits: u64,
    shared: HashMap<SharedKey, Rc<Measured>>,
}

impl<'a> Meter<'a> {
    /// The bytes a page needs.
    fn page(&mut self, page_id: ObjectId) -> Result<u64, MeterError> {
        let Ok(page) = self.doc.get_dictionary(page_id) else {
            return Ok(0);
        };
        let resources = match self.resources(page_id) {
            None => Rc::new(Measured::default()),
            Some((None, object)) => Rc::new(self.measure_resources(object)?),
            Some((Some(key), object)) => match self.shared.get(&key) {
                Some(measured) => Rc::clone(measured),
                None => {
                    let measured = Rc::new(self.measure_resources(object)?);
                    self.shared.insert(key, Rc::clone(&measured));
                    measured
                }
            },
        };
        let contents = match page.get(b"Contents") {
            Ok(contents) => {
                let mut seen = HashSet::new();
                self.walk(contents, 0, &mut seen, &resources.objects)?
            }
            Err(_) => 0,
        };
        Ok(resources.bytes.saturating_add(contents))
    }

    fn measure_resources(&mut self, resources: &'a Object) -> Result<Measured, MeterError> {
        let mut objects = HashSet::new();
        let bytes = self.walk(resources, 0, &mut objects, &HashSet::new())?;
        Ok(Measured { bytes, objects })
    }

    /// The resource dictionary a page uses: its own or the nearest
    /// ancestor's, and the key under which other pages can share it.
    fn resources(&self, page_id: ObjectId) -> Option<(Option<SharedKey>, &'a Object)> {
        let mut node_id = page_id;
        let mut climbed = HashSet::new();
        for _ in 0..MAX_TREE_DEPTH {
            let node = self.doc.get_dictionary(node_id).ok()?;
            if let Ok(resources) = node.get(b"Resources") {
                let key = match resources {
                    Object::Reference(id) => Some(SharedKey::Indirect(*id)),
                    _ if node_id != page_id => Some(SharedKey::Inherited(node_id)),
                    _ => None,
                };
                return Some((key, resources));
            }
            node_id = node.get(b"Parent").and_then(Object::as_reference).ok()?;
            if !climbed.insert(node_id) {
                return None;
            }
        }
        None
    }

    /// The stored bytes of every stream reachable from `root`, each
    /// indirect object counted once (`seen`), those in `skip` not at all.
    fn walk(
        &mut self,
        root: &'a Object,
        depth: u32,
        seen: &mut HashSet<ObjectId>,
        skip: &HashSet<ObjectId>,
    ) -> Result<u64, MeterError> {
        let mut bytes = 0u64;
        let mut stack: Vec<(&'a Object, u32)> = vec![(root, depth)];
        while let Some((object, depth)) = stack.pop() {
            self.visits += 1;
            if self.visits > MAX_VISITS {
                return Err(MeterError::TooComplex);
            }
            match object {
                Object::Reference(id) => {
                    if skip.contains(id) || !seen.insert(*id) {
                        continue;
                    }
                    if let Some(target) = self.doc.objects.get(id)
                        && !is_outside_page(target)
                    {
                        stack.push((target, depth));
                    }
                }
                Object::Array(items) => stack.extend(items.iter().map(|item| (item, depth))),
                Object::Dictionary(dict) => push_entries(dict, depth, &mut stack)?,
                Object::Stream(stream) => {
                    bytes = bytes.saturating_add(stream.content.len() as u64);
                    push_entries(&stream.dict, depth, &mut stack)?;
                }
                _ => {}
            }
        }
        Ok(bytes)
    }
}

/// Pushes a dictionary's values; a `/Resources` value is one level deeper.
fn push_entries<'a>(dict: &'a Dictionary, depth: u32, stack: &mut Vec<(&'a Object, u32)>) -> Result<(), MeterError> {
    for (key, value) in dict.iter() {
        if matches!(value, Object::Integer(_) | Object::Real(_) | Object::Boolean(_) | Object::Null) {
            continue;
        }
        let depth = if key.as_slice() == b"Resources" { depth + 1 } else { depth };
        if depth > MAX_NESTING {
            return Err(MeterError::TooDeep);
        }
        stack.push((value, depth));
    }
    Ok(())
}

/// Whether a walk stops at this object (see [`OUTSIDE_TYPES`]).
fn is_outside_page(object: &Object) -> bool {
    match object {
        Object::Dictionary(dict) => OUTSIDE_TYPES.iter().any(|kind| dict.has_type(kind)),
        _ => false,
    }
}

/// A size over a limit, rounded up: as the limit is rounded down, the two
/// never read the same.
fn size_over(bytes: u64) -> String {
    format_size(bytes, true)
}

/// A limit, rounded down.
fn size_limit(limit: u64) -> String {
    format_size(limit, false)
}

const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

/// Bytes as users read them: KB under 1 MB, MB from 1 MB (1 KB = 1024
/// bytes), with at most one decimal, rounded up or down, trailing `.0`
/// dropped.
fn format_size(bytes: u64, round_up: bool) -> String {
    let (unit, name) = if bytes >= MB { (MB, "MB") } else { (KB, "KB") };
    // Tenths of the unit.
    let tenths = u128::from(bytes) * 10;
    let unit = u128::from(unit);
    let tenths = if round_up { tenths.div_ceil(unit) } else { tenths / unit };
    let mut out = String::new();
    let _ = write!(out, "{}", tenths / 10);
    if tenths % 10 != 0 {
        let _ = write!(out, ".{}", tenths % 10);
    }
    out.push(' ');
    out.push_str(name);
    out
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn sizes_read_as_users_read_them() {
        assert_eq!(format_size(400 * KB, false), "400 KB");
        assert_eq!(format_size(512 * KB, true), "512 KB");
        assert_eq!(format_size(4 * MB, false), "4 MB");
        assert_eq!(format_size(5 * MB, true), "5 MB");
        assert_eq!(format_size(5 * MB + MB / 4, true), "5.3 MB");
        assert_eq!(format_size(5 * MB + MB / 4, false), "5.2 MB");
        assert_eq!(size_over(400 * KB + 1), "400.1 KB");
        assert_eq!(size_over(4 * MB + 1), "4.1 MB");
        assert_eq!(format_size(0, true), "0 KB");
    }

    #[test]
    fn extension_rule() {
        assert!(has_pdf_extension("a.pdf"));
        assert!(has_pdf_extension("scan.PDF"));
        assert!(has_pdf_extension(r"C:\fakepath\报关单.Pdf"));
        assert!(!has_pdf_extension(".pdf"));
        assert!(!has_pdf_extension("pdf"));
        assert!(!has_pdf_extension("a.pdf.txt"));
        assert!(!has_pdf_extension("dir.pdf/a"));
        assert!(!has_pdf_extension(""));
    }

    #[test]
    fn encrypt_names_are_hidden_in_place() {
        let (bytes, found) = hide_encrypt(b"trailer<</Encrypt 5 0 R/Root 1 0 R>>");
        assert!(found);
        assert_eq!(&*bytes, b"trailer<</ZZZZZZZ 5 0 R/Root 1 0 R>>");
        let (bytes, found) = hide_encrypt(b"<</Encr#79pt 5 0 R>>");
        assert!(found);
        assert_eq!(&*bytes, b"<</ZZZZZZZZZ 5 0 R>>");
        assert!(is_hidden_encrypt(b"ZZZZZZZZZ"));
        let (bytes, found) = hide_encrypt(b"<</EncryptMetadata false>>");
        assert!(!found);
        assert_eq!(&*bytes, b"<</EncryptMetadata false>>");
    }

    #[test]
    fn cross_reference_sections_are_bounded_from_above() {
        assert_eq!(xref_sections_bound(b"trailer<</Size 3/Root 1 0 R>>"), 1);
        assert_eq!(xref_sections_bound(b"trailer<</Size 3/Prev 1234/Root 1 0 R>>"), 2);
        assert_eq!(xref_sections_bound(b"<</Pr#65v 1234/XRefStm 99>>"), 3);
        // Outline items link with references.
        assert_eq!(xref_sections_bound(b"<</Prev 12 0 R/Next 14 0 R>> <</Prev %c\n 12 0 R>>"), 1);
        assert_eq!(xref_sections_bound(b"<</Prev 12 0R>>"), 2);
        assert_eq!(xref_sections_bound(b"<</Prev 12 0 RR>>"), 2);
    }

    #[test]
    fn tokens_are_counted_as_a_parser_would_make_objects() {
        assert_eq!(count_tokens(b"<</Type /Font>>"), 8);
        assert_eq!(count_tokens(b"[0 0 0]"), 5);
        assert_eq!(count_tokens(b"  "), 0);
    }
}
