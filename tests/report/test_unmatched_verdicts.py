"""A verdict on a control that does not apply to the provider is kept in findings.json under
`unmatched_verdicts`, with the reason (issue 16: it used to vanish silently)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from auditlib.audit.assess import statement_of_applicability
from auditlib.audit.run import AuditSettings, run_audit
from auditlib.checkpoints.reader import load_checkpoints
from auditlib.registry import load_registry
from auditlib.report.findings import findings_record
from auditlib.tls.scan import save_observations

DATA = Path(__file__).resolve().parents[2] / "data"


def test_verdict_on_a_non_applicable_control_is_kept_with_the_reason(tmp_path: Path) -> None:
    provider = load_registry(DATA / "registry.yaml").get("medilogic")
    grid = load_checkpoints(DATA / "checkpoints_demo.xlsx")
    rows = statement_of_applicability(grid, provider.roles)
    outside = next(r for r in rows if not r.applies)
    inside = next(r for r in rows if r.applies)
    foreign = next(c.ref for c in grid.controls if c.requirement_id == outside.requirement_id)
    own = next(c.ref for c in grid.controls if c.requirement_id == inside.requirement_id)
    verdicts = tmp_path / "medilogic.yaml"
    verdicts.write_text(
        "provider: medilogic\nauditor: Jeanne Martin\nverdicts:\n"
        f"  - control: {foreign}\n    status: conforme\n"
        f"  - control: {own}\n    status: conforme\n",
        encoding="utf-8",
    )
    run = run_audit(
        AuditSettings(
            provider_id="medilogic",
            audit_date=dt.date(2026, 11, 28),
            registry_path=DATA / "registry.yaml",
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            scan_results_path=save_observations(tmp_path / "scans.json", []),
            verdicts_path=verdicts,
        )
    )
    unmatched = findings_record(run)["unmatched_verdicts"]
    assert len(unmatched) == 1
    (line,) = unmatched
    assert foreign in line and "entry 1" in line and "not applicable" in line
    assert outside.reason in line
    assert own not in " ".join(unmatched)
