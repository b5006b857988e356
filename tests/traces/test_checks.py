"""Supervision checks on exports in the ANS reference format: a clean export yields nothing,
each anomaly is found by its check and names the deviating records by index."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from auditlib.errors import TraceError
from auditlib.severity import Severity
from auditlib.testing.traces import (
    EXPECTED_CHECK,
    OTHER_DN,
    Anomaly,
    SyntheticTraces,
    generate_traces,
    plant,
)
from auditlib.traces import (
    TraceSettings,
    analyse_traces,
    api_chart,
    api_volumes,
    load_supervision_events,
    parse_traces,
    trace_chart,
    trace_statistics,
    trace_totals,
    write_events_csv,
    write_events_yaml,
)
from auditlib.traces.analysis import SERIES_COLOURS
from auditlib.traces.model import CheckStatus, TraceVerdict, load_supervision_profile

REGISTERED_DN = "/C=FR/O=Fournisseur Demo/CN=LPS.fournisseur-demo.fr"  # other form, other case
SVG = "{http://www.w3.org/2000/svg}"
FIXTURE = Path(__file__).parent / "reference_clean.json"
FIXTURE_START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
FIXTURE_END = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


def _analyse(sample: SyntheticTraces, **settings: Any):  # type: ignore[no-untyped-def]
    export = parse_traces(
        json.dumps(sample.records).encode(), "t.json", start=sample.start, end=sample.end
    )
    return analyse_traces(export, TraceSettings(**settings))


def _with(sample: SyntheticTraces, records: list[Any]) -> SyntheticTraces:
    return SyntheticTraces(records, sample.start, sample.end, sample.client_dn)


@pytest.fixture(scope="module")
def clean() -> SyntheticTraces:
    return generate_traces(120)


def test_reference_fixture_gives_no_finding_at_all() -> None:
    """A hand-written export shaped exactly as the reference proxy writes it, with every
    normal event: CONNECT_REPLAY, a session opened before the window, a CONNECT_FAILURE
    with null fields, an X-Forwarded-For address, two clients with their own subject."""
    export = parse_traces(FIXTURE.read_bytes(), str(FIXTURE), start=FIXTURE_START, end=FIXTURE_END)
    assert export.malformed_count == 0, export.malformed
    analysis = analyse_traces(export)
    assert analysis.findings == ()
    assert analysis.bottom_line is TraceVerdict.CLEAN
    assert all(o.status is CheckStatus.PASSED for o in analysis.outcomes)
    stats = analysis.stats
    assert stats["types"]["CONNECT_REPLAY"] == 1
    assert stats["opened_before_window"]["sends"] == 1
    assert stats["opened_before_window"]["label"] == "ouverte avant la fenêtre"
    assert {(v["nomApiPsc"], v["methode"], v["count"]) for v in stats["api_volumes"]} == {
        ("DMP", "POST", 2),
        ("DMP", "GET", 1),
        ("INSi", "POST", 1),
    }


def test_generated_clean_export_has_no_finding(clean: SyntheticTraces) -> None:
    analysis = _analyse(clean, expected_client_subject=REGISTERED_DN)
    assert analysis.findings == ()
    assert analysis.bottom_line is TraceVerdict.CLEAN
    assert analysis.supervision_events(provider="fs-demo") == []
    assert analysis.stats["types"]["CONNECT_REPLAY"] > 0


def test_connect_replay_is_a_normal_event(clean: SyntheticTraces) -> None:
    """The issue's first symptom: every CONNECT_REPLAY counted as malformed."""
    export = parse_traces(json.dumps(clean.records).encode(), "t")
    assert export.malformed_count == 0
    assert (export.records["type"] == "CONNECT_REPLAY").sum() > 0


@pytest.mark.parametrize("anomaly", list(Anomaly))
def test_each_anomaly_is_found_and_names_its_records(
    clean: SyntheticTraces, anomaly: Anomaly
) -> None:
    sample = plant(clean, anomaly)
    analysis = _analyse(sample, expected_client_subject=REGISTERED_DN)
    found = {f.check: f for f in analysis.findings}
    expected = EXPECTED_CHECK[anomaly]
    also = {"malformed_records"} if anomaly is Anomaly.SEND_WITHOUT_RPPS else set()
    assert set(found) == {expected} | also, found.keys()
    finding = found[expected]
    assert finding.count >= 1
    if anomaly is not Anomaly.GAP:  # a gap names the first record after it
        assert finding.indexes == sample.deviating
    else:
        assert finding.indexes == sample.deviating and finding.count == 1
    assert finding.samples and finding.samples[0].index == sample.deviating[0]
    assert finding.requirements and all(r.startswith("EXI EDC PSC") for r in finding.requirements)
    assert "EXI EDC PSC 101" not in finding.requirements
    assert analysis.bottom_line is TraceVerdict.FINDINGS


def test_foreign_session_state_names_the_record_that_differs(clean: SyntheticTraces) -> None:
    sample = plant(clean, Anomaly.SEND_FOREIGN_SESSION_STATE)
    finding = _analyse(sample).finding("session_state")
    assert finding is not None and finding.count == 1
    (index,) = finding.indexes
    record = sample.records[index]
    session = record["proxy_id_session"]
    first = next(r for r in sample.records if r.get("proxy_id_session") == session)
    assert record["session_state"] != first["session_state"]
    listed = finding.details["listed"][0]
    assert listed["expected"] == first["session_state"]
    assert listed["found"] == [record["session_state"]]


def test_other_rpps_in_a_session_is_found(clean: SyntheticTraces) -> None:
    sample = plant(clean, Anomaly.SEND_OTHER_RPPS)
    finding = _analyse(sample).finding("session_rpps")
    assert finding is not None
    assert sample.records[finding.indexes[0]]["IdRPPS"] == "810099999999"


def test_send_after_disconnect_is_a_finding_opened_before_window_is_a_statistic(
    clean: SyntheticTraces,
) -> None:
    sample = plant(plant(clean, Anomaly.SEND_AFTER_DISCONNECT), Anomaly.SEND_BEFORE_CONNECT)
    analysis = _analyse(sample)
    finding = analysis.finding("send_session")
    assert finding is not None
    assert finding.details["after_disconnect"] == 1
    assert finding.details["before_connect"] == 1
    # The clean export's first session opened before the window: counted, never found.
    carried = analysis.stats["opened_before_window"]
    assert carried["sessions"] == 1 and carried["sends"] >= 1
    assert all(f.check != "opened_before_window" for f in analysis.findings)


def test_send_on_a_session_only_replayed_in_the_export_is_not_a_finding(
    clean: SyntheticTraces,
) -> None:
    """A session opened before the window may be recycled (CONNECT_REPLAY) inside it."""
    records = [dict(r) for r in clean.records]
    session = next(r["proxy_id_session"] for r in records if r["type"] == "CONNECT_REPLAY")
    records = [
        r
        for r in records
        if not (r["type"] == "CONNECT_SUCCESS" and r["proxy_id_session"] == session)
    ]
    analysis = _analyse(_with(clean, records))
    assert analysis.findings == ()
    assert analysis.stats["opened_before_window"]["sessions"] == 2


def test_dn_stable_per_client_several_legitimate_subjects() -> None:
    subjects = {
        f"lps-client-{k:02d}": f"CN=client{k}.example.fr, O=EDITEUR {k}, C=FR" for k in range(4)
    }
    sample = generate_traces(60, client_subjects=subjects)
    assert _analyse(sample).findings == ()
    # One record of client 01 with the subject of client 02: that record is named.
    records = [dict(r) for r in sample.records]
    index = next(
        i for i, r in enumerate(records) if r["clientId"] == "lps-client-01" and r["type"] == "SEND"
    )
    records[index]["dn"] = subjects["lps-client-02"]
    finding = _analyse(_with(sample, records)).finding("client_dn")
    assert finding is not None and finding.indexes == (index,)
    assert finding.details["clients"][0]["reference"] == "le plus fréquent"


def test_registered_subject_per_client_wins_over_the_majority() -> None:
    sample = generate_traces(40, client_dn=OTHER_DN)
    good = "CN=lps.fournisseur-demo.fr,O=FOURNISSEUR DEMO,C=FR"
    analysis = _analyse(sample, expected_subjects={"lps-client-00": good})
    finding = analysis.finding("client_dn")
    assert finding is not None
    client = {str(sample.records[i]["clientId"]) for i in finding.indexes}
    assert client == {"lps-client-00"}
    assert finding.details["clients"][0]["expected"] == good
    assert finding.details["clients"][0]["reference"] == "registre"
    # The registered subject, written in another form, matches.
    ok = generate_traces(40)
    assert _analyse(ok, expected_subjects={"lps-client-00": REGISTERED_DN}).findings == ()


def test_dn_absent_on_connect_failure_is_normal(clean: SyntheticTraces) -> None:
    assert _analyse(plant(clean, Anomaly.FAILURE_BURST)).finding("client_dn") is None


def test_unparseable_expected_subject_is_an_error(clean: SyntheticTraces) -> None:
    with pytest.raises(TraceError, match="not a distinguished name"):
        _analyse(clean, expected_client_subject="lps.fournisseur-demo.fr")


def test_window_bounds_are_exclusive(clean: SyntheticTraces) -> None:
    last = dt.datetime.fromisoformat(clean.records[-1]["timestamp"])
    at_end = SyntheticTraces(clean.records, clean.start, last, clean.client_dn)
    finding = _analyse(at_end).finding("trace_window")
    assert finding is not None and finding.indexes == (len(clean.records) - 1,)
    assert finding.details == {"before_start": 0, "after_end": 1}


def test_ip_addresses_are_normalised() -> None:
    from auditlib.traces import normalise_ip

    assert normalise_ip("/10.1.2.3") == "10.1.2.3"
    assert normalise_ip("proxy.local/10.1.2.3") == "10.1.2.3"
    assert normalise_ip("203.0.113.9, 10.0.0.1") == "203.0.113.9"
    assert normalise_ip("/0:0:0:0:0:0:0:1") == "0:0:0:0:0:0:0:1"
    export = parse_traces(FIXTURE.read_bytes(), "t")
    assert set(export.records["ip"]) == {"10.1.2.3", "10.1.2.4", "203.0.113.7"}


def test_gap_at_night_is_not_a_gap_during_activity() -> None:
    morning = generate_traces(60, carried_session=False)
    evening = generate_traces(
        60, start=morning.start + dt.timedelta(hours=10), seed=8, carried_session=False
    )
    lonely = generate_traces(1, sends_per_session=0, carried_session=False)
    sample = SyntheticTraces(
        lonely.records + evening.records, lonely.start, evening.end, morning.client_dn
    )
    assert _analyse(sample).finding("trace_gap") is None
    both = SyntheticTraces(
        morning.records + evening.records, morning.start, evening.end, morning.client_dn
    )
    gap = _analyse(both).finding("trace_gap")
    assert gap is not None and gap.count == 1 and gap.details["gaps"][0]["minutes"] > 500


def test_failure_burst_groups_by_rpps_and_its_threshold_is_data(clean: SyntheticTraces) -> None:
    burst = plant(clean, Anomaly.FAILURE_BURST)  # 8 failures, no clientId
    profile = load_supervision_profile()
    checks = dict(profile.checks)
    checks["connect_failure_burst"] = checks["connect_failure_burst"].model_copy(
        update={"failures": 9}
    )
    lenient = profile.model_copy(update={"checks": checks})
    assert _analyse(burst, profile=lenient).finding("connect_failure_burst") is None
    finding = _analyse(burst).finding("connect_failure_burst")
    assert finding is not None and finding.details["clients"] == {"IdRPPS=810000000999": 8}


def test_disabled_check_does_not_run(clean: SyntheticTraces) -> None:
    profile = load_supervision_profile()
    checks = dict(profile.checks)
    checks["client_dn"] = checks["client_dn"].model_copy(update={"enabled": False})
    quiet = profile.model_copy(update={"checks": checks})
    assert _analyse(plant(clean, Anomaly.DN_CHANGES), profile=quiet).findings == ()


def test_empty_export_is_a_finding() -> None:
    analysis = analyse_traces(parse_traces(b"[]", "t"))
    assert [f.check for f in analysis.findings] == ["empty_export"]


def test_mostly_malformed_export_is_unusable() -> None:
    records = [{"type": "X", "timestamp": "nope"}] * 10 + generate_traces(1).records
    analysis = analyse_traces(parse_traces(json.dumps(records).encode(), "t"))
    assert analysis.bottom_line is TraceVerdict.UNUSABLE
    assert analysis.finding("malformed_records") is not None


def test_supervision_events_round_trip(tmp_path: Path) -> None:
    sample = generate_traces(
        120, anomalies=[Anomaly.OUT_OF_ORDER, Anomaly.DN_CHANGES, Anomaly.FAILURE_BURST]
    )
    analysis = _analyse(sample, provider="fs-proxy-demo")
    events = analysis.supervision_events()
    assert {e.severity for e in events} == {Severity.HIGH, Severity.MEDIUM}
    assert all(e.provider == "fs-proxy-demo" for e in events)
    assert all(e.date == dt.date(2026, 11, 2) for e in events)
    high = analysis.supervision_events("high")
    assert len(high) == 2 and all(e.severity is Severity.HIGH for e in high)
    csv_path = write_events_csv(events, tmp_path / "events.csv")
    assert csv_path.read_text().splitlines()[0] == "provider,date,event,severity"
    assert load_supervision_events(csv_path) == events
    yaml_path = write_events_yaml(events, tmp_path / "events.yaml")
    assert load_supervision_events(yaml_path) == events
    with pytest.raises(TraceError, match="provider"):
        _analyse(sample).supervision_events()


@pytest.mark.parametrize(
    "content",
    [
        "provider,date\nx,2026-01-01\n",
        "provider,date,event,severity\nx,01/02/2026,e,high\n",
        "provider,date,event,severity\nx,2026-01-01,e,apocalyptic\n",
        "provider,date,event,severity\n,2026-01-01,e,high\n",
    ],
)
def test_bad_events_file_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "events.csv"
    path.write_text(content)
    with pytest.raises(TraceError, match="event 1"):
        load_supervision_events(path)


def test_statistics_and_charts(clean: SyntheticTraces, tmp_path: Path) -> None:
    export = parse_traces(json.dumps(clean.records).encode(), "t")
    stats = trace_statistics(export)
    assert list(stats.index) == [dt.date(2026, 11, 2)]
    row = stats.iloc[0]
    assert row["CONNECT_SUCCESS"] == 120 and row["DISCONNECT"] == 121
    assert row["sessions"] == 121 and row["clients"] == 4
    totals = trace_totals(export)
    assert totals["records"] == len(clean.records) and totals["sessions"] == 121
    chart = trace_chart(export)
    root = ET.fromstring(chart.svg)
    shown = [t.text for t in root.iter(f"{SVG}text")]
    assert shown[0] == "Traces du Proxy e-Santé par jour et par type" and "traces" in shown
    assert "2026-11-02" in shown
    types = [c for c in stats.columns if c not in {"total", "sessions", "users", "clients"}]
    assert shown[-len(types) :] == types  # the legend, in the table's order
    # one bar per day and type, stacked to the day's total (the y axis' unit: points per trace)
    bars = [r for r in root.iter(f"{SVG}rect") if r.get("fill") in SERIES_COLOURS]
    heights = [float(r.get("height", 0)) for r in bars[: len(types)]]
    per_trace = heights[0] / row[types[0]]
    assert sum(heights) == pytest.approx(row["total"] * per_trace, abs=0.05)
    volumes = api_volumes(export)
    assert list(volumes.columns) == ["nomApiPsc", "methode", "count"]
    assert volumes["count"].sum() == row["SEND"]
    api = api_chart(export, language="en")
    shown = [t.text for t in ET.fromstring(api.svg).iter(f"{SVG}text")]
    assert shown[0] == "SEND calls per national API (apiRequest.nomApiPsc)"
    labels = [f"{a} ({m})" for a, m in zip(volumes["nomApiPsc"], volumes["methode"], strict=True)]
    assert [x for x in shown if x in labels] == labels  # largest first, from the top
    assert api.save(tmp_path / "api.svg").read_text("utf-8") == api.svg
    empty = parse_traces(b"[]", "t")
    assert trace_statistics(empty).empty and api_volumes(empty).empty
    assert "aucune trace" in trace_chart(empty).svg
    assert "no SEND call" in api_chart(empty, language="en").svg


def test_hostile_api_names_are_escaped_in_the_chart(clean: SyntheticTraces) -> None:
    records = [dict(r) for r in clean.records]
    hostile = '<script>alert("x")</script>&' + "A" * 300
    for record in records:
        if record.get("type") == "SEND":
            record["apiRequest"] = {**record["apiRequest"], "nomApiPsc": hostile}
    chart = api_chart(parse_traces(json.dumps(records).encode(), "t"))
    assert "<script" not in chart.svg
    shown = [t.text or "" for t in ET.fromstring(chart.svg).iter(f"{SVG}text")]
    assert any(x.startswith('<script>alert("x")</script>&') for x in shown)
    assert all(len(x) <= 50 for x in shown[1:])


def test_profile_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "records: {types: [SEND]}\nchecks:\n  send_identity: {title: t, severity: huge}\n"
    )
    with pytest.raises(TraceError, match=r"checks\.send_identity\.severity"):
        load_supervision_profile(bad)
    bad.write_text(
        "records: {types: [SEND]}\nchecks:\n"
        "  send_identity: {title: t, severity: high, requirements: ['PSC one']}\n"
    )
    with pytest.raises(TraceError, match="requirement id"):
        load_supervision_profile(bad)
    bad.write_text("records: {types: [SEND]}\nchecks:\n  teleport: {title: t, severity: high}\n")
    profile = load_supervision_profile(bad)
    with pytest.raises(TraceError, match="unknown checks: teleport"):
        analyse_traces(parse_traces(b"[]", "t"), TraceSettings(profile=profile))
    bad.write_text(": : :\n\t-")
    with pytest.raises(TraceError, match="YAML"):
        load_supervision_profile(bad)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-5", "finite number >= 0"),
        (".inf", "finite number >= 0"),
        (".nan", "finite number >= 0"),
        ("2026-02-30", "YAML|date"),
        ("2026-01-01", "a date is not a threshold"),
    ],
)
def test_negative_infinite_or_date_thresholds_are_refused(
    tmp_path: Path, value: str, words: str
) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(
        "records: {types: [SEND]}\nchecks:\n"
        f"  trace_gap: {{title: t, severity: high, max_gap_minutes: {value}}}\n"
    )
    with pytest.raises(TraceError, match=words):
        load_supervision_profile(bad)


@pytest.mark.parametrize(
    "line",
    ["max_bytes: -1", "max_records: 0", "sample_size: .inf", "unusable_malformed_ratio: .nan"],
)
def test_bad_limits_in_the_profile_are_refused(tmp_path: Path, line: str) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text(f"{line}\nrecords: {{types: [SEND]}}\nchecks: {{}}\n")
    with pytest.raises(TraceError, match="invalid supervision profile"):
        load_supervision_profile(bad)


def test_profile_aliases_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("records: &r {types: [SEND]}\nchecks: {}\nother: *r\n")
    with pytest.raises(TraceError, match="alias"):
        load_supervision_profile(bad)


def test_no_check_may_fail_a_capability_of_psc_or_the_target_service(tmp_path: Path) -> None:
    profile = load_supervision_profile()
    barred = {n.requirement for n in profile.not_evidenced}
    assert "EXI EDC PSC 101" in barred
    assert all(not set(s.requirements) & barred for s in profile.checks.values())
    text = Path(__file__).parents[2].joinpath("auditlib/profiles/supervision.yaml").read_text()
    bad = tmp_path / "p.yaml"
    bad.write_text(
        text.replace('requirements: ["EXI EDC PSC 112"]', 'requirements: ["EXI EDC PSC 101"]', 1)
    )
    with pytest.raises(TraceError, match="must not fail"):
        load_supervision_profile(bad)


def test_packaged_profile_is_the_reference_schema() -> None:
    profile = load_supervision_profile()
    records = profile.records
    assert set(records.types) == {
        "CONNECT_SUCCESS",
        "CONNECT_REPLAY",
        "CONNECT_FAILURE",
        "SEND",
        "DISCONNECT",
    }
    assert set(records.required["*"]) == {"type", "IdRPPS", "ipAddress", "ports", "timestamp"}
    for kind in ("CONNECT_SUCCESS", "CONNECT_REPLAY", "SEND", "DISCONNECT"):
        assert {"clientId", "proxy_id_session", "session_state"} <= set(records.required[kind])
    assert records.required["CONNECT_FAILURE"] == ()
    assert "apiRequest" in records.required["SEND"]
    assert records.aliases == {}
    assert set(profile.checks) == set(EXPECTED_CHECK.values()) | {"empty_export"}
    assert all(spec.requirements for spec in profile.checks.values())
    assert profile.max_bytes == 1 << 30 and profile.max_records == 5_000_000


def test_outcomes_cover_every_check_and_say_what_was_not_evaluated(
    clean: SyntheticTraces,
) -> None:
    export = parse_traces(json.dumps(clean.records).encode(), "t")
    no_window = analyse_traces(export)
    status = {o.check: o.status for o in no_window.outcomes}
    assert set(status) == set(load_supervision_profile().checks)
    assert status["trace_window"] is CheckStatus.NOT_EVALUATED
    assert status["send_session"] is CheckStatus.PASSED
    dn = next(o for o in no_window.outcomes if o.check == "client_dn")
    assert dn.status is CheckStatus.PASSED and dn.note and "stabilité" in dn.note
    windowed = _analyse(plant(clean, Anomaly.DN_CHANGES))
    status = {o.check: o.status for o in windowed.outcomes}
    assert status["trace_window"] is CheckStatus.PASSED
    assert status["client_dn"] is CheckStatus.FAILED
    by_requirement = windowed.requirement_outcomes()
    assert "EXI EDC PSC 101" not in by_requirement
    assert any(o.check == "client_dn" for o in by_requirement["EXI EDC PSC 121"])
    empty = analyse_traces(parse_traces(b"[]", "t"))
    status = {o.check: o.status for o in empty.outcomes}
    assert status["empty_export"] is CheckStatus.FAILED
    assert status["send_session"] is CheckStatus.NOT_EVALUATED


def test_statistics_never_appear_among_findings(clean: SyntheticTraces) -> None:
    data = _analyse(clean).to_dict()
    assert data["findings"] == []
    assert data["stats"]["api_volumes"] and data["stats"]["opened_before_window"]["sends"]


def test_naive_window_is_refused(clean: SyntheticTraces) -> None:
    export = parse_traces(json.dumps(clean.records).encode(), "t")
    with pytest.raises(TraceError, match="UTC offset"):
        analyse_traces(export, TraceSettings(start=dt.datetime(2026, 11, 2)))
