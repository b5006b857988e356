"""The report's charts as SVG written directly vs the matplotlib implementation they
replace, side by side in one run (issue 22: 1,000 audits in 20 minutes).

For each demo provider, one audit is run once (not timed); then, per audit and per round,
both sides draw what one audit's notebook and report draw:
- the three report charts (`chart(run, name)` for `status_by_chapter`, `tls_matrix`,
  `certificate_timeline`) and their `figure_data_uri` (the report's embedding; the
  notebook shows the same encoded image);
- for an audit with supervision traces, `trace_chart` and `api_chart` and their data URIs.
Ours: `auditlib.report.charts` and `auditlib.traces.analysis` of this checkout. Baseline:
the same two modules as of the commit `--baseline` (default 0c26d2e, the last matplotlib
version), read with `git show` into a temporary folder and imported from there, so the
library keeps no copy of them. Both sides get a fresh `run.figures` each round; a first
round (not counted) pays the one-time costs (imports, matplotlib's font cache).

CPU seconds (`time.process_time`, this process) per audit, as the mean over `--rounds`
rounds of the six demo audits. Prints both, the mean size of an embedded chart, then (unless
`--no-pdf`) the CPU of printing each audit's report with Typst (`typeset.pdf_bytes`, once
per audit, each side in a process of its own) with our SVG charts and with the baseline's
PNGs in their place, and
last `ratio: <R>x` (baseline chart CPU per audit / ours).

Scans: `--observations FILE` (saved by `auditlib scan --save-observations` or the batch),
or `--scan-demo` (serves and scans the demo's endpoints once, under `flock
/tmp/demo.lock`), else none (the TLS matrix then shows the unscanned endpoints).

Usage: python benchmarks/bench_charts.py [--rounds 5] [--baseline 0c26d2e] [--no-pdf]
       [--observations FILE | --scan-demo]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from auditlib.audit.run import AuditRun, AuditSettings, run_audit  # noqa: E402
from auditlib.demo.data import DEMO_CLIENT_KEY_PASS, DEMO_CLIENT_KEY_PASS_ENV  # noqa: E402
from auditlib.registry import load_registry  # noqa: E402
from auditlib.report import charts  # noqa: E402
from auditlib.report.writer import render_html  # noqa: E402
from auditlib.tls.scan import save_observations  # noqa: E402
from auditlib.traces import analysis  # noqa: E402

DATA = ROOT / "data"
AUDIT_DATE = dt.date(2026, 11, 28)
BASELINE = "0c26d2e"
MODULES = {"charts": "auditlib/report/charts.py", "analysis": "auditlib/traces/analysis.py"}


def baseline_modules(commit: str, folder: Path) -> dict[str, ModuleType]:
    """The chart modules as of `commit`, imported from a temporary copy."""
    loaded = {}
    for name, path in MODULES.items():
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        file = folder / f"baseline_{name}.py"
        file.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(f"baseline_{name}", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        loaded[name] = module
    return loaded


def demo_runs(scans: Path) -> list[AuditRun]:
    os.environ.setdefault(DEMO_CLIENT_KEY_PASS_ENV, DEMO_CLIENT_KEY_PASS)
    providers = load_registry(DATA / "registry.yaml").providers
    return [
        run_audit(
            AuditSettings(
                provider_id=provider.id,
                audit_date=AUDIT_DATE,
                registry_path=DATA / "registry.yaml",
                checkpoints_path=DATA / "checkpoints_demo.xlsx",
                scan_results_path=scans,
            )
        )
        for provider in providers
    ]


def draw_all(
    run: AuditRun, chart_module: Any, analysis_module: Any, uri: Callable[[Any], str]
) -> list[str]:
    """What one audit draws: the report's charts and the supervision charts, embedded."""
    fresh = dataclasses.replace(run, figures={})
    uris = [uri(chart_module.chart(fresh, name)) for name in charts.CHARTS]
    for trace in run.traces:
        uris.append(uri(analysis_module.trace_chart(trace.export)))
        uris.append(uri(analysis_module.api_chart(trace.export)))
    return uris


def timed(
    runs: list[AuditRun], rounds: int, draw: Callable[[AuditRun], list[str]]
) -> tuple[float, list[str]]:
    """CPU seconds per audit (mean over `rounds`), and the last round's data URIs."""
    for run in runs:  # one-time costs: imports, font caches
        draw(run)
    uris: list[str] = []
    start = time.process_time()
    for _ in range(rounds):
        uris = [u for run in runs for u in draw(run)]
    return (time.process_time() - start) / (rounds * len(runs)), uris


PDF_CHILD = """
import sys, time
from auditlib.report import typeset
typeset.pdf_bytes("<!DOCTYPE html><html lang=fr><body><p>warm</p></body></html>")  # fonts
spent = 0.0
for path in sys.argv[1:]:
    html = open(path, encoding="utf-8").read()
    start = time.process_time()
    typeset.pdf_bytes(html)
    spent += time.process_time() - start
print(spent)
"""


def pdf_cpu(
    runs: list[AuditRun],
    ours: Callable[[AuditRun], list[str]],
    theirs: Callable[[AuditRun], list[str]],
    work: Path,
) -> tuple[float, float]:
    """CPU seconds per audit of printing the report with Typst: with our SVG charts, and
    with the baseline's PNGs put in their place (the same HTML otherwise). Each side in a
    process of its own: Typst memoises layout across compilations in one process, so the
    second of two near-identical pages would be cheaper whatever its images."""
    sides: list[list[str]] = [[], []]
    for index, run in enumerate(runs):
        html = render_html(dataclasses.replace(run, figures={}), "fr")
        swapped = html
        for svg, png in zip(ours(run), theirs(run), strict=True):
            assert svg in html
            swapped = swapped.replace(svg, png)
        for side, text in enumerate((html, swapped)):
            path = work / f"report-{index}-{side}.html"
            path.write_text(text, encoding="utf-8")
            sides[side].append(str(path))
    spent = []
    for files in sides:
        done = subprocess.run(
            [sys.executable, "-c", PDF_CHILD, *files],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        spent.append(float(done.stdout.split()[-1]) / len(runs))
    return spent[0], spent[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", default=BASELINE, help="commit of the matplotlib charts")
    parser.add_argument("--no-pdf", action="store_true", help="skip the Typst comparison")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--observations", type=Path, help="saved scan results")
    source.add_argument("--scan-demo", action="store_true", help="scan the demo's endpoints")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-charts-") as folder:
        work = Path(folder)
        if args.observations:
            scans = args.observations
        elif args.scan_demo:
            from bench_scale import scan_demo

            scans = scan_demo(work / "scans.json")
        else:
            scans = save_observations(work / "no-scan.json", [])
        runs = demo_runs(scans)
        old = baseline_modules(args.baseline, work)

        def ours(run: AuditRun) -> list[str]:
            return draw_all(run, charts, analysis, charts.figure_data_uri)

        def theirs(run: AuditRun) -> list[str]:
            return draw_all(run, old["charts"], old["analysis"], old["charts"].figure_data_uri)

        cpu_ours, uris_ours = timed(runs, args.rounds, ours)
        cpu_base, uris_base = timed(runs, args.rounds, theirs)
        pdf = None if args.no_pdf else pdf_cpu(runs, ours, theirs, work)

    scanned = sum(1 for run in runs if run.evaluations)
    print(f"audits: {len(runs)} demo providers ({scanned} with TLS results), {args.rounds} rounds")
    print(f"charts per round: {len(uris_ours)} (baseline: {len(uris_base)})")
    assert len(uris_ours) == len(uris_base)
    assert all(u.startswith("data:image/svg+xml;base64,") for u in uris_ours)
    assert all(u.startswith("data:image/png;base64,") for u in uris_base)
    size_ours = sum(len(u) for u in uris_ours) / len(uris_ours) / 1024
    size_base = sum(len(u) for u in uris_base) / len(uris_base) / 1024
    print(
        f"baseline (matplotlib, PNG {charts_dpi(old)} dpi, {args.baseline}): "
        f"{cpu_base:.4f} CPU-s per audit, {size_base:.0f} KiB per data URI"
    )
    print(f"ours (SVG written directly): {cpu_ours:.4f} CPU-s per audit, {size_ours:.0f} KiB")
    if pdf is not None:
        print(
            f"Typst report PDF: {pdf[0]:.3f} CPU-s per audit with SVG charts, "
            f"{pdf[1]:.3f} with PNG charts"
        )
    print(f"ratio: {cpu_base / cpu_ours:.1f}x")
    return 0


def charts_dpi(modules: dict[str, ModuleType]) -> int:
    return int(getattr(modules["charts"], "REPORT_DPI", 150))


if __name__ == "__main__":
    sys.exit(main())
