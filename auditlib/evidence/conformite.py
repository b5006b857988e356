"""Checking a provider's "Document de conformité": every expected section present and filled in.

Accepts `.docx` (python-docx) and Markdown. The expected sections are data
(`auditlib/profiles/document-conformite.yaml`), not code.

XML safety: a .docx is a zip of XML parts written by the audited party. Before
python-docx sees it, the zip goes through the same size/ratio/member checks as
evidence zips, and every XML part is parsed once with `defusedxml` with DTDs
forbidden, so entity tricks (XXE, billion laughs) are refused outright. python-docx
itself parses with lxml and `resolve_entities=False` (docx.oxml.parser), a second
line of defence.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditlib.errors import AuditlibError, YamlInputError
from auditlib.evidence.archive import MiB, ZipLimits, check_zip
from auditlib.evidence.model import SectionState
from auditlib.requirements import fold
from auditlib.resources import profile_path
from auditlib.yamlio import load_yaml_file

PROFILE_PATH = profile_path("document-conformite.yaml")
DOCX_LIMITS = ZipLimits(
    max_members=1000,
    max_member_bytes=50 * MiB,
    max_total_bytes=200 * MiB,
    max_ratio=200.0,
    ratio_floor_bytes=1 * MiB,
)
MARKDOWN_SUFFIXES = {".md", ".markdown"}
DOCX_SUFFIXES = {".docx"}


class DocumentReadError(AuditlibError):
    """A document cannot be read safely; the message is French, report-ready."""


class SectionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    title: Annotated[str, Field(min_length=1)]
    aliases: list[str] = []
    requirements: list[str] = []


class DocumentProfile(BaseModel):
    """The sections a document de conformité must contain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    sections: Annotated[list[SectionSpec], Field(min_length=1)]
    placeholders: list[str] = []


def load_document_profile(path: Path | None = None) -> DocumentProfile:
    """Load a profile (the packaged one by default); raises `AuditlibError` naming the file."""
    if path is None:
        return _default_profile()
    return _load_profile(path)


@cache
def _default_profile() -> DocumentProfile:
    return _load_profile(PROFILE_PATH)


def _load_profile(path: Path) -> DocumentProfile:
    try:
        return DocumentProfile.model_validate(load_yaml_file(path))
    except YamlInputError as exc:
        raise AuditlibError(f"document profile unusable: {exc}") from None
    except ValidationError as exc:
        raise AuditlibError(f"document profile {path} is invalid: {exc}") from None


@dataclass(frozen=True)
class Block:
    """A heading (level set) or a run of body text (level None), in document order."""

    text: str
    level: int | None = None


# --- reading ---------------------------------------------------------------------------------


def read_blocks(name: str, data: bytes) -> list[Block]:
    """Blocks of a .docx or Markdown document; `DocumentReadError` when unreadable."""
    suffix = Path(name).suffix.lower()
    if suffix in DOCX_SUFFIXES:
        return _docx_blocks(data)
    if suffix in MARKDOWN_SUFFIXES:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DocumentReadError("le fichier Markdown n'est pas encodé en UTF-8") from None
        return markdown_blocks(text)
    raise DocumentReadError(f"format « {suffix or name} » non pris en charge")


def is_supported(name: str) -> bool:
    return Path(name).suffix.lower() in DOCX_SUFFIXES | MARKDOWN_SUFFIXES


def _screen_docx(data: bytes) -> None:
    """Zip limits, then every XML part through defusedxml with DTDs forbidden."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError):
        raise DocumentReadError("fichier .docx illisible (archive invalide)") from None
    with archive:
        refusals = check_zip(archive, DOCX_LIMITS)
        if refusals:
            first = refusals[0]
            raise DocumentReadError(
                f"fichier .docx refusé : {first.detail} ({first.member or 'archive'})"
            )
        for info in archive.infolist():
            if not info.filename.endswith((".xml", ".rels")):
                continue
            try:
                part = archive.read(info)
                fromstring(part, forbid_dtd=True, forbid_entities=True, forbid_external=True)
            except DefusedXmlException:
                raise DocumentReadError(
                    f"fichier .docx refusé : la partie {info.filename} déclare une DTD ou des "
                    "entités XML (risque XXE)"
                ) from None
            except ParseError:
                raise DocumentReadError(
                    f"fichier .docx illisible : XML invalide dans {info.filename}"
                ) from None
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError):
                raise DocumentReadError(
                    f"fichier .docx illisible : partie {info.filename} endommagée"
                ) from None


_HEADING_STYLE_RE = re.compile(r"^(?:heading|titre)\s*(\d)$", re.IGNORECASE)


def _docx_blocks(data: bytes) -> list[Block]:
    _screen_docx(data)
    import docx
    from docx.oxml.ns import qn
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises many types on broken packages
        raise DocumentReadError(f"fichier .docx illisible ({type(exc).__name__})") from None
    blocks: list[Block] = []
    body = document.element.body
    for child in body.iterchildren():
        if child.tag == qn("w:p"):
            para = Paragraph(child, document)
            text = para.text.strip()
            if not text:
                continue
            level = _docx_heading_level(para, child)
            blocks.append(Block(text, level))
        elif child.tag == qn("w:tbl"):
            table = Table(child, document)
            cells = [cell.text.strip() for row in table.rows for cell in row.cells]
            text = " ".join(c for c in cells if c)
            if text:
                blocks.append(Block(text))
    return blocks


def _docx_heading_level(para: object, element: object) -> int | None:
    style = getattr(para, "style", None)
    name = getattr(style, "name", None) or ""
    if name.lower() in ("title", "titre"):
        return 1
    match = _HEADING_STYLE_RE.match(name.strip())
    if match:
        return int(match.group(1))
    outline = element.xpath("./w:pPr/w:outlineLvl/@w:val")  # type: ignore[attr-defined]
    if outline and str(outline[0]).isdigit() and int(outline[0]) < 9:
        return int(outline[0]) + 1
    return None


_SETEXT_RE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE_RE = re.compile(r"^ {0,3}(```|~~~)")


def _strip_comments(text: str) -> str:
    """Remove `<!-- ... -->` comments in one pass (`str.find`, linear).

    The former `<!--.*?-->` regex with DOTALL rescanned the rest of the text from every
    unclosed `<!--`: quadratic (20,000 of them took 15 s). An unclosed comment runs to
    the end of the text, as in CommonMark's HTML blocks.
    """
    parts: list[str] = []
    position = 0
    while True:
        start = text.find("<!--", position)
        if start < 0:
            parts.append(text[position:])
            return "".join(parts)
        parts.append(text[position:start])
        end = text.find("-->", start + 4)
        if end < 0:
            return "".join(parts)
        position = end + 3


def _atx_heading(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading (`## Title ##`), or None; linear in the line.

    Hand-written rather than `^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`,
    whose lazy group backtracked over every run of blanks (quadratic: a 65 KB line of
    spaces took 40 s).
    """
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3:
        return None
    rest = line[indent:]
    level = len(rest) - len(rest.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    rest = rest[level:]
    if rest and rest[0] not in " \t":
        return None
    body = rest.strip(" \t")
    # An optional closing sequence: blanks then only `#` (or a body made of `#` alone).
    closed = body.rstrip("#")
    if not closed:
        body = ""
    elif closed != body and closed[-1] in " \t":
        body = closed.rstrip(" \t")
    return level, body


def markdown_blocks(text: str) -> list[Block]:
    """Headings (ATX `#` and setext underlines) and text of a Markdown document."""
    text = _strip_comments(text)
    blocks: list[Block] = []
    in_fence = False
    pending: str | None = None  # a text line that a setext underline may turn into a heading
    for line in text.splitlines():
        if _FENCE_RE.match(line):
            in_fence = not in_fence
            if pending is not None:
                blocks.append(Block(pending))
                pending = None
            continue
        if in_fence:
            if line.strip():
                blocks.append(Block(line.strip()))
            continue
        setext = _SETEXT_RE.match(line)
        if setext and pending is not None:
            blocks.append(Block(pending, 1 if setext.group(1)[0] == "=" else 2))
            pending = None
            continue
        if pending is not None:
            blocks.append(Block(pending))
            pending = None
        atx = _atx_heading(line)
        if atx:
            blocks.append(Block(atx[1], atx[0]))
        elif line.strip():
            pending = line.strip()
    if pending is not None:
        blocks.append(Block(pending))
    return blocks


# --- judging ---------------------------------------------------------------------------------

_NUMBERING_RE = re.compile(
    r"^(?:(?:\d+(?:\.\d+)*|[ivxlcdm]{1,6}|[a-z])\s*[.)\-–—:]+\s*|\d+(?:\.\d+)*\s+|[-–—:]\s*)+"
)


def _normalise_heading(text: str) -> str:
    folded = fold(text).replace("’", "'")
    return _NUMBERING_RE.sub("", folded).strip()


def _matches(heading: str, names: list[str]) -> bool:
    for name in names:
        wanted = _normalise_heading(name)
        if heading == wanted or re.match(re.escape(wanted) + r"\b", heading):
            return True
    return False


def check_sections(
    blocks: list[Block], profile: DocumentProfile
) -> list[tuple[SectionSpec, SectionState, str | None]]:
    """For each expected section: present / empty / missing, and the heading found."""
    placeholders = {fold(p) for p in profile.placeholders}
    results: list[tuple[SectionSpec, SectionState, str | None]] = []
    headings = [(i, b) for i, b in enumerate(blocks) if b.level is not None]
    for spec in profile.sections:
        names = [spec.title, *spec.aliases]
        found: tuple[int, Block] | None = None
        filled = False
        for index, block in headings:
            if not _matches(_normalise_heading(block.text), names):
                continue
            level = block.level or 1
            content = []
            for later in blocks[index + 1 :]:
                if later.level is not None and later.level <= level:
                    break
                if later.level is None:
                    content.append(later.text)
            is_filled = any(fold(t) not in placeholders and re.search(r"\w", t) for t in content)
            if found is None or (is_filled and not filled):
                found, filled = (index, block), is_filled
        if found is None:
            results.append((spec, SectionState.MISSING, None))
        else:
            state = SectionState.PRESENT if filled else SectionState.EMPTY
            results.append((spec, state, found[1].text))
    return results
