"""The batch's memory: the run ledger, and the digests that decide whether an audit
must be redone (see `auditlib.batch.runner`)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from auditlib.files import sha256_bytes, sha256_file
from auditlib.registry import Provider
from auditlib.tls.scan import TlsObservation

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

    def write(self, record: dict[str, Any]) -> None:
        assert self._handle is not None
        line = json.dumps(
            {"time": dt.datetime.now(dt.UTC).isoformat(), **record},
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
