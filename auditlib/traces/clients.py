"""The certificate subject expected per `clientId`, from the provider registry.

The registry's optional `clients` list names each client software of a provider's
proxy with the subject of the certificate the proxy presents for it, or with that
certificate's SHA-256 fingerprint. Traces carry subjects (`dn`), so a fingerprint is
tied to a subject through a certificate file that matches it (the provider's mTLS
client certificates in the registry, or files the caller adds); a fingerprint no file
matches is reported as unresolved, and the client's most frequent subject is then the
reference.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from auditlib.errors import TraceError
from auditlib.registry import Provider
from auditlib.traces.analysis import TraceSettings

CERT_MAX_BYTES = 1 << 20


def certificate_subjects(files: Iterable[str | os.PathLike[str]]) -> dict[str, str]:
    """SHA-256 fingerprint (hex, lower case) -> RFC 4514 subject of every PEM certificate
    in `files` (chains included)."""
    out: dict[str, str] = {}
    for name in files:
        path = Path(name)
        try:
            if path.stat().st_size > CERT_MAX_BYTES:
                raise TraceError("certificate file over 1 MiB", str(path))
            data = path.read_bytes()
        except OSError as exc:
            raise TraceError(f"cannot read certificate: {exc.strerror or exc}", str(path)) from None
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise TraceError("not a PEM certificate", str(path)) from None
        for cert in certs:
            out[cert.fingerprint(hashes.SHA256()).hex()] = cert.subject.rfc4514_string()
    return out


def expected_subjects(
    provider: Provider, certificates: Iterable[str | os.PathLike[str]] = ()
) -> tuple[dict[str, str], tuple[str, ...]]:
    """(clientId -> registered subject, clientIds whose fingerprint matched no certificate)."""
    if not provider.clients:
        return {}, ()
    files = [e.client_cert for e in provider.endpoints if e.client_cert is not None]
    known = (
        certificate_subjects([*files, *certificates])
        if any(c.subject is None for c in provider.clients)
        else {}
    )
    subjects: dict[str, str] = {}
    unresolved: list[str] = []
    for client in provider.clients:
        if client.subject is not None:
            subjects[client.client_id] = client.subject
        elif client.sha256 is not None and client.sha256 in known:
            subjects[client.client_id] = known[client.sha256]
        else:
            unresolved.append(client.client_id)
    return subjects, tuple(unresolved)


def settings_for_provider(
    provider: Provider,
    *,
    certificates: Iterable[str | os.PathLike[str]] = (),
    expected_client_subject: str | None = None,
    **changes: object,
) -> TraceSettings:
    """Trace settings with the provider's registered subjects (per clientId and overall)."""
    subjects, unresolved = expected_subjects(provider, certificates)
    return TraceSettings(
        provider=provider.id,
        expected_client_subject=expected_client_subject or provider.client_certificate_subject,
        expected_subjects=subjects,
        unresolved_clients=unresolved,
        **changes,  # type: ignore[arg-type]
    )
