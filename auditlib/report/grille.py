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

The first sheet, `Constats`, is flat: one row per control (reference, requirement,
phase, control text, automated status, the status as the report displays it, reason,
evidence), a frozen header, filters, and two columns for the auditor, "Appréciation
auditeur" (a list of the statuses) and "Commentaire auditeur", prefilled with the
verdicts already recorded. `read_grille_verdicts` reads them back
(`auditlib verdicts from-grille`); a hidden sheet `auditlib` names the provider, the
audit and the grid's sheet so the reading needs nothing but the file.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlib.audit.verdicts import (
    VERDICT_STATUSES,
    VerdictEntry,
    parse_status,
    status_label,
)
from auditlib.checkpoints.reader import ControlGrid, load_checkpoints
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


FLAT_SHEET = "Constats"
META_SHEET = "auditlib"
VERDICT_HEADER = "Appréciation auditeur"
COMMENT_HEADER = "Commentaire auditeur"
REF_HEADERS = ("Référence", "Reference")
FLAT_COLUMNS = {
    "fr": ("Référence", "Exigence", "Phase", "Contrôle", "Statut automatique", VERDICT_HEADER,
           COMMENT_HEADER, "Statut (audit)", "Motif", "Preuves (fichier, SHA-256)"),
    "en": ("Reference", "Requirement", "Phase", "Control", "Automated status", VERDICT_HEADER,
           COMMENT_HEADER, "Status (audit)", "Reason", "Evidence (file, SHA-256)"),
}  # fmt: skip
FLAT_WIDTHS = (26, 18, 9, 60, 20, 24, 48, 24, 60, 50)
MAX_GRILLE_BYTES = 50 * 1024 * 1024


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
    _flat_sheet(workbook, run, language)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _flat_sheet(workbook: Any, run: AuditRun, language: str) -> None:
    """The `Constats` sheet (first) and the hidden `auditlib` sheet; see the module doc."""
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    lang = language if language in FLAT_COLUMNS else "fr"
    for name in (FLAT_SHEET, META_SHEET):  # a workbook that already holds them: replaced
        if name in workbook.sheetnames:
            del workbook[name]
    sheet = workbook.create_sheet(FLAT_SHEET, 0)
    workbook.active = 0
    for existing in workbook.worksheets[1:]:
        existing.sheet_view.tabSelected = False
    headers = FLAT_COLUMNS[lang]
    bold = Font(bold=True)
    wrap = Alignment(wrap_text=True, vertical="top")
    for index, title in enumerate(headers, start=1):
        cell = set_text(sheet.cell(row=1, column=index), title)
        cell.font = bold
        cell.alignment = wrap
        auditor_column = title in (VERDICT_HEADER, COMMENT_HEADER)
        cell.fill = PatternFill("solid", fgColor="FFE9D6" if auditor_column else "DDE6F0")
        sheet.column_dimensions[get_column_letter(index)].width = FLAT_WIDTHS[index - 1]
    assessed = {c.ref: c for c in run.assessment.controls}
    row = 1
    for control in run.grid.controls:
        row += 1
        found = assessed.get(control.ref)
        if found is not None:
            automated = status_label(found.automated_status, lang)
            displayed = status_label(found.status, lang)
            verdict = status_label(found.verdict.status, lang) if found.verdict else None
            comment = found.verdict.comment if found.verdict else None
            reason = found.reason
            evidence = "\n".join(
                f"{e.path} ({e.sha256 or 'absent'}, {e.status})" for e in found.evidence
            )
        else:
            automated = displayed = NOT_APPLICABLE_ROLE if lang == "fr" else "not applicable (role)"
            verdict = comment = evidence = None
            reason = "exigence non applicable aux rôles du prestataire"
        values = (
            control.ref,
            control.requirement_id,
            control.phase.value,
            control.text,
            automated,
            verdict,
            comment,
            displayed,
            reason,
            evidence,
        )
        for index, value in enumerate(values, start=1):
            cell = set_text(sheet.cell(row=row, column=index), value)
            cell.alignment = wrap
        colour = STATUS_FILLS.get(str(found.status.value)) if found is not None else None
        if colour:
            sheet.cell(row=row, column=8).fill = PatternFill("solid", fgColor=colour)
    last = get_column_letter(len(headers))
    sheet.freeze_panes = "B2"
    sheet.auto_filter.ref = f"A1:{last}{max(row, 2)}"
    choices = ",".join(status_label(s, lang) for s in VERDICT_STATUSES)
    validation = DataValidation(
        type="list",
        formula1=f'"{choices}"',
        allow_blank=True,
        showErrorMessage=True,
        errorTitle=VERDICT_HEADER,
        error=f"Choisir : {choices.replace(',', ', ')}",
    )
    sheet.add_data_validation(validation)
    verdict_col = get_column_letter(headers.index(VERDICT_HEADER) + 1)
    validation.add(f"{verdict_col}2:{verdict_col}{max(row, 2)}")

    meta = workbook.create_sheet(META_SHEET)
    meta.sheet_state = "hidden"
    for index, (key, value) in enumerate(
        (
            ("provider", run.provider.id),
            ("audit", run.spec.folder_name),
            ("auditor", run.spec.auditor),
            ("grid_sheet", run.grid.sheet),
            ("language", lang),
        ),
        start=1,
    ):
        set_text(meta.cell(row=index, column=1), key)
        set_text(meta.cell(row=index, column=2), value)


@dataclass(frozen=True)
class GrilleVerdicts:
    """What the auditor wrote in a grille's `Constats` sheet."""

    provider_id: str
    audit: str | None
    auditor: str | None
    grid: ControlGrid
    entries: tuple[VerdictEntry, ...]


def read_grille_verdicts(
    path: str | os.PathLike[str],
    *,
    auditor: str | None = None,
    date: dt.date | None = None,
) -> GrilleVerdicts:
    """The verdicts written in the "Appréciation auditeur" / "Commentaire auditeur" columns
    of a grille's `Constats` sheet. Every bad cell is listed by its address
    (`Constats!F12`); nothing is returned unless every row is usable. A comment without an
    appreciation is refused (it would be lost)."""
    from openpyxl import load_workbook

    source = Path(path)
    try:
        if source.stat().st_size > MAX_GRILLE_BYTES:
            raise GrilleError(f"{source}: larger than {MAX_GRILLE_BYTES} bytes")
        workbook = load_workbook(source)
    except FileNotFoundError:
        raise GrilleError(f"{source.resolve()}: no such file") from None
    except GrilleError:
        raise
    except Exception as exc:  # openpyxl raises many types for a file that is not xlsx
        raise GrilleError(
            f"{source}: not a readable .xlsx workbook ({type(exc).__name__}: {exc})"
        ) from None
    if FLAT_SHEET not in workbook.sheetnames:
        raise GrilleError(
            f"{source}: no sheet {FLAT_SHEET!r} (sheets: {', '.join(workbook.sheetnames)}); "
            "write the grille with this version of auditlib"
        )
    meta: dict[str, str] = {}
    if META_SHEET in workbook.sheetnames:
        for key, value in workbook[META_SHEET].iter_rows(min_row=1, max_col=2, values_only=True):
            if key is not None and value is not None:
                meta[str(key)] = str(value)
    if not meta.get("provider") or not meta.get("grid_sheet"):
        raise GrilleError(f"{source}: sheet {META_SHEET!r} missing or incomplete")
    sheet = workbook[FLAT_SHEET]
    header = {
        str(cell.value).strip(): cell.column
        for cell in sheet[1]
        if cell.value is not None and cell.data_type == "s"
    }
    ref_col = next((header[h] for h in REF_HEADERS if h in header), None)
    missing = [
        title
        for title, col in (
            ("Référence", ref_col),
            (VERDICT_HEADER, header.get(VERDICT_HEADER)),
            (COMMENT_HEADER, header.get(COMMENT_HEADER)),
        )
        if col is None
    ]
    if missing or ref_col is None:
        raise GrilleError(f"{source}: sheet {FLAT_SHEET!r}, row 1 lacks {', '.join(missing)}")
    verdict_col, comment_col = header[VERDICT_HEADER], header[COMMENT_HEADER]
    automated_col = next(
        (header[h] for h in (FLAT_COLUMNS["fr"][4], FLAT_COLUMNS["en"][4]) if h in header), None
    )
    try:
        grid = load_checkpoints(source, sheet=meta["grid_sheet"])
    except AuditlibError as exc:
        raise GrilleError(f"{source}: the grid's own sheet cannot be read: {exc}") from None
    refs = {c.ref for c in grid.controls}
    problems: list[str] = []
    entries: list[VerdictEntry] = []
    seen: dict[str, str] = {}
    for row in sheet.iter_rows(min_row=2):
        cells = {c.column: c for c in row}
        ref_cell = cells.get(ref_col)
        verdict_cell = cells.get(verdict_col)
        comment_cell = cells.get(comment_col)
        verdict_text = _cell_text(verdict_cell, problems)
        comment_text = _cell_text(comment_cell, problems)
        if verdict_text is None and comment_text is None:
            continue
        ref = _cell_text(ref_cell, problems)
        where = f"{FLAT_SHEET}!{verdict_cell.coordinate if verdict_cell else '?'}"
        if ref is None or ref not in refs:
            address = ref_cell.coordinate if ref_cell is not None else "?"
            problems.append(f"{FLAT_SHEET}!{address}: {ref!r} is not a control of the grid")
            continue
        automated = cells.get(automated_col) if automated_col is not None else None
        if automated is not None and str(automated.value or "").startswith(
            ("non applicable (rôle)", "not applicable (role)")
        ):
            problems.append(
                f"{where}: {ref} belongs to a requirement that does not apply to the "
                "provider's roles (statement of applicability): no appreciation to give"
            )
            continue
        if verdict_text is None:
            address = comment_cell.coordinate if comment_cell is not None else "?"
            problems.append(
                f"{where}: empty, but {FLAT_SHEET}!{address} holds a comment: give the "
                f"appreciation of {ref}"
            )
            continue
        try:
            status = parse_status(verdict_text)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if status not in VERDICT_STATUSES:
            problems.append(
                f"{where}: {verdict_text!r} is not an auditor's appreciation (choose one of "
                f"{', '.join(s.value for s in VERDICT_STATUSES)}, or leave it empty)"
            )
            continue
        if ref in seen:
            problems.append(f"{where}: {ref} already has an appreciation in {seen[ref]}")
            continue
        seen[ref] = where
        entries.append(
            VerdictEntry(
                control=ref,
                status=status,
                comment=comment_text,
                auditor=auditor or meta.get("auditor"),
                date=date,
            )
        )
    if problems:
        raise GrilleError(
            f"{source}: {len(problems)} problem(s), nothing read\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return GrilleVerdicts(
        provider_id=meta["provider"],
        audit=meta.get("audit"),
        auditor=auditor or meta.get("auditor"),
        grid=grid,
        entries=tuple(entries),
    )


def _cell_text(cell: Any, problems: list[str]) -> str | None:
    if cell is None or cell.value is None:
        return None
    if cell.data_type == "f":
        problems.append(f"{FLAT_SHEET}!{cell.coordinate}: a formula, not a value")
        return None
    text = " ".join(str(cell.value).split())
    return text or None
