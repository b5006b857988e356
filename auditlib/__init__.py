"""EDC PSC audit workbench: checkpoint grid, evidence, TLS scans, assessments, reports."""

from auditlib.errors import AuditlibError

__version__ = "0.1.0"

__all__ = ["AuditlibError", "__version__"]
