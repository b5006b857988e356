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

from auditlib.errors import TraceError
from auditlib.files import write_atomic
from auditlib.severity import Severity
from auditlib.traces.model import EVENT_COLUMNS, SupervisionEvent


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
