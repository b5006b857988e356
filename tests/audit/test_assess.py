"""Assessment: statuses, overrides, conflicts, roll-ups, applicability, verdict files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from auditlib.audit.assess import (
    AssessError,
    AssessmentSettings,
    AuditSpec,
    AuditTrigger,
    CheckOutcome,
    CheckResult,
    ControlStatus,
    assess,
    automated_status,
    worst,
)
from auditlib.audit.verdicts import VerdictsError, load_verdicts
from auditlib.checkpoints.reader import Phase, load_checkpoints
from auditlib.registry import Provider
from auditlib.requirements import Actor

DEMO = Path(__file__).resolve().parents[2] / "data" / "checkpoints_demo.xlsx"
AUDIT_DATE = dt.date(2026, 11, 28)


@pytest.fixture(scope="module")
def grid():  # type: ignore[no-untyped-def]
    return load_checkpoints(DEMO)


def provider(*roles: Actor, pid: str = "acme") -> Provider:
    return Provider(
        id=pid,
        name="ACME Santé",
        habilitation="EDC-FU-0001",
        roles=roles,
        relies_on=(),
        endpoints=(),
        client_certificate_subject=None,
        evidence_bundle=Path("/nonexistent"),
    )


def spec(pid: str = "acme") -> AuditSpec:
    return AuditSpec(pid, AuditTrigger.CERTIFICATE_EXPIRY, AUDIT_DATE, auditor="J. Martin")


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
        message=f"{name}: {outcome.value}",
        requirements=(requirement,),
        phases=phases,
        severity=severity,
    )


def test_no_check_means_to_assess_never_conforme() -> None:
    assert automated_status([])[0] is ControlStatus.A_EVALUER
    assert automated_status([check(CheckOutcome.NOT_APPLICABLE)])[0] is ControlStatus.NON_APPLICABLE
    assert automated_status([check(CheckOutcome.PASS)])[0] is ControlStatus.CONFORME
    mixed = [check(CheckOutcome.PASS), check(CheckOutcome.DEGRADED)]
    assert automated_status(mixed)[0] is ControlStatus.PARTIEL
    broken = [check(CheckOutcome.PASS), check(CheckOutcome.INCOMPLETE)]
    assert automated_status(broken)[0] is ControlStatus.ERREUR
    failed = [check(CheckOutcome.ERROR), check(CheckOutcome.FAIL, name="R3")]
    status, reason = automated_status(failed)
    assert status is ControlStatus.NON_CONFORME and "R3" in reason


def test_only_controls_of_the_providers_roles_are_assessed(grid) -> None:  # type: ignore[no-untyped-def]
    result = assess(grid, provider(Actor.EDITEUR_UTILISATEUR), spec())
    assessed = {c.control.requirement_id for c in result.controls}
    expected = set(grid.requirement_ids(Actor.EDITEUR_UTILISATEUR))
    assert assessed == expected
    assert "EXI EDC PSC 115" not in assessed  # 115: FS Utilisateur and FS Proxy only
    row = next(r for r in result.applicability if r.requirement_id == "EXI EDC PSC 115")
    assert not row.applies and "Ne vise aucun des rôles" in row.reason
    assert all(
        c.status
        is (
            ControlStatus.HORS_PERIMETRE
            if c.control.phase is Phase.PENDANT
            else ControlStatus.A_EVALUER
        )
        for c in result.controls
    )
    assert result.bottom_line is ControlStatus.A_EVALUER


def test_checks_reach_their_requirement_and_phase_only(grid) -> None:  # type: ignore[no-untyped-def]
    checks = [check(CheckOutcome.FAIL, phases=(Phase.APRES,))]
    result = assess(grid, provider(Actor.FS_UTILISATEUR), spec(), checks)
    assert result.control("EXI EDC PSC 115/APRES/1").status is ControlStatus.NON_CONFORME
    assert result.control("EXI EDC PSC 115/AVANT/1").status is ControlStatus.A_EVALUER
    nc = result.nonconformities[0]
    assert nc.control_ref == "EXI EDC PSC 115/APRES/1"
    assert nc.severity == "high"
    assert nc.deadline == AUDIT_DATE + dt.timedelta(days=60)
    assert result.by_requirement()["EXI EDC PSC 115"] is ControlStatus.NON_CONFORME
    assert result.by_phase()["APRES"]["non conforme"] == 1
    assert result.bottom_line is ControlStatus.NON_CONFORME


def test_auditor_verdict_overrides_and_conflict_is_listed(grid) -> None:  # type: ignore[no-untyped-def]
    from auditlib.audit.assess import AuditorVerdict

    checks = [check(CheckOutcome.FAIL)]
    verdicts = [
        AuditorVerdict("EXI EDC PSC 115/AVANT/1", ControlStatus.CONFORME, "vu", "J. M.", None),
        AuditorVerdict("EXI EDC PSC 102/AVANT/1", ControlStatus.CONFORME, "signé", "J. M.", None),
        AuditorVerdict(
            "EXI EDC PSC 999/AVANT/1",
            ControlStatus.CONFORME,
            None,
            None,
            None,
            source="v.yaml, entry 3",
        ),
    ]
    result = assess(grid, provider(Actor.FS_UTILISATEUR), spec(), checks, verdicts=verdicts)
    overridden = result.control("EXI EDC PSC 115/AVANT/1")
    assert overridden.status is ControlStatus.CONFORME
    assert overridden.automated_status is ControlStatus.NON_CONFORME
    assert overridden.overridden and "Statut automatique : non conforme" in overridden.reason
    assert [c.control_ref for c in result.conflicts] == ["EXI EDC PSC 115/AVANT/1"]
    completed = result.control("EXI EDC PSC 102/AVANT/1")
    assert completed.status is ControlStatus.CONFORME and completed.overridden
    assert result.unmatched_verdicts == ("v.yaml, entry 3: EXI EDC PSC 999/AVANT/1",)


def test_auditor_severity_and_remediation_days() -> None:
    settings = AssessmentSettings.load()
    assert settings.remediation_days["critical"] < settings.remediation_days["low"]
    assert worst([ControlStatus.CONFORME, ControlStatus.A_EVALUER]) is ControlStatus.A_EVALUER
    assert worst([]) is ControlStatus.NON_APPLICABLE


def test_provider_mismatch_is_refused(grid) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AssessError, match="provider"):
        assess(grid, provider(Actor.FS_PROXY, pid="other"), spec("acme"))


def test_status_parsing_is_forgiving_but_strict() -> None:
    assert ControlStatus.parse("A evaluer") is ControlStatus.A_EVALUER
    assert ControlStatus.parse("NON_CONFORME") is ControlStatus.NON_CONFORME
    assert ControlStatus.parse("Partiellement-conforme") is ControlStatus.PARTIEL
    with pytest.raises(ValueError, match="unknown status"):
        ControlStatus.parse("bof")


# ------------------------------------------------------------------ verdicts.yaml


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "verdicts.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_verdicts_file_by_control_and_by_requirement(tmp_path: Path, grid) -> None:  # type: ignore[no-untyped-def]
    path = write(
        tmp_path,
        """
provider: acme
auditor: Jeanne Martin
verdicts:
  - control: exi-edc-psc-103/avant/2
    status: Conforme
    comment: Sections vérifiées.
    date: 2026-11-20
  - requirement: 102
    status: non conforme
    severity: high
    auditor: Paul
""",
    )
    verdicts = load_verdicts(path, grid, "acme")
    by_ref = {v.control_ref: v for v in verdicts}
    assert by_ref["EXI EDC PSC 103/AVANT/2"].status is ControlStatus.CONFORME
    assert by_ref["EXI EDC PSC 103/AVANT/2"].auditor == "Jeanne Martin"
    assert by_ref["EXI EDC PSC 103/AVANT/2"].date == dt.date(2026, 11, 20)
    assert {"EXI EDC PSC 102/AVANT/1", "EXI EDC PSC 102/AVANT/2"} <= set(by_ref)
    assert by_ref["EXI EDC PSC 102/AVANT/2"].severity == "high"


def test_verdicts_file_lists_every_problem(tmp_path: Path, grid) -> None:  # type: ignore[no-untyped-def]
    path = write(
        tmp_path,
        """
verdicts:
  - control: EXI EDC PSC 103/AVANT/9
    status: conforme
  - requirement: 555
    status: conforme
  - control: EXI EDC PSC 103/AVANT/1
    status: super
  - control: EXI EDC PSC 103/AVANT/1
    requirement: 103
    status: conforme
  - control: EXI EDC PSC 103/AVANT/2
    status: conforme
    date: hier
    colour: red
  - just a string
""",
    )
    with pytest.raises(VerdictsError) as caught:
        load_verdicts(path, grid)
    text = str(caught.value)
    assert "7 problem(s)" in text
    assert "entry 5, key 'date': 'hier' is not a date" in text
    assert "entry 1, key 'control': no control 'EXI EDC PSC 103/AVANT/9'" in text
    assert "entry 2, key 'requirement': no requirement '555'" in text
    assert "entry 3, key 'status': unknown status 'super'" in text
    assert "entry 4: give exactly one of 'control' or 'requirement'" in text
    assert "entry 5: unknown key(s) colour" in text
    assert "entry 6: expected a mapping" in text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("verdicts: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "expected a mapping"),
        ("provider: other\nverdicts: []\n", "written for provider 'other'"),
        ("verdicts: 12\n", "'verdicts' must be a list"),
    ],
)
def test_unusable_verdicts_files(tmp_path: Path, grid, content: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(VerdictsError, match=message):
        load_verdicts(write(tmp_path, content), grid, "acme")


def test_binary_and_missing_verdicts_files(tmp_path: Path, grid) -> None:  # type: ignore[no-untyped-def]
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage\x80")
    with pytest.raises(VerdictsError, match="not a UTF-8 text file"):
        load_verdicts(binary, grid)
    with pytest.raises(VerdictsError, match="no such file"):
        load_verdicts(tmp_path / "absent.yaml", grid)
    assert load_verdicts(write(tmp_path, ""), grid) == []
