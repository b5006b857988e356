"""The audit plan (auditlib.batch.plan, `auditlib plan`) on the demo data and on hostile inputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import pytest

from auditlib.audit.assess import AuditTrigger
from auditlib.audit.run import AuditSettings
from auditlib.batch.plan import parse_date, parse_duration, plan_audits
from auditlib.certs import describe_certificate
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


@pytest.fixture(scope="module")
def registry():  # type: ignore[no-untyped-def]
    return load_registry(REGISTRY)


def test_demo_plan_lists_the_certificates_expiring_within_90_days(registry) -> None:  # type: ignore[no-untyped-def]
    audits = plan_audits(registry, DAY, dt.timedelta(days=90))
    assert [a.provider_id for a in audits] == [
        "medicab",
        "proxisante-editions",
        "santexpress",
        "proxylink",
        "medilogic",
    ]
    first = audits[1]
    assert first.trigger is AuditTrigger.CERTIFICATE_EXPIRY
    assert first.due_date == dt.date(2027, 1, 7)
    assert first.days_until_due == 40 and not first.overdue
    assert first.certificate is not None
    assert first.certificate.subject.startswith("CN=api.proxisante-editions")
    assert first.certificate.sources == ("bundle certs/server.pem",)
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


def test_overdue_audits_come_first(registry) -> None:  # type: ignore[no-untyped-def]
    audits = plan_audits(registry, dt.date(2027, 1, 10), dt.timedelta(days=20))
    assert [(a.provider_id, a.overdue) for a in audits] == [
        ("medicab", True),
        ("proxisante-editions", True),
        ("santexpress", False),
    ]
    assert [a.days_until_due for a in audits[:2]] == [-18, -3]


def test_pentest_not_renewed_for_the_current_certificate(registry) -> None:  # type: ignore[no-untyped-def]
    audits = {a.provider_id: a for a in plan_audits(registry, DAY, dt.timedelta(days=1100))}
    assert audits["cloudproxy-sante"].pentest_renewed is False  # pentest before notBefore
    assert audits["medicab"].pentest_renewed is False  # no pentest at all
    assert audits["proxylink"].pentest_renewed is True


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
    assert "proxisante-editions" in out and "5 audit(s) due, 0 overdue" in out
    argv = ["plan", "--registry", str(REGISTRY), "--as-of", "2027-01-10", "--within", "3w"]
    assert main([*argv, "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["format"] == "auditlib.plan/1"
    assert payload["audits"][0]["overdue"] is True


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
