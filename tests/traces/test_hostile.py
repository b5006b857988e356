"""Hostile trace inputs (issue 16): every one ends in a clear `TraceError`, in bounded memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditlib.cli import main
from auditlib.errors import TraceError
from auditlib.testing.traces import generate_traces
from auditlib.traces import SIDECAR_SUFFIX, load_supervision_events, load_traces, parse_traces
from auditlib.traces.model import load_supervision_profile

ALIAS_BOMB = """\
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""


def test_events_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    """The 517-byte events YAML that skipped the strict loader (MemoryError before)."""
    path = tmp_path / "events.yaml"
    path.write_text(ALIAS_BOMB)
    with pytest.raises(TraceError, match="alias"):
        load_supervision_events(path)
    path.write_text("- &e {provider: x, date: 2026-01-01, event: e, severity: high}\n- *e\n")
    with pytest.raises(TraceError, match="alias"):
        load_supervision_events(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("- {provider: x, date: 2026-02-30, event: e, severity: high}\n", "invalid timestamp"),
        ("- {provider: x, date: 2026-01-01, event: e, severity: high, severity: low}\n", "dup"),
        ("provider: x\n", "list of events"),
        ("- [1, 2]\n", "needs columns"),
    ],
)
def test_bad_events_yaml_is_a_clear_error(tmp_path: Path, content: str, words: str) -> None:
    path = tmp_path / "events.yaml"
    path.write_text(content)
    with pytest.raises(TraceError, match=words):
        load_supervision_events(path)


def test_events_path_that_is_a_folder_or_missing(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="not a regular file"):
        load_supervision_events(tmp_path)
    with pytest.raises(TraceError, match="not a regular file"):
        load_supervision_events(tmp_path / "missing" / "events.csv")


def test_events_csv_with_a_huge_field(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("provider,date,event,severity\nx,2026-01-01," + "e" * 200_000 + ",high\n")
    with pytest.raises(TraceError, match="not valid CSV"):
        load_supervision_events(path)


def test_events_file_over_the_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    with open(path, "wb") as handle:
        handle.truncate(17 << 20)
    with pytest.raises(TraceError, match="byte limit"):
        load_supervision_events(path)


def test_profile_alias_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "profile.yaml"
    path.write_text(ALIAS_BOMB)
    with pytest.raises(TraceError, match="alias"):
        load_supervision_profile(path)


@pytest.mark.parametrize("start", ["20261102", "null", "[]", "{}", "true"])
def test_cli_sidecar_with_a_non_text_start_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], start: str
) -> None:
    path = generate_traces(3).write(tmp_path / "t.json")
    sidecar = tmp_path / ("t.json" + SIDECAR_SUFFIX)
    sidecar.write_text(f'{{"sha256": "{"0" * 64}", "start": {start}, "end": "x"}}')
    assert main(["traces", str(path)]) == 2
    err = capsys.readouterr().err
    assert "start must be text" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("    max_gap_minutes: -30", "finite number >= 0"),
        ("    max_gap_minutes: .inf", "finite number >= 0"),
        ("    max_gap_minutes: 2026-13-45", "bad value|date"),
    ],
)
def test_cli_profile_with_bad_thresholds_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, words: str
) -> None:
    text = Path(__file__).parents[2].joinpath("auditlib/profiles/supervision.yaml").read_text()
    profile = tmp_path / "p.yaml"
    profile.write_text(text.replace("    max_gap_minutes: 30", line))
    export = generate_traces(3).write(tmp_path / "t.json")
    assert main(["traces", str(export), "--profile", str(profile)]) == 2
    err = capsys.readouterr().err
    assert "invalid supervision profile" in err or "not valid YAML" in err
    assert "Traceback" not in err


def test_one_record_larger_than_the_read_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditlib.traces import load as trace_load

    monkeypatch.setattr(trace_load, "CHUNK_BYTES", 1024)
    records = generate_traces(2).records
    records[1] = {**records[1], "dn": "CN=" + "x" * 100_000}
    export = parse_traces(json.dumps(records).encode(), "t")
    assert export.total_records == len(records) and export.malformed_count == 0
    assert export.records["dn"].iloc[1] == "CN=" + "x" * 100_000


def test_numbers_strings_and_literals_cut_by_the_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    from auditlib.traces import load as trace_load

    # JSON escapes (\u00e9, a surrogate pair) and UTF-8 bytes of 2 and 4 bytes, cut anywhere.
    raw = '[123456789, -1.5e10, "abc\\u00e9\\ud83d\\ude00é😀", true, null, [], {}]'.encode()
    for size in range(1, 12):
        monkeypatch.setattr(trace_load, "CHUNK_BYTES", size)
        export = parse_traces(raw, "t")
        assert export.total_records == 7
        assert set(export.malformed["index"]) == set(range(7))


def test_truncated_export_is_a_clear_error(tmp_path: Path) -> None:
    raw = json.dumps(generate_traces(5).records).encode()
    path = tmp_path / "t.json"
    for cut in (1, len(raw) // 2, len(raw) - 1):
        path.write_bytes(raw[:cut])
        with pytest.raises(TraceError, match="not valid JSON"):
            load_traces(path)
