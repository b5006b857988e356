"""Proxy e-Santé traces as audit evidence: load or fetch an export, validate, analyse.

The ANS reference Proxy e-Santé serves `GET /traces?start=&end=` over mutual TLS, a
JSON list of records (`type`, `clientId`, `IdRPPS`, `ipAddress`, `ports`,
`proxy_id_session`, `session_state`, `dn`, `timestamp`, `apiRequest` on SEND). The
package turns such an export into a DataFrame (malformed records set aside with their
index, never failing the whole file), runs the supervision checks of
`profiles/supervision.yaml` (vectorised: a million records take seconds) and turns
findings into supervision events that the audit plan reads as audit triggers.

The work is done in small modules: `load` (streaming reader), `fetch` (mTLS),
`checks`, `events` (the file the plan reads), `model` (types and the profile);
`auditlib.testing.traces` makes synthetic exports. Here: `analyse_traces`, statistics
(never findings) and charts for the report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditlib import svgchart
from auditlib.errors import TraceError
from auditlib.requirements import requirement_sort_key
from auditlib.severity import Severity
from auditlib.svgchart import Canvas, LegendEntry, SvgChart
from auditlib.traces import checks as tracechecks
from auditlib.traces.model import (
    MalformedRecord,
    SupervisionEvent,
    SupervisionProfile,
    TraceCheckResult,
    TraceExport,
    TraceFinding,
    TraceVerdict,
    load_supervision_profile,
)

# --- analysis --------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceSettings:
    """What the auditor tells the analysis beyond the profile."""

    profile: SupervisionProfile | None = None
    """Default: the packaged `profiles/supervision.yaml`."""
    expected_client_subject: str | None = None
    """The provider's registered client certificate subject, any usual DN form (every
    clientId)."""
    expected_subjects: Mapping[str, str] = field(default_factory=dict)
    """Registered subject per clientId (the registry's `clients`); wins over the above."""
    unresolved_clients: tuple[str, ...] = ()
    """Registered clientIds whose SHA-256 fingerprint matched no known certificate."""
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
    outcomes: tuple[TraceCheckResult, ...]
    """Every check of the profile with its status (passed, failed, not evaluated...)."""
    bottom_line: TraceVerdict
    profile: SupervisionProfile
    provider: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    expected_client_subject: str | None = None
    expected_subjects: Mapping[str, str] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    """Statistics, never findings: per-API volumes, sessions opened before the window,
    record types, client addresses."""

    @property
    def malformed(self) -> tuple[MalformedRecord, ...]:
        return self.export.malformed_sample(self.profile.sample_size)

    def requirement_outcomes(self) -> dict[str, list[TraceCheckResult]]:
        """Requirement id -> the outcomes of the checks that evidence it (numeric order)."""
        by_requirement: dict[str, list[TraceCheckResult]] = {}
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
            "expected_subjects": dict(self.expected_subjects),
            "format": self.profile.records.format,
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
                    "indexes": list(f.indexes),
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
            "stats": self.stats,
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
        expected_subjects=dict(settings.expected_subjects),
        unresolved_clients=tuple(settings.unresolved_clients),
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
        expected_subjects=dict(settings.expected_subjects),
        stats=export_statistics(context),
    )


def export_statistics(ctx: tracechecks.CheckContext) -> dict[str, Any]:
    """What the report shows beside the findings (JSON-ready; never a finding)."""
    df = ctx.records
    stats: dict[str, Any] = {
        "types": {str(k): int(v) for k, v in df["type"].value_counts().items() if v},
        "api_volumes": api_volumes_records(df),
    }
    if df.empty:
        stats["opened_before_window"] = {"label": OPENED_BEFORE, "sends": 0, "sessions": 0}
        return stats
    placed = tracechecks.send_placement(ctx)
    carried = placed.opened_before_window
    stats["opened_before_window"] = {
        "label": OPENED_BEFORE,
        "sends": int(carried.sum()),
        "sessions": int(pd.unique(placed.session_codes[carried]).size),
    }
    no_port = np.asarray(df["port"].to_numpy() == -1, dtype=bool)
    stats["addresses"] = {
        "distinct": int(df["ip"].nunique()),
        "forwarded_or_no_port": int(no_port.sum()),
    }
    stats["sessions"] = int(df["proxy_id_session"].nunique())
    stats["clients"] = sorted(str(c) for c in pd.unique(df["clientId"].dropna()))[:50]
    if ctx.expected_subjects:
        stats["unregistered_clients"] = sorted(
            c for c in stats["clients"] if c not in ctx.expected_subjects
        )
    return stats


OPENED_BEFORE = "ouverte avant la fenêtre"
"""A SEND whose session has no CONNECT_SUCCESS in the export (nor a DISCONNECT before it):
the reference proxy has no session expiry, so the session was opened before the window."""


def api_volumes_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """SEND volumes per national API (`apiRequest.nomApiPsc`) and method, largest first."""
    send = df[df["type"] == "SEND"]
    if send.empty:
        return []
    counts = send.groupby(["api", "api_method"], observed=True).size()
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
    return [
        {"nomApiPsc": str(api), "methode": str(method), "count": int(number)}
        for (api, method), number in counts.items()
    ]


def api_volumes(export: TraceExport) -> pd.DataFrame:
    """Per-API volumes of an export as a table (`nomApiPsc`, `methode`, `count`)."""
    rows = api_volumes_records(export.records)
    return pd.DataFrame(rows, columns=["nomApiPsc", "methode", "count"])


CHART_TEXT = {
    "fr": {
        "api_title": "Volumes d'appels par API nationale (apiRequest.nomApiPsc)",
        "api_axis": "appels SEND",
        "no_send": "aucun appel SEND",
        "trace_title": "Traces du Proxy e-Santé par jour et par type",
        "trace_axis": "traces",
        "no_trace": "aucune trace",
    },
    "en": {
        "api_title": "SEND calls per national API (apiRequest.nomApiPsc)",
        "api_axis": "SEND calls",
        "no_send": "no SEND call",
        "trace_title": "Proxy e-Santé traces per day and type",
        "trace_axis": "traces",
        "no_trace": "no trace",
    },
}
"""The supervision charts' texts (French unless `en`)."""
SERIES_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
"""One colour per record type, in order (matplotlib's default cycle, as before)."""


def _frame(canvas: Canvas, left: float, top: float, right: float, bottom: float) -> None:
    for x1, y1, x2, y2 in (
        (left, top, right, top),
        (left, bottom, right, bottom),
        (left, top, left, bottom),
        (right, top, right, bottom),
    ):
        canvas.line(x1, y1, x2, y2)


def api_chart(export: TraceExport, title: str | None = None, language: str = "fr") -> SvgChart:
    """Horizontal bars of SEND volumes per national API, largest first (SVG)."""
    text = CHART_TEXT.get(language, CHART_TEXT["fr"])
    heading = title or text["api_title"]
    rows = api_volumes_records(export.records)
    if not rows:
        return svgchart.empty(heading, text["no_send"])
    labels = [svgchart.wrap(f"{r['nomApiPsc']} ({r['methode']})", 50) for r in rows]
    width = 576.0  # 8 x max(1.6, 0.35 n + 1) inches, as the matplotlib figure
    top = svgchart.TITLE_BAND + 6
    height = max(1.6, 0.35 * len(rows) + 1) * 72
    row = svgchart.row_height(labels, 8.33, height - 0.3 * 0.35 * 72, top + 36)
    left = 8 + svgchart.widest((line for lines in labels for line in lines), 8.33) + 8
    right = width - 10
    axis = top + row * len(rows) + 0.3 * 0.35 * 72
    canvas = Canvas(width, axis + 36)
    svgchart.title(canvas, heading, (left + right) / 2, 12)
    high = max(r["count"] for r in rows) * 1.05
    ticks = [t for t in svgchart.nice_ticks(high, 6) if t <= high]
    scale = (right - left) / high
    thickness = 0.8 * min(row, 0.35 * 72)  # matplotlib's bar height, 0.8 of a row
    y = top + 0.15 * 0.35 * 72
    for record, lines in zip(rows, labels, strict=True):
        middle = y + row / 2
        canvas.rect(
            left, middle - thickness / 2, record["count"] * scale, thickness, SERIES_COLOURS[0]
        )
        canvas.line(left - 3.5, middle, left, middle)
        canvas.lines(left - 6, middle, lines, 8.33, "end")
        y += row
    for tick in ticks:
        x = left + tick * scale
        canvas.line(x, axis, x, axis + 3.5)
        canvas.text(x, axis + 11, svgchart.tick_label(tick), 10, "middle")
    _frame(canvas, left, top, right, axis)
    canvas.text((left + right) / 2, axis + 27, text["api_axis"], 10, "middle")
    return canvas.chart(heading)


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


def trace_chart(
    export: TraceExport, tz: str = "Europe/Paris", title: str | None = None, language: str = "fr"
) -> SvgChart:
    """Stacked bars of records per day (in `tz`) and type (SVG)."""
    text = CHART_TEXT.get(language, CHART_TEXT["fr"])
    heading = title or text["trace_title"]
    stats = trace_statistics(export, tz)
    types = [str(c) for c in stats.columns if c not in {"total", "sessions", "users", "clients"}]
    if stats.empty or not types:
        return svgchart.empty(heading, text["no_trace"])
    days = [d.isoformat() for d in stats.index]
    entries = [
        LegendEntry(svgchart.wrap(name, 40)[0], SERIES_COLOURS[i % len(SERIES_COLOURS)])
        for i, name in enumerate(types)
    ]
    values = [stats[name].to_numpy(dtype=float) for name in types]
    totals = np.sum(values, axis=0)
    high = float(totals.max()) * 1.05 or 1.0
    ticks = [t for t in svgchart.nice_ticks(high, 8) if t <= high]
    tick_labels = [svgchart.tick_label(t) for t in ticks]
    width = 576.0  # 8 x 3.5 inches, as the matplotlib figure; more for a long legend
    left = 10 + 14 + svgchart.widest(tick_labels, 10) + 8
    right = width - 10
    top = svgchart.TITLE_BAND + 6
    below = 8 + svgchart.widest(days, 8.33) * 0.71 + 14
    below += svgchart.legend_height(entries, width - 16, 6) + 4
    axis = top + max(3.5 * 72 - top - below, 100)
    legend_top = axis + 8 + svgchart.widest(days, 8.33) * 0.71 + 14
    canvas = Canvas(width, axis + below)
    svgchart.title(canvas, heading, (left + right) / 2, 12)
    scale = (axis - top) / high
    slot = (right - left) / len(days)
    for index, day in enumerate(days):
        x = left + (index + 0.1) * slot
        base = axis
        for series, entry in zip(values, entries, strict=True):
            height = float(series[index]) * scale
            canvas.rect(x, base - height, 0.8 * slot, height, entry.colour)
            base -= height
        centre = left + (index + 0.5) * slot
        canvas.line(centre, axis, centre, axis + 3.5)
        canvas.text(centre + 3, axis + 8, day, 8.33, "end", rotate=-45)
    for tick, label in zip(ticks, tick_labels, strict=True):
        y = axis - tick * scale
        canvas.line(left - 3.5, y, left, y)
        canvas.text(left - 6, y, label, 10, "end")
    _frame(canvas, left, top, right, axis)
    canvas.text(12, (top + axis) / 2, text["trace_axis"], 10, "middle", rotate=-90)
    svgchart.legend(canvas, entries, legend_top, 6)
    return canvas.chart(heading)
