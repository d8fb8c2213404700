#!/usr/bin/env python3
"""Render a document type's Typst layout with a sample, the way the engine does.

Usage:
    python3 tools/templates/preview.py DOCTYPE [--sample FILE] [--variant V ...]
                                       [--status CODE] [--margins=LEFT,TOP] [--number KEY=NO]
                                       [--rows TABLE=N] [--format pdf|png|svg] [--ppi N]
                                       [--out DIR] [--keep DIR] [--strict]
    python3 tools/templates/preview.py --all [--out DIR] [--strict]

For each variant it assembles the `/data.json` of certificate-templates/README.md
(variant, doctype, document, status, numbers, issue_date, params, form,
verification, margins, stationery) from the bundle's YAML and the sample,
writes it with a stand-in `/certflow/qr.svg` into a scratch copy of
certificate-templates/, and compiles the type's entry file with the Python
binding of Typst (`pip install typst`, the compiler version the engine uses).
Fonts are limited to what the engine offers: Typst's bundled fonts plus the
Noto CJK fonts of Debian's fonts-noto-cjk (system fonts are ignored), so an
"unknown font" warning here is one in production too.

  DOCTYPE           a concrete document type id (see `certflow doctypes`)
  --sample FILE     the document (JSON); default: the type's `sample:`
  --variant V       check, draft, final, overlay, a4 (repeatable); default: all the type offers
  --status CODE     a workflow state, shown as `status` (default: none, as for a sample)
  --margins=L,T     the overlay shift in millimetres (default 0,0; write --margins=-5,2 for negatives)
  --number K=NO     a number of `numbers` (business_no, customs_no, unified_no); by default only
                    customs_no is set, from the document's cert_no
  --rows T=N        repeat the lines of table T up to N lines (continuation sheets)
  --format          pdf (default), png or svg; png/svg write one file per page
  --out DIR         where the output goes (default: ./preview)
  --keep DIR        also keep the scratch project (data.json, qr.svg) in DIR
  --strict          exit 1 on any compiler warning
  --all             every type that has a layout, with its sample, in all its variants

The stand-in QR code is not a QR code (the engine draws the real one from
`verification.url`): it only has the right size and look.

Requires PyYAML (`python3 -c "import yaml"`; `pip install pyyaml` if missing)
and typst. Nothing else outside the standard library.
"""

import argparse
import copy
import datetime
import glob
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile

try:
    import yaml
except ImportError:  # pragma: no cover
    sys.exit("preview: PyYAML is needed (pip install pyyaml)")
try:
    import typst
except ImportError:  # pragma: no cover
    sys.exit("preview: the typst Python package is needed (pip install typst)")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORMS = os.path.join(REPO, "forms")
TEMPLATES = os.path.join(REPO, "certificate-templates")
VARIANTS = ["check", "draft", "final", "overlay", "a4"]
# The fonts the engine gives Typst besides its bundled ones (certificate-templates/README.md).
FONT_DIRS = [d for d in ["/usr/share/fonts/opentype/noto"] if os.path.isdir(d)]
VERIFY_URL = "https://certflow.example/verify/{no}"


def load_defs():
    """All definitions under forms/, by kind and id."""
    defs = {"param_table": {}, "workflow": {}, "doctype": {}}
    for path in glob.glob(os.path.join(FORMS, "**", "*.yaml"), recursive=True):
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
        if not isinstance(data, dict) or len(data) != 1:
            continue
        kind, body = next(iter(data.items()))
        if kind in defs:
            defs[kind][str(body["id"])] = body
    return defs


def merge_fields(base, child):
    """Fields merged per property; new fields appended (docs/bundle-format.md, `extends`)."""
    out = copy.deepcopy(base)
    for fid, f in (child or {}).items():
        out[fid] = {**out.get(fid, {}), **(f or {})}
    return out


def resolve(defs, type_id):
    """The type with its `extends` chain folded in, like the engine's compiler."""
    raw = defs["doctype"][type_id]
    if raw.get("extends"):
        merged = resolve(defs, raw["extends"])
    else:
        merged = {"fields": {}, "tables": {}, "layout": {}}
    out = copy.deepcopy(merged)
    for key in ("name", "format_code", "category", "workflow", "numbering", "sample", "rules", "sections"):
        if key in raw:
            out[key] = raw[key]
    out["id"] = raw["id"]
    out["abstract"] = raw.get("abstract", False)
    out["fields"] = merge_fields(out.get("fields", {}), raw.get("fields"))
    tables = out.get("tables", {})
    for tid, t in (raw.get("tables") or {}).items():
        base_t = tables.get(tid, {"fields": {}})
        new_t = {**base_t, **{k: v for k, v in t.items() if k not in ("fields", "remove")}}
        new_t["fields"] = merge_fields(base_t.get("fields", {}), t.get("fields"))
        for r in t.get("remove", []) or []:
            new_t["fields"].pop(r, None)
        tables[tid] = new_t
    out["tables"] = tables
    for r in raw.get("remove", []) or []:
        out["fields"].pop(r, None)
        out["tables"].pop(r, None)
    layout = dict(out.get("layout") or {})
    layout.update(raw.get("layout") or {})
    out["layout"] = layout
    return out


def text(t):
    """A bilingual text as the engine passes it: `en` falls back to `zh`."""
    t = t or {}
    return {"zh": t.get("zh", ""), "en": t.get("en") or t.get("zh", "")}


def form_of(ty):
    """`form` of data.json: sections with their fields (label, param) or table."""
    def field(fid, f):
        return {"id": fid, "label": text(f.get("label")), "param": f.get("param")}

    sections = ty.get("sections")
    if sections is None:
        sections = [{"id": "main", "label": {"zh": "基本信息", "en": "Basic information"},
                     "fields": list(ty["fields"])}]
        sections += [{"id": t, "label": ty["tables"][t].get("label"), "table": t} for t in ty["tables"]]
    out = []
    for s in sections:
        table = None
        if s.get("table") in ty["tables"]:
            t = ty["tables"][s["table"]]
            table = {"id": s["table"], "label": text(t.get("label")),
                     "fields": [field(fid, f) for fid, f in t["fields"].items()]}
        out.append({"id": s["id"], "label": text(s["label"]),
                    "fields": [field(fid, ty["fields"][fid]) for fid in s.get("fields", []) if fid in ty["fields"]],
                    "table": table})
    return {"sections": out}


def params_of(defs, ty):
    """`params`: every parameter table the type's fields use, {table: {code: {zh, en}}}."""
    used = {f.get("param") for f in ty["fields"].values()}
    for t in ty["tables"].values():
        used |= {f.get("param") for f in t["fields"].values()}
    out = {}
    for tid in sorted(p for p in used if p):
        rows = defs["param_table"][tid]["rows"]
        # as the engine does: a row without an English name gives its Chinese one
        out[tid] = {str(r["code"]): {"zh": r["zh"], "en": r.get("en") or r["zh"]} for r in rows}
    return out


def stand_in_qr(text, modules=29):
    """An SVG that looks like a QR code of `text` (finder patterns, pseudo-random modules)."""
    bits = "".join(f"{b:08b}" for b in hashlib.sha256(text.encode()).digest() * 8)
    cells = []

    def finder(x0, y0):
        for y in range(7):
            for x in range(7):
                if x in (0, 6) or y in (0, 6) or (2 <= x <= 4 and 2 <= y <= 4):
                    cells.append((x0 + x, y0 + y))

    for x0, y0 in ((0, 0), (modules - 7, 0), (0, modules - 7)):
        finder(x0, y0)
    reserved = lambda x, y: (x < 8 and y < 8) or (x >= modules - 8 and y < 8) or (x < 8 and y >= modules - 8)
    i = 0
    for y in range(modules):
        for x in range(modules):
            if reserved(x, y):
                continue
            if bits[i % len(bits)] == "1":
                cells.append((x, y))
            i += 1
    rects = "".join(f'<rect x="{x + 4}" y="{y + 4}" width="1" height="1"/>' for x, y in cells)
    size = modules + 8
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/><g fill="#000">{rects}</g></svg>')


def data_json(defs, ty, document, variant, status=None, margins=(0.0, 0.0), numbers=None):
    layout = ty.get("layout") or {}
    workflow = defs["workflow"].get(ty.get("workflow") or "", {})
    status_obj = None
    if status:
        state = (workflow.get("states") or {}).get(status)
        if state is None:
            sys.exit(f"preview: `{status}` is not a state of workflow `{ty.get('workflow')}`")
        status_obj = {"code": status, "label": text(state["label"])}
    cert_no = document.get("cert_no") or None
    issue_date = document.get("issue_date") or datetime.date.today().isoformat()
    verify_no = cert_no or "C" + issue_date[:4] + "0" * 13
    return {
        "variant": variant,
        "doctype": {"id": ty["id"], "name": text(ty["name"]), "format_code": ty.get("format_code")},
        "document": document,
        "status": status_obj,
        "numbers": {"business_no": None, "customs_no": cert_no, "unified_no": None, **(numbers or {})},
        "issue_date": issue_date,
        "params": params_of(defs, ty),
        "form": form_of(ty),
        "verification": {"url": VERIFY_URL.format(no=verify_no), "qr": "/certflow/qr.svg"},
        "margins": {"left": margins[0], "top": margins[1]},
        "stationery": layout.get("stationery"),
    }


def grow_rows(document, spec):
    """--rows goods=200: repeat the table's lines up to N lines."""
    table, n = spec.split("=", 1)
    rows = document.get(table) or []
    if not rows:
        sys.exit(f"preview: the sample has no `{table}` lines to repeat")
    document[table] = [copy.deepcopy(rows[i % len(rows)]) for i in range(int(n))]


def render(ty_id, ty, data, out_dir, fmt, ppi, keep=None):
    """Compile one variant; returns (output paths, warnings)."""
    scratch = tempfile.mkdtemp(prefix="certflow-preview-")
    try:
        project = os.path.join(scratch, "project")
        shutil.copytree(TEMPLATES, project)
        with open(os.path.join(project, "data.json"), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
        os.makedirs(os.path.join(project, "certflow"), exist_ok=True)
        with open(os.path.join(project, "certflow", "qr.svg"), "w", encoding="utf-8") as f:
            f.write(stand_in_qr(data["verification"]["url"]))
        os.makedirs(out_dir, exist_ok=True)
        base = os.path.join(out_dir, f"{ty_id}-{data['variant']}")
        output = base + ".pdf" if fmt == "pdf" else base + "-{p}." + fmt
        compiler = typst.Compiler(root=project, font_paths=FONT_DIRS, ignore_system_fonts=True)
        _, warnings = compiler.compile_with_warnings(
            input=os.path.join(project, ty["layout"]["template"]), output=output, format=fmt, ppi=ppi)
        if keep:
            shutil.copytree(project, os.path.join(keep, f"{ty_id}-{data['variant']}"), dirs_exist_ok=True)
        outputs = [output] if fmt == "pdf" else sorted(glob.glob(base + "-*." + fmt))
        return outputs, [str(w) for w in warnings]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("doctype", nargs="?")
    ap.add_argument("--sample")
    ap.add_argument("--variant", action="append", choices=VARIANTS)
    ap.add_argument("--status")
    ap.add_argument("--margins", default="0,0")
    ap.add_argument("--rows", action="append", default=[])
    ap.add_argument("--number", action="append", default=[])
    ap.add_argument("--format", default="pdf", choices=["pdf", "png", "svg"])
    ap.add_argument("--ppi", type=float, default=None)
    ap.add_argument("--out", default="preview")
    ap.add_argument("--keep")
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--all", action="store_true")
    args = ap.parse_args(argv)

    defs = load_defs()
    if args.all:
        ids = sorted(i for i, d in defs["doctype"].items()
                     if not d.get("abstract") and (resolve(defs, i).get("layout") or {}).get("template"))
    elif args.doctype:
        if args.doctype not in defs["doctype"]:
            sys.exit(f"preview: no document type `{args.doctype}`")
        ids = [args.doctype]
    else:
        ap.error("give a DOCTYPE or --all")

    margins = tuple(float(x) for x in args.margins.split(","))
    numbers = {}
    for spec in args.number:
        key, no = spec.split("=", 1)
        if key not in ("business_no", "customs_no", "unified_no"):
            ap.error(f"--number: `{key}` is not business_no, customs_no or unified_no")
        numbers[key] = no
    failed = False
    for ty_id in ids:
        ty = resolve(defs, ty_id)
        layout = ty.get("layout") or {}
        if not layout.get("template"):
            sys.exit(f"preview: `{ty_id}` has no layout")
        sample = args.sample if (args.sample and not args.all) else (
            os.path.join(FORMS, ty["sample"]) if ty.get("sample") else None)
        if not sample:
            sys.exit(f"preview: `{ty_id}` has no sample; give --sample")
        with open(sample, encoding="utf-8") as f:
            document = json.load(f)
        for spec in args.rows:
            grow_rows(document, spec)
        offered = layout.get("variants") or VARIANTS
        for variant in (args.variant if args.variant and not args.all else offered):
            if variant not in offered:
                print(f"{ty_id}: does not offer {variant}", file=sys.stderr)
                continue
            data = data_json(defs, ty, document, variant, args.status, margins, numbers)
            try:
                outputs, warnings = render(ty_id, ty, data, args.out, args.format, args.ppi, args.keep)
            except typst.TypstError as e:
                failed = True
                print(f"{ty_id} {variant}: error: {e}", file=sys.stderr)
                continue
            for w in warnings:
                print(f"{ty_id} {variant}: warning: {w}", file=sys.stderr)
            failed |= args.strict and bool(warnings)
            print(f"{ty_id} {variant}: {', '.join(os.path.relpath(o) for o in outputs)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
