#!/usr/bin/python3
"""Validates a JSON document against one of docs/schema/*.schema.json (Debian's python3-jsonschema).
Usage: validate_json.py SCHEMA_DIR SCHEMA_NAME FILE   exit 0 valid, 1 invalid (with the reasons)."""
import json
import pathlib
import sys

import jsonschema

schema_dir, name, path = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
store = {p.name: json.loads(p.read_text()) for p in schema_dir.glob("*.schema.json")}
schema = store[name]
resolver = jsonschema.RefResolver(base_uri="", referrer=schema, store=store)
validator = jsonschema.Draft202012Validator(schema, resolver=resolver,
                                            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
errors = sorted(validator.iter_errors(json.loads(pathlib.Path(path).read_text())), key=lambda e: list(e.path))
for e in errors:
    print(f"{path}: {'/'.join(map(str, e.path)) or '(top)'}: {e.message}")
sys.exit(1 if errors else 0)
