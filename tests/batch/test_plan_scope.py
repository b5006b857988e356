"""The plan on the right certificates: IGC-Santé only, grouped per habilitation cycle,
everything else listed out of scope; habilitation triggers; initial entry; history."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from auditlib.audit.assess import AuditTrigger
from auditlib.batch.plan import event_requirements, format_plan, make_plan
from auditlib.certs import CertificateInfo, describe_certificate
from auditlib.classify import Classifier, load_anchors
from auditlib.errors import PlanError
from auditlib.evidence.model import EvidenceBundle, InventoryItem, ItemKind, ItemStatus
from auditlib.registry import Registry, load_registry
from auditlib.severity import Severity
from auditlib.testing.pki import (
    DEMO_PRODUCTION_ISSUING_CN,
    DEMO_PRODUCTION_ROOT_CN,
    TestPki,
)
from auditlib.tls.scan import ScanStatus, TlsObservation
from auditlib.traces.model import SupervisionEvent

DAY = dt.date(2026, 11, 28)
NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)

REGISTRY = """\
version: 2
providers:
  - id: ops
    name: Ops
    relies_on: [EDC-EP-9]
    habilitations:
      - {number: EDC-FP-1, role: fs_proxy, issued: 2024-01-20, environment: production}
      - {number: EDC-EP-2, role: editeur_proxy, issued: 2026-11-01, status: candidate}
    endpoints:
      - {host: 127.0.0.1, port: 1443, sni: api.ops.test, habilitation: EDC-FP-1}
    evidence_bundle: b
  - id: renew
    name: Renew
    habilitations:
      - {number: EDC-EP-9, role: editeur_proxy, issued: 2024-01-01, expires: 2027-01-20,
         commitments_renewal: 2026-12-15}
    evidence_bundle: b
"""


@pytest.fixture(scope="module")
def chains() -> tuple[TestPki, TestPki, TestPki]:
    prod = TestPki.create(
        now=NOW,
        key=("ec", 256),
        root_cn=DEMO_PRODUCTION_ROOT_CN,
        issuing_cn=DEMO_PRODUCTION_ISSUING_CN,
        unit="DEMO",
    )
    test = TestPki.create(now=NOW, key=("ec", 256))
    public = TestPki.create(
        now=NOW, key=("ec", 256), root_cn="Public Root", issuing_cn="Public Web CA", unit=None
    )
    return prod, test, public


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    (tmp_path / "b").mkdir()
    path = tmp_path / "registry.yaml"
    path.write_text(REGISTRY, "utf-8")
    return load_registry(path)


def leaf(pki: TestPki, name: str, days_left: int, profile: str = "server") -> CertificateInfo:
    start = NOW - dt.timedelta(days=3 * 365 - days_left)
    issued = pki.issue(name, profile, key=("ec", 256), not_before=start, dns_names=[name])  # type: ignore[arg-type]
    return describe_certificate(issued.certificate)


def filed(*certs: CertificateInfo) -> EvidenceBundle:
    items = tuple(
        InventoryItem(
            path=f"certs/{n}.pem",
            kind=ItemKind.CERTIFICATE,
            requirements=(),
            date=DAY,
            size=1,
            sha256="0" * 64,
            declared_sha256="0" * 64,
            status=ItemStatus.OK,
            certificates=(c,),
        )
        for n, c in enumerate(certs)
    )
    return EvidenceBundle(
        source=Path("/b"), source_type="folder", usable=True, as_of=NOW, items=items
    )


def anchors(tmp_path: Path, prod: TestPki, test: TestPki) -> Classifier:
    folder = tmp_path / "ca"
    prod.write_ca_dir(folder)
    test.write_ca_dir(folder)
    (folder / "anchors.yaml").write_text(
        f"anchors:\n  - {{file: {prod.root_file}, environment: production}}\n"
        f"  - {{file: {test.root_file}, environment: test}}\n",
        "utf-8",
    )
    return Classifier(load_anchors(folder))


def test_only_igc_sante_certificates_trigger_and_the_rest_is_listed(
    registry, chains, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    prod, test, public = chains
    a = leaf(prod, "api.ops.test", 20)
    b = leaf(prod, "client.ops.test", 35, "client")  # same habilitation, 15 days later
    c = leaf(prod, "other.ops.test", 80)  # beyond the 30-day grouping window: its own audit
    web = leaf(public, "www.ops.test", 10)  # public CA: never an audit
    tst = leaf(test, "api.ops.test", 5)  # TEST chain served on the production endpoint
    wire = TlsObservation(
        label="ops/api",
        host="127.0.0.1",
        port=1443,
        sni="api.ops.test",
        scanned_at=NOW,
        status=ScanStatus.OK,
        chain=(tst,),
    )
    plan = make_plan(
        registry,
        DAY,
        dt.timedelta(days=90),
        observations=[wire],
        bundles={"ops": filed(a, b, c, web), "renew": filed()},
        classifier=anchors(tmp_path, prod, test),
    )
    certs = [x for x in plan.audits if x.trigger is AuditTrigger.CERTIFICATE_EXPIRY]
    assert [(x.provider_id, x.habilitation, len(x.certificates)) for x in certs] == [
        ("ops", "EDC-FP-1", 2),
        ("ops", "EDC-FP-1", 1),
    ]
    grouped = certs[0]
    assert grouped.due_date == a.not_after.date()
    assert a.serial in grouped.reference and b.serial in grouped.reference  # names each one
    out = {o.fingerprint: o for o in plan.out_of_scope}
    assert set(out) == {web.sha256_fingerprint.lower(), tst.sha256_fingerprint.lower()}
    assert "hors IGC-Santé" in out[web.sha256_fingerprint.lower()].reason
    in_audits = {c.fingerprint for x in plan.audits for c in x.certificates}
    assert in_audits.isdisjoint(out)  # never inside an audit, never dropped
    (finding,) = [f for f in plan.findings if f.kind == "test_certificate_in_production"]
    assert finding.habilitation == "EDC-FP-1" and "scan 127.0.0.1:1443" in finding.message
    text = format_plan(plan.audits, DAY, dt.timedelta(days=90), plan=plan)
    assert "Out of scope (2 certificate(s)" in text and "test_certificate_in_production" in text
    record = json.loads(json.dumps([o.to_dict() for o in plan.out_of_scope]))
    assert all(set(r) >= {"subject", "fingerprint", "reason"} for r in record)


def test_habilitation_triggers_candidate_and_dependencies(registry) -> None:  # type: ignore[no-untyped-def]
    plan = make_plan(
        registry, DAY, dt.timedelta(days=90), bundles={"ops": filed(), "renew": filed()}
    )
    got = [(a.provider_id, a.trigger, a.habilitation, a.due_date) for a in plan.audits]
    assert got == [
        ("ops", AuditTrigger.INITIAL_ENTRY, "EDC-EP-2", DAY),  # a candidature
        ("renew", AuditTrigger.RENEWAL, "EDC-EP-9", dt.date(2026, 12, 15)),
        ("ops", AuditTrigger.HABILITATION_EXPIRY, "EDC-FP-1", dt.date(2027, 1, 20)),
        ("renew", AuditTrigger.HABILITATION_EXPIRY, "EDC-EP-9", dt.date(2027, 1, 20)),
    ]
    # EDC-FP-1 (until 2027-01-20) relies on EDC-EP-9, which expires the same day: fine; but
    # the plan shows the state of every relied-on habilitation on the audits
    later = make_plan(
        registry,
        dt.date(2027, 2, 1),
        dt.timedelta(days=10),
        bundles={"ops": filed(), "renew": filed()},
    )
    assert any(f.kind == "dependency" and "EDC-EP-9" in f.message for f in later.findings)
    assert "Renouvellement des engagements" in plan.audits[1].reference


def test_history_plans_initial_entry_for_habilitations_never_audited(
    registry, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    history = tmp_path / "history"
    done = history / "renew_certificate_expiry_2025-02-01"
    done.mkdir(parents=True)
    done.joinpath("findings.json").write_text(
        json.dumps({"audit": {"provider_id": "renew", "date": "2025-02-01"}}), "utf-8"
    )
    plan = make_plan(
        registry,
        DAY,
        dt.timedelta(days=1),
        history=history,
        bundles={"ops": filed(), "renew": filed()},
    )
    entries = {
        (a.provider_id, a.habilitation)
        for a in plan.audits
        if a.trigger is AuditTrigger.INITIAL_ENTRY
    }
    assert entries == {("ops", "EDC-FP-1"), ("ops", "EDC-EP-2")}  # renew was audited
    done.joinpath("findings.json").write_text("{not json", "utf-8")
    with pytest.raises(PlanError, match="history record"):
        make_plan(registry, DAY, history=history, bundles={"ops": filed(), "renew": filed()})


def test_supervision_events_name_their_requirements() -> None:
    event = SupervisionEvent(
        "ops", DAY, "Supervision traces [client_dn] DN inattendu : 3 trace(s)", Severity.HIGH
    )
    assert "EXI EDC PSC 121" in event_requirements(event)
    spelled = SupervisionEvent("ops", DAY, "écart EXI-EDC-PSC-114 constaté", Severity.HIGH)
    assert event_requirements(spelled) == ("EXI EDC PSC 114",)


def test_negative_lead_is_refused(registry) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlanError, match="lead"):
        make_plan(registry, DAY, lead=dt.timedelta(days=-1))


def test_version_1_registries_check_every_role_of_the_shared_number(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nproviders:\n  - {id: both, name: Both, habilitation: EDC-7, "
        "roles: [fs_utilisateur, editeur_utilisateur], evidence_bundle: b}\n",
        "utf-8",
    )
    registry = load_registry(path)
    history = tmp_path / "history"
    history.mkdir()
    plan = make_plan(
        registry, DAY, dt.timedelta(days=1), history=history, bundles={"both": filed()}
    )
    messages = [f.message for f in plan.findings]
    assert any("Fournisseur de Service Proxy" in m for m in messages)  # FU -> FP
    assert any("Éditeur de Logiciel Proxy" in m for m in messages)  # ELU -> EP
    (entry,) = plan.audits  # one initial entry for the one number, not one per role
    assert entry.trigger is AuditTrigger.INITIAL_ENTRY and len(entry.dependencies) == 2


def test_the_workbook_requirements_reach_the_bundle_loader(
    registry, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    import auditlib.batch.plan as plan_module

    seen: list[object] = []

    def fake_load(path: object, **kw: object) -> EvidenceBundle:
        seen.append(kw["known_requirements"])
        return filed()

    monkeypatch.setattr(plan_module, "load_bundle", fake_load)
    make_plan(registry, dt.date(2027, 2, 1), checkpoints_known=["EXI EDC PSC 101"])
    assert seen == [["EXI EDC PSC 101"], ["EXI EDC PSC 101"]]  # whatever the dependencies
