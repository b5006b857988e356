"""`grille.xlsx`: the auditor's own checkpoint workbook, with the audit's columns added.

The original workbook is copied as is (its sheets, column order, merged cells and
formatting are kept: openpyxl normal mode) and five columns are added after the last
column of the grid's sheet: status, automated status, evidence, comment and auditor.
Each control's values go on the control's own row; where several controls share a row
(several phases, or two controls written in one cell) and their values differ, each line
is prefixed with the control's `PHASE/index` (`parse_cell` reads it back). Rows of
requirements that do not apply to the provider say `non applicable (rôle)`.
Every value is written with `auditlib.xlsxcells.set_text`: a string cell, never a
formula, with Excel's quote prefix on text starting with `= + - @`, tab or CR; formulas
of the copied workbook become their text the same way (`neutralise_formulas`).
"""

from __future__ import annotations

import io
import os
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlib.errors import AuditlibError
from auditlib.files import sha256_file, write_atomic
from auditlib.xlsxcells import set_text

if TYPE_CHECKING:
    from auditlib.audit.assess import ControlAssessment
    from auditlib.audit.run import AuditRun

NOT_APPLICABLE_ROLE = "non applicable (rôle)"
COLUMNS = {
    "fr": ("Statut (audit)", "Statut automatique", "Preuves (fichier, SHA-256)", "Commentaire",
           "Auditeur"),
    "en": ("Status (audit)", "Automated status", "Evidence (file, SHA-256)", "Comment", "Auditor"),
}  # fmt: skip
STATUS_FILLS = {
    "conforme": "D8F0D8",
    "partiellement conforme": "FFF1C2",
    "non conforme": "F6C9C4",
    "non applicable": "E8E8E8",
    "à évaluer": "DDE6F0",
    "erreur": "F3D3F0",
    "hors périmètre de cet audit": "EFEFEF",
}


class GrilleError(AuditlibError):
    """The checkpoint workbook cannot be completed (missing, changed since it was read)."""


def short_sha(sha256: str | None) -> str:
    return f"{sha256[:12]}…" if sha256 else "absent"


def control_cells(c: ControlAssessment) -> tuple[str, str, str, str, str]:
    """The five values written for one control."""
    evidence = "\n".join(f"{e.path} ({short_sha(e.sha256)}, {e.status})" for e in c.evidence)
    comment = c.verdict.comment if c.verdict and c.verdict.comment else c.reason
    if c.overridden:
        comment = f"[dérogation auditeur] {comment}"
    auditor = c.verdict.auditor if c.verdict and c.verdict.auditor else ""
    return (c.status.value, c.automated_status.value, evidence, comment, auditor or "")


def row_key(ref: str) -> str:
    """The prefix a control's line carries in a shared row: `AVANT/2`."""
    return "/".join(ref.split("/")[-2:])


def parse_cell(text: str | None) -> dict[str, str]:
    """Inverse of the joined format: `{"AVANT/1": "conforme", ...}`; `{"": text}` if single."""
    if not text:
        return {}
    lines = str(text).split("\n")
    if all(" : " in line and "/" in line.split(" : ", 1)[0] for line in lines):
        return {key: value for key, value in (line.split(" : ", 1) for line in lines)}
    return {"": str(text)}


def neutralise_formulas(workbook: Any) -> int:
    """Turn every formula of a copied workbook into its text (a string cell, quote-prefixed).

    The audit read those cells as text (`auditlib.checkpoints`: a formula in a text
    column is read as its text), and grille.xlsx shows what the audit used; a live
    formula from an input would run in the auditor's spreadsheet program."""
    count = 0
    for sheet in workbook.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    text = str(getattr(cell.value, "text", cell.value) or "")
                    set_text(cell, text if text.startswith("=") else f"={text}")
                    count += 1
    return count


def write_grille(run: AuditRun, path: str | os.PathLike[str], language: str = "fr") -> Path:
    """Copy the run's checkpoint workbook to `path` with the audit's columns filled."""
    return write_atomic(path, grille_bytes(run, language))


def grille_bytes(run: AuditRun, language: str = "fr") -> bytes:
    """The completed workbook as .xlsx bytes (built in memory, so a caller can write it
    only once every other output is ready)."""
    from openpyxl import load_workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    grid = run.grid
    source = grid.source
    if source is None or not Path(source).is_file():
        raise GrilleError(f"checkpoint workbook {source} not found: cannot write grille.xlsx")
    if grid.source_sha256 and sha256_file(source) != grid.source_sha256:
        raise GrilleError(
            f"checkpoint workbook {source} changed since the audit read it "
            "(SHA-256 differs): rerun the audit"
        )
    workbook = load_workbook(source)
    if grid.sheet is None or grid.sheet not in workbook.sheetnames:
        raise GrilleError(f"{source}: sheet {grid.sheet!r} not found")
    neutralise_formulas(workbook)
    sheet = workbook[grid.sheet]
    first = sheet.max_column + 1
    header_row = (grid.layout.header_row + 1) if grid.layout else 1
    last_header_row = grid.layout.data_row if grid.layout else header_row
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for offset, title in enumerate(COLUMNS.get(language, COLUMNS["fr"])):
        cell = sheet.cell(row=header_row, column=first + offset, value=title)
        cell.font = bold
        cell.alignment = wrap
        cell.fill = PatternFill("solid", fgColor="FFE9D6")
        if last_header_row > header_row:  # two-row headers, like the workbook's own
            sheet.merge_cells(
                start_row=header_row,
                start_column=first + offset,
                end_row=last_header_row,
                end_column=first + offset,
            )
        sheet.column_dimensions[get_column_letter(first + offset)].width = (
            22,
            18,
            44,
            60,
            18,
        )[offset]

    by_row: dict[int, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    assessed = {c.ref: c for c in run.assessment.controls}
    applies = {r.requirement_id: r.applies for r in run.assessment.applicability}
    for control in grid.controls:
        found = assessed.get(control.ref)
        if found is not None:
            values: tuple[str, ...] = control_cells(found)
        elif not applies.get(control.requirement_id, False):
            values = (NOT_APPLICABLE_ROLE, "", "", "", "")
        else:  # applicable but not assessed should not happen: say so rather than hide it
            values = ("non évalué", "", "", "", "")
        by_row[control.row].append((row_key(control.ref), values))
    for row, entries in by_row.items():
        for offset in range(5):
            texts = [v[offset] for _, v in entries]
            if len(set(texts)) == 1:
                value: Any = texts[0]  # one control, or the same value for all on the row
            elif not any(texts):
                value = ""
            else:
                value = "\n".join(f"{key} : {v[offset]}" for key, v in entries if v[offset])
            # data (file names, comments, auditor names): a string cell, never a formula
            cell = set_text(sheet.cell(row=row, column=first + offset), value or None)
            cell.alignment = wrap
        statuses = {v[0] for _, v in entries}
        if len(statuses) == 1:
            colour = STATUS_FILLS.get(next(iter(statuses)).split(" (")[0])
            if colour:
                sheet.cell(row=row, column=first).fill = PatternFill("solid", fgColor=colour)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
