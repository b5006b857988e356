"""The demo's local stand-ins for the registry endpoints, one per `EndpointPosture`.

Each endpoint is started on 127.0.0.1 at its registry port with the certificate and
key generated for it in `data/pki/<provider>/`, through the context managers of
`auditlib.testing.servers`, entered on the caller's `ExitStack`: closing the stack (normal
end, error, Ctrl-C) stops every server. A `DOWN` endpoint is registered but nothing is
started for it.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from auditlib.demo.data import (
    CA_DIR,
    DEMO_POSTURES,
    EndpointPosture,
    Posture,
    demo_ca_bundle,
    has_demo_ca_keys,
    load_demo_pki,
)
from auditlib.errors import TestServerError
from auditlib.testing.pki import IssuedCert, PrivateKey, TestPki
from auditlib.testing.servers import (
    LOOPBACK,
    OpenSslServerSpec,
    Route,
    RunningServer,
    TestServerSpec,
    legacy_server_spec,
    ocsp_good_response,
    openssl_server,
    tls_server,
)

COMPLIANT_ARGS = (
    "-no_ssl3",
    "-no_tls1",
    "-no_tls1_1",
    "-serverpref",
    "-cipher",
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305",
    "-ciphersuites",
    "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256",
    "-groups",
    "P-256:P-384",
)
AEAD_CIPHERS = "ECDHE+AESGCM"
WEAK_KEY_CIPHERS = "ECDHE+AESGCM:@SECLEVEL=0"
"""OpenSSL's default security level refuses to load an RSA-1024 key at all."""


@dataclass(frozen=True)
class DemoEndpoint:
    """A staged endpoint: its posture and the running server (None when `DOWN`)."""

    posture: EndpointPosture
    server: RunningServer | None

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.posture.port}"


def _read_pem(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TestServerError(
            f"demo {what} {path} unreadable ({exc.strerror or exc}); regenerate the demo "
            "data with `python scripts/make_demo_bundles.py`"
        ) from None


def _split_chain(chain_pem: bytes) -> tuple[bytes, bytes]:
    """(leaf PEM, the rest of the chain PEM)."""
    certs = x509.load_pem_x509_certificates(chain_pem)
    pem = serialization.Encoding.PEM
    return certs[0].public_bytes(pem), b"".join(c.public_bytes(pem) for c in certs[1:])


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port` (a connection is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((LOOPBACK, port)) != 0


def start_demo_servers(
    stack: contextlib.ExitStack,
    data_dir: Path,
    postures: Sequence[EndpointPosture] = DEMO_POSTURES,
) -> list[DemoEndpoint]:
    """Start every posture's server on its registry port; they stop when `stack` closes."""
    # The demo CA's keys sign the stapled OCSP response; an installed wheel has none (the
    # compliant posture then staples nothing, and the demo says so).
    pkis = (
        [load_demo_pki(data_dir, "production"), load_demo_pki(data_dir, "test")]
        if has_demo_ca_keys(data_dir)
        else []
    )
    ca_bundle = demo_ca_bundle(data_dir)
    started: list[DemoEndpoint] = []
    for posture in postures:
        if posture.posture is Posture.DOWN:
            started.append(DemoEndpoint(posture, None))
            continue
        folder = data_dir / "pki" / posture.provider_id
        chain = _read_pem(folder / f"{posture.cert_file}.crt.pem", "certificate")
        key = _read_pem(folder / f"{posture.cert_file}.key.pem", "key")
        leaf = x509.load_pem_x509_certificate(chain)
        pki = next((k for k in pkis if k.issuing.certificate.subject == leaf.issuer), None)
        server = stack.enter_context(_server_for(posture, chain, key, ca_bundle, pki, data_dir))
        started.append(DemoEndpoint(posture, server))
    return started


def _server_for(
    posture: EndpointPosture,
    chain: bytes,
    key: bytes,
    ca_bundle: bytes,
    pki: TestPki | None,
    data_dir: Path,
) -> contextlib.AbstractContextManager[RunningServer]:
    port = posture.port
    if posture.posture is Posture.COMPLIANT:
        leaf_pem, rest = _split_chain(chain)
        leaf_key = load_pem_private_key(key, password=None)
        if not isinstance(leaf_key, PrivateKey):
            raise TestServerError(f"unexpected key type in the demo key for port {port}")
        leaf = IssuedCert(x509.load_pem_x509_certificate(leaf_pem), leaf_key)
        return openssl_server(
            OpenSslServerSpec(
                cert_pem=leaf_pem,
                key_pem=key,
                chain_pem=rest or None,
                ocsp_response_der=ocsp_good_response(pki, leaf) if pki else None,
                extra_args=COMPLIANT_ARGS,
            ),
            port=port,
        )
    if posture.posture is Posture.LEGACY:
        spec = legacy_server_spec(chain, key)
    elif posture.posture is Posture.WEAK_KEY:
        spec = TestServerSpec(cert_chain_pem=chain, key_pem=key, ciphers=WEAK_KEY_CIPHERS)
    elif posture.posture is Posture.MTLS:
        routes: tuple[Route, ...] = ()
        if posture.traces:
            # The reference Proxy e-Santé: `GET /check/alive` answers `OK`, `GET /traces`
            # the export (filed for exactly the demo window, every record strictly inside).
            body = _read_pem(data_dir / posture.traces, "trace export")
            routes = (Route("/traces", body), Route("/check/alive", b"OK", "text/plain"))
        spec = TestServerSpec(
            cert_chain_pem=chain,
            key_pem=key,
            ciphers=AEAD_CIPHERS,
            client_ca_pem=ca_bundle,
            routes=routes,
        )
    else:  # pragma: no cover - every posture is handled above
        raise TestServerError(f"no server for posture {posture.posture}")
    return tls_server(spec, port=port)


def ca_dir(data_dir: Path) -> Path:
    """The demo trust anchors (scans, the /traces fetch, signature verification)."""
    return data_dir / CA_DIR
