"""The stapled OCSP response parser (`auditlib.tls.scan._ocsp_facts`) on responses built
in code: delegated responders, foreign signers, another certificate (no network)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditlib.testing.pki import IssuedCert, TestPki, generate_key
from auditlib.testing.servers import offered_suites
from auditlib.tls.scan import _ocsp_facts

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create(key=("ec", 256))


def responder(pki: TestPki, usages: list[Any]) -> IssuedCert:
    key = generate_key(("ec", 256))
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "OCSP RESPONDER")])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(pki.issuing.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    cert = builder.sign(pki.issuing.key, hashes.SHA256())  # type: ignore[arg-type]
    return IssuedCert(cert, key)


def response(
    pki: TestPki, about: list[IssuedCert], signer: IssuedCert, carry: bool
) -> ocsp.OCSPResponse:
    builder = ocsp.OCSPResponseBuilder()
    for leaf in about:
        builder = builder.add_response(
            cert=leaf.certificate,
            issuer=pki.issuing.certificate,
            algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD,
            this_update=NOW - dt.timedelta(minutes=5),
            next_update=NOW + dt.timedelta(days=1),
            revocation_time=None,
            revocation_reason=None,
        )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.NAME, signer.certificate)
    if carry:
        builder = builder.certificates([signer.certificate])
    return builder.sign(signer.key, hashes.SHA256())  # type: ignore[arg-type]


def test_delegated_responder_with_ocsp_signing(pki: TestPki) -> None:
    leaf = pki.issue("api", key=("ec", 256))
    signer = responder(pki, [ExtendedKeyUsageOID.OCSP_SIGNING])
    facts = _ocsp_facts(
        response(pki, [leaf], signer, carry=True), [leaf.certificate, pki.issuing.certificate]
    )
    assert facts.for_leaf is True and facts.cert_status == "GOOD"
    assert facts.signature_valid is True
    assert facts.responder is not None and "OCSP RESPONDER" in facts.responder


def test_delegated_responder_without_ocsp_signing_is_refused(pki: TestPki) -> None:
    leaf = pki.issue("api", key=("ec", 256))
    signer = responder(pki, [ExtendedKeyUsageOID.SERVER_AUTH])
    facts = _ocsp_facts(
        response(pki, [leaf], signer, carry=True), [leaf.certificate, pki.issuing.certificate]
    )
    assert facts.signature_valid is False
    assert facts.signature_error is not None and "OCSPSigning" in facts.signature_error


def test_a_signer_the_ca_never_delegated_to_is_refused(pki: TestPki) -> None:
    leaf = pki.issue("api", key=("ec", 256))
    stranger = TestPki.create(key=("ec", 256), issuing_cn="AUTRE AC")
    facts = _ocsp_facts(
        response(pki, [leaf], stranger.issuing, carry=False),
        [leaf.certificate, pki.issuing.certificate],
    )
    assert facts.signature_valid is False


def test_a_response_about_another_certificate_is_not_for_the_leaf(pki: TestPki) -> None:
    leaf, other = pki.issue("api", key=("ec", 256)), pki.issue("autre", key=("ec", 256))
    facts = _ocsp_facts(
        response(pki, [other], pki.issuing, carry=False),
        [leaf.certificate, pki.issuing.certificate],
    )
    assert facts.for_leaf is False and facts.serial == format(other.certificate.serial_number, "X")
    assert facts.signature_valid is True  # genuine, but about someone else


def test_without_the_issuer_nothing_is_claimed(pki: TestPki) -> None:
    leaf = pki.issue("api", key=("ec", 256))
    facts = _ocsp_facts(response(pki, [leaf], pki.issuing, carry=False), [leaf.certificate])
    assert facts.for_leaf is None and facts.signature_valid is None


def test_the_stalling_proxy_reads_client_hellos() -> None:
    hello = bytes.fromhex("16030100") + b"\x2d" + bytes.fromhex("01000029") + b"\x03\x03"
    hello += b"\x00" * 32 + b"\x00" + b"\x00\x04\xc0\x13\x00\xff" + b"\x01\x00"
    assert offered_suites(hello) == (0x0303, (0xC013, 0x00FF))
    assert offered_suites(hello[:20]) is None  # not whole yet
    assert offered_suites(b"\x80\x2e\x01\x00\x02") == (0, ())  # SSLv2 hello: relayed
