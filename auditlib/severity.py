"""Finding severity, one scale for every finding the workbench records (evidence, traces)."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    """Finding severity, ordered: info < low < medium < high < critical."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank
