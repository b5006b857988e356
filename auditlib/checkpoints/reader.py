"""The ANS checkpoint workbook ("fichier points de contrôles") as a typed control grid.

Columns are found by their header text through a layout profile (YAML under
`auditlib/profiles/`), so a new ANS workbook version is a new profile, not new code.
The workbook is read in openpyxl's read-only mode (about twice as fast): merged cells
then read as blanks, which is why requirement-level values are filled down until the
next requirement id.

Formulas are data too, never trusted: a formula in a text column is read as its text
(`=HYPERLINK(...)`, not its result) with a warning naming the cell; in a key column
(requirement id, applicability, level) its cached value is used with a warning, and a
formula without a cached value is an error naming the cell (read as a blank, it would
silently merge one requirement's controls into the one above). The formula text needs a
second, formula-preserving read of the sheet, done only when its XML holds a formula.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter

from auditlib.errors import ChecklistError, YamlInputError
from auditlib.files import atomic_target, describe_missing, sha256_file, write_atomic
from auditlib.requirements import Actor, fold, normalise_requirement_id, requirement_sort_key
from auditlib.resources import profile_path
from auditlib.xlsxcells import set_text
from auditlib.yamlio import load_yaml_file

PROFILE_DIR = profile_path("assessment.yaml").parent
DEFAULT_PROFILE = "checkpoints-ans-v0.1"
JSON_SCHEMA_VERSION = "1.0"


class Phase(StrEnum):
    """When a control happens: before entry, during life in the EDC, at audit."""

    AVANT = "AVANT"
    PENDANT = "PENDANT"
    APRES = "APRES"

    @property
    def label(self) -> str:
        return {"AVANT": "Avant", "PENDANT": "Pendant", "APRES": "Après"}[self.value]


@dataclass(frozen=True)
class Level:
    """A control level: the code `N1`..`N4` and the label exactly as the workbook writes it."""

    code: str
    label: str


@dataclass(frozen=True)
class Requirement:
    """One `EXI EDC PSC nnn` requirement, with what the workbook says of it."""

    id: str
    chapter: str | None
    text: str | None
    applicability: dict[Actor, bool | None]
    """OUI -> True, NON -> False, blank -> None, for each actor column the workbook has."""
    source_note: str | None
    cell: str
    """Where the id is written, e.g. `Points de contrôle!E5`."""

    def applies_to(self, actors: Iterable[Actor]) -> bool:
        return any(self.applicability.get(actor) for actor in actors)


@dataclass(frozen=True)
class Control:
    """One control of one requirement in one phase."""

    ref: str
    """Stable reference: `EXI EDC PSC 103/AVANT/2`."""
    requirement_id: str
    phase: Phase
    index: int
    """1-based position of the control within its requirement and phase."""
    text: str
    level: Level | None
    expected_format: str | None
    cell: str
    """Source cell of the control text, e.g. `Points de contrôle!K14`."""
    row: int
    extra: tuple[tuple[str, str], ...] = ()
    """Values of the columns the profile does not know, as (header, value) pairs."""


@dataclass(frozen=True)
class ColumnLayout:
    """Where each recognised field sits in the sheet (0-based column indexes)."""

    header_row: int
    data_row: int
    fields: dict[str, int]
    actors: dict[Actor, int]
    phases: dict[Phase, dict[str, int]]
    extra: dict[int, str]
    """Columns with a header the profile does not know: index -> header text."""


@dataclass(frozen=True)
class LayoutProfile:
    """A workbook layout version: header synonyms and value vocabularies (data, not code)."""

    name: str
    header_search_rows: int
    fields: dict[str, tuple[str, ...]]
    required_fields: frozenset[str]
    actors: dict[Actor, tuple[str, ...]]
    phase_groups: dict[Phase, tuple[str, ...]]
    phase_columns: dict[Phase, dict[str, tuple[str, ...]]]
    yes_values: frozenset[str]
    no_values: frozenset[str]
    level_pattern: re.Pattern[str]

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_PROFILE) -> LayoutProfile:
        path = Path(name_or_path)
        if path.suffix not in (".yaml", ".yml"):
            path = PROFILE_DIR / f"{name_or_path}.yaml"
        try:
            raw = load_yaml_file(path)
            fields_raw = raw["fields"]
            return cls(
                name=str(raw["name"]),
                header_search_rows=int(raw.get("header_search_rows", 40)),
                fields={k: _folded(v["synonyms"]) for k, v in fields_raw.items()},
                required_fields=frozenset(k for k, v in fields_raw.items() if v.get("required")),
                actors={Actor(k): _folded(v) for k, v in raw["actors"].items()},
                phase_groups={Phase(k): _folded(v["group"]) for k, v in raw["phases"].items()},
                phase_columns={
                    Phase(k): {
                        part: _folded(v.get(part, [])) for part in ("control", "level", "format")
                    }
                    for k, v in raw["phases"].items()
                },
                yes_values=frozenset(fold(str(v)) for v in raw["yes_values"]),
                no_values=frozenset(fold(str(v)) for v in raw["no_values"]),
                level_pattern=re.compile(raw["level_pattern"], re.IGNORECASE),
            )
        except (OSError, YamlInputError, KeyError, TypeError, ValueError, re.error) as exc:
            what = f"bad regular expression: {exc}" if isinstance(exc, re.error) else str(exc)
            raise ChecklistError(f"layout profile {path} cannot be used: {what}") from exc


def _folded(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(fold(str(v)) for v in values)


def _matches(header: str, synonyms: Sequence[str]) -> int:
    """Score a folded header against synonyms: 2 exact, 1 prefix (`Contrôles AVANT (...)`)."""
    best = 0
    for synonym in synonyms:
        if header == synonym:
            return 2
        if header.startswith(synonym) and header[len(synonym)] in " (:-–/":
            best = 1
    return best


def _clean(value: Any) -> str | None:
    """Cell value as text with line breaks and stray spaces collapsed; None when blank."""
    if value is None:
        return None
    text = " ".join(str(value).replace("\u00a0", " ").split())
    return text or None


def _lines(value: Any) -> list[str]:
    if value is None:
        return []
    return [line for line in (_clean(p) for p in str(value).splitlines()) if line]


@dataclass
class _Problems:
    sheet: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def at(self, row: int, col: int) -> str:
        return f"{self.sheet}!{_letter(col)}{row}"


@cache
def _letter(col: int) -> str:
    return str(get_column_letter(col + 1))


class ControlGrid:
    """Every control of a checkpoint workbook, one per control per phase."""

    def __init__(
        self,
        controls: Sequence[Control],
        requirements: dict[str, Requirement],
        actors: Sequence[Actor],
        *,
        source: Path | None = None,
        sheet: str | None = None,
        profile: str = "",
        source_sha256: str | None = None,
        warnings: Sequence[str] = (),
        layout: ColumnLayout | None = None,
    ) -> None:
        self.controls: tuple[Control, ...] = tuple(controls)
        self.requirements = requirements
        self.actors: tuple[Actor, ...] = tuple(actors)
        self.source = source
        self.sheet = sheet
        self.profile = profile
        self.source_sha256 = source_sha256
        self.warnings: tuple[str, ...] = tuple(warnings)
        self.layout = layout

    def __len__(self) -> int:
        return len(self.controls)

    def __iter__(self) -> Any:
        return iter(self.controls)

    def __repr__(self) -> str:
        return (
            f"ControlGrid({len(self.controls)} controls, {len(self.requirements)} requirements, "
            f"source={self.source}, sheet={self.sheet!r})"
        )

    def requirement_ids(self, actor: Actor | str | None = None) -> list[str]:
        """Requirement ids in numeric order; with `actor`, only those that apply to it."""
        ids = self.requirements
        if actor is not None:
            role = self._actor(actor)
            ids = {k: v for k, v in ids.items() if v.applicability.get(role)}
        return sorted(ids, key=requirement_sort_key)

    def _actor(self, actor: Actor | str) -> Actor:
        try:
            role = Actor(actor)
        except ValueError:
            known = ", ".join(a.value for a in Actor)
            raise ChecklistError(f"unknown actor {actor!r} (known: {known})") from None
        if role not in self.actors:
            present = ", ".join(a.value for a in self.actors) or "none"
            raise ChecklistError(
                f"the workbook has no applicability column for {role.value} (it has: {present})"
            )
        return role

    def filter(
        self,
        *,
        actor: Actor | str | Iterable[Actor | str] | None = None,
        phase: Phase | str | None = None,
        level: str | None = None,
        requirement: str | None = None,
    ) -> ControlGrid:
        """A grid restricted to the controls that match every criterion given.

        `actor` keeps controls applicable to any of the actors given (a provider can
        hold several roles); `level` is a code such as `N1`; `requirement` tolerates
        the usual spellings (`EXI-EDC-PSC-103`, `103`).
        """
        controls: Iterable[Control] = self.controls
        if actor is not None:
            roles = [self._actor(a) for a in ([actor] if isinstance(actor, str) else actor)]
            applicable = {r.id for r in self.requirements.values() if r.applies_to(roles)}
            controls = [c for c in controls if c.requirement_id in applicable]
        if phase is not None:
            wanted = _parse_phase(phase)
            controls = [c for c in controls if c.phase is wanted]
        if level is not None:
            code = level.strip().upper()
            controls = [c for c in controls if c.level is not None and c.level.code == code]
        if requirement is not None:
            req = normalise_requirement_id(requirement, allow_bare_number=True)
            if req is None:
                raise ChecklistError(f"{requirement!r} is not a requirement id")
            controls = [c for c in controls if c.requirement_id == req]
        kept = list(controls)
        kept_ids = {c.requirement_id for c in kept}
        return ControlGrid(
            kept,
            {k: v for k, v in self.requirements.items() if k in kept_ids},
            self.actors,
            source=self.source,
            sheet=self.sheet,
            profile=self.profile,
            source_sha256=self.source_sha256,
            warnings=self.warnings,
            layout=self.layout,
        )

    def records(self) -> list[dict[str, Any]]:
        """One flat dict per control: the rows of the DataFrame and of the exports."""
        rows = []
        for control in self.controls:
            req = self.requirements[control.requirement_id]
            row: dict[str, Any] = {
                "ref": control.ref,
                "requirement_id": control.requirement_id,
                "chapter": req.chapter,
                "requirement_text": req.text,
            }
            for actor in self.actors:
                row[actor.value] = req.applicability.get(actor)
            row.update(
                phase=control.phase.value,
                index=control.index,
                control=control.text,
                level=control.level.code if control.level else None,
                level_label=control.level.label if control.level else None,
                expected_format=control.expected_format,
                cell=control.cell,
            )
            row.update(control.extra)
            rows.append(row)
        return rows

    def to_dataframe(self) -> pd.DataFrame:
        columns = [
            "ref",
            "requirement_id",
            "chapter",
            "requirement_text",
            *(a.value for a in self.actors),
            "phase",
            "index",
            "control",
            "level",
            "level_label",
            "expected_format",
            "cell",
        ]
        extra = [h for h in (self.layout.extra.values() if self.layout else ()) if h not in columns]
        return pd.DataFrame(self.records(), columns=[*columns, *extra])

    def summary(self) -> dict[str, Any]:
        """Counts an auditor checks first: controls per phase, level and actor."""
        per_actor = {
            a.value: sum(1 for r in self.requirements.values() if r.applicability.get(a))
            for a in self.actors
        }
        return {
            "source": str(self.source) if self.source else None,
            "sheet": self.sheet,
            "profile": self.profile,
            "requirements": len(self.requirements),
            "controls": len(self.controls),
            "by_phase": dict(Counter(c.phase.value for c in self.controls)),
            "by_level": dict(
                sorted(Counter(c.level.code if c.level else "-" for c in self.controls).items())
            ),
            "requirements_by_actor": per_actor,
            "warnings": list(self.warnings),
        }

    def to_json_record(self) -> dict[str, Any]:
        return {
            "schema_version": JSON_SCHEMA_VERSION,
            "source": str(self.source) if self.source else None,
            "source_sha256": self.source_sha256,
            "sheet": self.sheet,
            "profile": self.profile,
            "actors": [a.value for a in self.actors],
            "requirements": [
                {
                    **{k: v for k, v in asdict(r).items() if k != "applicability"},
                    "applicability": {a.value: v for a, v in r.applicability.items()},
                }
                for r in sorted(
                    self.requirements.values(), key=lambda r: requirement_sort_key(r.id)
                )
            ],
            "controls": self.records(),
            "warnings": list(self.warnings),
        }

    def export(self, path: str | Path, fmt: str | None = None) -> Path:
        """Write the grid as CSV, JSON or XLSX (chosen by `fmt` or the file suffix), atomically."""
        target = Path(path)
        kind = (fmt or target.suffix.lstrip(".")).lower()
        if kind == "csv":
            return write_atomic(target, self.to_dataframe().to_csv(index=False))
        if kind == "json":
            text = json.dumps(self.to_json_record(), ensure_ascii=False, indent=2)
            return write_atomic(target, text + "\n")
        if kind == "xlsx":
            tmp, final = atomic_target(target)
            try:
                self._write_xlsx(tmp)
                tmp.replace(final)
            finally:
                tmp.unlink(missing_ok=True)
            return final
        raise ChecklistError(f"unknown export format {kind!r} for {target} (csv, json or xlsx)")

    def _write_xlsx(self, path: Path) -> None:
        """One sheet `Contrôles`: a header row, then one row per control. Every value is
        written by `set_text` (workbook text is data: a string cell, never a formula)."""
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Contrôles")
        frame = self.to_dataframe()

        def row(values: Iterable[Any]) -> list[WriteOnlyCell]:
            return [set_text(WriteOnlyCell(sheet), _plain(v)) for v in values]

        sheet.append(row(frame.columns))
        for values in frame.itertuples(index=False, name=None):
            sheet.append(row(values))
        workbook.save(path)


def _plain(value: Any) -> Any:
    """A DataFrame value as a Python value for a cell (NaN/None blank, numpy scalars unboxed)."""
    if value is None:
        return None
    if isinstance(value, float) and value != value:
        return None
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, str) else value


def _parse_phase(value: Phase | str) -> Phase:
    if isinstance(value, Phase):
        return value
    folded = fold(value).upper()
    for phase in Phase:
        if folded == phase.value:
            return phase
    raise ChecklistError(f"unknown phase {value!r} (AVANT, PENDANT or APRES)")


# --------------------------------------------------------------------------- reading


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

XLSX_MAX_MEMBERS = 10_000
XLSX_MAX_MEMBER_BYTES = 256 * 1024 * 1024
XLSX_MAX_TOTAL_BYTES = 512 * 1024 * 1024
XLSX_MAX_RATIO = 300.0
"""Largest uncompressed/compressed ratio of one part, once it is over `XLSX_RATIO_FLOOR`
(real sheets compress 5-50 times; a deflate bomb about 1,000 times)."""
XLSX_RATIO_FLOOR = 1024 * 1024


def check_xlsx_archive(path: Path, archive: zipfile.ZipFile) -> None:
    """Refuse a zip bomb before openpyxl decompresses anything (a 3 MB xlsx took 3.3 GB):
    member count, declared uncompressed sizes (zipfile enforces them while reading) and
    compression ratios. Raises `ChecklistError` naming the part."""
    infos = archive.infolist()
    if len(infos) > XLSX_MAX_MEMBERS:
        raise ChecklistError(
            f"{path}: refused, {len(infos)} parts in the workbook zip (maximum {XLSX_MAX_MEMBERS})"
        )
    total = 0
    for info in infos:
        if info.file_size > XLSX_MAX_MEMBER_BYTES:
            raise ChecklistError(
                f"{path}: refused, part {info.filename} uncompresses to {info.file_size} bytes "
                f"(maximum {XLSX_MAX_MEMBER_BYTES})"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= XLSX_RATIO_FLOOR and ratio > XLSX_MAX_RATIO:
            raise ChecklistError(
                f"{path}: refused, part {info.filename} is compressed {ratio:.0f}:1 "
                f"(maximum {XLSX_MAX_RATIO:.0f}:1): a decompression bomb"
            )
        total += info.file_size
    if total > XLSX_MAX_TOTAL_BYTES:
        raise ChecklistError(
            f"{path}: refused, the workbook uncompresses to {total} bytes "
            f"(maximum {XLSX_MAX_TOTAL_BYTES})"
        )


def _open_workbook(path: Path) -> Any:
    """Open an xlsx read-only, turning every way it can be unusable into one sentence."""
    if not path.exists():
        raise ChecklistError(describe_missing(path))
    if path.is_dir():
        raise ChecklistError(f"{path}: is a folder, not an .xlsx workbook")
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ChecklistError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not head:
        raise ChecklistError(f"{path}: the file is empty")
    if head.startswith(_OLE_MAGIC):
        raise ChecklistError(
            f"{path}: this is a password-protected (encrypted) workbook or an old .xls file; "
            "remove the password or save it as .xlsx in Excel, then retry"
        )
    if not head.startswith(b"PK"):
        raise ChecklistError(
            f"{path}: not an .xlsx workbook (the file is not an Office Open XML zip)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            check_xlsx_archive(path, archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ChecklistError(f"{path}: the workbook is corrupted ({exc})") from exc
    if "xl/workbook.xml" not in names:
        raise ChecklistError(f"{path}: a zip file but not an .xlsx workbook (no xl/workbook.xml)")
    try:
        return load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as exc:  # openpyxl raises many types for damaged parts
        raise ChecklistError(
            f"{path}: the workbook is corrupted and cannot be opened ({type(exc).__name__}: {exc})"
        ) from exc


def load_checkpoints(
    path: str | Path,
    sheet: str | None = None,
    profile: LayoutProfile | str | Path = DEFAULT_PROFILE,
) -> ControlGrid:
    """Read a checkpoint workbook into a `ControlGrid`.

    Without `sheet`, the first sheet whose header is recognised is used (other sheets,
    such as a cover or a change log, are skipped). Raises `ChecklistError` listing every
    problem found, each with its sheet and cell.
    """
    source = Path(path)
    layout_profile = profile if isinstance(profile, LayoutProfile) else LayoutProfile.load(profile)
    workbook = _open_workbook(source)
    try:
        names = list(workbook.sheetnames)
        if sheet is not None and sheet not in names:
            raise ChecklistError(
                f"{source}: no sheet named {sheet!r} (sheets: {', '.join(names) or 'none'})"
            )
        candidates = [sheet] if sheet is not None else names
        reasons: list[str] = []
        for name in candidates:
            try:
                rows = list(workbook[name].iter_rows(values_only=True))
            except Exception as exc:
                raise ChecklistError(
                    f"{source}: sheet {name!r} cannot be read ({type(exc).__name__}: {exc})"
                ) from exc
            if not any(any(v is not None for v in row) for row in rows):
                reasons.append(f"{name}: the sheet is empty")
                continue
            layout = _find_layout(rows, name, layout_profile, reasons)
            if layout is None:
                continue
            formulas = _formula_cells(workbook, source, name)
            grid = _parse_rows(rows, name, layout, layout_profile, source, formulas)
            return grid
        if sheet is not None:
            raise ChecklistError(f"{source}: sheet {sheet!r} cannot be used", reasons)
        raise ChecklistError(
            f"{source}: no sheet has a checkpoint header ({layout_profile.name} layout)", reasons
        )
    finally:
        workbook.close()


_NS = rb"(?:[A-Za-z_][\w.-]*:)?"
_FORMULA_TAG = re.compile(rb"<" + _NS + rb"f([\s/>])")
_SHEET_DATA = re.compile(rb"<" + _NS + rb"sheetData[\s>]")
_SHEET_DATA_END = re.compile(rb"</" + _NS + rb"sheetData>")
_CELL_BEFORE = re.compile(rb"<" + _NS + rb"c\s([^<>]*)>\s*$")
_CELL_REF = re.compile(rb'(?:^|\s)r\s*=\s*"([A-Z]{1,3})([1-9][0-9]{0,6})"')
_F_ATTR = re.compile(rb'(?:^|\s)(t|si|ref)\s*=\s*"([^"]*)"')
_F_END = re.compile(rb"</" + _NS + rb"f>")


def _formula_cells(workbook: Any, source: Path, sheet: str) -> dict[tuple[int, int], str]:
    """The formulas of a sheet, by 0-based (row, column): their text, `=` included.

    The first read (read-only, cached values) cannot tell a formula from a value, so
    the formulas come from the sheet's XML: a search for formula elements, which finds
    none in most workbooks (the cost is one decompression and one regex scan). Should
    the XML be laid out in a way this scan does not know (no cell reference, another
    openpyxl's internals), the sheet is read again by openpyxl with formulas kept:
    slower, never blind.
    """
    part = getattr(workbook[sheet], "_worksheet_path", None)
    archive = getattr(workbook, "_archive", None)
    if part is not None and archive is not None:
        try:
            found = _formulas_in_xml(archive.read(part))
        except (KeyError, OSError, zipfile.BadZipFile):
            found = None
        if found is not None:
            return found
    return _formulas_by_openpyxl(source, sheet)


def _formulas_in_xml(xml: bytes) -> dict[tuple[int, int], str] | None:
    """Formula cells of a worksheet part, or None when the layout is not the usual one."""
    from html import unescape

    from openpyxl.formula.translate import Translator
    from openpyxl.utils import column_index_from_string

    begin = _SHEET_DATA.search(xml)
    if begin is None:
        return {}
    end = _SHEET_DATA_END.search(xml, begin.end())
    region = xml[begin.end() : end.start() if end else len(xml)]
    formulas: dict[tuple[int, int], str] = {}
    shared: dict[str, tuple[str, str]] = {}
    pending: list[tuple[tuple[int, int], str, str]] = []
    for match in _FORMULA_TAG.finditer(region):
        cell = _CELL_BEFORE.search(region, max(0, match.start() - 1024), match.start())
        ref = _CELL_REF.search(cell.group(1)) if cell else None
        if ref is None:
            return None  # a cell without `r`, or an <f> outside a cell: let openpyxl read it
        coordinate = ref.group(1).decode() + ref.group(2).decode()
        key = (int(ref.group(2)) - 1, column_index_from_string(ref.group(1).decode()) - 1)
        tag_end = region.find(b">", match.start())
        attrs = dict(
            (k.decode(), v.decode()) for k, v in _F_ATTR.findall(region[match.end() - 1 : tag_end])
        )
        if region[tag_end - 1 : tag_end] == b"/":
            text = ""
        else:
            closing = _F_END.search(region, tag_end)
            if closing is None:
                return None
            text = unescape(region[tag_end + 1 : closing.start()].decode("utf-8", "replace"))
        if attrs.get("t") == "shared" and "si" in attrs:
            if text:
                shared[attrs["si"]] = ("=" + text, coordinate)
            else:
                pending.append((key, attrs["si"], coordinate))
                continue
        formulas[key] = "=" + text
    for key, si, coordinate in pending:
        master = shared.get(si)
        if master is None:
            return None
        try:
            formulas[key] = Translator(master[0], origin=master[1]).translate_formula(coordinate)
        except Exception:
            formulas[key] = master[0]
    return formulas


def _formulas_by_openpyxl(source: Path, sheet: str) -> dict[tuple[int, int], str]:
    formulas: dict[tuple[int, int], str] = {}
    try:
        again = load_workbook(source, read_only=True, data_only=False, keep_links=False)
    except Exception as exc:  # opened a moment ago: damaged in between
        raise ChecklistError(f"{source}: cannot read its formulas ({exc})") from exc
    try:
        for row in again[sheet].iter_rows():
            for cell in row:
                if getattr(cell, "data_type", None) == "f":
                    value = cell.value
                    text = str(getattr(value, "text", value) or "")
                    formulas[(cell.row - 1, cell.column - 1)] = (
                        text if text.startswith("=") else f"={text}"
                    )
    finally:
        again.close()
    return formulas


def _apply_formulas(
    rows: list[tuple[Any, ...]],
    formulas: dict[tuple[int, int], str],
    layout: ColumnLayout,
    problems: _Problems,
) -> list[tuple[Any, ...]]:
    """Rows where each formula cell holds its text (text columns) or its cached value
    (key columns: requirement id, applicability, level), with a warning or an error."""
    if not formulas:
        return rows
    key_columns = {layout.fields["requirement_id"]: "requirement id"}
    key_columns.update({col: f"applicability ({a.value})" for a, col in layout.actors.items()})
    for phase, cols in layout.phases.items():
        if "level" in cols:
            key_columns[cols["level"]] = f"level ({phase.value})"
    patched = list(rows)
    for (r, c), formula in sorted(formulas.items()):
        if r < layout.data_row or r >= len(rows):
            continue  # header and title rows: their cached text is only matched
        where = problems.at(r + 1, c)
        row = list(patched[r]) + [None] * max(0, c + 1 - len(patched[r]))
        cached = row[c]
        if c in key_columns:
            if cached is None or not str(cached).strip():
                problems.errors.append(
                    f"{where}: the {key_columns[c]} is a formula ({formula}) without a "
                    "cached value: type the value, or open and save the workbook in Excel"
                )
            else:
                problems.warnings.append(
                    f"{where}: the {key_columns[c]} is a formula ({formula}); its cached "
                    f"value {_clean(cached)!r} is used"
                )
            continue
        problems.warnings.append(f"{where}: formula read as its text: {formula}")
        row[c] = formula
        patched[r] = tuple(row)
    return patched


def _find_layout(
    rows: list[tuple[Any, ...]], sheet: str, profile: LayoutProfile, reasons: list[str]
) -> ColumnLayout | None:
    """Locate the header row by the requirement-id header text, then map every column."""
    req_synonyms = profile.fields["requirement_id"]
    header_row = None
    for r, row in enumerate(rows[: profile.header_search_rows]):
        if any(
            isinstance(v, str) and _matches(fold(v), req_synonyms) == 2
            for v in row
            if v is not None
        ):
            header_row = r
            break
    if header_row is None:
        reasons.append(
            f"{sheet}: no header row with a requirement-id column "
            f"(looked for e.g. {profile.fields['requirement_id'][0]!r} "
            f"in the first {profile.header_search_rows} rows)"
        )
        return None

    top = [fold(str(v)) if v is not None else "" for v in rows[header_row]]
    below_raw = rows[header_row + 1] if header_row + 1 < len(rows) else ()
    below = [fold(str(v)) if v is not None else "" for v in below_raw]
    below += [""] * (len(top) - len(below))
    top += [""] * (len(below) - len(top))
    sub_synonyms = {
        s for cols in profile.phase_columns.values() for part in cols.values() for s in part
    }
    two_rows = any(b and _matches(b, tuple(sub_synonyms)) for b in below)

    fields: dict[str, int] = {}
    actors: dict[Actor, int] = {}
    phases: dict[Phase, dict[str, int]] = {}
    extra: dict[int, str] = {}
    current_group: Phase | None = None
    problems: list[str] = []

    def place(kind: str, key: Any, col: int, header: str) -> None:
        target: dict[Any, int]
        if kind == "field":
            target = fields
        elif kind == "actor":
            target = actors
        else:
            phase, key = key
            target = phases.setdefault(phase, {})
        if key in target:
            problems.append(
                f"{sheet}!{_letter(col)}{header_row + 1}: header {header!r} duplicates the column "
                f"{_letter(target[key])}"
            )
            return
        target[key] = col

    for col, head in enumerate(top):
        sub = below[col] if two_rows else ""
        raw_head = str(rows[header_row][col]) if col < len(rows[header_row]) else ""
        if head:
            current_group = None
            group = _best(head, profile.phase_groups)
            if group is not None:
                current_group = group
                part = _best(sub, profile.phase_columns[group]) if sub else "control"
                place("phase", (group, part or "control"), col, raw_head)
                continue
            matched = _best(head, profile.fields)
            if matched is not None:
                place("field", matched, col, raw_head)
                continue
            actor = _best(head, profile.actors)
            if actor is not None:
                place("actor", actor, col, raw_head)
                continue
            flat = _flat_phase_column(head, profile)
            if flat is not None:
                place("phase", flat, col, raw_head)
                continue
            extra[col] = " ".join(raw_head.split())
        elif sub and current_group is not None:
            part = _best(sub, profile.phase_columns[current_group])
            if part is not None:
                place("phase", (current_group, part), col, raw_head)
            else:
                extra[col] = " ".join(str(below_raw[col]).split())
        else:
            current_group = None

    for name in sorted(profile.required_fields - set(fields)):
        problems.append(
            f"{sheet}: required column {name!r} not found in header row {header_row + 1}"
        )
    for phase, parts in phases.items():
        if "control" not in parts:
            problems.append(
                f"{sheet}: phase {phase.value} has level/format columns but no control column"
            )
    if not any("control" in parts for parts in phases.values()):
        problems.append(f"{sheet}: no control column (Contrôles AVANT / PENDANT / APRÈS) found")
    if problems:
        raise ChecklistError(f"sheet {sheet!r} has an unusable header", problems)
    data_row = header_row + (2 if two_rows else 1)
    return ColumnLayout(
        header_row=header_row,
        data_row=data_row,
        fields=fields,
        actors=actors,
        phases=phases,
        extra=extra,
    )


def _best(header: str, table: dict[Any, tuple[str, ...]]) -> Any:
    """The key whose synonyms match the header best (exact beats prefix); None if none."""
    best_key, best_score = None, 0
    for key, synonyms in table.items():
        score = _matches(header, synonyms)
        if score > best_score:
            best_key, best_score = key, score
            if score == 2:
                break
    return best_key


def _flat_phase_column(header: str, profile: LayoutProfile) -> tuple[Phase, str] | None:
    """One-row layouts: `Niveau APRÈS`, `Format Pendant`... named with their phase."""
    for phase, parts in profile.phase_columns.items():
        for part, synonyms in parts.items():
            phase_specific = tuple(s for s in synonyms if fold(phase.value) in s)
            if phase_specific and _matches(header, phase_specific) == 2:
                return phase, part
    return None


def _parse_rows(
    rows: list[tuple[Any, ...]],
    sheet: str,
    layout: ColumnLayout,
    profile: LayoutProfile,
    source: Path,
    formulas: dict[tuple[int, int], str] | None = None,
) -> ControlGrid:
    problems = _Problems(sheet)
    rows = _apply_formulas(rows, formulas or {}, layout, problems)
    for col, header in layout.extra.items():
        problems.warnings.append(
            f"{problems.at(layout.header_row + 1, col)}: unknown column {header!r} "
            "kept as extra data"
        )
    req_col = layout.fields["requirement_id"]
    field_cols = {k: v for k, v in layout.fields.items() if k != "requirement_id"}
    phase_cols = [(phase, cols) for phase, cols in layout.phases.items()]
    level_re = profile.level_pattern

    requirements: dict[str, Requirement] = {}
    controls: list[Control] = []
    seen_text: dict[tuple[str, Phase, str], str] = {}
    counters: Counter[tuple[str, Phase]] = Counter()
    current: str | None = None

    def cell(row: tuple[Any, ...], col: int) -> Any:
        return row[col] if col < len(row) else None

    for r in range(layout.data_row, len(rows)):
        row = rows[r]
        excel_row = r + 1
        if not any(v is not None and str(v).strip() for v in row):
            continue
        raw_id = cell(row, req_col)
        if raw_id is not None and str(raw_id).strip():
            req_id = normalise_requirement_id(str(raw_id))
            if req_id is None:
                problems.errors.append(
                    f"{problems.at(excel_row, req_col)}: {_clean(raw_id)!r} is not a "
                    "requirement id "
                    "(expected e.g. 'EXI EDC PSC 103')"
                )
                current = None
                continue
            if req_id in requirements:
                first = requirements[req_id].cell
                problems.errors.append(
                    f"{problems.at(excel_row, req_col)}: requirement {req_id} is written again "
                    f"(first at {first})"
                )
            current = req_id
            applicability: dict[Actor, bool | None] = {}
            for actor, col in layout.actors.items():
                applicability[actor] = _yes_no(cell(row, col), profile, problems, excel_row, col)
            values = {k: _clean(cell(row, c)) for k, c in field_cols.items()}
            requirements.setdefault(
                req_id,
                Requirement(
                    id=req_id,
                    chapter=values.get("chapter"),
                    text=values.get("requirement_text"),
                    applicability=applicability,
                    source_note=values.get("source_note"),
                    cell=problems.at(excel_row, req_col),
                ),
            )
        else:
            for col in layout.actors.values():
                if cell(row, col) is not None and str(cell(row, col)).strip():
                    _yes_no(cell(row, col), profile, problems, excel_row, col)

        for phase, cols in phase_cols:
            control_col = cols["control"]
            raw_control = cell(row, control_col)
            texts = _lines(raw_control)
            if not texts:
                level_col = cols.get("level")
                if level_col is not None and _clean(cell(row, level_col)):
                    problems.errors.append(
                        f"{problems.at(excel_row, level_col)}: a level without a control "
                        f"in {problems.at(excel_row, control_col)}"
                    )
                continue
            if current is None:
                problems.errors.append(
                    f"{problems.at(excel_row, control_col)}: control without a requirement "
                    f"(no requirement id in {problems.at(excel_row, req_col)} or above)"
                )
                continue
            level_lines = _lines(cell(row, cols["level"])) if "level" in cols else []
            format_lines = _lines(cell(row, cols["format"])) if "format" in cols else []
            split = _split_cell(texts, level_lines, format_lines, level_re)
            extras = tuple(
                (header, text)
                for col, header in layout.extra.items()
                if (text := _clean(cell(row, col))) is not None
            )
            for text, level_text, format_text in split:
                level = _level(level_text, level_re)
                if level_text and level is None:
                    problems.errors.append(
                        f"{problems.at(excel_row, cols['level'])}: unknown level {level_text!r} "
                        "(expected N1, N2, N3 or N4 followed by its label)"
                    )
                key = (current, phase, fold(text))
                if key in seen_text:
                    problems.errors.append(
                        f"{problems.at(excel_row, control_col)}: duplicated control of {current} "
                        f"({phase.value}), same text as {seen_text[key]}"
                    )
                    continue
                seen_text[key] = problems.at(excel_row, control_col)
                counters[(current, phase)] += 1
                index = counters[(current, phase)]
                controls.append(
                    Control(
                        ref=f"{current}/{phase.value}/{index}",
                        requirement_id=current,
                        phase=phase,
                        index=index,
                        text=text,
                        level=level,
                        expected_format=format_text,
                        cell=problems.at(excel_row, control_col),
                        row=excel_row,
                        extra=extras,
                    )
                )

    for actor in layout.actors:
        blanks = [r.id for r in requirements.values() if r.applicability.get(actor) is None]
        if blanks:
            problems.warnings.append(
                f"{sheet}: applicability of {actor.value} left blank for {len(blanks)} "
                f"requirement(s) ({', '.join(blanks[:5])}{'...' if len(blanks) > 5 else ''}); "
                "treated as not applicable"
            )
    if not requirements and not problems.errors:
        problems.errors.append(f"{sheet}: the header is there but no requirement rows follow it")
    if problems.errors:
        raise ChecklistError(
            f"{source}: {len(problems.errors)} problem(s) in sheet {sheet!r}", problems.errors
        )
    return ControlGrid(
        controls,
        requirements,
        [a for a in Actor if a in layout.actors],
        source=source,
        sheet=sheet,
        profile=profile.name,
        source_sha256=sha256_file(source),
        warnings=problems.warnings,
        layout=layout,
    )


def _yes_no(
    value: Any, profile: LayoutProfile, problems: _Problems, row: int, col: int
) -> bool | None:
    text = _clean(value)
    if text is None:
        return None
    folded = fold(text)
    if folded in profile.yes_values:
        return True
    if folded in profile.no_values:
        return False
    problems.errors.append(f"{problems.at(row, col)}: {text!r} is not OUI or NON")
    return None


def _level(text: str | None, pattern: re.Pattern[str]) -> Level | None:
    if not text:
        return None
    match = pattern.match(text)
    return Level(code=f"N{match.group(1)}", label=text) if match else None


def _split_cell(
    texts: list[str], levels: list[str], formats: list[str], level_re: re.Pattern[str]
) -> list[tuple[str, str | None, str | None]]:
    """Split a cell holding several controls, one per line, when the level cell agrees.

    ANS writes some requirements' controls in one cell, one per line, with one level
    per line beside them (102 in v0.1). Split only when the counts match; otherwise the
    cell is one control whose line breaks are just wrapping.
    """
    level_tokens = [line for line in levels if level_re.match(line)]
    if len(texts) > 1 and len(level_tokens) == len(texts) == len(levels):
        fmt: list[str | None] = list(formats) if len(formats) == len(texts) else [None] * len(texts)
        if fmt[0] is None and formats:
            fmt[0] = " ".join(formats)
        return [(t, lv, f) for t, lv, f in zip(texts, levels, fmt, strict=True)]
    return [(" ".join(texts), " ".join(levels) or None, " ".join(formats) or None)]
