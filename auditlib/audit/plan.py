"""The provider's corrective plan (evidence kind `corrective_plan`), beside the
non-conformities it answers.

Each action of the plan names its targets: control refs (`EXI EDC PSC 115/APRES/1`) or
requirement ids (`EXI EDC PSC 115`, every control of that requirement). Only plans filed
intact (hash verified) are shown; dates are the provider's, not the auditor's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from auditlib.evidence.model import EvidenceBundle, ItemKind


@dataclass(frozen=True)
class CorrectiveAction:
    """One action of a filed corrective plan."""

    action: str
    due: dt.date
    owner: str | None
    targets: tuple[str, ...]
    plan: str
    """The plan's file in the bundle."""

    def answers(self, control_ref: str, requirement_id: str) -> bool:
        return control_ref in self.targets or requirement_id in self.targets


def corrective_actions(bundle: EvidenceBundle | None) -> list[CorrectiveAction]:
    """Every action of every intact corrective plan of the bundle."""
    if bundle is None or not bundle.usable:
        return []
    return [
        CorrectiveAction(a.action, a.due, a.owner, a.targets, item.path)
        for item in bundle.items
        if item.kind is ItemKind.CORRECTIVE_PLAN and item.intact
        for a in item.corrective_actions
    ]


def actions_for(
    actions: list[CorrectiveAction], control_ref: str, requirement_id: str | None = None
) -> list[CorrectiveAction]:
    """The actions answering one control (by its ref, or by its requirement)."""
    requirement = requirement_id or control_ref.split("/")[0]
    return sorted((a for a in actions if a.answers(control_ref, requirement)), key=lambda a: a.due)
