"""A fast audit of a demo provider for the desk's tests: the demo registry and workbook,
no scan (an empty observations file: the endpoints' controls are `erreur`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from auditlib.audit.run import AuditRun, AuditSettings, run_audit
from auditlib.tls.scan import save_observations

DATA = Path(__file__).resolve().parents[2] / "data"
AUDIT_DATE = dt.date(2026, 11, 28)
PROVIDER = "medilogic"
FOLDER = f"{PROVIDER}_certificate_expiry_{AUDIT_DATE.isoformat()}"


def demo_run(
    folder: Path,
    verdicts: Path | None = None,
    language: str = "fr",
    provider: str = PROVIDER,
) -> AuditRun:
    scans = save_observations(folder / "no-scan.json", [])
    return run_audit(
        AuditSettings(
            provider_id=provider,
            audit_date=AUDIT_DATE,
            registry_path=DATA / "registry.yaml",
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            scan_results_path=scans,
            verdicts_path=verdicts,
            auditor="Jeanne Martin",
            language=language,
        )
    )
