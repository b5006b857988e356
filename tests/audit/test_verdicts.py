"""The verdicts file: French and English values, audit provenance, merge and save."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from auditlib.audit.assess import ControlStatus
from auditlib.audit.verdicts import (
    VerdictEntry,
    VerdictsError,
    load_verdicts,
    parse_severity,
    parse_status,
    save_verdicts,
)
from auditlib.checkpoints.reader import ControlGrid, load_checkpoints

DATA = Path(__file__).resolve().parents[2] / "data"
AUDIT = "medilogic_certificate_expiry_2026-11-28"


@pytest.fixture(scope="module")
def grid() -> ControlGrid:
    return load_checkpoints(DATA / "checkpoints_demo.xlsx")


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("conforme", ControlStatus.CONFORME),
        ("Compliant", ControlStatus.CONFORME),
        ("non-compliant", ControlStatus.NON_CONFORME),
        ("NON_CONFORME", ControlStatus.NON_CONFORME),
        ("partially compliant", ControlStatus.PARTIEL),
        ("not applicable", ControlStatus.NON_APPLICABLE),
        ("a evaluer", ControlStatus.A_EVALUER),
        ("to assess", ControlStatus.A_EVALUER),
    ],
)
def test_statuses_in_french_and_english(text: str, status: ControlStatus) -> None:
    assert parse_status(text) is status


def test_unknown_status_and_severity_are_named() -> None:
    with pytest.raises(ValueError, match="'ok'"):
        parse_status("ok")
    with pytest.raises(ValueError, match="'grave'"):
        parse_severity("grave")
    assert parse_severity("Élevée") == "high"
    assert parse_severity("critique") == "critical"
    assert parse_severity("LOW") == "low"


def test_french_severities_and_placeholders(tmp_path: Path, grid: ControlGrid) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(
        "provider: medilogic\nverdicts:\n"
        "- control: EXI EDC PSC 102/AVANT/1\n  status: non conforme\n  severity: élevée\n"
        "- control: EXI EDC PSC 104/AVANT/1\n  status: à évaluer\n  comment: ''\n",
        "utf-8",
    )
    (verdict,) = load_verdicts(path, grid, "medilogic")
    assert verdict.severity == "high" and verdict.status is ControlStatus.NON_CONFORME


def test_verdicts_of_another_audit_are_refused(tmp_path: Path, grid: ControlGrid) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(
        "provider: medilogic\naudit: medilogic_certificate_expiry_2023-11-28\nverdicts: []\n",
        "utf-8",
    )
    with pytest.raises(VerdictsError, match=r"recorded for audit .*2023-11-28.*not"):
        load_verdicts(path, grid, "medilogic", audit=AUDIT)
    assert load_verdicts(path, grid, "medilogic") == []  # without an audit to check: read


def test_bad_entries_are_all_listed(tmp_path: Path, grid: ControlGrid) -> None:
    path = tmp_path / "v.yaml"
    path.write_text(
        "provider: medilogic\nextra: 1\nverdicts:\n"
        "- control: EXI EDC PSC 999/AVANT/1\n  status: conforme\n"
        "- control: EXI EDC PSC 102/AVANT/1\n  status: bof\n"
        "- control: EXI EDC PSC 102/AVANT/1\n  status: conforme\n  severity: énorme\n",
        "utf-8",
    )
    with pytest.raises(VerdictsError) as caught:
        load_verdicts(path, grid, "medilogic")
    text = str(caught.value)
    assert "4 problem(s)" in text
    assert "unknown top-level key(s) extra" in text
    assert "entry 1, key 'control'" in text and "entry 2, key 'status'" in text
    assert "entry 3, key 'severity'" in text


def test_save_merges_keeps_provenance_and_validates(tmp_path: Path, grid: ControlGrid) -> None:
    path = tmp_path / "verdicts.yaml"
    path.write_text(
        "provider: medilogic\nauditor: Claire\nverdicts:\n"
        "- requirement: EXI EDC PSC 103\n  status: conforme\n  date: 2026-11-20\n"
        "- control: EXI EDC PSC 105/AVANT/1\n  status: conforme\n",
        "utf-8",
    )
    day = dt.date(2026, 11, 28)
    saved = save_verdicts(
        path,
        grid,
        [VerdictEntry("EXI EDC PSC 103/AVANT/2", ControlStatus.NON_CONFORME, "Section vide",
                      "medium", "Jeanne", day)],
        provider_id="medilogic",
        audit=AUDIT,
    )  # fmt: skip
    by_ref = {v.control_ref: v for v in saved}
    assert by_ref["EXI EDC PSC 103/AVANT/2"].status is ControlStatus.NON_CONFORME
    assert by_ref["EXI EDC PSC 103/AVANT/2"].auditor == "Jeanne"
    assert by_ref["EXI EDC PSC 103/AVANT/2"].date == day
    # the requirement entry is split: its other controls keep their verdict and date
    assert by_ref["EXI EDC PSC 103/AVANT/1"].status is ControlStatus.CONFORME
    assert by_ref["EXI EDC PSC 103/AVANT/1"].date == dt.date(2026, 11, 20)
    assert by_ref["EXI EDC PSC 103/AVANT/1"].auditor == "Claire"
    assert "EXI EDC PSC 105/AVANT/1" in by_ref
    text = path.read_text("utf-8")
    assert f"audit: {AUDIT}" in text
    assert load_verdicts(path, grid, "medilogic", audit=AUDIT) == saved

    before = path.read_bytes()
    with pytest.raises(VerdictsError, match="not 'cloudproxy-sante'"):
        save_verdicts(
            path,
            grid,
            [VerdictEntry("EXI EDC PSC 105/AVANT/1", ControlStatus.CONFORME)],
            provider_id="cloudproxy-sante",
        )
    with pytest.raises(VerdictsError, match="no control"):
        save_verdicts(
            path,
            grid,
            [VerdictEntry("EXI EDC PSC 999/AVANT/1", ControlStatus.CONFORME)],
            provider_id="medilogic",
            audit=AUDIT,
        )
    assert path.read_bytes() == before  # nothing written on refusal


def test_hostile_text_round_trips_as_data(tmp_path: Path, grid: ControlGrid) -> None:
    path = tmp_path / "verdicts.yaml"
    comment = '=HYPERLINK("x") ; key: value\n- control: injected'
    save_verdicts(
        path,
        grid,
        [VerdictEntry("EXI EDC PSC 105/AVANT/1", ControlStatus.CONFORME, comment)],
        provider_id="medilogic",
    )
    (verdict,) = load_verdicts(path, grid, "medilogic")
    assert verdict.comment == " ".join(comment.split())
