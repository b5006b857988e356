"""Loading a provider's evidence bundle ("preuves"): a folder or a .zip with a `manifest.yaml`.

Everything in a bundle comes from the audited party, so it is untrusted: hostile zips
and folders are refused (the bundle is then *unusable*, never half-loaded), and every
problem inside a usable bundle becomes a typed `Finding` with a French message for the
report, never an exception. The bundle records its own fingerprint so that an audit
record can prove which files were judged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditlib.certs import CertificateInfo, describe_certificate
from auditlib.conformite import (
    DocumentProfile,
    DocumentReadError,
    check_sections,
    is_supported,
    load_document_profile,
    read_blocks,
)
from auditlib.errors import EvidenceError, YamlInputError
from auditlib.evidence_model import (
    BundleFingerprint,
    BundleStatus,
    CertificateUse,
    EvidenceBundle,
    Finding,
    FindingCode,
    InventoryItem,
    ItemKind,
    ItemStatus,
    PentestFacts,
    SectionCheck,
    SectionState,
    Severity,
    sort_findings,
)
from auditlib.evidence_zip import (
    FileEntry,
    Refusal,
    ZipLimits,
    check_zip,
    clean_member_path,
    extract_zip,
    scan_folder,
    unsafe_path_rule,
)
from auditlib.files import sha256_bytes, sha256_file
from auditlib.requirements import normalise_requirement_id
from auditlib.yamlio import parse_yaml_text

MANIFEST_NAME = "manifest.yaml"
MANIFEST_MAX_BYTES = 5 * 1024 * 1024
CERT_MAX_BYTES = 1024 * 1024
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PKCS12_SUFFIXES = {".p12", ".pfx"}
HASH_WORKERS = min(4, os.cpu_count() or 1)

__all__ = [
    "MANIFEST_NAME",
    "BundleFingerprint",
    "BundleStatus",
    "CertificateUse",
    "EvidenceBundle",
    "Finding",
    "FindingCode",
    "InventoryItem",
    "ItemKind",
    "ItemStatus",
    "ManifestSpec",
    "SectionCheck",
    "SectionState",
    "Severity",
    "ZipLimits",
    "load_bundle",
]


# --- manifest (what the provider declares) ---------------------------------------------------


class PentestSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    passi_firm: str | None = None
    scope: str | None = None
    report_date: dt.date | None = None
    """Defaults to the item's `date`."""


class CertificateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    use: CertificateUse = CertificateUse.OTHER
    passphrase_env: str | None = None
    """PKCS#12 only: NAME of the environment variable holding the passphrase."""

    @field_validator("passphrase_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME_RE.match(value):
            raise ValueError("must be the NAME of an environment variable")
        return value


class ItemSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Annotated[str, Field(min_length=1)]
    kind: ItemKind
    requirements: list[str] = []
    date: dt.date
    sha256: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{64}$")]
    title: str | None = None
    pentest: PentestSpec | None = None
    certificate: CertificateSpec | None = None

    @field_validator("requirements", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("date", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        return value.date() if isinstance(value, dt.datetime) else value


class ManifestSpec(BaseModel):
    """`manifest.yaml`: who filed the bundle and one entry per file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1, le=1)] = 1
    provider: Annotated[str, Field(min_length=1)]
    prepared_on: dt.date | None = None
    items: list[ItemSpec]


# --- loading ---------------------------------------------------------------------------------


def load_bundle(
    path: str | os.PathLike[str],
    known_requirements: Iterable[str] | None = None,
    as_of: dt.datetime | None = None,
    limits: ZipLimits = ZipLimits(),  # noqa: B008 - frozen dataclass, safe as a default
    *,
    provider_id: str | None = None,
    current_certificate: CertificateInfo | None = None,
    document_profile: DocumentProfile | None = None,
) -> EvidenceBundle:
    """Load, verify and inventory a bundle (folder or .zip).

    `known_requirements`: ids of the checkpoint workbook; items citing others are findings.
    `as_of`: the audit date (default now, UTC) for "dated in the future" and validity.
    `provider_id`: the provider the bundle should belong to (from the registry).
    `current_certificate`: the certificate the pentest must postdate (e.g. seen on the
    wire); by default the newest valid leaf certificate filed in the bundle.
    Raises `EvidenceError` only when `path` is neither a folder nor a file.
    """
    source = Path(path)
    when = (as_of or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    known = None
    if known_requirements is not None:
        known = frozenset(
            normalise_requirement_id(r, allow_bare_number=True) or r for r in known_requirements
        )
    context = _Context(
        as_of=when,
        known=known,
        provider_id=provider_id,
        current_certificate=current_certificate,
        profile=document_profile or load_document_profile(),
    )
    if source.is_dir():
        entries, refusals = scan_folder(source, limits)
        if refusals:
            return _unusable(source, "folder", when, refusals, None)
        return _load_tree(source, source, "folder", entries, None, context)
    if source.is_file():
        return _load_zip(source, limits, context)
    raise EvidenceError(f"evidence bundle {source}: no such folder or .zip file")


class _Context:
    def __init__(
        self,
        as_of: dt.datetime,
        known: frozenset[str] | None,
        provider_id: str | None,
        current_certificate: CertificateInfo | None,
        profile: DocumentProfile,
    ) -> None:
        self.as_of = as_of
        self.known = known
        self.provider_id = provider_id
        self.current_certificate = current_certificate
        self.profile = profile


def _unusable(
    source: Path,
    source_type: str,
    as_of: dt.datetime,
    refusals: list[Refusal],
    source_sha256: str | None,
    manifest_sha256: str | None = None,
) -> EvidenceBundle:
    findings = [
        Finding(
            FindingCode.BUNDLE_UNUSABLE,
            Severity.CRITICAL,
            "Le dossier de preuves est inexploitable : il a été refusé sans être analysé "
            f"({len(refusals)} motif(s) ci-dessous).",
        )
    ]
    for refusal in refusals:
        where = f"« {refusal.member} » : " if refusal.member else ""
        findings.append(
            Finding(refusal.rule, Severity.CRITICAL, f"{where}{refusal.detail}.", refusal.member)
        )
    fingerprint = (
        BundleFingerprint(manifest_sha256, None, 0, source_sha256)
        if source_sha256 or manifest_sha256
        else None
    )
    return EvidenceBundle(
        source=source,
        source_type=source_type,
        usable=False,
        as_of=as_of,
        findings=tuple(findings),
        fingerprint=fingerprint,
    )


def _load_zip(source: Path, limits: ZipLimits, context: _Context) -> EvidenceBundle:
    try:
        source_sha = sha256_file(source)
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        detail = "fichier illisible ou qui n'est pas une archive zip"
        if isinstance(exc, OSError) and exc.strerror:
            detail += f" ({exc.strerror})"
        return _unusable(
            source,
            "zip",
            context.as_of,
            [Refusal(FindingCode.ARCHIVE_CORRUPT, None, detail)],
            None,
        )
    with archive:
        refusals = check_zip(archive, limits)
        if refusals:
            return _unusable(source, "zip", context.as_of, refusals, source_sha)
        # A private folder (mode 0700), removed whatever happens; nothing else is written.
        workdir = Path(tempfile.mkdtemp(prefix="auditlib-bundle-"))
        try:
            entries, refusals = extract_zip(archive, workdir, limits)
            if refusals:
                return _unusable(source, "zip", context.as_of, refusals, source_sha)
            root, entries = _bundle_root(workdir, entries)
            return _load_tree(root, source, "zip", entries, source_sha, context)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def _bundle_root(workdir: Path, entries: list[FileEntry]) -> tuple[Path, list[FileEntry]]:
    """Accept a zip whose files all sit under one top folder holding the manifest."""
    if any(e.path == MANIFEST_NAME for e in entries):
        return workdir, entries
    tops = {e.path.split("/", 1)[0] for e in entries}
    if len(tops) == 1 and all("/" in e.path for e in entries):
        top = tops.pop()
        if any(e.path == f"{top}/{MANIFEST_NAME}" for e in entries):
            prefix = len(top) + 1
            return workdir / top, [FileEntry(e.path[prefix:], e.size, e.sha256) for e in entries]
    return workdir, entries


def _load_tree(
    root: Path,
    source: Path,
    source_type: str,
    entries: list[FileEntry],
    source_sha: str | None,
    context: _Context,
) -> EvidenceBundle:
    """Load an already screened tree (the folder itself, or the extracted zip)."""
    present = {e.path: e for e in entries}
    manifest_entry = present.pop(MANIFEST_NAME, None)
    if manifest_entry is None:
        return _unusable(
            source,
            source_type,
            context.as_of,
            [Refusal(FindingCode.MANIFEST_MISSING, None, f"aucun fichier {MANIFEST_NAME}")],
            source_sha,
        )
    if manifest_entry.size > MANIFEST_MAX_BYTES:
        return _unusable(
            source,
            source_type,
            context.as_of,
            [
                Refusal(
                    FindingCode.MANIFEST_INVALID,
                    MANIFEST_NAME,
                    f"manifeste trop volumineux ({manifest_entry.size} octets)",
                )
            ],
            source_sha,
        )
    manifest_bytes = (root / MANIFEST_NAME).read_bytes()
    manifest_sha = sha256_bytes(manifest_bytes)
    # Hash every present file once (zip extraction already did it on the fly), spread over
    # a few threads: hashlib and file reads release the GIL. Not overlapped with the
    # manifest parse on purpose: a CPU-bound Python thread starves the hashing threads.
    hashes = _HashJob(root, present).result()
    manifest, problems = _parse_manifest(manifest_bytes)
    if manifest is None:
        return _unusable(source, source_type, context.as_of, problems, source_sha, manifest_sha)

    findings: list[Finding] = []
    if context.provider_id is not None and manifest.provider != context.provider_id:
        findings.append(
            Finding(
                FindingCode.PROVIDER_MISMATCH,
                Severity.HIGH,
                f"Le manifeste est au nom du fournisseur « {manifest.provider} » alors que "
                f"l'audit porte sur « {context.provider_id} ».",
                MANIFEST_NAME,
            )
        )

    items: list[InventoryItem] = []
    for spec in manifest.items:
        rel = clean_member_path(spec.path)
        items.append(_judge_item(root, rel, spec, present, hashes, context, findings))
    listed = {clean_member_path(s.path) for s in manifest.items}
    for rel in sorted(set(present) - listed):
        findings.append(
            Finding(
                FindingCode.FILE_UNLISTED,
                Severity.LOW,
                f"Le fichier « {rel} » est présent dans le dossier de preuves mais n'est pas "
                "déclaré dans le manifeste : il n'est pas pris en compte.",
                rel,
            )
        )
        items.append(
            InventoryItem(
                path=rel,
                kind=None,
                requirements=(),
                date=None,
                size=present[rel].size,
                sha256=hashes[rel],
                declared_sha256=None,
                status=ItemStatus.UNLISTED,
            )
        )

    sections, unreadable = _check_conformite(root, items, context, findings)
    items = [
        dataclasses.replace(i, status=ItemStatus.UNREADABLE) if i.path in unreadable else i
        for i in items
    ]
    current = context.current_certificate or _current_certificate(items, context.as_of)
    _check_pentest(items, current, findings)

    content_lines = "".join(f"{hashes[p]}  {p}\n" for p in sorted(hashes, key=str.encode))
    fingerprint = BundleFingerprint(
        manifest_sha256=manifest_sha,
        content_sha256=sha256_bytes(content_lines.encode("utf-8")),
        file_count=len(hashes),
        source_sha256=source_sha,
    )
    return EvidenceBundle(
        source=source,
        source_type=source_type,
        usable=True,
        as_of=context.as_of,
        provider_id=manifest.provider,
        items=tuple(items),
        findings=sort_findings(findings),
        fingerprint=fingerprint,
        sections=tuple(sections),
        current_certificate=current,
        known_requirements=context.known,
    )


class _HashJob:
    """SHA-256 of the files not hashed yet, computed by a few threads."""

    def __init__(self, root: Path, present: dict[str, FileEntry]) -> None:
        self.known = {p: e.sha256 for p, e in present.items() if e.sha256 is not None}
        todo = sorted(p for p in present if p not in self.known)
        workers = max(1, min(HASH_WORKERS, len(todo) // 8))
        self.pool: ThreadPoolExecutor | None = None
        self.futures: list[Future[dict[str, str]]] = []
        if todo:
            self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash")
            root_text = str(root)
            for index in range(workers):
                batch = todo[index::workers]
                self.futures.append(self.pool.submit(_hash_batch, root_text, batch))

    def result(self) -> dict[str, str]:
        hashes = dict(self.known)
        try:
            for future in self.futures:
                hashes.update(future.result())
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        return hashes


def _hash_batch(root: str, paths: list[str]) -> dict[str, str]:
    return {p: sha256_file(os.path.join(root, p)) for p in paths}


def _parse_manifest(data: bytes) -> tuple[ManifestSpec | None, list[Refusal]]:
    try:
        raw = parse_yaml_text(data, MANIFEST_NAME)
    except YamlInputError as exc:
        return None, [Refusal(FindingCode.MANIFEST_INVALID, MANIFEST_NAME, str(exc))]
    raw_items = raw.get("items") if isinstance(raw, dict) else None
    if isinstance(raw_items, list):
        for index, entry in enumerate(raw_items):
            cert = entry.get("certificate") if isinstance(entry, dict) else None
            if isinstance(cert, dict) and {"passphrase", "password"} & set(cert):
                return None, [
                    Refusal(
                        FindingCode.MANIFEST_INVALID,
                        MANIFEST_NAME,
                        f"items[{index}].certificate : un mot de passe ne doit jamais figurer "
                        "dans le manifeste (indiquer le nom d'une variable d'environnement "
                        "dans passphrase_env)",
                    )
                ]
    try:
        manifest = ManifestSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:20]:
            loc = ".".join(str(p) for p in err["loc"]) or "(racine)"
            problems.append(
                Refusal(FindingCode.MANIFEST_INVALID, MANIFEST_NAME, f"{loc} : {err['msg']}")
            )
        return None, problems
    refusals: list[Refusal] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(manifest.items):
        unsafe = unsafe_path_rule(spec.path)
        if unsafe:
            refusals.append(
                Refusal(unsafe.rule, spec.path, f"items[{index}].path : {unsafe.detail}")
            )
            continue
        rel = clean_member_path(spec.path)
        if rel == MANIFEST_NAME:
            refusals.append(
                Refusal(
                    FindingCode.MANIFEST_INVALID,
                    spec.path,
                    f"items[{index}].path : le manifeste ne peut pas se déclarer lui-même",
                )
            )
        elif rel in seen:
            refusals.append(
                Refusal(
                    FindingCode.MANIFEST_INVALID,
                    spec.path,
                    f"items[{index}].path : déjà déclaré en items[{seen[rel]}]",
                )
            )
        seen.setdefault(rel, index)
    return (None, refusals) if refusals else (manifest, [])


def _judge_item(
    root: Path,
    rel: str,
    spec: ItemSpec,
    present: dict[str, FileEntry],
    hashes: dict[str, str],
    context: _Context,
    findings: list[Finding],
) -> InventoryItem:
    requirements: list[str] = []
    for raw_id in spec.requirements:
        rid = normalise_requirement_id(raw_id, allow_bare_number=True)
        if rid is None:
            findings.append(
                Finding(
                    FindingCode.INVALID_REQUIREMENT_ID,
                    Severity.MEDIUM,
                    f"« {raw_id} » n'est pas un identifiant d'exigence (attendu : "
                    "EXI EDC PSC <n>).",
                    rel,
                )
            )
            continue
        if context.known is not None and rid not in context.known:
            findings.append(
                Finding(
                    FindingCode.UNKNOWN_REQUIREMENT,
                    Severity.MEDIUM,
                    f"La pièce se rapporte à l'exigence {rid}, absente du référentiel de "
                    "points de contrôle.",
                    rel,
                )
            )
        if rid not in requirements:
            requirements.append(rid)
    today = context.as_of.date()
    if spec.date > today:
        findings.append(
            Finding(
                FindingCode.FUTURE_DATE,
                Severity.MEDIUM,
                f"La pièce est datée du {spec.date:%d/%m/%Y}, postérieure à la date de "
                f"l'audit ({today:%d/%m/%Y}).",
                rel,
            )
        )
    pentest = None
    if spec.kind is ItemKind.PENTEST_REPORT:
        p = spec.pentest or PentestSpec()
        report_date = p.report_date or spec.date
        pentest = PentestFacts(p.passi_firm, p.scope, report_date)
        if p.report_date and p.report_date > today:
            findings.append(
                Finding(
                    FindingCode.FUTURE_DATE,
                    Severity.MEDIUM,
                    f"Le rapport de test d'intrusion est daté du {p.report_date:%d/%m/%Y}, "
                    f"postérieur à la date de l'audit ({today:%d/%m/%Y}).",
                    rel,
                )
            )
        if not p.passi_firm:
            findings.append(
                Finding(
                    FindingCode.PENTEST_DETAILS_MISSING,
                    Severity.LOW,
                    "Le prestataire PASSI ayant réalisé le test d'intrusion n'est pas indiqué.",
                    rel,
                )
            )
    base: dict[str, Any] = {
        "path": rel,
        "kind": spec.kind,
        "requirements": tuple(requirements),
        "date": spec.date,
        "declared_sha256": spec.sha256.lower(),
        "title": spec.title,
        "certificate_use": spec.certificate.use if spec.certificate else None,
        "pentest": pentest,
    }
    entry = present.get(rel)
    if entry is None:
        findings.append(
            Finding(
                FindingCode.FILE_MISSING,
                Severity.HIGH,
                f"Le fichier « {rel} » est déclaré dans le manifeste mais absent du dossier "
                "de preuves.",
                rel,
            )
        )
        return InventoryItem(size=None, sha256=None, status=ItemStatus.MISSING, **base)
    actual = hashes[rel]
    if actual != spec.sha256.lower():
        findings.append(
            Finding(
                FindingCode.HASH_MISMATCH,
                Severity.CRITICAL,
                f"L'empreinte SHA-256 du fichier « {rel} » ne correspond pas au manifeste "
                f"(attendue {spec.sha256.lower()[:16]}…, calculée {actual[:16]}…) : le "
                "fichier a été modifié après la constitution du dossier.",
                rel,
            )
        )
        return InventoryItem(
            size=entry.size, sha256=actual, status=ItemStatus.HASH_MISMATCH, **base
        )
    status = ItemStatus.OK
    certificates: tuple[CertificateInfo, ...] = ()
    if spec.kind is ItemKind.CERTIFICATE:
        certificates, problem = _read_certificates(root / rel, rel, spec, findings)
        if problem:
            status = ItemStatus.UNREADABLE
        else:
            _judge_certificates(rel, certificates, spec, context, findings)
    return InventoryItem(
        size=entry.size, sha256=actual, status=status, certificates=certificates, **base
    )


def _read_certificates(
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

    if file.stat().st_size > CERT_MAX_BYTES:
        return unreadable("fichier trop volumineux pour un certificat")
    data = file.read_bytes()
    certs: list[x509.Certificate] = []
    cert_spec = spec.certificate or CertificateSpec()
    try:
        if file.suffix.lower() in PKCS12_SUFFIXES:
            passphrase: bytes | None = None
            if cert_spec.passphrase_env:
                value = os.environ.get(cert_spec.passphrase_env)
                if value is None:
                    return unreadable(
                        f"la variable d'environnement {cert_spec.passphrase_env} (mot de passe "
                        "PKCS#12) n'est pas définie"
                    )
                passphrase = value.encode("utf-8")
            try:
                _key, leaf, extra = pkcs12.load_key_and_certificates(data, passphrase)
            except ValueError:
                return unreadable("fichier PKCS#12 invalide ou mot de passe incorrect")
            certs = ([leaf] if leaf else []) + list(extra)
        elif b"-----BEGIN" in data:
            if b"PRIVATE KEY-----" in data:
                findings.append(
                    Finding(
                        FindingCode.PRIVATE_KEY_IN_BUNDLE,
                        Severity.HIGH,
                        f"Le fichier « {rel} » contient une clé privée : une clé privée ne doit "
                        "jamais être transmise, elle doit être considérée comme compromise.",
                        rel,
                    )
                )
            certs = list(x509.load_pem_x509_certificates(data))
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError:
        return unreadable("format non reconnu (PEM, DER ou PKCS#12 attendu)")
    if not certs:
        return unreadable("aucun certificat dans le fichier")
    described = [describe_certificate(c) for c in certs]
    leaves = [c for c in described if not c.is_ca]
    cas = [c for c in described if c.is_ca]
    return tuple(leaves + cas), False


_EKU_FOR_USE = {CertificateUse.TLS_SERVER: "serverAuth", CertificateUse.MTLS_CLIENT: "clientAuth"}


def _judge_certificates(
    rel: str,
    certificates: tuple[CertificateInfo, ...],
    spec: ItemSpec,
    context: _Context,
    findings: list[Finding],
) -> None:
    for cert in certificates:
        if not cert.is_valid_at(context.as_of):
            expired = cert.not_after < context.as_of
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


def _current_certificate(items: list[InventoryItem], as_of: dt.datetime) -> CertificateInfo | None:
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


def _check_pentest(
    items: list[InventoryItem], current: CertificateInfo | None, findings: list[Finding]
) -> None:
    reports = [i for i in items if i.intact and i.kind is ItemKind.PENTEST_REPORT and i.pentest]
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
    latest = max(reports, key=lambda i: i.pentest.report_date if i.pentest else dt.date.min)
    assert latest.pentest is not None
    if current is not None and latest.pentest.report_date < current.not_before.date():
        findings.append(
            Finding(
                FindingCode.PENTEST_OUTDATED,
                Severity.HIGH,
                f"Le rapport de test d'intrusion le plus récent (daté du "
                f"{latest.pentest.report_date:%d/%m/%Y}) est antérieur au début de validité du "
                f"certificat actuel « {current.common_name} » ({current.not_before:%d/%m/%Y}) : "
                "le test d'intrusion n'a pas été renouvelé avec le certificat.",
                latest.path,
            )
        )


def _check_conformite(
    root: Path, items: list[InventoryItem], context: _Context, findings: list[Finding]
) -> tuple[list[SectionCheck], set[str]]:
    """Sections of every document de conformité; also returns the unreadable ones."""
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
            blocks = read_blocks(doc.path, (root / doc.path).read_bytes())
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
        for section, state, heading in check_sections(blocks, context.profile):
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
