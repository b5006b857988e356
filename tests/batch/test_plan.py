"""The audit plan (auditlib.batch.plan, `auditlib plan`) on the demo data and on hostile inputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from auditlib.audit.assess import AuditTrigger
from auditlib.audit.run import AuditSettings
from auditlib.batch.plan import make_plan, parse_date, parse_duration, plan_audits
from auditlib.certs import describe_certificate
from auditlib.classify import Classifier, load_anchors
from auditlib.cli import main
from auditlib.demo.data import DEMO_DATE
from auditlib.errors import PlanError
from auditlib.registry import load_registry
from auditlib.severity import Severity
from auditlib.tls.scan import ScanStatus, TlsObservation, save_observations
from auditlib.traces.model import SupervisionEvent

DATA = Path(__file__).resolve().parents[2] / "data"
REGISTRY = DATA / "registry.yaml"
DAY = DEMO_DATE.date()
DEMO_CLASSIFIER = Classifier(load_anchors(DATA / "pki" / "ca"))


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(REGISTRY)


def test_demo_plan_lists_the_certificates_expiring_within_90_days(registry) -> None:  # type: ignore[no-untyped-def]
    audits = plan_audits(registry, DAY, dt.timedelta(days=90), classifier=DEMO_CLASSIFIER)
    certificate = [a for a in audits if a.trigger is AuditTrigger.CERTIFICATE_EXPIRY]
    assert [a.provider_id for a in certificate] == [
        "medicab",
        "cloudproxy-sante",
        "proxisante-editions",
        "proxylink",
        "medilogic",
    ]
    assert len(certificate) >= 5  # the demo's promise (docs/guide/demo.md)
    first = certificate[2]
    assert first.trigger is AuditTrigger.CERTIFICATE_EXPIRY
    assert first.due_date == dt.date(2027, 1, 7)
    assert first.opens_on == dt.date(2026, 11, 8)  # 60 days' notice (ANS)
    assert first.days_until_due == 40 and not first.overdue
    assert first.habilitation == "EDC-EP-2024-0001"
    assert first.certificate is not None
    assert first.certificate.subject.startswith("CN=api.proxisante-editions")
    assert first.certificate.sources == ("bundle certs/server.pem",)
    assert first.certificate.classification is not None
    assert first.certificate.classification.product == "SERV SSL_SERV"
    assert first.pentest_renewed is True
    assert "expire le 2027-01-07" in first.reference
    params = first.parameters(
        registry_path=REGISTRY, checkpoints_path=DATA / "x.xlsx", output_dir="out"
    )
    assert params["audit_date"] == "2026-11-28" and params["trigger"] == "certificate_expiry"
    assert params["scan_results_path"] is None and Path(str(params["output_dir"])).is_absolute()
    settings = AuditSettings.from_parameters(**params)  # what the notebook does with them
    assert settings.provider_id == "proxisante-editions" and settings.audit_date == DAY
    assert settings.trigger_reference == first.reference


def test_demo_plan_lists_the_test_certificate_out_of_scope_with_a_finding(registry) -> None:  # type: ignore[no-untyped-def]
    plan = make_plan(registry, DAY, dt.timedelta(days=90), classifier=DEMO_CLASSIFIER)
    (out,) = plan.out_of_scope
    assert out.provider_id == "santexpress" and "TEST" in out.reason
    assert out.fingerprint == out.fingerprint.lower() and len(out.fingerprint) == 64
    assert not any(c.fingerprint == out.fingerprint for a in plan.audits for c in a.certificates)
    kinds = {(f.provider_id, f.kind) for f in plan.findings}
    assert kinds == {
        ("santexpress", "test_certificate_in_production"),
        ("santexpress", "dependency"),  # no FS Proxy habilitation to rely on
    }
    santexpress = [a for a in plan.audits if a.provider_id == "santexpress"]
    assert [a.trigger for a in santexpress] == [AuditTrigger.RENEWAL]
    assert santexpress[0].due_date == dt.date(2027, 1, 15)
    assert any("Fournisseur de Service Proxy" in d for d in santexpress[0].dependencies)


def test_without_ca_dir_the_test_certificate_counts_unverified(registry) -> None:  # type: ignore[no-untyped-def]
    plan = make_plan(registry, DAY, dt.timedelta(days=90))
    assert not plan.out_of_scope
    santexpress = [a for a in plan.audits if a.provider_id == "santexpress" and a.certificate]
    (audit,) = santexpress
    assert audit.certificate is not None and audit.certificate.classification is not None
    assert "ancre non vérifiée" in audit.certificate.classification.label


def test_overdue_audits_come_first(registry) -> None:  # type: ignore[no-untyped-def]
    audits = plan_audits(
        registry, dt.date(2027, 1, 10), dt.timedelta(days=20), classifier=DEMO_CLASSIFIER
    )
    # cloudproxy's previous certificate expired on 2026-12-28 and was renewed: history
    assert [(a.provider_id, a.trigger.value, a.overdue) for a in audits] == [
        ("medicab", "certificate_expiry", True),
        ("proxisante-editions", "certificate_expiry", True),
        ("santexpress", "renewal", False),
    ]
    assert [a.days_until_due for a in audits[:2]] == [-18, -3]


def test_pentest_per_certificate_cycle(registry) -> None:  # type: ignore[no-untyped-def]
    audits = plan_audits(registry, DAY, dt.timedelta(days=1100), classifier=DEMO_CLASSIFIER)
    cloud = [a for a in audits if a.provider_id == "cloudproxy-sante" and a.certificate]
    # the ending cycle: pentest done just before renewal, within that certificate's validity
    assert cloud[0].due_date == dt.date(2026, 12, 28) and cloud[0].pentest_renewed is True
    # the new cycle (renewed 10 days ago) has no pentest yet: not renewed, due by its end
    assert cloud[-1].pentest_renewed is False
    by_id = {a.provider_id: a for a in audits if a.certificate}
    assert by_id["medicab"].pentest_renewed is False  # no pentest at all
    assert by_id["proxylink"].pentest_renewed is True


def test_certificates_seen_on_the_wire_merge_with_the_bundle(registry) -> None:  # type: ignore[no-untyped-def]
    from cryptography import x509

    pem = (DATA / "pki" / "proxylink" / "server.crt.pem").read_bytes()
    leaf = describe_certificate(x509.load_pem_x509_certificates(pem)[0])
    seen = TlsObservation(
        label="proxylink/API:18447",
        host="127.0.0.1",
        port=18447,
        sni="api.proxylink.demo.esante.test",
        scanned_at=DEMO_DATE,
        status=ScanStatus.OK,
        chain=(leaf,),
    )
    audits = plan_audits(registry, DAY, dt.timedelta(days=90), observations=[seen])
    (proxylink,) = [a for a in audits if a.provider_id == "proxylink"]
    assert proxylink.certificate is not None
    assert proxylink.certificate.sources == (
        "scan 127.0.0.1:18447 (proxylink/API:18447)",
        "bundle certs/server.pem",
    )


def test_superseded_filed_certificates_are_dropped_but_not_served_ones() -> None:
    from cryptography import x509

    from auditlib.batch.plan import _merge, _Seen

    pem = (DATA / "pki" / "proxylink" / "server.crt.pem").read_bytes()
    old = describe_certificate(x509.load_pem_x509_certificates(pem)[0])
    new = dataclasses.replace(
        old,
        serial="NEW",
        sha256_fingerprint="ff" * 32,
        not_after=old.not_after + dt.timedelta(days=365),
    )
    kept, gone = _merge(
        [_Seen(old, "bundle certs/old.pem", None), _Seen(new, "bundle certs/new.pem", None)]
    )
    assert [m.cert.serial for m in kept] == ["NEW"]
    assert [m.cert.serial for m in gone] == [old.serial]  # listed out of scope, not dropped
    kept, gone = _merge(
        [_Seen(old, "scan 127.0.0.1:1 (x)", None), _Seen(new, "bundle certs/new.pem", None)]
    )
    assert sorted(m.cert.serial for m in kept) == sorted(["NEW", old.serial]) and not gone


def test_supervision_events_become_audits(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events = [
        SupervisionEvent("medicab", dt.date(2026, 11, 20), "SEND sans session", Severity.HIGH),
        SupervisionEvent("santexpress", dt.date(2026, 11, 21), "trou de traces", Severity.LOW),
        SupervisionEvent("EDC-FP-2024-0006", dt.date(2026, 9, 1), "rafale", Severity.CRITICAL),
    ]
    audits = plan_audits(registry, DAY, dt.timedelta(days=90), events=events)
    supervision = [a for a in audits if a.trigger is AuditTrigger.SUPERVISION_EVENT]
    assert [(a.provider_id, a.due_date, a.overdue) for a in supervision] == [
        ("proxylink", dt.date(2026, 10, 1), True),  # habilitation number resolved
        ("medicab", dt.date(2026, 12, 20), False),
    ]
    assert audits[0].trigger is AuditTrigger.SUPERVISION_EVENT  # overdue first
    assert "SEND sans session" in supervision[1].reference
    assert supervision[1].pentest_renewed is None
    strict = plan_audits(
        registry, DAY, dt.timedelta(days=90), events=events, min_severity="critical"
    )
    assert [a.provider_id for a in strict if a.event] == ["proxylink"]
    with pytest.raises(PlanError, match="not in the registry"):
        plan_audits(
            registry,
            DAY,
            events=[SupervisionEvent("nobody", DAY, "x", Severity.HIGH)],
        )


@pytest.mark.parametrize(
    ("text", "days"), [("90d", 90), ("12w", 84), ("3m", 90), ("45", 45), (" 7D ", 7), ("0d", 0)]
)
def test_durations(text: str, days: int) -> None:
    assert parse_duration(text) == dt.timedelta(days=days)


@pytest.mark.parametrize("text", ["", "abc", "-5d", "90x", "1.5d", "99999d", "d"])
def test_bad_durations_are_clear_errors(text: str) -> None:
    with pytest.raises(PlanError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["2026-13-01", "tomorrow", "28/11/2026", ""])
def test_bad_dates_are_clear_errors(text: str) -> None:
    with pytest.raises(PlanError, match="bad date"):
        parse_date(text)


# --------------------------------------------------------------------------- CLI


def test_cli_table_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--registry", str(REGISTRY), "--as-of", "2026-11-28"]) == 0
    out = capsys.readouterr().out
    assert "proxisante-editions" in out and "7 audit(s) due, 0 overdue" in out
    argv = ["plan", "--registry", str(REGISTRY), "--as-of", "2026-11-28", "--json"]
    assert main([*argv, "--ca-dir", str(DATA / "pki" / "ca")]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [o["provider_id"] for o in payload["out_of_scope"]] == ["santexpress"]
    assert set(payload["out_of_scope"][0]) >= {"subject", "fingerprint", "reason"}
    assert all("provider_id" in a for a in payload["audits"])
    assert {f["kind"] for f in payload["findings"]} == {
        "dependency",
        "test_certificate_in_production",
    }
    argv = ["plan", "--registry", str(REGISTRY), "--as-of", "2027-01-10", "--within", "3w"]
    assert main([*argv, "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["format"] == "auditlib.plan/1"
    assert payload["audits"][0]["overdue"] is True
    assert "out_of_scope" in payload and "findings" in payload


def test_cli_with_events_and_scan_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.csv"
    events.write_text(
        "provider,date,event,severity\nmedicab,2026-11-27,SEND sans session,high\n", "utf-8"
    )
    scans = save_observations(tmp_path / "scans.json", [])
    argv = ["plan", "--registry", str(REGISTRY), "--as-of", "2026-11-28"]
    assert main([*argv, "--events", str(events), "--scan-results", str(scans)]) == 0
    assert "supervision_event" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--within", "soon"], "bad duration"),
        (["--as-of", "2026-02-30"], "bad date"),
        (["--registry", "/nonexistent/registry.yaml"], "registry"),
        (["--scan-results", "/nonexistent/scans.json"], "no such file"),
        (["--event-delay=-1d"], "bad duration"),
        (["--lead", "tomorrow"], "bad duration"),
        (["--ca-dir", "/nonexistent/ca"], "no such folder"),
        (["--history", "/nonexistent/history"], "no such folder"),
    ],
)
def test_cli_bad_input_exits_2(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--registry", str(REGISTRY), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("events.csv", "provider,date\nmedicab,2026-11-27\n"),
        ("events.csv", "provider,date,event,severity\nmedicab,hier,x,high\n"),
        ("events.csv", "provider,date,event,severity\nmedicab,2026-11-27,x,apocalyptic\n"),
        ("events.csv", "provider,date,event,severity\nghost,2026-11-27,x,high\n"),
        ("events.yaml", "{not: [a list"),
        ("events.yaml", "just a string"),
        ("events.csv", b"\xff\xfe\x00garbage"),
    ],
)
def test_cli_garbage_events_file_exits_2(
    tmp_path: Path, name: str, content: str | bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / name
    if isinstance(content, bytes):
        events.write_bytes(content)
    else:
        events.write_text(content, "utf-8")
    argv = ["plan", "--registry", str(REGISTRY), "--as-of", "2026-11-28", "--events", str(events)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err
