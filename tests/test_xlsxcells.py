"""Data written into xlsx cells is never a formula, and reads back unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook

from auditlib.xlsxcells import set_text


@pytest.mark.parametrize(
    "text", ['=HYPERLINK("http://x","y")', "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "plain"]
)
def test_text_is_a_string_cell_that_reads_back_unchanged(tmp_path: Path, text: str) -> None:
    book = Workbook()
    set_text(book.active.cell(1, 1), text)
    book.save(tmp_path / "x.xlsx")
    cell = load_workbook(tmp_path / "x.xlsx").active.cell(1, 1)
    assert cell.value == text
    assert cell.data_type == "s"
    assert cell.quotePrefix is (text != "plain")


def test_numbers_stay_numbers_and_none_stays_empty(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    set_text(sheet.cell(1, 1), 3)
    set_text(sheet.cell(1, 2), None)
    book.save(tmp_path / "x.xlsx")
    sheet = load_workbook(tmp_path / "x.xlsx").active
    assert sheet.cell(1, 1).value == 3 and sheet.cell(1, 1).data_type == "n"
    assert sheet.cell(1, 2).value is None
