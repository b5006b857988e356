"""Write checkpoint workbooks in the ANS v0.1 layout, ugly variants included.

The real ANS workbook is not public. The demo workbook, the tests and the benchmark
all build theirs with this writer, so the parser is always proven against files made
the way Excel users make them: two-row headers, merged requirement cells, title rows,
columns moved or hidden, blank lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import MergedCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.merge import MergedCellRange

from auditlib.checkpoints.reader import ControlGrid
from auditlib.files import atomic_target
from auditlib.requirements import Actor


@dataclass(frozen=True)
class Column:
    """One column of the layout: the field it holds, its header and (two-row) sub-header."""

    key: str | None
    top: str | None
    sub: str | None = None
    width: float = 14


# ANS v0.1: E requirement id, G-H actors, K-L the AVANT group, M Format Avant, N PENDANT
# (as the source shows); the other columns are plausible guesses (docs/domain.md).
ANS_V01_COLUMNS: tuple[Column, ...] = (
    Column("chapter", "Chapitre", width=24),
    Column("source_note", "Source de l'exigence", width=18),
    Column(None, None, width=3),
    Column("requirement_text", "Libellé de l'exigence", width=40),
    Column("requirement_id", "Numéro exigences Référentiel EDC", width=18),
    Column(None, None, width=3),
    Column("fs_utilisateur", "FS Utilisateur", width=11),
    Column("editeur_utilisateur", "Editeur de Logiciel", width=11),
    Column("fs_proxy", "FS Proxy e-Santé", width=11),
    Column("editeur_proxy", "Editeur de Logiciel Proxy e-Santé", width=11),
    Column(
        "avant",
        "Contrôles AVANT (Parcours de contractualisation/test d'intrusion)",
        "Contrôles",
        width=48,
    ),
    Column("avant_level", None, "Niveau (N1-N2-N3-N4)", width=22),
    Column("avant_format", "Format Avant", width=30),
    Column("pendant", "Contrôles PENDANT (Supervision)", width=40),
    Column("pendant_format", "Format Pendant", width=26),
    Column("apres", "Contrôles APRÈS (Audit)", "Contrôles", width=40),
    Column("apres_level", None, "Niveau (N1-N2-N3-N4)", width=16),
    Column("apres_format", "Format Après", width=26),
)

ROW_KEYS = (
    "avant",
    "avant_level",
    "avant_format",
    "pendant",
    "pendant_format",
    "apres",
    "apres_level",
    "apres_format",
)
REQUIREMENT_KEYS = (
    "chapter",
    "source_note",
    "requirement_text",
    "requirement_id",
    "fs_utilisateur",
    "editeur_utilisateur",
    "fs_proxy",
    "editeur_proxy",
)


@dataclass
class RequirementRows:
    """A requirement as the workbook writes it: its own cells, then one dict per row."""

    values: dict[str, object]
    """Requirement-level cells (id, chapter, text, actors' OUI/NON), written on row one."""
    rows: list[dict[str, object]] = field(default_factory=list)
    """Control cells per row, keys from `ROW_KEYS`."""


def write_workbook(
    path: str | Path,
    requirements: Sequence[RequirementRows],
    *,
    columns: Sequence[Column] = ANS_V01_COLUMNS,
    sheet_title: str = "Points de contrôle",
    title_rows: Sequence[str] = (),
    two_row_header: bool = True,
    merge_requirement_cells: bool = True,
    blank_rows_between: int = 0,
    hidden_keys: Sequence[str] = (),
    extra_sheets: dict[str, list[list[object]]] | None = None,
    extra_sheets_first: bool = False,
    styled: bool = True,
) -> Path:
    """Write the workbook atomically and return its path."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = sheet_title
    if extra_sheets:
        for name, sheet_rows in extra_sheets.items():
            other = workbook.create_sheet(name, 0 if extra_sheets_first else None)
            for sheet_row in sheet_rows:
                other.append(sheet_row)

    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE6F0")
    wrap = Alignment(wrap_text=True, vertical="top")
    for offset, title in enumerate(title_rows, start=1):
        sheet.cell(row=offset, column=1, value=title).font = Font(bold=True, size=13)
    header = len(title_rows) + (1 if title_rows else 0) + 1
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        if styled:
            sheet.column_dimensions[letter].width = column.width
        if column.key in hidden_keys:
            sheet.column_dimensions[letter].hidden = True
        top = sheet.cell(row=header, column=index, value=column.top)
        if two_row_header:
            sub = sheet.cell(row=header + 1, column=index, value=column.sub)
            if styled:
                sub.font, sub.fill, sub.alignment = bold, fill, wrap
        if styled:
            top.font, top.fill, top.alignment = bold, fill, wrap
    if two_row_header:
        _merge_header(sheet, columns, header)
    row_number = header + (2 if two_row_header else 1)
    key_to_col = {c.key: i for i, c in enumerate(columns, start=1) if c.key}
    for req_index, requirement in enumerate(requirements):
        if req_index and blank_rows_between:
            row_number += blank_rows_between
        first = row_number
        rows = requirement.rows or [{}]
        for row_values in rows:
            for key, value in row_values.items():
                if key in key_to_col and value is not None:
                    cell = sheet.cell(row=row_number, column=key_to_col[key], value=value)
                    if styled:
                        cell.alignment = wrap
            row_number += 1
        for key, value in requirement.values.items():
            if key in key_to_col and value is not None:
                cell = sheet.cell(row=first, column=key_to_col[key], value=value)
                if styled:
                    cell.alignment = wrap
        if merge_requirement_cells and len(rows) > 1:
            for key in REQUIREMENT_KEYS:
                if key in key_to_col and key in requirement.values:
                    col = key_to_col[key]
                    _merge(sheet, first, col, row_number - 1, col)
    tmp, final = atomic_target(path)
    try:
        workbook.save(tmp)
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def _merge(sheet: Any, min_row: int, min_col: int, max_row: int, max_col: int) -> None:
    """`Worksheet.merge_cells` without its overlap scan, which is quadratic in the number
    of merged ranges (minutes for a 20,000-row workbook); our ranges never overlap."""
    merged = MergedCellRange(
        sheet, f"{get_column_letter(min_col)}{min_row}:{get_column_letter(max_col)}{max_row}"
    )
    sheet.merged_cells.ranges.add(merged)
    for row, col in list(merged.cells)[1:]:
        sheet._cells[row, col] = MergedCell(sheet, row, col)


def _merge_header(sheet: object, columns: Sequence[Column], header: int) -> None:
    """Merge group headers across their sub-columns, single headers down both rows."""
    index = 0
    count = len(columns)
    while index < count:
        column = columns[index]
        span = 1
        while (
            index + span < count and columns[index + span].top is None and columns[index + span].sub
        ):
            span += 1
        col = index + 1
        if column.top and span > 1:
            sheet.merge_cells(  # type: ignore[attr-defined]
                start_row=header, start_column=col, end_row=header, end_column=col + span - 1
            )
        elif column.top and not column.sub:
            sheet.merge_cells(  # type: ignore[attr-defined]
                start_row=header, start_column=col, end_row=header + 1, end_column=col
            )
        index += span


ACTOR_KEYS = ("fs_utilisateur", "editeur_utilisateur", "fs_proxy", "editeur_proxy")
PHASE_KEYS = {
    "AVANT": ("avant", "avant_level", "avant_format"),
    "PENDANT": ("pendant", None, "pendant_format"),
    "APRES": ("apres", "apres_level", "apres_format"),
}


def rows_from_grid(grid: ControlGrid) -> list[RequirementRows]:
    """A read control grid back as workbook rows (to rewrite a workbook with changes)."""
    out = []
    for requirement_id in grid.requirement_ids():
        req = grid.requirements[requirement_id]
        values: dict[str, object] = {
            "requirement_id": req.id,
            "chapter": req.chapter,
            "requirement_text": req.text,
            "source_note": req.source_note,
        }
        for key in ACTOR_KEYS:
            flag = req.applicability.get(Actor(key))
            if flag is not None:
                values[key] = "OUI" if flag else "NON"
        rows: list[dict[str, object]] = []
        for control in grid.controls:
            if control.requirement_id != requirement_id:
                continue
            text_key, level_key, format_key = PHASE_KEYS[control.phase.value]
            while len(rows) < control.index:
                rows.append({})
            row = rows[control.index - 1]
            row[text_key] = control.text
            if level_key and control.level:
                row[level_key] = control.level.label
            if format_key and control.expected_format:
                row[format_key] = control.expected_format
        out.append(RequirementRows(values=values, rows=rows))
    return out


def renumbered(requirements: Sequence[RequirementRows], offset: int = 100) -> list[RequirementRows]:
    """The same requirements numbered otherwise (`EXI EDC PSC 115` -> `EXI EDC PSC 215`
    with the default offset): a workbook whose numbering the shipped mapping does not know,
    as the real ANS workbook may be."""
    out = []
    for requirement in requirements:
        values = dict(requirement.values)
        head, _, number = str(values["requirement_id"]).rpartition(" ")
        main, dash, sub = number.partition("-")
        values["requirement_id"] = f"{head} {int(main) + offset}{dash}{sub}"
        out.append(RequirementRows(values=values, rows=[dict(r) for r in requirement.rows]))
    return out
