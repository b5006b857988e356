"""116 revocation: CRLs only from the auditor's source (folder, URL map with allow-list),
signature and freshness checked, "non vérifié" whenever no usable CRL says otherwise."""

from __future__ import annotations

import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509

from auditlib.audit.assess import AssessmentSettings, CheckOutcome
from auditlib.audit.revocation import CrlSource, RevocationSourceError, revocation_checks
from auditlib.certs import CertificateInfo, describe_certificate
from auditlib.testing.pki import CRL_URL, IssuedCert, TestPki

AS_OF = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)
SETTINGS = AssessmentSettings.load()


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create(now=AS_OF - dt.timedelta(days=1))


@pytest.fixture(scope="module")
def certs(pki: TestPki) -> tuple[IssuedCert, IssuedCert]:
    return pki.issue("api.acme.test"), pki.issue("revoque.acme.test")


def info(cert: IssuedCert) -> CertificateInfo:
    return describe_certificate(x509.load_pem_x509_certificate(cert.cert_pem()))


def source_file(folder: Path, text: str) -> Path:
    path = folder / "crl-source.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def judge(
    certs: tuple[IssuedCert, IssuedCert], source: CrlSource | None
) -> dict[str, tuple[CheckOutcome, str]]:
    found = revocation_checks(
        [("api", info(certs[0])), ("bundle/revoque.pem", info(certs[1]))], source, SETTINGS, AS_OF
    )
    assert all(r.requirements == ("EXI EDC PSC 116",) for r in found)
    return {r.source or "": (r.outcome, r.message) for r in found}


def test_a_crl_folder_revokes_one_certificate(
    pki: TestPki, certs: tuple[IssuedCert, IssuedCert], tmp_path: Path
) -> None:
    (tmp_path / "crls").mkdir()
    (tmp_path / "crls" / "ac.crl").write_bytes(pki.crl([certs[1]]))
    pki.write_ca_dir(tmp_path / "anchors")
    source = CrlSource.load(source_file(tmp_path, "folder: crls\nissuers: anchors\n"))
    out = judge(certs, source)
    assert out["api"][0] is CheckOutcome.PASS and "signature vérifiée" in out["api"][1]
    outcome, message = out["bundle/revoque.pem"]
    assert outcome is CheckOutcome.FAIL and "RÉVOQUÉ le 2026-11-26" in message


def test_the_trust_anchors_verify_by_default(
    pki: TestPki, certs: tuple[IssuedCert, IssuedCert], tmp_path: Path
) -> None:
    (tmp_path / "crls").mkdir()
    (tmp_path / "crls" / "ac.crl").write_bytes(pki.crl([certs[1]]))
    anchors = pki.write_ca_dir(tmp_path / "anchors")
    source = CrlSource.load(source_file(tmp_path, "folder: crls\n"), default_issuers=anchors)
    assert judge(certs, source)["bundle/revoque.pem"][0] is CheckOutcome.FAIL


@pytest.mark.parametrize(
    ("crl_kind", "expected"),
    [
        ("forged", "signature de la CRL invalide"),
        ("stale", "CRL périmée"),
        ("garbage", "not a CRL"),
        ("no-anchor", "aucun certificat d'AC"),
    ],
)
def test_an_unusable_crl_leaves_the_certificate_not_verified(
    pki: TestPki,
    certs: tuple[IssuedCert, IssuedCert],
    tmp_path: Path,
    crl_kind: str,
    expected: str,
) -> None:
    other = TestPki.create(now=AS_OF)
    data = {
        "forged": pki.crl([certs[1]], signer=other.issuing),
        "stale": pki.crl([certs[1]], this_update=AS_OF - dt.timedelta(days=30)),
        "garbage": b"not a crl at all",
        "no-anchor": pki.crl([certs[1]]),
    }[crl_kind]
    crl = tmp_path / "ac.crl"
    crl.write_bytes(data)
    anchors = pki.write_ca_dir(tmp_path / "anchors")
    if crl_kind == "no-anchor":  # the issuers folder holds no CA of that name
        for pem in anchors.iterdir():
            pem.unlink()
    source = CrlSource.load(
        source_file(tmp_path, f'urls: {{"{CRL_URL}": ac.crl}}\nissuers: anchors\n'),
        default_issuers=anchors,
    )
    outcome, message = judge(certs, source)["bundle/revoque.pem"]
    assert outcome is CheckOutcome.INCOMPLETE
    assert "révocation non vérifiée" in message and expected in message


def test_without_a_source_nothing_is_presumed(certs: tuple[IssuedCert, IssuedCert]) -> None:
    out = judge(certs, None)
    assert {o for o, _ in out.values()} == {CheckOutcome.INCOMPLETE}
    assert "aucune source de CRL" in out["api"][1]


def test_a_distribution_point_not_listed_is_never_fetched(
    certs: tuple[IssuedCert, IssuedCert], tmp_path: Path
) -> None:
    source = CrlSource.load(source_file(tmp_path, "urls: {}\n"))
    outcome, message = judge(certs, source)["api"]
    assert outcome is CheckOutcome.INCOMPLETE
    assert "point de distribution non listé" in message and CRL_URL in message


class _Handler(http.server.BaseHTTPRequestHandler):
    body: ClassVar[bytes] = b""
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/ac.crl")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def crl_server(pki: TestPki, certs: tuple[IssuedCert, IssuedCert]) -> Iterator[str]:
    _Handler.body = pki.crl([certs[1]])
    _Handler.hits.clear()
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.loopback
def test_a_loopback_crl_on_the_allow_list(
    pki: TestPki, certs: tuple[IssuedCert, IssuedCert], tmp_path: Path, crl_server: str
) -> None:
    anchors = pki.write_ca_dir(tmp_path / "anchors")
    text = f'urls: {{"{CRL_URL}": "{crl_server}/ac.crl"}}\nallowed_hosts: [127.0.0.1]\n'
    source = CrlSource.load(source_file(tmp_path, text), default_issuers=anchors)
    out = judge(certs, source)
    assert out["bundle/revoque.pem"][0] is CheckOutcome.FAIL
    assert out["api"][0] is CheckOutcome.PASS
    assert _Handler.hits == ["/ac.crl"]  # fetched once for both certificates
    # offline: nothing fetched, not verified
    offline = CrlSource.load(source_file(tmp_path, text + "offline: true\n"), anchors)
    outcome, message = judge(certs, offline)["api"]
    assert outcome is CheckOutcome.INCOMPLETE and "hors ligne" in message
    assert _Handler.hits == ["/ac.crl"]


@pytest.mark.loopback
def test_size_limit_and_redirects_are_refused(
    pki: TestPki, certs: tuple[IssuedCert, IssuedCert], tmp_path: Path, crl_server: str
) -> None:
    anchors = pki.write_ca_dir(tmp_path / "anchors")
    small = (
        f'urls: {{"{CRL_URL}": "{crl_server}/ac.crl"}}\nallowed_hosts: [127.0.0.1]\n'
        "max_bytes: 100\n"
    )
    source = CrlSource.load(source_file(tmp_path, small), default_issuers=anchors)
    outcome, message = judge(certs, source)["api"]
    assert outcome is CheckOutcome.INCOMPLETE and "100-byte limit" in message
    moved = f'urls: {{"{CRL_URL}": "{crl_server}/redirect"}}\nallowed_hosts: [127.0.0.1]\n'
    source = CrlSource.load(source_file(tmp_path, moved), default_issuers=anchors)
    outcome, message = judge(certs, source)["api"]
    assert outcome is CheckOutcome.INCOMPLETE and "download failed" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('urls: {"http://x/a.crl": "http://evil.example/a.crl"}\n', "not in allowed_hosts"),
        ("allowed_hosts: 127.0.0.1\n", "allowed_hosts must be a list"),
        ("max_bytes: -1\n", "must be > 0"),
        ("timeout_seconds: soon\n", "timeout_seconds"),
        ("offline: maybe\n", "offline must be true or false"),
        ("fetch_everything: true\n", "unknown key(s) fetch_everything"),
        ("- a\n", "expected a mapping"),
        ("urls: [a]\n", "urls must map"),
    ],
)
def test_a_broken_source_file_is_a_clear_error(tmp_path: Path, text: str, expected: str) -> None:
    path = source_file(tmp_path, text)
    with pytest.raises(RevocationSourceError) as caught:
        CrlSource.load(path)
    assert str(path) in str(caught.value) and expected in str(caught.value)


def test_an_audit_reads_the_auditors_crls(tmp_path: Path) -> None:
    from auditlib.audit.run import AuditSettings, run_audit
    from auditlib.demo.data import load_demo_pki
    from auditlib.evidence.bundle import load_bundle
    from auditlib.tls.scan import save_observations

    data = Path(__file__).resolve().parents[2] / "data"
    bundle = load_bundle(data / "bundles" / "medilogic", as_of=AS_OF)
    item, filed = next((i, c) for i, c in bundle.certificates if not c.is_ca)
    demo = load_demo_pki(data)
    (tmp_path / "crls").mkdir()
    (tmp_path / "crls" / "ac.crl").write_bytes(demo.crl([int(filed.serial, 16)], this_update=AS_OF))
    crl_source = source_file(tmp_path, f"folder: crls\nissuers: {data / 'pki' / 'ca'}\n")
    base = AuditSettings(
        provider_id="medilogic",
        audit_date=AS_OF.date(),
        registry_path=data / "registry.yaml",
        checkpoints_path=data / "checkpoints_demo.xlsx",
        scan_results_path=save_observations(tmp_path / "scans.json", []),
    )
    run = run_audit(base)
    assert not [c for c in run.checks if c.check == "revocation"]
    assert any("aucune source de CRL configurée" in p for p in run.problems)
    import dataclasses

    run = run_audit(dataclasses.replace(base, crl_source=crl_source))
    assert run.input_hashes["crl_source"] and run.input_hashes["mapping"] is None
    [revoked] = [c for c in run.checks if c.check == "revocation" and c.source == item.path]
    assert revoked.outcome is CheckOutcome.FAIL and "RÉVOQUÉ" in revoked.message
    controls = [c for c in run.assessment.controls if revoked in c.checks]
    assert controls and all(c.status.value == "non conforme" for c in controls)
    assert all(c.control.requirement_id == "EXI EDC PSC 116" for c in controls)
