"""Proxy e-Santé traces as supervision evidence: load or fetch an export, check it, turn
findings into the supervision events that trigger audits."""

from auditlib.severity import Severity
from auditlib.traces.analysis import (
    TraceAnalysis,
    TraceSettings,
    analyse_traces,
    api_chart,
    api_volumes,
    trace_chart,
    trace_statistics,
    trace_totals,
)
from auditlib.traces.clients import expected_subjects, settings_for_provider
from auditlib.traces.events import load_supervision_events, write_events_csv, write_events_yaml
from auditlib.traces.fetch import DEFAULT_TIMEOUT, fetch_traces
from auditlib.traces.load import (
    SIDECAR_SUFFIX,
    load_traces,
    normalise_ip,
    parse_iso_datetime,
    parse_traces,
    read_export,
)
from auditlib.traces.model import (
    CheckStatus,
    MalformedRecord,
    OffendingRecord,
    SupervisionEvent,
    SupervisionProfile,
    TraceCheckResult,
    TraceExport,
    TraceFinding,
    TraceVerdict,
    load_supervision_profile,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "SIDECAR_SUFFIX",
    "CheckStatus",
    "MalformedRecord",
    "OffendingRecord",
    "Severity",
    "SupervisionEvent",
    "SupervisionProfile",
    "TraceAnalysis",
    "TraceCheckResult",
    "TraceExport",
    "TraceFinding",
    "TraceSettings",
    "TraceVerdict",
    "analyse_traces",
    "api_chart",
    "api_volumes",
    "expected_subjects",
    "fetch_traces",
    "load_supervision_events",
    "load_supervision_profile",
    "load_traces",
    "normalise_ip",
    "parse_iso_datetime",
    "parse_traces",
    "read_export",
    "settings_for_provider",
    "trace_chart",
    "trace_statistics",
    "trace_totals",
    "write_events_csv",
    "write_events_yaml",
]
