"""The ANS checkpoint workbook ("fichier points de contrôles") read into a `ControlGrid`:
columns found by header text through a layout profile (data), every problem named by
sheet and cell."""

from auditlib.checkpoints.reader import (
    ColumnLayout,
    Control,
    ControlGrid,
    LayoutProfile,
    Level,
    Phase,
    Requirement,
    load_checkpoints,
)
from auditlib.errors import ChecklistError

__all__ = [
    "ChecklistError",
    "ColumnLayout",
    "Control",
    "ControlGrid",
    "LayoutProfile",
    "Level",
    "Phase",
    "Requirement",
    "load_checkpoints",
]
