"""Certificate facts: what an auditor reads off an X.509 certificate, as one typed record.

Shared by the evidence loader (certificates filed in bundles), the TLS scanner (chains
seen on the wire) and the audit plan (expiry dates). Judging those facts against the
ANSSI / RGS rules is the job of the TLS profile, not of this module.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID


@dataclass(frozen=True)
class CertificateInfo:
    """Facts read from one certificate; times come from the certificate itself (UTC)."""

    subject: str
    """RFC 4514 subject, e.g. `CN=api.example.fr,O=...,C=FR`."""
    issuer: str
    serial: str
    """Serial number in upper-case hexadecimal."""
    not_before: dt.datetime
    not_after: dt.datetime
    key_type: str
    """`RSA`, `EC`, `Ed25519`, `Ed448`, `DSA`."""
    key_size: int
    rsa_exponent: int | None
    curve: str | None
    signature_hash: str | None
    """`sha256`, `sha1`, ... or None for EdDSA."""
    signature_algorithm: str
    key_usage: tuple[str, ...]
    key_usage_critical: bool | None
    """None when the certificate has no Key Usage extension."""
    extended_key_usage: tuple[str, ...]
    san_dns: tuple[str, ...]
    san_ip: tuple[str, ...]
    is_ca: bool
    subject_key_id: str | None
    authority_key_id: str | None
    crl_urls: tuple[str, ...]
    ocsp_urls: tuple[str, ...]
    ca_issuer_urls: tuple[str, ...]
    policy_oids: tuple[str, ...]
    sha256_fingerprint: str
    public_key_sha256: str | None = None
    """SHA-256 of the SubjectPublicKeyInfo (DER): equal for two certificates of one key
    (IGC-Santé key policy: a key neither duplicated nor reused). None when not recorded
    (observations saved by an earlier version)."""

    @property
    def lifetime_days(self) -> int:
        return (self.not_after - self.not_before).days

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    def days_until_expiry(self, when: dt.datetime) -> int:
        return (self.not_after - when).days

    def is_valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after

    @property
    def common_name(self) -> str:
        for part in self.subject.split(","):
            if part.startswith("CN="):
                return part[3:]
        return self.subject


KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)

EKU_NAMES = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.4.1.311.10.3.12": "documentSigning",
}


def _ext(
    cert: x509.Certificate, oid: x509.ObjectIdentifier
) -> x509.Extension[x509.ExtensionType] | None:
    try:
        return cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # malformed or duplicated extension: treat as absent
        return None


def _key_facts(cert: x509.Certificate) -> tuple[str, int, int | None, str | None]:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, key.public_numbers().e, None
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, None, key.curve.name
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, None, "ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, None, "ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, None, None
    return type(key).__name__, 0, None, None


def describe_certificate(cert: x509.Certificate) -> CertificateInfo:
    """Read every fact the rules and the report need from a parsed certificate."""
    key_type, key_size, exponent, curve = _key_facts(cert)
    try:
        sig_hash = cert.signature_hash_algorithm
        signature_hash = sig_hash.name if sig_hash else None
    except Exception:  # unsupported algorithm: still describe the certificate
        signature_hash = None
    sig_oid = cert.signature_algorithm_oid
    signature_algorithm = getattr(sig_oid, "_name", None) or sig_oid.dotted_string

    key_usage: tuple[str, ...] = ()
    key_usage_critical: bool | None = None
    ku_ext = _ext(cert, ExtensionOID.KEY_USAGE)
    if ku_ext is not None and isinstance(ku_ext.value, x509.KeyUsage):
        ku = ku_ext.value
        key_usage = tuple(flag for flag in KEY_USAGE_FLAGS if getattr(ku, flag))
        key_usage_critical = ku_ext.critical

    eku: tuple[str, ...] = ()
    eku_ext = _ext(cert, ExtensionOID.EXTENDED_KEY_USAGE)
    if eku_ext is not None and isinstance(eku_ext.value, x509.ExtendedKeyUsage):
        eku = tuple(EKU_NAMES.get(o.dotted_string, o.dotted_string) for o in eku_ext.value)

    san_dns: tuple[str, ...] = ()
    san_ip: tuple[str, ...] = ()
    san_ext = _ext(cert, ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    if san_ext is not None and isinstance(san_ext.value, x509.SubjectAlternativeName):
        san_dns = tuple(san_ext.value.get_values_for_type(x509.DNSName))
        san_ip = tuple(str(a) for a in san_ext.value.get_values_for_type(x509.IPAddress))

    bc_ext = _ext(cert, ExtensionOID.BASIC_CONSTRAINTS)
    is_ca = bool(
        bc_ext is not None and isinstance(bc_ext.value, x509.BasicConstraints) and bc_ext.value.ca
    )
    ski_ext = _ext(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER)
    ski = (
        ski_ext.value.digest.hex()
        if ski_ext is not None and isinstance(ski_ext.value, x509.SubjectKeyIdentifier)
        else None
    )
    aki_ext = _ext(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
    aki = (
        aki_ext.value.key_identifier.hex()
        if aki_ext is not None
        and isinstance(aki_ext.value, x509.AuthorityKeyIdentifier)
        and aki_ext.value.key_identifier
        else None
    )
    crl_urls: list[str] = []
    crl_ext = _ext(cert, ExtensionOID.CRL_DISTRIBUTION_POINTS)
    if crl_ext is not None and isinstance(crl_ext.value, x509.CRLDistributionPoints):
        for point in crl_ext.value:
            for name in point.full_name or []:
                if isinstance(name, x509.UniformResourceIdentifier):
                    crl_urls.append(name.value)
    ocsp_urls: list[str] = []
    ca_issuers: list[str] = []
    aia_ext = _ext(cert, ExtensionOID.AUTHORITY_INFORMATION_ACCESS)
    if aia_ext is not None and isinstance(aia_ext.value, x509.AuthorityInformationAccess):
        for desc in aia_ext.value:
            if isinstance(desc.access_location, x509.UniformResourceIdentifier):
                url = desc.access_location.value
                if desc.access_method == AuthorityInformationAccessOID.OCSP:
                    ocsp_urls.append(url)
                else:
                    ca_issuers.append(url)
    policies: list[str] = []
    pol_ext = _ext(cert, ExtensionOID.CERTIFICATE_POLICIES)
    if pol_ext is not None and isinstance(pol_ext.value, x509.CertificatePolicies):
        policies = [p.policy_identifier.dotted_string for p in pol_ext.value]

    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "X"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        key_type=key_type,
        key_size=key_size,
        rsa_exponent=exponent,
        curve=curve,
        signature_hash=signature_hash,
        signature_algorithm=signature_algorithm,
        key_usage=key_usage,
        key_usage_critical=key_usage_critical,
        extended_key_usage=eku,
        san_dns=san_dns,
        san_ip=san_ip,
        is_ca=is_ca,
        subject_key_id=ski,
        authority_key_id=aki,
        crl_urls=tuple(crl_urls),
        ocsp_urls=tuple(ocsp_urls),
        ca_issuer_urls=tuple(ca_issuers),
        policy_oids=tuple(policies),
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        public_key_sha256=_public_key_sha256(cert),
    )


def _public_key_sha256(cert: x509.Certificate) -> str | None:
    try:
        der = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except (ValueError, TypeError):  # unsupported or malformed key
        return None
    return hashlib.sha256(der).hexdigest()


IGC_SANTE_ISSUER_MARKERS = ("IGC-SANTE", "IGC SANTE")


def is_igc_sante_name(name: str) -> bool:
    """True for names of the IGC-Santé (production or test) CAs, e.g.
    `AC IGC-SANTE ELEMENTAIRE ORGANISATIONS` or `TEST AC RACINE IGC-SANTE ELEMENTAIRE`."""
    upper = name.upper()
    return any(marker in upper for marker in IGC_SANTE_ISSUER_MARKERS)


__all__ = [
    "CertificateInfo",
    "describe_certificate",
    "is_igc_sante_name",
]
