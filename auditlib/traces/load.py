"""Read a Proxy e-Santé trace export into a validated DataFrame.

Every record is checked (known `type`, ISO-8601 timestamp with offset, required
fields per type, all from the profile); a malformed record is set aside with its
index and a French reason instead of failing the file. Columns are categoricals and
masks numpy arrays so a million records take seconds; the JSON decoding dominates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditlib.errors import TraceError
from auditlib.files import sha256_bytes, sha256_file
from auditlib.traces.checks import SAMPLE_FIELDS, BoolArray, IntArray, blank_mask
from auditlib.traces.model import SupervisionProfile, TraceExport, load_supervision_profile

STRING_FIELDS = SAMPLE_FIELDS
SIDECAR_SUFFIX = ".fetch.json"
# Trace times outside this range are malformed (and would not fit nanosecond arithmetic).
EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")


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
    return with_changes(export, evidence_path=file, fetch=fetch)


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


def with_changes(export: TraceExport, **changes: Any) -> TraceExport:
    """A copy of a (frozen) export with some fields replaced."""
    fields = {name: getattr(export, name) for name in export.__dataclass_fields__}
    fields.update(changes)
    return TraceExport(**fields)
