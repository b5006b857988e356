"""`auditlib demo`: staged endpoints, the live /traces fetch, the seal, and the whole run."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from auditlib.demo.data import (
    CA_DIR,
    CRL_SOURCE,
    DEMO_CLIENT_KEY_PASS,
    DEMO_CLIENT_KEY_PASS_ENV,
    DEMO_POSTURES,
    DEMO_SEAL_PASS,
    DEMO_SEAL_PASS_ENV,
    TRACE_END,
    TRACE_START,
    EndpointPosture,
    Posture,
)
from auditlib.demo.run import DemoError, set_demo_secrets, verify_reports
from auditlib.demo.seal import ensure_seal, seal_spec
from auditlib.demo.servers import DemoEndpoint, port_is_free, start_demo_servers
from auditlib.errors import TestServerError, TraceError
from auditlib.registry import load_registry
from auditlib.sign import SealPolicy, SigningSettings, sign_pdf, verify_pdf
from auditlib.testing.pki import TestPki
from auditlib.testing.servers import closed_port
from auditlib.traces import TraceSettings, analyse_traces, fetch_traces, load_traces

pytestmark = pytest.mark.loopback

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data"
SECRET_MARKERS = (b"PRIVATE KEY", DEMO_CLIENT_KEY_PASS.encode(), DEMO_SEAL_PASS.encode())


def _free_postures() -> list[EndpointPosture]:
    """The demo postures on kernel-chosen free ports (tests never take the registry's)."""
    return [dataclasses.replace(p, port=closed_port()) for p in DEMO_POSTURES]


def _start_on_free_ports(
    stack: contextlib.ExitStack, attempts: int = 3
) -> tuple[list[EndpointPosture], list[DemoEndpoint]]:
    """Start the demo servers on free ports. A port found free may be taken (by any
    outgoing connection's ephemeral port) before our server binds it: then try new ports."""
    for attempt in range(attempts):
        postures = _free_postures()
        try:
            return postures, start_demo_servers(stack, DATA, postures)
        except TestServerError as exc:
            if "Address already in use" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def staged() -> Iterator[dict[str, DemoEndpoint]]:
    with contextlib.ExitStack() as stack:
        _, endpoints = _start_on_free_ports(stack)
        yield {f"{e.posture.provider_id}:{e.posture.posture}": e for e in endpoints}


def _client(
    minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
    maximum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_3,
    ciphers: str | None = None,
) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = minimum
        ctx.maximum_version = maximum
    if ciphers:
        ctx.set_ciphers(ciphers)
    return ctx


def _handshake(port: int, ctx: ssl.SSLContext) -> tuple[str, x509.Certificate]:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname="demo.test") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return str(tls.version()), x509.load_der_x509_certificate(der)


def test_each_posture_is_served_as_intended(staged: dict[str, DemoEndpoint]) -> None:
    compliant = staged["proxisante-editions:compliant"].posture.port
    version, cert = _handshake(compliant, _client())
    assert version == "TLSv1.3" and isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    with pytest.raises(ssl.SSLError):  # TLS 1.0 refused by the compliant endpoint
        _handshake(
            compliant, _client(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1, "ALL:@SECLEVEL=0")
        )

    legacy = staged["medicab:legacy"].posture.port
    version, _ = _handshake(
        legacy, _client(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1, "AES128-SHA:@SECLEVEL=0")
    )
    assert version == "TLSv1"

    weak = staged["santexpress:weak_key"].posture.port
    _, cert = _handshake(weak, _client(ciphers="ALL:@SECLEVEL=0"))
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 1024

    down = staged["medilogic:down"]
    assert down.server is None and port_is_free(down.posture.port)


def test_demo_crl_revokes_exactly_medicabs_server_certificate() -> None:
    """The demo's CRL source, read as an audit reads it (signature checked against the
    demo anchors, as of the demo date): medicab's certificate revoked, the others not,
    the TEST chain's too (its own CRL)."""
    from auditlib.audit.assess import AssessmentSettings, CheckOutcome
    from auditlib.audit.revocation import CrlSource, revocation_checks
    from auditlib.certs import describe_certificate
    from auditlib.demo.data import DEMO_DATE

    source = CrlSource.load(DATA / CRL_SOURCE, default_issuers=DATA / CA_DIR)
    certificates = []
    for posture in DEMO_POSTURES:
        pem = (DATA / "pki" / posture.provider_id / f"{posture.cert_file}.crt.pem").read_bytes()
        leaf = x509.load_pem_x509_certificates(pem)[0]
        certificates.append((posture.provider_id, describe_certificate(leaf)))
    results = revocation_checks(certificates, source, AssessmentSettings.load(), DEMO_DATE)
    outcomes = {r.source: r.outcome for r in results}
    assert outcomes.pop("medicab") is CheckOutcome.FAIL
    assert set(outcomes.values()) == {CheckOutcome.PASS}, [r.message for r in results]
    assert {"santexpress", "proxylink", "proxisante-editions"} <= set(outcomes)


def test_one_demo_certificate_is_served_on_two_endpoints() -> None:
    """The planted duplicated key: two registry endpoints of one provider, one certificate."""
    registry = load_registry(DATA / "registry.yaml")
    ports = [e.port for e in registry.get("proxisante-editions").endpoints]
    staged = [p for p in DEMO_POSTURES if p.port in ports]
    assert len(staged) == 2 and len({p.cert_file for p in staged}) == 1


def test_expiring_certificates_fall_in_the_plan_window() -> None:
    from auditlib.demo.data import DEMO_DATE, PLAN_WINDOW_DAYS

    expiring = []
    for posture in DEMO_POSTURES:
        pem = (DATA / "pki" / posture.provider_id / f"{posture.cert_file}.crt.pem").read_bytes()
        leaf = x509.load_pem_x509_certificates(pem)[0]
        days = (leaf.not_valid_after_utc - DEMO_DATE).days
        if days <= PLAN_WINDOW_DAYS:
            expiring.append(posture.provider_id)
    assert {"proxisante-editions", "santexpress", "proxylink", "medicab"} <= set(expiring)
    # renewed 10 days ago: its endpoints serve the new certificate; the previous one, filed
    # in the bundle, ends its cycle within the window (docs/guide/demo.md)
    assert "cloudproxy-sante" not in expiring


def test_mtls_endpoint_requires_a_client_certificate(staged: dict[str, DemoEndpoint]) -> None:
    port = staged["cloudproxy-sante:mtls"].posture.port
    with (
        pytest.raises((ssl.SSLError, ConnectionError)),
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        _client().wrap_socket(raw, server_hostname="demo.test") as tls,
    ):
        tls.sendall(b"GET /traces HTTP/1.1\r\nHost: x\r\n\r\n")
        if not tls.recv(100):
            raise ConnectionError("closed without an answer")


def _proxy(staged: dict[str, DemoEndpoint]) -> tuple[str, Path, Path, str]:
    registry = load_registry(DATA / "registry.yaml")
    provider = registry.get("cloudproxy-sante")
    endpoint = next(e for e in provider.endpoints if e.mtls)
    assert endpoint.client_cert and endpoint.client_key and provider.client_certificate_subject
    url = f"https://127.0.0.1:{staged['cloudproxy-sante:mtls'].posture.port}/traces"
    return url, endpoint.client_cert, endpoint.client_key, provider.client_certificate_subject


def test_live_traces_fetch_over_mtls_with_the_demo_client_certificate(
    staged: dict[str, DemoEndpoint], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DEMO_CLIENT_KEY_PASS_ENV, DEMO_CLIENT_KEY_PASS)
    url, cert, key, subject = _proxy(staged)
    export = fetch_traces(
        url,
        TRACE_START,
        TRACE_END,
        cert,
        key,
        DEMO_CLIENT_KEY_PASS_ENV,
        ca_dir=DATA / CA_DIR,
        timeout=10,
        evidence_dir=tmp_path,
    )
    filed = load_traces(DATA / "bundles" / "cloudproxy-sante" / "supervision" / "traces-proxy.json")
    assert export.total_records == filed.total_records > 100
    analysis = analyse_traces(export, TraceSettings(expected_client_subject=subject))
    assert analysis.bottom_line.value == "findings"
    dn = analysis.finding("client_dn")
    assert dn is not None and dn.count == 1  # the one planted mismatch; the rest match
    for path in tmp_path.iterdir():
        assert not any(m in path.read_bytes() for m in SECRET_MARKERS), path


def test_live_traces_fetch_refused_without_the_client_certificate(
    staged: dict[str, DemoEndpoint], tmp_path: Path
) -> None:
    url, _, _, _ = _proxy(staged)
    with pytest.raises(TraceError, match="client certificate"):
        fetch_traces(
            url, TRACE_START, TRACE_END, None, None, ca_dir=DATA / CA_DIR, evidence_dir=tmp_path
        )
    assert not any(tmp_path.iterdir())


def test_servers_stop_and_free_their_ports_even_on_error() -> None:
    with pytest.raises(RuntimeError), contextlib.ExitStack() as stack:
        postures, started = _start_on_free_ports(stack)
        assert all(
            not port_is_free(e.posture.port) for e in started if e.posture.posture != Posture.DOWN
        )
        raise RuntimeError("boom")
    assert all(port_is_free(p.port) for p in postures)


def test_sigterm_during_the_demo_stops_every_server() -> None:
    import signal
    import time

    from auditlib.demo.run import _sigterm_unwinds

    before = signal.getsignal(signal.SIGTERM)
    postures: list[EndpointPosture] = []
    with pytest.raises(KeyboardInterrupt), _sigterm_unwinds(), contextlib.ExitStack() as stack:
        postures, _ = _start_on_free_ports(stack)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # interrupted at once by the handler
    assert all(port_is_free(p.port) for p in postures)
    assert signal.getsignal(signal.SIGTERM) == before  # the handler was put back


def test_a_taken_port_is_a_clear_error() -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        weak = next(p for p in DEMO_POSTURES if p.posture is Posture.WEAK_KEY)
        with pytest.raises(TestServerError, match=str(port)), contextlib.ExitStack() as stack:
            start_demo_servers(stack, DATA, [dataclasses.replace(weak, port=port)])


def test_seal_is_issued_once_and_signed_pdfs_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pypdf import PdfWriter

    for name in (DEMO_SEAL_PASS_ENV, DEMO_CLIENT_KEY_PASS_ENV):
        monkeypatch.setenv(name, "x")  # recorded, so the test's changes are undone after it
        monkeypatch.delenv(name)
    assert set(set_demo_secrets()) == {DEMO_SEAL_PASS_ENV, DEMO_CLIENT_KEY_PASS_ENV}
    seal = ensure_seal(DATA, tmp_path / "pki")
    assert seal.created and seal.trust_dir == DATA / "pki" / "ca"
    again = ensure_seal(DATA, tmp_path / "pki")
    assert (again.path, again.created) == (seal.path, False)
    report = tmp_path / "report.pdf"
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    with report.open("wb") as handle:
        writer.write(handle)
    assert not verify_reports([report], DATA / CA_DIR)[0].verified  # not sealed yet
    sign_pdf(report, tmp_path / "report.signed.pdf", SigningSettings(signer=seal_spec(seal.path)))
    checked = verify_reports([report], DATA / CA_DIR)[0]
    assert checked.verified and checked.signed == tmp_path / "report.signed.pdf"
    other_ca = TestPki.create().write_ca_dir(tmp_path / "other-ca")
    assert not verify_reports([report], other_ca)[0].verified
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert not any(m in path.read_bytes() for m in SECRET_MARKERS), path


def test_installed_demo_without_ca_keys_seals_with_a_local_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wheel ships no demo CA key: the seal comes from a CA generated into the output
    folder, and the reports verify against the demo CA plus that one."""
    from pypdf import PdfWriter

    data = tmp_path / "data"
    shutil.copytree(DATA / "pki" / "ca", data / CA_DIR)
    monkeypatch.setenv(DEMO_SEAL_PASS_ENV, "x")
    seal = ensure_seal(data, tmp_path / "out" / "pki")
    assert seal.created and seal.trust_dir == tmp_path / "out" / "pki" / "trust"
    anchors = sorted(p.name for p in seal.trust_dir.iterdir())
    demo_anchors = [p.name for p in (DATA / CA_DIR).iterdir()]
    assert anchors == sorted(["demo-seal-issuing.pem", "demo-seal-root.pem", *demo_anchors])
    report = tmp_path / "report.pdf"
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    with report.open("wb") as handle:
        writer.write(handle)
    sign_pdf(report, tmp_path / "report.signed.pdf", SigningSettings(signer=seal_spec(seal.path)))
    assert verify_reports([report], seal.trust_dir)[0].verified
    assert not verify_reports([report], DATA / CA_DIR)[0].verified  # not the demo CA's seal
    assert not any((tmp_path / "out").rglob("*.key.pem"))  # the local CA's keys stay in memory
    again = ensure_seal(data, tmp_path / "out" / "pki")
    assert (again.path, again.created, again.trust_dir) == (seal.path, False, seal.trust_dir)


def test_demo_refuses_to_start_when_a_staged_port_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditlib.demo.run import DemoSettings, run_demo

    monkeypatch.setenv(DEMO_SEAL_PASS_ENV, DEMO_SEAL_PASS)
    monkeypatch.setenv(DEMO_CLIENT_KEY_PASS_ENV, DEMO_CLIENT_KEY_PASS)
    port = DEMO_POSTURES[0].port
    with socket.socket() as blocker:
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAITs
        try:
            blocker.bind(("127.0.0.1", port))
        except OSError:
            pytest.skip(f"port {port} is in use by something else")
        blocker.listen(1)
        with pytest.raises(DemoError, match=f"{port}"):
            run_demo(DemoSettings(data_dir=DATA, output=tmp_path / "out"), out=None)


# ----------------------------------------------------------------- the README's main job


def _processes_with_marker(marker: str) -> list[str]:
    """Live processes whose environment holds `marker` (inherited by every child the demo
    started, however deep: servers, batch workers, kernels). Linux /proc."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found.append(f"{entry.name}: {cmdline.decode(errors='replace')}")
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.notebook
def test_demo_end_to_end(tmp_path: Path) -> None:
    if not all(port_is_free(p.port) for p in DEMO_POSTURES):
        pytest.skip("a demo port is in use (another demo running?)")
    out = tmp_path / "demo-out"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (DEMO_SEAL_PASS_ENV, DEMO_CLIENT_KEY_PASS_ENV)
    }
    marker = f"AUDITLIB_DEMO_TEST_RUN={uuid.uuid4().hex}"
    env["AUDITLIB_DEMO_TEST_RUN"] = marker.split("=", 1)[1]
    command = [sys.executable, "-m", "auditlib", "demo", "--output", str(out), "--workers", "2"]
    proc = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stdout = proc.stdout
    assert "Demo summary" in stdout and "every demo server stopped" in stdout
    assert "28 requirements" in stdout  # the checkpoint grid summary comes first
    assert "Demo-only passphrases set for this process" in stdout
    folders = {p.parent.name: p.parent for p in out.glob("*/findings.json")}
    expected = {
        "proxisante-editions_certificate_expiry",
        "medilogic_certificate_expiry",
        "cloudproxy-sante_certificate_expiry",
        "cloudproxy-sante_supervision_event",
        "medicab_certificate_expiry",
        "santexpress_renewal",  # its TEST-chain certificate is out of scope (a plan finding)
        "proxylink_certificate_expiry",
    }
    assert {name.rsplit("_", 1)[0] for name in folders} == expected
    for name, folder in folders.items():
        provider = name.split("_", 1)[0]
        assert provider in stdout
        assert (folder / "report.pdf").is_file()
        signed = folder / "report.signed.pdf"
        assert verify_pdf(signed, DATA / CA_DIR, policy=SealPolicy.load()).bottom_line, signed
        record = json.loads((folder / "findings.json").read_text("utf-8"))
        assert record["provider"]["id"] == provider
    clean = json.loads(next(out.glob("proxylink_*/findings.json")).read_text("utf-8"))
    legacy = json.loads(next(out.glob("medicab_*/findings.json")).read_text("utf-8"))
    assert len(legacy["nonconformities"]) > len(clean["nonconformities"])
    cloud = json.loads(next(out.glob("cloudproxy-sante_certificate_*/findings.json")).read_text())
    pentest = [c for c in cloud["controls"] if c["ref"].startswith("EXI EDC PSC 109/")]
    assert pentest and all(c["status"] == "conforme" for c in pentest)  # done before renewal
    renewal = json.loads(next(out.glob("santexpress_renewal_*/findings.json")).read_text())
    assert "hors périmètre de cet audit" in {c["status"] for c in renewal["controls"]}
    events = (out / "supervision" / "events.csv").read_text("utf-8")
    assert "cloudproxy-sante" in events
    # issue 19 on the demo: 116 judges the three planted IGC-Santé items non conforme
    for audit, family in (
        ("proxisante-editions_certificate_expiry_*", "key_policy"),  # duplicated key
        ("medicab_certificate_expiry_*", "revocation"),  # revoked certificate
        ("santexpress_renewal_*", "certificate_chain"),  # TEST chain in production
    ):
        record = json.loads(next(out.glob(f"{audit}/findings.json")).read_text("utf-8"))
        failed = [
            c
            for c in record["controls"]
            if c["ref"].startswith("EXI EDC PSC 116/")
            and any(k["check"] == family and k["outcome"] == "fail" for k in c["checks"])
        ]
        assert failed and all(c["status"] == "non conforme" for c in failed), audit
    # nothing left behind: ports free, no server process, no secret in any output
    assert all(port_is_free(p.port) for p in DEMO_POSTURES)
    assert _processes_with_marker(marker) == []
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(m in data for m in SECRET_MARKERS), path
