"""Synthetic Proxy e-Santé trace exports: clean ones, and ones with anomalies planted.

Used by the tests, the benchmark and the demo data. Deterministic for a given seed.
A clean export has concurrent sessions (CONNECT_SUCCESS, SENDs, DISCONNECT) spread
evenly over the window, every record well formed and in time order, so that each
planted anomaly is the only thing a check can find.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from auditlib.files import write_atomic

DEFAULT_DN = "CN=lps.fournisseur-demo.fr,O=FOURNISSEUR DEMO,C=FR"
OTHER_DN = "CN=intrus.example.org,O=INCONNU,C=FR"
PARIS_WINTER = dt.timezone(dt.timedelta(hours=1))
DEFAULT_START = dt.datetime(2026, 11, 2, 8, 0, tzinfo=PARIS_WINTER)


class Anomaly(StrEnum):
    """What can be planted; the value of `EXPECTED_CHECK` says which check must see it."""

    SEND_WITHOUT_SESSION_ID = "send_without_session_id"
    SEND_WITHOUT_RPPS = "send_without_rpps"
    SEND_WITHOUT_CLIENT_ID = "send_without_client_id"
    SEND_UNOPENED_SESSION = "send_unopened_session"
    SEND_AFTER_DISCONNECT = "send_after_disconnect"
    DN_MISSING = "dn_missing"
    DN_MISMATCH = "dn_mismatch"
    OUT_OF_ORDER = "out_of_order"
    OUTSIDE_WINDOW = "outside_window"
    GAP = "gap"
    FAILURE_BURST = "failure_burst"
    MALFORMED = "malformed"


EXPECTED_CHECK: dict[Anomaly, str] = {
    Anomaly.SEND_WITHOUT_SESSION_ID: "send_identity",
    Anomaly.SEND_WITHOUT_RPPS: "send_identity",
    Anomaly.SEND_WITHOUT_CLIENT_ID: "send_identity",
    Anomaly.SEND_UNOPENED_SESSION: "send_session",
    Anomaly.SEND_AFTER_DISCONNECT: "send_session",
    Anomaly.DN_MISSING: "client_dn",
    Anomaly.DN_MISMATCH: "client_dn",
    Anomaly.OUT_OF_ORDER: "trace_order",
    Anomaly.OUTSIDE_WINDOW: "trace_window",
    Anomaly.GAP: "trace_gap",
    Anomaly.FAILURE_BURST: "connect_failure_burst",
    Anomaly.MALFORMED: "malformed_records",
}


@dataclass(frozen=True)
class SyntheticTraces:
    """A generated export and the window it was "requested" for."""

    records: list[dict[str, Any]]
    start: dt.datetime
    end: dt.datetime
    client_dn: str
    planted: tuple[Anomaly, ...] = ()

    def write(self, path: str | Path) -> Path:
        """Write the list as the `/traces` endpoint returns it (atomically)."""
        return write_atomic(path, json.dumps(self.records, ensure_ascii=False))


def _iso(when: dt.datetime) -> str:
    return when.isoformat(timespec="milliseconds")


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
    seed: int = 7,
    anomalies: Iterable[Anomaly] = (),
) -> SyntheticTraces:
    """A clean export of `sessions` sessions, then each anomaly in `anomalies` planted.

    Sessions overlap (one starts every `session_every`, each lasts
    `(sends_per_session + 1) * event_every`); records are sorted by time.
    """
    rnd = random.Random(seed)
    records: list[tuple[dt.datetime, dict[str, Any]]] = []
    for i in range(sessions):
        opened = start + i * session_every
        base = {
            "clientId": f"lps-client-{i % clients:02d}",
            "IdRPPS": f"8100{(i * 7919) % users:08d}",
            "ipAddress": f"10.20.{i % 250}.{(i * 13) % 250 + 1}",
            "ports": [40000 + i % 20000],
            "proxy_id_session": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "dn": client_dn,
        }
        records.append((opened, {"type": "CONNECT_SUCCESS", **base, "sessionState": "OPEN"}))
        for k in range(sends_per_session):
            when = opened + (k + 1) * event_every
            request = {"methode": "POST", "path": f"/send/api/dmp/v{k % 2 + 1}/documents"}
            records.append(
                (when, {"type": "SEND", **base, "sessionState": "OPEN", "request": request})
            )
        closed = opened + (sends_per_session + 1) * event_every
        records.append((closed, {"type": "DISCONNECT", **base, "sessionState": "CLOSED"}))
    records.sort(key=lambda pair: pair[0])
    out = []
    for when, record in records:
        record["timestamp"] = _iso(when)
        out.append(record)
    last = records[-1][0] if records else start
    sample = SyntheticTraces(out, start, last + dt.timedelta(minutes=1), client_dn)
    # Re-sorting plants first, then the ones that break order or shape.
    breaking = (Anomaly.OUT_OF_ORDER, Anomaly.MALFORMED)
    chosen = list(dict.fromkeys(anomalies))
    for anomaly in [a for a in chosen if a not in breaking] + [a for a in breaking if a in chosen]:
        sample = plant(sample, anomaly)
    return sample


def _middle_send(records: list[dict[str, Any]], offset: int = 0) -> int:
    sends = [i for i, r in enumerate(records) if isinstance(r, dict) and r.get("type") == "SEND"]
    return sends[(len(sends) // 2 + offset) % len(sends)]


def plant(sample: SyntheticTraces, anomaly: Anomaly) -> SyntheticTraces:
    """Return a copy of `sample` with one `anomaly` planted near the middle.

    Plant on a clean sample, or through `generate_traces(anomalies=...)`, which
    orders the plants so that none undoes another.
    """
    records = [dict(r) if isinstance(r, dict) else r for r in sample.records]
    start, end = sample.start, sample.end
    if anomaly is Anomaly.SEND_WITHOUT_SESSION_ID:
        records[_middle_send(records, 0)]["proxy_id_session"] = None
    elif anomaly is Anomaly.SEND_WITHOUT_RPPS:
        del records[_middle_send(records, 1)]["IdRPPS"]
    elif anomaly is Anomaly.SEND_WITHOUT_CLIENT_ID:
        records[_middle_send(records, 2)]["clientId"] = ""
    elif anomaly is Anomaly.SEND_UNOPENED_SESSION:
        i = _middle_send(records, 3)
        records[i]["proxy_id_session"] = "00000000-dead-4bad-8000-000000000000"
    elif anomaly is Anomaly.SEND_AFTER_DISCONNECT:
        i = _middle_send(records, 4)
        session = records[i]["proxy_id_session"]
        closing = next(
            j
            for j in range(i, len(records))
            if records[j].get("type") == "DISCONNECT"
            and records[j].get("proxy_id_session") == session
        )
        late = dict(records[i])
        when = dt.datetime.fromisoformat(records[closing]["timestamp"]) + dt.timedelta(seconds=1)
        late["timestamp"] = _iso(when)
        records.insert(closing + 1, late)
        records.sort(key=lambda r: dt.datetime.fromisoformat(r["timestamp"]))
    elif anomaly is Anomaly.DN_MISSING:
        del records[_middle_send(records, 5)]["dn"]
    elif anomaly is Anomaly.DN_MISMATCH:
        records[_middle_send(records, 6)]["dn"] = OTHER_DN
    elif anomaly is Anomaly.OUT_OF_ORDER:
        i = len(records) // 2
        records[i], records[i + 5] = records[i + 5], records[i]
    elif anomaly is Anomaly.OUTSIDE_WINDOW:
        start = dt.datetime.fromisoformat(records[0]["timestamp"]) + dt.timedelta(seconds=1)
    elif anomaly is Anomaly.GAP:
        i = len(records) // 2
        shift = dt.timedelta(hours=2)
        for record in records[i:]:
            when = dt.datetime.fromisoformat(record["timestamp"]) + shift
            record["timestamp"] = _iso(when)
        end = end + shift
    elif anomaly is Anomaly.FAILURE_BURST:
        # After a record followed by a strictly later one, so time order is kept.
        times = [dt.datetime.fromisoformat(r["timestamp"]) for r in records]
        i = next(j for j in range(len(records) // 2, len(records) - 1) if times[j + 1] > times[j])
        step = (times[i + 1] - times[i]) / 10
        failures = [
            {
                "type": "CONNECT_FAILURE",
                "clientId": "lps-client-brute",
                "IdRPPS": "810000000999",
                "ipAddress": "203.0.113.9",
                "ports": [50000 + k],
                "timestamp": _iso(times[i] + (k + 1) * step),
            }
            for k in range(8)
        ]
        records[i + 1 : i + 1] = failures
    elif anomaly is Anomaly.MALFORMED:
        # Inserted (not replacing records) so nothing else in the export changes.
        i = len(records) // 3
        stamp = records[i]["timestamp"]
        bad_time = {**records[i], "timestamp": "2026-11-02 10:00:00"}
        records[i + 1 : i + 1] = [
            {"type": "TELEPORT", "timestamp": stamp},
            bad_time,
            "not a record",  # type: ignore[list-item]
        ]
    return SyntheticTraces(records, start, end, sample.client_dn, (*sample.planted, anomaly))
