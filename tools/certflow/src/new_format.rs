//! `certflow new-format ID --base BASE_ID`: scaffolds a certificate format on
//! a base of the bundle — the definition, a sample (the base's first
//! format's, retitled), a Typst layout on the shared library, and a scenario
//! file — so that it lints and tests at once and the analyst edits from there.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::{BundleArgs, load_bundle};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The new type's id, e.g. export-c2-3.
    id: String,
    /// The base (abstract) type or format it extends.
    #[arg(long)]
    base: String,
    /// The format code shown in lists, e.g. C2-3.
    #[arg(long)]
    format_code: Option<String>,
    /// Its name in Chinese.
    #[arg(long)]
    name_zh: Option<String>,
    /// Its name in English.
    #[arg(long)]
    name_en: Option<String>,
    #[command(flatten)]
    bundle: BundleArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let bundle = load_bundle(&args.bundle)?;
    if bundle.doctype(&args.id).is_some() || bundle.bases.contains_key(&args.id) {
        bail!("`{}` already exists", args.id);
    }
    if !args.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        bail!("`{}`: an id is lower-case letters, digits and '-'", args.id);
    }
    let base = bundle
        .doctype(&args.base)
        .or_else(|| bundle.bases.get(&args.base))
        .with_context(|| format!("there is no type `{}` to start from", args.base))?;
    // A sample to start from: the base's own, or that of a format built on it.
    let model = bundle
        .doctypes
        .values()
        .find(|t| (t.id == base.id || t.extends.contains(&base.id)) && t.sample.is_some() && t.layout.is_some())
        .with_context(|| format!("no format built on `{}` has a sample and a layout to start from", base.id))?;
    let code = args.format_code.clone().unwrap_or_else(|| args.id.trim_start_matches("export-").to_uppercase());
    let name_zh = args.name_zh.clone().unwrap_or_else(|| format!("{code}新证书格式"));
    let name_en = args.name_en.clone().unwrap_or_else(|| format!("{code} New certificate format"));
    let group = Path::new(&model.origin.file)
        .parent()
        .and_then(|p| p.file_name())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    let layout = model.layout.as_ref().expect("has a layout");
    let template_dir =
        Path::new(&layout.template).parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let template = format!("{template_dir}/{}.typ", args.id.trim_start_matches("export-"));
    let root = &args.bundle.bundle;
    let definition = root.join(format!("forms/doctypes/{group}/{}.yaml", args.id));
    let sample_path = root.join(format!("forms/samples/{}.json", args.id));
    let typ_path = root.join(format!("certificate-templates/{template}"));
    let scenario_path = root.join(format!("forms/scenarios/{}.yaml", args.id));
    for p in [&definition, &sample_path, &typ_path, &scenario_path] {
        if p.exists() {
            bail!("{} exists already", p.display());
        }
    }
    let category = model
        .category
        .as_ref()
        .map(|c| format!("  category: {{code: \"{}\", zh: {}, en: {}}}\n", c.code, c.zh, c.en))
        .unwrap_or_default();
    let extends = if bundle.bases.contains_key(&base.id) { base.id.clone() } else { model.id.clone() };
    write(
        &definition,
        &format!(
            "# {name_zh} — scaffolded by `certflow new-format` from `{}`: change the name,\n\
         # the default titles, the fields the format adds or removes, and its layout\n\
         # ({template}). docs/bundle-format.md says what each key means.\n\
         doctype:\n  id: {id}\n  extends: {extends}\n  abstract: false\n  name: {{zh: {name_zh}, en: \"{name_en}\"}}\n  format_code: {code}\n{category}\
         \x20 sample: samples/{id}.json\n  layout:\n    template: {template}\n{stationery}\
         \x20 fields:\n    title_zh: {{schema: {{default: {name_zh}}}}}\n    title_en: {{schema: {{default: \"{title_en}\"}}}}\n",
            model.id,
            id = args.id,
            stationery = layout.stationery.as_ref().map(|s| format!("    stationery: {s}\n")).unwrap_or_default(),
            title_en = name_en.to_uppercase(),
        ),
    )?;
    let mut sample = model.sample.clone().expect("has a sample");
    sample["title_zh"] = serde_json::json!(name_zh);
    sample["title_en"] = serde_json::json!(name_en.to_uppercase());
    write(&sample_path, &(serde_json::to_string_pretty(&sample)? + "\n"))?;
    let model_template = root.join(format!("certificate-templates/{}", layout.template));
    let typ =
        std::fs::read_to_string(&model_template).with_context(|| format!("reading {}", model_template.display()))?;
    write(
        &typ_path,
        &format!("// {name_zh}: scaffolded from {} — lay out the format's boxes here.\n{typ}", layout.template),
    )?;
    write(
        &scenario_path,
        &format!(
            "# Scenarios of {id} (`certflow test`): the sample is valid, a missing mark is\n\
         # refused, and the certificate shows its title.\nscenarios:\n  doctype: {id}\n  cases:\n\
         \x20   - name: the sample is valid\n      errors: []\n\
         \x20   - name: the marks are required\n      set: {{marks: null}}\n      errors: [\"marks [required]\"]\n\
         \x20   - name: the issued certificate shows its title\n      layout: {{variant: final, contains: [\"{title}\"]}}\n",
            id = args.id,
            title = name_en.to_uppercase(),
        ),
    )?;
    for p in [&definition, &sample_path, &typ_path, &scenario_path] {
        println!("created {}", p.display());
    }
    println!("next: edit them, then `certflow lint` and `certflow test`");
    Ok(ExitCode::SUCCESS)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
