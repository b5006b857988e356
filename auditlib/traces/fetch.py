"""Fetch `GET /traces?start=&end=` from a Proxy e-Santé over mutual TLS, keeping evidence.

Standard library only (`ssl`, `http.client`): the server certificate is verified
against the configured trust anchors and its host name checked; the raw response is
written atomically with a `.fetch.json` record beside it.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import ssl
import urllib.parse
from pathlib import Path

from auditlib.errors import TraceError
from auditlib.files import sha256_bytes, write_atomic
from auditlib.traces.load import SIDECAR_SUFFIX, parse_traces, with_changes
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
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise TraceError(f"trace endpoint must be an https:// URL (mutual TLS), got {url!r}")
    query = urllib.parse.parse_qsl(parts.query)
    query += [("start", start.isoformat()), ("end", end.isoformat())]
    return parts._replace(query=urllib.parse.urlencode(query))


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
    """GET `<url>?start=&end=` over mutual TLS and keep the raw response as evidence.

    The server certificate is verified against the PEM files of `ca_dir` (system
    anchors when None) and its host name checked. The client key's passphrase is read
    from the environment variable named `key_passphrase_env` (None: no client
    certificate, which a conforming proxy refuses). The response is written
    to `evidence_dir` atomically, with a `.fetch.json` record (url, window, time,
    SHA-256, server certificate fingerprint) beside it.
    """
    profile = profile or load_supervision_profile()
    if start.tzinfo is None or end.tzinfo is None:
        raise TraceError("the trace window needs timezone-aware start and end")
    if end <= start:
        raise TraceError(f"empty trace window: end {end.isoformat()} <= start {start.isoformat()}")
    target = _window_url(url, start, end)
    context = _client_context(ca_dir, client_cert, client_key, key_passphrase_env)
    host = target.hostname or ""
    path = urllib.parse.urlunsplit(("", "", target.path or "/", target.query, ""))
    conn = http.client.HTTPSConnection(host, target.port or 443, timeout=timeout, context=context)
    hint = (
        "no client certificate was presented; the server probably requires one"
        if client_cert is None
        else f"the server may have refused the client certificate {client_cert}"
    )
    fetched_at = dt.datetime.now(dt.UTC)
    try:
        conn.request("GET", path, headers={"Accept": "application/json"})
        sock = conn.sock
        peer = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
        tls = (sock.version(), sock.cipher()) if isinstance(sock, ssl.SSLSocket) else (None, None)
        response = conn.getresponse()
        body = response.read(profile.max_bytes + 1)
    except ssl.SSLCertVerificationError as exc:
        raise TraceError(
            f"server certificate refused: {exc.verify_message or exc.reason}", url
        ) from None
    except ssl.SSLError as exc:
        raise TraceError(f"TLS failure ({exc.reason or exc}); {hint}", url) from None
    except TimeoutError:
        raise TraceError(f"no answer within {timeout:g} s", url) from None
    except (OSError, http.client.HTTPException) as exc:
        raise TraceError(f"connection failed ({exc}); {hint}", url) from None
    finally:
        conn.close()
    if response.status != 200:
        snippet = body[:200].decode("utf-8", errors="replace")
        raise TraceError(f"HTTP {response.status} {response.reason}: {snippet!r}", url)
    if len(body) > profile.max_bytes:
        raise TraceError(f"response over the {profile.max_bytes}-byte limit of the profile", url)

    digest = sha256_bytes(body)
    stamp = fetched_at.strftime("%Y%m%dT%H%M%SZ")
    safe_host = re.sub(r"[^A-Za-z0-9.-]", "_", host)
    evidence = Path(evidence_dir) / f"traces-{safe_host}-{stamp}.json"
    write_atomic(evidence, body)
    fetch = {
        "url": url,
        "request": urllib.parse.urlunsplit(target),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "fetched_at": fetched_at.isoformat(),
        "http_status": response.status,
        "content_type": response.getheader("Content-Type"),
        "sha256": digest,
        "size_bytes": len(body),
        "file": evidence.name,
        "server_certificate_sha256": sha256_bytes(peer) if peer else None,
        "tls_version": tls[0],
        "cipher": tls[1][0] if tls[1] else None,
        "client_certificate": str(client_cert) if client_cert else None,
        "trust_anchors": str(ca_dir) if ca_dir else "system",
    }
    write_atomic(
        evidence.with_name(evidence.name + SIDECAR_SUFFIX),
        json.dumps(fetch, indent=2, ensure_ascii=False) + "\n",
    )
    export = parse_traces(body, url, profile, start=start, end=end)
    return with_changes(export, evidence_path=evidence, fetch=fetch)
