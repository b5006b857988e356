"""The demo run: the whole workbench on the demo data shipped in `data/` (`auditlib demo`).

Steps: the checkpoint grid summary; the demo-only secrets set for this process; the
organisation seal (ORG SIGN, issued by the demo CA) in the output folder; the local TLS
endpoints of `DEMO_POSTURES` started on the registry's ports; `/traces` fetched live over
mutual TLS from the Proxy e-Santé endpoint, analysed, and written as supervision events;
the audit plan as of `DEMO_DATE`; the batch (endpoints scanned once, one notebook per due
audit); every report PDF sealed and verified against the demo CA; a summary table. Every
server started is stopped on the way out (normal end, error, Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from auditlib.batch.plan import plan_audits
from auditlib.batch.runner import AuditStatus, BatchSettings, group_jobs, run_batch
from auditlib.checkpoints.reader import load_checkpoints
from auditlib.classify import Classifier, load_anchors
from auditlib.demo.data import (
    CA_DIR,
    CRL_SOURCE,
    DATA_DIR,
    DEFAULT_OUTPUT,
    DEMO_CLIENT_KEY_PASS,
    DEMO_CLIENT_KEY_PASS_ENV,
    DEMO_DATE,
    DEMO_POSTURES,
    DEMO_SEAL_PASS,
    DEMO_SEAL_PASS_ENV,
    DEMO_WORKBOOK,
    PLAN_WINDOW_DAYS,
    SIGNED_SUFFIX,
    TRACE_END,
    TRACE_START,
    Posture,
    has_demo_ca_keys,
)
from auditlib.demo.seal import ensure_seal, seal_spec
from auditlib.demo.servers import port_is_free, start_demo_servers
from auditlib.errors import DemoError
from auditlib.files import sha256_file
from auditlib.registry import Registry, load_registry
from auditlib.sign import SealPolicy, SigningSettings, verify_pdf
from auditlib.traces import (
    analyse_traces,
    fetch_traces,
    load_supervision_events,
    settings_for_provider,
    write_events_csv,
)

SEAL_LOCATION = "Démonstration auditlib"
VERDICTS_DIR = "verdicts"
EVENTS_FILE = "events.csv"
DEMO_SECRETS = {
    DEMO_CLIENT_KEY_PASS_ENV: DEMO_CLIENT_KEY_PASS,
    DEMO_SEAL_PASS_ENV: DEMO_SEAL_PASS,
}
"""Demo-only passphrases (published demo keys), set for this process when unset."""


@dataclass(frozen=True)
class DemoSettings:
    data_dir: Path = DATA_DIR
    output: Path = DEFAULT_OUTPUT
    workers: int | None = None
    """Batch worker processes (None: the batch's default, the CPU count)."""
    force: bool = False
    """Redo every audit even when the batch would skip it as unchanged."""


@dataclass(frozen=True)
class TraceFetchResult:
    """The live `/traces` fetch from one Proxy e-Santé endpoint, and what it showed."""

    provider_id: str
    url: str
    records: int
    findings: tuple[str, ...]
    evidence: Path
    events: int


@dataclass(frozen=True)
class SignedReport:
    """One report PDF sealed by the demo and verified against the demo CA."""

    report: Path
    signed: Path
    input_sha256: str
    signed_sha256: str
    verified: bool
    problems: tuple[str, ...] = ()


@dataclass
class DemoRow:
    """One line of the summary table."""

    provider: str
    trigger: str
    due_date: str
    bottom_line: str
    nonconformities: int | None
    signed: SignedReport | None
    report: Path | None
    note: str = ""


@dataclass
class DemoResult:
    """What the demo did; `bottom_line` is True when the machinery worked."""

    output: Path
    rows: list[DemoRow] = field(default_factory=list)
    traces: list[TraceFetchResult] = field(default_factory=list)
    secrets_set: list[str] = field(default_factory=list)
    seal: Path | None = None
    seal_created: bool = False
    trust_dir: Path | None = None
    """The CA folder that verifies the sealed reports (`auditlib verify --ca-dir`)."""
    problems: list[str] = field(default_factory=list)
    ports_left_open: list[int] = field(default_factory=list)
    elapsed_seconds: float = 0.0

    @property
    def bottom_line(self) -> bool:
        return not self.problems and not self.ports_left_open


# ------------------------------------------------------------------------------ secrets


def set_demo_secrets() -> list[str]:
    """Set the demo-only passphrase variables that are unset; return their names."""
    names = []
    for name, value in DEMO_SECRETS.items():
        if name not in os.environ:
            os.environ[name] = value
            names.append(name)
    return names


# ------------------------------------------------------------------------------- signals


class _Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interruption so that every `with` block unwinds."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """During the block, SIGTERM unwinds the stack like Ctrl-C (servers get stopped)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------------------- traces


def fetch_demo_traces(
    registry: Registry, data_dir: Path, folder: Path
) -> tuple[list[TraceFetchResult], Path]:
    """Fetch `/traces` live from every staged Proxy e-Santé endpoint, analyse the export
    and write the supervision events (the audit plan's triggers) to `folder/events.csv`."""

    results: list[TraceFetchResult] = []
    events = []
    for posture in DEMO_POSTURES:
        if posture.posture is not Posture.MTLS or not posture.traces:
            continue
        provider = registry.get(posture.provider_id)
        endpoint = next((e for e in provider.endpoints if e.port == posture.port), None)
        if endpoint is None or not endpoint.mtls:
            raise DemoError(
                f"registry {registry.path}: {provider.id} has no mTLS endpoint on port "
                f"{posture.port} (demo posture {posture.posture})"
            )
        url = f"https://{endpoint.host}:{endpoint.port}/traces"
        export = fetch_traces(
            url,
            TRACE_START,
            TRACE_END,
            endpoint.client_cert,
            endpoint.client_key,
            endpoint.key_passphrase_env,
            ca_dir=data_dir / CA_DIR,
            timeout=10,
            evidence_dir=folder,
        )
        analysis = analyse_traces(export, settings_for_provider(provider))
        found = analysis.supervision_events()
        events += found
        results.append(
            TraceFetchResult(
                provider_id=provider.id,
                url=url,
                records=export.total_records,
                findings=tuple(f.check for f in analysis.findings),
                evidence=export.evidence_path or folder,
                events=len(found),
            )
        )
    events_path = folder / EVENTS_FILE
    write_events_csv(events, events_path)
    return results, events_path


# ------------------------------------------------------------------------------ signing


def verify_reports(reports: Sequence[Path], ca_dir: Path) -> list[SignedReport]:
    """Verify the sealed copy (`report.signed.pdf`) of each report against `ca_dir`, and
    its seal against the shipped seal policy (an audit report, not a third-party file)."""

    policy = SealPolicy.load()
    done: list[SignedReport] = []
    for report in reports:
        target = report.with_name(report.stem + SIGNED_SUFFIX)
        if not target.is_file():
            done.append(
                SignedReport(report, target, sha256_file(report), "", False, ("not sealed",))
            )
            continue
        check = verify_pdf(target, ca_dir, policy=policy)
        done.append(
            SignedReport(
                report=report,
                signed=target,
                input_sha256=sha256_file(report),
                signed_sha256=check.sha256,
                verified=check.bottom_line,
                problems=check.problems,
            )
        )
    return done


# ------------------------------------------------------------------------------- the run


def _check_ports(registry: Registry) -> None:
    """Every staged port must be free before we start (a DOWN one must stay unanswered)."""

    busy = [p for p in DEMO_POSTURES if not port_is_free(p.port)]
    if busy:
        listed = ", ".join(f"{p.port} ({p.provider_id})" for p in busy)
        raise DemoError(
            f"port(s) {listed} on 127.0.0.1 already in use: another demo or program is "
            "listening there; stop it and run the demo again"
        )
    staged = {p.port for p in DEMO_POSTURES}
    unstaged = [e.port for p in registry for e in p.endpoints if e.port not in staged]
    if unstaged:
        raise DemoError(
            f"registry endpoint port(s) {unstaged} have no demo posture "
            "(auditlib/demo_data.py DEMO_POSTURES)"
        )


def run_demo(settings: DemoSettings, out: Any = None) -> DemoResult:
    """Run the whole demo; see the module docstring. `out` receives the progress text."""

    stream = out or sys.stdout
    started = time.monotonic()
    data_dir = settings.data_dir.resolve()
    output = settings.output.resolve()
    result = DemoResult(output=output)

    def say(text: str = "") -> None:
        print(text, file=stream, flush=True)

    registry = load_registry(data_dir / "registry.yaml")
    result.secrets_set = set_demo_secrets()
    if result.secrets_set:
        say(
            "Demo-only passphrases set for this process (published demo keys, not secrets): "
            + ", ".join(result.secrets_set)
        )
    output.mkdir(parents=True, exist_ok=True)
    seal = ensure_seal(data_dir, output / "pki")
    result.seal, result.seal_created, result.trust_dir = seal.path, seal.created, seal.trust_dir
    issuer = "demo CA" if seal.trust_dir == data_dir / CA_DIR else "seal CA generated locally"
    say(
        f"Organisation seal (ORG SIGN, {issuer}): {result.seal} "
        + ("(new)" if result.seal_created else "(reused)")
    )
    if not has_demo_ca_keys(data_dir):
        say(
            "Installed package: the demo CA's private keys are not shipped, so the compliant "
            "endpoint staples no OCSP response (R35 is reported as such)."
        )
    _check_ports(registry)
    try:
        with _sigterm_unwinds(), contextlib.ExitStack() as stack:
            endpoints = start_demo_servers(stack, data_dir)
            say("\nDemo endpoints on 127.0.0.1:")
            for e in endpoints:
                state = "not started (down)" if e.server is None else "listening"
                say(
                    f"  {e.posture.port}  {e.posture.provider_id:<20} "
                    f"{e.posture.posture.value:<10} {state:<19} {e.posture.expected}"
                )
            result.traces, events = fetch_demo_traces(registry, data_dir, output / "supervision")
            for t in result.traces:
                say(
                    f"\nLive /traces over mTLS: {t.url}: {t.records} records, findings "
                    f"{', '.join(t.findings) or 'none'}; {t.events} supervision event(s) -> "
                    f"{events}"
                )
            _plan_and_batch(settings, registry, data_dir, output, events, result.seal, result, say)
    finally:
        result.ports_left_open = [p.port for p in DEMO_POSTURES if not port_is_free(p.port)]
    reports = [r.report for r in result.rows if r.report is not None]
    if reports:
        signed = verify_reports(reports, seal.trust_dir)
        by_report = {s.report: s for s in signed}
        for row in result.rows:
            if row.report is not None:
                row.signed = by_report.get(row.report)
        result.problems += [
            f"{s.signed}: signature does not verify ({'; '.join(s.problems)})"
            for s in signed
            if not s.verified
        ]
    if result.ports_left_open:
        result.problems.append(f"ports still open after the demo: {result.ports_left_open}")
    result.elapsed_seconds = time.monotonic() - started
    return result


def _plan_and_batch(
    settings: DemoSettings,
    registry: Registry,
    data_dir: Path,
    output: Path,
    events: Path,
    seal: Path,
    result: DemoResult,
    say: Callable[[str], None],
) -> None:
    """Plan the audits as of `DEMO_DATE` and run the batch (which seals each report)
    while the servers are up; one summary row per due audit."""

    workbook = data_dir / DEMO_WORKBOOK
    crl_source = data_dir / CRL_SOURCE
    grid = load_checkpoints(workbook)
    audits = plan_audits(
        registry,
        DEMO_DATE,
        dt.timedelta(days=PLAN_WINDOW_DAYS),
        events=load_supervision_events(events),
        checkpoints_known=list(grid.requirements),
        classifier=Classifier(load_anchors(data_dir / CA_DIR)),
    )
    jobs = group_jobs(audits)
    say(
        f"\nAudit plan as of {DEMO_DATE.date().isoformat()} within {PLAN_WINDOW_DAYS} days: "
        f"{len(jobs)} audit(s) due"
    )
    for job in jobs:
        why = f" ({len(job.audits)} triggers)" if len(job.audits) > 1 else ""
        say(f"  {job.due_date.isoformat()}  {job.provider_id:<20} {job.trigger.value}{why}")
    batch = run_batch(
        audits,
        BatchSettings(
            output_dir=output,
            registry_path=registry.path,
            checkpoints_path=workbook,
            workers=settings.workers,
            ca_dir=data_dir / CA_DIR,
            # the auditor's CRLs: requirement 116 judges revocation from them
            crl_source=crl_source if crl_source.is_file() else None,
            verdicts_dir=data_dir / VERDICTS_DIR,
            force=settings.force,
            signing=SigningSettings(signer=seal_spec(seal), location=SEAL_LOCATION),
        ),
        progress=sys.stderr,
    )
    say(
        f"Batch: {batch.count(AuditStatus.DONE)} done, {batch.count(AuditStatus.SKIPPED)} "
        f"skipped as unchanged, {batch.count(AuditStatus.FAILED)} failed "
        f"({batch.seconds:.1f} s); ledger {batch.ledger_path}"
    )
    for outcome in batch.outcomes:
        job = outcome.job
        row = DemoRow(
            provider=job.provider_id,
            trigger=job.trigger.value,
            due_date=job.due_date.isoformat(),
            bottom_line="-",
            nonconformities=None,
            signed=None,
            report=None,
            note=outcome.status.value,
        )
        if outcome.status is AuditStatus.FAILED:
            failure = outcome.failure
            reason = f"{failure.error_name}: {failure.message}" if failure else "failed"
            row.note = f"failed: {reason}"
            result.problems.append(f"audit {job.folder} failed: {reason}")
        elif outcome.path is not None:
            row.report = outcome.path / "report.pdf"
            record = _read_findings(outcome.path / "findings.json")
            row.bottom_line = str(record.get("bottom_line", "-"))
            found = record.get("nonconformities")
            row.nonconformities = len(found) if isinstance(found, list) else None
        result.rows.append(row)


def _read_findings(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}
