"""The seal's key material: PKCS#12 or PEM key + certificate chain, passphrase from an
environment variable or a prompt (never a parameter, never stored)."""

from __future__ import annotations

import datetime as dt
import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from auditlib.errors import KeyMaterialError, PassphraseError
from auditlib.sign.model import SignerSpec

# -------------------------------------------------------------------- key material


@dataclass(frozen=True)
class LoadedSigner:
    """Key material ready to sign many files with one passphrase prompt."""

    pyhanko_signer: Any
    certificate: x509.Certificate
    common_name: str
    subject: str


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyMaterialError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def _passphrase(spec: SignerSpec, source: Path) -> bytes | None:
    """The passphrase from the named environment variable, or a TTY prompt, or None."""
    if spec.pass_env:
        value = os.environ.get(spec.pass_env)
        if value is None:
            raise PassphraseError(
                f"environment variable {spec.pass_env} (passphrase for {source}) is not set"
            )
        return value.encode("utf-8")
    if spec.prompt and sys.stdin is not None and sys.stdin.isatty():
        return getpass.getpass(f"Passphrase for {source}: ").encode("utf-8")
    return None


def load_certs(path: Path) -> list[x509.Certificate]:
    data = _read(path, "certificate file")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise KeyMaterialError(f"{path} holds no readable X.509 certificate: {exc}") from exc


def _is_pfx(data: bytes) -> bool:
    """True when the bytes parse as a PKCS#12 structure (so a load failure means passphrase)."""
    from asn1crypto import pkcs12 as asn1_pkcs12

    try:
        pfx = asn1_pkcs12.Pfx.load(data, strict=True)
        pfx["auth_safe"]["content_type"].native  # noqa: B018 (forces parsing)
        return bool(pfx["version"].native == "v3")
    except Exception:
        return False


def _load_p12(path: Path, spec: SignerSpec) -> tuple[Any, x509.Certificate, list[x509.Certificate]]:
    data = _read(path, "PKCS#12 file")
    if not _is_pfx(data):
        raise KeyMaterialError(f"{path} is not a PKCS#12 file (corrupt or wrong format)")
    loaded = _try_p12(data, path, None) or _try_p12(data, path, b"")
    if loaded is not None:
        return loaded
    secret = _passphrase(spec, path)
    if secret is None:
        raise PassphraseError(
            f"{path} is protected by a passphrase: give --pass-env VAR (or run on a terminal)"
        )
    loaded = _try_p12(data, path, secret)
    if loaded is None:
        raise PassphraseError(f"wrong passphrase for {path} (from {_source_name(spec)})")
    return loaded


def _try_p12(
    data: bytes, path: Path, secret: bytes | None
) -> tuple[Any, x509.Certificate, list[x509.Certificate]] | None:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
    except ValueError:
        return None
    except Exception as exc:  # unsupported algorithms and the like
        raise KeyMaterialError(f"{path}: cannot load PKCS#12 ({type(exc).__name__})") from exc
    if key is None or cert is None:
        raise KeyMaterialError(f"{path} holds no private key with its certificate")
    return key, cert, list(extra)


def _source_name(spec: SignerSpec) -> str:
    return f"environment variable {spec.pass_env}" if spec.pass_env else "the prompt"


def _load_pem_key(path: Path, spec: SignerSpec) -> Any:
    data = _read(path, "private key file")
    pem = b"-----BEGIN" in data
    loader = serialization.load_pem_private_key if pem else serialization.load_der_private_key
    try:
        return loader(data, None)
    except TypeError:
        pass  # encrypted: needs the passphrase
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyMaterialError(f"{path} holds no readable private key") from exc
    secret = _passphrase(spec, path)
    if secret is None:
        raise PassphraseError(f"{path} is encrypted: give --pass-env VAR (or run on a terminal)")
    try:
        return loader(data, secret)
    except (TypeError, ValueError, UnsupportedAlgorithm) as exc:
        raise PassphraseError(
            f"wrong passphrase for {path} (from {_source_name(spec)}), or corrupt key"
        ) from exc


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def load_signer(spec: SignerSpec, *, at: dt.datetime | None = None) -> LoadedSigner:
    """Load and check the seal key once (one prompt for many files)."""
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.signers import SimpleSigner
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    if spec.p12_path and (spec.key_path or spec.cert_path):
        raise KeyMaterialError("give either a PKCS#12 file or a PEM key and certificate, not both")
    if spec.p12_path:
        key, cert, extra = _load_p12(spec.p12_path, spec)
        origin = spec.p12_path
    elif spec.key_path and spec.cert_path:
        key = _load_pem_key(spec.key_path, spec)
        certs = load_certs(spec.cert_path)
        cert, extra = certs[0], certs[1:]
        origin = spec.cert_path
    else:
        raise KeyMaterialError("no signing key: give a PKCS#12 file, or a PEM key and certificate")
    for chain_path in spec.chain_paths:
        extra += load_certs(chain_path)

    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if key.public_key().public_bytes(der, public) != cert.public_key().public_bytes(der, public):
        raise KeyMaterialError(f"the private key does not match the certificate in {origin}")
    now = at or dt.datetime.now(dt.UTC)
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise KeyMaterialError(
            f"the seal certificate {_common_name(cert)!r} is not valid now "
            f"({cert.not_valid_before_utc:%Y-%m-%d} to {cert.not_valid_after_utc:%Y-%m-%d})"
        )
    key_der = key.private_bytes(
        der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(der)),
        signing_key=asn1_keys.PrivateKeyInfo.load(key_der),
        cert_registry=SimpleCertificateStore.from_certs(  # type: ignore[no-untyped-call]
            [asn1_x509.Certificate.load(c.public_bytes(der)) for c in extra]
        ),
    )
    return LoadedSigner(
        pyhanko_signer=signer,
        certificate=cert,
        common_name=_common_name(cert),
        subject=cert.subject.rfc4514_string(),
    )
