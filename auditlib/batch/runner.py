"""Many audits, unattended: scan every due endpoint once, then run the audit notebook
once per due audit in worker processes, resumably, with a ledger.

The notebook is the orchestrator of one audit; this module is the only orchestrator
of many (docs/design.md). What it guarantees:

- one concurrent scan of every endpoint of the due audits, saved once and passed to
  every notebook (`scan_results_path`), so no notebook scans;
- papermill's Python API in N worker processes (spawned: safe with threads), retrying
  kernel-start races; a failing notebook is recorded (cell, error, partial notebook)
  and the batch carries on;
- every audit folder appears complete or not at all: papermill writes into a private
  folder under `.partial/`, which is renamed into place only once every output is
  there (and signed, when asked);
- `ledger.jsonl` (append-only, each line fsynced) records what ran, on which inputs,
  and the SHA-256 of every output: a rerun skips the audits whose inputs are unchanged
  and whose outputs still match the ledger.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from auditlib import __version__
from auditlib.audit.assess import AuditSpec, AuditTrigger
from auditlib.audit.run import _error_observation, scan_live, scan_spec
from auditlib.batch import forked
from auditlib.batch.cluster import ClusterSpec, execute_on_cluster
from auditlib.batch.kernel_template import die_with_parent
from auditlib.batch.kernels import WarmKernelManager
from auditlib.batch.ledger import (
    AuditEnd,
    AuditSkip,
    AuditStart,
    Ledger,
    RunEnd,
    RunStart,
    bundle_digest,
    last_success,
    observations_digest,
    outputs_intact,
    provider_observations,
    read_ledger,
)
from auditlib.batch.plan import PlannedAudit, PlanProblem, describe_exception
from auditlib.errors import BatchError, TlsScanError
from auditlib.files import (
    check_output_dir,
    check_output_file,
    redact,
    sha256_bytes,
    sha256_file,
)
from auditlib.registry import Provider, Registry, load_registry, provider_digest
from auditlib.report.changes import find_previous
from auditlib.resources import audit_notebook
from auditlib.sign import load_signer, sign_pdf
from auditlib.tls.scan import (
    ScanSettings,
    ScanSpec,
    TlsObservation,
    load_observations,
    save_observations,
)

if sys.platform != "win32":
    import fcntl

DEFAULT_NOTEBOOK = audit_notebook()
REPORT_FILES = ("report.html", "report.pdf", "grille.xlsx", "findings.json")
"""What the notebook must write into `output_dir`."""
EXECUTED_NOTEBOOK = "audit_report.ipynb"
AUDITOR_NOTEBOOK = "audit.ipynb"
"""An auditor's working notebook (`auditlib new-audit`): its folder is never replaced."""
SIGNED_PDF = "report.signed.pdf"
LEDGER_NAME = "ledger.jsonl"
LOCK_NAME = ".batch.lock"
PARTIAL_DIR = ".partial"
FAILED_DIR = "_failed"
SCANS_DIR = "scans"
LOGS_DIR = "logs"


# --------------------------------------------------------------------------- naming


def audit_folder_name(provider_id: str, trigger: AuditTrigger | str, audit_date: dt.date) -> str:
    """An audit's folder in the batch output: `AuditSpec.folder_name`, the one rule."""
    return AuditSpec(
        provider_id=provider_id, trigger=AuditTrigger(trigger), date=audit_date
    ).folder_name


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class BatchSettings:
    """Where the inputs are, where the outputs go, and how hard to work."""

    output_dir: Path
    registry_path: Path = Path("data/registry.yaml")
    checkpoints_path: Path = Path("data/checkpoints_demo.xlsx")
    notebook_path: Path = DEFAULT_NOTEBOOK
    workers: int | None = None
    """Worker processes (notebooks at once); None: the CPU count."""
    ca_dir: Path | None = None
    """Trust anchors for the scan, passed to the notebooks too."""
    crl_source: Path | None = None
    """The auditor's CRL source (YAML, `auditlib.audit.revocation`), passed to the notebooks:
    requirement 116 judges revocation from it; None: revocation is "non vérifié"."""
    verdicts_dir: Path | None = None
    """Folder of auditor verdicts files, one per provider: `<provider_id>.yaml`."""
    scan_results_path: Path | None = None
    """Use these saved observations instead of scanning."""
    scan_timeout: int = 5
    auditor: str | None = None
    language: str = "fr"
    force: bool = False
    """Redo every audit, even those the ledger shows up to date."""
    signing: Any = None
    """`auditlib.sign.SigningSettings`: sign each report.pdf into report.signed.pdf."""
    cluster: ClusterSpec | None = None
    """Run the notebooks on this Dask cluster instead of the local worker pool."""
    kernel_name: str = "python3"
    executor: str = "fork"
    """How each notebook runs: "fork" (default): in a fork of the warm worker, no kernel
    (`auditlib.batch.forked`); "kernel": papermill with a Jupyter kernel per notebook
    (warm or cold, `warm_kernels`). A Dask cluster always uses kernels."""
    warm_kernels: bool = True
    """Fork each notebook's kernel from a template with the imports done (`auditlib.batch.kernels`);
    False: start every kernel from scratch, as the papermill CLI does."""
    kernel_start_retries: int = 3
    execution_timeout: int | None = 900
    """Seconds one notebook cell may run; None: no limit."""


class AuditStatus(StrEnum):
    DONE = "done"
    """Executed now; every output in place."""
    SKIPPED = "skipped"
    """Up to date: same inputs as the ledger's last success, outputs unchanged."""
    FAILED = "failed"


@dataclass(frozen=True)
class NotebookFailure:
    """Why one audit has no report (from papermill's `PapermillExecutionError` for a cell)."""

    error_name: str
    message: str
    cell_index: int | None = None
    """Index of the failing cell in the executed notebook (the injected parameters cell counts)."""
    notebook: Path | None = None
    """The partially executed notebook, kept as evidence."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "error_name": self.error_name,
            "message": self.message,
            "cell_index": self.cell_index,
            "notebook": str(self.notebook) if self.notebook else None,
        }


@dataclass(frozen=True)
class BatchJob:
    """One notebook execution: the planned audits of one provider, trigger and day."""

    folder: str
    provider_id: str
    trigger: AuditTrigger
    audit_date: dt.date
    due_date: dt.date
    reference: str
    audits: tuple[PlannedAudit, ...]


@dataclass(frozen=True)
class AuditOutcome:
    job: BatchJob
    status: AuditStatus
    path: Path | None
    """The audit folder (or the failed attempt's folder)."""
    outputs: dict[str, str] = field(default_factory=dict)
    """Output path (relative to the batch folder) -> SHA-256."""
    failure: NotebookFailure | None = None
    attempts: int = 0
    seconds: float = 0.0
    signed: bool = False


class BatchStatus(StrEnum):
    OK = "ok"
    FAILED = "failed"


@dataclass(frozen=True)
class BatchResult:
    run_id: str
    output_dir: Path
    ledger_path: Path
    scan_results_path: Path | None
    outcomes: tuple[AuditOutcome, ...]
    seconds: float

    def count(self, status: AuditStatus) -> int:
        return sum(1 for o in self.outcomes if o.status is status)

    @property
    def bottom_line(self) -> BatchStatus:
        return BatchStatus.FAILED if self.count(AuditStatus.FAILED) else BatchStatus.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "output_dir": str(self.output_dir),
            "ledger": str(self.ledger_path),
            "scan_results": str(self.scan_results_path) if self.scan_results_path else None,
            "bottom_line": self.bottom_line.value,
            "done": self.count(AuditStatus.DONE),
            "skipped": self.count(AuditStatus.SKIPPED),
            "failed": self.count(AuditStatus.FAILED),
            "seconds": round(self.seconds, 2),
            "audits": [
                {
                    "folder": o.job.folder,
                    "provider_id": o.job.provider_id,
                    "trigger": o.job.trigger.value,
                    "audit_date": o.job.audit_date.isoformat(),
                    "due_date": o.job.due_date.isoformat(),
                    "status": o.status.value,
                    "path": str(o.path) if o.path else None,
                    "signed": o.signed,
                    "attempts": o.attempts,
                    "failure": o.failure.to_dict() if o.failure else None,
                }
                for o in self.outcomes
            ],
        }


def group_jobs(audits: Sequence[PlannedAudit]) -> list[BatchJob]:
    """One job per audit folder: planned audits sharing provider, trigger and day are
    one report whose reference names every certificate or event that made it due."""
    groups: dict[str, list[PlannedAudit]] = {}
    for audit in audits:
        name = audit_folder_name(audit.provider_id, audit.trigger, audit.audit_date)
        groups.setdefault(name, []).append(audit)
    jobs = []
    for name, members in groups.items():
        first = members[0]
        references = list(dict.fromkeys(a.reference for a in members))
        jobs.append(
            BatchJob(
                folder=name,
                provider_id=first.provider_id,
                trigger=first.trigger,
                audit_date=first.audit_date,
                due_date=min(a.due_date for a in members),
                reference="; ".join(references),
                audits=tuple(members),
            )
        )
    return jobs


def verdicts_file(settings: BatchSettings, provider_id: str) -> Path | None:
    if settings.verdicts_dir is None:
        return None
    for suffix in (".yaml", ".yml"):
        candidate = settings.verdicts_dir / f"{provider_id}{suffix}"
        if candidate.is_file():
            return candidate.resolve()
    return None


# --------------------------------------------------------------------------- scanning


def scan_due_endpoints(
    providers: Sequence[Provider], settings: ScanSettings
) -> list[TlsObservation]:
    """Every endpoint of these providers, each (host, port) once, in one concurrent run.

    A set-up mistake on one endpoint (unreadable client key...) does not cost the others
    their scan: the run is retried endpoint by endpoint and the culprit becomes an
    ERROR observation.
    """

    specs: list[ScanSpec] = []
    seen: set[tuple[str, int]] = set()
    for provider in providers:
        for endpoint in provider.endpoints:
            if (endpoint.host, endpoint.port) not in seen:
                seen.add((endpoint.host, endpoint.port))
                specs.append(scan_spec(provider, endpoint))
    if not specs:
        return []
    try:
        return scan_live(specs, settings)
    except TlsScanError:
        observations = []
        for spec in specs:
            try:
                observations += scan_live([spec], settings)
            except TlsScanError as exc:
                observations.append(_error_observation(spec, str(exc)))
        return observations


# --------------------------------------------------------------------------- workers


@dataclass(frozen=True)
class _Task:
    folder: str
    notebook: Path
    workdir: Path
    parameters: dict[str, str | None]
    kernel_name: str
    cwd: str | None
    retries: int
    execution_timeout: int | None
    warm_kernels: bool = True
    executor: str = "kernel"


EXECUTORS = ("fork", "kernel")
IOPUB_TIMEOUT = 60  # seconds nbclient waits for a cell's outputs after its reply


@dataclass(frozen=True)
class _TaskResult:
    folder: str
    ok: bool
    attempts: int
    seconds: float
    failure: NotebookFailure | None = None
    worker: str | None = None
    """The Dask worker that ran it (set on the client); None for the local pool."""


def _worker_init(log_path: str | None = None, batch_pid: int | None = None) -> None:
    # one worker per core: no BLAS thread pool (numpy would start one when imported)
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    # Ctrl-C is the main process's business: it stops the batch and the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # kill -9 of the batch must not leave workers behind (they would keep running their
    # notebook, their kernel template and kernels, and the resource tracker): Linux kills
    # the worker when the batch dies; its template sees its stdin close and stops its
    # kernels; the resource tracker sees its pipe close and exits.
    die_with_parent(batch_pid)
    if log_path is not None:
        # Kernels inherit the worker's stdout/stderr: their chatter goes to the log,
        # not into the progress display. Errors are reported structurally anyway.
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)


KERNEL_RACE_MARKERS = (
    "address already in use",
    "kernel died before replying",
    "kernel didn't respond",
    "kernel did not respond",
)


def is_kernel_start_race(exc: BaseException) -> bool:
    """Errors of a kernel that failed to start (port clash, slow start): worth a retry."""
    name = type(exc).__name__
    text = str(exc).lower()
    if name == "ZMQError" and "address already in use" in text:
        return True
    return isinstance(exc, RuntimeError | TimeoutError) and any(
        marker in text for marker in KERNEL_RACE_MARKERS
    )


def _execute(task: _Task) -> _TaskResult:
    """Run one notebook (in a worker process); never raises."""
    if task.executor == "fork":
        return _execute_forked(task)
    import papermill as pm

    started = time.monotonic()
    output = task.workdir / EXECUTED_NOTEBOOK
    # Once the last cell has run, every output is written and the executed notebook is the
    # client's to save: the kernel is stopped at once rather than asked to shut down
    # (about 0.3 s of waiting per notebook).
    # nbclient waits only 4 s for a cell's last outputs after its reply, then drops them
    # silently: on a loaded machine that lost printed lines; wait as long as it takes.
    engine: dict[str, Any] = {"shutdown_kernel": "immediate", "iopub_timeout": IOPUB_TIMEOUT}
    if task.warm_kernels:
        engine["kernel_manager_class"] = WarmKernelManager
    attempts = 0
    while True:
        attempts += 1
        try:
            pm.execute_notebook(
                str(task.notebook),
                str(output),
                parameters=task.parameters,
                kernel_name=task.kernel_name,
                progress_bar=False,
                log_output=False,
                cwd=task.cwd,
                execution_timeout=task.execution_timeout,
                **engine,
            )
            return _TaskResult(task.folder, True, attempts, time.monotonic() - started)
        except Exception as exc:
            if is_kernel_start_race(exc) and attempts <= task.retries:
                time.sleep(0.5 * 2 ** (attempts - 1) + random.uniform(0, 0.5))
                continue
            failure = notebook_failure(exc, output)
        return _TaskResult(task.folder, False, attempts, time.monotonic() - started, failure)


def notebook_failure(exc: Exception, output: Path) -> NotebookFailure:
    """What a notebook's failure says: the failing cell's error (papermill's
    `PapermillExecutionError`), else the exception that stopped the run."""
    from papermill.exceptions import PapermillExecutionError

    notebook = output if output.is_file() else None
    if isinstance(exc, PapermillExecutionError):
        return NotebookFailure(
            error_name=str(exc.ename),
            message=str(exc.evalue),
            cell_index=int(exc.cell_index),
            notebook=notebook,
        )
    return NotebookFailure(
        error_name=type(exc).__name__, message=str(exc)[:2000], notebook=notebook
    )


def _execute_forked(task: _Task) -> _TaskResult:
    """Run one notebook in a fork of this worker (`auditlib.batch.forked`); never raises."""
    started = time.monotonic()
    output = task.workdir / EXECUTED_NOTEBOOK
    try:
        forked.execute_forked(
            task.notebook,
            output,
            dict(task.parameters),
            cwd=task.cwd,
            timeout=task.execution_timeout,
        )
        return _TaskResult(task.folder, True, 1, time.monotonic() - started)
    except Exception as exc:
        failure = notebook_failure(exc, output)
    return _TaskResult(task.folder, False, 1, time.monotonic() - started, failure)


# --------------------------------------------------------------------------- progress


class Progress:
    """Audits done / failed / remaining and an ETA on stderr: one rewritten line on a
    terminal, plain lines otherwise (logs, CI)."""

    def __init__(self, total: int, stream: IO[str] | None) -> None:
        self.total = total
        self.stream = stream
        self.tty = bool(stream is not None and stream.isatty())
        self.done = self.failed = self.skipped = 0
        self.started = time.monotonic()

    def update(self, folder: str, status: AuditStatus) -> None:
        if status is AuditStatus.FAILED:
            self.failed += 1
        elif status is AuditStatus.SKIPPED:
            self.skipped += 1
        else:
            self.done += 1
        if self.stream is None:
            return
        finished = self.done + self.failed + self.skipped
        remaining = self.total - finished
        elapsed = time.monotonic() - self.started
        executed = self.done + self.failed
        eta = elapsed / executed * remaining if executed else 0.0
        counts = (
            f"{self.done} done, {self.skipped} up to date, {self.failed} failed, "
            f"{remaining} remaining, ETA {_seconds(eta)}"
        )
        if self.tty:
            width = 30
            filled = int(width * finished / self.total) if self.total else width
            bar = "#" * filled + "-" * (width - filled)
            end = "\n" if remaining == 0 else ""
            self.stream.write(f"\r[{bar}] {finished}/{self.total}: {counts}\x1b[K{end}")
        else:
            self.stream.write(f"batch: {folder} {status.value} ({counts})\n")
        self.stream.flush()

    def say(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text + "\n")
            self.stream.flush()


def _seconds(value: float) -> str:
    value = round(value)
    return f"{value // 60}m{value % 60:02d}s" if value >= 60 else f"{value}s"


# --------------------------------------------------------------------------- the batch


@contextlib.contextmanager
def _locked(output_dir: Path) -> Iterator[None]:
    """One batch at a time per output folder."""
    if sys.platform == "win32":  # pragma: no cover
        yield
        return
    with open(output_dir / LOCK_NAME, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BatchError(
                f"another batch is already running in {output_dir} ({LOCK_NAME} is locked)"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_settings(settings: BatchSettings) -> None:
    """Refuse settings that cannot work, before any scan or notebook (`BatchError`)."""
    if settings.workers is not None and settings.workers < 1:
        raise BatchError("--workers must be at least 1")
    if settings.executor not in EXECUTORS:
        raise BatchError(f"unknown executor {settings.executor!r} (known: {', '.join(EXECUTORS)})")
    check_output_dir(settings.output_dir)
    for name in (LOCK_NAME, LEDGER_NAME):  # appended to: never a link, FIFO or device
        check_output_file(Path(settings.output_dir) / name)
    for what, folder in (("--ca-dir", settings.ca_dir), ("--verdicts-dir", settings.verdicts_dir)):
        if folder is not None and not Path(folder).is_dir():
            raise BatchError(f"{what} {folder}: no such folder")
    if settings.crl_source is not None and not Path(settings.crl_source).is_file():
        raise BatchError(f"--crl-source {settings.crl_source}: no such file")
    if settings.scan_results_path is not None and not Path(settings.scan_results_path).is_file():
        raise BatchError(f"scan results {settings.scan_results_path}: no such file")
    for what, path in (
        ("notebook", settings.notebook_path),
        ("checkpoint workbook", settings.checkpoints_path),
        ("registry", settings.registry_path),
    ):
        if not Path(path).is_file():
            raise BatchError(f"{what} {path}: no such file")


def _parameters(
    job: BatchJob, settings: BatchSettings, output_dir: Path, scans: Path | None
) -> dict[str, str | None]:
    params = job.audits[0].parameters(
        registry_path=settings.registry_path.resolve(),
        checkpoints_path=settings.checkpoints_path.resolve(),
        output_dir=output_dir,
        scan_results_path=scans,
        verdicts_path=verdicts_file(settings, job.provider_id),
        ca_dir=settings.ca_dir.resolve() if settings.ca_dir else None,
        crl_source=settings.crl_source.resolve() if settings.crl_source else None,
        auditor=settings.auditor,
        language=settings.language,
        previous_findings=_previous_findings(settings, job),
    )
    params["trigger_reference"] = job.reference
    return params


def _previous_findings(settings: BatchSettings, job: BatchJob) -> Path | None:
    """The provider's latest audit before this one in the batch folder (its findings.json),
    compared with by the notebook (`changes_since_previous`)."""
    found = find_previous(Path(settings.output_dir).resolve(), job.provider_id, job.audit_date)
    return found.path if found else None


def _input_hashes(
    job: BatchJob,
    settings: BatchSettings,
    registry: Registry,
    observations: Sequence[TlsObservation],
    common: dict[str, str],
    bundle_cache: dict[str, str | None],
) -> dict[str, str | None]:
    provider = registry.get(job.provider_id)
    if provider.id not in bundle_cache:
        bundle_cache[provider.id] = bundle_digest(provider.evidence_bundle)
    verdicts = verdicts_file(settings, provider.id)
    stable = _parameters(job, settings, Path("."), None)
    for volatile in ("output_dir", "scan_results_path"):
        stable.pop(volatile)
    return {
        **common,
        "registry_entry": provider_digest(provider),
        "bundle": bundle_cache[provider.id],
        "verdicts": sha256_file(verdicts) if verdicts else None,
        "crl_source": sha256_file(settings.crl_source) if settings.crl_source else None,
        "scan_results": observations_digest(provider_observations(provider, observations)),
        "parameters": sha256_bytes(json.dumps(stable, sort_keys=True).encode()),
    }


def notebook_source_digest(path: Path) -> str:
    """SHA-256 of a notebook's cells (type and source) only: outputs, execution counts and
    metadata (what running and saving it in JupyterLab changes) never redo an audit."""
    try:
        notebook = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = [
            [str(cell.get("cell_type")), "".join(cell.get("source") or "")]
            for cell in notebook["cells"]
        ]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        raise BatchError(f"notebook {path}: not a readable .ipynb (JSON with 'cells')") from None
    return sha256_bytes(json.dumps(cells, ensure_ascii=False).encode("utf-8"))


def auditor_folder(folder: Path) -> bool:
    """A folder made by `auditlib new-audit`: it holds the auditor's working notebook."""
    return (folder / AUDITOR_NOTEBOOK).is_file()


def _hash_outputs(folder: Path, rel_folder: str, signed: bool) -> dict[str, str]:
    names = [*REPORT_FILES, EXECUTED_NOTEBOOK] + ([SIGNED_PDF] if signed else [])
    return {f"{rel_folder}/{name}": sha256_file(folder / name) for name in names}


def _replace_folder(source: Path, target: Path, trash_root: Path) -> None:
    """Put `source` at `target`; a previous `target` is moved aside first, then deleted."""
    old = None
    if target.exists():
        old = trash_root / f"{target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(target, old)
    os.replace(source, target)
    _fsync_dir(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass
class _Run:
    settings: BatchSettings
    output_dir: Path
    ledger: Ledger
    run_id: str
    signer: Any
    progress: Progress
    hashes: dict[str, dict[str, str | None]]


def _sign_into(run: _Run, pdf: Path, signed: Path) -> None:

    sign_pdf(pdf, signed, run.settings.signing, signer=run.signer)


def _finalize(run: _Run, job: BatchJob, result: _TaskResult, workdir: Path) -> AuditOutcome:
    """Check, sign, hash and move one executed audit into place; record it in the ledger."""
    failure = result.failure
    signed = False
    if failure is None:
        missing = [n for n in (*REPORT_FILES, EXECUTED_NOTEBOOK) if not (workdir / n).is_file()]
        if missing:
            failure = NotebookFailure(
                "MissingOutput",
                f"the notebook ran but did not write {', '.join(missing)}",
                notebook=workdir / EXECUTED_NOTEBOOK,
            )
    if failure is None and auditor_folder(run.output_dir / job.folder):
        failure = NotebookFailure(
            "AuditorFolder",
            f"{job.folder} now holds an auditor's {AUDITOR_NOTEBOOK} (auditlib new-audit): "
            "not replaced",
            notebook=workdir / EXECUTED_NOTEBOOK,
        )
    if failure is None and run.signer is not None:
        try:
            _sign_into(run, workdir / "report.pdf", workdir / SIGNED_PDF)
            signed = True
        except Exception as exc:
            failure = NotebookFailure(
                "SignError",
                redact(f"{type(exc).__name__}: {exc}"),
                notebook=workdir / EXECUTED_NOTEBOOK,
            )
    if failure is not None:
        kept = run.output_dir / FAILED_DIR / job.folder
        kept.parent.mkdir(exist_ok=True)
        _replace_folder(workdir, kept, run.output_dir / PARTIAL_DIR)
        notebook = kept / EXECUTED_NOTEBOOK if (kept / EXECUTED_NOTEBOOK).is_file() else None
        failure = dataclasses.replace(failure, notebook=notebook)
        run.ledger.write(
            AuditEnd(
                run=run.run_id,
                audit=job.folder,
                status=AuditStatus.FAILED.value,
                seconds=round(result.seconds, 2),
                attempts=result.attempts,
                inputs=run.hashes[job.folder],
                error=failure.to_dict(),
                kept_in=str(kept),
                worker=result.worker,
            )
        )
        run.progress.update(job.folder, AuditStatus.FAILED)
        return AuditOutcome(
            job, AuditStatus.FAILED, kept, {}, failure, result.attempts, result.seconds
        )
    outputs = _hash_outputs(workdir, job.folder, signed)
    target = run.output_dir / job.folder
    _replace_folder(workdir, target, run.output_dir / PARTIAL_DIR)
    run.ledger.write(
        AuditEnd(
            run=run.run_id,
            audit=job.folder,
            status=AuditStatus.DONE.value,
            seconds=round(result.seconds, 2),
            attempts=result.attempts,
            inputs=run.hashes[job.folder],
            outputs=outputs,
            signed=signed,
            worker=result.worker,
        )
    )
    run.progress.update(job.folder, AuditStatus.DONE)
    return AuditOutcome(
        job, AuditStatus.DONE, target, outputs, None, result.attempts, result.seconds, signed
    )


def _failed_before_start(run: _Run, job: BatchJob, error_name: str, reason: str) -> AuditOutcome:
    """An audit that cannot even start (its inputs are unreadable): failed, with the reason."""
    failure = NotebookFailure(error_name, reason)
    run.ledger.write(
        AuditEnd(
            run=run.run_id,
            audit=job.folder,
            status=AuditStatus.FAILED.value,
            inputs=run.hashes.get(job.folder, {}),
            error=failure.to_dict(),
            note="not started: its inputs could not be read",
        )
    )
    run.progress.update(job.folder, AuditStatus.FAILED)
    return AuditOutcome(job, AuditStatus.FAILED, None, {}, failure)


def _unplanned(run: _Run, problem: PlanProblem) -> AuditOutcome:
    """A provider the plan could not judge, recorded as a failed audit with the reason."""
    day = dt.datetime.now(dt.UTC).date()
    job = BatchJob(
        folder=f"{problem.provider_id}_unplanned",
        provider_id=problem.provider_id,
        trigger=AuditTrigger.CERTIFICATE_EXPIRY,
        audit_date=day,
        due_date=day,
        reference=f"plan: {problem.reason}",
        audits=(),
    )
    return _failed_before_start(run, job, "PlanError", problem.reason)


def _sign_existing(run: _Run, job: BatchJob, previous: dict[str, Any]) -> AuditOutcome:
    """An up-to-date audit made without signing, now signed (atomically, in place)."""
    target = run.output_dir / job.folder
    tmp_dir = Path(tempfile.mkdtemp(prefix=f"{job.folder}.sign-", dir=run.output_dir / PARTIAL_DIR))
    try:
        _sign_into(run, target / "report.pdf", tmp_dir / SIGNED_PDF)
    except Exception as exc:
        failure = NotebookFailure("SignError", f"{type(exc).__name__}: {exc}")
        run.ledger.write(
            AuditEnd(
                run=run.run_id,
                audit=job.folder,
                status=AuditStatus.FAILED.value,
                inputs=run.hashes[job.folder],
                error=failure.to_dict(),
            )
        )
        run.progress.update(job.folder, AuditStatus.FAILED)
        return AuditOutcome(job, AuditStatus.FAILED, target, failure=failure)
    os.replace(tmp_dir / SIGNED_PDF, target / SIGNED_PDF)
    shutil.rmtree(tmp_dir, ignore_errors=True)
    outputs = dict(previous["outputs"])
    outputs[f"{job.folder}/{SIGNED_PDF}"] = sha256_file(target / SIGNED_PDF)
    run.ledger.write(
        AuditEnd(
            run=run.run_id,
            audit=job.folder,
            status=AuditStatus.DONE.value,
            seconds=0,
            attempts=0,
            inputs=run.hashes[job.folder],
            outputs=outputs,
            signed=True,
            note="outputs up to date; signed only",
        )
    )
    run.progress.update(job.folder, AuditStatus.DONE)
    return AuditOutcome(job, AuditStatus.DONE, target, outputs, signed=True)


def _stop_workers(pool: cf.ProcessPoolExecutor) -> None:
    """On interruption: cancel what has not started and stop the running workers now
    (their kernels exit when they see their parent gone)."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=5)


def run_batch(
    audits: Sequence[PlannedAudit],
    settings: BatchSettings,
    *,
    progress: IO[str] | None = None,
    observations: Sequence[TlsObservation] | None = None,
    problems: Sequence[PlanProblem] = (),
) -> BatchResult:
    """Produce every due audit's report; see the module docstring for the guarantees.

    `progress`: stream for the progress display (the CLI passes stderr; None: silent).
    `observations`: already made scans to use instead of scanning (the demo, tests).
    `problems`: providers the plan could not judge (`plan_audits(problems=...)`): each is
    recorded as a failed audit `<provider>_unplanned` with the reason; the others run.
    """
    started = time.monotonic()
    check_settings(settings)
    output_dir = Path(settings.output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    run_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    jobs = group_jobs(audits)
    signer = None
    if settings.signing is not None:
        signer = load_signer(settings.signing.signer)  # once, before any work

    with _locked(output_dir):
        partial_root = output_dir / PARTIAL_DIR
        shutil.rmtree(partial_root, ignore_errors=True)  # leftovers of a killed run
        partial_root.mkdir()
        registry = load_registry(settings.registry_path)
        providers = list({j.provider_id: registry.get(j.provider_id) for j in jobs}.values())

        scans_path: Path | None
        if observations is not None or settings.scan_results_path is None:
            if observations is None:
                if progress is not None:
                    count = sum(len(p.endpoints) for p in providers)
                    progress.write(f"batch: scanning {count} endpoint(s) once\n")
                observations = scan_due_endpoints(
                    providers, ScanSettings(ca_dir=settings.ca_dir, timeout=settings.scan_timeout)
                )

            scans_path = output_dir / SCANS_DIR / f"scan-{run_id}.json"
            scans_path.parent.mkdir(exist_ok=True)
            save_observations(scans_path, list(observations))
        else:
            scans_path = Path(settings.scan_results_path).resolve()
            observations = load_observations(scans_path)

        common = {
            "checkpoints": sha256_file(settings.checkpoints_path),
            "notebook": notebook_source_digest(settings.notebook_path),
            "auditlib": __version__,
        }
        bundle_cache: dict[str, str | None] = {}
        hashes: dict[str, dict[str, str | None]] = {}
        unusable: dict[str, str] = {}  # job folder -> why its inputs cannot even be hashed
        for j in jobs:
            try:
                hashes[j.folder] = _input_hashes(
                    j, settings, registry, observations, common, bundle_cache
                )
            except Exception as exc:  # one provider's hostile bundle must not stop the rest
                hashes[j.folder] = {}
                unusable[j.folder] = describe_exception(exc)
        ledger_path = output_dir / LEDGER_NAME
        previous = last_success(read_ledger(ledger_path))
        display = Progress(len(jobs) + len(problems), progress)
        with Ledger(ledger_path) as ledger:
            run = _Run(settings, output_dir, ledger, run_id, signer, display, hashes)
            ledger.write(
                RunStart(
                    run=run_id,
                    audits=len(jobs) + len(problems),
                    workers=settings.workers or os.cpu_count() or 1,
                    force=settings.force,
                    kernels=_kernels_label(settings),
                    scan_results=str(scans_path) if scans_path else None,
                    auditlib=__version__,
                    scheduler=settings.cluster.address if settings.cluster else None,
                )
            )
            outcomes: dict[str, AuditOutcome] = {}
            todo: list[BatchJob] = []
            unplanned = [_unplanned(run, problem) for problem in problems]
            for job in jobs:
                if job.folder in unusable:
                    outcomes[job.folder] = _failed_before_start(
                        run, job, "InputError", unusable[job.folder]
                    )
                    continue
                if auditor_folder(output_dir / job.folder):
                    ledger.write(
                        AuditSkip(
                            run=run_id,
                            audit=job.folder,
                            status=AuditStatus.SKIPPED.value,
                            reason=f"the folder holds an auditor's {AUDITOR_NOTEBOOK} "
                            "(auditlib new-audit): never replaced by the batch",
                            inputs=hashes[job.folder],
                        )
                    )
                    display.update(job.folder, AuditStatus.SKIPPED)
                    outcomes[job.folder] = AuditOutcome(
                        job, AuditStatus.SKIPPED, output_dir / job.folder, {}
                    )
                    continue
                prior = previous.get(job.folder)
                fresh = (
                    not settings.force
                    and prior is not None
                    and prior.get("inputs") == hashes[job.folder]
                    and outputs_intact(output_dir, prior.get("outputs"))
                )
                if not fresh:
                    todo.append(job)
                    continue
                assert prior is not None
                if signer is not None and not prior.get("signed"):
                    outcomes[job.folder] = _sign_existing(run, job, prior)
                    continue
                ledger.write(
                    AuditSkip(
                        run=run_id,
                        audit=job.folder,
                        status=AuditStatus.SKIPPED.value,
                        reason="inputs unchanged and outputs intact",
                        inputs=hashes[job.folder],
                    )
                )
                display.update(job.folder, AuditStatus.SKIPPED)
                outcomes[job.folder] = AuditOutcome(
                    job, AuditStatus.SKIPPED, output_dir / job.folder, prior["outputs"]
                )
            try:
                _execute_all(run, todo, scans_path, outcomes)
            except BaseException as exc:
                ledger.write(RunEnd(run=run_id, status="interrupted", error=repr(exc)))
                raise
            ordered = tuple(outcomes[j.folder] for j in jobs) + tuple(unplanned)
            result = BatchResult(
                run_id=run_id,
                output_dir=output_dir,
                ledger_path=ledger_path,
                scan_results_path=scans_path,
                outcomes=ordered,
                seconds=time.monotonic() - started,
            )
            ledger.write(
                RunEnd(
                    run=run_id,
                    status=result.bottom_line.value,
                    done=result.count(AuditStatus.DONE),
                    skipped=result.count(AuditStatus.SKIPPED),
                    failed=result.count(AuditStatus.FAILED),
                    seconds=round(result.seconds, 2),
                )
            )
        shutil.rmtree(partial_root, ignore_errors=True)
    return result


def _execute_all(
    run: _Run, todo: list[BatchJob], scans_path: Path | None, outcomes: dict[str, AuditOutcome]
) -> None:
    """Keep at most N notebooks in flight; finalize each as it completes."""
    if not todo:
        return
    settings = run.settings
    workers = max(1, min(settings.workers or os.cpu_count() or 1, len(todo)))
    cwd = None  # every parameter is an absolute path: the kernel's folder does not matter
    if settings.cluster is not None:
        _execute_on_cluster(run, settings.cluster, todo, scans_path, outcomes)
        return
    pending = list(todo)
    log = str(run.output_dir / LOGS_DIR / f"workers-{run.run_id}.log")
    (run.output_dir / LOGS_DIR).mkdir(exist_ok=True)
    in_flight: dict[cf.Future[_TaskResult], tuple[BatchJob, Path]] = {}
    pool = _new_pool(workers, log)
    try:

        def submit(job: BatchJob) -> None:
            task, workdir = _new_task(run, job, scans_path, cwd)
            _record_start(run, job, task)
            in_flight[pool.submit(_execute, task)] = (job, workdir)

        while pending and len(in_flight) < workers:
            submit(pending.pop(0))
        while in_flight:
            finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                job, workdir = in_flight.pop(future)
                try:
                    result = future.result()
                except Exception as exc:
                    result = _TaskResult(
                        job.folder,
                        False,
                        1,
                        0.0,
                        NotebookFailure(type(exc).__name__, str(exc) or "worker process died"),
                    )
                outcomes[job.folder] = _finalize(run, job, result, workdir)
                if pending and not _pool_broken(pool):
                    submit(pending.pop(0))
            if pending and _pool_broken(pool):
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _new_pool(workers, log)
                while pending and len(in_flight) < workers:
                    submit(pending.pop(0))
    except BaseException:
        _stop_workers(pool)
        raise
    pool.shutdown(wait=True)


def _new_task(
    run: _Run, job: BatchJob, scans_path: Path | None, cwd: str | None
) -> tuple[_Task, Path]:
    """The task for one audit, and its private folder (renamed into place when complete)."""
    settings = run.settings
    workdir = Path(tempfile.mkdtemp(prefix=f"{job.folder}.", dir=run.output_dir / PARTIAL_DIR))
    workdir.chmod(0o755)  # mkdtemp's 0700 would follow the folder into place
    task = _Task(
        folder=job.folder,
        notebook=settings.notebook_path.resolve(),
        workdir=workdir,
        parameters=_parameters(job, settings, workdir, scans_path),
        kernel_name=settings.kernel_name,
        cwd=cwd,
        retries=settings.kernel_start_retries,
        execution_timeout=settings.execution_timeout,
        warm_kernels=settings.warm_kernels,
        executor=_executor(settings),
    )
    return task, workdir


def _kernels_label(settings: BatchSettings) -> str:
    """The ledger's `kernels`: "forked" (no kernel), "warm" or "cold"."""
    if _executor(settings) == "fork":
        return "forked"
    return "warm" if settings.warm_kernels else "cold"


def _executor(settings: BatchSettings) -> str:
    """The executor actually used: kernels on a cluster, and when kernels are cold."""
    if settings.cluster is not None or not settings.warm_kernels:
        return "kernel"
    return settings.executor


def _record_start(run: _Run, job: BatchJob, task: _Task, worker: str | None = None) -> None:
    run.ledger.write(
        AuditStart(
            run=run.run_id,
            audit=job.folder,
            provider_id=job.provider_id,
            trigger=job.trigger.value,
            audit_date=job.audit_date.isoformat(),
            due_date=job.due_date.isoformat(),
            reference=job.reference,
            inputs=run.hashes[job.folder],
            parameters=task.parameters,
            worker=worker,
        )
    )


def _execute_on_cluster(
    run: _Run,
    spec: ClusterSpec,
    todo: list[BatchJob],
    scans_path: Path | None,
    outcomes: dict[str, AuditOutcome],
) -> None:
    """The same tasks on a Dask cluster: one task per audit; the client keeps the ledger,
    moves folders into place and signs (`auditlib.batch.cluster`)."""
    tasks = []
    for job in todo:
        task, workdir = _new_task(run, job, scans_path, None)
        tasks.append((f"auditlib-{run.run_id}-{job.folder}", task, (job, task, workdir)))

    def on_start(payload: tuple[BatchJob, _Task, Path], worker: str) -> None:
        job, task, _ = payload
        _record_start(run, job, task, worker)

    def on_done(
        payload: tuple[BatchJob, _Task, Path],
        result: _TaskResult | None,
        worker: str | None,
        error: BaseException | None,
    ) -> None:
        job, _, workdir = payload
        if result is None:
            reason = f"{type(error).__name__}: {error}" if error else "no result"
            result = _TaskResult(
                job.folder, False, 1, 0.0, NotebookFailure("DaskTaskError", reason)
            )
        outcomes[job.folder] = _finalize(
            run, job, dataclasses.replace(result, worker=worker), workdir
        )

    execute_on_cluster(spec, tasks, _execute, on_start, on_done)


def _new_pool(workers: int, log: str) -> cf.ProcessPoolExecutor:
    # spawn, not fork: the main process runs threads (sslyze, hashing) before this
    return cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_init,
        initargs=(log, os.getpid()),
    )


def _pool_broken(pool: cf.ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False))
