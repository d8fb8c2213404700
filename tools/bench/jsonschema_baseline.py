"""Python's jsonschema on the schema and document the Rust benchmark exported.

Prints the median time of one validation in microseconds. Usage:
    python3 jsonschema_baseline.py DIR   (DIR holds schema.json and document.json)
"""
import json
import statistics
import sys
import time

import jsonschema


def main() -> None:
    directory = sys.argv[1]
    with open(f"{directory}/schema.json", encoding="utf-8") as f:
        schema = json.load(f)
    with open(f"{directory}/document.json", encoding="utf-8") as f:
        document = json.load(f)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = list(validator.iter_errors(document))
    if errors:
        sys.exit(f"baseline document is invalid for Python jsonschema: {errors[0].message}")
    samples = []
    deadline = time.perf_counter() + 5.0
    while time.perf_counter() < deadline or len(samples) < 50:
        started = time.perf_counter()
        for _ in validator.iter_errors(document):
            pass
        samples.append(time.perf_counter() - started)
    print(f"{statistics.median(samples) * 1e6:.1f}")


if __name__ == "__main__":
    main()
