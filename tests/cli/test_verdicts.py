"""`auditlib verdicts from-grille` and `auditlib verdicts template`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from auditlib.audit.assess import ControlStatus
from auditlib.audit.run import AuditRun
from auditlib.audit.verdicts import load_verdicts
from auditlib.cli import main
from auditlib.report.grille import (
    COMMENT_HEADER,
    FLAT_SHEET,
    VERDICT_HEADER,
    grille_bytes,
)
from auditlib.xlsxcells import set_text
from tests.report.deskdata import DATA, FOLDER, PROVIDER, demo_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    folder = tmp_path_factory.mktemp("run")
    verdicts = folder / "verdicts.yaml"
    verdicts.write_text(
        f"provider: {PROVIDER}\naudit: {FOLDER}\nauditor: Claire\nverdicts:\n"
        "- control: EXI EDC PSC 105/AVANT/1\n  status: conforme\n  comment: Vu.\n"
        "  date: 2026-11-01\n",
        "utf-8",
    )
    return demo_run(folder, verdicts)


def fill(grille: Path, values: dict[str, tuple[object, object]], tmp: Path) -> Path:
    """The auditor's edits in Excel: control ref -> (appreciation, comment)."""
    book = load_workbook(grille)
    sheet = book[FLAT_SHEET]
    header = {c.value: c.column for c in sheet[1]}
    for row in sheet.iter_rows(min_row=2):
        ref = row[0].value
        if ref in values:
            verdict, comment = values[ref]
            set_text(sheet.cell(row[0].row, header[VERDICT_HEADER]), verdict)
            set_text(sheet.cell(row[0].row, header[COMMENT_HEADER]), comment)  # text, quoted
    edited = tmp / "edited.xlsx"
    book.save(edited)
    return edited


def row_of(grille: Path, ref: str) -> int:
    sheet = load_workbook(grille)[FLAT_SHEET]
    return next(r[0].row for r in sheet.iter_rows(min_row=2) if r[0].value == ref)


def test_flat_sheet_layout(run: AuditRun, tmp_path: Path) -> None:
    grille = tmp_path / "grille.xlsx"
    grille.write_bytes(grille_bytes(run))
    book = load_workbook(grille)
    assert book.sheetnames[0] == FLAT_SHEET and book["auditlib"].sheet_state == "hidden"
    sheet = book[FLAT_SHEET]
    headers = [c.value for c in sheet[1]]
    assert headers[5:7] == [VERDICT_HEADER, COMMENT_HEADER]
    assert sheet.freeze_panes == "B2" and sheet.auto_filter.ref.startswith("A1:")
    assert sheet.column_dimensions["D"].width > 40
    (validation,) = sheet.data_validations.dataValidation
    assert validation.type == "list" and "non conforme" in validation.formula1
    assert str(validation.sqref).startswith("F2:F")
    rows = {r[0].value: [c.value for c in r] for r in sheet.iter_rows(min_row=2)}
    assert len(rows) == len(run.grid.controls)
    assert rows["EXI EDC PSC 103/AVANT/2"][0] == "EXI EDC PSC 103/AVANT/2"
    assessed = run.assessment.control("EXI EDC PSC 103/AVANT/2")
    assert rows["EXI EDC PSC 103/AVANT/2"][4] == assessed.automated_status.value
    assert rows["EXI EDC PSC 103/AVANT/2"][7] == assessed.status.value
    assert rows["EXI EDC PSC 105/AVANT/1"][5:7] == ["conforme", "Vu."]  # recorded: prefilled


def test_from_grille_reads_the_auditor_columns(
    run: AuditRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grille = tmp_path / "grille.xlsx"
    grille.write_bytes(grille_bytes(run))
    edited = fill(
        grille,
        {
            "EXI EDC PSC 104/AVANT/1": ("non conforme", '=HYPERLINK("http://x")'),
            "EXI EDC PSC 106/AVANT/1": ("Compliant", None),
        },
        tmp_path,
    )
    out = tmp_path / "verdicts.yaml"
    code = main(["verdicts", "from-grille", str(edited), "--output", str(out), "--date",
                 "2026-11-29"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    verdicts = {v.control_ref: v for v in load_verdicts(out, run.grid, PROVIDER, audit=FOLDER)}
    assert verdicts["EXI EDC PSC 104/AVANT/1"].status is ControlStatus.NON_CONFORME
    assert verdicts["EXI EDC PSC 104/AVANT/1"].comment == '=HYPERLINK("http://x")'
    assert verdicts["EXI EDC PSC 106/AVANT/1"].status is ControlStatus.CONFORME
    assert str(verdicts["EXI EDC PSC 106/AVANT/1"].date) == "2026-11-29"
    assert yaml.safe_load(out.read_text("utf-8"))["audit"] == FOLDER

    # an existing file is never overwritten without --merge
    assert main(["verdicts", "from-grille", str(edited), "--output", str(out)]) == 2
    assert "--merge" in capsys.readouterr().err


def test_merge_keeps_unchanged_provenance(
    run: AuditRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run.settings.verdicts_path is not None
    out = tmp_path / "verdicts.yaml"
    out.write_bytes(run.settings.verdicts_path.read_bytes())
    grille = tmp_path / "grille.xlsx"
    grille.write_bytes(grille_bytes(run))
    edited = fill(grille, {"EXI EDC PSC 104/AVANT/1": ("partiellement conforme", "À suivre")},
                  tmp_path)  # fmt: skip
    assert main(["verdicts", "from-grille", str(edited), "-o", str(out), "--merge"]) == 0
    assert "1 unchanged" in capsys.readouterr().out
    verdicts = {v.control_ref: v for v in load_verdicts(out, run.grid, PROVIDER, audit=FOLDER)}
    assert verdicts["EXI EDC PSC 105/AVANT/1"].auditor == "Claire"  # untouched in Excel
    assert str(verdicts["EXI EDC PSC 105/AVANT/1"].date) == "2026-11-01"
    assert verdicts["EXI EDC PSC 104/AVANT/1"].status is ControlStatus.PARTIEL


def test_bad_cells_are_named_and_nothing_is_written(
    run: AuditRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    grille = tmp_path / "grille.xlsx"
    grille.write_bytes(grille_bytes(run))
    bad_row = row_of(grille, "EXI EDC PSC 104/AVANT/1")
    lone_row = row_of(grille, "EXI EDC PSC 106/AVANT/1")
    not_applicable_row = row_of(grille, "EXI EDC PSC 101/AVANT/1")  # not the provider's roles
    edited = fill(
        grille,
        {
            "EXI EDC PSC 104/AVANT/1": ("plutôt bien", None),
            "EXI EDC PSC 106/AVANT/1": (None, "un commentaire sans appréciation"),
            "EXI EDC PSC 101/AVANT/1": ("conforme", None),
        },
        tmp_path,
    )
    out = tmp_path / "verdicts.yaml"
    assert main(["verdicts", "from-grille", str(edited), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"Constats!F{bad_row}" in err and "plutôt bien" in err
    assert f"Constats!F{lone_row}" in err and f"Constats!G{lone_row}" in err
    assert f"Constats!F{not_applicable_row}: EXI EDC PSC 101/AVANT/1 belongs" in err
    assert "Traceback" not in err
    assert not out.exists()

    # a formula typed in the auditor's column is refused, not evaluated
    book = load_workbook(grille)
    book[FLAT_SHEET][f"F{bad_row}"] = '=IF(1,"conforme","")'
    book.save(edited)
    assert main(["verdicts", "from-grille", str(edited), "--output", str(out)]) == 2
    assert f"Constats!F{bad_row}: a formula" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04broken"])
def test_not_a_workbook(content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "grille.xlsx"
    bad.write_bytes(content)
    assert main(["verdicts", "from-grille", str(bad), "-o", str(tmp_path / "v.yaml")]) == 2
    err = capsys.readouterr().err
    assert "grille.xlsx" in err and "Traceback" not in err


def test_a_plain_checkpoint_workbook_is_not_a_grille(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "v.yaml"
    assert main(["verdicts", "from-grille", str(DATA / "checkpoints_demo.xlsx"), "-o",
                 str(out)]) == 2  # fmt: skip
    assert "no sheet 'Constats'" in capsys.readouterr().err
    assert not out.exists()


def grid_controls(tmp_path: Path) -> tuple[Any, ...]:
    return demo_run(tmp_path).grid.controls


def test_template_lists_every_control_to_assess(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "template.yaml"
    args = ["verdicts", "template", PROVIDER, "--registry", str(DATA / "registry.yaml"),
            "--checkpoints", str(DATA / "checkpoints_demo.xlsx"), "--date", "2026-11-28",
            "--auditor", "Jeanne", "--output", str(out)]  # fmt: skip
    assert main(args) == 0
    document = yaml.safe_load(out.read_text("utf-8"))
    assert document["provider"] == PROVIDER and document["audit"] == FOLDER
    refs = [e["control"] for e in document["verdicts"]]
    pending = [
        c.ref for c in demo_run(tmp_path).assessment.controls if c.status is ControlStatus.A_EVALUER
    ]
    assert refs == pending and len(refs) > 5
    assert all(e["status"] == "à évaluer" for e in document["verdicts"])
    # the control's text is a comment above its entry; the file loads as is (placeholders)
    first = next(c for c in grid_controls(tmp_path) if c.ref == refs[0])
    assert f"# {' '.join(first.text.split())}\n- control: {refs[0]}" in out.read_text("utf-8")
    grid = demo_run(tmp_path).grid
    assert load_verdicts(out, grid, PROVIDER, audit=FOLDER) == []
    # never overwritten without --force
    assert main(args) == 2
    assert "exists" in capsys.readouterr().err
