"""Benchmark: `auditlib traces` work on a reference-format export vs plain json.load + DataFrame.

Usage: python benchmarks/bench_traces.py [--records N [N ...]] [--repeat R]

For each size, one export in the ANS reference Proxy e-Santé format (`type, clientId,
IdRPPS, ipAddress, ports, proxy_id_session, session_state, dn, timestamp, apiRequest`)
is generated in a temporary folder. Each path then runs in its own child process, so
that its peak memory (VmHWM of its own address space) is its own:
- baseline: what anyone would write first, `json.load` then `pandas.DataFrame(records)`,
  no validation, no check;
- ours: `load_traces` (streaming, every record validated) + `analyse_traces` (every
  check of the packaged profile, statistics), as `auditlib traces FILE` does.
Times are measured inside the child around the work (imports excluded). Best of R runs,
interleaved. Target (issue 22): ratio <= 2.0 with bounded memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's auditlib

CHILD = """
import json, sys, time
path, which = sys.argv[1], sys.argv[2]
if which == "baseline":
    import pandas as pd
    t0 = time.perf_counter()
    with open(path, encoding="utf-8") as handle:
        records = json.load(handle)
    frame = pd.DataFrame(records)
    result = len(frame)
else:
    from auditlib.traces import TraceSettings, analyse_traces, load_traces
    from auditlib.traces.model import load_supervision_profile
    # Exports over the default limits (1 GiB, 5 M records) need them raised, as a user
    # would in a profile; the packaged profile otherwise.
    profile = load_supervision_profile()
    profile = profile.model_copy(
        update={"max_bytes": max(profile.max_bytes, 4 << 30), "max_records": 10_000_000}
    )
    t0 = time.perf_counter()
    export = load_traces(path, profile)
    analysis = analyse_traces(export, TraceSettings(profile=profile))
    result = len(analysis.findings)
seconds = time.perf_counter() - t0
peak = 0.0
with open("/proc/self/status") as status:  # VmHWM: this address space only (not inherited)
    for line in status:
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
print(json.dumps({"seconds": seconds, "result": result, "peak_mb": peak}))
"""


def run_child(path: Path, which: str) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, result) of one path in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), which],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    if proc.wait() != 0:
        raise SystemExit(f"{which} failed with exit code {proc.returncode}")
    data = json.loads(out)
    return float(data["seconds"]), float(data["peak_mb"]), int(data["result"])


def bench(records: int, repeat: int, reuse: Path | None = None) -> tuple[int, float]:
    """Generate an export of about `records` records (or reuse one), time both paths."""
    from auditlib.testing.traces import Anomaly, generate_traces

    with tempfile.TemporaryDirectory(prefix="bench-traces-") as tmp:
        started = time.perf_counter()
        if reuse is not None:
            path = reuse
            n, tail = 0, b""
            with open(path, "rb") as handle:  # records = `"type"` keys (5 bytes of overlap)
                for chunk in iter(lambda: handle.read(1 << 24), b""):
                    data = tail + chunk
                    n += data.count(b'"type"')
                    tail = data[-5:]
            origin = f"read from {path}"
        else:
            sends = 3
            sample = generate_traces(
                max(1, records // (sends + 2)),
                sends_per_session=sends,
                anomalies=[Anomaly.FAILURE_BURST, Anomaly.GAP],
            )
            path = sample.write(Path(tmp) / "traces.json")
            n = len(sample.records)
            del sample
            gc.collect()
            origin = f"generated in {time.perf_counter() - started:.1f} s"
        size = path.stat().st_size
        print(f"\n{n:,} reference-format records, {size / 1e6:.0f} MB ({origin})")
        best_base = best_ours = float("inf")
        rss_base = rss_ours = 0.0
        findings = 0
        for _ in range(repeat):
            seconds, rss, _ = run_child(path, "baseline")
            best_base, rss_base = min(best_base, seconds), max(rss_base, rss)
            seconds, rss, findings = run_child(path, "ours")
            best_ours, rss_ours = min(best_ours, seconds), max(rss_ours, rss)
        ratio = best_ours / best_base
        print(f"baseline json.load + pandas.DataFrame: {best_base:.2f} s, peak {rss_base:.0f} MB")
        print(
            f"auditlib load_traces + analyse_traces: {best_ours:.2f} s, peak {rss_ours:.0f} MB "
            f"({findings} findings)"
        )
        print(f"ratio: {ratio:.2f} (target <= 2.0); memory ratio {rss_ours / rss_base:.2f}")
        return n, ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 3_000_000])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--file", type=Path, help="time an existing export instead of generating one"
    )
    args = parser.parse_args()
    if args.file:
        args.records = [0]
    ratios = [bench(n, args.repeat, args.file) for n in args.records]
    print(
        "\nratio vs json.load + DataFrame: "
        + ", ".join(f"{n:,} records {r:.2f}x" for n, r in ratios)
    )


if __name__ == "__main__":
    main()
