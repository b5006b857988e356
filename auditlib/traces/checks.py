"""The supervision checks, vectorised over the records DataFrame.

Each check reads its thresholds, severity and requirement ids from the profile and
returns a `TraceFinding` (or None when it finds nothing). Record order matters for
sessions, so time order is (timestamp, position in file).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    "clientId",
    "IdRPPS",
    "ipAddress",
    "port",
    "proxy_id_session",
    "session_state",
    "dn",
    "api",
)
INDEX_LIMIT = 1000
"""A finding lists at most this many deviating record indexes (and always their count)."""
NONE = np.iinfo(np.int64).max


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


def first_in_group(codes: IntArray, order: IntArray, size: int) -> IntArray:
    """Per group code, the row that comes first in `order` (-1 for groups with no row)."""
    ordered = order[codes[order] >= 0]
    first = np.full(size, -1, dtype=np.int64)
    groups, at = np.unique(codes[ordered], return_index=True)
    first[groups] = ordered[at]
    return first


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
    """One registered subject for every clientId (the registry's
    `client_certificate_subject`, or `--expected-dn`)."""
    expected_subjects: Mapping[str, str] = field(default_factory=dict)
    """Registered subject per clientId (the registry's `clients`); wins over the above."""
    unresolved_clients: tuple[str, ...] = ()
    """Registered clientIds whose certificate fingerprint could not be tied to a subject."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Statistics the checks compute on the way (never findings)."""
    _codes: dict[str, tuple[IntArray, pd.Index]] = field(default_factory=dict, repr=False)

    def codes(self, column: str) -> tuple[IntArray, pd.Index]:
        """`session_codes` of a column, computed once per analysis."""
        if column not in self._codes:
            self._codes[column] = session_codes(self.records[column])
        return self._codes[column]

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
        return self.codes(column)[0] < 0

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
        indexes = np.sort(np.asarray(self.records["index"].to_numpy()[rows], dtype=np.int64))
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
            indexes=tuple(int(i) for i in indexes[:INDEX_LIMIT]),
        )

    def samples(self, rows: IntArray) -> tuple[OffendingRecord, ...]:
        chosen = self.records.iloc[rows[: self.profile.sample_size]]
        out = []
        for position in range(len(chosen)):
            row = chosen.iloc[position]
            record: dict[str, Any] = {
                name: (None if pd.isna(row[name]) else str(row[name]))
                for name in SAMPLE_FIELDS
                if name in row and name != "port"
            }
            if "port" in row:
                port = int(row["port"])
                record["ports"] = [port] if port >= 0 else [] if port == -1 else None
            stamp = row["ts"]
            record["timestamp"] = None if pd.isna(stamp) else stamp.isoformat()
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
            "être analysées (type inconnu, horodatage invalide, champ requis absent ou "
            "interdit)."
        ),
        count=len(bad),
        samples=samples,
        requirements=spec.requirements,
        details={"reasons": reasons},
        indexes=tuple(int(i) for i in bad["index"].head(INDEX_LIMIT)),
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
    """SENDs set aside as malformed because an identity field is missing."""
    bad = ctx.malformed
    if bad.empty or "identity_missing" not in bad:
        return None
    hit = bad[(bad["type"] == "SEND") & (bad["identity_missing"] != "")]
    if hit.empty:
        return None
    per_field: dict[str, int] = {}
    for text, number in hit["identity_missing"].value_counts().items():
        for name in str(text).split(", "):
            per_field[name] = per_field.get(name, 0) + int(number)
    head = hit.head(ctx.profile.sample_size)
    listed = ", ".join(f"{k} : {v}" for k, v in sorted(per_field.items()))
    return TraceFinding(
        check="send_identity",
        severity=spec.severity,
        title=spec.title,
        message=(
            f"{len(hit)} appel(s) SEND sans identifiant de session proxy, de session PSC, "
            f"d'identifiant RPPS ou d'identifiant client ({listed}) ; ces traces sont aussi "
            "comptées comme mal formées."
        ),
        count=len(hit),
        samples=tuple(
            OffendingRecord(int(i), {"type": "SEND", "absent": str(m)})
            for i, m in zip(head["index"], head["identity_missing"], strict=True)
        ),
        requirements=spec.requirements,
        details={"missing_by_field": per_field},
        indexes=tuple(int(i) for i in hit["index"].head(INDEX_LIMIT)),
    )


def _one_value_per_session(
    ctx: CheckContext, spec: CheckSpec, check: str, column: str, what: str
) -> TraceFinding | None:
    """Records whose `column` differs from the first record (in time) of their session."""
    codes, sessions = ctx.codes("proxy_id_session")
    values, categories = ctx.codes(column)
    first = first_in_group(codes, ctx.order, len(sessions))
    has = codes >= 0
    reference = np.where(has, values[first[np.maximum(codes, 0)]], -1)
    mask = has & (values != reference)
    if not mask.any():
        return None
    rows = np.flatnonzero(mask)
    affected = pd.unique(codes[rows])
    listed = []
    for code in affected[:10]:
        ref_code = int(values[first[code]])
        seen = pd.unique(values[rows[codes[rows] == code]])
        listed.append(
            {
                "proxy_id_session": str(sessions[code]),
                "first_record": int(ctx.records["index"].iat[int(first[code])]),
                "expected": str(categories[ref_code]) if ref_code >= 0 else None,
                "found": [str(categories[v]) if v >= 0 else None for v in seen[:5]],
            }
        )
    return ctx.finding(
        check,
        spec,
        mask,
        f"{len(rows)} trace(s) dont {what} diffère de celui du premier enregistrement de "
        f"leur session proxy (proxy_id_session), sur {len(affected)} session(s).",
        {"sessions": len(affected), "listed": listed},
    )


def check_session_state(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    return _one_value_per_session(
        ctx, spec, "session_state", "session_state", "la session PSC (session_state)"
    )


def check_session_rpps(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    return _one_value_per_session(ctx, spec, "session_rpps", "IdRPPS", "l'utilisateur (IdRPPS)")


def _first_rank(codes: IntArray, rank: IntArray, where: BoolArray, size: int) -> IntArray:
    """Per session code, the smallest time rank among rows `where` (NONE when none)."""
    out = np.full(size, NONE, dtype=np.int64)
    np.minimum.at(out, codes[where], rank[where])
    return out


@dataclass(frozen=True)
class SendPlacement:
    """Where each SEND falls relative to its session's opening and closing records."""

    before_connect: BoolArray
    """Before the CONNECT_SUCCESS that opens its session in the export: a finding."""
    after_disconnect: BoolArray
    """After its session's DISCONNECT: a finding."""
    opened_before_window: BoolArray
    """Its session has no CONNECT_SUCCESS in the export and is not closed yet: the session
    was opened before the window (the reference proxy has no expiry): a statistic."""
    session_codes: IntArray


def send_placement(ctx: CheckContext) -> SendPlacement:
    codes, uniques = ctx.codes("proxy_id_session")
    has = codes >= 0
    send = ctx.is_type("SEND") & has
    size = len(uniques)
    rank = ctx.rank
    opened = _first_rank(codes, rank, ctx.is_type("CONNECT_SUCCESS") & has, size)
    closed = _first_rank(codes, rank, ctx.is_type("DISCONNECT") & has, size)
    safe = np.maximum(codes, 0)
    after = send & (closed[safe] != NONE) & (rank > closed[safe])
    before = send & (opened[safe] != NONE) & (rank < opened[safe])
    carried = send & (opened[safe] == NONE) & ~after
    return SendPlacement(before, after, carried, codes)


def check_send_session(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    placed = send_placement(ctx)
    mask = placed.before_connect | placed.after_disconnect
    if not mask.any():
        return None
    details = {
        "before_connect": int(placed.before_connect.sum()),
        "after_disconnect": int(placed.after_disconnect.sum()),
        "sessions": int(pd.unique(placed.session_codes[mask]).size),
    }
    return ctx.finding(
        "send_session",
        spec,
        mask,
        f"{int(mask.sum())} appel(s) SEND hors d'une session ouverte : "
        f"{details['before_connect']} avant le CONNECT_SUCCESS de leur session, "
        f"{details['after_disconnect']} après son DISCONNECT, "
        f"sur {details['sessions']} session(s).",
        details,
    )


@dataclass(frozen=True)
class _Reference:
    key: Any
    subject: str | None
    source: str


def check_client_dn(ctx: CheckContext, spec: CheckSpec) -> TraceFinding | None:
    """One client certificate subject per clientId: the registered one, else the client's
    most frequent one. A subject is compared as a DN (order, case, spacing ignored)."""
    types = spec.param("types", ["CONNECT_SUCCESS", "CONNECT_REPLAY", "SEND", "DISCONNECT"])
    clients, client_names = ctx.codes("clientId")
    dns, dn_names = ctx.codes("dn")
    applies = ctx.records["type"].isin(types).to_numpy(dtype=bool) & (clients >= 0)
    if not applies.any():
        return None
    width = len(dn_names) + 1
    pair = clients * width + (dns + 1)
    pairs, counts = np.unique(pair[applies], return_counts=True)
    keys = [parse_dn(str(d)) for d in dn_names]

    def key_of(dn_code: int) -> Any:
        if dn_code < 0:
            return None
        return keys[dn_code] or ("raw", str(dn_names[dn_code]))

    registered: dict[int, _Reference] = {}
    for name, subject in ctx.expected_subjects.items():
        found = np.flatnonzero(client_names == name)
        if len(found):
            registered[int(found[0])] = _Reference(_parse_expected(subject), subject, "registre")
    default = None
    if ctx.expected_client_subject:
        subject = ctx.expected_client_subject
        default = _Reference(_parse_expected(subject), subject, "registre")
    by_client: dict[int, list[tuple[int, int, int]]] = {}
    for value, number in zip(pairs, counts, strict=True):
        code, dn_code = divmod(int(value), width)
        by_client.setdefault(code, []).append((int(value), dn_code - 1, int(number)))
    bad_pairs: list[int] = []
    listed = []
    for code, entries in by_client.items():
        reference = registered.get(code) or default
        if reference is None:
            totals: dict[Any, int] = {}
            for _, dn_code, number in entries:
                totals[key_of(dn_code)] = totals.get(key_of(dn_code), 0) + number
            best = max(totals.values())
            winner = next(k for k in totals if totals[k] == best)
            shown = next((str(dn_names[d]) for _, d, _ in entries if key_of(d) == winner), None)
            reference = _Reference(winner, shown, "le plus fréquent")
        deviating = {
            (str(dn_names[d]) if d >= 0 else "(absent)"): n
            for v, d, n in entries
            if key_of(d) != reference.key
        }
        bad_pairs += [v for v, d, _ in entries if key_of(d) != reference.key]
        if deviating:
            listed.append(
                {
                    "clientId": str(client_names[code]),
                    "expected": reference.subject,
                    "reference": reference.source,
                    "found": dict(list(deviating.items())[:5]),
                }
            )
    mask = applies & np.isin(pair, np.asarray(bad_pairs, dtype=np.int64))
    if not mask.any():
        return None
    summary = "; ".join(
        f"{item['clientId']} : attendu {item['expected'] or '(absent)'} ({item['reference']})"
        for item in listed[:3]
    )
    return ctx.finding(
        "client_dn",
        spec,
        mask,
        f"{int(mask.sum())} trace(s) dont le sujet du certificat client (dn) diffère de celui "
        f"attendu pour leur clientId, sur {len(listed)} client(s) — {summary}.",
        {"clients": listed[:20]},
    )


def _parse_expected(subject: str) -> Any:
    key = parse_dn(subject)
    if key is None:
        raise TraceError(f"expected client subject {subject!r} is not a distinguished name")
    return key


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
    # GET /traces keeps start < timestamp < end: both bounds are exclusive.
    early = ns <= pd.Timestamp(ctx.start).value if ctx.start else np.zeros(len(ns), dtype=bool)
    late = ns >= pd.Timestamp(ctx.end).value if ctx.end else np.zeros(len(ns), dtype=bool)
    mask = np.asarray(early | late, dtype=bool)
    if not mask.any():
        return None
    start = ctx.start.isoformat() if ctx.start else "…"
    end = ctx.end.isoformat() if ctx.end else "…"
    return ctx.finding(
        "trace_window",
        spec,
        mask,
        f"{int(mask.sum())} trace(s) hors de la période demandée ]{start} ; {end}[ "
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
    all_codes, categories = _group_codes(ctx, spec.param("group_by", ["clientId"]))
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
        f"{spec.param('window_minutes', 10)} min pour {len(by_client)} client(s) ou "
        f"utilisateur(s) : {listed}.",
        {"clients": by_client},
    )


def _group_codes(ctx: CheckContext, fields: list[str]) -> tuple[IntArray, list[str]]:
    """Per record, the code of the first present field of `fields` (labels `field=value`)."""
    codes = np.full(len(ctx.records), -1, dtype=np.int64)
    labels: list[str] = []
    for name in fields:
        if name not in ctx.records:
            raise TraceError(f"connect_failure_burst.group_by names unknown field {name!r}")
        own, categories = ctx.codes(name)
        fill = (codes < 0) & (own >= 0)
        codes[fill] = own[fill] + len(labels)
        labels += [f"{name}={c}" for c in categories]
    return codes, labels


CHECKS: dict[str, Check] = {
    "malformed_records": check_malformed,
    "empty_export": check_empty,
    "send_identity": check_send_identity,
    "session_state": check_session_state,
    "session_rpps": check_session_rpps,
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
    if check_id == "client_dn":
        notes = []
        if not ctx.expected_client_subject and not ctx.expected_subjects:
            notes.append(
                "aucun sujet de certificat client enregistré : seule la stabilité du dn par "
                "clientId est vérifiée (référence : le sujet le plus fréquent du client)"
            )
        if ctx.unresolved_clients:
            notes.append(
                "empreinte SHA-256 enregistrée sans certificat correspondant pour "
                + ", ".join(ctx.unresolved_clients[:5])
                + " : sujet le plus fréquent pris comme référence"
            )
        return True, "; ".join(notes) or None
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
