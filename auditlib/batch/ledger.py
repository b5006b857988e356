"""The batch's memory: the run ledger, and the digests that decide whether an audit
must be redone (see `auditlib.batch.runner`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from auditlib.files import sha256_bytes, sha256_file
from auditlib.registry import Provider
from auditlib.tls.scan import TlsObservation

# --------------------------------------------------------------------------- records

LEDGER_FORMAT = "auditlib.batch-ledger/1"
"""The ledger's format: JSON Lines, one record per event, each with `time` and `event`."""


@dataclass(frozen=True)
class LedgerRecord:
    """One line of the ledger. Optional keys left at None are not written (a failed audit's
    `end` has no `outputs`); `ALWAYS` names the keys written even when None."""

    EVENT: ClassVar[str] = ""
    ALWAYS: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        kept = {k: v for k, v in values.items() if v is not None or k in self.ALWAYS}
        return {"event": self.EVENT, **kept}


@dataclass(frozen=True)
class RunStart(LedgerRecord):
    """A batch run begins."""

    EVENT: ClassVar[str] = "run_start"
    ALWAYS: ClassVar[frozenset[str]] = frozenset({"scan_results"})
    run: str
    audits: int
    workers: int
    force: bool
    kernels: str
    """`warm` (forked from a template) or `cold` (papermill's ordinary launch)."""
    scan_results: str | None
    auditlib: str
    format: str = LEDGER_FORMAT
    scheduler: str | None = None
    """The Dask scheduler's address when the audits ran on a cluster."""


@dataclass(frozen=True)
class AuditStart(LedgerRecord):
    """An audit's notebook is submitted to a worker."""

    EVENT: ClassVar[str] = "start"
    ALWAYS: ClassVar[frozenset[str]] = frozenset({"reference"})
    run: str
    audit: str
    """The audit's folder name (`AuditSpec.folder_name`)."""
    provider_id: str
    trigger: str
    audit_date: str
    due_date: str
    reference: str | None
    inputs: dict[str, str | None]
    """Digests of every input (registry entry, bundle, workbook, notebook...); None: absent."""
    parameters: dict[str, Any]
    worker: str | None = None
    """The Dask worker running the audit (`--scheduler`); absent for the local pool."""


@dataclass(frozen=True)
class AuditEnd(LedgerRecord):
    """An audit ended: `done` (outputs and their digests) or `failed` (the error)."""

    EVENT: ClassVar[str] = "end"
    run: str
    audit: str
    status: str
    inputs: dict[str, str | None]
    """Digests of every input (registry entry, bundle, workbook, notebook...); None: absent."""
    seconds: float | None = None
    attempts: int | None = None
    outputs: dict[str, str] | None = None
    signed: bool | None = None
    error: dict[str, Any] | None = None
    kept_in: str | None = None
    """Where a failed audit's partial outputs were kept."""
    note: str | None = None
    worker: str | None = None
    """The Dask worker that ran the audit (`--scheduler`); absent for the local pool."""


@dataclass(frozen=True)
class AuditSkip(LedgerRecord):
    """An audit not redone: its inputs are unchanged and its outputs intact."""

    EVENT: ClassVar[str] = "skip"
    run: str
    audit: str
    status: str
    reason: str
    inputs: dict[str, str | None]
    """Digests of every input (registry entry, bundle, workbook, notebook...); None: absent."""


@dataclass(frozen=True)
class RunEnd(LedgerRecord):
    """A batch run ends: its bottom line and counts, or `interrupted` with the error."""

    EVENT: ClassVar[str] = "run_end"
    run: str
    status: str
    done: int | None = None
    skipped: int | None = None
    failed: int | None = None
    seconds: float | None = None
    error: str | None = None


# --------------------------------------------------------------------------- ledger


class Ledger:
    """Append-only JSON Lines; every line flushed and fsynced before the next step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None

    def __enter__(self) -> Ledger:
        self._handle = open(self.path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()

    def write(self, record: LedgerRecord) -> None:
        assert self._handle is not None
        line = json.dumps(
            {"time": dt.datetime.now(dt.UTC).isoformat(), **record.to_dict()},
            ensure_ascii=False,
            default=str,
        )
        self._handle.write(line + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """Every readable line; a torn last line (killed mid-write) is ignored."""
    records: list[dict[str, Any]] = []
    if not path.is_file():
        return records
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def last_success(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Folder -> its latest `end` record, kept only when that record is a success."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("event") == "end" and isinstance(record.get("audit"), str):
            latest[record["audit"]] = record
    return {k: v for k, v in latest.items() if v.get("status") == "done"}


def outputs_intact(output_dir: Path, outputs: Any) -> bool:
    if not isinstance(outputs, dict) or not outputs:
        return False
    for rel, digest in outputs.items():
        path = output_dir / rel
        if not path.is_file() or sha256_file(path) != digest:
            return False
    return True


# --------------------------------------------------------------------------- input hashes


def bundle_digest(path: Path) -> str | None:
    """SHA-256 of a .zip bundle, or of `<sha256>  <path>` lines for a folder's files."""
    if path.is_file():
        return sha256_file(path)
    if not path.is_dir():
        return None
    lines = []
    for root, dirs, files in os.walk(path, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            file = Path(root) / name
            rel = file.relative_to(path).as_posix()
            if file.is_symlink():
                lines.append(f"link:{os.readlink(file)}  {rel}\n")
            elif file.is_file():
                lines.append(f"{sha256_file(file)}  {rel}\n")
    return sha256_bytes("".join(sorted(lines, key=lambda line: line.split("  ", 1)[1])).encode())


def observations_digest(observations: Sequence[TlsObservation]) -> str:
    """SHA-256 of what the endpoints showed, without when (`scanned_at`) or sidecar names,
    so a rescan of unchanged servers gives the same digest."""
    volatile = {"scanned_at", "raw_sslyze_file", "raw_sslyze_sha256", "label"}
    records = [o.model_dump(mode="json", exclude=volatile) for o in observations]
    return sha256_bytes(json.dumps(records, sort_keys=True).encode())


def provider_observations(
    provider: Provider, observations: Sequence[TlsObservation]
) -> list[TlsObservation]:
    by_address = {(o.host, o.port): o for o in observations}
    return [
        by_address[(e.host, e.port)] for e in provider.endpoints if (e.host, e.port) in by_address
    ]
