//! `certflow_files::pdf::check_pdf` on PDFs built here with lopdf.

use std::collections::BTreeMap;

use certflow_files::pdf::{PdfInfo, PdfLimits, PdfRejection, check_pdf};
use lopdf::content::{Content, Operation};
use lopdf::{Document, EncryptionState, EncryptionVersion, Object, ObjectId, Permissions, Stream, dictionary};

const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

/// The limits of the shipped bundle's attachment slots.
const LIMITS: PdfLimits = PdfLimits { max_file_bytes: 4 * MB, max_page_bytes: Some(400 * KB) };

/// Deterministic pseudo-random bytes (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// A page to build: text, and optionally an image of `image_bytes` bytes.
#[derive(Clone, Copy, Default)]
struct PageSpec {
    image_bytes: usize,
}

/// Builds a PDF whose pages all use one embedded font of `font_bytes`
/// bytes (0: a standard font, no font file), each page with its own
/// resource dictionary.
fn build(pages: &[PageSpec], font_bytes: usize) -> Document {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = if font_bytes == 0 {
        doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier" })
    } else {
        let file_id =
            doc.add_object(Stream::new(dictionary! { "Length1" => font_bytes as i64 }, rng.bytes(font_bytes)));
        let descriptor_id = doc.add_object(dictionary! {
            "Type" => "FontDescriptor",
            "FontName" => "Embedded",
            "Flags" => 32,
            "FontBBox" => vec![0.into(), 0.into(), 1000.into(), 1000.into()],
            "ItalicAngle" => 0,
            "Ascent" => 800,
            "Descent" => -200,
            "CapHeight" => 700,
            "StemV" => 80,
            "FontFile2" => file_id,
        });
        doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "TrueType",
            "BaseFont" => "Embedded",
            "FontDescriptor" => descriptor_id,
        })
    };
    let mut kids = Vec::new();
    for (index, spec) in pages.iter().enumerate() {
        let mut operations = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 24.into()]),
            Operation::new("Td", vec![72.into(), 720.into()]),
            Operation::new("Tj", vec![Object::string_literal(format!("Page {}", index + 1))]),
            Operation::new("ET", vec![]),
        ];
        let mut resources = dictionary! { "Font" => dictionary! { "F1" => font_id } };
        if spec.image_bytes > 0 {
            let image_id = doc.add_object(Stream::new(
                dictionary! {
                    "Type" => "XObject",
                    "Subtype" => "Image",
                    "Width" => (spec.image_bytes / 3) as i64,
                    "Height" => 1,
                    "ColorSpace" => "DeviceRGB",
                    "BitsPerComponent" => 8,
                },
                rng.bytes(spec.image_bytes),
            ));
            resources.set("XObject", dictionary! { "Im1" => image_id });
            operations.extend([
                Operation::new("q", vec![]),
                Operation::new("cm", vec![400.into(), 0.into(), 0.into(), 300.into(), 72.into(), 300.into()]),
                Operation::new("Do", vec!["Im1".into()]),
                Operation::new("Q", vec![]),
            ]);
        }
        let content = Content { operations }.encode().unwrap();
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources,
        });
        kids.push(page_id.into());
    }
    finish(&mut doc, pages_id, kids, None);
    doc
}

/// Adds the page tree root and the catalog.
fn finish(doc: &mut Document, pages_id: ObjectId, kids: Vec<Object>, resources: Option<Object>) {
    let count = kids.len() as i64;
    let mut pages = dictionary! {
        "Type" => "Pages",
        "Kids" => kids,
        "Count" => count,
        "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
    };
    if let Some(resources) = resources {
        pages.set("Resources", resources);
    }
    doc.objects.insert(pages_id, Object::Dictionary(pages));
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
}

fn bytes_of(doc: &mut Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn small_pdf() -> Vec<u8> {
    bytes_of(&mut build(&[PageSpec::default()], 0))
}

fn accepted(name: &str, bytes: &[u8]) -> PdfInfo {
    match check_pdf(name, bytes, &LIMITS) {
        Ok(info) => info,
        Err(rejection) => panic!("{name} refused: {rejection:?}"),
    }
}

fn refused(name: &str, bytes: &[u8]) -> PdfRejection {
    match check_pdf(name, bytes, &LIMITS) {
        Ok(info) => panic!("{name} accepted: {info:?}"),
        Err(rejection) => rejection,
    }
}

#[test]
fn small_text_pdf_is_accepted() {
    let bytes = small_pdf();
    let info = accepted("证书.pdf", &bytes);
    assert_eq!(info.pages, 1);
    assert_eq!(info.page_bytes.len(), 1);
    assert!(info.page_bytes[0] > 0 && info.page_bytes[0] < 1024, "{:?}", info.page_bytes);
}

#[test]
fn content_decides_not_the_name_but_the_name_must_end_in_pdf() {
    let bytes = small_pdf();
    accepted("scan.PDF", &bytes);
    accepted(r"C:\fakepath\Scan.Pdf", &bytes);

    assert_eq!(refused("a.txt", &bytes), PdfRejection::NotPdfName);
    assert_eq!(refused("scan", &bytes), PdfRejection::NotPdfName);
    assert_eq!(refused("scan.pdf.exe", &bytes), PdfRejection::NotPdfName);

    let text = "这不是 PDF，只是一个改了后缀名的文本文件。\n".repeat(20);
    assert_eq!(refused("a.pdf", text.as_bytes()), PdfRejection::NotPdfContent);
    assert_eq!(refused("a.pdf", b""), PdfRejection::NotPdfContent);
    let mut late_header = vec![b' '; 2000];
    late_header.extend_from_slice(&bytes);
    assert_eq!(refused("a.pdf", &late_header), PdfRejection::NotPdfContent);
    // A little junk before the header is tolerated, as by PDF readers.
    let mut early_header = b"junk\n".to_vec();
    early_header.extend_from_slice(&bytes);
    accepted("a.pdf", &early_header);
}

#[test]
fn large_image_on_page_two_is_refused_naming_page_two() {
    let pages = [PageSpec::default(), PageSpec { image_bytes: 600 * 1024 }, PageSpec::default()];
    let mut doc = build(&pages, 0);
    let bytes = bytes_of(&mut doc);
    assert!((bytes.len() as u64) < 4 * MB);

    let rejection = refused("scan.pdf", &bytes);
    let PdfRejection::PageTooLarge { page, bytes: page_bytes, limit } = rejection else {
        panic!("{rejection:?}");
    };
    assert_eq!(page, 2);
    assert_eq!(limit, 400 * KB);
    assert!(page_bytes > 600 * KB && page_bytes < 601 * KB, "{page_bytes}");
    assert_eq!(rejection.message_zh(), "第 2 页大小为 600.1 KB，超过每页 400 KB 的限制，请压缩后重新上传");
    assert_eq!(
        rejection.message_en(),
        "Page 2 is 600.1 KB, over the 400 KB a page limit: compress it and upload again"
    );

    // Without a page limit the same file is accepted and the sizes are reported.
    let info = check_pdf("scan.pdf", &bytes, &PdfLimits { max_page_bytes: None, ..LIMITS }).unwrap();
    assert_eq!(info.pages, 3);
    assert_eq!(info.page_bytes[1], page_bytes);
    assert!(info.page_bytes[0] < KB && info.page_bytes[2] < KB, "{:?}", info.page_bytes);
}

#[test]
fn page_size_counts_stored_not_decoded_bytes() {
    // 600 KB of zeros compresses to almost nothing: the page is small.
    let mut doc = build(&[PageSpec::default(), PageSpec { image_bytes: 600 * 1024 }], 0);
    for object in doc.objects.values_mut() {
        if let Object::Stream(stream) = object
            && stream.dict.has(b"Width")
        {
            stream.set_plain_content(vec![0; 600 * 1024]);
            stream.compress().unwrap();
        }
    }
    let bytes = bytes_of(&mut doc);
    let info = accepted("flate.pdf", &bytes);
    assert!(info.page_bytes[1] < 10 * KB, "{:?}", info.page_bytes);
}

#[test]
fn a_shared_font_counts_on_every_page_without_making_small_pages_too_large() {
    let pages = [PageSpec::default(); 3];
    let bytes = bytes_of(&mut build(&pages, 150 * 1024));
    let info = accepted("fonts.pdf", &bytes);
    assert_eq!(info.pages, 3);
    for page_bytes in &info.page_bytes {
        assert!(*page_bytes > 150 * KB && *page_bytes < 151 * KB, "{:?}", info.page_bytes);
    }
    // The file holds the font once.
    assert!((bytes.len() as u64) < 200 * KB);

    // A font and an image together push a page over.
    let pages = [PageSpec::default(), PageSpec::default(), PageSpec { image_bytes: 300 * 1024 }];
    let bytes = bytes_of(&mut build(&pages, 150 * 1024));
    assert!(matches!(refused("fonts.pdf", &bytes), PdfRejection::PageTooLarge { page: 3, .. }));
}

#[test]
fn inherited_shared_resources_and_content_arrays_are_measured_per_page() {
    let mut rng = Rng(7);
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let image_id = doc.add_object(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 1000, "Height" => 100,
        "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
        rng.bytes(100_000),
    ));
    // The image listed twice, once as a content stream too: counted once.
    let resources_id = doc.add_object(dictionary! {
        "XObject" => dictionary! { "A" => image_id, "B" => image_id },
    });
    let first = doc.add_object(Stream::new(dictionary! {}, b"q /A Do Q".to_vec()));
    let second = doc.add_object(Stream::new(dictionary! {}, b"q /B Do Q".to_vec()));
    let page1 = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => vec![first.into(), second.into(), first.into()],
    });
    let page2 = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => first, "Resources" => dictionary! {},
    });
    let page3 = doc.add_object(dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => image_id });
    finish(&mut doc, pages_id, vec![page1.into(), page2.into(), page3.into()], Some(resources_id.into()));
    let bytes = bytes_of(&mut doc);
    let info = accepted("inherit.pdf", &bytes);
    assert_eq!(info.page_bytes, vec![100_000 + 9 + 9, 9, 100_000]);
}

#[test]
fn nested_form_xobjects_are_measured_and_cycles_end() {
    let mut rng = Rng(11);
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let image_id = doc.add_object(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 100, "Height" => 100,
        "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
        rng.bytes(10_000),
    ));
    // Form A draws form B which draws the image and form A again (a cycle).
    let form_a = doc.new_object_id();
    let form_b = doc.add_object(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 1.into(), 1.into()],
        "Resources" => dictionary! { "XObject" => dictionary! { "Im" => image_id, "A" => form_a } } },
        b"/Im Do /A Do".to_vec(),
    ));
    doc.objects.insert(
        form_a,
        Object::Stream(Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 1.into(), 1.into()],
                "Resources" => dictionary! { "XObject" => dictionary! { "B" => form_b } } },
            b"/B Do".to_vec(),
        )),
    );
    let content = doc.add_object(Stream::new(dictionary! {}, b"/A Do".to_vec()));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        "Resources" => dictionary! { "XObject" => dictionary! { "A" => form_a } },
    });
    finish(&mut doc, pages_id, vec![page.into()], None);
    let info = accepted("forms.pdf", &bytes_of(&mut doc));
    assert_eq!(info.page_bytes, vec![5 + 5 + 12 + 10_000]);
}

/// A chain of `levels` Form XObjects, each drawing the next.
fn nested_forms(levels: usize) -> Vec<u8> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut inner = doc.add_object(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 1.into(), 1.into()] },
        b"0 0 1 1 re f".to_vec(),
    ));
    for _ in 1..levels {
        inner = doc.add_object(Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form", "BBox" => vec![0.into(), 0.into(), 1.into(), 1.into()],
                "Resources" => dictionary! { "XObject" => dictionary! { "F" => inner } } },
            b"/F Do".to_vec(),
        ));
    }
    let content = doc.add_object(Stream::new(dictionary! {}, b"/F Do".to_vec()));
    let page = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content,
        "Resources" => dictionary! { "XObject" => dictionary! { "F" => inner } },
    });
    finish(&mut doc, pages_id, vec![page.into()], None);
    bytes_of(&mut doc)
}

#[test]
fn form_xobject_nesting_is_capped() {
    accepted("nested.pdf", &nested_forms(20));
    assert!(matches!(refused("nested.pdf", &nested_forms(200)), PdfRejection::Unreadable { .. }));
}

#[test]
fn a_file_over_the_limit_is_refused_before_parsing() {
    let bytes = bytes_of(&mut build(&[PageSpec { image_bytes: 5 * 1024 * 1024 }], 0));
    assert!(bytes.len() as u64 > 5 * MB);
    let rejection = refused("big.pdf", &bytes);
    assert_eq!(rejection, PdfRejection::TooLarge { bytes: bytes.len() as u64, limit: 4 * MB });
    assert_eq!(rejection.message_zh(), "文件大小为 5.1 MB，超过每个文件 4 MB 的限制，请压缩或拆分后重新上传");
    assert_eq!(
        rejection.message_en(),
        "The file is 5.1 MB, over the 4 MB a file limit: compress or split it and upload again"
    );

    // Not parsed: a 5 MB non-PDF is refused for its size all the same.
    let junk = vec![b'x'; 5 * 1024 * 1024];
    assert!(matches!(refused("big.pdf", &junk), PdfRejection::TooLarge { .. }));
    // Exactly at the limit is allowed.
    let limits = PdfLimits { max_file_bytes: bytes.len() as u64, max_page_bytes: None };
    assert!(check_pdf("big.pdf", &bytes, &limits).is_ok());
}

#[test]
fn truncated_files_are_refused_without_panicking() {
    let pages = [PageSpec::default(), PageSpec { image_bytes: 30_000 }, PageSpec::default()];
    let bytes = bytes_of(&mut build(&pages, 20_000));
    for cut in [3, 5, 9, 20, 100, bytes.len() / 3, bytes.len() / 2, bytes.len() - 40, bytes.len() - 7] {
        let rejection = refused("cut.pdf", &bytes[..cut]);
        assert!(
            matches!(rejection, PdfRejection::Unreadable { .. } | PdfRejection::NotPdfContent),
            "cut at {cut}: {rejection:?}"
        );
    }
}

/// The file with `updates` incremental updates appended, each an empty
/// cross-reference section pointing back at the previous one.
fn with_updates(mut bytes: Vec<u8>, updates: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let start = text.rfind("startxref").unwrap();
    let mut prev: usize = text[start + 9..].split_whitespace().next().unwrap().parse().unwrap();
    let root = text[text.find("/Root").unwrap()..].split_whitespace().nth(1).unwrap().to_string();
    let size =
        text[text.find("/Size").unwrap()..].split_whitespace().nth(1).unwrap().trim_end_matches(">>").to_string();
    for _ in 0..updates {
        let at = bytes.len();
        let section = format!(
            "xref\n0 1\n0000000000 65535 f \ntrailer\n<</Size {size}/Root {root} 0 R/Prev {prev}>>\nstartxref\n{at}\n%%EOF\n"
        );
        bytes.extend_from_slice(section.as_bytes());
        prev = at;
    }
    bytes
}

#[test]
fn incremental_updates_are_read_but_not_without_bound() {
    let bytes = bytes_of(&mut build(&[PageSpec::default(), PageSpec::default()], 0));
    assert_eq!(accepted("updated.pdf", &with_updates(bytes.clone(), 3)).pages, 2);
    let rejection = refused("updated.pdf", &with_updates(bytes, 40));
    assert!(matches!(rejection, PdfRejection::Unreadable { .. }), "{rejection:?}");
}

#[test]
fn object_streams_are_read() {
    let mut doc = build(&[PageSpec::default(), PageSpec { image_bytes: 3_000 }], 2_000);
    let options = lopdf::SaveOptions::builder().use_object_streams(true).use_xref_streams(true).build();
    let mut bytes = Vec::new();
    doc.save_with_options(&mut bytes, options).unwrap();
    assert!(bytes.windows(7).any(|w| w == b"/ObjStm"));
    let info = accepted("objstm.pdf", &bytes);
    assert_eq!(info.pages, 2);
    assert!(info.page_bytes[1] > info.page_bytes[0] + 2_900, "{:?}", info.page_bytes);
}

/// A one-page PDF followed by `count` unused object streams, each holding
/// one array of `tokens` zeros: a few KB that would parse into hundreds of
/// MB of objects.
fn object_stream_bomb(count: usize, tokens: usize) -> Vec<u8> {
    let mut out = b"%PDF-1.5\n".to_vec();
    let mut offsets = vec![];
    let mut object = |out: &mut Vec<u8>, dict: String, data: Option<&[u8]>| {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{dict}\n", offsets.len()).as_bytes());
        if let Some(data) = data {
            out.extend_from_slice(b"stream\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\nendstream\n");
        }
        out.extend_from_slice(b"endobj\n");
    };
    object(&mut out, "<</Type/Catalog/Pages 2 0 R>>".into(), None);
    object(&mut out, "<</Type/Pages/Kids[3 0 R]/Count 1>>".into(), None);
    object(&mut out, "<</Type/Page/Parent 2 0 R/MediaBox[0 0 10 10]>>".into(), None);
    for i in 0..count {
        let header = format!("{} 0 ", 1000 + i);
        let mut plain = header.clone().into_bytes();
        plain.push(b'[');
        plain.extend(b"0 ".repeat(tokens));
        plain.push(b']');
        let mut stream = Stream::new(dictionary! {}, plain);
        stream.compress().unwrap();
        let dict =
            format!("<</Type/ObjStm/N 1/First {}/Filter/FlateDecode/Length {}>>", header.len(), stream.content.len());
        object(&mut out, dict, Some(&stream.content));
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", offsets.len() + 1).as_bytes());
    for offset in &offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    let trailer = format!("trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n", offsets.len() + 1);
    out.extend_from_slice(trailer.as_bytes());
    out
}

#[test]
fn object_streams_that_decode_to_too_much_are_refused() {
    // Small ones are read.
    assert_eq!(accepted("objstm.pdf", &object_stream_bomb(3, 1_000)).pages, 1);
    // Each under the per-stream limit, too many objects together.
    let bytes = object_stream_bomb(3, 900_000);
    assert!(bytes.len() < 20_000, "{}", bytes.len());
    assert!(matches!(refused("bomb.pdf", &bytes), PdfRejection::Unreadable { .. }));
    // One over the per-stream limit.
    let bytes = object_stream_bomb(1, 1_500_000);
    assert!(matches!(refused("bomb.pdf", &bytes), PdfRejection::Unreadable { .. }));
}

#[test]
fn a_pdf_without_pages_is_refused() {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    finish(&mut doc, pages_id, vec![], None);
    assert_eq!(refused("empty.pdf", &bytes_of(&mut doc)), PdfRejection::NoPages);
}

fn encrypted(user_password: &str) -> Vec<u8> {
    let mut doc = build(&[PageSpec::default(), PageSpec::default()], 1000);
    doc.trailer.set("ID", vec![Object::string_literal("0123456789abcdef"), Object::string_literal("0123456789abcdef")]);
    let version = EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password,
        key_length: 128,
        permissions: Permissions::PRINTABLE,
    };
    let state = EncryptionState::try_from(version).unwrap();
    doc.encrypt(&state).unwrap();
    bytes_of(&mut doc)
}

#[test]
fn encrypted_pdfs_are_refused() {
    let rejection = refused("locked.pdf", &encrypted("secret"));
    assert_eq!(rejection, PdfRejection::Encrypted);
    assert!(rejection.message_zh().contains("密码"), "{}", rejection.message_zh());
    // Only an owner password (opens without one, but is still encrypted).
    assert_eq!(refused("restricted.pdf", &encrypted("")), PdfRejection::Encrypted);

    // A trailer naming an /Encrypt dictionary that is not even there.
    let plain = String::from_utf8_lossy(&small_pdf()).into_owned();
    let forged = plain.replacen("/Root", "/Encrypt 99 0 R /Root", 1);
    assert_eq!(refused("forged.pdf", forged.as_bytes()), PdfRejection::Encrypted);
}

#[test]
fn every_rejection_says_what_to_do_in_both_languages() {
    let all = [
        PdfRejection::NotPdfName,
        PdfRejection::NotPdfContent,
        PdfRejection::Encrypted,
        PdfRejection::TooLarge { bytes: 5 * MB, limit: 4 * MB },
        PdfRejection::PageTooLarge { page: 3, bytes: 512 * KB, limit: 400 * KB },
        PdfRejection::NoPages,
        PdfRejection::Unreadable { detail: "x".into() },
    ];
    for rejection in &all {
        let zh = rejection.message_zh();
        let en = rejection.message_en();
        assert!(zh.contains('请'), "{zh}");
        assert!(en.contains("upload"), "{en}");
        assert_eq!(rejection.to_string(), en);
        assert!(!rejection.code().is_empty());
    }
    assert_eq!(all[4].message_zh(), "第 3 页大小为 512 KB，超过每页 400 KB 的限制，请压缩后重新上传");
    assert_eq!(all[4].message_en(), "Page 3 is 512 KB, over the 400 KB a page limit: compress it and upload again");
    assert_eq!(all[0].message_zh(), "只可上传后缀名为 pdf 的文件，请上传 .pdf 文件");
}

#[test]
fn limits_come_from_the_attachment_slot() {
    let slot: certflow_core::model::AttachmentSlot = serde_json::from_value(serde_json::json!({
        "label": {"zh": "随附单据", "en": "Supporting documents"},
        "accept": ["pdf"],
        "max_file_bytes": 4194304,
        "max_page_bytes": 409600,
        "max_files": 20,
    }))
    .unwrap();
    assert_eq!(PdfLimits::from(&slot), LIMITS);
}

/// One random change to a file's bytes.
fn mutate(rng: &mut Rng, original: &[u8]) -> Vec<u8> {
    let mut bytes = original.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = bytes.len().max(1);
        match rng.below(8) {
            0 => {
                let at = rng.below(len);
                if let Some(byte) = bytes.get_mut(at) {
                    *byte ^= 1 << rng.below(8);
                }
            }
            1 => {
                let at = rng.below(len);
                if let Some(byte) = bytes.get_mut(at) {
                    *byte = rng.next() as u8;
                }
            }
            2 => {
                // A digit changed: offsets, lengths, object numbers.
                let digits: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i].is_ascii_digit()).collect();
                if !digits.is_empty() {
                    let at = digits[rng.below(digits.len())];
                    bytes[at] = b'0' + rng.below(10) as u8;
                }
            }
            3 => {
                let at = rng.below(len);
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at.min(bytes.len())..end);
            }
            4 => {
                let at = rng.below(len).min(bytes.len());
                let count = rng.below(16);
                let insert = rng.bytes(count);
                bytes.splice(at..at, insert);
            }
            5 => {
                // A chunk of the file copied elsewhere.
                let from = rng.below(len).min(bytes.len());
                let end = (from + rng.below(256)).min(bytes.len());
                let chunk = bytes[from..end].to_vec();
                let at = rng.below(len).min(bytes.len());
                bytes.splice(at..at, chunk);
            }
            6 => {
                // PDF syntax characters.
                let tokens: [&[u8]; 8] = [b"<<", b">>", b"[", b"]", b" R ", b"obj", b"endstream", b"/Length 99999999"];
                let at = rng.below(len).min(bytes.len());
                let token = tokens[rng.below(tokens.len())].to_vec();
                bytes.splice(at..at, token);
            }
            _ => {
                let cut = rng.below(len);
                bytes.truncate(cut.max(bytes.len() / 2));
            }
        }
    }
    bytes
}

#[test]
fn random_mutations_never_panic() {
    let pages = [PageSpec::default(), PageSpec { image_bytes: 3_000 }, PageSpec::default()];
    let mut doc = build(&pages, 2_000);
    let plain = bytes_of(&mut doc);
    doc.compress();
    let compressed = bytes_of(&mut doc);
    let nested = nested_forms(5);
    let originals = [plain, compressed, nested];
    let mut rng = Rng(0x00c0_ffee_d00d_f00d);
    let mut outcomes: BTreeMap<&'static str, usize> = BTreeMap::new();
    for round in 0..2_000 {
        let original = &originals[round % originals.len()];
        let bytes = mutate(&mut rng, original);
        let outcome = match check_pdf("fuzz.pdf", &bytes, &LIMITS) {
            Ok(_) => "accepted",
            Err(rejection) => rejection.code(),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    assert_eq!(outcomes.values().sum::<usize>(), 2_000);
    assert!(outcomes.len() > 1, "{outcomes:?}");
}
