"""Benchmark: `load_bundle` on a 500-item bundle vs plain `hashlib` hashing of the same files.

Both runs read every file from disk and compute its SHA-256; `load_bundle` also parses
and validates the manifest, walks the folder for unlisted files, builds the inventory and
the fingerprint. Target: ratio <= 1.3. Best of N runs each, interleaved, after a warm-up
(so both see a warm page cache).

    python benchmarks/bench_evidence.py [--items 500] [--size 131072] [--runs 5] [--zip]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import tempfile
import time
from pathlib import Path

from auditlib.demo.data import DEMO_DATE, manifest_entry, write_bundle, zip_folder
from auditlib.evidence import bundle as evidence
from auditlib.evidence.bundle import load_bundle

KINDS = ["other", "architecture_document", "bas_test_report", "supervision_trace_export"]


def build(folder: Path, items: int, size: int) -> list[Path]:
    files: dict[str, bytes] = {}
    entries = []
    day = (DEMO_DATE - dt.timedelta(days=5)).date()
    # one clean document de conformité and pentest so the bundle has no findings
    doc = "# Doc\n## Architecture\nx\n## Sécurité\ny\n## Mises à jour\nz\n".encode()
    files["conformite.md"] = doc
    entries.append(manifest_entry("conformite.md", doc, "document_conformite", [103], day))
    pentest = b"%PDF-1.4 pentest"
    files["pentest.pdf"] = pentest
    entries.append(
        manifest_entry(
            "pentest.pdf", pentest, "pentest_report", [115], day, pentest={"passi_firm": "X"}
        )
    )
    for i in range(items - 2):
        path = f"pieces/{i // 100:02d}/piece-{i:04d}.bin"
        data = os.urandom(size)
        files[path] = data
        entries.append(manifest_entry(path, data, KINDS[i % 4], [101 + i % 3], day))
    write_bundle(folder, "bench", files, entries)
    return sorted(p for p in folder.rglob("*") if p.is_file())


def plain_hashlib(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
        total += len(digest.hexdigest())
    return total


def best(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--size", type=int, default=128 * 1024, help="bytes per file")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--zip", action="store_true", help="also time the same bundle zipped")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-evidence-") as tmp:
        folder = Path(tmp) / "bundle"
        paths = build(folder, args.items, args.size)
        total_mb = sum(p.stat().st_size for p in paths) / 1e6

        def ours() -> None:
            bundle = load_bundle(folder, as_of=DEMO_DATE)
            assert bundle.usable and not bundle.findings, bundle.findings[:3]

        def baseline() -> None:
            plain_hashlib(paths)

        ours()
        baseline()  # warm-up
        t_ours = t_base = float("inf")
        for _ in range(args.runs):
            t_base = min(t_base, best(baseline, 1))
            t_ours = min(t_ours, best(ours, 1))
        # the same with hashing on one thread, to show what the threads contribute
        threads = evidence.HASH_WORKERS
        evidence.HASH_WORKERS = 1
        try:
            t_single = best(ours, args.runs)
        finally:
            evidence.HASH_WORKERS = threads
        print(f"bundle: {len(paths)} files (manifest included), {total_mb:.1f} MB")
        print(f"plain hashlib (baseline, 1 thread):  {t_base * 1000:8.1f} ms")
        print(f"load_bundle (folder, {threads} hash threads): {t_ours * 1000:8.1f} ms")
        print(f"load_bundle (folder, 1 hash thread):  {t_single * 1000:8.1f} ms")
        print(
            f"ratio: {t_ours / t_base:.2f} (target <= 1.3); "
            f"single-threaded: {t_single / t_base:.2f}"
        )
        if args.zip:
            archive = zip_folder(folder, Path(tmp) / "bundle.zip")
            t_zip = best(lambda: load_bundle(archive, as_of=DEMO_DATE), args.runs)
            print(f"load_bundle (zip, incl. extraction): {t_zip * 1000:8.1f} ms")
            print(f"zip ratio vs hashlib of the files: {t_zip / t_base:.2f} (informative)")


if __name__ == "__main__":
    main()
