"""`auditlib traces`: exit codes 0 / 1 / 2, JSON output, events file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditlib.cli import main
from auditlib.testing.traces import Anomaly, generate_traces
from auditlib.traces import load_supervision_events

DN = "/C=FR/O=FOURNISSEUR DEMO/CN=lps.fournisseur-demo.fr"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cli")
    clean = generate_traces(40)
    bad = generate_traces(40, anomalies=[Anomaly.DN_CHANGES, Anomaly.FAILURE_BURST])
    garbage = folder / "garbage.json"
    garbage.write_bytes(b"\x00\x01PK\x03\x04" * 100)
    unusable = folder / "unusable.json"
    unusable.write_text(json.dumps([{"type": "?"}] * 5))
    reference = Path(__file__).parents[1] / "traces" / "reference_clean.json"
    return {
        "reference": reference,
        "clean": clean.write(folder / "clean.json"),
        "bad": bad.write(folder / "bad.json"),
        "garbage": garbage,
        "unusable": unusable,
    }


def test_clean_file_exits_0(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", str(files["clean"]), "--expected-dn", DN]) == 0
    out = capsys.readouterr().out
    assert "Verdict: clean (0 finding(s))" in out
    assert "ouverte avant la fenêtre" in out and "SEND per national API" in out


def test_clean_reference_export_exits_0_with_no_finding(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--start", "2026-11-02T09:00:00Z", "--end", "2026-11-02T10:00:00Z"]
    assert main(["traces", str(files["reference"]), *window, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["findings"] == [] and data["bottom_line"] == "clean"
    assert data["malformed"] == 0 and data["records"] == 11
    assert {c["status"] for c in data["checks"]} == {"passed"}
    assert data["stats"]["types"]["CONNECT_REPLAY"] == 1


def test_hostile_export_of_empty_objects_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.json"
    path.write_text("[" + ",".join(["{}"] * 1000) + "]")
    assert main(["traces", str(path)]) == 2
    assert "Verdict: unusable" in capsys.readouterr().out


def test_findings_exit_1_with_events(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.csv"
    code = main(
        [
            "traces",
            str(files["bad"]),
            "--expected-dn",
            DN,
            "--provider",
            "fs-proxy-demo",
            "--events",
            str(events),
            "--start",
            "2026-11-02T07:00:00Z",
            "--end",
            "2026-11-02T20:00:00+01:00",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "client_dn" in out and "connect_failure_burst" in out and "#" in out
    read = load_supervision_events(events)
    assert {e.provider for e in read} == {"fs-proxy-demo"} and len(read) == 2


def test_json_output(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", str(files["bad"]), "--json", "--expected-dn", DN]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["bottom_line"] == "findings"
    assert {f["check"] for f in data["findings"]} == {"client_dn", "connect_failure_burst"}
    assert all(f["samples"][0]["index"] >= 0 for f in data["findings"])
    assert all(f["indexes"] and len(f["indexes"]) == f["count"] for f in data["findings"])
    assert "api_volumes" in data["stats"]


@pytest.mark.parametrize("name", ["garbage", "unusable"])
def test_unusable_exits_2(
    files: dict[str, Path], name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["traces", str(files[name])]) == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--events", "x.csv"], "--provider"),
        (["--start", "tomorrow"], "--start"),
        (["--start", "2026-11-02T07:00:00"], "no UTC offset"),
    ],
)
def test_argument_errors_exit_2(
    files: dict[str, Path], extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["traces", str(files["clean"]), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_live_fetch_needs_window_and_certificate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["traces", "https://127.0.0.1:9/traces"]) == 2
    assert "--start and --end" in capsys.readouterr().err
    args = ["traces", "https://127.0.0.1:9/traces", "--start", "2026-11-02T07:00:00Z"]
    assert main([*args, "--end", "2026-11-02T08:00:00Z"]) == 2
    assert "--client-cert" in capsys.readouterr().err
