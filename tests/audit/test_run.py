"""One audit end to end on demo bundles, with a real TLS server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import yaml

from auditlib.audit.assess import CheckOutcome, ControlStatus
from auditlib.audit.run import AuditSettings, run_audit
from auditlib.testing.pki import TestPki
from auditlib.testing.servers import TestServerSpec, closed_port, tls_server
from auditlib.tls.scan import save_observations

pytestmark = pytest.mark.loopback

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
AUDIT_DATE = dt.date(2026, 11, 28)


def registry(tmp_path: Path, pid: str, roles: list[str], bundle: Path, port: int) -> Path:
    text = f"""
version: 1
providers:
  - id: {pid}
    name: Test {pid}
    habilitation: EDC-TEST-{port}
    roles: {json.dumps(roles)}
    endpoints:
      - host: 127.0.0.1
        port: {port}
        sni: api.{pid}.demo.esante.test
        mtls: false
        label: API
    evidence_bundle: {bundle}
"""
    path = tmp_path / "registry.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def settings(tmp_path: Path, reg: Path, pid: str, **kw: object) -> AuditSettings:
    return AuditSettings(
        provider_id=pid,
        audit_date=AUDIT_DATE,
        registry_path=reg,
        checkpoints_path=DATA / "checkpoints_demo.xlsx",
        scan_timeout=2,
        **kw,  # type: ignore[arg-type]
    )


def test_live_scan_reaches_the_tls_requirements(tmp_path: Path) -> None:
    pki = TestPki.create()
    leaf = pki.issue("api.proxylink.demo.esante.test", dns_names=["api.proxylink.demo.esante.test"])
    ca_dir = pki.write_ca_dir(tmp_path / "ca")
    spec = TestServerSpec(cert_chain_pem=pki.chain_pem(leaf), key_pem=leaf.key_pem())
    with tls_server(spec) as server:
        reg = registry(
            tmp_path,
            "proxylink",
            ["fs_proxy", "editeur_proxy"],
            DATA / "bundles" / "proxylink.zip",
            server.port,
        )
        run = run_audit(settings(tmp_path, reg, "proxylink", ca_dir=ca_dir))
    assert run.observations[0].status.value == "OK"
    tls_controls = [
        c
        for c in run.assessment.controls
        if c.control.requirement_id == "EXI EDC PSC 115"
        and c.status is not ControlStatus.HORS_PERIMETRE
    ]
    assert tls_controls
    pendant = [
        c
        for c in run.assessment.controls
        if c.control.requirement_id == "EXI EDC PSC 115" and c.control.phase.value == "PENDANT"
    ]
    # a certificate-expiry audit assesses AVANT + APRES: the scan is not supervision
    assert pendant and all(c.status is ControlStatus.HORS_PERIMETRE for c in pendant)
    for control in tls_controls:
        families = {c.check for c in control.checks}
        assert "tls" in families
        assert control.status is not ControlStatus.A_EVALUER
    assert run.input_hashes["scan_results"] is None  # scanned live
    assert run.input_hashes["checkpoints"] and run.input_hashes["bundle"]
    frame = run.tls_table()
    assert {"R3", "R4", "R26"} <= set(frame["rule"])


def test_saved_scan_results_and_missing_endpoint(tmp_path: Path) -> None:
    port = closed_port()
    bundle = tmp_path / "bundle"
    shutil.copytree(DATA / "bundles" / "medilogic", bundle)
    manifest = yaml.safe_load((bundle / "manifest.yaml").read_text(encoding="utf-8"))
    cited = next(i for i in manifest["items"] if "103" in map(str, i["requirements"]))
    with (bundle / cited["path"]).open("ab") as handle:
        handle.write(b"\nadded after the manifest was sealed\n")
    reg = registry(tmp_path, "medilogic", ["editeur_utilisateur"], bundle, port)
    empty = save_observations(tmp_path / "scans.json", [])
    run = run_audit(settings(tmp_path, reg, "medilogic", scan_results_path=empty))
    obs = run.observations[0]
    assert obs.status.value == "ERROR" and "absent du fichier" in (obs.error or "")
    assert run.input_hashes["scan_results"]
    # A file filed for 103 was altered: every control of 103 fails.
    integrity = [c for c in run.checks if c.check == "evidence_integrity"]
    assert integrity and all(c.outcome is CheckOutcome.FAIL for c in integrity)
    assert any(cited["path"] == c.name for c in integrity)
    statuses = {
        c.status for c in run.assessment.controls if c.control.requirement_id == "EXI EDC PSC 103"
    }
    assert statuses == {ControlStatus.NON_CONFORME}
    # The unreachable endpoint makes the TLS-backed controls "erreur", never "conforme".
    tls_116 = [c for c in run.assessment.controls if c.control.requirement_id == "EXI EDC PSC 116"]
    assert tls_116 and all(
        c.status is ControlStatus.NON_CONFORME or c.status is ControlStatus.ERREUR for c in tls_116
    )


def test_unset_passphrase_variable_is_an_endpoint_error_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUDITLIB_TEST_PASS", raising=False)
    pki = TestPki.create()
    client = pki.issue("client", "client")
    cert, key = client.write(tmp_path, "client", passphrase=b"secret-xyz")
    bundle = tmp_path / "bundle"
    shutil.copytree(DATA / "bundles" / "medicab", bundle)
    reg = tmp_path / "registry.yaml"
    reg.write_text(
        f"""
version: 1
providers:
  - id: medicab
    name: Medicab
    habilitation: EDC-T-1
    roles: [fs_utilisateur]
    endpoints:
      - host: 127.0.0.1
        port: {closed_port()}
        mtls: true
        client_cert: {cert}
        client_key: {key}
        key_passphrase_env: AUDITLIB_TEST_PASS
    evidence_bundle: {bundle}
""",
        encoding="utf-8",
    )
    run = run_audit(settings(tmp_path, reg, "medicab"))
    assert run.observations[0].status.value == "ERROR"
    assert "AUDITLIB_TEST_PASS" in (run.observations[0].error or "")
    assert "secret-xyz" not in repr(run)
