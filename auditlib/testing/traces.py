"""Synthetic Proxy e-Santé trace exports in the ANS reference format, clean or with anomalies.

Used by the tests, the benchmark and the demo data. Deterministic for a given seed.
Records are shaped exactly as the reference proxy (`ansforge/psc-edc-proxy-esante`
0.0.2, `model/Trace.java`) serialises them: `type, clientId, IdRPPS, ipAddress, ports,
proxy_id_session, session_state, dn, timestamp`, and `apiRequest {nomApiPsc, methode,
path}` on SEND only; null fields are written as `null` (only `apiRequest` is omitted).

A clean export has what a conforming proxy produces, normal events included:
concurrent sessions (CONNECT_SUCCESS, SENDs, DISCONNECT), CONNECT_REPLAY (a recycled
session), a session opened before the window (its SENDs have no CONNECT_SUCCESS in the
export), isolated CONNECT_FAILUREs, a client behind a reverse proxy (`X-Forwarded-For`
address, `ports: []`) and, optionally, several clients with their own certificate
subject. Every record lies strictly inside the window, in time order, so that each planted
anomaly is the only thing a check can find.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from auditlib.files import write_atomic

DEFAULT_DN = "CN=lps.fournisseur-demo.fr, O=FOURNISSEUR DEMO, C=FR"
"""Java's `X500Principal.toString()` form, as the reference proxy writes `dn`."""
OTHER_DN = "CN=intrus.example.org, O=INCONNU, C=FR"
PARIS_WINTER = dt.timezone(dt.timedelta(hours=1))
DEFAULT_START = dt.datetime(2026, 11, 2, 8, 0, tzinfo=PARIS_WINTER)
APIS = (("DMP", "POST"), ("DMP", "GET"), ("INSi", "POST"), ("MSSante", "GET"))
"""(nomApiPsc, methode) of the relayed calls: ILLUSTRATIVE national API names."""


class Anomaly(StrEnum):
    """What can be planted; `EXPECTED_CHECK` says which check must see it."""

    SEND_WITHOUT_RPPS = "send_without_rpps"
    SEND_FOREIGN_SESSION_STATE = "send_foreign_session_state"
    SEND_OTHER_RPPS = "send_other_rpps"
    SEND_BEFORE_CONNECT = "send_before_connect"
    SEND_AFTER_DISCONNECT = "send_after_disconnect"
    DN_CHANGES = "dn_changes"
    OUT_OF_ORDER = "out_of_order"
    OUTSIDE_WINDOW = "outside_window"
    GAP = "gap"
    FAILURE_BURST = "failure_burst"
    MALFORMED = "malformed"


EXPECTED_CHECK: dict[Anomaly, str] = {
    Anomaly.SEND_WITHOUT_RPPS: "send_identity",
    Anomaly.SEND_FOREIGN_SESSION_STATE: "session_state",
    Anomaly.SEND_OTHER_RPPS: "session_rpps",
    Anomaly.SEND_BEFORE_CONNECT: "send_session",
    Anomaly.SEND_AFTER_DISCONNECT: "send_session",
    Anomaly.DN_CHANGES: "client_dn",
    Anomaly.OUT_OF_ORDER: "trace_order",
    Anomaly.OUTSIDE_WINDOW: "trace_window",
    Anomaly.GAP: "trace_gap",
    Anomaly.FAILURE_BURST: "connect_failure_burst",
    Anomaly.MALFORMED: "malformed_records",
}


@dataclass(frozen=True)
class SyntheticTraces:
    """A generated export, the window it was "requested" for, and what was planted."""

    records: list[dict[str, Any]]
    start: dt.datetime
    end: dt.datetime
    client_dn: str
    planted: tuple[Anomaly, ...] = ()
    deviating: tuple[int, ...] = ()
    """Indexes of the records the last planted anomaly made deviate (when it is records)."""

    def write(self, path: str | Path) -> Path:
        """Write the list as the `/traces` endpoint returns it (atomically)."""
        return write_atomic(path, json.dumps(self.records, ensure_ascii=False))


def _iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="milliseconds")


def _time(record: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(record["timestamp"])


def trace_record(
    kind: str,
    *,
    client_id: str | None,
    rpps: str,
    ip: str,
    ports: list[int],
    session: str | None,
    state: str | None,
    dn: str | None,
    when: dt.datetime,
    api: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    """One record in the reference format (field order of `Trace.java`)."""
    record: dict[str, Any] = {
        "type": kind,
        "clientId": client_id,
        "IdRPPS": rpps,
        "ipAddress": ip,
        "ports": ports,
        "proxy_id_session": session,
        "session_state": state,
        "dn": dn,
        "timestamp": _iso(when),
    }
    if api is not None:
        record["apiRequest"] = {"nomApiPsc": api[0], "methode": api[1], "path": api[2]}
    return record


def generate_traces(
    sessions: int = 200,
    *,
    sends_per_session: int = 3,
    start: dt.datetime = DEFAULT_START,
    session_every: dt.timedelta = dt.timedelta(seconds=20),
    event_every: dt.timedelta = dt.timedelta(seconds=15),
    clients: int = 4,
    users: int = 50,
    client_dn: str = DEFAULT_DN,
    client_subjects: Mapping[str, str] | None = None,
    replay_every: int = 5,
    failure_every: int = 40,
    carried_session: bool = True,
    seed: int = 7,
    anomalies: Iterable[Anomaly] = (),
) -> SyntheticTraces:
    """A clean export of `sessions` sessions, then each anomaly in `anomalies` planted.

    Sessions overlap (one starts every `session_every`, each lasts
    `(sends_per_session + 1) * event_every`). Client `lps-client-NN` uses
    `client_subjects[...]` when given, else `client_dn`; client 03 sits behind a reverse
    proxy. Every `replay_every`-th session is recycled once (CONNECT_REPLAY), every
    `failure_every`-th is preceded by one CONNECT_FAILURE.
    """
    rnd = random.Random(seed)
    subjects = dict(client_subjects or {})
    timed: list[tuple[dt.datetime, int, dict[str, Any]]] = []
    serial = 0

    def add(when: dt.datetime, record: dict[str, Any]) -> None:
        nonlocal serial
        timed.append((when, serial, record))
        serial += 1

    first = -1 if carried_session and sessions else 0
    for i in range(first, sessions):
        opened = start + (i + 0.5) * session_every
        if i < 0:
            opened = start - event_every / 2
        client = f"lps-client-{i % clients:02d}"
        behind_proxy = clients > 3 and i % clients == 3
        ip = (
            f"203.0.113.{i % 200 + 1}" if behind_proxy else f"/10.20.{i % 250}.{(i * 13) % 250 + 1}"
        )
        ports = [] if behind_proxy else [40000 + i % 20000]
        rpps = f"8100{(i * 7919) % users:08d}"
        base: dict[str, Any] = {
            "client_id": client,
            "rpps": rpps,
            "ip": ip,
            "ports": ports,
            "session": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "state": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "dn": subjects.get(client, client_dn),
        }
        if failure_every and i >= 0 and i % failure_every == failure_every - 1:
            failed: dict[str, Any] = {
                **base,
                "client_id": None,
                "session": None,
                "state": None,
                "dn": None,
            }
            add(opened - event_every / 3, trace_record("CONNECT_FAILURE", when=opened, **failed))
        if i >= 0:
            add(opened, trace_record("CONNECT_SUCCESS", when=opened, **base))
        for k in range(sends_per_session):
            when = opened + (k + 1) * event_every
            name, method = APIS[(i + k) % len(APIS)]
            api = (name, method, f"/send/{name.lower()}/v1/resource/{k}")
            add(when, trace_record("SEND", when=when, api=api, **base))
            if k == 0 and replay_every and i % replay_every == 2:
                again = when + event_every / 2
                add(again, trace_record("CONNECT_REPLAY", when=again, **base))
        closed = opened + (sends_per_session + 1) * event_every
        add(closed, trace_record("DISCONNECT", when=closed, **base))
    timed.sort(key=lambda item: (item[0], item[1]))
    out = []
    for when, _, record in timed:
        record["timestamp"] = _iso(when)
        out.append(record)
    last = timed[-1][0] if timed else start
    sample = SyntheticTraces(out, start, last + dt.timedelta(minutes=1), client_dn)
    # Plants that keep the order first, then the ones that break order or shape.
    breaking = (Anomaly.OUT_OF_ORDER, Anomaly.MALFORMED)
    chosen = list(dict.fromkeys(anomalies))
    for anomaly in [a for a in chosen if a not in breaking] + [a for a in breaking if a in chosen]:
        sample = plant(sample, anomaly)
    return sample


def _sends(records: list[Any]) -> list[int]:
    return [
        i
        for i, r in enumerate(records)
        if isinstance(r, dict)
        and r.get("type") == "SEND"
        and any(
            isinstance(o, dict)
            and o.get("type") == "CONNECT_SUCCESS"
            and o.get("proxy_id_session") == r.get("proxy_id_session")
            for o in records[max(0, i - 200) : i]
        )
    ]


def _middle_send(records: list[Any], offset: int = 0) -> int:
    sends = _sends(records)
    return sends[(len(sends) // 2 + offset * 7) % len(sends)]


def _resort(records: list[Any], marked: dict[str, Any]) -> tuple[list[Any], int]:
    """Stable sort by time; the new position of `marked`."""
    order = sorted(range(len(records)), key=lambda k: _time(records[k]))
    out = [records[k] for k in order]
    return out, next(k for k, r in enumerate(out) if r is marked)


def plant(sample: SyntheticTraces, anomaly: Anomaly) -> SyntheticTraces:
    """Return a copy of `sample` with one `anomaly` planted near the middle.

    Plant on a clean sample, or through `generate_traces(anomalies=...)`, which
    orders the plants so that none undoes another.
    """
    records: list[Any] = [dict(r) if isinstance(r, dict) else r for r in sample.records]
    start, end = sample.start, sample.end
    deviating: list[int] = []
    if anomaly is Anomaly.SEND_WITHOUT_RPPS:
        i = _middle_send(records, 1)
        records[i]["IdRPPS"] = None
        deviating = [i]
    elif anomaly is Anomaly.SEND_FOREIGN_SESSION_STATE:
        i = _middle_send(records, 2)
        other = next(
            r["session_state"]
            for r in records[i + 1 :]
            if isinstance(r, dict)
            and r.get("session_state")
            and r.get("proxy_id_session") != records[i]["proxy_id_session"]
        )
        records[i]["session_state"] = other
        deviating = [i]
    elif anomaly is Anomaly.SEND_OTHER_RPPS:
        i = _middle_send(records, 3)
        records[i]["IdRPPS"] = "810099999999"
        deviating = [i]
    elif anomaly is Anomaly.SEND_BEFORE_CONNECT:
        i = _middle_send(records, 4)
        session = records[i]["proxy_id_session"]
        opening = next(
            j
            for j in range(i, -1, -1)
            if records[j].get("type") == "CONNECT_SUCCESS"
            and records[j].get("proxy_id_session") == session
        )
        early = dict(records[i])
        early["timestamp"] = _iso(_time(records[opening]) - dt.timedelta(milliseconds=500))
        records.insert(opening, early)
        records, at = _resort(records, early)
        deviating = [at]
    elif anomaly is Anomaly.SEND_AFTER_DISCONNECT:
        i = _middle_send(records, 5)
        session = records[i]["proxy_id_session"]
        closing = next(
            j
            for j in range(i, len(records))
            if records[j].get("type") == "DISCONNECT"
            and records[j].get("proxy_id_session") == session
        )
        late = dict(records[i])
        late["timestamp"] = _iso(_time(records[closing]) + dt.timedelta(milliseconds=500))
        records.insert(closing + 1, late)
        records, at = _resort(records, late)
        deviating = [at]
    elif anomaly is Anomaly.DN_CHANGES:
        i = _middle_send(records, 6)
        records[i]["dn"] = OTHER_DN
        deviating = [i]
    elif anomaly is Anomaly.OUT_OF_ORDER:
        i = len(records) // 2
        records[i], records[i + 5] = records[i + 5], records[i]
        # Every record after the one moved forward is earlier than it.
        deviating = list(range(i + 1, i + 6))
    elif anomaly is Anomaly.OUTSIDE_WINDOW:
        # A record stamped exactly at the window start: the bounds are exclusive.
        start = _time(records[0])
        deviating = [0]
    elif anomaly is Anomaly.GAP:
        i = len(records) // 2
        shift = dt.timedelta(hours=2)
        for record in records[i:]:
            record["timestamp"] = _iso(_time(record) + shift)
        end = end + shift
        deviating = [i]
    elif anomaly is Anomaly.FAILURE_BURST:
        # After a record followed by a strictly later one, so time order is kept.
        times = [_time(r) for r in records]
        i = next(j for j in range(len(records) // 2, len(records) - 1) if times[j + 1] > times[j])
        step = (times[i + 1] - times[i]) / 10
        failures = [
            trace_record(
                "CONNECT_FAILURE",
                client_id=None,
                rpps="810000000999",
                ip="/198.51.100.9",
                ports=[50000 + k],
                session=None,
                state=None,
                dn=None,
                when=times[i] + (k + 1) * step,
            )
            for k in range(8)
        ]
        records[i + 1 : i + 1] = failures
        deviating = list(range(i + 1, i + 9))
    elif anomaly is Anomaly.MALFORMED:
        # Inserted (not replacing records) so nothing else in the export changes.
        i = len(records) // 3
        stamp = records[i]["timestamp"]
        bad_time = {**records[i], "timestamp": "2026-11-02 10:00:00"}
        records[i + 1 : i + 1] = [
            {**records[i], "type": "TELEPORT", "timestamp": stamp},
            bad_time,
            "not a record",
        ]
        deviating = [i + 1, i + 2, i + 3]
    return SyntheticTraces(
        records, start, end, sample.client_dn, (*sample.planted, anomaly), tuple(deviating)
    )
