"""A synthetic portfolio of N audits (default 120): `auditlib.batch.run_batch` vs the naive
papermill-CLI loop on a sample of them, side by side in one run, with the CPU seconds per
audit broken down by stage (issue 22).

The portfolio: the six demo providers cloned N/6 times (rounded up; the first N clones are
audited). Each clone is the demo provider's registry entry (registry format version 2) with
a fresh id (`<id>-cNNN`), name and habilitation numbers (references between the demo's
providers are renumbered inside each group of six, so each group is a self-consistent copy
of the demo's ecosystem), and a copy of its evidence bundle folder (or zip) whose manifest
names the clone. Certificates are NOT re-issued: the clones keep the demo's client
certificates and endpoints, and the bundle copies keep the demo's certificate files.

Scan results come from a file, nothing is scanned: by default an empty observations file
(`save_observations(path, [])`: no endpoint scanned, as `auditlib verdicts` does);
`--observations FILE` uses a saved scan (`auditlib scan --save-observations`);
`--scan-demo` serves the demo's endpoints (under `flock /tmp/demo.lock`), scans them once
before the timed runs and uses that (the clones share the demo's endpoints, so the reports
have their TLS pages, as the demo's do). Both sides get the same file.

Measured in one run:
1. `run_batch` on the N audits (its default: each notebook in a fork of a warm worker,
   `--workers` processes);
2. the naive loop (one `papermill` CLI process per audit, as bench_batch.py's
   `naive_script`) on a sample of `--sample` of them (default 6, spread over the providers);
3. the stage profile (`stage_probe.py` cells added to a copy of the notebook): one
   notebook through papermill's Python API with a cold kernel (CPU per stage inside the
   kernel, the kernel's start and papermill's client-side CPU), and five of the sampled
   audits through `run_batch` with one worker, as in 1. (mean CPU per stage, and
   what the batch spends outside the cells: fork, papermill's preparation, ledger; the
   worker's one-time start (its imports) is spread over those five);
then the sampled audits' findings.json compared (scripts/compare_findings.py's `normalise`
and `differences`). Prints `per audit: <s> s wall (<N> audits, <W> workers)` and last
`ratio vs naive loop: <R>x` (naive seconds per audit / ours per audit).

Usage: python benchmarks/bench_scale.py [--audits 120] [--sample 6] [--workers N]
       [--observations FILE | --scan-demo] [--keep DIR] [--no-profile]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_batch  # noqa: E402
from compare_findings import differences, normalise  # noqa: E402

from auditlib.audit.assess import AuditTrigger  # noqa: E402
from auditlib.batch.plan import PlannedAudit  # noqa: E402
from auditlib.batch.runner import (  # noqa: E402
    DEFAULT_NOTEBOOK,
    BatchSettings,
    audit_folder_name,
    run_batch,
    scan_due_endpoints,
)
from auditlib.demo.data import (  # noqa: E402
    DEMO_CLIENT_KEY_PASS,
    DEMO_CLIENT_KEY_PASS_ENV,
    DEMO_DATE,
)
from auditlib.demo.servers import start_demo_servers  # noqa: E402
from auditlib.registry import load_registry  # noqa: E402
from auditlib.tls.scan import ScanSettings, save_observations  # noqa: E402

DATA = ROOT / "data"
PROBE = Path(__file__).resolve().with_name("stage_probe.py")


# --------------------------------------------------------------------------- portfolio


def _renumber(value: str, mapping: dict[str, str]) -> str:
    return mapping.get(value, value)


def clone_bundle(source: Path, target: Path, provider_id: str) -> None:
    """Copy a bundle folder (or .zip) with its manifest naming `provider_id` (the manifest
    is not among the hashed items: every item keeps its bytes and SHA-256)."""

    def rename(text: str) -> str:
        manifest = yaml.safe_load(text)
        old = manifest["provider"]
        lines = text.splitlines(keepends=True)
        out = [
            f"provider: {provider_id}\n" if line.rstrip("\n") == f"provider: {old}" else line
            for line in lines
        ]
        if out == lines:
            raise SystemExit(f"{source}: no 'provider: {old}' line in manifest.yaml")
        return "".join(out)

    if source.is_dir():
        shutil.copytree(source, target)
        manifest = target / "manifest.yaml"
        manifest.write_text(rename(manifest.read_text("utf-8")), "utf-8")
        return
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if Path(info.filename).name == "manifest.yaml":
                data = rename(data.decode("utf-8")).encode("utf-8")
            zout.writestr(info, data)


def make_portfolio(work: Path, count: int) -> tuple[Path, list[str]]:
    """Write `work/registry.yaml` with the first `count` clones; return it and their ids."""
    raw = yaml.safe_load((DATA / "registry.yaml").read_text("utf-8"))
    if raw.get("version") != 2:
        raise SystemExit("data/registry.yaml is not registry format version 2")
    demo = raw["providers"]
    groups = -(-count // len(demo))
    providers: list[dict[str, Any]] = []
    for group in range(groups):
        suffix = f"c{group:03d}"
        mapping = {p["id"]: f"{p['id']}-{suffix}" for p in demo}
        for p in demo:
            for h in p.get("habilitations", []):
                mapping[h["number"]] = f"{h['number']}-{suffix.upper()}"
        for p in demo:
            if len(providers) == count:
                break
            clone = json.loads(json.dumps(p))  # a deep copy of plain YAML data
            clone["id"] = mapping[p["id"]]
            clone["name"] = f"{p['name']} (clone {group:03d})"
            clone["relies_on"] = [_renumber(x, mapping) for x in p.get("relies_on", [])]
            for h in clone.get("habilitations", []):
                h["number"] = mapping[h["number"]]
                h["relies_on"] = [_renumber(x, mapping) for x in h.get("relies_on", [])]
                if h.get("proxy"):
                    h["proxy"] = _renumber(h["proxy"], mapping)
            for e in clone.get("endpoints", []):
                if e.get("habilitation"):
                    e["habilitation"] = mapping[e["habilitation"]]
                for key in ("client_cert", "client_key"):
                    if e.get(key):
                        e[key] = str((DATA / e[key]).resolve())
            source = (DATA / p["evidence_bundle"]).resolve()
            target = work / "bundles" / (clone["id"] + (".zip" if source.is_file() else ""))
            target.parent.mkdir(parents=True, exist_ok=True)
            clone_bundle(source, target, clone["id"])
            clone["evidence_bundle"] = str(target)
            providers.append(clone)
    registry = work / "registry.yaml"
    registry.write_text(
        yaml.safe_dump({"version": 2, "providers": providers}, allow_unicode=True, sort_keys=False),
        "utf-8",
    )
    return registry, [p["id"] for p in providers]


def planned(provider_ids: list[str]) -> list[PlannedAudit]:
    day = DEMO_DATE.date()
    return [
        PlannedAudit(
            provider_id=pid,
            provider_name=pid,
            trigger=AuditTrigger.CERTIFICATE_EXPIRY,
            due_date=day + dt.timedelta(days=60),
            days_until_due=60,
            audit_date=day,
        )
        for pid in provider_ids
    ]


def sample_of(audits: list[PlannedAudit], size: int) -> list[PlannedAudit]:
    """`size` audits spread over the portfolio's groups, cycling through the six demo
    providers (audit i is clone group i // 6's copy of demo provider i % 6)."""
    size = min(size, len(audits))
    groups = -(-len(audits) // 6)
    picked: list[PlannedAudit] = []
    for i in range(size):
        index = min(((i * groups) // size) * 6 + i % 6, len(audits) - 1)
        while audits[index] in picked:
            index = (index + 1) % len(audits)
        picked.append(audits[index])
    return picked


def scan_demo(path: Path) -> Path:
    """Serve the demo's endpoints (its fixed ports, under `flock /tmp/demo.lock` as the
    brief asks), scan them once, save the observations and stop the servers. The clones
    keep the demo's endpoints, so this scan is every clone's."""
    import fcntl

    with open("/tmp/demo.lock", "a+") as lock, contextlib.ExitStack() as servers:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        start_demo_servers(servers, DATA)
        providers = load_registry(DATA / "registry.yaml").providers
        observations = scan_due_endpoints(
            providers, ScanSettings(ca_dir=DATA / "pki" / "ca", timeout=5)
        )
        return save_observations(path, observations)


# --------------------------------------------------------------------------- naive loop


def naive_script(
    audits: list[PlannedAudit], registry: Path, scans: Path, out: Path, notebook: Path
) -> str:
    """bench_batch.py's naive loop, reading the same scan results file as the batch."""
    return bench_batch.naive_script(
        audits, registry, DATA / "pki" / "ca", out, notebook, scan_results=scans
    )


# --------------------------------------------------------------------------- profile


def probed_notebook(notebook: Path, target: Path, dump: Path) -> Path:
    """A copy of the notebook with the stage probe installed after the parameters cell
    and its figures dumped by a last cell into `dump` (a folder: `<provider_id>.json`)."""
    nb = nbformat.read(str(notebook), as_version=4)
    at = next(
        i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])
    )
    install = (
        f"import sys\nsys.path.insert(0, {str(PROBE.parent)!r})\n"
        "import stage_probe\nstage_probe.install()"
    )
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(install))
    nb.cells.append(
        nbformat.v4.new_code_cell(f"stage_probe.dump({str(dump)!r} + '/' + provider_id + '.json')")
    )
    nbformat.write(nb, str(target))
    return target


def profile_one(audit: PlannedAudit, registry: Path, scans: Path, work: Path) -> dict[str, Any]:
    """One notebook through papermill's Python API with a cold kernel, probed."""
    import papermill as pm

    work.mkdir(parents=True, exist_ok=True)
    dump = work / "stages"
    dump.mkdir(exist_ok=True)
    notebook = probed_notebook(DEFAULT_NOTEBOOK, work / "probed.ipynb", dump)
    folder = work / audit_folder_name(audit.provider_id, audit.trigger, audit.audit_date)
    folder.mkdir(parents=True, exist_ok=True)
    params = audit.parameters(
        registry_path=registry,
        checkpoints_path=DATA / "checkpoints_demo.xlsx",
        output_dir=folder,
        scan_results_path=scans,
        ca_dir=DATA / "pki" / "ca",
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = time.process_time()
    start = time.perf_counter()
    pm.execute_notebook(
        str(notebook),
        str(folder / "audit_report.ipynb"),
        parameters={k: v for k, v in params.items() if v is not None},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(ROOT),
    )
    wall = time.perf_counter() - start
    client = time.process_time() - client
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    kernel = (after.ru_utime - children.ru_utime) + (after.ru_stime - children.ru_stime)
    record: dict[str, Any] = json.loads((dump / f"{audit.provider_id}.json").read_text("utf-8"))
    record.update(wall=wall, client_cpu=client, kernel_cpu=kernel)
    return record


def profile_warm(
    audits: list[PlannedAudit], registry: Path, scans: Path, work: Path
) -> dict[str, Any]:
    """The probed notebook through `run_batch` itself (one worker, forked notebooks): the mean
    of the in-kernel stages over `audits`, and the batch's CPU per audit (all processes)."""
    work.mkdir(parents=True, exist_ok=True)
    dump = work / "stages"
    dump.mkdir(exist_ok=True)
    notebook = probed_notebook(DEFAULT_NOTEBOOK, work / "probed.ipynb", dump)
    settings = BatchSettings(
        output_dir=work / "out",
        registry_path=registry,
        checkpoints_path=DATA / "checkpoints_demo.xlsx",
        notebook_path=notebook,
        workers=1,
        ca_dir=DATA / "pki" / "ca",
        scan_results_path=scans,
        force=True,
    )
    cpu0, start = time.process_time() + cpu_children(), time.perf_counter()
    result = run_batch(audits, settings)
    wall = time.perf_counter() - start
    cpu = time.process_time() + cpu_children() - cpu0
    if any(o.failure for o in result.outcomes):
        raise SystemExit(f"probed batch failed: {[o.failure for o in result.outcomes]}")
    records = [json.loads((dump / f"{a.provider_id}.json").read_text("utf-8")) for a in audits]
    n = len(records)
    mean: dict[str, Any] = {
        key: sum(r[key] for r in records) / n
        for key in ("kernel_cpu_at_first_cell", "imports", "cells_total")
    }
    mean["stages"] = {
        stage: sum(r["stages"].get(stage, 0.0) for r in records) / n
        for stage in dict.fromkeys(k for r in records for k in r["stages"])
    }
    mean.update(wall=wall / n, batch_cpu=cpu / n)
    return mean


def print_profile(cold: dict[str, Any], warm: dict[str, Any] | None) -> None:
    """CPU seconds per audit by stage: one cold notebook (papermill's Python API, a fresh
    kernel) and, when measured, the mean of the probed notebooks run by `run_batch`."""
    names = list(dict.fromkeys([*cold["stages"], *(warm["stages"] if warm else {})]))
    names.sort(key=lambda n: -cold["stages"].get(n, 0.0))

    def rows(r: dict[str, Any], batch: bool) -> dict[str, float]:
        out = {
            "kernel start / fork (to the first cell)": r["kernel_cpu_at_first_cell"],
            "imports (auditlib, pandas, PDF engine)": r["imports"],
        }
        out.update({n: r["stages"].get(n, 0.0) for n in names})
        out["other cells (display, IPython)"] = max(
            0.0, r["cells_total"] - sum(r["stages"].values())
        )
        inside = sum(out.values())
        if batch:
            out["outside the cells (worker start / 5, batch)"] = max(0.0, r["batch_cpu"] - inside)
        else:
            out["papermill client (nbclient, zmq, saves)"] = r["client_cpu"]
            rest = r["kernel_cpu"] - r["kernel_cpu_at_first_cell"] - r["imports"]
            out["kernel: interpreter start, shutdown"] = max(0.0, rest - r["cells_total"])
        return out

    a = rows(cold, False)
    b = rows(warm, True) if warm else {}
    print("CPU seconds per audit by stage:")
    print(f"  {'stage':<46} {'cold kernel':>11} {'batch (fork)':>13}")
    for name in dict.fromkeys([*a, *b]):
        left = f"{a[name]:9.2f} s" if name in a else " " * 11
        right = f"{b[name]:11.2f} s" if name in b else ""
        print(f"  {name:<46} {left} {right}")
    left = f"{sum(a.values()):9.2f} s"
    right = f"{sum(b.values()):11.2f} s" if b else ""
    print(f"  {'total':<46} {left} {right}")


OUTPUT_VIEW = {
    "report.html": "text but times and folders",
    "report.pdf": "text of every page but times",
    "grille.xlsx": "every cell of every sheet",
}


def output_content(root: Path, audit: PlannedAudit, kind: str) -> Any:
    """What an output says, without the generation time and the audit's folder."""
    import re

    name = audit_folder_name(audit.provider_id, audit.trigger, audit.audit_date)
    path = root / name / kind
    if not path.is_file():
        return None
    if kind == "grille.xlsx":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True)
        return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in book}
    if kind == "report.pdf":
        from pypdf import PdfReader

        text = "\f".join(page.extract_text() or "" for page in PdfReader(path).pages)
    else:
        text = path.read_text("utf-8")
        text = re.sub(
            re.escape(str(root)) + r"/(\.partial/)?" + re.escape(name) + r"[.\w-]*", "<out>", text
        )
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "<time>", text)


def notebook_content(root: Path, audit: PlannedAudit) -> Any:
    """An executed notebook without what differs from run to run: times, durations, cell
    ids, and the audit's folder (the batch's private `.partial/` folder, or the naive
    loop's)."""
    import re

    name = audit_folder_name(audit.provider_id, audit.trigger, audit.audit_date)
    path = root / name / "audit_report.ipynb"
    if not path.is_file():
        return None
    text = path.read_text("utf-8")
    text = re.sub(
        re.escape(str(root)) + r"/(\.partial/)?" + re.escape(name) + r"[.\w-]*", "<out>", text
    )
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "<time>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "<time>", text)
    text = re.sub(r'"duration": [0-9.e-]+', '"duration": 0', text)
    record = json.loads(text)
    # The batch passes every parameter, None included; the CLI loop only those it sets:
    # the notebook's default for each of those is None, so both mean the same.
    parameters = record["metadata"]["papermill"]["parameters"]
    record["metadata"]["papermill"]["parameters"] = {
        k: v for k, v in parameters.items() if v is not None
    }
    for cell in record["cells"]:
        cell.pop("id", None)
        if "injected-parameters" in cell["metadata"].get("tags", []):
            lines = "".join(cell["source"]).splitlines()
            cell["source"] = sorted(line for line in lines if not line.endswith(" = None"))
    return record


# --------------------------------------------------------------------------- main


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audits", type=int, default=120)
    parser.add_argument("--sample", type=int, default=6, help="audits of the naive loop (>= 6)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--observations", type=Path, help="saved scan results (default: none)")
    parser.add_argument(
        "--scan-demo",
        action="store_true",
        help="scan the demo's endpoints once (demo servers, under /tmp/demo.lock) and use that",
    )
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    parser.add_argument("--no-profile", action="store_true", help="skip the probed notebook")
    args = parser.parse_args()
    if args.sample < 6:
        parser.error("--sample must be at least 6")
    if args.audits < args.sample:
        parser.error("--audits must be at least --sample")
    os.environ.setdefault(DEMO_CLIENT_KEY_PASS_ENV, DEMO_CLIENT_KEY_PASS)

    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scale-")))
        work.mkdir(parents=True, exist_ok=True)
        for name in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
            os.environ.setdefault(name, str(work / "env" / name.lower()))
        registry, ids = make_portfolio(work / "portfolio", args.audits)
        if args.observations:
            scans = args.observations.resolve()
            scanned = f"saved scan {scans}"
        elif args.scan_demo:
            scans = scan_demo(work / "demo-scan.json")
            scanned = "the demo endpoints' scan, made once before the run"
        else:
            scans = save_observations(work / "no-scan.json", [])
            scanned = "empty observations file (nothing scanned)"
        audits = planned(ids)
        sample = sample_of(audits, args.sample)
        print(
            f"{len(audits)} audits ({len(ids)} cloned providers), naive sample {len(sample)}, "
            f"{args.workers} worker(s), {os.cpu_count()} CPU(s); scan results: {scanned}"
        )

        settings = BatchSettings(
            output_dir=work / "ours",
            registry_path=registry,
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            workers=args.workers,
            ca_dir=DATA / "pki" / "ca",
            scan_results_path=scans,
            force=True,
        )
        cpu0, start = time.process_time() + cpu_children(), time.perf_counter()
        result = run_batch(audits, settings)
        ours = time.perf_counter() - start
        ours_cpu = time.process_time() + cpu_children() - cpu0
        failed = [o for o in result.outcomes if o.failure]
        print(
            f"auditlib batch:     {ours:7.1f} s wall, {ours_cpu:7.1f} s CPU  "
            f"({len(audits)} audits, {len(failed)} failed)"
        )
        for o in failed[:3]:
            print(f"   {o.job.folder}: {o.failure}")

        script = work / "naive.sh"
        script.write_text(naive_script(sample, registry, scans, work / "naive", DEFAULT_NOTEBOOK))
        cpu0, start = cpu_children(), time.perf_counter()
        naive_rc = subprocess.run(["bash", str(script)], check=False).returncode
        naive = time.perf_counter() - start
        naive_cpu = cpu_children() - cpu0
        print(
            f"papermill CLI loop: {naive:7.1f} s wall, {naive_cpu:7.1f} s CPU  "
            f"({len(sample)} audits, exit {naive_rc})"
        )

        same = differ = missing = 0
        roots = (str(work / "ours"), str(work / "naive"))
        for audit in sample:
            name = audit_folder_name(audit.provider_id, audit.trigger, audit.audit_date)
            paths = [Path(root) / name / "findings.json" for root in roots]
            if not all(p.is_file() for p in paths):
                missing += 1
                print(f"   findings.json missing: {name}")
                continue
            a, b = (normalise(json.loads(p.read_text("utf-8")), roots) for p in paths)
            diff = differences(a, b)
            if diff:
                differ += 1
                print(f"   findings differ: {name}: {diff[:3]}")
            else:
                same += 1
        print(f"findings.json (sample): {same} identical, {differ} different, {missing} missing")
        same_nb = [
            notebook_content(work / "ours", audit) == notebook_content(work / "naive", audit)
            for audit in sample
        ]
        print(
            f"executed notebooks (sample, outputs and metadata but times and folders): "
            f"{sum(same_nb)} identical, {len(same_nb) - sum(same_nb)} different"
        )
        for kind in ("report.html", "report.pdf", "grille.xlsx"):
            same_out = [
                output_content(work / "ours", audit, kind)
                == output_content(work / "naive", audit, kind)
                for audit in sample
            ]
            print(
                f"{kind} (sample, {OUTPUT_VIEW[kind]}): "
                f"{sum(same_out)} identical, {len(same_out) - sum(same_out)} different"
            )

        if not args.no_profile:
            cold = profile_one(sample[0], registry, scans, work / "profile-cold")
            warm = profile_warm(sample[:5], registry, scans, work / "profile-warm")
            print_profile(cold, warm)

        ours_each = ours / len(audits)
        naive_each = naive / len(sample)
        print(f"naive per audit: {naive_each:.2f} s wall, {naive_cpu / len(sample):.2f} s CPU")
        print(f"ours CPU per audit: {ours_cpu / len(audits):.2f} s (all processes)")
        print(f"per audit: {ours_each:.2f} s wall ({len(audits)} audits, {args.workers} workers)")
        print(f"ratio vs naive loop: {naive_each / ours_each:.2f}x")
        return 0 if differ == 0 and missing == 0 and not failed and naive_rc == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
