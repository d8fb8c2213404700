#!/usr/bin/env python3
"""Build forms/params/<id>.yaml parameter tables from the shared reference data.

Usage:
    python3 tools/params/build_params.py [REFERENCE_DATA_DIR] [--out DIR] [--check]

REFERENCE_DATA_DIR defaults to ../shared/reference-data relative to the
repository root (the directory two levels above this script). --out defaults
to <repo>/forms/params. With --check nothing is written: the script exits 1
when a generated file is missing or differs from what it would write.

Only python3's standard library is used. Output is deterministic: rows keep
the CSV's order (merged tables are sorted by code), every code is written as a
quoted YAML string, and the files end with a newline.

Hand-written tables in forms/params (import-cert-type, notice-operation-type,
import-notice-status) are not touched.

blank-certificate-format (空白证书格式, the stationery of BL-1 and SP-3) is built
from certificate_formats_catalogue.csv: the formats whose single-window code is
known (no trailing "?"), keyed by that code, with the short name the manual
shows (C1-1检验证书, Ce-1空白证书 …).
"""

import argparse
import csv
import json
import os
import re
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_REFERENCE = os.path.normpath(os.path.join(REPO_ROOT, "..", "shared", "reference-data"))
DEFAULT_OUT = os.path.join(REPO_ROOT, "forms", "params")
SCRIPT = "tools/params/build_params.py"

# Upstream sources, as given in reference-data/README.md.
HXT = "ryanrong95/HXT BvnErp.Chains_SIT/Needs.Chain.Customs.Services/Enums/DeclarationBase.cs"
WELOGIX = "WeLogix/welogix-saas-web common/constants/cmsciq.js, cms.js"
FAKER = "SuperMidFaker/Faker common/constants/cms.js at 34118d824"


def simple(table_id, csv_name, zh, en, upstream, code_col="code", zh_col="name_zh",
           en_col=None, extra=None, notes=None):
    return {
        "id": table_id,
        "csv": [csv_name],
        "name": (zh, en),
        "upstream": upstream,
        "code_col": code_col,
        "zh_col": zh_col,
        "en_col": en_col,
        "extra": extra or [],
        "notes": notes or [],
    }


TABLES = [
    simple("country", "customs_country_region_codes.csv", "国别（地区）", "Countries and regions",
           "HXT BaseCountry; " + HXT, code_col="customs_code", en_col="name_en",
           notes=["English names follow ISO 3166 (Debian iso-codes); a trailing \"(the)\" is dropped."]),
    simple("unit", "customs_units_of_measure.csv", "计量单位", "Units of measure",
           "HXT BaseUnit; " + HXT),
    simple("package-type", "customs_package_type.csv", "包装种类", "Package types",
           "HXT BaseWrapType; " + HXT,
           notes=["May lack 98 植物性铺垫材料 (see reference-data/README.md)."]),
    simple("transport-mode", "customs_transport_mode.csv", "运输方式", "Transport modes",
           "HXT BaseTransport; " + HXT),
    simple("container-spec", "customs_container_spec_cus.csv", "集装箱规格", "Container sizes (customs)",
           "HXT BaseContainer (same as WeLogix CMS_CNTNR_SPEC_CUS); " + HXT),
    simple("ciq-container-spec", "ciq_container_spec_codes.csv", "集装箱规格（检验检疫）",
           "Container sizes (inspection and quarantine)", "Faker CIQ_CNTNR_MODE_CODE; " + FAKER),
    simple("qualification-type-import", "ciq_enterprise_qualification_types_import.csv",
           "企业资质类别（进口）", "Enterprise qualification types (import)",
           "WeLogix CIQ_ENT_QUALIF_TYPE_I; " + WELOGIX),
    simple("qualification-type-export", "ciq_enterprise_qualification_types_export.csv",
           "企业资质类别（出口）", "Enterprise qualification types (export)",
           "WeLogix CIQ_ENT_QUALIF_TYPE_E; " + WELOGIX),
    simple("attachment-category", "customs_attached_document_codes.csv", "随附单据类别",
           "Attached document categories", "WeLogix CMS_DECL_DOCU plus a Vue list (public code); " + WELOGIX,
           notes=["The CSV's per-row source is kept as a comment after each row."]),
    simple("applied-certificate", "ciq_applied_certificate_codes.csv", "申请单证", "Applied certificates",
           "WeLogix CIQ_APPL_CERTS; " + WELOGIX,
           extra=[("originals", "default_originals", int), ("copies", "default_copies", int)],
           notes=["Extra row keys: originals / copies = default numbers of originals and copies."]),
    simple("goods-use", "ciq_goods_use_to.csv", "用途", "Intended use of goods", "WeLogix CIQ 用途 list; " + WELOGIX),
    simple("currency", "customs_currency.csv", "币制", "Currencies", "HXT Currency; " + HXT, en_col="name_en"),
    simple("transaction-mode", "customs_transaction_mode.csv", "成交方式", "Transaction modes (Incoterms)",
           "HXT BaseTrade; " + HXT),
    simple("weight-unit", "ciq_weight_unit_codes.csv", "重量单位", "Weight units",
           "Faker CIQ_WT_UNIT_CODE; " + FAKER,
           notes=["A subset of the unit table."]),
    simple("ciq-package-type", "ciq_package_type_codes_partial.csv", "包装种类（检验检疫）",
           "Package types (inspection and quarantine)", "Faker CIQ_PACK_TYPE; " + FAKER,
           notes=["Partial list (see reference-data/README.md)."]),
]

# Rows that the CSV lacks but the manual names; written with a comment naming where they come from.
ADDED_ROWS = {
    "attachment-category": [
        ({"code": "10000005", "zh": "签证委托书（纸质）", "en": "Letter of authorisation for certificate application (paper)"},
         "not in the CSV: named by the manual, 4.2.1 出境证书申请 (随附单据文件类别 10000005-签证委托书（纸质）)"),
    ],
}

# customs-office: district rows (sourced) win over the recollected direct-office rows.
OFFICE_CSV_DISTRICT = "customs_district_codes_partial.csv"
OFFICE_CSV_DIRECT = "customs_direct_offices_recollection.csv"
# Names in the district CSV that carry annotations rather than a name; the CSV text stays in a comment.
OFFICE_NAME_FIXES = {
    "0101": "京机场关",
    "0202": "天津关区隶属海关",
}

YAML_RESERVED = {
    "", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n",
}
PLAIN_FIRST_BAD = set("-?:,[]{}#&*!|>'\"%@`")
PLAIN_ANY_BAD = re.compile(r"[,\[\]{}#]|: |:$|\s$|^\s")
NUMBERISH = re.compile(r"^[-+]?(\d[\d_]*(\.\d*)?|\.\d+)([eE][-+]?\d+)?$|^0[xob]|^\.(inf|nan)$", re.I)


def quoted(s):
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    return json.dumps(s, ensure_ascii=False)


def scalar(s):
    """A flow-context-safe YAML scalar: plain when unambiguous, else double-quoted."""
    if (s.lower() in YAML_RESERVED or s[0] in PLAIN_FIRST_BAD or PLAIN_ANY_BAD.search(s)
            or NUMBERISH.search(s)):
        return quoted(s)
    return s


def clean_en(s):
    s = s.strip()
    if s.endswith(" (the)"):
        s = s[: -len(" (the)")]
    return s


def read_csv(ref_dir, name):
    path = os.path.join(ref_dir, name)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows


def row_line(row, comment=None):
    parts = ["code: " + quoted(row["code"]), "zh: " + scalar(row["zh"])]
    if row.get("en"):
        parts.append("en: " + scalar(row["en"]))
    for key, value in row.items():
        if key in ("code", "zh", "en"):
            continue
        parts.append(key + ": " + (str(value) if isinstance(value, int) else scalar(value)))
    line = "    - {" + ", ".join(parts) + "}"
    if comment:
        line += "  # " + comment
    return line


def render(table_id, csv_names, name, source, notes, rows):
    """rows: list of (row dict, comment or None)."""
    codes = [r["code"] for r, _ in rows]
    dup = sorted({c for c in codes if codes.count(c) > 1})
    if dup:
        raise SystemExit(f"{table_id}: duplicate codes {dup}")
    for r, _ in rows:
        if not r["code"] or not r["zh"]:
            raise SystemExit(f"{table_id}: row without code or zh: {r}")
    lines = [f"# Generated by {SCRIPT} from {' + '.join(csv_names)} — do not edit by hand"]
    for note in notes:
        lines.append("# " + note)
    lines += [
        "param_table:",
        f"  id: {table_id}",
        f"  name: {{zh: {scalar(name[0])}, en: {scalar(name[1])}}}",
        f"  source: {quoted(source)}",
        "  rows:",
    ]
    lines += [row_line(r, c) for r, c in rows]
    return "\n".join(lines) + "\n"


def build_simple(ref_dir, spec):
    csv_name = spec["csv"][0]
    rows = []
    for rec in read_csv(ref_dir, csv_name):
        row = {"code": rec[spec["code_col"]].strip(), "zh": rec[spec["zh_col"]].strip()}
        if spec["en_col"] and rec.get(spec["en_col"], "").strip():
            row["en"] = clean_en(rec[spec["en_col"]])
        for key, col, conv in spec["extra"]:
            value = rec.get(col, "").strip()
            if value != "":
                row[key] = conv(value)
        comment = None
        if spec["id"] == "attachment-category" and rec.get("source"):
            comment = "source: " + rec["source"].strip()
        rows.append((row, comment))
    for row, comment in ADDED_ROWS.get(spec["id"], []):
        # after the last row whose code sorts before it, so the list stays in code order
        at = len(rows)
        while at > 0 and rows[at - 1][0]["code"] > row["code"]:
            at -= 1
        rows.insert(at, (row, comment))
    source = f"{csv_name} ({spec['upstream']})"
    return render(spec["id"], spec["csv"], spec["name"], source, spec["notes"], rows)


def build_customs_office(ref_dir):
    merged = {}
    for rec in read_csv(ref_dir, OFFICE_CSV_DIRECT):
        code = rec["code"].strip()
        merged[code] = ({"code": code, "zh": rec["name_zh"].strip()},
                        f"{OFFICE_CSV_DIRECT}: {rec['note'].strip()}")
    for rec in read_csv(ref_dir, OFFICE_CSV_DISTRICT):
        code = rec["code"].strip()
        zh = rec["name_zh"].strip()
        comment = f"{OFFICE_CSV_DISTRICT}: {rec['source'].strip()}"
        if code in OFFICE_NAME_FIXES:
            comment += f"; CSV name: {zh}"
            zh = OFFICE_NAME_FIXES[code]
        merged[code] = ({"code": code, "zh": zh}, comment)
    rows = [merged[c] for c in sorted(merged)]
    source = (f"{OFFICE_CSV_DISTRICT} (scattered public snippets, source per row) + "
              f"{OFFICE_CSV_DIRECT} (unverified recollection except rows marked sourced)")
    notes = [
        "Partial: no complete public 关区代码 table was found. Rows of the district CSV win over",
        "the direct-office recollection; each row's provenance is in its comment. Check before use.",
    ]
    return render("customs-office", [OFFICE_CSV_DISTRICT, OFFICE_CSV_DIRECT],
                  ("关区代码", "Customs offices"), source, notes, rows)


# blank-certificate-format: the catalogue's rows with a single-window code that is not a guess.
FORMATS_CSV = "certificate_formats_catalogue.csv"


def short_name(name):
    """The catalogue's name without a closing explanation in brackets: 检验证书（可按…） -> 检验证书,
    INSPECTION CERTIFICATE (or QUALITY …) -> INSPECTION CERTIFICATE; 兽医（卫生）证书 stays."""
    return re.sub(r"\s*[（(][^（）()]*[）)]$", "", name.strip())


def build_blank_formats(ref_dir):
    rows = []
    skipped = []
    for rec in read_csv(ref_dir, FORMATS_CSV):
        code = rec["presumed_single_window_code"].strip()
        if not code:
            continue  # country-specific formats: no code known
        if code.endswith("?"):
            skipped.append(code)
            continue
        row = {"code": code, "zh": short_name(rec["name_zh"])}
        title = rec["title_en_on_certificate"].strip()
        if title and not title.startswith("("):
            row["en"] = short_name(title)
        row["old_code"] = rec["old_ciq_format_code"].strip()
        row["group"] = rec["group_zh"].strip()
        rows.append((row, "confidence: " + rec["confidence"].strip()))
    source = f"{FORMATS_CSV} (sobd.cc/bkdq/922699.html, yksysm.top/1270.html, ISPM 12; see the confidence per row)"
    notes = [
        "Rows whose single-window code the catalogue only guesses (" + ", ".join(skipped) + ") are left out,",
        "as are the country-specific formats without a code. Ce-1/Ce-2/Ce-3 are the blank stationery",
        "printed per case (title filled in); their scope is the manual's (4.3 出境证书自助打印).",
        "Extra row keys: old_code = the pre-2018 CIQ format code, group = the catalogue's group.",
    ]
    return render("blank-certificate-format", [FORMATS_CSV], ("空白证书格式", "Blank certificate formats"),
                  source, notes, rows)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reference", nargs="?", default=DEFAULT_REFERENCE,
                    help="reference-data directory (default: ../shared/reference-data from the repo root)")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: forms/params)")
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if any file is stale")
    args = ap.parse_args(argv)
    if not os.path.isdir(args.reference):
        print(f"build_params: no reference-data directory at {args.reference}", file=sys.stderr)
        return 2

    outputs = {}
    for spec in TABLES:
        outputs[spec["id"]] = build_simple(args.reference, spec)
    outputs["customs-office"] = build_customs_office(args.reference)
    outputs["blank-certificate-format"] = build_blank_formats(args.reference)

    stale = []
    if not args.check:
        os.makedirs(args.out, exist_ok=True)
    for table_id in sorted(outputs):
        path = os.path.join(args.out, table_id + ".yaml")
        text = outputs[table_id]
        current = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                current = f.read()
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            print(f"wrote {os.path.relpath(path, REPO_ROOT)}")
    if stale:
        for path in stale:
            print(f"stale: {os.path.relpath(path, REPO_ROOT)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
