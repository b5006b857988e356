"""Vocabulary shared by every module: the four EDC actors and requirement identifiers."""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Actor(StrEnum):
    """The four habilitated actor roles of the EDC PSC (docs/domain.md, "Who does what")."""

    FS_UTILISATEUR = "fs_utilisateur"
    EDITEUR_UTILISATEUR = "editeur_utilisateur"
    FS_PROXY = "fs_proxy"
    EDITEUR_PROXY = "editeur_proxy"

    @property
    def label(self) -> str:
        return ACTOR_LABELS[self]


ACTOR_LABELS: dict[Actor, str] = {
    Actor.FS_UTILISATEUR: "Fournisseur de Service Utilisateur",
    Actor.EDITEUR_UTILISATEUR: "Éditeur de Logiciel Utilisateur",
    Actor.FS_PROXY: "Fournisseur de Service Proxy e-Santé",
    Actor.EDITEUR_PROXY: "Éditeur de Logiciel Proxy e-Santé",
}

# An actor's habilitation relies on these (docs/domain.md: "Habilitations depend on each other").
HABILITATION_DEPENDS_ON: dict[Actor, tuple[Actor, ...]] = {
    Actor.EDITEUR_PROXY: (),
    Actor.EDITEUR_UTILISATEUR: (Actor.EDITEUR_PROXY,),
    Actor.FS_PROXY: (Actor.EDITEUR_PROXY,),
    Actor.FS_UTILISATEUR: (Actor.EDITEUR_UTILISATEUR, Actor.FS_PROXY),
}

_REQ_RE = re.compile(
    r"^\s*EXI[\s_\-.]*EDC[\s_\-.]*PSC[\s_\-.]*(\d{1,4})(?:\s*[\-_.]\s*(\d{1,3}))?\s*$",
    re.IGNORECASE,
)
_BARE_RE = re.compile(r"^\s*(\d{1,4})(?:\s*[\-_.]\s*(\d{1,3}))?\s*$")


def fold(text: str) -> str:
    """Lower-case, strip accents, collapse whitespace: for comparing header and label text."""
    decomposed = unicodedata.normalize("NFKD", text)
    no_accents = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(no_accents.replace("\u00a0", " ").split()).casefold()


def normalise_requirement_id(text: str, allow_bare_number: bool = False) -> str | None:
    """`EXI-EDC-PSC-103`, `exi edc psc 102 - 6`, ... -> `EXI EDC PSC 103`, `EXI EDC PSC 102-6`.

    Returns None when the text is not a requirement id. With `allow_bare_number`,
    `115` alone is accepted (manifests and verdict files written by hand).
    """
    cleaned = " ".join(str(text).replace("\u00a0", " ").split())
    match = _REQ_RE.match(cleaned) or (_BARE_RE.match(cleaned) if allow_bare_number else None)
    if not match:
        return None
    number, sub = match.group(1), match.group(2)
    ident = f"EXI EDC PSC {int(number)}"
    return f"{ident}-{int(sub)}" if sub else ident


def requirement_sort_key(requirement_id: str) -> tuple[int, int]:
    """Numeric order: 102 < 102-6 < 103 < 115."""
    match = _REQ_RE.match(requirement_id)
    if not match:
        return (10**6, 0)
    return (int(match.group(1)), int(match.group(2) or 0))
