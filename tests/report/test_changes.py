"""The audit-to-audit diff (`findings.json` key `changes_since_previous`).

A unit test on two hand-made findings records, then two real audits of the same provider
four months apart, in which the auditor resolved one non-conformity and found a new one:
the second goes through the writer (findings.json, report.html) and the batch's look-up of
the previous audit. Scan results are saved ERROR observations: nothing listens, nothing
is scanned.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from auditlib.audit.assess import ControlStatus
from auditlib.audit.run import AuditRun, AuditSettings, run_audit
from auditlib.batch.plan import PlannedAudit
from auditlib.batch.runner import BatchJob, BatchSettings, _parameters
from auditlib.registry import load_registry
from auditlib.report.changes import (
    PreviousFindingsError,
    changes_since,
    changes_table,
    find_previous,
    load_previous,
    previous_for,
)
from auditlib.report.findings import check_record, findings_record, to_json
from auditlib.report.writer import previous_audit, render_html, write_outputs
from auditlib.tls.scan import ScanStatus, TlsObservation, save_observations

DATA = Path(__file__).resolve().parents[2] / "data"
PROVIDER = "proxisante-editions"
FIRST = dt.date(2026, 7, 28)
SECOND = dt.date(2026, 11, 28)


def record(
    provider: str, day: str, controls: dict[str, str], ncs: dict[str, str]
) -> dict[str, Any]:
    """A findings record reduced to what the comparison reads."""
    return {
        "format": "auditlib.findings",
        "audit": {"id": f"{provider}-{day}", "provider_id": provider, "date": day},
        "bottom_line": "non conforme" if ncs else "conforme",
        "controls": [
            {"ref": ref, "requirement": ref.split("/")[0], "status": status}
            for ref, status in controls.items()
        ],
        "nonconformities": [
            {
                "control": ref,
                "requirement": ref.split("/")[0],
                "status": controls[ref],
                "severity": sev,
            }
            for ref, sev in ncs.items()
        ],
    }


A, B, C, D = (f"EXI EDC PSC 10{i}/AVANT/1" for i in range(1, 5))


def test_new_resolved_persisting_and_status_changes() -> None:
    before = record(
        "p",
        "2026-01-10",
        {A: "non conforme", B: "partiellement conforme", C: "à évaluer", D: "conforme"},
        {A: "high", B: "medium"},
    )
    after = record(
        "p",
        "2026-05-10",
        {A: "conforme", B: "non conforme", C: "non conforme", D: "conforme"},
        {B: "high", C: "critical"},
    )
    changes = changes_since(after, before)
    assert [n["control"] for n in changes["new"]] == [C]
    assert changes["new"][0]["severity"] == "critical"
    assert [(n["control"], n["previous_status"], n["status"]) for n in changes["resolved"]] == [
        (A, "non conforme", "conforme")
    ]
    assert [
        (n["control"], n["previous_status"], n["status"], n["previous_severity"], n["severity"])
        for n in changes["persisting"]
    ] == [(B, "partiellement conforme", "non conforme", "medium", "high")]
    assert {(c["ref"], c["previous"], c["current"]) for c in changes["status_changes"]} == {
        (A, "non conforme", "conforme"),
        (B, "partiellement conforme", "non conforme"),
        (C, "à évaluer", "non conforme"),
    }
    assert changes["bottom_line"] == {"previous": "non conforme", "current": "non conforme"}
    assert changes["previous"]["date"] == "2026-01-10"
    table = changes_table(changes)
    assert list(table["contrôle"]) == [C, A, B]  # new, resolved, persisting; each once
    assert list(table["évolution"]) == [
        "non-conformité nouvelle",
        "non-conformité levée",
        "non-conformité persistante",
    ]


def test_a_control_now_unjudged_or_gone_is_not_reassessed_never_resolved() -> None:
    before = record("p", "2026-01-10", {A: "non conforme", B: "partiellement conforme"}, {})
    before["nonconformities"] = [
        {"control": A, "requirement": "EXI EDC PSC 101", "status": "non conforme"},
        {"control": B, "requirement": "EXI EDC PSC 102", "status": "partiellement conforme"},
    ]
    after = record("p", "2026-05-10", {B: "à évaluer", C: "conforme"}, {})
    changes = changes_since(after, before)
    assert changes["resolved"] == []
    assert [(n["control"], n["status"]) for n in changes["not_reassessed"]] == [
        (A, None),
        (B, "à évaluer"),
    ]
    assert changes["new"] == changes["persisting"] == []
    assert [c["ref"] for c in changes["status_changes"]] == [B]
    assert list(changes_table(changes)["évolution"]) == ["non-conformité non réévaluée"] * 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{broken", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"format": "other"}', "format: expected 'auditlib.findings'"),
        ('{"format": "auditlib.findings", "audit": {"provider_id": "p"}}', "audit.date"),
        (
            '{"format": "auditlib.findings", "audit": {"provider_id": "p", "date": "20260110"}}',
            "is not an ISO date",
        ),
        (
            '{"format": "auditlib.findings", "audit": {"provider_id": "p", "date": "2026-01-10"},'
            ' "bottom_line": "x", "controls": [{"ref": 3, "status": "conforme"}],'
            ' "nonconformities": []}',
            "controls[0].ref",
        ),
        (
            '{"format": "auditlib.findings", "audit": {"provider_id": "p", "date": "2026-01-10"},'
            ' "bottom_line": "x", "controls": [], "nonconformities": [{"control": "a",'
            ' "status": "<script>"}]}',
            "nonconformities[0].status",
        ),
    ],
)
def test_a_broken_previous_record_is_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "findings.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PreviousFindingsError) as caught:
        load_previous(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_previous_of_another_provider_or_later_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "findings.json"
    path.write_text(json.dumps(record("other", "2026-01-10", {}, {})), encoding="utf-8")
    with pytest.raises(PreviousFindingsError, match="not 'p'"):
        previous_for("p", dt.date(2026, 5, 1), path, None)
    path.write_text(json.dumps(record("p", "2026-06-10", {}, {})), encoding="utf-8")
    with pytest.raises(PreviousFindingsError, match="after this audit"):
        previous_for("p", dt.date(2026, 5, 1), path, None)
    with pytest.raises(PreviousFindingsError, match="no such file"):
        previous_for("p", dt.date(2026, 5, 1), tmp_path / "missing.json", None)


def test_find_previous_takes_the_latest_earlier_audit_of_the_provider(tmp_path: Path) -> None:
    def put(folder: str, rec: dict[str, Any] | str) -> Path:
        (tmp_path / folder).mkdir()
        path = tmp_path / folder / "findings.json"
        path.write_text(rec if isinstance(rec, str) else json.dumps(rec), encoding="utf-8")
        return path

    put("p_certificate_expiry_2026-01-10", record("p", "2026-01-10", {}, {}))
    latest = put("p_supervision_event_2026-03-01", record("p", "2026-03-01", {}, {}))
    put("p_certificate_expiry_2026-05-10", record("p", "2026-05-10", {}, {}))  # same day: no
    put("p_certificate_expiry_2026-04-01", "{damaged")  # passed over
    put("p-x_certificate_expiry_2026-04-02", record("p-x", "2026-04-02", {}, {}))  # other
    put("p_x_2026-04-03", record("q", "2026-04-03", {}, {}))  # says another provider inside
    found = find_previous(tmp_path, "p", dt.date(2026, 5, 10))
    assert found is not None and found.path == latest.resolve()
    assert find_previous(tmp_path, "p", dt.date(2026, 1, 10)) is None
    assert find_previous(tmp_path / "absent", "p", dt.date(2026, 5, 10)) is None


# ----------------------------------------------------------------- two real audits


def _error_scans(folder: Path) -> Path:
    registry = load_registry(DATA / "registry.yaml")
    provider = registry.get(PROVIDER)
    observations = [
        TlsObservation(
            label=f"{PROVIDER}/{e.label}",
            host=e.host,
            port=e.port,
            sni=e.sni,
            scanned_at=dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC),
            status=ScanStatus.ERROR,
            error="connection refused (nothing listening on the port)",
        )
        for e in provider.endpoints
    ]
    return save_observations(folder / "scans.json", observations)


def _audit(folder: Path, day: dt.date, verdicts: dict[str, str], scans: Path) -> AuditRun:
    lines = [f"provider: {PROVIDER}", "auditor: Jeanne Martin", "verdicts:"]
    for ref, status in verdicts.items():
        lines += [f"  - control: {ref}", f"    status: {status}", "    severity: high"]
    path = folder / f"verdicts-{day.isoformat()}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_audit(
        AuditSettings(
            provider_id=PROVIDER,
            audit_date=day,
            registry_path=DATA / "registry.yaml",
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            scan_results_path=scans,
            verdicts_path=path,
        )
    )


@pytest.fixture(scope="module")
def audits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first audit's findings.json in a batch-like folder; the second audit's run, in
    which the auditor lifts the first's non-conformity X and finds a new one Y."""
    folder = tmp_path_factory.mktemp("audits")
    scans = _error_scans(folder)
    probe = _audit(folder, FIRST, {}, scans)
    manual = [
        c.ref
        for c in probe.assessment.controls
        if c.status is ControlStatus.A_EVALUER and not c.checks
    ]
    assert len(manual) >= 2, "the demo grid has controls only the auditor can judge"
    x, y = manual[0], manual[1]
    first = _audit(folder, FIRST, {x: "non conforme"}, scans)
    first_folder = folder / first.spec.folder_name
    first_folder.mkdir()
    (first_folder / "findings.json").write_text(to_json(findings_record(first)), "utf-8")
    second = _audit(folder, SECOND, {x: "conforme", y: "non conforme"}, scans)
    return {"folder": folder, "first": first, "second": second, "x": x, "y": y}


def test_second_audit_through_the_writer(audits: dict[str, Any]) -> None:
    folder: Path = audits["folder"]
    second: AuditRun = audits["second"]
    target = folder / second.spec.folder_name
    previous = previous_audit(second, None, target)  # found beside the new audit's folder
    assert previous is not None and previous.provider_id == PROVIDER
    outputs = write_outputs(second, target, previous=previous)
    written = json.loads(outputs.findings.read_text("utf-8"))
    check_record(written)
    changes = written["changes_since_previous"]
    assert [n["control"] for n in changes["new"]] == [audits["y"]]
    assert [(n["control"], n["status"]) for n in changes["resolved"]] == [(audits["x"], "conforme")]
    first_ncs = {n.control_ref for n in audits["first"].assessment.nonconformities}
    second_ncs = {n.control_ref for n in second.assessment.nonconformities}
    assert {n["control"] for n in changes["persisting"]} == first_ncs & second_ncs
    assert changes["previous"]["date"] == FIRST.isoformat()
    assert changes["previous"]["path"] == str(previous.path)
    html = outputs.html.read_text("utf-8")
    assert "Évolutions depuis l&#39;audit précédent" in html
    section = html.split('id="changes"')[1].split("</table>")[0]
    assert audits["x"] in section and audits["y"] in section
    assert "levée" in section and "nouvelle" in section


def test_without_a_previous_audit_the_key_is_null_and_no_section(audits: dict[str, Any]) -> None:
    first: AuditRun = audits["first"]
    rec = findings_record(first)
    assert rec["changes_since_previous"] is None
    check_record(rec)
    assert 'id="changes"' not in render_html(first)


def test_hostile_previous_text_is_escaped_in_the_report(audits: dict[str, Any]) -> None:
    second: AuditRun = audits["second"]
    evil = "<script>alert(1)</script>/AVANT/1"
    before = record(PROVIDER, FIRST.isoformat(), {evil: "non conforme"}, {evil: "high"})
    before["audit"]["id"] = "<img src=x onerror=alert(1)>"
    changes = changes_since(findings_record(second), before)
    html = render_html(second, changes=changes)
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html


def test_the_batch_passes_the_previous_audit_to_the_notebook(audits: dict[str, Any]) -> None:
    folder: Path = audits["folder"]
    planned = PlannedAudit(
        provider_id=PROVIDER,
        provider_name="ProxiSanté Éditions",
        trigger=audits["second"].spec.trigger,
        due_date=SECOND,
        days_until_due=0,
        audit_date=SECOND,
    )
    job = BatchJob("f", PROVIDER, planned.trigger, SECOND, SECOND, "r", (planned,))
    settings = BatchSettings(output_dir=folder, registry_path=DATA / "registry.yaml")
    params = _parameters(job, settings, folder / "work", None)
    expected = folder / audits["first"].spec.folder_name / "findings.json"
    assert params["previous_findings"] == str(expected.resolve())
    early = BatchJob("f", PROVIDER, planned.trigger, FIRST, FIRST, "r", (planned,))
    assert _parameters(early, settings, folder / "work", None)["previous_findings"] is None


@pytest.mark.notebook
def test_the_audit_notebook_shows_and_records_the_changes(audits: dict[str, Any]) -> None:
    import papermill

    from auditlib.resources import audit_notebook

    folder: Path = audits["folder"]
    target = folder / f"{PROVIDER}_certificate_expiry_{SECOND.isoformat()}"
    executed = folder / "second.ipynb"
    papermill.execute_notebook(
        str(audit_notebook()),
        str(executed),
        parameters={
            "provider_id": PROVIDER,
            "audit_date": SECOND.isoformat(),
            "scan_results_path": str(folder / "scans.json"),
            "verdicts_path": str(folder / f"verdicts-{SECOND.isoformat()}.yaml"),
            "output_dir": str(target),
        },
        kernel_name="python3",
        progress_bar=False,
        cwd=str(folder),
        iopub_timeout=60,  # nbclient's 4 s drops late outputs on a loaded machine
    )
    shown = json.dumps(
        [c.get("outputs", []) for c in json.loads(executed.read_text("utf-8"))["cells"]],
        ensure_ascii=False,
    )
    assert "Audit précédent" in shown and audits["first"].spec.folder_name in shown
    assert "non-conformité nouvelle" in shown and "non-conformité levée" in shown
    written = json.loads((target / "findings.json").read_text("utf-8"))
    changes = written["changes_since_previous"]
    assert [n["control"] for n in changes["new"]] == [audits["y"]]
    assert [n["control"] for n in changes["resolved"]] == [audits["x"]]
