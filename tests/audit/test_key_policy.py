"""116, IGC-Santé key policy: one key on several endpoints, a key kept across a renewal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509

from auditlib.audit.assess import AssessmentSettings, CheckOutcome
from auditlib.audit.checks import key_policy_checks
from auditlib.certs import describe_certificate
from auditlib.demo.data import manifest_entry, write_bundle
from auditlib.evidence.bundle import load_bundle
from auditlib.testing.pki import IssuedCert, TestPki, generate_key
from auditlib.tls.scan import ScanStatus, TlsObservation

AS_OF = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
SETTINGS = AssessmentSettings.load()


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create()


def observed(label: str, port: int, cert: IssuedCert | None) -> TlsObservation:
    chain = (describe_certificate(x509.load_pem_x509_certificate(cert.cert_pem())),) if cert else ()
    return TlsObservation(
        label=label,
        host="127.0.0.1",
        port=port,
        sni=f"{label}.demo.esante.test",
        scanned_at=AS_OF,
        status=ScanStatus.OK if cert else ScanStatus.ERROR,
        chain=chain,
        error=None if cert else "connection refused",
    )


def outcomes(results: list) -> list[CheckOutcome]:  # type: ignore[type-arg]
    return [r.outcome for r in results]


def test_distinct_keys_pass_under_116(pki: TestPki) -> None:
    a = pki.issue("api.acme.test", dns_names=["api.acme.test"])
    b = pki.issue("proxy.acme.test", dns_names=["proxy.acme.test"])
    results = key_policy_checks([observed("api", 1, a), observed("proxy", 2, b)], None, SETTINGS)
    assert outcomes(results) == [CheckOutcome.PASS]
    assert results[0].requirements == ("EXI EDC PSC 116",)
    assert "2 clé(s) distincte(s)" in results[0].message


def test_one_key_on_two_endpoints_fails(pki: TestPki) -> None:
    key = generate_key()
    a = pki.issue("api.acme.test", private_key=key)
    b = pki.issue("proxy.acme.test", private_key=key)
    results = key_policy_checks([observed("api", 1, a), observed("proxy", 2, b)], None, SETTINGS)
    fails = [r for r in results if r.outcome is CheckOutcome.FAIL]
    shared = next(r for r in fails if "points d'accès" in r.name)
    assert "la même clé publique" in shared.message
    assert "api (127.0.0.1:1)" in shared.message and "proxy (127.0.0.1:2)" in shared.message
    assert CheckOutcome.PASS not in outcomes(results)


def test_the_same_certificate_on_two_endpoints_is_named_so(pki: TestPki) -> None:
    a = pki.issue("api.acme.test")
    results = key_policy_checks([observed("api", 1, a), observed("api2", 2, a)], None, SETTINGS)
    [fail] = results
    assert fail.outcome is CheckOutcome.FAIL and "le même certificat" in fail.message


def test_a_key_kept_across_a_renewal_fails(pki: TestPki, tmp_path: Path) -> None:
    key = generate_key()
    old = pki.issue("api.acme.test", private_key=key, not_before=AS_OF - dt.timedelta(days=1000))
    new = pki.issue("api.acme.test", private_key=key, not_before=AS_OF - dt.timedelta(days=10))
    files = {"certs/ancien.pem": old.cert_pem(), "certs/nouveau.pem": new.cert_pem()}
    items = [
        manifest_entry(
            p, data, "certificate", [116], AS_OF.date(), certificate={"use": "tls_server"}
        )
        for p, data in files.items()
    ]
    bundle = load_bundle(write_bundle(tmp_path / "b", "acme", files, items), as_of=AS_OF)
    results = key_policy_checks([observed("api", 1, new)], bundle, SETTINGS)
    [reuse] = [r for r in results if r.outcome is CheckOutcome.FAIL]
    assert "2 certificats successifs" in reuse.message
    assert reuse.message.index("certs/ancien.pem") < reuse.message.index("api (127.0.0.1:1)")
    # a fresh key at renewal passes
    fresh = pki.issue("api.acme.test", not_before=AS_OF - dt.timedelta(days=10))
    files = {"certs/ancien.pem": old.cert_pem(), "certs/nouveau.pem": fresh.cert_pem()}
    items = [
        manifest_entry(
            p, data, "certificate", [116], AS_OF.date(), certificate={"use": "tls_server"}
        )
        for p, data in files.items()
    ]
    bundle = load_bundle(write_bundle(tmp_path / "c", "acme", files, items), as_of=AS_OF)
    assert outcomes(key_policy_checks([observed("api", 1, fresh)], bundle, SETTINGS)) == [
        CheckOutcome.PASS
    ]


def test_an_endpoint_not_observed_is_not_verified(pki: TestPki) -> None:
    a = pki.issue("api.acme.test")
    results = key_policy_checks([observed("api", 1, a), observed("down", 2, None)], None, SETTINGS)
    assert outcomes(results) == [CheckOutcome.INCOMPLETE, CheckOutcome.PASS]
    assert "non vérifié pour down (127.0.0.1:2)" in results[0].message


def test_a_mapping_without_key_policy_runs_none(tmp_path: Path, pki: TestPki) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("checks: {tls: {}}\ndefault_severity: medium\n", encoding="utf-8")
    a = pki.issue("api.acme.test")
    assert key_policy_checks([observed("api", 1, a)], None, AssessmentSettings.load(path)) == []
