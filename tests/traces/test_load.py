"""Loading trace exports: well-formed, malformed records with their index, hostile files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from auditlib.errors import TraceError
from auditlib.testing.traces import generate_traces
from auditlib.traces import SIDECAR_SUFFIX, load_traces, parse_iso_datetime, parse_traces
from auditlib.traces.model import load_supervision_profile


def _record(**overrides: object) -> dict[str, object]:
    """A SEND in the reference format (ansforge/psc-edc-proxy-esante model/Trace.java)."""
    base: dict[str, object] = {
        "type": "SEND",
        "clientId": "lps-client-00",
        "IdRPPS": "810000000001",
        "ipAddress": "/10.0.0.1",
        "ports": [40000],
        "proxy_id_session": "s-1",
        "session_state": "psc-1",
        "dn": "CN=lps, O=X, C=FR",
        "timestamp": "2026-11-02T10:00:00.000+01:00",
        "apiRequest": {"nomApiPsc": "DMP", "methode": "GET", "path": "/send/x"},
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def test_clean_export_loads_every_record(tmp_path: Path) -> None:
    sample = generate_traces(20)
    path = sample.write(tmp_path / "traces.json")
    export = load_traces(path)
    assert export.total_records == len(sample.records) == len(export.records)
    assert export.malformed_count == 0
    assert export.records["ts"].dt.tz is not None
    assert list(export.records["index"]) == list(range(len(sample.records)))
    assert export.evidence_path == path
    assert len(export.sha256) == 64


def test_malformed_records_are_reported_with_their_index() -> None:
    records: list[object] = [
        _record(),
        _record(type="TELEPORT"),
        _record(timestamp="2026-11-02T10:00:00"),  # no offset
        _record(timestamp="2026-11-02 10:00:00+01:00"),  # no T
        _record(timestamp="2026-13-45T10:00:00+01:00"),  # impossible date
        _record(timestamp=...),
        _record(type="CONNECT_SUCCESS", proxy_id_session=None, apiRequest=...),
        _record(apiRequest=...),
        "not an object",
        [1, 2],
        None,
        _record(type=123),
        _record(timestamp=1700000000),
        _record(unknown_extra_field={"anything": True}),  # tolerated
        _record(type="DISCONNECT"),  # apiRequest only on SEND
        _record(apiRequest={"nomApiPsc": "DMP", "methode": "GET"}),  # path missing
        _record(ports=None),
        _record(ports=["40000"]),
        _record(ports=[70000]),
        _record(session_state=""),
        _record(
            type="CONNECT_FAILURE",
            clientId=None,
            proxy_id_session=None,
            session_state=None,
            dn=None,
            apiRequest=...,
        ),  # fine: nulls allowed there
        _record(ports=[]),  # fine: X-Forwarded-For
        _record(type="CONNECT_FAILURE", IdRPPS=None, apiRequest=...),
    ]
    export = parse_traces(json.dumps(records).encode(), "test.json")
    bad = dict(zip(export.malformed["index"], export.malformed["reason"], strict=True))
    assert set(bad) == set(range(1, 13)) | set(range(14, 20)) | {22}
    assert "type" in bad[1]
    assert "horodatage" in bad[2] and "horodatage" in bad[3] and "horodatage" in bad[4]
    assert "timestamp" in bad[5]
    assert "proxy_id_session" in bad[6]
    assert "apiRequest" in bad[7]
    assert "objet JSON" in bad[8]
    assert "champ interdit sur DISCONNECT : apiRequest" in bad[14]
    assert "apiRequest incomplet" in bad[15]
    assert "ports" in bad[16] and "ports" in bad[17] and "ports" in bad[18]
    assert "session_state" in bad[19]
    assert "IdRPPS" in bad[22]
    assert list(export.records["index"]) == [0, 13, 20, 21]
    assert export.malformed_sample(2)[0].index == 1


def test_one_format_no_alias_of_the_old_demo_format() -> None:
    """`sessionState`/`request` (the old assumed format) are not the reference's names."""
    record = _record(session_state=..., apiRequest=...)
    record["sessionState"] = "OPEN"
    record["request"] = {"methode": "GET", "path": "/send/x"}
    export = parse_traces(json.dumps([record]).encode(), "t")
    assert export.malformed_count == 1
    reason = export.malformed["reason"].iloc[0]
    assert "session_state" in reason and "apiRequest" in reason


def test_offsets_are_normalised_to_utc() -> None:
    export = parse_traces(
        json.dumps(
            [
                _record(timestamp="2026-06-02T10:00:00+02:00"),
                _record(timestamp="2026-06-02T08:00:00.123456Z"),
                _record(timestamp="2026-06-02T08:00:01+0000"),
            ]
        ).encode(),
        "t",
    )
    assert export.malformed_count == 0
    times = list(export.records["ts"])
    assert times[0] == dt.datetime(2026, 6, 2, 8, 0, tzinfo=dt.UTC)


def test_non_string_values_do_not_crash() -> None:
    export = parse_traces(
        json.dumps([_record(IdRPPS=810000000001, dn={"CN": "x"}, clientId=[1])]).encode(), "t"
    )
    assert export.records["dn"].iloc[0] == '{"CN": "x"}'
    assert export.malformed_count == 0
    assert export.records["IdRPPS"].iloc[0] == "810000000001"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"traces": []}', "found a JSON dict"),
        (b'"just a string"', "found a JSON str"),
        (b"\xff\xfe\x00\xd8garbage\x00\x01\x02" * 50, "JSON"),
        (bytes(range(256)) * 4, "JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b"[" + b"9" * 10_000 + b"]", "not valid JSON"),
        (b"[{}, {}", "not closed"),
        (b"[{},]", "not valid JSON"),
        (b"[{}] []", "extra data"),
        (b"[{} {}]", "expected ','"),
        (b'[{"a": "unterminated', "not valid JSON"),
        (b"\xef\xbb\xbf{}", "found a JSON dict"),
    ],
)
def test_hostile_files_give_a_clear_error(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "traces.json"
    path.write_bytes(content)
    with pytest.raises(TraceError) as caught:
        load_traces(path)
    assert words in str(caught.value)
    assert str(path) in str(caught.value)


def test_empty_list_is_a_valid_empty_export() -> None:
    export = parse_traces(b"[]", "t")
    assert export.total_records == 0 and export.records.empty


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    profile = load_supervision_profile().model_copy(update={"max_bytes": 100})
    path = generate_traces(5).write(tmp_path / "big.json")
    with pytest.raises(TraceError, match="over the 100-byte limit"):
        load_traces(path, profile)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read"):
        load_traces(tmp_path / "nope.json")
    with pytest.raises(TraceError, match="not a regular file"):
        load_traces(tmp_path)


def test_record_limit_is_enforced_while_streaming(tmp_path: Path) -> None:
    profile = load_supervision_profile().model_copy(update={"max_records": 10})
    path = tmp_path / "many.json"
    path.write_text("[" + ", ".join(["{}"] * 11) + "]")
    with pytest.raises(TraceError, match="more than 10 records"):
        load_traces(path, profile)
    path.write_text("[" + ", ".join(["{}"] * 10) + "]")
    assert load_traces(path, profile).total_records == 10


def test_streaming_reads_records_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records, strings, numbers and blanks cut at every place by a tiny read size."""
    from auditlib.traces import load as trace_load

    sample = generate_traces(15)
    text = json.dumps(sample.records, indent=2, ensure_ascii=False).replace("DMP", "DMP é")
    path = tmp_path / "t.json"
    path.write_text(text, encoding="utf-8")
    whole = load_traces(path)
    for size in (1, 7, 64, 1000):
        monkeypatch.setattr(trace_load, "CHUNK_BYTES", size)
        monkeypatch.setattr(trace_load, "BATCH_RECORDS", 4)
        export = load_traces(path)
        assert export.sha256 == whole.sha256 and export.size_bytes == path.stat().st_size
        assert export.records.drop(columns=[]).equals(whole.records)
        assert export.total_records == len(sample.records)
    assert "DMP é" in set(whole.records["api"])


def test_hostile_export_of_empty_objects_is_refused_or_bounded(tmp_path: Path) -> None:
    """`[{}, {}, ...]`: every record malformed, memory in integer arrays (issue 16)."""
    path = tmp_path / "empty-objects.json"
    path.write_text("[" + ",".join(["{}"] * 200_000) + "]")
    export = load_traces(path)
    assert export.total_records == 200_000 and export.records.empty
    assert export.malformed["reason"].nunique() == 1
    small = load_supervision_profile().model_copy(update={"max_records": 100_000})
    with pytest.raises(TraceError, match="more than 100000 records"):
        load_traces(path, small)


def test_sidecar_with_a_non_text_start_is_a_clear_error(tmp_path: Path) -> None:
    sample = generate_traces(3)
    path = sample.write(tmp_path / "t.json")
    sidecar = tmp_path / ("t.json" + SIDECAR_SUFFIX)
    for start in (20261102, None, ["2026-11-02T10:00:00Z"], {"a": 1}):
        sidecar.write_text(json.dumps({"sha256": "0" * 64, "start": start, "end": "x"}))
        with pytest.raises(TraceError, match="start must be text"):
            load_traces(path)
    sidecar.write_text(json.dumps({"sha256": "0" * 64, "start": "yesterday", "end": "x"}))
    with pytest.raises(TraceError, match="not an ISO-8601"):
        load_traces(path)
    sidecar.write_text("[" * 100_000)
    with pytest.raises(TraceError, match="unreadable fetch record"):
        load_traces(path)


def test_fetch_record_beside_the_file_gives_the_window_and_guards_integrity(
    tmp_path: Path,
) -> None:
    sample = generate_traces(5)
    path = sample.write(tmp_path / "t.json")
    sidecar = tmp_path / ("t.json" + SIDECAR_SUFFIX)
    from auditlib.files import sha256_file

    record = {
        "sha256": sha256_file(path),
        "start": sample.start.isoformat(),
        "end": sample.end.isoformat(),
    }
    sidecar.write_text(json.dumps(record))
    export = load_traces(path)
    assert export.start == sample.start and export.fetch["sha256"] == record["sha256"]
    path.write_text(path.read_text().replace("lps-client-01", "lps-client-99"))
    with pytest.raises(TraceError, match="altered"):
        load_traces(path)
    sidecar.write_text("{broken")
    with pytest.raises(TraceError, match="unreadable fetch record"):
        load_traces(path)


def test_parse_iso_datetime_needs_an_offset() -> None:
    assert parse_iso_datetime("2026-11-02T10:00:00+01:00").hour == 9
    with pytest.raises(TraceError, match="no UTC offset"):
        parse_iso_datetime("2026-11-02T10:00:00")
    with pytest.raises(TraceError, match="not an ISO-8601"):
        parse_iso_datetime("yesterday")
    with pytest.raises(TraceError, match="must be an ISO-8601 text"):
        parse_iso_datetime(12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "stamp",
    [
        "9999-12-31T23:59:59+01:00",
        "0001-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "2026-11-02T10:00:00+25:00",
        "2026-11-02T25:00:00+01:00",
        "2026-11-02T10:00:00.5+01:00x",
    ],
)
def test_impossible_or_implausible_timestamps_are_malformed(stamp: str) -> None:
    for neighbours in ([], [_record(timestamp="2026-11-02T10:00:00+01:00+00:00")]):
        records = [_record(), _record(timestamp=stamp), *neighbours]
        export = parse_traces(json.dumps(records).encode(), "t")
        assert 1 in set(export.malformed["index"]), stamp
        assert "horodatage" in export.malformed["reason"].iloc[0]
        assert list(export.records["index"]) == [0]


def test_deeply_nested_value_inside_a_record_is_kept_as_text() -> None:
    nested: object = "x"
    for _ in range(200):
        nested = [nested]
    export = parse_traces(json.dumps([_record(clientId=nested)]).encode(), "t")
    assert export.records["clientId"].iloc[0].startswith("[[[")


def test_an_explicit_alias_profile_reads_another_spelling() -> None:
    """One format by default; another spelling only through an explicit alias profile."""
    record = _record(session_state=..., apiRequest=...)
    record["sessionState"] = "psc-1"
    record["request"] = {"nomApiPsc": "DMP", "methode": "GET", "path": "/send/x"}
    profile = load_supervision_profile()
    records = profile.records.model_copy(
        update={"aliases": {"session_state": ("sessionState",), "apiRequest": ("request",)}}
    )
    aliased = profile.model_copy(update={"records": records})
    export = parse_traces(json.dumps([record]).encode(), "t", aliased)
    assert export.malformed_count == 0
    assert export.records["session_state"].iloc[0] == "psc-1"
    assert export.records["api"].iloc[0] == "DMP"
    assert parse_traces(json.dumps([record]).encode(), "t").malformed_count == 1
