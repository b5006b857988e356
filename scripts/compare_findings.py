"""Compare the findings.json of two demo (or batch) output folders, audit by audit.

    python scripts/compare_findings.py BEFORE_DIR AFTER_DIR

Timestamps, durations, absolute paths and the tool version are masked first, so two runs of
the same inputs compare equal; everything else (bottom line, every control's status, every
rule result, evidence fingerprints...) must match. Exit 0 when every audit matches, 1 with
the differing keys listed otherwise, 2 when a folder holds no findings.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

MASKED_KEYS = {"generated_at", "started_at", "scanned_at", "tool_version"}
"""Keys whose value is the moment of the run (or the tool's version), wherever they stand."""
MASKED_PATHS = {"/inputs/hashes/scan_results"}
"""The scan file's hash: the file records when the endpoints were scanned."""


def normalise(value: Any, roots: tuple[str, ...], where: str = "") -> Any:
    """The record with run-specific values masked and both output folders named <root>."""
    if isinstance(value, dict):
        return {
            k: "<masked>"
            if k in MASKED_KEYS or f"{where}/{k}" in MASKED_PATHS
            else normalise(v, roots, f"{where}/{k}")
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalise(v, roots, where) for v in value]
    if isinstance(value, str):
        for root in roots:
            value = value.replace(root, "<root>")
        return value
    return value


def differences(a: Any, b: Any, where: str = "") -> list[str]:
    if type(a) is not type(b):
        return [f"{where or '/'}: {a!r} != {b!r}"]
    if isinstance(a, dict):
        found = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                found.append(f"{where}/{key}: only in {'after' if key in b else 'before'}")
            else:
                found += differences(a[key], b[key], f"{where}/{key}")
        return found
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} items != {len(b)} items"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in differences(x, y, f"{where}[{i}]")
        ]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def records(folder: Path) -> dict[str, Path]:
    return {p.parent.name: p for p in sorted(folder.glob("*/findings.json"))}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    before_dir, after_dir = (Path(a).resolve() for a in argv)
    before, after = records(before_dir), records(after_dir)
    if not before or not after:
        print(f"no findings.json under {before_dir if not before else after_dir}", file=sys.stderr)
        return 2
    roots = (str(before_dir), str(after_dir))
    failed = False
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            print(f"{name}: only in {'after' if name in after else 'before'}")
            failed = True
            continue
        a = normalise(json.loads(before[name].read_text("utf-8")), roots)
        b = normalise(json.loads(after[name].read_text("utf-8")), roots)
        diff = differences(a, b)
        print(f"{name}: {'same' if not diff else f'{len(diff)} difference(s)'}")
        for line in diff[:40]:
            print(f"  {line}")
        failed = failed or bool(diff)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
