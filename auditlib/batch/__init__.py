"""Many audits: the expiry-driven plan (`plan_audits`), the batch that executes the audit
notebook once per due audit (`run_batch`), its ledger, and the warm kernels it uses."""

from auditlib.batch.plan import PlannedAudit, PlannedCertificate, format_plan, plan_audits
from auditlib.batch.runner import (
    AuditOutcome,
    AuditStatus,
    BatchResult,
    BatchSettings,
    BatchStatus,
    group_jobs,
    run_batch,
)

__all__ = [
    "AuditOutcome",
    "AuditStatus",
    "BatchResult",
    "BatchSettings",
    "BatchStatus",
    "PlannedAudit",
    "PlannedCertificate",
    "format_plan",
    "group_jobs",
    "plan_audits",
    "run_batch",
]
