"""Content checks on intact items: certificates, penetration test, document de conformité."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from auditlib.certs import CertificateInfo, describe_certificate
from auditlib.evidence.conformite import (
    DocumentProfile,
    DocumentReadError,
    check_sections,
    is_supported,
    read_blocks,
)
from auditlib.evidence.manifest import CertificateSpec, ItemSpec
from auditlib.evidence.model import (
    CertificateUse,
    Finding,
    FindingCode,
    InventoryItem,
    ItemKind,
    SectionCheck,
    SectionState,
)
from auditlib.files import sha256_bytes
from auditlib.severity import Severity

CERT_MAX_BYTES = 1024 * 1024
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
PKCS12_SUFFIXES = {".p12", ".pfx"}
PASSPHRASE_ENV_PREFIX = "AUDITLIB_"
"""Default prefix of the variables a manifest may name as a PKCS#12 passphrase."""
PASSPHRASE_ENV_PREFIX_VARIABLE = "AUDITLIB_P12_ENV_PREFIX"
"""The auditor sets this variable to allow another prefix (never the manifest)."""


def passphrase_env_prefix() -> str:
    """The prefix a manifest's `passphrase_env` must start with (configured, or `AUDITLIB_`).

    Without it a manifest could name any variable of the auditor's environment (a cloud
    token, a signing passphrase) and learn from "wrong passphrase" / "unreadable" whether
    it opens the file: an oracle on the auditor's secrets.
    """
    return os.environ.get(PASSPHRASE_ENV_PREFIX_VARIABLE) or PASSPHRASE_ENV_PREFIX


def read_certificates(
    file: Path, rel: str, spec: ItemSpec, findings: list[Finding]
) -> tuple[tuple[CertificateInfo, ...], bool]:
    """Parse PEM (possibly a chain), DER or PKCS#12. Returns (certificates, unreadable)."""

    def unreadable(reason: str) -> tuple[tuple[CertificateInfo, ...], bool]:
        findings.append(
            Finding(
                FindingCode.CERTIFICATE_UNREADABLE,
                Severity.HIGH,
                f"Le certificat « {rel} » ne peut pas être lu : {reason}.",
                rel,
            )
        )
        return (), True

    try:
        if file.stat().st_size > CERT_MAX_BYTES:
            return unreadable("fichier trop volumineux pour un certificat")
        data = file.read_bytes()
    except OSError as exc:
        return unreadable(f"fichier illisible ({exc.strerror or type(exc).__name__})")
    if sha256_bytes(data) != spec.sha256.lower():
        return unreadable("le fichier a changé pendant l'analyse")
    certs: list[x509.Certificate] = []
    cert_spec = spec.certificate or CertificateSpec()
    try:
        if file.suffix.lower() in PKCS12_SUFFIXES:
            passphrase: bytes | None = None
            if cert_spec.passphrase_env:
                prefix = passphrase_env_prefix()
                if not cert_spec.passphrase_env.startswith(prefix):
                    return unreadable(
                        f"la variable d'environnement {cert_spec.passphrase_env} ne peut pas "
                        f"servir de mot de passe PKCS#12 (seuls les noms commençant par {prefix} "
                        "sont acceptés)"
                    )
                value = os.environ.get(cert_spec.passphrase_env)
                if value is None:
                    return unreadable(
                        f"la variable d'environnement {cert_spec.passphrase_env} (mot de passe "
                        "PKCS#12) n'est pas définie"
                    )
                passphrase = value.encode("utf-8")
            try:
                key, leaf, extra = pkcs12.load_key_and_certificates(data, passphrase)
            except ValueError:
                return unreadable("fichier PKCS#12 invalide ou mot de passe incorrect")
            except Exception as exc:  # unsupported algorithms inside the PKCS#12
                return unreadable(f"fichier PKCS#12 non pris en charge ({type(exc).__name__})")
            if key is not None:
                findings.append(_private_key_finding(rel))
            certs = ([leaf] if leaf else []) + list(extra)
        elif b"-----BEGIN" in data:
            if b"PRIVATE KEY-----" in data:
                findings.append(_private_key_finding(rel))
            certs = list(x509.load_pem_x509_certificates(data))
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError:
        return unreadable("format non reconnu (PEM, DER ou PKCS#12 attendu)")
    if not certs:
        return unreadable("aucun certificat dans le fichier")
    try:
        described = [describe_certificate(c) for c in certs]
    except Exception as exc:  # unknown key algorithm, undecodable field...
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return unreadable(f"certificat non pris en charge ({detail})")
    leaves = [c for c in described if not c.is_ca]
    cas = [c for c in described if c.is_ca]
    return tuple(leaves + cas), False


def _private_key_finding(rel: str) -> Finding:
    return Finding(
        FindingCode.PRIVATE_KEY_IN_BUNDLE,
        Severity.HIGH,
        f"Le fichier « {rel} » contient une clé privée : une clé privée ne doit "
        "jamais être transmise, elle doit être considérée comme compromise.",
        rel,
    )


_EKU_FOR_USE = {CertificateUse.TLS_SERVER: "serverAuth", CertificateUse.MTLS_CLIENT: "clientAuth"}


def judge_certificates(
    rel: str,
    certificates: tuple[CertificateInfo, ...],
    spec: ItemSpec,
    as_of: dt.datetime,
    findings: list[Finding],
) -> None:
    for cert in certificates:
        if not cert.is_valid_at(as_of):
            expired = cert.not_after < as_of
            findings.append(
                Finding(
                    FindingCode.CERTIFICATE_EXPIRED,
                    Severity.HIGH if not cert.is_ca or expired else Severity.MEDIUM,
                    f"Le certificat « {cert.common_name} » ({rel}) "
                    + (
                        f"a expiré le {cert.not_after:%d/%m/%Y}."
                        if expired
                        else f"n'est valide qu'à partir du {cert.not_before:%d/%m/%Y}."
                    ),
                    rel,
                )
            )
    use = spec.certificate.use if spec.certificate else None
    wanted = _EKU_FOR_USE.get(use) if use else None
    leaf = next((c for c in certificates if not c.is_ca), None)
    if wanted and leaf and leaf.extended_key_usage and wanted not in leaf.extended_key_usage:
        findings.append(
            Finding(
                FindingCode.CERTIFICATE_USE_MISMATCH,
                Severity.MEDIUM,
                f"Le certificat « {leaf.common_name} » est déclaré pour l'usage {use} mais son "
                f"extension EKU ({', '.join(leaf.extended_key_usage)}) ne contient pas {wanted}.",
                rel,
            )
        )


def current_certificate(items: list[InventoryItem], as_of: dt.datetime) -> CertificateInfo | None:
    """Newest leaf certificate valid at the audit date (else the newest leaf at all)."""
    leaves = [
        c
        for i in items
        if i.intact
        and i.kind is ItemKind.CERTIFICATE
        and i.certificate_use is not CertificateUse.CA
        for c in i.certificates
        if not c.is_ca
    ]
    valid = [c for c in leaves if c.is_valid_at(as_of)]
    pool = valid or leaves
    return max(pool, key=lambda c: c.not_before) if pool else None


def check_pentest(
    items: list[InventoryItem], current: CertificateInfo | None, findings: list[Finding]
) -> None:
    reports = [
        (i, i.pentest)
        for i in items
        if i.intact and i.kind is ItemKind.PENTEST_REPORT and i.pentest
    ]
    if not reports:
        findings.append(
            Finding(
                FindingCode.PENTEST_MISSING,
                Severity.HIGH,
                "Aucun rapport de test d'intrusion exploitable dans le dossier de preuves : "
                "le test d'intrusion EDC (prestataire PASSI) doit être renouvelé avant chaque "
                "expiration de certificat.",
            )
        )
        return
    latest, facts = max(reports, key=lambda pair: pair[1].report_date)
    if current is not None and facts.report_date < current.not_before.date():
        findings.append(
            Finding(
                FindingCode.PENTEST_OUTDATED,
                Severity.HIGH,
                f"Le rapport de test d'intrusion le plus récent (daté du "
                f"{facts.report_date:%d/%m/%Y}) est antérieur au début de validité du "
                f"certificat actuel « {current.common_name} » ({current.not_before:%d/%m/%Y}) : "
                "le test d'intrusion n'a pas été renouvelé avec le certificat.",
                latest.path,
            )
        )


def check_conformite(
    files: dict[str, Path],
    items: list[InventoryItem],
    profile: DocumentProfile,
    findings: list[Finding],
) -> tuple[list[SectionCheck], set[str]]:
    """Sections of every document de conformité; also returns the unreadable ones.

    `files` maps bundle paths to the files on disk.
    """
    docs = [i for i in items if i.kind is ItemKind.DOCUMENT_CONFORMITE and i.intact]
    if not docs:
        findings.append(
            Finding(
                FindingCode.CONFORMITE_MISSING,
                Severity.HIGH,
                "Aucun document de conformité exploitable dans le dossier de preuves.",
            )
        )
        return [], set()
    checks: list[SectionCheck] = []
    unreadable: set[str] = set()
    for doc in docs:
        if not is_supported(doc.path):
            findings.append(
                Finding(
                    FindingCode.DOCUMENT_FORMAT_UNSUPPORTED,
                    Severity.LOW,
                    f"Le document de conformité « {doc.path} » n'est pas au format .docx ni "
                    "Markdown : ses sections doivent être vérifiées manuellement.",
                    doc.path,
                )
            )
            continue
        try:
            if (doc.size or 0) > DOCUMENT_MAX_BYTES:
                raise DocumentReadError("fichier trop volumineux")
            try:
                data = files[doc.path].read_bytes()
            except OSError as exc:
                raise DocumentReadError(f"fichier illisible ({exc.strerror})") from None
            if sha256_bytes(data) != doc.sha256:
                raise DocumentReadError("le fichier a changé pendant l'analyse")
            blocks = read_blocks(doc.path, data)
        except DocumentReadError as exc:
            findings.append(
                Finding(
                    FindingCode.DOCUMENT_UNREADABLE,
                    Severity.MEDIUM,
                    f"Le document de conformité « {doc.path} » est illisible : {exc}.",
                    doc.path,
                )
            )
            unreadable.add(doc.path)
            continue
        for section, state, heading in check_sections(blocks, profile):
            checks.append(SectionCheck(doc.path, section.title, state, heading))
            if state is SectionState.MISSING:
                findings.append(
                    Finding(
                        FindingCode.CONFORMITE_SECTION_MISSING,
                        Severity.MEDIUM,
                        f"La section « {section.title} » est absente du document de conformité.",
                        doc.path,
                    )
                )
            elif state is SectionState.EMPTY:
                findings.append(
                    Finding(
                        FindingCode.CONFORMITE_SECTION_EMPTY,
                        Severity.MEDIUM,
                        f"La section « {heading or section.title} » du document de conformité "
                        "n'est pas renseignée.",
                        doc.path,
                    )
                )
    return checks, unreadable
