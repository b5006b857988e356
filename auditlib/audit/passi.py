"""The dated snapshot of PASSI-qualified firms (`profiles/passi.yaml`) the pentest check
reads: who may perform the EDC penetration test, for which scope, from when to when.

Public ANS material (docs/domain.md): the pentest is made by a PASSI-qualified firm; the
ANSSI publishes the list. The shipped snapshot holds fictitious demo firms only (each
marked `fictitious: true`); the auditor replaces it with the ANSSI list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from auditlib.errors import AuditlibError, YamlInputError
from auditlib.requirements import fold
from auditlib.resources import profile_path
from auditlib.yamlio import load_yaml_file

PASSI_PROFILE = profile_path("passi.yaml")
PENTEST_SCOPE = "tests_intrusion"


class PassiListError(AuditlibError):
    """The PASSI snapshot cannot be used (names the file and the entry)."""


@dataclass(frozen=True)
class PassiFirm:
    name: str
    scopes: tuple[str, ...]
    qualified_from: dt.date
    qualified_until: dt.date | None
    fictitious: bool = False

    def qualified_for_pentest_on(self, day: dt.date) -> bool:
        return (
            PENTEST_SCOPE in self.scopes
            and self.qualified_from <= day
            and (self.qualified_until is None or day <= self.qualified_until)
        )


@dataclass(frozen=True)
class PassiList:
    snapshot_date: dt.date
    source: str
    firms: tuple[PassiFirm, ...]
    path: Path | None = None

    def find(self, name: str | None) -> PassiFirm | None:
        """The firm with this name (case, accents and spacing ignored)."""
        if not name:
            return None
        wanted = fold(name)
        return next((f for f in self.firms if fold(f.name) == wanted), None)


def load_passi_list(path: Path = PASSI_PROFILE) -> PassiList:
    return _load(Path(path))


@cache
def _load(path: Path) -> PassiList:
    try:
        raw = load_yaml_file(path)
    except YamlInputError as exc:
        raise PassiListError(f"PASSI list {path} is unusable: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("firms"), list):
        raise PassiListError(f"PASSI list {path}: expected `snapshot_date`, `source`, `firms`")
    problems: list[str] = []
    firms: list[PassiFirm] = []
    for index, entry in enumerate(raw["firms"]):
        where = f"firms[{index}]"
        try:
            if not isinstance(entry, dict):
                raise TypeError("expected a mapping")
            until = entry.get("qualified_until")
            firms.append(
                PassiFirm(
                    name=str(entry["name"]),
                    scopes=tuple(str(s) for s in entry["scopes"]),
                    qualified_from=_date(entry["qualified_from"]),
                    qualified_until=None if until is None else _date(until),
                    fictitious=bool(entry.get("fictitious", False)),
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{where}: {exc!r} (needs name, scopes, qualified_from)")
    try:
        snapshot = _date(raw.get("snapshot_date"))
    except (TypeError, ValueError):
        problems.append("snapshot_date: expected an ISO date")
        snapshot = dt.date.min
    if problems:
        raise PassiListError(f"PASSI list {path} is invalid: " + "; ".join(problems))
    return PassiList(
        snapshot_date=snapshot, source=str(raw.get("source", "")), firms=tuple(firms), path=path
    )


def _date(value: object) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
