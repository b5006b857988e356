"""Supervision events file: what the audit plan reads as audit triggers.

CSV with the header `provider,date,event,severity`, or a YAML list of the same keys.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from auditlib.errors import TraceError, YamlInputError
from auditlib.files import write_atomic
from auditlib.severity import Severity
from auditlib.traces.model import EVENT_COLUMNS, SupervisionEvent
from auditlib.yamlio import parse_yaml_text

EVENTS_MAX_BYTES = 16 << 20


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
    """Read a supervision events file (CSV or YAML, by suffix), as the plan does.

    YAML goes through the strict loader (no aliases, no duplicate keys); the file is
    refused unread above `EVENTS_MAX_BYTES`.
    """
    file = Path(path)
    try:
        if not file.is_file():
            raise TraceError("supervision events: not a regular file", str(file))
        size = file.stat().st_size
        if size > EVENTS_MAX_BYTES:
            raise TraceError(
                f"supervision events: {size} bytes, over the {EVENTS_MAX_BYTES}-byte limit",
                str(file),
            )
        raw = file.read_bytes()
    except OSError as exc:
        raise TraceError(
            f"cannot read supervision events: {exc.strerror or exc}", str(file)
        ) from None
    rows: list[Any]
    if file.suffix.lower() in {".yaml", ".yml"}:
        if not raw.strip():
            return []
        try:
            rows = parse_yaml_text(raw, str(file))
        except YamlInputError as exc:
            if "holds no data" in str(exc):
                return []  # only comments: no event, as before
            raise TraceError(f"not valid YAML: {exc}") from None
        except (ValueError, TypeError, OverflowError) as exc:  # e.g. date: 2026-02-30
            raise TraceError(f"not valid YAML: bad value ({str(exc)[:200]})", str(file)) from None
        if not isinstance(rows, list):
            raise TraceError("expected a YAML list of events", str(file))
    else:
        try:
            text = raw.decode("utf-8-sig")
            rows = list(csv.DictReader(io.StringIO(text)))
        except UnicodeDecodeError as exc:
            raise TraceError(f"not UTF-8 text (offset {exc.start})", str(file)) from None
        except csv.Error as exc:
            raise TraceError(f"not valid CSV: {exc}", str(file)) from None
    events = []
    for number, row in enumerate(rows, start=1):
        where = f"{file}: event {number}"
        if not isinstance(row, dict) or not set(EVENT_COLUMNS) <= row.keys():
            raise TraceError(f"needs columns {', '.join(EVENT_COLUMNS)}", where)
        try:
            day = row["date"]
            date = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day).strip())
            severity = Severity(str(row["severity"]).strip().lower())
        except (ValueError, TypeError) as exc:
            raise TraceError(f"bad date or severity: {exc}", where) from None
        provider = str(row["provider"] or "").strip()
        if not provider:
            raise TraceError("empty provider", where)
        events.append(SupervisionEvent(provider, date, str(row["event"]), severity))
    return events
