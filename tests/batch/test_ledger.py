"""The ledger's typed records keep the `auditlib.batch-ledger/1` keys; the notebook's
parameters are exactly what the plan hands it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import papermill

from auditlib.audit.assess import AuditTrigger
from auditlib.batch.ledger import (
    LEDGER_FORMAT,
    AuditEnd,
    AuditSkip,
    AuditStart,
    Ledger,
    RunEnd,
    RunStart,
    read_ledger,
)
from auditlib.batch.plan import PlannedAudit
from auditlib.resources import audit_notebook


def test_records_written_with_their_event_and_only_the_keys_they_have(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with Ledger(path) as ledger:
        ledger.write(RunStart("r1", 2, 2, False, "warm", None, "0.1.0"))
        ledger.write(
            AuditStart(
                "r1",
                "a_x_2026-11-28",
                "a",
                "certificate_expiry",
                "2026-11-28",
                "2026-12-01",
                None,
                {"bundle": "ab"},
                {"provider_id": "a"},
            )
        )
        ledger.write(AuditEnd("r1", "a_x_2026-11-28", "failed", {"bundle": None}, error={"x": 1}))
        ledger.write(AuditSkip("r1", "b_x_2026-11-28", "skipped", "inputs unchanged", {}))
        ledger.write(RunEnd("r1", "failed", done=0, skipped=1, failed=1, seconds=1.5))
    lines = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    assert [r["event"] for r in lines] == ["run_start", "start", "end", "skip", "run_end"]
    assert lines[0]["format"] == LEDGER_FORMAT == "auditlib.batch-ledger/1"
    assert lines[0]["scan_results"] is None  # always written, even when there is none
    assert lines[1]["reference"] is None and lines[1]["parameters"] == {"provider_id": "a"}
    assert "outputs" not in lines[2] and lines[2]["error"] == {"x": 1}
    assert "error" not in lines[4] and lines[4]["failed"] == 1
    assert all("time" in r for r in lines)
    assert read_ledger(path) == lines


def test_notebook_parameters_match_the_plan() -> None:
    """The template's parameters (as papermill reads them) are those the batch passes."""
    declared = papermill.inspect_notebook(str(audit_notebook()))
    audit = PlannedAudit(
        provider_id="p",
        provider_name="P",
        trigger=AuditTrigger.CERTIFICATE_EXPIRY,
        due_date=dt.date(2026, 12, 1),
        days_until_due=3,
        audit_date=dt.date(2026, 11, 28),
    )
    passed = audit.parameters(registry_path="r", checkpoints_path="c", output_dir="o")
    assert set(declared) == set(passed)
