"""Document de conformité section detection (Markdown and .docx), profile as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditlib.errors import AuditlibError
from auditlib.evidence.conformite import (
    DocumentReadError,
    check_sections,
    load_document_profile,
    markdown_blocks,
    read_blocks,
)
from auditlib.evidence.model import SectionState


def states(text: str) -> dict[str, SectionState]:
    profile = load_document_profile()
    return {s.title: st for s, st, _ in check_sections(markdown_blocks(text), profile)}


def test_numbering_aliases_setext_and_subsections() -> None:
    text = """
Document
========

I - Architecture technique du service
-------------------------------------

### 1.1 Schéma
Le schéma est en annexe.

## 2.1 - Gestion des mises à jour
Outils d'analyse des dépendances.

## Chiffrement
<!-- à remplir -->
```
# not a heading inside a fence
```
"""
    assert states(text) == {
        "Architecture": SectionState.PRESENT,  # content in its sub-section counts
        "Sécurité": SectionState.PRESENT,  # alias "Chiffrement"; fenced text counts
        "Mises à jour": SectionState.PRESENT,
    }


def test_placeholders_and_empty_sections() -> None:
    text = "# Architecture\nTBD\n# Sécurité\n...\n# Mises a jour\n## Sous-partie\n"
    assert states(text) == {
        "Architecture": SectionState.EMPTY,
        "Sécurité": SectionState.EMPTY,
        "Mises à jour": SectionState.EMPTY,
    }


def test_a_word_that_only_starts_like_a_section_does_not_match() -> None:
    assert states("# Architectures diverses\ntext\n")["Architecture"] is SectionState.MISSING


def test_a_filled_duplicate_heading_wins_over_an_empty_one() -> None:
    text = "# Architecture\n\n# Architecture\nDécrite ici.\n"
    assert states(text)["Architecture"] is SectionState.PRESENT


def test_custom_profile_is_data(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: x\nsections:\n  - title: Hébergement\n", encoding="utf-8")
    profile = load_document_profile(path)
    result = check_sections(markdown_blocks("# hebergement\nHDS\n"), profile)
    assert [(s.title, st) for s, st, _ in result] == [("Hébergement", SectionState.PRESENT)]
    path.write_text("name: x\nsections: []\n", encoding="utf-8")
    with pytest.raises(AuditlibError, match="invalid"):
        load_document_profile(path)


def test_unsupported_and_broken_inputs() -> None:
    with pytest.raises(DocumentReadError, match="non pris en charge"):
        read_blocks("doc.odt", b"x")
    with pytest.raises(DocumentReadError, match="illisible"):
        read_blocks("doc.docx", b"garbage")
