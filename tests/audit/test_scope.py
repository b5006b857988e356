"""Issue 18 rules in the audit: phases by trigger, pentest per certificate cycle, PASSI list,
habilitation dependencies, TEST-chain certificates in production."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from make_demo_bundles import simple_pdf

from auditlib.audit.assess import (
    AssessmentSettings,
    AuditSpec,
    AuditTrigger,
    CheckOutcome,
    ControlStatus,
    assess,
    automated_status,
    requirements_in_text,
)
from auditlib.audit.checks import chain_checks, dependency_checks, pentest_checks
from auditlib.audit.passi import PassiListError, load_passi_list
from auditlib.audit.run import cycle_certificate
from auditlib.certs import describe_certificate
from auditlib.checkpoints.reader import Phase, load_checkpoints
from auditlib.classify import Classifier, load_anchors
from auditlib.evidence.model import (
    EvidenceBundle,
    InventoryItem,
    ItemKind,
    ItemStatus,
    PentestFacts,
)
from auditlib.registry import load_registry
from auditlib.requirements import Actor
from auditlib.testing.pki import TestPki

DATA = Path(__file__).resolve().parents[2] / "data"
DAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
SETTINGS = AssessmentSettings.load()
FIRM = "Audit Sécurité Démo (PASSI, fictif)"


@pytest.fixture(scope="module")
def grid():  # type: ignore[no-untyped-def]
    return load_checkpoints(DATA / "checkpoints_demo.xlsx")


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(DATA / "registry.yaml")


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create(now=NOW, key=("ec", 256))


def cert(pki: TestPki, start: dt.date, days: int = 3 * 365):  # type: ignore[no-untyped-def]
    issued = pki.issue(
        "api.example",
        "server",
        key=("ec", 256),
        days=days,
        not_before=dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC),
    )
    return describe_certificate(issued.certificate)


def bundle(*reports: tuple[dt.date, str | None, dt.date | None]) -> EvidenceBundle:
    items = tuple(
        InventoryItem(
            path=f"pentest/rapport-{n}.pdf",
            kind=ItemKind.PENTEST_REPORT,
            requirements=("EXI EDC PSC 109",),
            date=filed or day,
            size=10,
            sha256="0" * 64,
            declared_sha256="0" * 64,
            status=ItemStatus.OK,
            pentest=PentestFacts(firm, "api", day),
        )
        for n, (day, firm, filed) in enumerate(reports)
    )
    return EvidenceBundle(
        source=Path("/b"), source_type="folder", usable=True, as_of=NOW, items=items
    )


def outcomes(results) -> list[tuple[CheckOutcome, str]]:  # type: ignore[no-untyped-def]
    return [(r.outcome, r.message) for r in results if "prestataire" not in r.name]


# --------------------------------------------------------------------------- pentest


def test_pentest_done_before_renewal_passes_for_the_ending_cycle(pki: TestPki) -> None:
    ending = cert(pki, DAY - dt.timedelta(days=3 * 365 - 30))  # expires in 30 days
    renewed = cert(pki, DAY - dt.timedelta(days=10))
    b = bundle((DAY - dt.timedelta(days=15), FIRM, None))
    (ok,) = outcomes(pentest_checks(b, SETTINGS, ending, DAY))
    assert ok[0] is CheckOutcome.PASS
    # the new cycle has no report yet: to assess, with its deadline, not non conforme
    (pending,) = outcomes(pentest_checks(b, SETTINGS, renewed, DAY))
    assert pending[0] is CheckOutcome.PENDING
    assert f"échéance {renewed.not_after:%d/%m/%Y}" in pending[1]
    status, reason = automated_status(pentest_checks(b, SETTINGS, renewed, DAY))
    assert status is ControlStatus.A_EVALUER and "échéance" in reason


def test_pentest_missing_after_expiry_fails_and_missing_before_is_pending(pki: TestPki) -> None:
    expired = cert(pki, DAY - dt.timedelta(days=3 * 365 + 5))
    (failed,) = outcomes(pentest_checks(bundle(), SETTINGS, expired, DAY))
    assert failed[0] is CheckOutcome.FAIL and "expiré" in failed[1]
    current = cert(pki, DAY - dt.timedelta(days=100))
    (pending,) = outcomes(pentest_checks(bundle(), SETTINGS, current, DAY))
    assert pending[0] is CheckOutcome.PENDING
    # a report dated after the notAfter does not count for that cycle
    late = bundle((expired.not_after.date() + dt.timedelta(days=1), FIRM, None))
    assert outcomes(pentest_checks(late, SETTINGS, expired, DAY))[0][0] is CheckOutcome.FAIL


def test_passi_form_age_and_firm(pki: TestPki) -> None:
    current = cert(pki, DAY - dt.timedelta(days=800))
    old_form = bundle((DAY - dt.timedelta(days=500), FIRM, DAY - dt.timedelta(days=10)))
    messages = [
        r.message
        for r in pentest_checks(old_form, SETTINGS, current, DAY)
        if r.outcome is CheckOutcome.FAIL
    ]
    assert any("plus d'un an avant son dépôt" in m for m in messages)
    for firm, expected in (
        (FIRM, CheckOutcome.PASS),
        ("Inconnu SARL", CheckOutcome.FAIL),
        ("Cabinet Conformité Démo (fictif)", CheckOutcome.FAIL),  # no pentest scope
        ("Intrusion Expirée Démo (fictif)", CheckOutcome.FAIL),  # qualification ended 2025
        ("  audit securite demo (passi, FICTIF) ", CheckOutcome.PASS),  # case/accents ignored
    ):
        results = pentest_checks(
            bundle((DAY - dt.timedelta(days=5), firm, None)), SETTINGS, current, DAY
        )
        (check,) = [r for r in results if "prestataire" in r.name]
        assert check.outcome is expected, (firm, check.message)
    assert "fictive" in check.message


def test_passi_list_is_dated_and_marks_demo_firms(tmp_path: Path) -> None:
    passi = load_passi_list()
    assert passi.snapshot_date and all(f.fictitious for f in passi.firms)
    bad = tmp_path / "passi.yaml"
    bad.write_text("snapshot_date: 2026-01-01\nfirms:\n  - {name: X}\n", "utf-8")
    with pytest.raises(PassiListError, match=r"firms\[0\]"):
        load_passi_list(bad)


def test_the_cycle_certificate_is_the_one_the_reference_names(pki: TestPki) -> None:
    ending = cert(pki, DAY - dt.timedelta(days=1000))
    renewed = cert(pki, DAY - dt.timedelta(days=10))
    items = tuple(
        InventoryItem(
            path=f"c{n}.pem",
            kind=ItemKind.CERTIFICATE,
            requirements=(),
            date=DAY,
            size=1,
            sha256="0" * 64,
            declared_sha256="0" * 64,
            status=ItemStatus.OK,
            certificates=(c,),
        )
        for n, c in enumerate((ending, renewed))
    )
    b = EvidenceBundle(
        source=Path("/b"),
        source_type="folder",
        usable=True,
        as_of=NOW,
        items=items,
        current_certificate=renewed,
    )
    reference = f"certificat {ending.subject} n° {ending.serial}, expire le x"
    assert cycle_certificate(AuditTrigger.CERTIFICATE_EXPIRY, reference, [], b) is ending
    assert cycle_certificate(AuditTrigger.SUPERVISION_EVENT, reference, [], b) is renewed


# --------------------------------------------------------------------------- phases


def test_phases_follow_the_trigger(grid, registry) -> None:  # type: ignore[no-untyped-def]
    provider = registry.get("cloudproxy-sante")

    def phases_in_scope(spec: AuditSpec) -> dict[str, set[ControlStatus]]:
        result = assess(grid, provider, spec)
        table: dict[str, set[ControlStatus]] = {}
        for c in result.controls:
            table.setdefault(c.control.phase.value, set()).add(c.status)
        return table

    hp = {ControlStatus.HORS_PERIMETRE}
    entry = phases_in_scope(AuditSpec(provider.id, AuditTrigger.INITIAL_ENTRY, DAY))
    assert entry["PENDANT"] == hp and entry["APRES"] == hp
    assert ControlStatus.HORS_PERIMETRE not in entry["AVANT"]
    for trigger in (
        AuditTrigger.CERTIFICATE_EXPIRY,
        AuditTrigger.HABILITATION_EXPIRY,
        AuditTrigger.RENEWAL,
    ):
        table = phases_in_scope(AuditSpec(provider.id, trigger, DAY))
        assert table["PENDANT"] == hp and hp.isdisjoint(table["AVANT"] | table["APRES"])
    reference = "événement de supervision : rafale [exigences : EXI EDC PSC 120]"
    result = assess(
        grid,
        provider,
        AuditSpec(provider.id, AuditTrigger.SUPERVISION_EVENT, DAY, reference=reference),
    )
    pendant = {
        c.control.requirement_id: c.status
        for c in result.controls
        if c.control.phase is Phase.PENDANT
    }
    assert pendant["EXI EDC PSC 120"] is not ControlStatus.HORS_PERIMETRE
    assert pendant["EXI EDC PSC 122"] is ControlStatus.HORS_PERIMETRE
    assert all(
        c.status is ControlStatus.HORS_PERIMETRE
        for c in result.controls
        if c.control.phase is Phase.AVANT
    )
    assert result.bottom_line is not ControlStatus.HORS_PERIMETRE


def test_out_of_scope_controls_ignore_failing_checks(grid, registry) -> None:  # type: ignore[no-untyped-def]
    from auditlib.audit.assess import CheckResult

    provider = registry.get("cloudproxy-sante")
    failing = CheckResult(
        "tls", "R4", CheckOutcome.FAIL, "TLS 1.0", ("EXI EDC PSC 115",), tuple(Phase)
    )
    result = assess(
        grid, provider, AuditSpec(provider.id, AuditTrigger.INITIAL_ENTRY, DAY), [failing]
    )
    statuses = {
        c.control.phase: c.status
        for c in result.controls
        if c.control.requirement_id == "EXI EDC PSC 115"
    }
    assert statuses[Phase.AVANT] is ControlStatus.NON_CONFORME
    assert statuses[Phase.APRES] is ControlStatus.HORS_PERIMETRE
    assert all(n.control_ref.split("/")[1] == "AVANT" for n in result.nonconformities)


def test_trigger_phases_are_data(tmp_path: Path) -> None:
    text = (
        Path(__file__).resolve().parents[2] / "auditlib" / "profiles" / "assessment.yaml"
    ).read_text("utf-8")
    custom = tmp_path / "assessment.yaml"
    custom.write_text(
        text.replace("initial_entry: [AVANT]", "initial_entry: [AVANT, APRES]"), "utf-8"
    )
    settings = AssessmentSettings.load(custom)
    assert settings.trigger_phases["initial_entry"] == (Phase.AVANT, Phase.APRES)
    assert requirements_in_text("x [exigences : EXI EDC PSC 101, exi-edc-psc-112]") == (
        "EXI EDC PSC 101",
        "EXI EDC PSC 112",
    )


# --------------------------------------------------------------------------- habilitations


def test_dependency_checks_on_the_demo(registry) -> None:  # type: ignore[no-untyped-def]
    santexpress = registry.get("santexpress")
    results = dependency_checks(registry, santexpress, DAY, SETTINGS)
    failed = [r for r in results if r.outcome is CheckOutcome.FAIL]
    assert len(failed) == 1 and "Fournisseur de Service Proxy" in failed[0].message
    assert set(failed[0].requirements) == {"EXI EDC PSC 106", "EXI EDC PSC 107"}
    medicab = registry.get("medicab")
    assert all(
        r.outcome is CheckOutcome.PASS for r in dependency_checks(registry, medicab, DAY, SETTINGS)
    )


def test_test_chain_certificate_on_a_production_habilitation(registry) -> None:  # type: ignore[no-untyped-def]
    from auditlib.evidence.bundle import load_bundle

    classifier = Classifier(load_anchors(DATA / "pki" / "ca"))
    santexpress = registry.get("santexpress")
    b = load_bundle(santexpress.evidence_bundle, as_of=NOW, provider_id="santexpress")
    (finding,) = chain_checks(santexpress, [], b, classifier, SETTINGS)
    assert finding.outcome is CheckOutcome.FAIL and "TEST" in finding.message
    assert "EDC-FU-2024-0005" in finding.message
    proxylink = registry.get("proxylink")
    b = load_bundle(proxylink.evidence_bundle, as_of=NOW, provider_id="proxylink")
    assert chain_checks(proxylink, [], b, classifier, SETTINGS) == []
    # an éditeur in the sandbox may use the TEST chain
    bas_only = dataclasses.replace(
        santexpress,
        habilitations=tuple(
            h for h in santexpress.habilitations if h.role is Actor.EDITEUR_UTILISATEUR
        ),
        endpoints=(),
    )
    b = load_bundle(santexpress.evidence_bundle, as_of=NOW, provider_id="santexpress")
    assert chain_checks(bas_only, [], b, classifier, SETTINGS) == []


# --------------------------------------------------------------------------- signed form


def _tiny_pdf() -> bytes:
    """A one-page PDF, the kind the demo files as a pentest form (scripts/make_demo_bundles)."""
    return simple_pdf("Formulaire PASSI", [])


def test_a_signed_pdf_form_is_verified_and_kept_as_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditlib.audit.run import form_signature_checks
    from auditlib.demo.data import manifest_entry, write_bundle
    from auditlib.evidence.bundle import load_bundle
    from auditlib.sign import SignerSpec, SigningSettings, sign_pdf, verify_pdf

    signer_pki = TestPki.create(now=NOW, key=("rsa", 2048))
    firm = signer_pki.issue("PASSI DEMO ORG SIGN", "sign", organisation="AUDIT SECURITE DEMO")
    p12 = tmp_path / "firm.p12"
    p12.write_bytes(firm.pkcs12(b"pw", [signer_pki.issuing.certificate]))
    monkeypatch.setenv("FORM_PASS", "pw")
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(_tiny_pdf())
    signed = tmp_path / "signed.pdf"
    sign_pdf(plain, signed, SigningSettings(SignerSpec(p12_path=p12, pass_env="FORM_PASS")))
    files = {"pentest/formulaire.pdf": signed.read_bytes(), "pentest/autre.pdf": plain.read_bytes()}
    items = [
        manifest_entry(path, data, "pentest_report", [109], DAY, pentest={"passi_firm": FIRM})
        for path, data in files.items()
    ]
    folder = write_bundle(tmp_path / "bundle", "acme", files, items)
    b = load_bundle(folder, as_of=NOW, provider_id="acme")
    trusted = signer_pki.write_ca_dir(tmp_path / "ca")
    problems: list[str] = []
    found = form_signature_checks(b, lambda p: verify_pdf(p, trusted), SETTINGS, problems)
    assert set(found) == {"pentest/formulaire.pdf"}  # the unsigned file is not judged here
    assert found["pentest/formulaire.pdf"].outcome is CheckOutcome.PASS
    other = TestPki.create(now=NOW, key=("ec", 256)).write_ca_dir(tmp_path / "other")
    found = form_signature_checks(b, lambda p: verify_pdf(p, other), SETTINGS, problems)
    assert found["pentest/formulaire.pdf"].outcome is CheckOutcome.FAIL
    assert "non valable" in found["pentest/formulaire.pdf"].message
    current = cert(signer_pki, DAY - dt.timedelta(days=100))
    results = pentest_checks(b, SETTINGS, current, DAY, signatures=found)
    assert any(r.name.endswith("(signature)") for r in results) and not problems


def test_demo_pentest_just_before_renewal_is_conforme_for_the_ending_cycle(
    tmp_path: Path, registry
) -> None:  # type: ignore[no-untyped-def]
    from auditlib.audit.run import AuditSettings, run_audit
    from auditlib.batch.plan import make_plan
    from auditlib.tls.scan import save_observations

    classifier = Classifier(load_anchors(DATA / "pki" / "ca"))
    plan = make_plan(registry, DAY, dt.timedelta(days=90), classifier=classifier)
    (due,) = [a for a in plan.audits if a.provider_id == "cloudproxy-sante"]
    empty = save_observations(tmp_path / "scans.json", [])

    def run(trigger: AuditTrigger, reference: str):  # type: ignore[no-untyped-def]
        return run_audit(
            AuditSettings(
                provider_id="cloudproxy-sante",
                audit_date=DAY,
                trigger=trigger,
                trigger_reference=reference,
                registry_path=DATA / "registry.yaml",
                checkpoints_path=DATA / "checkpoints_demo.xlsx",
                scan_results_path=empty,
                ca_dir=DATA / "pki" / "ca",
            )
        )

    expiry = run(AuditTrigger.CERTIFICATE_EXPIRY, due.reference)
    pentest = [
        c for c in expiry.assessment.controls if c.control.requirement_id == "EXI EDC PSC 109"
    ]
    assert pentest and all(c.status is ControlStatus.CONFORME for c in pentest)
    table = expiry.provider_table()
    assert "EDC-FP-2024-0003" in str(table.loc["Habilitation", "valeur"])
    supervision = run(AuditTrigger.SUPERVISION_EVENT, "rafale [exigences : EXI EDC PSC 120]")
    pentest = [
        c for c in supervision.assessment.controls if c.control.requirement_id == "EXI EDC PSC 109"
    ]
    statuses = {c.control.phase: c.status for c in pentest}
    assert statuses[Phase.APRES] is ControlStatus.A_EVALUER  # the new cycle: not yet due
    assert statuses[Phase.AVANT] is ControlStatus.HORS_PERIMETRE
    assert "échéance" in next(c.reason for c in pentest if c.control.phase is Phase.APRES)


def test_a_pentest_not_yet_due_is_not_a_missing_proof(tmp_path: Path) -> None:
    from auditlib.audit.run import AuditSettings, run_audit
    from auditlib.tls.scan import save_observations

    empty = save_observations(tmp_path / "scans.json", [])
    run = run_audit(
        AuditSettings(
            provider_id="medicab",  # no pentest filed; its certificate expires in 25 days
            audit_date=DAY,
            registry_path=DATA / "registry.yaml",
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            scan_results_path=empty,
        )
    )
    pentest = [c for c in run.assessment.controls if c.control.requirement_id == "EXI EDC PSC 109"]
    assert pentest and all(c.status is ControlStatus.A_EVALUER for c in pentest)
    assert all("échéance" in c.reason for c in pentest)
