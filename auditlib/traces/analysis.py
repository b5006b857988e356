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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from auditlib.errors import TraceError
from auditlib.requirements import requirement_sort_key
from auditlib.severity import Severity
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

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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


def api_chart(export: TraceExport, title: str | None = None) -> Figure:
    """Horizontal bars of SEND volumes per national API (a Figure; no pyplot needed)."""
    from matplotlib.figure import Figure

    table = api_volumes(export)
    fig = Figure(figsize=(8, max(1.6, 0.35 * len(table) + 1)), layout="constrained")
    ax = fig.add_subplot()
    labels = [f"{a} ({m})" for a, m in zip(table["nomApiPsc"], table["methode"], strict=True)]
    ax.barh(labels[::-1], table["count"].to_numpy()[::-1])
    ax.set_xlabel("appels SEND")
    ax.set_title(title or "Volumes d'appels par API nationale (apiRequest.nomApiPsc)")
    ax.tick_params(axis="y", labelsize="small")
    return fig


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
