"""Read a Proxy e-Santé trace export into a validated DataFrame, streaming.

The export (the JSON list `GET /traces` returns, the ANS reference proxy's format) is
read in chunks: each record is decoded on its own, batches of records are turned into
categorical columns at once, and nothing the size of the whole file is ever held as
Python objects. The byte limit is enforced before reading, the record limit while
streaming (both from the profile). Every record is checked against the profile's
required-field matrix; a malformed record is set aside with its index and a French
reason instead of failing the file.
"""

from __future__ import annotations

import codecs
import contextlib
import datetime as dt
import gc
import hashlib
import io
import json
import operator
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from auditlib.errors import TraceError
from auditlib.traces.checks import BoolArray, IntArray
from auditlib.traces.model import SupervisionProfile, TraceExport, load_supervision_profile

SIDECAR_SUFFIX = ".fetch.json"
SIDECAR_MAX_BYTES = 1 << 20
CHUNK_BYTES = 4 << 20
BATCH_RECORDS = 1 << 14
# Trace times outside this range are malformed (and would not fit nanosecond arithmetic).
EARLIEST = pd.Timestamp("2000-01-01", tz="UTC")
LATEST = pd.Timestamp("2100-01-01", tz="UTC")
# String fields kept as categorical columns (canonical names of the reference format).
STRING_FIELDS = (
    "type",
    "clientId",
    "IdRPPS",
    "ipAddress",
    "proxy_id_session",
    "session_state",
    "dn",
)
_ROW_FIELDS = (*STRING_FIELDS, "timestamp", "ports")
_ROW = operator.itemgetter(*_ROW_FIELDS)
# Columns derived from nested or list values.
API_FIELD = "apiRequest"
API_KEYS = ("nomApiPsc", "methode", "path")
# How close to the end of the buffer a decoding error may just mean "read more".
_TAIL = 64
_WS = re.compile(r"[ \t\n\r]*")
_BLANKS = " \t\n\r"


def _skip_blank(text: str, pos: int) -> int:
    match = _WS.match(text, pos)
    return match.end() if match else pos


def parse_iso_datetime(text: object, what: str = "date") -> dt.datetime:
    """Parse an ISO-8601 date-time that carries an offset (or `Z`); return it in UTC."""
    if not isinstance(text, str):
        raise TraceError(f"{what} must be an ISO-8601 text, found {type(text).__name__}")
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError as exc:
        raise TraceError(f"{what} {text[:60]!r} is not an ISO-8601 date-time") from exc
    if value.tzinfo is None:
        raise TraceError(f"{what} {text[:60]!r} has no UTC offset (write e.g. +01:00 or Z)")
    return value.astimezone(dt.UTC)


# --- streaming the JSON list -----------------------------------------------------------


class _NeedMore(TraceError):
    """The value is cut by the end of the buffer: read more and decode it again (internal:
    never leaves the reader)."""

    def __init__(self) -> None:
        super().__init__("internal: value cut by the end of the read buffer")


@dataclass
class _Digest:
    sha256: Any = field(default_factory=hashlib.sha256)
    size: int = 0


class _ListReader:
    """Yield the elements of a top-level JSON list from a binary stream, one at a time.

    Bytes are hashed and counted as they are read; the stream is refused past
    `max_bytes`. An element larger than the buffer grows it (doubling), so the work
    stays linear.
    """

    def __init__(self, stream: IO[bytes], source: str, max_bytes: int) -> None:
        self.stream = stream
        self.source = source
        self.max_bytes = max_bytes
        self.digest = _Digest()
        self.decoder = codecs.getincrementaldecoder("utf-8-sig")("strict")
        self.scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
        self.buf = ""
        self.eof = False

    def _read(self, at_least: int) -> None:
        """Append decoded text until the buffer holds `at_least` characters or EOF."""
        parts = [self.buf]
        have = len(self.buf)
        while have < at_least and not self.eof:
            raw = self.stream.read(max(CHUNK_BYTES, at_least - have))
            if not raw:
                self.eof = True
                text = self.decoder.decode(b"", final=True)
            else:
                self.digest.size += len(raw)
                if self.digest.size > self.max_bytes:
                    raise TraceError(
                        f"over the {self.max_bytes}-byte limit of the profile "
                        "(raise `max_bytes` to read it)",
                        self.source,
                    )
                self.digest.sha256.update(raw)
                text = self.decoder.decode(raw)
            parts.append(text)
            have += len(text)
        self.buf = "".join(parts)

    def _fail(self, message: str) -> TraceError:
        return TraceError(message, self.source)

    def batches(self, size: int) -> Iterator[list[Any]]:
        """The list's elements, `size` at a time (the last batch may be shorter)."""
        try:
            yield from self._batches(size)
        except UnicodeDecodeError:
            raise self._fail("not text: binary content where a JSON list was expected") from None
        except RecursionError:
            raise self._fail("JSON nested too deeply to be a trace export") from None

    def _skip(self, pos: int) -> int:
        """Position of the next non-blank character, reading more as needed (-1 at EOF)."""
        while True:
            end = _skip_blank(self.buf, pos)
            if end < len(self.buf):
                return end
            if self.eof:
                return -1
            self.buf, pos = "", 0
            self._read(1)

    def _more(self, pos: int, want: int) -> tuple[int, int]:
        """Drop the text before `pos`, read until the buffer doubles; (0, new want)."""
        self.buf = self.buf[pos:]
        want = max(want * 2, len(self.buf) * 2, CHUNK_BYTES)
        self._read(want)
        return 0, want

    def _value(self, pos: int) -> tuple[Any, int]:
        """Decode one JSON value at `pos`; reads more (and rebases) when it is cut."""
        want = 0
        while True:
            try:
                return self._scan_whole(pos)
            except _NeedMore:
                pos, want = self._more(pos, want)

    def _scan_whole(self, pos: int) -> tuple[Any, int]:
        size = len(self.buf)
        try:
            value, end = self.scan(self.buf, pos)
        except StopIteration as stop:
            # No value where one must start (possibly inside a record: the scanner
            # stops there when the text ends right after a `:` or a `[`).
            where = stop.value if isinstance(stop.value, int) else pos
            if not self.eof and where >= size - _TAIL:
                raise _NeedMore from None
            raise self._fail("not valid JSON (a value was expected)") from None
        except json.JSONDecodeError as exc:
            near_end = exc.pos >= size - _TAIL
            if not self.eof and (near_end or exc.msg.startswith("Unterminated string")):
                raise _NeedMore from None
            raise self._fail(f"not valid JSON ({exc.msg})") from None
        except ValueError as exc:  # over-long integers
            raise self._fail(f"not valid JSON ({str(exc)[:200]})") from None
        if not self.eof and end >= size - _TAIL:  # a number may go on: `1.` + `5`, `1e` + `3`
            raise _NeedMore
        return value, end

    def _batches(self, size: int) -> Iterator[list[Any]]:
        self._read(CHUNK_BYTES)
        pos = self._skip(0)
        if pos < 0:
            raise self._fail("empty file: expected a JSON list of trace records")
        if self.buf[pos] != "[":
            try:
                value, _ = self._value(pos)
            except TraceError:
                raise self._fail("not valid JSON (expected a list of trace records)") from None
            raise self._fail(
                f"expected a JSON list of trace records, found a JSON {type(value).__name__}"
            )
        pos = self._skip(pos + 1)
        batch: list[Any] = []
        if pos >= 0 and self.buf[pos] == "]":
            pos += 1
        else:
            scan = self.scan
            need_value = True
            while True:
                if need_value and pos >= 0:
                    # Fast path: values well inside the buffer, separated by `,`.
                    buf = self.buf
                    limit = len(buf) - _TAIL
                    try:
                        while pos < limit:
                            value, end = scan(buf, pos)
                            if end >= limit:
                                break  # possibly cut: the careful path decodes it again
                            batch.append(value)
                            if buf[end] != ",":
                                pos, need_value = end, False
                                break
                            pos = end + 1
                            if buf[pos] == " ":
                                pos += 1
                            if buf[pos] in _BLANKS:
                                pos = _skip_blank(buf, pos)
                            if len(batch) >= size:
                                yield batch
                                batch = []
                    except (StopIteration, ValueError):
                        pass  # the careful path decodes it again and says why
                # Careful path: one value or one separator, reading more as needed.
                if need_value:
                    if pos < 0:
                        raise self._fail("not valid JSON (the list is not closed)")
                    value, pos = self._value(pos)
                    batch.append(value)
                    if len(batch) >= size:
                        yield batch
                        batch = []
                    need_value = False
                    continue
                pos = self._skip(pos)
                if pos < 0:
                    raise self._fail("not valid JSON (the list is not closed)")
                char = self.buf[pos]
                if char == "]":
                    pos += 1
                    break
                if char != ",":
                    raise self._fail(f"not valid JSON (expected ',' or ']', found {char!r})")
                pos = self._skip(pos + 1)
                need_value = True
        if batch:
            yield batch
        if self._skip(pos) >= 0:
            raise self._fail("not valid JSON (extra data after the list)")


# --- columns ---------------------------------------------------------------------------


class _Factorizer:
    """Global category codes for one column, built batch by batch."""

    def __init__(self) -> None:
        self.table: dict[str, int] = {}
        self.uniques: list[str] = []
        self.chunks: list[np.ndarray[Any, np.dtype[np.int32]]] = []

    def add(self, values: list[Any] | np.ndarray[Any, np.dtype[np.object_]]) -> None:
        if not set(map(type, values)) <= {str, type(None)}:
            values = [v if v is None or type(v) is str else _as_text(v) for v in values]
        array = values if isinstance(values, np.ndarray) else np.array(values, dtype=object)
        codes, uniques = pd.factorize(array)
        mapping = np.empty(len(uniques) + 1, dtype=np.int32)
        mapping[-1] = -1
        table = self.table
        for k, value in enumerate(uniques):
            code = table.get(value)
            if code is None:
                code = table[value] = len(self.uniques)
                self.uniques.append(value)
            mapping[k] = code
        self.chunks.append(mapping[codes])

    def categorical(self) -> pd.Categorical:
        """The column; the batch pieces are released as they are joined."""
        codes = np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int32)
        self.chunks = []
        return pd.Categorical.from_codes(codes, categories=pd.Index(self.uniques, dtype=object))


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


def normalise_ip(text: str) -> str:
    """The client address of an `ipAddress` as the reference proxy writes it.

    `InetAddress.toString()` gives `/10.1.2.3` or `host/10.1.2.3`; behind a reverse
    proxy it is the `X-Forwarded-For` value, possibly a chain `client, proxy1`.
    """
    value = text.strip()
    if "," in value:
        value = value.split(",", 1)[0].strip()
    if "/" in value:
        value = value.rsplit("/", 1)[1].strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return value


@dataclass
class _Columns:
    """Columns built batch by batch, and the masks the validation needs."""

    fields: dict[str, _Factorizer] = field(default_factory=dict)
    positions: list[IntArray] = field(default_factory=list)
    not_objects: list[IntArray] = field(default_factory=list)
    ns: list[np.ndarray[Any, np.dtype[np.int64]]] = field(default_factory=list)
    bad_time: list[BoolArray] = field(default_factory=list)
    ports: list[np.ndarray[Any, np.dtype[np.int32]]] = field(default_factory=list)
    api_state: list[np.ndarray[Any, np.dtype[np.int8]]] = field(default_factory=list)
    present: dict[str, list[BoolArray]] = field(default_factory=dict)
    total: int = 0


def _canonical(
    records: list[dict[str, Any]], aliases: dict[str, tuple[str, ...]]
) -> list[dict[str, Any]]:
    """Records with each canonical field filled from its first present alias (an explicit
    alias profile for another spelling of the format; the packaged profile has none)."""
    out = []
    for record in records:
        missing = [
            (name, spellings) for name, spellings in aliases.items() if record.get(name) is None
        ]
        if missing:
            record = dict(record)
            for name, spellings in missing:
                record[name] = next(
                    (record[a] for a in spellings if record.get(a) is not None), None
                )
        out.append(record)
    return out


def _extract(
    batch: list[Any],
    start: int,
    cols: _Columns,
    extra: tuple[str, ...],
    aliases: dict[str, tuple[str, ...]] | None = None,
) -> None:
    """Turn one batch of decoded elements into column pieces."""
    if set(map(type, batch)) == {dict}:
        records: list[dict[str, Any]] = batch
        cols.positions.append(np.arange(start, start + len(batch), dtype=np.int64))
    else:
        is_dict = np.fromiter((type(r) is dict for r in batch), dtype=bool, count=len(batch))
        cols.positions.append(np.flatnonzero(is_dict).astype(np.int64) + start)
        cols.not_objects.append(np.flatnonzero(~is_dict).astype(np.int64) + start)
        records = [r for r in batch if type(r) is dict]
    if aliases:
        records = _canonical(records, aliases)
    n = len(records)
    try:  # the reference proxy writes every field (null included) but apiRequest
        rows = list(map(_ROW, records))
        columns: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * len(_ROW_FIELDS)
        del rows
    except KeyError:
        columns = [[r.get(name) for r in records] for name in _ROW_FIELDS]
    for name, values in zip(STRING_FIELDS, columns, strict=False):
        cols.fields.setdefault(name, _Factorizer()).add(list(values))
    stamps = np.array(columns[-2], dtype=object).reshape(n)
    shaped = np.fromiter(map(_has_offset, stamps), dtype=bool, count=n)
    absent = np.asarray([v is None for v in stamps], dtype=bool).reshape(n)
    stamps[~shaped] = None
    times = pd.DatetimeIndex(pd.to_datetime(stamps, format="ISO8601", utc=True, errors="coerce"))
    implausible = np.asarray((times < EARLIEST) | (times >= LATEST), dtype=bool)
    times = times.where(~implausible).as_unit("ns")
    cols.ns.append(np.asarray(times.asi8, dtype=np.int64))
    cols.bad_time.append(~absent & np.asarray(times.isna(), dtype=bool))
    cols.present.setdefault("timestamp", []).append(~absent)
    port = np.array(
        [
            v[0] if type(v) is list and len(v) == 1 and type(v[0]) is int else _port_slow(v)
            for v in columns[-1]
        ],
        dtype=np.int64,
    ).reshape(n)
    bad_port = (port < PORT_ABSENT) | (port > 65535)
    port[bad_port] = PORT_BAD
    cols.ports.append(port.astype(np.int32))
    api_name, api_method, api_state = _api_columns([r.get(API_FIELD) for r in records])
    cols.fields.setdefault("api", _Factorizer()).add(api_name)
    cols.fields.setdefault("api_method", _Factorizer()).add(api_method)
    cols.api_state.append(api_state)
    for name in extra:
        cols.present.setdefault(name, []).append(
            np.asarray([r.get(name) not in (None, "") for r in records], dtype=bool).reshape(n)
        )


PORT_NONE = -1
"""`ports: []` (X-Forwarded-For, or port 0)."""
PORT_ABSENT = -2
"""`ports` absent or null."""
PORT_BAD = -3
"""`ports` is not a list of ports."""


def _port_slow(value: Any) -> int:
    """The first port of a `ports` value that is not a one-port list (codes above)."""
    if value is None:
        return PORT_ABSENT
    if type(value) is not list:
        return PORT_BAD
    if not value:
        return PORT_NONE
    if all(type(p) is int and 0 <= p <= 65535 for p in value):
        return int(value[0])
    return PORT_BAD


def _api_columns(
    values: list[Any],
) -> tuple[list[Any], list[Any], np.ndarray[Any, np.dtype[np.int8]]]:
    """(nomApiPsc, methode, state) columns; state 0 absent, 1 complete, 2 incomplete."""
    names: list[Any] = []
    methods: list[Any] = []
    states = bytearray(len(values))
    for k, v in enumerate(values):
        if v is None:
            names.append(None)
            methods.append(None)
        elif type(v) is dict:
            name, method = v.get("nomApiPsc"), v.get("methode")
            names.append(name)
            methods.append(method)
            complete = type(name) is str and type(method) is str and type(v.get("path")) is str
            states[k] = 1 if complete else 2
        else:
            names.append(None)
            methods.append(None)
            states[k] = 2
    return names, methods, np.frombuffer(bytes(states), dtype=np.int8)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while decoding many small dicts (no cycles are created)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def read_export(
    stream: IO[bytes],
    source: str,
    profile: SupervisionProfile | None = None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> TraceExport:
    """Stream and validate an export; malformed records are set aside with their index."""
    profile = profile or load_supervision_profile()
    reader = _ListReader(stream, source, profile.max_bytes)
    schema = profile.records
    known = {*STRING_FIELDS, "timestamp", "ports", API_FIELD}
    wanted = {
        f for fields in (*schema.required.values(), *schema.forbidden.values()) for f in fields
    }
    extra = tuple(sorted(wanted - known))
    cols = _Columns()
    with _gc_paused():
        for batch in reader.batches(BATCH_RECORDS):
            _extract(batch, cols.total, cols, extra, dict(schema.aliases))
            cols.total += len(batch)
            if cols.total > profile.max_records:
                break
    if cols.total > profile.max_records:
        raise TraceError(
            f"more than {profile.max_records} records, the limit of the profile "
            "(raise `max_records` to read it)",
            source,
        )
    return _build(cols, reader.digest, source, profile, extra, start, end)


def _concat(parts: list[Any], dtype: Any) -> Any:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def _build(
    cols: _Columns,
    digest: _Digest,
    source: str,
    profile: SupervisionProfile,
    extra: tuple[str, ...],
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> TraceExport:
    schema = profile.records
    positions = _concat(cols.positions, np.int64)
    cols.positions = []  # every piece is released once joined: the peak stays near one copy
    n = len(positions)
    frame_columns: dict[str, Any] = {"index": positions}
    frame_columns["port"] = _concat(cols.ports, np.int32)
    cols.ports = []
    for name in (*STRING_FIELDS, "api", "api_method"):
        frame_columns[name] = (
            cols.fields[name].categorical()
            if name in cols.fields
            else (pd.Categorical.from_codes(np.full(n, -1), categories=pd.Index([], dtype=object)))
        )
    ip = frame_columns["ipAddress"]
    normal = [normalise_ip(str(c)) for c in ip.categories]
    uniques, inverse = np.unique(np.array(normal, dtype=object), return_inverse=True)
    codes = np.asarray(ip.codes, dtype=np.int64)
    frame_columns["ip"] = pd.Categorical.from_codes(
        np.where(codes >= 0, inverse.reshape(-1)[np.maximum(codes, 0)], -1)
        if len(uniques)
        else codes,
        categories=pd.Index(uniques, dtype=object),
    )
    ns = _concat(cols.ns, np.int64)
    cols.ns = []
    frame_columns["ts"] = pd.DatetimeIndex(ns.view("datetime64[ns]")).tz_localize("UTC")
    frame = pd.DataFrame(frame_columns, copy=False)
    del frame_columns, ns, positions

    from auditlib.traces.checks import blank_mask

    missing: dict[str, BoolArray] = {}
    for name in STRING_FIELDS:
        missing[name] = blank_mask(frame[name])
    missing["timestamp"] = ~_concat(cols.present.get("timestamp", []), bool)
    port = frame["port"].to_numpy()
    missing["ports"] = port == PORT_ABSENT
    api_state = _concat(cols.api_state, np.int8)
    missing[API_FIELD] = api_state == 0
    for name in extra:
        missing[name] = ~_concat(cols.present[name], bool)

    type_col = frame["type"]
    problems: list[tuple[BoolArray, str]] = [
        (~np.asarray(type_col.isin(schema.types), dtype=bool), "type absent ou inconnu")
    ]
    for rtype, fields in schema.required.items():
        applies = np.ones(n, dtype=bool) if rtype == "*" else np.asarray(type_col == rtype)
        for name in fields:
            if name != "type":
                problems.append((applies & missing[name], f"champ requis absent : {name}"))
    for rtype, fields in schema.forbidden.items():
        applies = np.asarray(type_col == rtype)
        for name in fields:
            problems.append((applies & ~missing[name], f"champ interdit sur {rtype} : {name}"))
    problems.append((api_state == 2, "apiRequest incomplet (nomApiPsc, methode, path)"))
    problems.append((port == PORT_BAD, "ports n'est pas une liste de ports (entiers 0-65535)"))
    problems.append(
        (
            _concat(cols.bad_time, bool),
            "horodatage non ISO-8601, sans décalage horaire ou hors de 2000-2100",
        )
    )
    identity = [
        (i, name)
        for i, (mask, text) in enumerate(problems)
        for name in schema.identity_fields
        if text == f"champ requis absent : {name}"
    ]

    if len(problems) > 62:  # reasons are combined as bits of an int64
        raise TraceError(
            f"the profile's record schema makes {len(problems)} rules; at most 62 are supported",
            source,
        )
    bad = np.zeros(n, dtype=bool)
    for mask, _ in problems:
        bad |= mask
    not_objects = _concat(cols.not_objects, np.int64)
    malformed = _malformed_frame(frame, bad, problems, identity, not_objects)
    good = frame.loc[~bad].reset_index(drop=True) if bad.any() else frame
    return TraceExport(
        source=source,
        sha256=digest.sha256.hexdigest(),
        size_bytes=digest.size,
        total_records=cols.total,
        records=good,
        malformed=malformed,
        start=start,
        end=end,
    )


def _categorical(codes: IntArray, labels: list[str]) -> pd.Categorical:
    """Codes into `labels`, which may repeat (two combinations can read the same)."""
    unique, inverse = np.unique(np.asarray(labels, dtype=object), return_inverse=True)
    mapped = np.asarray(inverse).reshape(-1)[codes] if len(codes) else codes
    return pd.Categorical.from_codes(mapped, categories=pd.Index(unique, dtype=object))


def _malformed_frame(
    frame: pd.DataFrame,
    bad: BoolArray,
    problems: list[tuple[BoolArray, str]],
    identity: list[tuple[int, str]],
    not_objects: IntArray,
) -> pd.DataFrame:
    """`index`, `reason`, `type` and `identity_missing` (categoricals) of malformed records.

    Reasons are combined as bit masks, so a million malformed records cost a few integer
    arrays, not a million strings.
    """
    count = int(bad.sum())
    bits = np.zeros(count, dtype=np.int64)
    for k, (mask, _) in enumerate(problems):
        bits[mask[bad]] |= 1 << k
    ident_bits = np.zeros(count, dtype=np.int64)
    for k, _ in identity:
        ident_bits |= bits & (1 << k)
    codes, combos = pd.factorize(bits)  # hashing: no sort, no copies of the whole array
    texts = [
        "; ".join(text for k, (_, text) in enumerate(problems) if int(c) >> k & 1) for c in combos
    ]
    names = {k: name for k, name in identity}
    id_codes, id_combos = pd.factorize(ident_bits)
    id_texts = [", ".join(name for k, name in names.items() if int(c) >> k & 1) for c in id_combos]
    reason = _categorical(np.asarray(codes).reshape(-1), texts)
    identity_missing = _categorical(np.asarray(id_codes).reshape(-1), id_texts)
    out = pd.DataFrame(
        {
            "index": frame["index"].to_numpy()[bad],
            "reason": reason,
            "type": frame["type"].array[bad],
            "identity_missing": identity_missing,
        }
    )
    if len(not_objects):
        # Categorical columns all through: a million malformed records are a few integer
        # arrays, never a million strings.
        text = "enregistrement qui n'est pas un objet JSON"
        extra = pd.DataFrame(
            {
                "index": not_objects,
                "reason": pd.Categorical.from_codes(np.zeros(len(not_objects), np.int8), [text]),
                "type": pd.Categorical.from_codes(
                    np.full(len(not_objects), -1, np.int8), categories=pd.Index([], dtype=object)
                ),
                "identity_missing": pd.Categorical.from_codes(
                    np.zeros(len(not_objects), np.int8), [""]
                ),
            }
        )
        out = pd.concat([out, extra], ignore_index=True)
        for name in ("reason", "type", "identity_missing"):
            out[name] = out[name].astype("category")
        return out.sort_values("index", kind="stable").reset_index(drop=True)
    return out  # already in file order


def parse_traces(
    raw: bytes,
    source: str,
    profile: SupervisionProfile | None = None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> TraceExport:
    """Validate an export held in memory (same rules as a file)."""
    profile = profile or load_supervision_profile()
    if len(raw) > profile.max_bytes:
        raise TraceError(
            f"{len(raw)} bytes is over the {profile.max_bytes}-byte limit of the profile", source
        )
    return read_export(io.BytesIO(raw), source, profile, start=start, end=end)


def load_traces(
    path: str | os.PathLike[str],
    profile: SupervisionProfile | None = None,
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> TraceExport:
    """Load a trace export file (the JSON list `/traces` returns), streaming.

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
            f"{size} bytes is over the {profile.max_bytes}-byte limit of the profile "
            "(raise `max_bytes` to read it)",
            source,
        )
    fetch: dict[str, Any] = {}
    sidecar = file.with_name(file.name + SIDECAR_SUFFIX)
    if sidecar.is_file():
        fetch = read_sidecar(sidecar)
        start = start or parse_iso_datetime(fetch["start"], f"{sidecar}: start")
        end = end or parse_iso_datetime(fetch["end"], f"{sidecar}: end")
    try:
        with open(file, "rb") as stream:
            export = read_export(stream, source, profile, start=start, end=end)
    except OSError as exc:
        raise TraceError(f"cannot read trace export: {exc.strerror or exc}", source) from None
    if fetch and export.sha256 != str(fetch["sha256"]).lower():
        raise TraceError(
            f"file SHA-256 {export.sha256} differs from its fetch record ({fetch['sha256']}): "
            "the evidence was altered after the fetch",
            source,
        )
    return with_changes(export, evidence_path=file, fetch=fetch)


def read_sidecar(sidecar: Path) -> dict[str, Any]:
    """A fetch record: a JSON object with text `sha256`, `start` and `end`."""
    where = str(sidecar)
    try:
        if sidecar.stat().st_size > SIDECAR_MAX_BYTES:
            raise TraceError(f"fetch record over the {SIDECAR_MAX_BYTES}-byte limit", where)
        fetch = json.loads(sidecar.read_text("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise TraceError(f"unreadable fetch record: {str(exc)[:200]}", where) from None
    check_fetch_record(fetch, where)
    assert isinstance(fetch, dict)
    return fetch


def check_fetch_record(fetch: object, where: str) -> None:
    """Refuse a fetch record whose `sha256`, `start` or `end` is missing or not text."""
    if not isinstance(fetch, dict) or not {"sha256", "start", "end"} <= fetch.keys():
        raise TraceError("fetch record lacks sha256/start/end", where)
    for key in ("sha256", "start", "end"):
        if not isinstance(fetch[key], str):
            raise TraceError(
                f"fetch record: {key} must be text, found {type(fetch[key]).__name__}", where
            )
    parse_iso_datetime(fetch["start"], f"{where}: start")
    parse_iso_datetime(fetch["end"], f"{where}: end")


def with_changes(export: TraceExport, **changes: Any) -> TraceExport:
    """A copy of a (frozen) export with some fields replaced."""
    fields = {name: getattr(export, name) for name in export.__dataclass_fields__}
    fields.update(changes)
    return TraceExport(**fields)
