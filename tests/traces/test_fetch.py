"""Live fetch of /traces over mutual TLS from a local server on 127.0.0.1 (test PKI)."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from auditlib.errors import TraceError
from auditlib.files import sha256_file
from auditlib.testing.pki import TestPki
from auditlib.testing.traces import generate_traces
from auditlib.traces import SIDECAR_SUFFIX, analyse_traces, fetch_traces, load_traces

pytestmark = pytest.mark.loopback

KEY = ("ec", 256)
START = dt.datetime(2026, 11, 2, 7, 0, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 2, 19, 0, tzinfo=dt.UTC)


@dataclass
class Material:
    folder: Path
    ca_dir: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    other_client_cert: Path
    other_client_key: Path
    server_chain: Path
    server_key: Path
    rogue_chain: Path
    rogue_key: Path
    client_subject: str


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Material:
    folder = tmp_path_factory.mktemp("mtls")
    pki = TestPki.create(key=KEY)
    rogue = TestPki.create(key=KEY)  # same names, other keys: not trusted
    server = pki.issue(
        "proxy.fournisseur-demo.fr",
        "server",
        key=KEY,
        dns_names=["localhost"],
        ip_addresses=["127.0.0.1"],
    )
    client = pki.issue("lps.fournisseur-demo.fr", "client", key=KEY)
    rogue_client = rogue.issue("lps.fournisseur-demo.fr", "client", key=KEY)
    rogue_server = rogue.issue("proxy", "server", key=KEY, ip_addresses=["127.0.0.1"])
    ca_dir = pki.write_ca_dir(folder / "ca")
    client_cert, client_key = client.write(folder, "client")
    _, encrypted = client.write(folder / "enc", "client", passphrase=b"s3cret")
    other_cert, other_key = rogue_client.write(folder, "rogue-client")
    (folder / "server-chain.pem").write_bytes(pki.chain_pem(server))
    (folder / "server.key").write_bytes(server.key_pem())
    (folder / "rogue-chain.pem").write_bytes(rogue.chain_pem(rogue_server))
    (folder / "rogue.key").write_bytes(rogue_server.key_pem())
    return Material(
        folder=folder,
        ca_dir=ca_dir,
        client_cert=client_cert,
        client_key=client_key,
        client_key_encrypted=encrypted,
        other_client_cert=other_cert,
        other_client_key=other_key,
        server_chain=folder / "server-chain.pem",
        server_key=folder / "server.key",
        rogue_chain=folder / "rogue-chain.pem",
        rogue_key=folder / "rogue.key",
        client_subject=client.certificate.subject.rfc4514_string(),
    )


@dataclass
class ProxyServer:
    url: str
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    status: int = 200
    body: bytes = b"[]"
    alive: tuple[int, bytes] = (200, b"OK")
    alive_calls: int = 0
    dribble: bool = False
    """Send the /traces answer one byte every 0.2 s (a slow-loris server)."""


def _window(body: bytes, query: dict[str, list[str]]) -> bytes:
    """What the reference proxy returns: records with start < timestamp < end."""
    start = dt.datetime.fromisoformat(query["start"][0])
    end = dt.datetime.fromisoformat(query["end"][0])
    records = json.loads(body)
    kept = [
        r
        for r in records
        if not isinstance(r, dict) or start < dt.datetime.fromisoformat(r["timestamp"]) < end
    ]
    return body if len(kept) == len(records) else json.dumps(kept).encode()


def _serve(material: Material, chain: Path, key: Path, body: bytes) -> Iterator[ProxyServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    context.load_verify_locations(
        cafile=str(material.ca_dir / "test-ac-racine-igc-sante-elementaire.pem")
    )
    context.load_verify_locations(
        cafile=str(material.ca_dir / "test-ac-igc-sante-elementaire-organisations.pem")
    )
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS, as the Proxy e-Santé listens
    state = ProxyServer(url="", body=body)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            if parts.path == "/check/alive":
                state.alive_calls += 1
                status, text = state.alive
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)
                return
            if parts.path != "/traces":
                self.send_error(404)
                return
            query = urllib.parse.parse_qs(parts.query)
            state.queries.append(query)
            assert isinstance(self.connection, ssl.SSLSocket)
            state.peers.append(self.connection.getpeercert())
            body = _window(state.body, query) if state.status == 200 else state.body
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.dribble:
                for k in range(len(body)):
                    self.wfile.write(body[k : k + 1])
                    self.wfile.flush()
                    time.sleep(0.2)
                return
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # refused handshakes are the point of some tests

    httpd = Server(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    state.url = f"https://127.0.0.1:{httpd.server_address[1]}/traces"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def sample():  # type: ignore[no-untyped-def]
    return generate_traces(30)


@pytest.fixture(scope="module")
def proxy(material: Material, sample) -> Iterator[ProxyServer]:  # type: ignore[no-untyped-def]
    body = json.dumps(sample.records).encode()
    yield from _serve(material, material.server_chain, material.server_key, body)


@pytest.fixture(scope="module")
def rogue_proxy(material: Material) -> Iterator[ProxyServer]:
    yield from _serve(material, material.rogue_chain, material.rogue_key, b"[]")


def test_fetch_with_the_right_client_certificate(
    material: Material,
    proxy: ProxyServer,
    sample,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    export = fetch_traces(
        proxy.url,
        START,
        END,
        material.client_cert,
        material.client_key,
        ca_dir=material.ca_dir,
        timeout=10,
        evidence_dir=tmp_path / "evidence",
    )
    assert export.total_records == len(sample.records) and export.malformed_count == 0
    assert proxy.alive_calls >= 1
    assert proxy.queries[-1]["start"] == [START.isoformat()]
    assert proxy.queries[-1]["end"] == [END.isoformat()]
    assert proxy.peers[-1]  # the server saw our client certificate
    evidence = export.evidence_path
    assert evidence is not None and evidence.parent == tmp_path / "evidence"
    assert evidence.read_bytes() == json.dumps(sample.records).encode()
    fetch = json.loads(evidence.with_name(evidence.name + SIDECAR_SUFFIX).read_text())
    assert fetch["sha256"] == sha256_file(evidence) == export.sha256
    assert fetch["url"] == proxy.url and fetch["start"] == START.isoformat()
    assert len(fetch["server_certificate_sha256"]) == 64
    assert fetch["alive"] == "GET /check/alive: 200 OK"
    assert "exclusive" in fetch["bounds"]
    assert fetch["tls_version"] in {"TLSv1.2", "TLSv1.3"}
    assert "s3cret" not in json.dumps(fetch)
    # The kept evidence reloads with its window, and the analysis uses it.
    again = load_traces(evidence)
    assert again.start == START and again.end == END
    assert analyse_traces(again).end == END


def test_encrypted_key_passphrase_comes_from_the_environment(
    material: Material, proxy: ProxyServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACE_KEY_PASS", "s3cret")
    export = fetch_traces(
        proxy.url,
        START,
        END,
        material.client_cert,
        material.client_key_encrypted,
        key_passphrase_env="TRACE_KEY_PASS",
        ca_dir=material.ca_dir,
        timeout=10,
        evidence_dir=tmp_path,
    )
    assert export.total_records > 0
    monkeypatch.delenv("TRACE_KEY_PASS")
    with pytest.raises(TraceError, match="TRACE_KEY_PASS"):
        fetch_traces(
            proxy.url,
            START,
            END,
            material.client_cert,
            material.client_key_encrypted,
            key_passphrase_env="TRACE_KEY_PASS",
            ca_dir=material.ca_dir,
            evidence_dir=tmp_path,
        )
    monkeypatch.setenv("TRACE_KEY_PASS", "wrong")
    with pytest.raises(TraceError, match="cannot load client certificate"):
        fetch_traces(
            proxy.url,
            START,
            END,
            material.client_cert,
            material.client_key_encrypted,
            key_passphrase_env="TRACE_KEY_PASS",
            ca_dir=material.ca_dir,
            evidence_dir=tmp_path,
        )


@pytest.mark.parametrize("which", ["none", "untrusted"])
def test_fetch_without_the_right_client_certificate_is_refused(
    material: Material, proxy: ProxyServer, tmp_path: Path, which: str
) -> None:
    cert, key = (
        (None, None) if which == "none" else (material.other_client_cert, material.other_client_key)
    )
    with pytest.raises(TraceError) as caught:
        fetch_traces(
            proxy.url,
            START,
            END,
            cert,
            key,
            ca_dir=material.ca_dir,
            timeout=10,
            evidence_dir=tmp_path,
        )
    assert proxy.url in str(caught.value)
    assert "client certificate" in str(caught.value)
    assert not list(tmp_path.iterdir())  # nothing kept as evidence


def test_server_certificate_from_an_untrusted_ca_is_refused(
    material: Material, rogue_proxy: ProxyServer, tmp_path: Path
) -> None:
    with pytest.raises(TraceError, match="server certificate refused"):
        fetch_traces(
            rogue_proxy.url,
            START,
            END,
            material.client_cert,
            material.client_key,
            ca_dir=material.ca_dir,
            timeout=10,
            evidence_dir=tmp_path,
        )
    assert not rogue_proxy.queries


def test_host_name_is_checked(material: Material, proxy: ProxyServer, tmp_path: Path) -> None:
    url = proxy.url.replace("127.0.0.1", "127.0.0.2")  # not in the certificate
    with pytest.raises(TraceError):
        fetch_traces(
            url,
            START,
            END,
            material.client_cert,
            material.client_key,
            ca_dir=material.ca_dir,
            timeout=5,
            evidence_dir=tmp_path,
        )


def test_http_errors_and_bad_arguments(
    material: Material, proxy: ProxyServer, tmp_path: Path
) -> None:
    proxy.status, saved = 500, proxy.body
    try:
        with pytest.raises(TraceError, match="HTTP 500"):
            fetch_traces(
                proxy.url,
                START,
                END,
                material.client_cert,
                material.client_key,
                ca_dir=material.ca_dir,
                timeout=10,
                evidence_dir=tmp_path,
            )
    finally:
        proxy.status, proxy.body = 200, saved
    with pytest.raises(TraceError, match="https://"):
        fetch_traces(
            "http://127.0.0.1/traces",
            START,
            END,
            material.client_cert,
            material.client_key,
            evidence_dir=tmp_path,
        )
    with pytest.raises(TraceError, match="empty trace window"):
        fetch_traces(
            proxy.url,
            END,
            START,
            material.client_cert,
            material.client_key,
            evidence_dir=tmp_path,
        )
    with pytest.raises(TraceError, match="no trust anchors"):
        fetch_traces(
            proxy.url,
            START,
            END,
            material.client_cert,
            material.client_key,
            ca_dir=tmp_path / "empty",
            evidence_dir=tmp_path,
        )
    with pytest.raises(TraceError, match="not found"):
        fetch_traces(
            proxy.url,
            START,
            END,
            tmp_path / "none.pem",
            material.client_key,
            ca_dir=material.ca_dir,
            evidence_dir=tmp_path,
        )


def test_cli_live_fetch(
    material: Material, proxy: ProxyServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditlib.cli import main

    code = main(
        [
            "traces",
            proxy.url,
            "--start",
            START.isoformat(),
            "--end",
            END.isoformat(),
            "--client-cert",
            str(material.client_cert),
            "--client-key",
            str(material.client_key),
            "--ca-dir",
            str(material.ca_dir),
            "--evidence-dir",
            str(tmp_path),
            "--expected-dn",
            "CN=lps.fournisseur-demo.fr,O=FOURNISSEUR DEMO,C=FR",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "evidence kept" in out
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert len(kept) == 2 and kept[1] == kept[0] + SIDECAR_SUFFIX


def _fetch(material: Material, url: str, folder: Path, timeout: float = 10) -> Any:
    return fetch_traces(
        url,
        START,
        END,
        material.client_cert,
        material.client_key,
        ca_dir=material.ca_dir,
        timeout=timeout,
        evidence_dir=folder,
    )


@pytest.mark.parametrize("alive", [(404, b"not found"), (200, b"KO"), (503, b"")])
def test_a_proxy_that_is_not_alive_is_not_fetched(
    material: Material, proxy: ProxyServer, tmp_path: Path, alive: tuple[int, bytes]
) -> None:
    before = len(proxy.queries)
    proxy.alive = alive
    try:
        with pytest.raises(TraceError, match="/check/alive"):
            _fetch(material, proxy.url, tmp_path)
    finally:
        proxy.alive = (200, b"OK")
    assert len(proxy.queries) == before  # /traces never asked
    assert not list(tmp_path.iterdir())


def test_the_records_of_the_window_only(
    material: Material,
    proxy: ProxyServer,
    sample,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    """Exclusive bounds: a window starting at a record's timestamp leaves it out."""
    first = dt.datetime.fromisoformat(sample.records[0]["timestamp"])
    export = fetch_traces(
        proxy.url,
        first,
        END,
        material.client_cert,
        material.client_key,
        ca_dir=material.ca_dir,
        timeout=10,
        evidence_dir=tmp_path,
    )
    assert 0 < export.total_records < len(sample.records)
    assert export.start == first.astimezone(dt.UTC) or export.start == first
    analysis = analyse_traces(export)
    assert analysis.finding("trace_window") is None


def test_a_slow_loris_server_hits_the_overall_deadline(
    material: Material, proxy: ProxyServer, tmp_path: Path
) -> None:
    """One byte every 0.2 s never trips a per-read timeout; the overall deadline does."""
    proxy.dribble = True
    try:
        with pytest.raises(TraceError, match="overall deadline"):
            _fetch(material, proxy.url, tmp_path, timeout=1.5)
    finally:
        proxy.dribble = False
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert not list(tmp_path.iterdir())  # no temporary file left either


def test_a_response_over_the_byte_limit_is_refused(
    material: Material, proxy: ProxyServer, tmp_path: Path
) -> None:
    from auditlib.traces import load_supervision_profile

    small = load_supervision_profile().model_copy(update={"max_bytes": 100})
    with pytest.raises(TraceError, match="100-byte limit"):
        fetch_traces(
            proxy.url,
            START,
            END,
            material.client_cert,
            material.client_key,
            ca_dir=material.ca_dir,
            timeout=10,
            evidence_dir=tmp_path,
            profile=small,
        )
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan")])
def test_a_meaningless_timeout_is_refused(
    material: Material, proxy: ProxyServer, tmp_path: Path, timeout: float
) -> None:
    with pytest.raises(TraceError, match="timeout"):
        _fetch(material, proxy.url, tmp_path, timeout=timeout)


def test_a_bad_port_is_a_clear_error(material: Material, tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="invalid port"):
        _fetch(material, "https://127.0.0.1:99999/traces", tmp_path)
    with pytest.raises(TraceError, match="not a valid URL"):
        _fetch(material, "https://[::1/traces", tmp_path)
