"""Benchmark: load + analyse a 1,000,000-record trace export vs a plain json.load + DataFrame.

Usage: python benchmarks/bench_traces.py [--records N] [--repeat R]

Both paths read the same generated file (in a temporary folder). The baseline is
what anyone would write first (`json.load` then `pandas.DataFrame(records)`), with
no validation and no checks; ours validates every record and runs every check.
Target: ratio <= 2.0. Best of R runs of each, interleaved.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's auditlib

from auditlib.testing.traces import Anomaly, generate_traces
from auditlib.traces import TraceSettings, analyse_traces, load_traces


def baseline(path: Path) -> int:
    with open(path, encoding="utf-8") as handle:
        records = json.load(handle)
    frame = pd.DataFrame(records)
    return len(frame)


def ours(path: Path, expected_dn: str) -> int:
    export = load_traces(path)
    analysis = analyse_traces(export, TraceSettings(expected_client_subject=expected_dn))
    return len(analysis.findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sends = 3
    sessions = max(1, args.records // (sends + 2))
    started = time.perf_counter()
    sample = generate_traces(
        sessions, sends_per_session=sends, anomalies=[Anomaly.FAILURE_BURST, Anomaly.GAP]
    )
    with tempfile.TemporaryDirectory(prefix="bench-traces-") as tmp:
        path = sample.write(Path(tmp) / "traces.json")
        size = path.stat().st_size
        n = len(sample.records)
        del sample
        gc.collect()
        print(
            f"generated {n:,} records, {size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s"
        )
        best_base = best_ours = float("inf")
        findings = 0
        for _ in range(args.repeat):
            gc.collect()
            t0 = time.perf_counter()
            baseline(path)
            best_base = min(best_base, time.perf_counter() - t0)
            gc.collect()
            t0 = time.perf_counter()
            findings = ours(path, "CN=lps.fournisseur-demo.fr,O=FOURNISSEUR DEMO,C=FR")
            best_ours = min(best_ours, time.perf_counter() - t0)
        print(f"baseline json.load + pandas.DataFrame: {best_base:.2f} s")
        print(f"auditlib load_traces + analyse_traces: {best_ours:.2f} s ({findings} findings)")
        print(f"ratio: {best_ours / best_base:.2f} (target <= 2.0)")


if __name__ == "__main__":
    main()
