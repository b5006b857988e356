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
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from auditlib.certs import CertificateInfo
from auditlib.errors import EvidenceError
from auditlib.evidence import checks
from auditlib.evidence.archive import (
    FileEntry,
    Refusal,
    ZipLimits,
    check_zip,
    clean_member_path,
    extract_zip,
    scan_folder,
)
from auditlib.evidence.conformite import DocumentProfile, load_document_profile
from auditlib.evidence.manifest import (
    MANIFEST_NAME,
    ItemSpec,
    PentestSpec,
    parse_manifest,
)
from auditlib.evidence.model import (
    BundleFingerprint,
    CorrectiveActionFacts,
    EvidenceBundle,
    Finding,
    FindingCode,
    InventoryItem,
    ItemKind,
    ItemStatus,
    PentestFacts,
    sort_findings,
)
from auditlib.files import sha256_bytes, sha256_file
from auditlib.requirements import normalise_requirement_id
from auditlib.severity import Severity

MANIFEST_MAX_BYTES = ZipLimits().max_manifest_bytes
"""Largest manifest.yaml accepted by default (1 MiB holds thousands of items)."""
HASH_WORKERS = min(4, os.cpu_count() or 1)


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
        limits=limits,
    )
    if source.is_dir():
        entries, refusals = scan_folder(source, limits)
        if refusals:
            return _unusable(source, "folder", when, refusals, None)
        return _load_tree(source, source, "folder", entries, None, context)
    if source.is_file():
        return _load_zip(source, limits, context)
    raise EvidenceError(f"evidence bundle {source}: no such folder or .zip file")


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every check of one load needs to know."""

    as_of: dt.datetime
    known: frozenset[str] | None
    provider_id: str | None
    current_certificate: CertificateInfo | None
    profile: DocumentProfile
    limits: ZipLimits = ZipLimits()  # noqa: RUF009 - frozen dataclass, safe as a default


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
            return workdir / top, [
                FileEntry(e.path[prefix:], e.size, e.sha256, e.disk[prefix:]) for e in entries
            ]
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
    if manifest_entry.size > context.limits.max_manifest_bytes:
        return _unusable(
            source,
            source_type,
            context.as_of,
            [
                Refusal(
                    FindingCode.MANIFEST_INVALID,
                    MANIFEST_NAME,
                    f"manifeste trop volumineux ({manifest_entry.size} octets, maximum "
                    f"{context.limits.max_manifest_bytes})",
                )
            ],
            source_sha,
        )
    try:
        manifest_bytes = (root / manifest_entry.on_disk).read_bytes()
    except OSError as exc:
        detail = f"manifeste illisible ({exc.strerror or type(exc).__name__})"
        return _unusable(
            source,
            source_type,
            context.as_of,
            [Refusal(FindingCode.FILE_UNREADABLE, MANIFEST_NAME, detail)],
            source_sha,
        )
    manifest_sha = sha256_bytes(manifest_bytes)
    # Hash every present file once (zip extraction already did it on the fly), spread over
    # a few threads: hashlib and file reads release the GIL. Not overlapped with the
    # manifest parse on purpose: a CPU-bound Python thread starves the hashing threads.
    hashes, failures = _HashJob(root, present).result()
    if failures:
        return _unusable(source, source_type, context.as_of, failures, source_sha, manifest_sha)
    manifest, problems = parse_manifest(manifest_bytes)
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

    sections, unreadable = checks.check_conformite(
        {p: root / e.on_disk for p, e in present.items()}, items, context.profile, findings
    )
    items = [
        dataclasses.replace(i, status=ItemStatus.UNREADABLE) if i.path in unreadable else i
        for i in items
    ]
    current = context.current_certificate or checks.current_certificate(items, context.as_of)
    checks.check_pentest(items, current, findings)

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
        self.futures: list[Future[tuple[dict[str, str], list[Refusal]]]] = []
        if todo:
            self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hash")
            root_text = str(root)
            for index in range(workers):
                batch = [(p, present[p].on_disk) for p in todo[index::workers]]
                self.futures.append(self.pool.submit(_hash_batch, root_text, batch))

    def result(self) -> tuple[dict[str, str], list[Refusal]]:
        """(hashes, refusals for files that could not be read)."""
        hashes = dict(self.known)
        refusals: list[Refusal] = []
        try:
            for future in self.futures:
                done, failed = future.result()
                hashes.update(done)
                refusals += failed
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
        return hashes, sorted(refusals, key=lambda r: r.member or "")


def _hash_batch(root: str, batch: list[tuple[str, str]]) -> tuple[dict[str, str], list[Refusal]]:
    hashes: dict[str, str] = {}
    refusals: list[Refusal] = []
    for path, disk in batch:
        try:
            hashes[path] = sha256_file(os.path.join(root, disk))
        except OSError as exc:  # permission denied, vanished since the scan...
            detail = f"fichier illisible ({exc.strerror or type(exc).__name__})"
            refusals.append(Refusal(FindingCode.FILE_UNREADABLE, path, detail))
    return hashes, refusals


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
        "corrective_actions": tuple(
            CorrectiveActionFacts(a.action, a.due, tuple(a.targets), a.owner)
            for a in (spec.corrective_plan.actions if spec.corrective_plan else ())
        ),
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
        certificates, problem = checks.read_certificates(root / entry.on_disk, rel, spec, findings)
        if problem:
            status = ItemStatus.UNREADABLE
        else:
            checks.judge_certificates(rel, certificates, spec, context.as_of, findings)
    return InventoryItem(
        size=entry.size, sha256=actual, status=status, certificates=certificates, **base
    )
