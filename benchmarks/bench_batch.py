"""24 demo audits: `auditlib batch` (one scan, papermill's Python API in N spawned workers)
vs the naive way (a shell loop calling the `papermill` CLI once per audit, each notebook
scanning its own endpoints), side by side in one run, then the findings compared.

The demo providers' endpoints are served on 127.0.0.1 (kernel-chosen ports, written into
a copy of the demo registry) with the demo PKI's certificates; the 24 audits are the six
demo providers audited on four different days. Both sides use the same registry, the
same notebook and the same servers; each notebook's `findings.json` statuses (bottom line,
per requirement, per control) must be identical.

Usage: python benchmarks/bench_batch.py [--audits 24] [--workers N] [--keep DIR] [--also-cold]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from auditlib.audit.assess import AuditTrigger  # noqa: E402
from auditlib.batch.plan import PlannedAudit  # noqa: E402
from auditlib.batch.runner import DEFAULT_NOTEBOOK, BatchSettings, audit_folder_name, run_batch  # noqa: E402
from auditlib.demo.data import DEMO_CLIENT_KEY_PASS, DEMO_CLIENT_KEY_PASS_ENV, DEMO_DATE  # noqa: E402
from auditlib.demo.servers import start_demo_servers  # noqa: E402
from auditlib.registry import load_registry  # noqa: E402

DATA = ROOT / "data"


def serve_demo(stack: contextlib.ExitStack, work: Path) -> tuple[Path, Path]:
    """Start the demo's staged endpoints on the registry's ports (as `auditlib demo` does);
    return (registry, CA folder). `work` is unused: the registry is read in place."""
    del work
    start_demo_servers(stack, DATA)
    return DATA / "registry.yaml", DATA / "pki" / "ca"


def demo_audits(registry: Path, count: int) -> list[PlannedAudit]:
    providers = list(load_registry(registry))
    audits = []
    for index in range(count):
        provider = providers[index % len(providers)]
        day = DEMO_DATE.date() - dt.timedelta(days=index // len(providers))
        audits.append(
            PlannedAudit(
                provider_id=provider.id,
                provider_name=provider.name,
                trigger=AuditTrigger.CERTIFICATE_EXPIRY,
                due_date=day + dt.timedelta(days=60),
                days_until_due=60,
                audit_date=day,
            )
        )
    return audits


def naive_script(
    audits: list[PlannedAudit],
    registry: Path,
    ca_dir: Path,
    out: Path,
    notebook: Path,
    scan_results: Path | None = None,
) -> str:
    """The shell loop an auditor would write: one `papermill` process per audit (each
    notebook scans its endpoints, unless `scan_results` names a saved scan)."""
    papermill = Path(sys.executable).with_name("papermill")
    lines = ["set -u", f"cd {shlex.quote(str(ROOT))}", "status=0"]
    for audit in audits:
        folder = out / audit_folder_name(audit.provider_id, audit.trigger, audit.audit_date)
        params = audit.parameters(
            registry_path=registry,
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            output_dir=folder,
            scan_results_path=scan_results,
            ca_dir=ca_dir,
        )
        args = [str(papermill), str(notebook), str(folder / "audit_report.ipynb")]
        args += ["-k", "python3", "--no-progress-bar", "--cwd", str(ROOT)]
        for name, value in params.items():
            if value is not None:
                args += ["-p", name, value]
        lines.append(f"mkdir -p {shlex.quote(str(folder))}")
        lines.append(" ".join(shlex.quote(a) for a in args) + " >/dev/null 2>&1 || status=1")
    lines.append("exit $status")
    return "\n".join(lines) + "\n"


def statuses(folder: Path) -> dict[str, Any] | None:
    path = folder / "findings.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text("utf-8"))
    return {
        "bottom_line": record.get("bottom_line"),
        "by_requirement": record.get("by_requirement"),
        "controls": {c.get("ref"): c.get("status") for c in record.get("controls", [])},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audits", type=int, default=24)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--notebook", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    parser.add_argument(
        "--also-cold",
        action="store_true",
        help="also time our batch with --cold-kernels (what the warm kernels save)",
    )
    args = parser.parse_args()
    os.environ.setdefault(DEMO_CLIENT_KEY_PASS_ENV, DEMO_CLIENT_KEY_PASS)

    with contextlib.ExitStack() as stack:
        work = args.keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        work.mkdir(parents=True, exist_ok=True)
        for name in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
            os.environ.setdefault(name, str(work / "env" / name.lower()))
        registry, ca_dir = serve_demo(stack, work)
        audits = demo_audits(registry, args.audits)
        print(f"{len(audits)} audits, {args.workers} worker(s), {os.cpu_count()} CPU(s)")

        settings = BatchSettings(
            output_dir=work / "ours",
            registry_path=registry,
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            notebook_path=args.notebook,
            workers=args.workers,
            ca_dir=ca_dir,
            force=True,
        )
        if args.also_cold:
            start = time.perf_counter()
            cold_settings = dataclasses.replace(
                settings, output_dir=work / "ours-cold", warm_kernels=False
            )
            run_batch(audits, cold_settings)
            print(f"auditlib batch, cold kernels: {time.perf_counter() - start:7.1f} s")
        start = time.perf_counter()
        result = run_batch(audits, settings)
        ours = time.perf_counter() - start
        failed = [o for o in result.outcomes if o.failure]
        print(f"auditlib batch:               {ours:7.1f} s  ({len(failed)} failed)")
        for o in failed[:3]:
            print(f"   {o.job.folder}: {o.failure}")

        script = work / "naive.sh"
        script.write_text(naive_script(audits, registry, ca_dir, work / "naive", args.notebook))
        start = time.perf_counter()
        naive_rc = subprocess.run(["bash", str(script)], check=False).returncode
        naive = time.perf_counter() - start
        print(f"papermill CLI loop:           {naive:7.1f} s  (exit {naive_rc})")
        print(f"ratio (naive / ours):         {naive / ours:7.2f}x  (target >= 3x on 2 cores)")

        same = differ = missing = 0
        for audit in audits:
            name = audit_folder_name(audit.provider_id, audit.trigger, audit.audit_date)
            a, b = statuses(work / "ours" / name), statuses(work / "naive" / name)
            if a is None or b is None:
                missing += 1
            elif a == b:
                same += 1
            else:
                differ += 1
                print(f"   findings differ: {name}")
        print(
            f"findings.json statuses:       {same} identical, {differ} different, {missing} missing"
        )
        return 0 if differ == 0 and missing == 0 and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
