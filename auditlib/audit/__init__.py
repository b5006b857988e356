"""One audit: assess every applicable control of the grid from the evidence, the TLS scans,
the supervision traces and the auditor's verdicts (`run_audit` -> `AuditRun`).

The notebook calls `audit.run_audit(audit.AuditSettings.from_parameters(...))`.
"""

from auditlib.audit.assess import (
    Assessment,
    AuditSpec,
    AuditTrigger,
    CheckOutcome,
    CheckResult,
    ControlAssessment,
    ControlStatus,
)
from auditlib.audit.run import AuditRun, AuditSettings, run_audit
from auditlib.audit.verdicts import VerdictsError, load_verdicts

__all__ = [
    "Assessment",
    "AuditRun",
    "AuditSettings",
    "AuditSpec",
    "AuditTrigger",
    "CheckOutcome",
    "CheckResult",
    "ControlAssessment",
    "ControlStatus",
    "VerdictsError",
    "load_verdicts",
    "run_audit",
]
