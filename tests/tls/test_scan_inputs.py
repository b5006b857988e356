"""Hostile and broken inputs end in a clear error, never a traceback or a silent success."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from auditlib.cli import main
from auditlib.errors import TlsObservationFileError, TlsScanError
from auditlib.testing.pki import TestPki
from auditlib.testing.servers import closed_port
from auditlib.tls.scan import (
    OBSERVATIONS_FORMAT,
    ScanSettings,
    ScanSpec,
    load_observations,
    parse_endpoint,
    scan_endpoints,
)

pytestmark = [
    pytest.mark.loopback,
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "cannot read"),
        (b"{not json", "not JSON"),
        (b"[]", "not a TLS observations file"),
        (b'{"format": "other/1", "observations": []}', "not a TLS observations file"),
        (
            json.dumps({"format": OBSERVATIONS_FORMAT, "observations": [{"label": 3}]}).encode(),
            "observations.0",
        ),
        (
            json.dumps({"format": OBSERVATIONS_FORMAT, "observations": "x" * 50}).encode(),
            "observations",
        ),
    ],
)
def test_garbage_observation_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "obs.json"
    path.write_bytes(content)
    with pytest.raises(TlsObservationFileError, match=message) as info:
        load_observations(path)
    assert str(path) in str(info.value)


def test_missing_observation_file(tmp_path: Path) -> None:
    with pytest.raises(TlsObservationFileError, match="cannot read"):
        load_observations(tmp_path / "absent.json")


@pytest.mark.parametrize("text", ["", "host:port", "host:0", "host:70000", "a b:1", "[::1"])
def test_bad_endpoints(text: str) -> None:
    with pytest.raises(TlsScanError):
        parse_endpoint(text)


def test_endpoint_forms() -> None:
    assert parse_endpoint("api.example.fr") == ("api.example.fr", 443)
    assert parse_endpoint("10.0.0.1:8443") == ("10.0.0.1", 8443)
    assert parse_endpoint("[::1]:8443") == ("::1", 8443)


@pytest.fixture(scope="module")
def client_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("client")
    pki = TestPki.create(key=("ec", 256))
    cert, key = pki.issue("CLIENT", profile="client", key=("ec", 256)).write(
        folder, "client", passphrase=b"right-pass"
    )
    garbage = folder / "garbage.key.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    return cert, key, garbage


def _spec(cert: Path | None, key: Path | None, env: str | None = None) -> ScanSpec:
    return ScanSpec("127.0.0.1", closed_port(), client_cert=cert, client_key=key, key_pass_env=env)


def test_missing_passphrase_variable(
    client_files: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key, _ = client_files
    monkeypatch.delenv("AUDITLIB_NO_SUCH_VAR", raising=False)
    with pytest.raises(TlsScanError, match="AUDITLIB_NO_SUCH_VAR"):
        scan_endpoints([_spec(cert, key, "AUDITLIB_NO_SUCH_VAR")])


def test_wrong_passphrase_is_clear_and_not_echoed(
    client_files: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key, _ = client_files
    monkeypatch.setenv("AUDITLIB_TEST_PASS", "wrong-pass-value")
    with pytest.raises(TlsScanError, match="cannot load the client certificate") as info:
        scan_endpoints([_spec(cert, key, "AUDITLIB_TEST_PASS")])
    assert "wrong-pass-value" not in str(info.value)


def test_unreadable_or_garbage_client_key(client_files: tuple[Path, Path, Path]) -> None:
    cert, _, garbage = client_files
    with pytest.raises(TlsScanError, match="cannot load"):
        scan_endpoints([_spec(cert, garbage)])
    with pytest.raises(TlsScanError, match="cannot read the client key"):
        scan_endpoints([_spec(cert, garbage.parent / "absent.pem")])
    with pytest.raises(TlsScanError, match="both"):
        scan_endpoints([_spec(cert, None)])


def test_bad_trust_anchor_folders(tmp_path: Path) -> None:
    spec = ScanSpec("127.0.0.1", closed_port())
    with pytest.raises(TlsScanError, match="does not exist"):
        scan_endpoints([spec], ScanSettings(ca_dir=tmp_path / "absent"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TlsScanError, match="holds no certificate"):
        scan_endpoints([spec], ScanSettings(ca_dir=empty))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "root.pem").write_text("this is not a certificate")
    with pytest.raises(TlsScanError, match="neither a PEM nor a DER"):
        scan_endpoints([spec], ScanSettings(ca_dir=junk))


def test_unknown_scan_command() -> None:
    with pytest.raises(TlsScanError, match="unknown sslyze scan command"):
        scan_endpoints([ScanSpec("127.0.0.1", closed_port())], ScanSettings(commands=("nope",)))


def test_cli_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan"]) == 2
    assert "no endpoint" in capsys.readouterr().err
    assert main(["scan", "host:99999"]) == 2
    assert "out of range" in capsys.readouterr().err
    garbage = tmp_path / "obs.json"
    garbage.write_text("{")
    assert main(["scan", "--from-observations", str(garbage)]) == 2
    assert "not JSON" in capsys.readouterr().err
    assert main(["scan", "--profile", str(tmp_path / "nope.yaml"), "x:1"]) == 2


def test_cli_closed_port_is_exit_2_with_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    saved = tmp_path / "obs.json"
    code = main(
        [
            "scan",
            f"127.0.0.1:{closed_port()}",
            "--json",
            str(out),
            "--save-observations",
            str(saved),
        ]
    )
    assert code == 2
    text = capsys.readouterr().out
    assert "bottom line: ERROR" in text
    report = json.loads(out.read_text())
    assert report["evaluations"][0]["bottom_line"] == "ERROR"
    assert load_observations(saved)[0].status.value == "ERROR"


def test_silent_server_times_out_with_a_reason() -> None:
    import socket
    import threading

    accepted: list[socket.socket] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)

        def accept() -> None:
            with contextlib.suppress(OSError):
                accepted.append(listener.accept()[0])  # and never say a word

        threading.Thread(target=accept, daemon=True).start()
        spec = ScanSpec("127.0.0.1", listener.getsockname()[1], label="silent")
        (obs,) = scan_endpoints([spec], ScanSettings(timeout=1, max_retries=0))
    for conn in accepted:
        conn.close()
    assert obs.status.value == "ERROR"
    assert obs.error is not None and "timed out" in obs.error


def test_unresolvable_host_is_an_error_result(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(-2, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    (obs,) = scan_endpoints([ScanSpec("proxy.fournisseur.invalid", 8443)])
    assert obs.status.value == "ERROR"
    assert obs.error == "host name proxy.fournisseur.invalid does not resolve"


def test_connect_address_and_sni_are_distinct() -> None:
    from auditlib.tls.scan import _request

    request = _request(ScanSpec("localhost", 8443, sni="api.fournisseur.fr"), ScanSettings(), None)
    assert request.server_location.hostname == "api.fournisseur.fr"
    assert request.server_location.ip_address in ("127.0.0.1", "::1")
    assert request.network_configuration.tls_server_name_indication == "api.fournisseur.fr"


def test_cli_refuses_scan_options_with_saved_observations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "obs.json"
    saved.write_text(json.dumps({"format": OBSERVATIONS_FORMAT, "observations": []}))
    assert main(["scan", "--from-observations", str(saved), "--ca-dir", str(tmp_path)]) == 2
    assert "--ca-dir only apply when scanning" in capsys.readouterr().err


def test_uninterpretable_data_and_probe_bugs_are_contained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import auditlib.tls.scan as tls
    from auditlib.testing.servers import TestServerSpec, tls_server

    pki = TestPki.create(key=("ec", 256))
    leaf = pki.issue("odd.test", key=("ec", 256), dns_names=["odd.test"])

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("unparseable certificate")

    def probe_bug(*args: object, **kwargs: object) -> None:
        raise RuntimeError("probe bug")

    monkeypatch.setattr(tls, "_server_cipher_order", probe_bug)
    spec = TestServerSpec(cert_chain_pem=pki.chain_pem(leaf), key_pem=leaf.key_pem())
    with tls_server(spec) as server:
        target = ScanSpec(server.host, server.port, sni="odd.test")
        suites_only = ScanSettings(commands=("tls_1_2_cipher_suites",))
        (probed,) = scan_endpoints([target], suites_only)
        monkeypatch.setattr(tls, "describe_certificate", broken)
        (odd,) = scan_endpoints([target], ScanSettings(commands=("certificate_info",)))
    # a probe that breaks leaves its fact unobserved, and the scan intact
    assert probed.status.value == "OK"
    assert probed.protocol("TLSv1.2") is not None
    assert probed.server_cipher_order is None
    # data we cannot interpret is an ERROR result, with sslyze's JSON kept as evidence
    assert odd.status.value == "ERROR"
    assert odd.error is not None and "could not interpret" in odd.error
    assert odd.raw_sslyze is not None


def test_plain_http_port_is_a_refused_handshake() -> None:
    import socket
    import threading

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        stop = threading.Event()

        def answer() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with contextlib.suppress(OSError), conn:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        (obs,) = scan_endpoints([ScanSpec("127.0.0.1", listener.getsockname()[1])])
        stop.set()
    assert obs.status.value == "ERROR"
    assert obs.error is not None and "TLS handshake refused" in obs.error
