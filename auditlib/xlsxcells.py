"""Writing data into xlsx cells without ever creating a formula.

Text in a workbook the workbench writes comes from audited parties (file names, workbook
text) and from auditors (comments, names). openpyxl stores any string starting with `=`
as a formula, and spreadsheet programs evaluate `= + - @` (and tab or CR before them) as
one: CSV/formula injection. Every data cell is therefore written as a string cell, with
Excel's quote prefix (the cell style `quotePrefix`) on text that a spreadsheet would read
as a formula; the text itself is unchanged, so the project reads it back as written.
"""

from __future__ import annotations

from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet program read text as a formula."""


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_TRIGGERS)


def set_text(cell: Any, value: object) -> Any:
    """Write `value` into an openpyxl cell as data, never as a formula; None leaves it empty.

    Numbers and booleans stay typed; every other value is written as its text."""
    if value is None:
        cell.value = None
        return cell
    if isinstance(value, bool | int | float):
        cell.value = value
        return cell
    text = str(value)
    cell.value = text
    cell.data_type = "s"  # openpyxl made it "f" when the text starts with "="
    if looks_like_formula(text):
        cell.quotePrefix = True
    return cell
