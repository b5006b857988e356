"""Proxy e-Santé traces as audit evidence: load or fetch an export, validate, analyse.

The ANS reference Proxy e-Santé serves `GET /traces?start=&end=` over mutual TLS, a
JSON list of records (`type`, `clientId`, `IdRPPS`, `ipAddress`, `proxy_id_session`,
`sessionState`, `dn`, `timestamp`, `request`...). This module turns such an export
into a DataFrame (malformed records set aside with their index, never failing the
whole file), runs the supervision checks of `profiles/supervision.yaml` (vectorised:
a million records take seconds) and turns findings into supervision events that the
audit plan reads as audit triggers.

Layers: `parse_traces` (bytes) under `load_traces` (file) and `fetch_traces` (mTLS);
`analyse_traces` over `tracechecks`; statistics and a chart for the report.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import http.client
import io
import json
import os
import re
import ssl
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from auditlib import tracechecks
from auditlib.errors import TraceError
from auditlib.files import sha256_bytes, sha256_file, write_atomic
from auditlib.requirements import requirement_sort_key
from auditlib.tracechecks import BoolArray, IntArray, blank_mask
from auditlib.tracemodel import (
    EVENT_COLUMNS,
    CheckOutcome,
    CheckStatus,
    MalformedRecord,
    OffendingRecord,
    Severity,
    SupervisionEvent,
    SupervisionProfile,
    TraceExport,
    TraceFinding,
    TraceVerdict,
    load_supervision_profile,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "CheckOutcome",
    "CheckStatus",
    "MalformedRecord",
    "OffendingRecord",
    "Severity",
    "SupervisionEvent",
    "SupervisionProfile",
    "TraceAnalysis",
    "TraceExport",
    "TraceFinding",
    "TraceSettings",
    "TraceVerdict",
    "analyse_traces",
    "fetch_traces",
    "load_supervision_events",
    "load_supervision_profile",
    "load_traces",
    "parse_iso_datetime",
    "parse_traces",
    "trace_chart",
    "trace_statistics",
    "write_events_csv",
    "write_events_yaml",
]

# Fields kept as string columns (besides those the profile requires).
STRING_FIELDS = (
    "type",
    "timestamp",
    "clientId",
    "IdRPPS",
    "ipAddress",
    "proxy_id_session",
    "sessionState",
    "dn",
)
SIDECAR_SUFFIX = ".fetch.json"
# Trace times outside this range are malformed (and would not fit nanosecond arithmetic).
EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")
DEFAULT_TIMEOUT = 30.0


def parse_iso_datetime(text: str, what: str = "date") -> dt.datetime:
    """Parse an ISO-8601 date-time that carries an offset (or `Z`); return it in UTC."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as exc:
        raise TraceError(f"{what} {text!r} is not an ISO-8601 date-time") from exc
    if value.tzinfo is None:
        raise TraceError(f"{what} {text!r} has no UTC offset (write e.g. +01:00 or Z)")
    return value.astimezone(dt.UTC)


# --- parsing ---------------------------------------------------------------------------


def _decode_json(raw: bytes, source: str) -> list[Any]:
    if not raw or raw.isspace():
        raise TraceError("empty file: expected a JSON list of trace records", source)
    try:
        data = json.loads(raw)
    except RecursionError:
        raise TraceError("JSON nested too deeply to be a trace export", source) from None
    except UnicodeDecodeError:
        raise TraceError(
            "not text: binary content where a JSON list was expected", source
        ) from None
    except ValueError as exc:  # JSONDecodeError, over-long integers
        raise TraceError(f"not valid JSON ({str(exc)[:200]})", source) from None
    if not isinstance(data, list):
        raise TraceError(
            f"expected a JSON list of trace records, found a JSON {type(data).__name__}", source
        )
    return data


def _column(records: Sequence[dict[str, Any]], names: Sequence[str]) -> list[Any]:
    """Values of the first of `names` present in each record (None when absent)."""
    values = [r.get(names[-1]) for r in records]
    for name in reversed(names[:-1]):
        values = [r.get(name, v) for r, v in zip(records, values, strict=True)]
    return values


def _as_category(values: list[Any]) -> pd.Categorical:
    """Strings as a categorical column: fast comparisons, blanks found on categories only.

    Values that are not strings (numbers, objects: hostile or sloppy exports) are kept
    as their JSON text, so they can be shown and judged, never crash a comparison.
    """
    if not set(map(type, values)) <= {str, type(None)}:
        values = [v if v is None or type(v) is str else _as_text(v) for v in values]
    codes, uniques = pd.factorize(np.array(values, dtype=object))
    return pd.Categorical.from_codes(codes, categories=pd.Index(uniques, dtype=object))


def _as_text(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)[:500]
    except (RecursionError, ValueError):
        return "<valeur illisible>"


def _has_offset(value: Any) -> bool:
    """`...T..` with `Z` or a `+hh:mm`/`+hhmm`/`+hh` offset at the end (cheap shape test)."""
    return (
        type(value) is str
        and len(value) > 16
        and value[10] in "Tt"
        and (value[-1] in "Zz" or value[-6] in "+-" or value[-5] in "+-" or value[-3] in "+-")
    )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while building a million small dicts and lists.

    JSON decoding creates no reference cycles, but each allocation batch triggers
    full collections that walk every object created so far: pausing it roughly
    halves the decoding time of a large export. The previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_traces(
    raw: bytes,
    source: str,
    profile: SupervisionProfile | None = None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> TraceExport:
    """Validate an export held in memory; malformed records are set aside with their index."""
    profile = profile or load_supervision_profile()
    if len(raw) > profile.max_bytes:
        raise TraceError(
            f"{len(raw)} bytes is over the {profile.max_bytes}-byte limit of the profile", source
        )
    with _gc_paused():
        return _parse(raw, source, profile, start, end)


def _parse(
    raw: bytes,
    source: str,
    profile: SupervisionProfile,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> TraceExport:
    data = _decode_json(raw, source)
    total = len(data)
    if all(type(r) is dict for r in data):
        records: list[dict[str, Any]] = data
        positions = np.arange(total, dtype=np.int64)
        not_objects = np.zeros(0, dtype=np.int64)
    else:
        is_dict = np.fromiter((type(r) is dict for r in data), dtype=bool, count=total)
        positions = np.flatnonzero(is_dict).astype(np.int64)
        not_objects = np.flatnonzero(~is_dict).astype(np.int64)
        records = [data[i] for i in positions]
    del data

    schema = profile.records
    n = len(records)
    columns: dict[str, Any] = {"index": positions}
    missing: dict[str, BoolArray] = {}
    for name in STRING_FIELDS:
        values = _column(records, (name, *schema.aliases.get(name, ())))
        if name == "timestamp":
            stamps = np.array(values, dtype=object)
            missing[name] = np.fromiter((not v for v in values), dtype=bool, count=n)
            shaped = np.fromiter(map(_has_offset, values), dtype=bool, count=n)
            stamps_ok = stamps.copy()
            stamps_ok[~shaped] = None
            parsed = pd.to_datetime(stamps_ok, format="ISO8601", utc=True, errors="coerce")
            columns["timestamp"] = stamps
            times = pd.DatetimeIndex(parsed)
            implausible = np.asarray((times < EARLIEST) | (times >= LATEST), dtype=bool)
            columns["ts"] = times.where(~implausible).as_unit("ns")
        else:
            category = _as_category(values)
            columns[name] = category
            missing[name] = blank_mask(category)
    required = {f for fields in schema.required.values() for f in fields}
    for name in sorted(required - set(STRING_FIELDS)):
        values = _column(records, (name, *schema.aliases.get(name, ())))
        missing[name] = np.fromiter((not v for v in values), dtype=bool, count=n)
    del records
    frame = pd.DataFrame(columns)

    types = np.asarray(frame["type"].isin(schema.types), dtype=bool)
    problems: list[tuple[BoolArray, str]] = [(~types, "type absent ou inconnu")]
    for rtype, fields in schema.required.items():
        applies = np.ones(n, dtype=bool) if rtype == "*" else np.asarray(frame["type"] == rtype)
        for name in fields:
            if name != "type":
                problems.append((applies & missing[name], f"champ requis absent : {name}"))
    # pandas may already turn an out-of-range date into NaT: one reason covers all cases.
    bad_time = ~missing["timestamp"] & np.asarray(frame["ts"].isna(), dtype=bool)
    problems.append(
        (bad_time, "horodatage non ISO-8601, sans décalage horaire ou hors de 2000-2100")
    )

    bad = np.zeros(n, dtype=bool)
    for mask, _ in problems:
        bad |= mask
    malformed = _malformed_frame(positions, bad, problems, not_objects)
    good = frame.loc[~bad].reset_index(drop=True) if bad.any() else frame
    return TraceExport(
        source=source,
        sha256=sha256_bytes(raw),
        size_bytes=len(raw),
        total_records=total,
        records=good,
        malformed=malformed,
        start=start,
        end=end,
    )


def _malformed_frame(
    positions: IntArray,
    bad: BoolArray,
    problems: list[tuple[BoolArray, str]],
    not_objects: IntArray,
) -> pd.DataFrame:
    reasons = np.full(int(bad.sum()), "", dtype=object)
    for mask, text in problems:
        hit = mask[bad]
        if hit.any():
            sub = reasons[hit]
            reasons[hit] = np.where(sub == "", text, sub + "; " + text)
    out = pd.DataFrame({"index": positions[bad], "reason": reasons})
    if len(not_objects):
        extra = pd.DataFrame(
            {"index": not_objects, "reason": "enregistrement qui n'est pas un objet JSON"}
        )
        out = pd.concat([out, extra], ignore_index=True)
    return out.sort_values("index", kind="stable").reset_index(drop=True)


def load_traces(
    path: str | os.PathLike[str],
    profile: SupervisionProfile | None = None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> TraceExport:
    """Load a trace export file (the JSON list `/traces` returns).

    When a fetch record (`<file>.fetch.json`, written by `fetch_traces`) sits beside
    the file, its window is used and the file must still match its SHA-256.
    """
    profile = profile or load_supervision_profile()
    file = Path(path)
    source = str(file)
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise TraceError(f"cannot read trace export: {exc.strerror or exc}", source) from None
    if not file.is_file():
        raise TraceError("not a regular file", source)
    if size > profile.max_bytes:
        raise TraceError(
            f"{size} bytes is over the {profile.max_bytes}-byte limit of the profile", source
        )
    fetch: dict[str, Any] = {}
    sidecar = file.with_name(file.name + SIDECAR_SUFFIX)
    if sidecar.is_file():
        fetch = _read_sidecar(sidecar, file)
        start = start or parse_iso_datetime(fetch["start"], "fetch record start")
        end = end or parse_iso_datetime(fetch["end"], "fetch record end")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise TraceError(f"cannot read trace export: {exc.strerror or exc}", source) from None
    export = parse_traces(raw, source, profile, start=start, end=end)
    return _with(export, evidence_path=file, fetch=fetch)


def _read_sidecar(sidecar: Path, file: Path) -> dict[str, Any]:
    try:
        fetch = json.loads(sidecar.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise TraceError(f"unreadable fetch record: {exc}", str(sidecar)) from None
    if not isinstance(fetch, dict) or not {"sha256", "start", "end"} <= fetch.keys():
        raise TraceError("fetch record lacks sha256/start/end", str(sidecar))
    actual = sha256_file(file)
    if actual != fetch["sha256"]:
        raise TraceError(
            f"file SHA-256 {actual} differs from its fetch record ({fetch['sha256']}): "
            "the evidence was altered after the fetch",
            str(file),
        )
    return fetch


def _with(export: TraceExport, **changes: Any) -> TraceExport:
    fields = {name: getattr(export, name) for name in export.__dataclass_fields__}
    fields.update(changes)
    return TraceExport(**fields)


# --- live fetch over mutual TLS --------------------------------------------------------


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
    return _with(export, evidence_path=evidence, fetch=fetch)


# --- analysis --------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceSettings:
    """What the auditor tells the analysis beyond the profile."""

    profile: SupervisionProfile | None = None
    """Default: the packaged `profiles/supervision.yaml`."""
    expected_client_subject: str | None = None
    """The provider's registered client certificate subject, any usual DN form."""
    start: dt.datetime | None = None
    """Requested window; default: the export's (fetch record)."""
    end: dt.datetime | None = None
    provider: str | None = None
    """Provider id, carried into supervision events."""


@dataclass(frozen=True, eq=False)
class TraceAnalysis:
    """Result of the supervision checks on one export."""

    export: TraceExport
    findings: tuple[TraceFinding, ...]
    outcomes: tuple[CheckOutcome, ...]
    """Every check of the profile with its status (passed, failed, not evaluated...)."""
    bottom_line: TraceVerdict
    profile: SupervisionProfile
    provider: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    expected_client_subject: str | None = None

    @property
    def malformed(self) -> tuple[MalformedRecord, ...]:
        return self.export.malformed_sample(self.profile.sample_size)

    def requirement_outcomes(self) -> dict[str, list[CheckOutcome]]:
        """Requirement id -> the outcomes of the checks that evidence it (numeric order)."""
        by_requirement: dict[str, list[CheckOutcome]] = {}
        for outcome in self.outcomes:
            for requirement in outcome.requirements:
                by_requirement.setdefault(requirement, []).append(outcome)
        return {k: by_requirement[k] for k in sorted(by_requirement, key=requirement_sort_key)}

    def finding(self, check: str) -> TraceFinding | None:
        return next((f for f in self.findings if f.check == check), None)

    def supervision_events(
        self, min_severity: Severity | str | None = None, provider: str | None = None
    ) -> list[SupervisionEvent]:
        """Findings at or above `min_severity` (default: the profile's) as audit triggers."""
        who = provider or self.provider
        if not who:
            raise TraceError("supervision events need a provider id (settings.provider)")
        floor = Severity(min_severity) if min_severity else self.profile.event_min_severity
        fallback = self.end or _last_time(self.export) or dt.datetime.now(dt.UTC)
        return [
            SupervisionEvent(
                provider=who,
                date=(f.first_seen or fallback).astimezone(dt.UTC).date(),
                event=f"Supervision traces [{f.check}] {f.title} : {f.count} trace(s)",
                severity=f.severity,
            )
            for f in self.findings
            if f.severity.at_least(floor)
        ]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready record (the `--json` output)."""
        e = self.export
        return {
            "source": e.source,
            "sha256": e.sha256,
            "size_bytes": e.size_bytes,
            "provider": self.provider,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "expected_client_subject": self.expected_client_subject,
            "bottom_line": self.bottom_line.value,
            "records": e.total_records,
            "well_formed": len(e.records),
            "malformed": e.malformed_count,
            "malformed_sample": [{"index": m.index, "reason": m.reason} for m in self.malformed],
            "findings": [
                {
                    "check": f.check,
                    "severity": f.severity.value,
                    "title": f.title,
                    "message": f.message,
                    "count": f.count,
                    "requirements": list(f.requirements),
                    "first_seen": f.first_seen.isoformat() if f.first_seen else None,
                    "samples": [{"index": s.index, "record": s.record} for s in f.samples],
                    "details": f.details,
                }
                for f in self.findings
            ],
            "checks": [
                {
                    "check": o.check,
                    "status": o.status.value,
                    "requirements": list(o.requirements),
                    "note": o.note,
                }
                for o in self.outcomes
            ],
            "evidence": str(e.evidence_path) if e.evidence_path else None,
            "fetch": e.fetch or None,
        }


def _last_time(export: TraceExport) -> dt.datetime | None:
    if export.records.empty:
        return None
    value = export.records["ts"].max()
    return None if pd.isna(value) else value.to_pydatetime()


def analyse_traces(export: TraceExport, settings: TraceSettings | None = None) -> TraceAnalysis:
    """Run every enabled check of the profile on an export."""
    settings = settings or TraceSettings()
    profile = settings.profile or load_supervision_profile()
    start = settings.start or export.start
    end = settings.end or export.end
    for label, value in (("start", start), ("end", end)):
        if value is not None and value.tzinfo is None:
            raise TraceError(f"the trace window {label} needs a UTC offset: {value.isoformat()}")
    context = tracechecks.CheckContext(
        records=export.records,
        malformed=export.malformed,
        total_records=export.total_records,
        profile=profile,
        start=start,
        end=end,
        expected_client_subject=settings.expected_client_subject,
    )
    outcomes = tracechecks.run_checks(context)
    findings = tuple(o.finding for o in outcomes if o.finding is not None)
    if export.total_records and export.malformed_count / export.total_records > (
        profile.unusable_malformed_ratio
    ):
        verdict = TraceVerdict.UNUSABLE
    elif findings:
        verdict = TraceVerdict.FINDINGS
    else:
        verdict = TraceVerdict.CLEAN
    return TraceAnalysis(
        export=export,
        findings=findings,
        outcomes=outcomes,
        bottom_line=verdict,
        profile=profile,
        provider=settings.provider,
        start=start,
        end=end,
        expected_client_subject=settings.expected_client_subject,
    )


# --- supervision events file (read by the audit plan) ----------------------------------


def _event_rows(events: Iterable[SupervisionEvent]) -> list[dict[str, str]]:
    return [
        {
            "provider": e.provider,
            "date": e.date.isoformat(),
            "event": e.event,
            "severity": e.severity.value,
        }
        for e in events
    ]


def write_events_csv(events: Iterable[SupervisionEvent], path: str | os.PathLike[str]) -> Path:
    """Write `provider,date,event,severity` (UTF-8, header row), atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(EVENT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(_event_rows(events))
    return write_atomic(path, buffer.getvalue())


def write_events_yaml(events: Iterable[SupervisionEvent], path: str | os.PathLike[str]) -> Path:
    """Write a YAML list of `{provider, date, event, severity}` mappings, atomically."""
    text = yaml.safe_dump(_event_rows(events), allow_unicode=True, sort_keys=False)
    return write_atomic(path, text)


def load_supervision_events(path: str | os.PathLike[str]) -> list[SupervisionEvent]:
    """Read a supervision events file (CSV or YAML, by suffix), as the plan does."""
    file = Path(path)
    try:
        text = file.read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"cannot read supervision events: {exc}", str(file)) from None
    rows: list[Any]
    if file.suffix.lower() in {".yaml", ".yml"}:
        try:
            rows = yaml.safe_load(text) or []
        except yaml.YAMLError as exc:
            raise TraceError(f"not valid YAML: {exc}", str(file)) from None
        if not isinstance(rows, list):
            raise TraceError("expected a YAML list of events", str(file))
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    events = []
    for number, row in enumerate(rows, start=1):
        where = f"{file}: event {number}"
        if not isinstance(row, dict) or not set(EVENT_COLUMNS) <= row.keys():
            raise TraceError(f"needs columns {', '.join(EVENT_COLUMNS)}", where)
        try:
            day = row["date"]
            date = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day).strip())
            severity = Severity(str(row["severity"]).strip().lower())
        except ValueError as exc:
            raise TraceError(f"bad date or severity: {exc}", where) from None
        provider = str(row["provider"] or "").strip()
        if not provider:
            raise TraceError("empty provider", where)
        events.append(SupervisionEvent(provider, date, str(row["event"]), severity))
    return events


# --- statistics and chart for the report -----------------------------------------------


def trace_statistics(export: TraceExport, tz: str = "Europe/Paris") -> pd.DataFrame:
    """One row per day (in `tz`): records per type, total, sessions, users, clients."""
    df = export.records
    columns = ["total", "sessions", "users", "clients"]
    if df.empty:
        return pd.DataFrame(columns=columns, index=pd.Index([], name="day"))
    day = df["ts"].dt.tz_convert(tz).dt.normalize().rename("day")
    by_type = df.groupby([day, df["type"]], observed=True).size().unstack(fill_value=0)
    grouped = df.groupby(day, observed=True)
    stats = pd.DataFrame(
        {
            "total": grouped.size(),
            "sessions": grouped["proxy_id_session"].nunique(),
            "users": grouped["IdRPPS"].nunique(),
            "clients": grouped["clientId"].nunique(),
        }
    )
    out = by_type.join(stats)
    out.columns.name = None
    out.index = pd.Index([d.date() for d in out.index], name="day")
    return out


def trace_totals(export: TraceExport) -> dict[str, int]:
    """Whole-export counts for the report's summary line."""
    df = export.records
    counts = {str(k): int(v) for k, v in df["type"].value_counts().items() if v}
    return {
        "records": export.total_records,
        "well_formed": len(df),
        "malformed": export.malformed_count,
        **counts,
        "sessions": int(df["proxy_id_session"].nunique()),
        "users": int(df["IdRPPS"].nunique()),
        "clients": int(df["clientId"].nunique()),
    }


def trace_chart(export: TraceExport, tz: str = "Europe/Paris", title: str | None = None) -> Figure:
    """Stacked bars of records per day and type (a Figure; no display or pyplot needed)."""
    from matplotlib.figure import Figure

    stats = trace_statistics(export, tz)
    fig = Figure(figsize=(8, 3.5), layout="constrained")
    ax = fig.add_subplot()
    types = [c for c in stats.columns if c not in {"total", "sessions", "users", "clients"}]
    bottom = np.zeros(len(stats))
    labels = [d.isoformat() for d in stats.index]
    for name in types:
        values = stats[name].to_numpy(dtype=float)
        ax.bar(labels, values, bottom=bottom, label=name)
        bottom += values
    ax.set_ylabel("traces")
    ax.set_title(title or "Traces du Proxy e-Santé par jour et par type")
    if types:
        ax.legend(fontsize="small")
    ax.tick_params(axis="x", labelrotation=45, labelsize="small")
    return fig
