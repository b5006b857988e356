"""Local TLS servers on 127.0.0.1 for tests and for `auditlib demo`.

Two kinds, both context managers that always stop what they start:

- `tls_server(spec)`: a Python `ssl` server thread (configurable versions, TLS 1.2 cipher
  string, ECDH group, certificate chain, client-certificate requirement) answering every
  request with a minimal HTTP response, with or without an HSTS header, so that the
  scanner's HTTP headers command has something to read.
- `openssl_server(spec)`: an `openssl s_server -www` process, so the scanner is proven
  against more than Python's `ssl` module.

Ports are chosen by the kernel (bind to port 0) unless the caller names one (the demo
serves on the ports its registry lists); a taken port is a clear `TestServerError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from auditlib.errors import TestServerError
from auditlib.files import write_atomic
from auditlib.testing.pki import IssuedCert, TestPki
from auditlib.tls.scan import ScanSpec

LOOPBACK = "127.0.0.1"

_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1,
    "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2,
    "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


@dataclass(frozen=True)
class TestServerSpec:
    """What a local TLS test server offers."""

    __test__ = False

    cert_chain_pem: bytes
    """Leaf certificate first, then any intermediate the server should send."""
    key_pem: bytes
    min_version: str = "TLSv1.2"
    """`TLSv1`, `TLSv1.1`, `TLSv1.2` or `TLSv1.3`."""
    max_version: str = "TLSv1.3"
    ciphers: str | None = None
    """OpenSSL cipher string for TLS <= 1.2; `@SECLEVEL=0` is added when TLS 1.0/1.1 is on."""
    ecdh_curve: str | None = None
    """One ECDH group name (`prime256v1`, `secp384r1`...); Python's ssl sets only one."""
    client_ca_pem: bytes | None = None
    """When set, the server requires a client certificate issued under these CAs."""
    hsts: bool = True
    """Send `Strict-Transport-Security` in the HTTP response."""
    server_cipher_order: bool = True
    routes: tuple[Route, ...] = ()
    """Paths answered with their own body (e.g. a Proxy e-Santé `/traces` JSON export);
    every other path gets the minimal HTML page."""


@dataclass(frozen=True)
class Route:
    """One path a test server answers with a fixed body (query string ignored)."""

    path: str
    body: bytes
    content_type: str = "application/json"


LEGACY_CIPHERS = "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA:ECDHE-RSA-AES128-SHA"


def legacy_server_spec(cert_chain_pem: bytes, key_pem: bytes) -> TestServerSpec:
    """A pre-ANSSI server: TLS 1.0 to 1.2, CBC and static RSA key exchange, the client's
    suite order, no HSTS. Shared by the TLS tests, the report tests and the demo."""
    return TestServerSpec(
        cert_chain_pem=cert_chain_pem,
        key_pem=key_pem,
        min_version="TLSv1",
        max_version="TLSv1.2",
        ciphers=LEGACY_CIPHERS,
        server_cipher_order=False,
        hsts=False,
    )


@dataclass
class RunningServer:
    """A started server: where to connect, and what it was started with."""

    host: str
    port: int
    spec: TestServerSpec | OpenSslServerSpec
    errors: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def _http_response(
    hsts: bool,
    body: bytes = b"<html><body>auditlib test server</body></html>",
    content_type: str = "text/html",
) -> bytes:
    headers = [
        b"HTTP/1.1 200 OK",
        b"Content-Type: " + content_type.encode("ascii"),
        b"Content-Length: " + str(len(body)).encode(),
        b"Connection: close",
    ]
    if hsts:
        headers.append(b"Strict-Transport-Security: max-age=31536000; includeSubDomains")
    return b"\r\n".join(headers) + b"\r\n\r\n" + body


def build_context(spec: TestServerSpec, folder: Path) -> ssl.SSLContext:
    """The server-side `SSLContext` for a spec; key material is written under `folder`."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    legacy = spec.min_version in ("TLSv1", "TLSv1.1")
    ciphers = spec.ciphers
    if legacy:
        ciphers = (ciphers or "ALL") + ":@SECLEVEL=0"
    if ciphers:
        ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():  # TLS 1.0/1.1 are deprecated: that is the point of the test
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = _VERSIONS[spec.min_version]
        ctx.maximum_version = _VERSIONS[spec.max_version]
    if spec.ecdh_curve:
        ctx.set_ecdh_curve(spec.ecdh_curve)
    if spec.server_cipher_order:
        ctx.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    else:  # Python turns server preference on by default
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    cert = write_atomic(folder / "server.crt.pem", spec.cert_chain_pem)
    key = write_atomic(folder / "server.key.pem", spec.key_pem)
    key.chmod(0o600)
    ctx.load_cert_chain(cert, key)
    if spec.client_ca_pem is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(cadata=spec.client_ca_pem.decode("ascii"))
    return ctx


def _pick_response(request: bytes, default: bytes, routes: dict[str, bytes]) -> bytes:
    """The routed body for the request line's path (query ignored), else `default`."""
    line = request.split(b"\r\n", 1)[0].split(b" ")
    if len(line) >= 2:
        path = line[1].split(b"?", 1)[0].decode("latin-1")
        if path in routes:
            return routes[path]
    return default


def _serve_one(
    conn: socket.socket,
    ctx: ssl.SSLContext,
    response: bytes,
    routes: dict[str, bytes] | None = None,
) -> None:
    conn.settimeout(5)
    try:
        with ctx.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data and len(data) < 65536:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                data += chunk
            tls.sendall(_pick_response(data, response, routes or {}))
    except (OSError, ssl.SSLError, ValueError):
        pass  # scanners abort handshakes on purpose; that is not a server failure
    finally:
        conn.close()


def _bind(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((LOOPBACK, port))
    except OSError as exc:
        listener.close()
        raise TestServerError(
            f"cannot listen on {LOOPBACK}:{port}: {exc.strerror or exc} "
            "(is another server, or another demo, using that port?)"
        ) from None
    return listener


def _accepting(
    listener: socket.socket,
    stop: threading.Event,
    handle: Callable[[socket.socket], None],
    name: str,
) -> threading.Thread:
    """The (not yet started) thread that hands each connection to `handle` in a thread of
    its own until `stop` is set or the listener is closed (`listener` has a short
    timeout, so `stop` is seen)."""

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    return threading.Thread(target=accept_loop, name=name, daemon=True)


@contextlib.contextmanager
def tls_server(spec: TestServerSpec, port: int = 0) -> Iterator[RunningServer]:
    """Run a Python `ssl` server on 127.0.0.1 until the block ends.

    `port` 0 lets the kernel choose; any other port is used as given.
    """
    with tempfile.TemporaryDirectory(prefix="auditlib-tls-") as tmp:
        ctx = build_context(spec, Path(tmp))
        response = _http_response(spec.hsts)
        routes = {r.path: _http_response(spec.hsts, r.body, r.content_type) for r in spec.routes}
        listener = _bind(port)
        listener.listen(64)
        listener.settimeout(0.2)
        stop = threading.Event()
        port = listener.getsockname()[1]

        def serve(conn: socket.socket) -> None:
            _serve_one(conn, ctx, response, routes)

        thread = _accepting(listener, stop, serve, name=f"tls-server-{port}")
        thread.start()
        try:
            yield RunningServer(LOOPBACK, port, spec)
        finally:
            stop.set()
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() at once
            listener.close()
            thread.join(timeout=2)


@dataclass(frozen=True)
class OpenSslServerSpec:
    """What an `openssl s_server -www` fixture offers."""

    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes | None = None
    """Intermediate certificates sent after the leaf."""
    extra_args: Sequence[str] = ()
    """Further s_server options, e.g. `("-tls1_2", "-cipher", "ECDHE-RSA-AES128-SHA")`."""
    client_ca_pem: bytes | None = None
    """When set, `-Verify 1` with these CAs: a client certificate is required."""
    ocsp_response_der: bytes | None = None
    """A DER OCSP response to staple (`-status_file`)."""
    www: bool = True
    """Answer HTTP (`-www`). False: a bare TLS server that answers no HTTP request (needed
    with `-early_data`, which s_server refuses to combine with `-www`)."""


@contextlib.contextmanager
def openssl_server(
    spec: OpenSslServerSpec, timeout: float = 10.0, port: int = 0
) -> Iterator[RunningServer]:
    """Run `openssl s_server -www` on 127.0.0.1 until the block ends.

    `port` 0 lets the kernel choose; any other port is used as given (checked free first,
    so a taken port is a clear error rather than an s_server that never says ACCEPT).
    """
    binary = shutil.which("openssl")
    if binary is None:
        raise TestServerError("the `openssl` command is not installed (needed for s_server)")
    with tempfile.TemporaryDirectory(prefix="auditlib-ossl-") as tmp:
        folder = Path(tmp)
        cert = write_atomic(folder / "server.crt.pem", spec.cert_pem)
        key = write_atomic(folder / "server.key.pem", spec.key_pem)
        key.chmod(0o600)
        if port:
            _bind(port).close()
        cmd = [binary, "s_server", "-accept", f"{LOOPBACK}:{port}", "-cert", str(cert)]
        cmd += ["-key", str(key)] + (["-www"] if spec.www else [])
        if spec.chain_pem:
            chain = write_atomic(folder / "chain.pem", spec.chain_pem)
            cmd += ["-cert_chain", str(chain)]
        if spec.client_ca_pem:
            ca = write_atomic(folder / "client-ca.pem", spec.client_ca_pem)
            cmd += ["-Verify", "1", "-CAfile", str(ca)]
        if spec.ocsp_response_der:
            status = write_atomic(folder / "ocsp.der", spec.ocsp_response_der)
            cmd += ["-status_file", str(status)]
        cmd += list(spec.extra_args)
        proc = subprocess.Popen(
            cmd,
            # kept open and never written: without -www, s_server stops at end of input
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "OPENSSL_CONF": os.devnull},
        )
        try:
            port = _read_accept_port(proc, timeout, port)
            yield RunningServer(LOOPBACK, port, spec)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout:
                proc.stdout.close()
            if proc.stdin:
                proc.stdin.close()


def _read_accept_port(proc: subprocess.Popen[str], timeout: float, requested: int = 0) -> int:
    """Read s_server's `ACCEPT 127.0.0.1:<port>` line (a bare `ACCEPT` when the port was
    given); fail clearly if it never comes."""
    assert proc.stdout is not None
    seen: list[str] = []
    result: list[int] = []

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.rstrip())
            if line.startswith("ACCEPT"):
                text = line.strip()
                result.append(int(text.rsplit(":", 1)[1]) if ":" in text else requested)
                break

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if not result:
        raise TestServerError(
            "openssl s_server did not start: " + ("; ".join(seen[-5:]) or "no output")
        )
    # keep draining output so the process never blocks on a full pipe
    threading.Thread(target=lambda: _drain(proc), daemon=True).start()
    return result[0]


def _drain(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ValueError, OSError):
        assert proc.stdout is not None
        for _ in proc.stdout:
            pass


def closed_port() -> int:
    """A loopback port nothing listens on (bound then released; good enough for a test)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
    return port


# --------------------------------------------------------------------------- fixture set

HOST_NAME = "api.fournisseur-demo.test"
DEMO_CLIENT_KEY_PASS_ENV = "AUDITLIB_DEMO_CLIENT_KEY_PASS"
DEMO_CLIENT_KEY_PASS = "demo-only-passphrase"
"""Demo/test material only: the passphrase of a throw-away key generated on the spot."""


def ocsp_good_response(
    pki: TestPki,
    leaf: IssuedCert,
    this_update: dt.datetime | None = None,
    next_update: dt.datetime | None = None,
) -> bytes:
    """A signed 'good' OCSP response for `leaf`, for `openssl s_server -status_file`
    (dates chosen by the caller to build stale responses, which `openssl ocsp` cannot)."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf.certificate,
            issuer=pki.issuing.certificate,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=this_update or now - dt.timedelta(minutes=5),
            next_update=next_update or now + dt.timedelta(days=7),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, pki.issuing.certificate)
    )
    key = pki.issuing.key
    response = builder.sign(key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


@dataclass
class FixtureServers:
    """Started endpoints by name, with the scan specs that reach them."""

    ca_dir: Path
    pki: TestPki
    ec_pki: TestPki
    specs: dict[str, ScanSpec] = field(default_factory=dict)
    servers: dict[str, RunningServer] = field(default_factory=dict)
    client: IssuedCert | None = None


def _spec(name: str, server: RunningServer, **kw: object) -> ScanSpec:
    return ScanSpec(host=server.host, port=server.port, sni=HOST_NAME, label=name, **kw)  # type: ignore[arg-type]


def start_fixture_servers(stack: contextlib.ExitStack, folder: Path) -> FixtureServers:
    """Start one endpoint per situation an audit meets (compliant, CBC without
    encrypt_then_mac, legacy, weak key, expired, self-signed, incomplete chain, mutual TLS,
    closed port) on 127.0.0.1.

    Every server stops when `stack` closes. Trust anchors are written to `folder/anchors`;
    the mTLS client key is written under `folder` encrypted with `DEMO_CLIENT_KEY_PASS`,
    and the scan spec names the variable `DEMO_CLIENT_KEY_PASS_ENV` (set it before scanning).
    """
    pki = TestPki.create()
    ec_pki = TestPki.create(key=("ec", 384))
    anchors = pki.write_ca_dir(folder / "anchors")
    # the EC test chain (same IGC-Santé names) is trusted too, under other file names
    write_atomic(anchors / "ec-root.pem", ec_pki.root.cert_pem())
    write_atomic(anchors / "ec-issuing.pem", ec_pki.issuing.cert_pem())
    fx = FixtureServers(ca_dir=anchors, pki=pki, ec_pki=ec_pki)
    names = [HOST_NAME]

    # 1. compliant: openssl s_server, TLS 1.2 + 1.3, ECDHE + AEAD only, ECDSA, OCSP stapled.
    good = ec_pki.issue(HOST_NAME, key=("ec", 256), dns_names=names, days=825)
    compliant = stack.enter_context(
        openssl_server(
            OpenSslServerSpec(
                cert_pem=good.cert_pem(),
                key_pem=good.key_pem(),
                chain_pem=ec_pki.issuing.cert_pem(),
                ocsp_response_der=ocsp_good_response(ec_pki, good),
                extra_args=(
                    "-no_ssl3",
                    "-no_tls1",
                    "-no_tls1_1",
                    "-serverpref",
                    "-cipher",
                    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                    "ECDHE-ECDSA-CHACHA20-POLY1305",
                    "-ciphersuites",
                    "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
                    "-groups",
                    "P-256:P-384",
                ),
            )
        )
    )
    fx.servers["compliant"] = compliant

    # 1b. CBC without encrypt_then_mac (openssl s_server -no_etm), TLS 1.2 only.
    no_etm = ec_pki.issue(HOST_NAME, key=("ec", 256), dns_names=names, days=825)
    fx.servers["cbc_no_etm"] = stack.enter_context(
        openssl_server(
            OpenSslServerSpec(
                cert_pem=no_etm.cert_pem(),
                key_pem=no_etm.key_pem(),
                chain_pem=ec_pki.issuing.cert_pem(),
                extra_args=(
                    "-tls1_2",
                    "-no_etm",
                    "-serverpref",
                    "-cipher",
                    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA256",
                ),
            )
        )
    )

    # 2. legacy: TLS 1.0/1.1, CBC and static RSA key exchange, client suite order.
    rsa = pki.issue(HOST_NAME, dns_names=names)
    fx.servers["legacy"] = stack.enter_context(
        tls_server(legacy_server_spec(pki.chain_pem(rsa), rsa.key_pem()))
    )

    # 3. weak key: RSA-1024 leaf.
    weak = pki.issue(HOST_NAME, key=("rsa", 1024), dns_names=names)
    fx.servers["rsa1024"] = stack.enter_context(
        tls_server(
            TestServerSpec(
                cert_chain_pem=pki.chain_pem(weak),
                key_pem=weak.key_pem(),
                ciphers="ECDHE+AESGCM:@SECLEVEL=0",
            )
        )
    )

    # 4. RSA-2048 valid past 2030 (5-year certificate).
    long_lived = pki.issue(HOST_NAME, dns_names=names, days=365 * 5)
    fx.servers["rsa2048_2031"] = stack.enter_context(
        tls_server(
            TestServerSpec(cert_chain_pem=pki.chain_pem(long_lived), key_pem=long_lived.key_pem())
        )
    )

    # 5. expired certificate.
    expired = pki.issue(
        HOST_NAME,
        dns_names=names,
        not_before=pki.now - dt.timedelta(days=400),
        days=365,
    )
    fx.servers["expired"] = stack.enter_context(
        tls_server(TestServerSpec(cert_chain_pem=pki.chain_pem(expired), key_pem=expired.key_pem()))
    )

    # 6. self-signed certificate.
    selfsigned = pki.issue(HOST_NAME, dns_names=names, self_signed=True)
    fx.servers["selfsigned"] = stack.enter_context(
        tls_server(
            TestServerSpec(cert_chain_pem=selfsigned.cert_pem(), key_pem=selfsigned.key_pem())
        )
    )

    # 7. incomplete chain: the issuing CA is not sent.
    lonely = pki.issue(HOST_NAME, dns_names=names)
    fx.servers["incomplete_chain"] = stack.enter_context(
        tls_server(TestServerSpec(cert_chain_pem=lonely.cert_pem(), key_pem=lonely.key_pem()))
    )

    # 8. mutual TLS: a client certificate from the IGC-Santé test chain is required.
    mtls_cert = pki.issue(HOST_NAME, dns_names=names)
    fx.servers["mtls"] = stack.enter_context(
        tls_server(
            TestServerSpec(
                cert_chain_pem=pki.chain_pem(mtls_cert),
                key_pem=mtls_cert.key_pem(),
                client_ca_pem=pki.ca_bundle_pem(),
            )
        )
    )
    fx.client = pki.issue("FOURNISSEUR DEMO AUTH_CLI", profile="client")
    client_cert, client_key = fx.client.write(
        folder, "client", passphrase=DEMO_CLIENT_KEY_PASS.encode()
    )

    for name, server in fx.servers.items():
        fx.specs[name] = _spec(name, server)
    fx.specs["mtls_with_cert"] = _spec(
        "mtls_with_cert",
        fx.servers["mtls"],
        client_cert=client_cert,
        client_key=client_key,
        key_pass_env=DEMO_CLIENT_KEY_PASS_ENV,
    )
    # 9. closed port.
    fx.specs["closed"] = ScanSpec(host="127.0.0.1", port=closed_port(), label="closed")
    return fx


# --------------------------------------------------------------------------- stalling proxy


def offered_suites(client_hello: bytes) -> tuple[int, tuple[int, ...]] | None:
    """(legacy version, cipher suite codes) of a TLS ClientHello record, or None when the
    bytes are not (yet) a whole ClientHello up to its suite list. Bytes that cannot become
    one (an SSLv2 hello, another record) give (0, ())."""
    if client_hello[:1] not in (b"", b"\x16") or client_hello[5:6] not in (b"", b"\x01"):
        return 0, ()
    if len(client_hello) < 5:
        return None
    body = client_hello[5:]
    if len(body) < 4 + 2 + 32 + 1:
        return None
    version = int.from_bytes(body[4:6], "big")
    at = 4 + 2 + 32
    at += 1 + body[at]  # session id
    if len(body) < at + 2:
        return None
    length = int.from_bytes(body[at : at + 2], "big")
    codes = body[at + 2 : at + 2 + length]
    if len(codes) < length:
        return None
    return version, tuple(int.from_bytes(codes[i : i + 2], "big") for i in range(0, length, 2))


SIGNALLING_SUITES = frozenset({0x00FF, 0x5600})
"""TLS_EMPTY_RENEGOTIATION_INFO_SCSV and TLS_FALLBACK_SCSV: not real suites."""


@contextlib.contextmanager
def stalling_proxy(
    backend: RunningServer, stall_suite: int, stall_version: int = 0x0303
) -> Iterator[RunningServer]:
    """A TCP proxy to `backend` that never answers a ClientHello offering `stall_suite`
    alone (legacy version `stall_version`): that one probe times out, every other
    connection is relayed. It makes a scanner meet a time-out on a suite the backend
    accepts, the case where a time-out must not be read as a refusal."""
    listener = _bind(0)
    listener.listen(64)
    listener.settimeout(0.2)
    stop = threading.Event()
    port = listener.getsockname()[1]

    def pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def handle(conn: socket.socket) -> None:
        conn.settimeout(30)
        with conn:
            data = b""
            parsed = None
            with contextlib.suppress(OSError):
                while parsed is None and len(data) < 65536:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                    parsed = offered_suites(data)
            real = set(parsed[1]) - SIGNALLING_SUITES if parsed else set()
            if parsed and parsed[0] == stall_version and real == {stall_suite}:
                with contextlib.suppress(OSError):
                    while conn.recv(65536) and not stop.is_set():
                        pass  # hold the connection, answer nothing
                return
            try:
                upstream = socket.create_connection((backend.host, backend.port), timeout=30)
            except OSError:
                return
            with upstream:
                upstream.sendall(data)
                back = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
                back.start()
                pump(conn, upstream)
                back.join(timeout=30)

    thread = _accepting(listener, stop, handle, name=f"stalling-proxy-{port}")
    thread.start()
    try:
        yield RunningServer(LOOPBACK, port, backend.spec)
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(timeout=2)
