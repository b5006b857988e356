"""Supervision checks: each anomaly planted is found; a clean export yields nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from auditlib.errors import TraceError
from auditlib.severity import Severity
from auditlib.testing.traces import EXPECTED_CHECK, Anomaly, generate_traces, plant
from auditlib.traces import (
    TraceSettings,
    analyse_traces,
    load_supervision_events,
    parse_traces,
    trace_chart,
    trace_statistics,
    trace_totals,
    write_events_csv,
    write_events_yaml,
)
from auditlib.traces.model import TraceVerdict, load_supervision_profile

REGISTERED_DN = "/C=FR/O=Fournisseur Demo/CN=LPS.fournisseur-demo.fr"  # other form, other case


def _analyse(sample, **settings):  # type: ignore[no-untyped-def]
    export = parse_traces(
        json.dumps(sample.records).encode(), "t.json", start=sample.start, end=sample.end
    )
    settings.setdefault("expected_client_subject", REGISTERED_DN)
    return analyse_traces(export, TraceSettings(**settings))


@pytest.fixture(scope="module")
def clean():  # type: ignore[no-untyped-def]
    return generate_traces(120)


def test_clean_export_has_no_finding(clean) -> None:  # type: ignore[no-untyped-def]
    analysis = _analyse(clean)
    assert analysis.findings == ()
    assert analysis.bottom_line is TraceVerdict.CLEAN
    assert analysis.supervision_events(provider="fs-demo") == []


@pytest.mark.parametrize("anomaly", list(Anomaly))
def test_each_planted_anomaly_is_found(clean, anomaly: Anomaly) -> None:  # type: ignore[no-untyped-def]
    analysis = _analyse(plant(clean, anomaly))
    found = {f.check: f for f in analysis.findings}
    expected = EXPECTED_CHECK[anomaly]
    assert set(found) == {expected}, found.keys()
    finding = found[expected]
    assert finding.count >= 1
    assert finding.samples and all(s.index >= 0 for s in finding.samples)
    assert finding.requirements and all(r.startswith("EXI EDC PSC") for r in finding.requirements)
    assert finding.message and finding.title
    assert analysis.bottom_line is TraceVerdict.FINDINGS


def test_sample_indexes_point_at_the_offending_records(clean) -> None:  # type: ignore[no-untyped-def]
    sample = plant(clean, Anomaly.DN_MISMATCH)
    finding = _analyse(sample).finding("client_dn")
    assert finding is not None and finding.count == 1
    index = finding.samples[0].index
    assert sample.records[index]["dn"] == finding.samples[0].record["dn"]
    assert "INCONNU" in finding.samples[0].record["dn"]
    assert finding.first_seen is not None


def test_send_after_disconnect_and_never_opened_are_told_apart(clean) -> None:  # type: ignore[no-untyped-def]
    both = plant(plant(clean, Anomaly.SEND_AFTER_DISCONNECT), Anomaly.SEND_UNOPENED_SESSION)
    finding = _analyse(both).finding("send_session")
    assert finding is not None
    assert finding.details["after_disconnect"] == 1
    assert finding.details["never_opened"] == 1


def test_dn_missing_only_matters_on_mtls_record_types(clean) -> None:  # type: ignore[no-untyped-def]
    finding = _analyse(plant(clean, Anomaly.FAILURE_BURST)).finding("client_dn")
    assert finding is None  # CONNECT_FAILURE records carry no dn


def test_without_expected_subject_only_missing_or_unreadable_dn_is_found(clean) -> None:  # type: ignore[no-untyped-def]
    mismatch = plant(clean, Anomaly.DN_MISMATCH)
    assert _analyse(mismatch, expected_client_subject=None).finding("client_dn") is None
    missing = plant(clean, Anomaly.DN_MISSING)
    assert _analyse(missing, expected_client_subject=None).finding("client_dn") is not None
    records = [dict(r) for r in clean.records]
    records[10]["dn"] = "not a distinguished name"
    garbled = type(clean)(records, clean.start, clean.end, clean.client_dn)
    assert _analyse(garbled, expected_client_subject=None).finding("client_dn") is not None


def test_unparseable_expected_subject_is_an_error(clean) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TraceError, match="not a distinguished name"):
        _analyse(clean, expected_client_subject="lps.fournisseur-demo.fr")


def test_gap_at_night_is_not_a_gap_during_activity() -> None:
    morning = generate_traces(60)
    evening = generate_traces(60, start=morning.start + dt.timedelta(hours=10), seed=8)
    # A long gap after a single straggler record: no activity before it.
    lonely = generate_traces(1, sends_per_session=0)
    records = lonely.records + evening.records
    sample = type(morning)(records, lonely.start, evening.end, morning.client_dn)
    assert _analyse(sample).finding("trace_gap") is None
    both = type(morning)(
        morning.records + evening.records, morning.start, evening.end, morning.client_dn
    )
    gap = _analyse(both).finding("trace_gap")
    assert gap is not None and gap.count == 1 and gap.details["gaps"][0]["minutes"] > 500


def test_failure_burst_threshold_is_data(clean) -> None:  # type: ignore[no-untyped-def]
    burst = plant(clean, Anomaly.FAILURE_BURST)  # 8 failures
    profile = load_supervision_profile()
    checks = dict(profile.checks)
    spec = checks["connect_failure_burst"]
    checks["connect_failure_burst"] = spec.model_copy(update={"failures": 9})
    lenient = profile.model_copy(update={"checks": checks})
    assert _analyse(burst, profile=lenient).finding("connect_failure_burst") is None
    finding = _analyse(burst).finding("connect_failure_burst")
    assert finding is not None and finding.details["clients"] == {"lps-client-brute": 8}


def test_disabled_check_does_not_run(clean) -> None:  # type: ignore[no-untyped-def]
    profile = load_supervision_profile()
    checks = dict(profile.checks)
    checks["client_dn"] = checks["client_dn"].model_copy(update={"enabled": False})
    quiet = profile.model_copy(update={"checks": checks})
    assert _analyse(plant(clean, Anomaly.DN_MISMATCH), profile=quiet).findings == ()


def test_empty_export_is_a_finding() -> None:
    analysis = analyse_traces(parse_traces(b"[]", "t"))
    assert [f.check for f in analysis.findings] == ["empty_export"]


def test_mostly_malformed_export_is_unusable() -> None:
    records = [{"type": "X", "timestamp": "nope"}] * 10 + generate_traces(1).records
    analysis = analyse_traces(parse_traces(json.dumps(records).encode(), "t"))
    assert analysis.bottom_line is TraceVerdict.UNUSABLE
    assert analysis.finding("malformed_records") is not None


def test_supervision_events_round_trip(tmp_path: Path, clean) -> None:  # type: ignore[no-untyped-def]
    sample = generate_traces(
        120, anomalies=[Anomaly.OUT_OF_ORDER, Anomaly.DN_MISMATCH, Anomaly.FAILURE_BURST]
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


def test_statistics_and_chart(clean, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    export = parse_traces(json.dumps(clean.records).encode(), "t")
    stats = trace_statistics(export)
    assert list(stats.index) == [dt.date(2026, 11, 2)]
    row = stats.iloc[0]
    assert row["SEND"] == 360 and row["CONNECT_SUCCESS"] == 120 and row["total"] == 600
    assert row["sessions"] == 120 and row["clients"] == 4 and row["users"] == 50
    totals = trace_totals(export)
    assert totals["records"] == 600 and totals["sessions"] == 120
    figure = trace_chart(export)
    figure.savefig(tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 1000
    empty = parse_traces(b"[]", "t")
    assert trace_statistics(empty).empty
    trace_chart(empty)


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


def test_packaged_profile_maps_every_check_to_requirements() -> None:
    profile = load_supervision_profile()
    assert set(profile.checks) == set(EXPECTED_CHECK.values()) | {"empty_export"}
    assert all(spec.requirements for spec in profile.checks.values())
    assert "EXI EDC PSC 101" in profile.check("send_session").requirements


def test_outcomes_cover_every_check_and_say_what_was_not_evaluated(clean) -> None:  # type: ignore[no-untyped-def]
    from auditlib.traces.model import CheckStatus

    export = parse_traces(json.dumps(clean.records).encode(), "t")
    no_window = analyse_traces(export)
    status = {o.check: o.status for o in no_window.outcomes}
    assert set(status) == set(load_supervision_profile().checks)
    assert status["trace_window"] is CheckStatus.NOT_EVALUATED
    assert status["send_session"] is CheckStatus.PASSED
    dn = next(o for o in no_window.outcomes if o.check == "client_dn")
    assert dn.status is CheckStatus.PASSED and dn.note and "non fourni" in dn.note
    windowed = _analyse(plant(clean, Anomaly.DN_MISMATCH))
    status = {o.check: o.status for o in windowed.outcomes}
    assert status["trace_window"] is CheckStatus.PASSED
    assert status["client_dn"] is CheckStatus.FAILED
    by_requirement = windowed.requirement_outcomes()
    assert next(iter(by_requirement)) == "EXI EDC PSC 101"
    assert any(o.check == "client_dn" for o in by_requirement["EXI EDC PSC 101"])
    empty = analyse_traces(parse_traces(b"[]", "t"))
    status = {o.check: o.status for o in empty.outcomes}
    assert status["empty_export"] is CheckStatus.FAILED
    assert status["send_session"] is CheckStatus.NOT_EVALUATED


def test_naive_window_is_refused(clean) -> None:  # type: ignore[no-untyped-def]
    export = parse_traces(json.dumps(clean.records).encode(), "t")
    with pytest.raises(TraceError, match="UTC offset"):
        analyse_traces(export, TraceSettings(start=dt.datetime(2026, 11, 2)))
