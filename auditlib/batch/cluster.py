"""Running the batch's audits on a Dask distributed cluster (`auditlib batch --scheduler`).

One Dask task per audit. Each task runs the very function the local pool runs (the audit
notebook through papermill, warm kernels when the worker can fork them) into the audit's
private folder under the batch output, which every worker must see at the same absolute
path (a shared file system; documented in docs/guide/batch.md). Everything else stays on
the client: planning, the resume rules, the ledger, moving folders into place and signing,
so no secret ever reaches a worker.

The ledger's `start` record is written when the scheduler reports the task running on a
worker, and names it; the `end` record names the worker that returned the result. A lost
worker's tasks are retried by Dask elsewhere (`allowed-failures`); an audit that still
fails is recorded as failed and the batch goes on.

`distributed` is an optional dependency (the `[dask]` extra): it is imported only when a
scheduler is named.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from auditlib.errors import BatchError

POLL_SECONDS = 0.25
"""How often the client asks the scheduler which audits have started, and where."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where the Dask scheduler is, and the TLS material to reach it beyond loopback."""

    address: str
    """`tcp://127.0.0.1:8786` (loopback only) or `tls://host:port`."""
    ca_file: Path | None = None
    """CA that signed the scheduler's and workers' certificates (tls:// only)."""
    cert_file: Path | None = None
    """This client's certificate (tls:// only)."""
    key_file: Path | None = None
    """This client's private key, unencrypted PEM (tls:// only)."""
    connect_timeout: float = 20.0


def check_spec(spec: ClusterSpec) -> None:
    """`tcp://` only to a loopback address; anything else must be `tls://` with its files."""
    parts = urlsplit(spec.address if "://" in spec.address else f"tcp://{spec.address}")
    scheme, host = parts.scheme, parts.hostname or ""
    if scheme not in ("tcp", "tls"):
        raise BatchError(f"--scheduler {spec.address}: scheme must be tcp:// or tls://")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise BatchError(f"--scheduler {spec.address}: give the scheduler's port (host:port)")
    if scheme == "tcp" and not _is_loopback(host):
        raise BatchError(
            f"--scheduler {spec.address}: unencrypted tcp:// is accepted only on loopback; "
            "use tls:// with --dask-ca, --dask-cert and --dask-key"
        )
    if scheme == "tls":
        missing = [
            flag
            for flag, path in (
                ("--dask-ca", spec.ca_file),
                ("--dask-cert", spec.cert_file),
                ("--dask-key", spec.key_file),
            )
            if path is None
        ]
        if missing:
            raise BatchError(f"--scheduler {spec.address}: tls:// needs {', '.join(missing)}")
        for path in (spec.ca_file, spec.cert_file, spec.key_file):
            assert path is not None
            if not path.is_file():
                raise BatchError(f"{path}: no such file (Dask TLS material)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _security(spec: ClusterSpec) -> Any:
    from distributed.security import Security

    if spec.address.startswith("tls://"):
        return Security(  # type: ignore[no-untyped-call]
            tls_ca_file=str(spec.ca_file),
            tls_client_cert=str(spec.cert_file),
            tls_client_key=str(spec.key_file),
            require_encryption=True,
        )
    return None


def connect(spec: ClusterSpec) -> Any:
    """A `distributed.Client` on the scheduler, or a `BatchError` saying why not."""
    check_spec(spec)
    try:
        from distributed import Client
    except ImportError as exc:
        raise BatchError(
            "--scheduler needs Dask: pip install 'auditlib[dask]' (dask, distributed)"
        ) from exc
    try:
        return Client(  # type: ignore[no-untyped-call]
            spec.address,
            security=_security(spec),
            timeout=spec.connect_timeout,
            set_as_default=False,
        )
    except (OSError, TimeoutError) as exc:
        raise BatchError(f"Dask scheduler {spec.address} unreachable: {exc}") from exc


def run_on_worker(execute: Callable[[Any], Any], task: Any) -> tuple[Any, str]:
    """The Dask task: the batch's own `execute(task)`, and the worker that ran it."""
    from distributed import get_worker

    return execute(task), get_worker().address


@dataclass
class _Submitted:
    future: Any
    payload: Any
    started: bool = False


def execute_on_cluster(
    spec: ClusterSpec,
    tasks: list[tuple[str, Any, Any]],
    execute: Callable[[Any], Any],
    on_start: Callable[[Any, str], None],
    on_done: Callable[[Any, Any, str | None, BaseException | None], None],
) -> None:
    """Submit every `(key, task, payload)`; call `on_start(payload, worker)` once a task
    runs, and `on_done(payload, result, worker, error)` when it ends (`error` set when the
    task itself failed: a lost worker beyond Dask's retries, a cancelled task)."""
    client = connect(spec)
    try:
        submitted: dict[str, _Submitted] = {}
        for key, task, payload in tasks:
            future = client.submit(run_on_worker, execute, task, key=key, pure=False)
            submitted[future.key] = _Submitted(future, payload)
        while submitted:
            done = [s.future for s in submitted.values() if s.future.done()]
            if not done:
                time.sleep(POLL_SECONDS)
            for worker, keys in client.processing().items():
                for key in keys:
                    entry = submitted.get(key)
                    if entry is not None and not entry.started:
                        entry.started = True
                        on_start(entry.payload, worker)
            for future in done:
                entry = submitted.pop(future.key)
                try:
                    result, worker = future.result()
                except Exception as exc:  # lost worker beyond retries, cancelled...
                    on_done(entry.payload, None, None, exc)
                    continue
                if not entry.started:  # finished between two polls
                    on_start(entry.payload, worker)
                on_done(entry.payload, result, worker, None)
    finally:
        client.close()
