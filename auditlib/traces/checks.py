"""The supervision checks, vectorised over the records DataFrame.

Each check reads its thresholds, severity and requirement ids from the profile and
returns a `TraceFinding` (or None when it finds nothing). Record order matters for
sessions, so time order is (timestamp, position in file).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from auditlib.dn import parse_dn
from auditlib.errors import TraceError
from auditlib.traces.model import (
    CheckSpec,
    CheckStatus,
    OffendingRecord,
    SupervisionProfile,
    TraceCheckResult,
    TraceFinding,
)

IntArray = np.ndarray[Any, np.dtype[np.int64]]
BoolArray = np.ndarray[Any, np.dtype[np.bool_]]
NS_PER_MINUTE = 60 * 1_000_000_000
SAMPLE_FIELDS = (
    "type",
    "timestamp",
    "clientId",
    "IdRPPS",
    "ipAddress",
    "proxy_id_session",
    "sessionState",
    "dn",
)


def blank_mask(values: pd.Categorical | pd.Series) -> BoolArray:
    """True where a categorical string column is absent, empty or only spaces."""
    category = values.array if isinstance(values, pd.Series) else values
    codes = np.asarray(category.codes, dtype=np.int64)
    blank = np.fromiter(
        (not str(c).strip() for c in category.categories),
        dtype=bool,
        count=len(category.categories),
    )
    out = codes < 0
    if blank.any():
        out |= np.where(codes >= 0, blank[np.maximum(codes, 0)], False)
    return out


def session_codes(values: pd.Series) -> tuple[IntArray, pd.Index]:
    """Category codes of a string column with blanks as -1, and the categories."""
    codes = np.asarray(values.array.codes, dtype=np.int64)
    return np.where(blank_mask(values), -1, codes), values.array.categories


@dataclass(frozen=True, eq=False)
class CheckContext:
    records: pd.DataFrame
    malformed: pd.DataFrame
    total_records: int
    profile: SupervisionProfile
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    expected_client_subject: str | None = None

    @cached_property
    def ns(self) -> IntArray:
        """Timestamps as int64 nanoseconds since the epoch (UTC)."""
        values = self.records["ts"].to_numpy(dtype="datetime64[ns]")
        return np.asarray(values.astype(np.int64), dtype=np.int64)

    @cached_property
    def order(self) -> IntArray:
        """Row numbers in time order (ties: file order)."""
        return np.lexsort((np.arange(len(self.records)), self.ns)).astype(np.int64)

    @cached_property
    def rank(self) -> IntArray:
        """Position of each row in time order."""
        rank = np.empty(len(self.records), dtype=np.int64)
        rank[self.order] = np.arange(len(self.records), dtype=np.int64)
        return rank

    def is_type(self, name: str) -> BoolArray:
        return np.asarray(self.records["type"] == name, dtype=bool)

    def missing(self, column: str) -> BoolArray:
        return blank_mask(self.records[column])

    def finding(
        self,
        check: str,
        spec: CheckSpec,
        mask: BoolArray,
        message: str,
        details: dict[str, Any] | None = None,
        count: int | None = None,
    ) -> TraceFinding:
        rows = np.flatnonzero(mask)
        first = None
        if len(rows):
            first_ns = int(self.ns[rows].min())
            first = dt.datetime.fromtimestamp(first_ns / 1e9, dt.UTC)
        return TraceFinding(
            check=check,
            severity=spec.severity,
            title=spec.title,
            message=message,
            count=int(len(rows) if count is None else count),
            samples=self.samples(rows),
            requirements=spec.requirements,
            first_seen=first,
            details=details or {},
        )

    def samples(self, rows: IntArray) -> tuple[OffendingRecord, ...]:
        chosen = self.records.iloc[rows[: self.profile.sample_size]]
        out = []
        for _, row in chosen.iterrows():
            record = {
                name: (None if pd.isna(row[name]) else str(row[name]))
                for name in SAMPLE_FIELDS
                if name in row
            }
            out.append(OffendingRecord(int(row["index"]), record))
        return tuple(out)


Check = Callable[[CheckContext, CheckSpec], TraceFinding | None]


def check_malformed(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    bad = ctx.malformed
    if bad.empty:
        return None
    head = bad.head(ctx.profile.sample_size)
    samples = tuple(
        OffendingRecord(int(i), {"reason": str(r)})
        for i, r in zip(head["index"], head["reason"], strict=True)
    )
    reasons = {str(k): int(v) for k, v in bad["reason"].value_counts().head(10).items()}
    return TraceFinding(
        check="malformed_records",
        severity=spec.severity,
        title=spec.title,
        message=(
            f"{len(bad)} trace(s) sur {ctx.total_records} sont mal formées et n'ont pas pu "
            "être analysées (type inconnu, horodatage invalide ou champ requis absent)."
        ),
        count=len(bad),
        samples=samples,
        requirements=spec.requirements,
        details={"reasons": reasons},
    )


def check_empty(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    if ctx.total_records:
        return None
    window = ""
    if ctx.start and ctx.end:
        window = f" du {ctx.start.isoformat()} au {ctx.end.isoformat()}"
    return TraceFinding(
        check="empty_export",
        severity=spec.severity,
        title=spec.title,
        message=f"L'export ne contient aucune trace{window} : l'activité n'est pas démontrée.",
        count=0,
        samples=(),
        requirements=spec.requirements,
    )


def check_send_identity(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    send = ctx.is_type("SEND")
    fields = spec.param("fields", ["proxy_id_session", "IdRPPS", "clientId"])
    mask = np.zeros(len(send), dtype=bool)
    per_field: dict[str, int] = {}
    for name in fields:
        hit = send & ctx.missing(name)
        per_field[name] = int(hit.sum())
        mask |= hit
    if not mask.any():
        return None
    listed = ", ".join(f"{k} : {v}" for k, v in per_field.items() if v)
    return ctx.finding(
        "send_identity",
        spec,
        mask,
        f"{int(mask.sum())} appel(s) SEND sans identifiant de session proxy, "
        f"d'identifiant RPPS ou d'identifiant client ({listed}).",
        {"missing_by_field": per_field},
    )


def _first_rank(codes: IntArray, rank: IntArray, where: BoolArray, size: int) -> IntArray:
    """Per session code, the smallest time rank among rows `where` (max int when none)."""
    out = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, codes[where], rank[where])
    return out


def check_send_session(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    codes, uniques = session_codes(ctx.records["proxy_id_session"])
    has_session = codes >= 0
    send = ctx.is_type("SEND") & has_session
    if not send.any():
        return None
    size = len(uniques)
    none = np.iinfo(np.int64).max
    rank = ctx.rank
    opened = _first_rank(codes, rank, ctx.is_type("CONNECT_SUCCESS") & has_session, size)
    closed = _first_rank(codes, rank, ctx.is_type("DISCONNECT") & has_session, size)
    safe = np.where(has_session, codes, 0)
    never = send & (opened[safe] == none)
    carryover = float(spec.param("carryover_minutes", 0) or 0)
    if carryover > 0 and never.any():
        first_seen = np.full(size, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_seen, codes[has_session], ctx.ns[has_session])
        origin = int(pd.Timestamp(ctx.start).value) if ctx.start else int(ctx.ns.min())
        tolerated = first_seen[safe] <= origin + int(carryover * NS_PER_MINUTE)
        never &= ~tolerated
    before = send & (opened[safe] != none) & (rank < opened[safe])
    after = send & (closed[safe] != none) & (rank > closed[safe])
    mask = never | before | after
    if not mask.any():
        return None
    details = {
        "never_opened": int(never.sum()),
        "before_connect": int(before.sum()),
        "after_disconnect": int(after.sum()),
        "sessions": int(pd.unique(codes[mask]).size),
    }
    return ctx.finding(
        "send_session",
        spec,
        mask,
        f"{int(mask.sum())} appel(s) SEND sur une session proxy non ouverte par "
        f"CONNECT_SUCCESS ({details['never_opened'] + details['before_connect']}) "
        f"ou déjà fermée par DISCONNECT ({details['after_disconnect']}), "
        f"sur {details['sessions']} session(s).",
        details,
    )


def check_client_dn(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    types = spec.param("types", ["CONNECT_SUCCESS", "SEND", "DISCONNECT"])
    applies = ctx.records["type"].isin(types).to_numpy(dtype=bool)
    absent = applies & ctx.missing("dn")
    expected = ctx.expected_client_subject
    expected_key = None
    if expected:
        expected_key = parse_dn(expected)
        if expected_key is None:
            raise TraceError(f"expected client subject {expected!r} is not a distinguished name")
    codes, categories = session_codes(ctx.records["dn"])
    present = applies & ~absent
    used = np.unique(codes[present])
    wrong_codes = [
        int(k)
        for k in used
        if (key := parse_dn(str(categories[k]))) is None
        or (expected_key is not None and key != expected_key)
    ]
    wrong_values = [str(categories[k]) for k in wrong_codes]
    wrong = present & np.isin(codes, wrong_codes)
    mask = absent | wrong
    if not mask.any():
        return None
    parts = []
    if absent.any():
        parts.append(f"{int(absent.sum())} sans sujet de certificat client (dn)")
    if wrong.any():
        what = (
            f"différent du certificat client enregistré ({expected})" if expected else "illisible"
        )
        parts.append(f"{int(wrong.sum())} avec un sujet {what}")
    return ctx.finding(
        "client_dn",
        spec,
        mask,
        "Traces sur canal mTLS : " + " ; ".join(parts) + ".",
        {
            "missing": int(absent.sum()),
            "mismatch": int(wrong.sum()),
            "subjects_seen": [str(v) for v in wrong_values[:10]],
            "expected": expected,
        },
    )


def check_order(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    ns = ctx.ns
    if len(ns) < 2:
        return None
    tolerance = int(float(spec.param("tolerance_seconds", 0) or 0) * 1e9)
    running = np.maximum.accumulate(ns)
    mask = np.zeros(len(ns), dtype=bool)
    mask[1:] = ns[1:] < running[:-1] - tolerance
    if not mask.any():
        return None
    return ctx.finding(
        "trace_order",
        spec,
        mask,
        f"{int(mask.sum())} trace(s) horodatée(s) avant une trace qui la précède dans "
        "l'export : l'ordre chronologique n'est pas respecté.",
    )


def check_window(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    if ctx.start is None and ctx.end is None:
        return None
    ns = ctx.ns
    early = ns < pd.Timestamp(ctx.start).value if ctx.start else np.zeros(len(ns), dtype=bool)
    late = ns > pd.Timestamp(ctx.end).value if ctx.end else np.zeros(len(ns), dtype=bool)
    mask = np.asarray(early | late, dtype=bool)
    if not mask.any():
        return None
    start = ctx.start.isoformat() if ctx.start else "…"
    end = ctx.end.isoformat() if ctx.end else "…"
    return ctx.finding(
        "trace_window",
        spec,
        mask,
        f"{int(mask.sum())} trace(s) hors de la période demandée [{start} ; {end}] "
        f"({int(np.sum(early))} avant, {int(np.sum(late))} après).",
        {"before_start": int(np.sum(early)), "after_end": int(np.sum(late))},
    )


def check_gap(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    times = np.sort(ctx.ns)
    if len(times) < 2:
        return None
    max_gap = int(float(spec.param("max_gap_minutes", 30)) * NS_PER_MINUTE)
    activity = int(float(spec.param("activity_minutes", 60)) * NS_PER_MINUTE)
    min_records = int(spec.param("min_records", 5))
    candidates = np.flatnonzero(np.diff(times) > max_gap)
    if not len(candidates):
        return None
    before = candidates + 1 - np.searchsorted(times, times[candidates] - activity, "left")
    after = np.searchsorted(times, times[candidates + 1] + activity, "right") - (candidates + 1)
    gaps = candidates[(before >= min_records) & (after >= min_records)]
    if not len(gaps):
        return None
    mask = np.zeros(len(times), dtype=bool)
    mask[ctx.order[gaps + 1]] = True  # the first record after each gap
    listed = [
        {
            "from": pd.Timestamp(int(times[g]), tz="UTC").isoformat(),
            "to": pd.Timestamp(int(times[g + 1]), tz="UTC").isoformat(),
            "minutes": round((int(times[g + 1]) - int(times[g])) / NS_PER_MINUTE, 1),
        }
        for g in gaps[:20]
    ]
    longest = max(item["minutes"] for item in listed)
    return ctx.finding(
        "trace_gap",
        spec,
        mask,
        f"{len(gaps)} interruption(s) des traces de plus de "
        f"{spec.param('max_gap_minutes', 30)} min alors que le proxy était actif "
        f"(la plus longue : {longest} min).",
        {"gaps": listed},
        count=len(gaps),
    )


def check_failure_burst(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    failures = np.flatnonzero(ctx.is_type("CONNECT_FAILURE"))
    threshold = max(1, int(spec.param("failures", 5)))
    window = int(float(spec.param("window_minutes", 10)) * NS_PER_MINUTE)
    if len(failures) < threshold:
        return None
    all_codes, categories = session_codes(ctx.records["clientId"])
    codes = all_codes[failures]
    ns = ctx.ns[failures]
    order = np.lexsort((ns, codes))
    codes_sorted, ns_sorted = codes[order], ns[order]
    lag = threshold - 1
    ends = np.zeros(len(order), dtype=bool)
    if lag == 0:
        ends[:] = True
    else:
        ends[lag:] = (codes_sorted[lag:] == codes_sorted[:-lag]) & (
            ns_sorted[lag:] - ns_sorted[:-lag] <= window
        )
    if not ends.any():
        return None
    # Mark the `threshold` failures that end at each flagged position.
    marks = np.zeros(len(order) + 1, dtype=np.int64)
    flagged = np.flatnonzero(ends)
    np.add.at(marks, flagged - lag, 1)
    np.add.at(marks, flagged + 1, -1)
    in_burst = np.cumsum(marks[:-1]) > 0
    mask = np.zeros(len(ctx.records), dtype=bool)
    mask[failures[order[in_burst]]] = True
    per_client = pd.Series(codes_sorted[in_burst]).value_counts()
    by_client = {
        (str(categories[int(k)]) if int(k) >= 0 else "(absent)"): int(v)
        for k, v in per_client.items()
    }
    listed = ", ".join(f"{k} ({v})" for k, v in list(by_client.items())[:5])
    return ctx.finding(
        "connect_failure_burst",
        spec,
        mask,
        f"Rafales d'au moins {threshold} échecs de connexion en "
        f"{spec.param('window_minutes', 10)} min pour {len(by_client)} client(s) : {listed}.",
        {"clients": by_client},
    )


CHECKS: dict[str, Check] = {
    "malformed_records": check_malformed,
    "empty_export": check_empty,
    "send_identity": check_send_identity,
    "send_session": check_send_session,
    "client_dn": check_client_dn,
    "trace_order": check_order,
    "trace_window": check_window,
    "trace_gap": check_gap,
    "connect_failure_burst": check_failure_burst,
}


# Checks that judge the file itself still run on an export with no usable record.
_ON_FILE = {"malformed_records", "empty_export"}


def _limits(ctx: CheckContext, check_id: str) -> tuple[bool, str | None]:
    """(can run, French note) for a check on this export."""
    if check_id not in _ON_FILE and ctx.records.empty:
        return False, "aucune trace exploitable"
    if check_id == "trace_window" and ctx.start is None and ctx.end is None:
        return False, "période demandée inconnue (--start/--end ou relevé de collecte)"
    if check_id == "client_dn" and not ctx.expected_client_subject:
        return True, (
            "sujet du certificat client enregistré non fourni : seules la présence et la "
            "lisibilité du dn sont vérifiées"
        )
    return True, None


def run_checks(ctx: CheckContext) -> tuple[TraceCheckResult, ...]:
    """Every check of the profile, in profile order; unknown check ids are refused."""
    unknown = set(ctx.profile.checks) - set(CHECKS)
    if unknown:
        raise TraceError(f"supervision profile names unknown checks: {', '.join(sorted(unknown))}")
    outcomes = []
    for check_id, spec in ctx.profile.checks.items():
        runs, note = _limits(ctx, check_id)
        found = None
        if not spec.enabled:
            status, note = CheckStatus.DISABLED, None
        elif not runs:
            status = CheckStatus.NOT_EVALUATED
        else:
            found = CHECKS[check_id](ctx, spec)
            status = CheckStatus.PASSED if found is None else CheckStatus.FAILED
        outcomes.append(
            TraceCheckResult(
                check=check_id,
                title=spec.title,
                severity=spec.severity,
                requirements=spec.requirements,
                status=status,
                note=note,
                finding=found,
            )
        )
    return tuple(outcomes)
