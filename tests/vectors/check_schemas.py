#!/usr/bin/env python3
"""Check every vector file against its JSON Schema (draft 2020-12).

Run by `cargo xtask ci` (which installs the `jsonschema` package when missing). Prints
one libtest-style summary line so the xtask tallies each file as a test.
"""
import glob
import json
import os
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
passed, failed = 0, 0
for kind in ("session", "challenge"):
    schema = json.load(open(os.path.join(HERE, f"{kind}.schema.json")))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted(glob.glob(os.path.join(HERE, kind, "*.json")))
    if not files:
        print(f"no {kind} vectors found", file=sys.stderr)
        failed += 1
    for path in files:
        with open(path) as f:
            errors = list(validator.iter_errors(json.load(f)))
        name = f"{kind}/{os.path.basename(path)}"
        if errors:
            failed += 1
            print(f"test {name} ... FAILED")
            for e in errors[:5]:
                where = "/".join(str(p) for p in e.absolute_path)
                print(f"    at /{where}: {e.message[:200]}")
        else:
            passed += 1
            print(f"test {name} ... ok")
status = "ok" if failed == 0 else "FAILED"
print(f"test result: {status}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out")
sys.exit(1 if failed else 0)
