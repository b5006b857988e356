"""Fixture servers for the TLS tests and the benchmark: one test PKI, many endpoints.

Everything listens on 127.0.0.1 and is stopped by the `ExitStack` the caller owns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from auditlib.files import write_atomic
from auditlib.pki import IssuedCert, TestPki
from auditlib.testservers import (
    OpenSslServerSpec,
    RunningServer,
    TestServerSpec,
    closed_port,
    openssl_server,
    tls_server,
)
from auditlib.tls import ScanSpec

HOST_NAME = "api.fournisseur-demo.test"


def ocsp_good_response(pki: TestPki, leaf: IssuedCert) -> bytes:
    """A signed 'good' OCSP response for `leaf`, for `openssl s_server -status_file`."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response(
            cert=leaf.certificate,
            issuer=pki.issuing.certificate,
            algorithm=hashes.SHA256(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=now - dt.timedelta(minutes=5),
            next_update=now + dt.timedelta(days=7),
            revocation_time=None,
            revocation_reason=None,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, pki.issuing.certificate)
    )
    key = pki.issuing.key
    response = builder.sign(key, hashes.SHA256())  # type: ignore[arg-type]
    return response.public_bytes(serialization.Encoding.DER)


@dataclass
class Fixtures:
    """Started endpoints by name, with the scan specs that reach them."""

    ca_dir: Path
    pki: TestPki
    ec_pki: TestPki
    specs: dict[str, ScanSpec] = field(default_factory=dict)
    servers: dict[str, RunningServer] = field(default_factory=dict)
    client: IssuedCert | None = None


def _spec(name: str, server: RunningServer, **kw: object) -> ScanSpec:
    return ScanSpec(host=server.host, port=server.port, sni=HOST_NAME, label=name, **kw)  # type: ignore[arg-type]


def start_all(stack: contextlib.ExitStack, folder: Path) -> Fixtures:
    """Start every fixture endpoint named in the issue; returns specs in a stable order."""
    pki = TestPki.create()
    ec_pki = TestPki.create(key=("ec", 384))
    anchors = pki.write_ca_dir(folder / "anchors")
    # the EC test chain (same IGC-Santé names) is trusted too, under other file names
    write_atomic(anchors / "ec-root.pem", ec_pki.root.cert_pem())
    write_atomic(anchors / "ec-issuing.pem", ec_pki.issuing.cert_pem())
    fx = Fixtures(ca_dir=anchors, pki=pki, ec_pki=ec_pki)
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

    # 2. legacy: TLS 1.0/1.1, CBC and static RSA key exchange, client suite order.
    rsa = pki.issue(HOST_NAME, dns_names=names)
    fx.servers["legacy"] = stack.enter_context(
        tls_server(
            TestServerSpec(
                cert_chain_pem=pki.chain_pem(rsa),
                key_pem=rsa.key_pem(),
                min_version="TLSv1",
                max_version="TLSv1.2",
                ciphers="ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA:ECDHE-RSA-AES128-SHA",
                server_cipher_order=False,
                hsts=False,
            )
        )
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
    client_cert, client_key = fx.client.write(folder, "client", passphrase=b"s3cret-pass")

    for name, server in fx.servers.items():
        fx.specs[name] = _spec(name, server)
    fx.specs["mtls_with_cert"] = _spec(
        "mtls_with_cert",
        fx.servers["mtls"],
        client_cert=client_cert,
        client_key=client_key,
        key_pass_env="AUDITLIB_TEST_CLIENT_KEY_PASS",
    )
    # 9. closed port.
    fx.specs["closed"] = ScanSpec(host="127.0.0.1", port=closed_port(), label="closed")
    return fx


def client_certificate(fx: Fixtures) -> x509.Certificate:
    assert fx.client is not None
    return fx.client.certificate
