"""No result is ever dropped (hors grille, non applicable, hors périmètre), the audit's
outcome and recommendation, deadlines as the auditor's proposal, the corrective plan."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from auditlib.audit.assess import (
    DEADLINE_BASIS,
    UNMAPPED,
    AssessError,
    AssessmentSettings,
    AuditOutcome,
    AuditSpec,
    AuditTrigger,
    CheckOutcome,
    CheckResult,
    ControlStatus,
    Recommendation,
    assess,
)
from auditlib.audit.checks import rule_check
from auditlib.audit.plan import CorrectiveAction, actions_for
from auditlib.checkpoints.reader import ControlGrid, Phase, load_checkpoints
from auditlib.registry import Provider
from auditlib.requirements import Actor
from auditlib.testing.workbooks import RequirementRows, renumbered, rows_from_grid, write_workbook
from auditlib.tls.evaluate import RuleResult
from auditlib.tls.profile import RuleStatus

DEMO = Path(__file__).resolve().parents[2] / "data" / "checkpoints_demo.xlsx"
AUDIT_DATE = dt.date(2026, 11, 28)
N1 = "N1 - Document de Conformité ou preuve Ségur"
ALL = {"fs_utilisateur": "OUI", "editeur_utilisateur": "OUI", "fs_proxy": "OUI"}


def provider(*roles: Actor) -> Provider:
    return Provider(
        id="acme",
        name="ACME Santé",
        habilitation="EDC-FU-0001",
        roles=roles or (Actor.FS_UTILISATEUR,),
        relies_on=(),
        endpoints=(),
        client_certificate_subject=None,
        evidence_bundle=Path("/nonexistent"),
    )


SPEC = AuditSpec("acme", AuditTrigger.CERTIFICATE_EXPIRY, AUDIT_DATE)


def check(
    outcome: CheckOutcome,
    requirement: str = "EXI EDC PSC 115",
    phases: tuple[Phase, ...] = (Phase.AVANT, Phase.APRES),
    severity: str = "high",
    name: str = "R4 @ api",
) -> CheckResult:
    return CheckResult(
        check="tls",
        name=name,
        outcome=outcome,
        message=f"{name} : {outcome.value}",
        requirements=(requirement,),
        phases=phases,
        severity=severity,
    )


@pytest.fixture(scope="module")
def demo() -> ControlGrid:
    return load_checkpoints(DEMO)


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory, demo: ControlGrid) -> ControlGrid:
    path = tmp_path_factory.mktemp("wb") / "other.xlsx"
    return load_checkpoints(write_workbook(path, renumbered(rows_from_grid(demo))))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> ControlGrid:
    """Two requirements, one AVANT control each, for every actor but the Éditeur Proxy."""
    rows = [
        RequirementRows(
            {"requirement_id": f"EXI EDC PSC {n}", "editeur_proxy": "NON", **ALL},
            [{"avant": f"Contrôle {n}", "avant_level": N1}],
        )
        for n in (115, 116)
    ]
    path = tmp_path_factory.mktemp("wb") / "small.xlsx"
    return load_checkpoints(write_workbook(path, rows))


def test_hors_perimetre_is_a_status_with_its_french_value() -> None:
    assert ControlStatus.HORS_PERIMETRE.value == "hors périmètre de cet audit"
    assert ControlStatus.parse("Hors périmètre de cet audit") is ControlStatus.HORS_PERIMETRE
    assert ControlStatus.parse("hors_perimetre") is ControlStatus.HORS_PERIMETRE


def test_a_workbook_numbered_otherwise_keeps_every_failing_result(
    other: ControlGrid,
) -> None:
    checks = [
        check(CheckOutcome.FAIL, name="R4 @ api"),
        check(CheckOutcome.FAIL, name="R6 @ api"),
        check(CheckOutcome.PASS, name="R3 @ api"),
        check(CheckOutcome.FAIL, "EXI EDC PSC 122", (Phase.PENDANT,), name="trace_gap"),
    ]
    a = assess(other, provider(), SPEC, checks)
    unmapped = a.unmapped_findings
    assert [u.check.name for u in unmapped] == ["R4 @ api", "R6 @ api", "R3 @ api", "trace_gap"]
    assert all(u.disposition == UNMAPPED for u in unmapped)
    assert "EXI EDC PSC 115" in unmapped[0].reason
    # no control shows them, yet the audit is not conforme
    assert all(not c.checks for c in a.controls)
    assert a.bottom_line is ControlStatus.NON_CONFORME
    assert a.outcome.value is AuditOutcome.NON_CONFORME
    assert a.outcome.recommendation is Recommendation.CORRECTIVE_PLAN
    assert "hors grille" in a.outcome.grounds


def test_passing_unmapped_results_are_kept_but_do_not_fail(other: ControlGrid) -> None:
    a = assess(other, provider(), SPEC, [check(CheckOutcome.PASS)])
    assert len(a.unmapped_findings) == 1
    assert a.bottom_line is ControlStatus.A_EVALUER  # every control still à évaluer
    assert a.outcome.value is AuditOutcome.NON_CONCLU


def test_not_applicable_and_out_of_scope_results_never_change_the_outcome(
    small: ControlGrid,
) -> None:
    # Éditeur Proxy: neither requirement applies -> non applicable, kept, set aside
    a = assess(small, provider(Actor.EDITEUR_PROXY), SPEC, [check(CheckOutcome.FAIL)])
    assert not a.controls and not a.unmapped_findings
    [u] = a.unplaced
    assert u.disposition == ControlStatus.NON_APPLICABLE.value
    assert a.bottom_line is ControlStatus.NON_APPLICABLE
    assert a.outcome.value is AuditOutcome.CONFORME
    # a PENDANT result where the workbook has only AVANT controls: hors périmètre
    checks = [
        check(CheckOutcome.FAIL, phases=(Phase.PENDANT,)),
        check(CheckOutcome.PASS, name="R3 @ api"),
        check(CheckOutcome.PASS, "EXI EDC PSC 116", name="IGC @ api"),
    ]
    b = assess(small, provider(), SPEC, checks)
    [v] = b.unplaced
    assert v.disposition == ControlStatus.HORS_PERIMETRE.value
    assert "PENDANT" in v.reason
    assert b.bottom_line is ControlStatus.CONFORME
    assert b.outcome.value is AuditOutcome.CONFORME
    assert b.outcome.recommendation is Recommendation.NONE


@pytest.mark.parametrize(
    ("on_116", "severity", "outcome", "recommendation"),
    [
        (CheckOutcome.PASS, "high", AuditOutcome.CONFORME, Recommendation.NONE),
        (
            CheckOutcome.DEGRADED,
            "high",
            AuditOutcome.CONFORME_AVEC_RESERVES,
            Recommendation.CORRECTIVE_PLAN,
        ),
        (CheckOutcome.FAIL, "high", AuditOutcome.NON_CONFORME, Recommendation.CORRECTIVE_PLAN),
        (CheckOutcome.FAIL, "critical", AuditOutcome.NON_CONFORME, Recommendation.SUSPENSION),
        (CheckOutcome.ERROR, "high", AuditOutcome.NON_CONCLU, Recommendation.COMPLETE_AUDIT),
        (None, "high", AuditOutcome.NON_CONCLU, Recommendation.COMPLETE_AUDIT),
    ],
)
def test_outcomes_and_recommendations(
    small: ControlGrid,
    on_116: CheckOutcome | None,
    severity: str,
    outcome: AuditOutcome,
    recommendation: Recommendation,
) -> None:
    checks = [check(CheckOutcome.PASS)]
    if on_116 is not None:
        checks.append(check(on_116, "EXI EDC PSC 116", severity=severity, name="IGC @ api"))
    result = assess(small, provider(), SPEC, checks).outcome
    assert (result.value, result.recommendation) == (outcome, recommendation)
    if outcome is AuditOutcome.CONFORME_AVEC_RESERVES:
        assert result.reservations and "EXI EDC PSC 116/AVANT/1" in result.reservations[0]
    if recommendation is Recommendation.SUSPENSION:
        assert "EXI EDC PSC 116/AVANT/1" in result.grounds


def test_deadlines_are_the_auditors_proposal_and_configurable(
    small: ControlGrid, tmp_path: Path
) -> None:
    a = assess(small, provider(), SPEC, [check(CheckOutcome.FAIL)])
    [nc] = a.nonconformities
    assert nc.deadline == AUDIT_DATE + dt.timedelta(days=60)
    assert nc.deadline_basis == DEADLINE_BASIS == "proposition de l'auditeur"
    mapping = tmp_path / "no-deadlines.yaml"
    mapping.write_text(
        "checks: {tls: {}}\ndefault_severity: medium\nremediation_days: {}\n"
        "outcomes: {suspension_severities: [critical, high]}\n",
        encoding="utf-8",
    )
    settings = AssessmentSettings.load(mapping)
    b = assess(small, provider(), SPEC, [check(CheckOutcome.FAIL)], settings=settings)
    assert b.nonconformities[0].deadline is None
    assert b.outcome.recommendation is Recommendation.SUSPENSION  # high is listed now


def test_a_mapping_file_realigns_rules(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "checks: {tls: {}}\ndefault_severity: medium\nrule_requirements: {R27: [215, 216]}\n",
        encoding="utf-8",
    )
    settings = AssessmentSettings.load(mapping)
    rule = RuleResult(
        rule_id="R27",
        title="Key Usage critique",
        status=RuleStatus.FAIL,
        reason="non critique",
        requirement="EXI EDC PSC 115",
        severity="low",
        level="recommended",
    )
    made = rule_check("tls", rule, "api:443", (Phase.AVANT,), settings)
    assert made is not None and made.requirements == ("EXI EDC PSC 215", "EXI EDC PSC 216")
    default = rule_check("tls", rule, "api:443", (Phase.AVANT,), AssessmentSettings.load())
    assert default is not None and default.requirements == ("EXI EDC PSC 115",)
    with pytest.raises(AssessError, match=r"m2\.yaml"):
        bad = tmp_path / "m2.yaml"
        bad.write_text("checks: {}\ndefault_severity: x\nremediation_days: [1]\n", "utf-8")
        AssessmentSettings.load(bad)


def test_corrective_actions_answer_a_control_or_its_requirement() -> None:
    actions = [
        CorrectiveAction(
            "Désactiver TLS 1.0", dt.date(2027, 1, 15), "DSI", ("EXI EDC PSC 115",), "p"
        ),
        CorrectiveAction(
            "Activer l'agrafage OCSP",
            dt.date(2026, 12, 20),
            None,
            ("EXI EDC PSC 115/APRES/1",),
            "p",
        ),
        CorrectiveAction("Autre", dt.date(2026, 12, 1), None, ("EXI EDC PSC 116",), "p"),
    ]
    found = actions_for(actions, "EXI EDC PSC 115/APRES/1", "EXI EDC PSC 115")
    assert [a.action for a in found] == ["Activer l'agrafage OCSP", "Désactiver TLS 1.0"]
    assert [a.action for a in actions_for(actions, "EXI EDC PSC 115/AVANT/1")] == [
        "Désactiver TLS 1.0"
    ]
