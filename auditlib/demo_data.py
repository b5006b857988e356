"""Shared pieces of the demo data: its fixed date, and a writer for evidence bundles.

`scripts/make_demo_bundles.py` builds `data/` with these; tests build their bundles
with the same writer, and `auditlib demo` reuses `DEMO_DATE` so that the shipped
certificates are "close to expiry" on the demo's day whatever the real date.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from auditlib.files import sha256_bytes, write_atomic

DEMO_DATE = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
"""The day the demo data describes (all demo dates are relative to it)."""

DEMO_CLIENT_KEY_PASS_ENV = "AUDITLIB_DEMO_CLIENT_KEY_PASS"
DEMO_CLIENT_KEY_PASS = "demo-only-passphrase"
"""Passphrase of the demo mTLS client key: demo material only, published on purpose."""


def manifest_entry(
    path: str,
    data: bytes,
    kind: str,
    requirements: Sequence[str | int],
    date: dt.date,
    **extra: Any,
) -> dict[str, Any]:
    """One manifest item for `data`, with its SHA-256 computed."""
    entry: dict[str, Any] = {
        "path": path,
        "kind": kind,
        "requirements": [str(r) if isinstance(r, int) else r for r in requirements],
        "date": date.isoformat(),
        "sha256": sha256_bytes(data),
    }
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def write_bundle(
    folder: Path,
    provider: str,
    files: Mapping[str, bytes],
    items: Sequence[Mapping[str, Any]],
    prepared_on: dt.date | None = None,
) -> Path:
    """Write `files` and a `manifest.yaml` listing `items` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        write_atomic(folder / rel, data)
    manifest: dict[str, Any] = {"version": 1, "provider": provider}
    if prepared_on:
        manifest["prepared_on"] = prepared_on.isoformat()
    manifest["items"] = [dict(i) for i in items]
    text = yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False, width=100)
    write_atomic(folder / "manifest.yaml", text)
    return folder


def zip_folder(folder: Path, target: Path) -> Path:
    """Zip a bundle folder (members relative to it, fixed timestamps for reproducibility)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(file.relative_to(folder).as_posix(), (2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, file.read_bytes())
    tmp.replace(target)
    return target
