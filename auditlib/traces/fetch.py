"""Fetch `GET /traces?start=&end=` from a Proxy e-Santé over mutual TLS, keeping evidence.

Standard library only (`ssl`, `http.client`): `GET /check/alive` first (the reference
proxy answers `OK`), then the export; the server certificate is verified against the
configured trust anchors and its host name checked; one overall deadline covers both
requests; the raw response is streamed to a file, renamed once complete, with a
`.fetch.json` record beside it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import json
import math
import os
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from auditlib.errors import TraceError
from auditlib.files import atomic_target, sha256_bytes, write_atomic
from auditlib.traces.load import SIDECAR_SUFFIX, read_export, with_changes
from auditlib.traces.model import SupervisionProfile, TraceExport, load_supervision_profile

DEFAULT_TIMEOUT = 30.0


def _trust_context(ca_dir: str | os.PathLike[str] | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if ca_dir is None:
        return context
    folder = Path(ca_dir)
    pems = (
        sorted(
            p
            for p in folder.glob("*")
            if p.is_file() and p.suffix.lower() in {".pem", ".crt", ".cer"}
        )
        if folder.is_dir()
        else []
    )
    if not pems:
        raise TraceError("no trust anchors (*.pem, *.crt, *.cer) in the CA folder", str(folder))
    bundle = "\n".join(p.read_text("ascii", errors="replace") for p in pems)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # only the configured anchors
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_verify_locations(cadata=bundle)
    except ssl.SSLError as exc:
        raise TraceError(f"unusable trust anchors: {exc.reason or exc}", str(folder)) from None
    return context


def _client_context(
    ca_dir: str | os.PathLike[str] | None,
    client_cert: str | os.PathLike[str] | None,
    client_key: str | os.PathLike[str] | None,
    key_passphrase_env: str | None,
) -> ssl.SSLContext:
    context = _trust_context(ca_dir)
    if client_cert is None:
        return context  # the proxy should refuse us: that is worth proving too
    password: str | None = None
    if key_passphrase_env:
        password = os.environ.get(key_passphrase_env)
        if password is None:
            raise TraceError(
                f"environment variable {key_passphrase_env} (client key passphrase) is not set"
            )
    try:
        key = str(client_key) if client_key is not None else None
        context.load_cert_chain(str(client_cert), key, password=password)
    except FileNotFoundError as exc:
        raise TraceError(f"client certificate or key not found: {exc.filename}") from None
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TraceError(
            f"cannot load client certificate {client_cert} / key {client_key} "
            f"(wrong passphrase or not PEM?): {exc}"
        ) from None
    return context


def _window_url(url: str, start: dt.datetime, end: dt.datetime) -> urllib.parse.SplitResult:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise TraceError(f"trace endpoint {url!r} is not a valid URL ({exc})") from None
    try:
        port = parts.port
    except ValueError:
        raise TraceError(f"trace endpoint {url!r} has an invalid port") from None
    if parts.scheme != "https" or not parts.hostname:
        raise TraceError(f"trace endpoint must be an https:// URL (mutual TLS), got {url!r}")
    del port
    query = urllib.parse.parse_qsl(parts.query)
    query += [("start", start.isoformat()), ("end", end.isoformat())]
    return parts._replace(query=urllib.parse.urlencode(query))


def alive_path(traces_path: str) -> str:
    """`/check/alive` beside the `/traces` path (same prefix behind a reverse proxy)."""
    path = traces_path.rstrip("/")
    base = path[: -len("/traces")] if path.endswith("/traces") else ""
    return f"{base}/check/alive"


class _Deadline:
    """One overall deadline for a fetch: every socket wait is capped by the time left,
    and a watchdog shuts the socket at the deadline (a server dribbling one byte at a
    time never hits a per-read timeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = threading.Event()
        self._timers: list[threading.Timer] = []

    def left(self) -> float:
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            self.expired.set()
            raise TimeoutError
        return remaining

    def guard(self, conn: http.client.HTTPConnection) -> None:
        """Shut `conn`'s socket down when the deadline passes."""

        def fire() -> None:
            self.expired.set()
            sock = conn.sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

        timer = threading.Timer(max(0.0, self.at - time.monotonic()), fire)
        timer.daemon = True
        timer.start()
        self._timers.append(timer)

    def cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()


@dataclass
class _Answer:
    status: int
    reason: str
    content_type: str | None
    size: int
    snippet: bytes
    peer: bytes | None
    tls_version: str | None
    cipher: str | None


def _get(
    host: str,
    port: int,
    path: str,
    context: ssl.SSLContext,
    deadline: _Deadline,
    sink: IO[bytes] | None,
    max_bytes: int,
) -> _Answer:
    """One GET on a fresh connection; the body goes to `sink` (or is kept, 4 KiB at most)."""
    conn = http.client.HTTPSConnection(host, port, timeout=deadline.left(), context=context)
    deadline.guard(conn)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        sock = conn.sock
        tls_sock = sock if isinstance(sock, ssl.SSLSocket) else None
        peer = tls_sock.getpeercert(binary_form=True) if tls_sock else None
        version = tls_sock.version() if tls_sock else None
        cipher = tls_sock.cipher() if tls_sock else None
        response = conn.getresponse()
        size = 0
        kept = b""
        while True:
            if sock is not None:
                sock.settimeout(deadline.left())
            chunk = response.read1(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise TraceError(f"response over the {max_bytes}-byte limit of the profile")
            if sink is not None and response.status == 200:
                sink.write(chunk)
            elif len(kept) < 4096:
                kept += chunk[: 4096 - len(kept)]
            deadline.left()
        return _Answer(
            status=response.status,
            reason=response.reason,
            content_type=response.getheader("Content-Type"),
            size=size,
            snippet=kept,
            peer=peer,
            tls_version=version,
            cipher=cipher[0] if cipher else None,
        )
    finally:
        conn.close()


def fetch_traces(
    url: str,
    start: dt.datetime,
    end: dt.datetime,
    client_cert: str | os.PathLike[str] | None,
    client_key: str | os.PathLike[str] | None,
    key_passphrase_env: str | None = None,
    ca_dir: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    evidence_dir: str | os.PathLike[str],
    profile: SupervisionProfile | None = None,
) -> TraceExport:
    """`GET /check/alive`, then `GET <url>?start=&end=` over mutual TLS; keep the response.

    `timeout` is an overall deadline for both requests (connection, TLS, headers and
    body), not a per-read timeout. The proxy keeps records with start < timestamp < end
    (both bounds exclusive). The server certificate is verified against the PEM files
    of `ca_dir` (system anchors when None) and its host name checked. The client key's
    passphrase is read from the environment variable named `key_passphrase_env` (None:
    no client certificate, which a conforming proxy refuses). The response is streamed
    to `evidence_dir` (temporary file, renamed once complete) with a `.fetch.json`
    record (url, window, time, SHA-256, server certificate fingerprint) beside it, then
    read back with the byte and record limits of the profile.
    """
    profile = profile or load_supervision_profile()
    if not (math.isfinite(timeout) and timeout > 0):
        raise TraceError(f"the fetch timeout must be a positive number of seconds, got {timeout}")
    if start.tzinfo is None or end.tzinfo is None:
        raise TraceError("the trace window needs timezone-aware start and end")
    if end <= start:
        raise TraceError(f"empty trace window: end {end.isoformat()} <= start {start.isoformat()}")
    target = _window_url(url, start, end)
    context = _client_context(ca_dir, client_cert, client_key, key_passphrase_env)
    host = target.hostname or ""
    port = target.port or 443
    path = urllib.parse.urlunsplit(("", "", target.path or "/", target.query, ""))
    hint = (
        "no client certificate was presented; the server probably requires one"
        if client_cert is None
        else f"the server may have refused the client certificate {client_cert}"
    )
    fetched_at = dt.datetime.now(dt.UTC)
    stamp = fetched_at.strftime("%Y%m%dT%H%M%SZ")
    safe_host = re.sub(r"[^A-Za-z0-9.-]", "_", host)
    folder = Path(evidence_dir)
    evidence = folder / f"traces-{safe_host}-{stamp}.json"
    if folder.exists() and not folder.is_dir():
        raise TraceError("the evidence folder is not a directory", str(folder))
    tmp, evidence = atomic_target(evidence)
    deadline = _Deadline(timeout)
    alive_at = alive_path(target.path or "/")
    try:
        alive = _get(host, port, alive_at, context, deadline, None, 4096)
        if alive.status != 200 or alive.snippet.strip() != b"OK":
            snippet = alive.snippet[:100].decode("utf-8", errors="replace")
            raise TraceError(
                f"GET {alive_at} answered HTTP {alive.status} {snippet!r}, not 200 OK: "
                "the proxy is not alive (or not a Proxy e-Santé)",
                url,
            )
        with open(tmp, "wb") as sink:
            answer = _get(host, port, path, context, deadline, sink, profile.max_bytes)
            sink.flush()
            os.fsync(sink.fileno())
        if answer.status != 200:
            snippet = answer.snippet[:200].decode("utf-8", errors="replace")
            raise TraceError(f"HTTP {answer.status} {answer.reason}: {snippet!r}", url)
        os.replace(tmp, evidence)
    except TraceError as exc:
        raise TraceError(exc.message, exc.source or url) from None
    except ssl.SSLCertVerificationError as exc:
        raise TraceError(
            f"server certificate refused: {exc.verify_message or exc.reason}", url
        ) from None
    except TimeoutError:
        raise TraceError(
            f"no complete answer within {timeout:g} s (overall deadline)", url
        ) from None
    except ssl.SSLError as exc:
        if deadline.expired.is_set():
            raise TraceError(
                f"no complete answer within {timeout:g} s (overall deadline)", url
            ) from None
        raise TraceError(f"TLS failure ({exc.reason or exc}); {hint}", url) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if deadline.expired.is_set():
            raise TraceError(
                f"no complete answer within {timeout:g} s (overall deadline)", url
            ) from None
        raise TraceError(f"connection failed ({exc}); {hint}", url) from None
    finally:
        deadline.cancel()
        tmp.unlink(missing_ok=True)

    export = load_traces_file(evidence, url, profile, start, end)
    fetch = {
        "url": url,
        "request": urllib.parse.urlunsplit(target),
        "bounds": "exclusive (start < timestamp < end)",
        "alive": f"GET {alive_at}: 200 OK",
        "start": start.isoformat(),
        "end": end.isoformat(),
        "fetched_at": fetched_at.isoformat(),
        "http_status": answer.status,
        "content_type": answer.content_type,
        "sha256": export.sha256,
        "size_bytes": answer.size,
        "file": evidence.name,
        "server_certificate_sha256": sha256_bytes(answer.peer) if answer.peer else None,
        "tls_version": answer.tls_version,
        "cipher": answer.cipher,
        "client_certificate": str(client_cert) if client_cert else None,
        "trust_anchors": str(ca_dir) if ca_dir else "system",
    }
    write_atomic(
        evidence.with_name(evidence.name + SIDECAR_SUFFIX),
        json.dumps(fetch, indent=2, ensure_ascii=False) + "\n",
    )
    return with_changes(export, evidence_path=evidence, fetch=fetch)


def load_traces_file(
    evidence: Path,
    url: str,
    profile: SupervisionProfile,
    start: dt.datetime,
    end: dt.datetime,
) -> TraceExport:
    """Read back the kept response (streaming, with the profile's limits)."""
    try:
        with open(evidence, "rb") as stream:
            return read_export(stream, url, profile, start=start, end=end)
    except OSError as exc:
        raise TraceError(f"cannot read the kept response: {exc.strerror or exc}", url) from None
