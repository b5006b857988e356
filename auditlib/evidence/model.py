"""Typed results of loading an evidence bundle: items, findings, fingerprint.

Kept apart from the loader so that the assessment and the report can import the
vocabulary without the loading machinery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditlib.certs import CertificateInfo
from auditlib.requirements import normalise_requirement_id, requirement_sort_key
from auditlib.severity import Severity

if TYPE_CHECKING:
    import pandas as pd


class ItemKind(StrEnum):
    """What a proof is (manifest `kind`)."""

    DOCUMENT_CONFORMITE = "document_conformite"
    PENTEST_REPORT = "pentest_report"
    CERTIFICATE = "certificate"
    BAS_TEST_REPORT = "bas_test_report"
    CGU_COMMITMENT = "cgu_commitment"
    ARCHITECTURE_DOCUMENT = "architecture_document"
    SUPERVISION_TRACE_EXPORT = "supervision_trace_export"
    CORRECTIVE_PLAN = "corrective_plan"
    """The provider's corrective plan: its actions and dates are in the manifest entry."""
    OTHER = "other"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    ItemKind.DOCUMENT_CONFORMITE: "Document de conformité",
    ItemKind.PENTEST_REPORT: "Rapport de test d'intrusion",
    ItemKind.CERTIFICATE: "Certificat",
    ItemKind.BAS_TEST_REPORT: "Rapport de test en bac à sable (BAS)",
    ItemKind.CGU_COMMITMENT: "Engagement aux CGU Pro Santé Connect",
    ItemKind.ARCHITECTURE_DOCUMENT: "Document d'architecture",
    ItemKind.SUPERVISION_TRACE_EXPORT: "Export de traces de supervision",
    ItemKind.CORRECTIVE_PLAN: "Plan d'actions correctives du prestataire",
    ItemKind.OTHER: "Autre",
}


class CertificateUse(StrEnum):
    """What a filed certificate is for (manifest `certificate.use`)."""

    TLS_SERVER = "tls_server"
    MTLS_CLIENT = "mtls_client"
    SIGNING = "signing"
    CA = "ca"
    OTHER = "other"


class ItemStatus(StrEnum):
    """State of one inventory line."""

    OK = "ok"
    """Present, hash verified, content readable."""
    HASH_MISMATCH = "hash_mismatch"
    MISSING = "missing"
    """Listed in the manifest, absent from the bundle."""
    UNLISTED = "unlisted"
    """Present in the bundle, not listed in the manifest."""
    UNREADABLE = "unreadable"
    """Hash verified, but the content cannot be parsed (certificate, document)."""


class FindingCode(StrEnum):
    """Every finding the loader can record. Zip/folder refusals make the bundle unusable."""

    # integrity
    HASH_MISMATCH = "hash_mismatch"
    FILE_MISSING = "file_missing"
    FILE_UNLISTED = "file_unlisted"
    # manifest content
    UNKNOWN_REQUIREMENT = "unknown_requirement"
    INVALID_REQUIREMENT_ID = "invalid_requirement_id"
    FUTURE_DATE = "future_date"
    PROVIDER_MISMATCH = "provider_mismatch"
    # certificates
    CERTIFICATE_UNREADABLE = "certificate_unreadable"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_USE_MISMATCH = "certificate_use_mismatch"
    PRIVATE_KEY_IN_BUNDLE = "private_key_in_bundle"
    # penetration test
    PENTEST_MISSING = "pentest_missing"
    PENTEST_OUTDATED = "pentest_outdated"
    PENTEST_DETAILS_MISSING = "pentest_details_missing"
    # document de conformité
    CONFORMITE_MISSING = "conformite_missing"
    CONFORMITE_SECTION_MISSING = "conformite_section_missing"
    CONFORMITE_SECTION_EMPTY = "conformite_section_empty"
    DOCUMENT_UNREADABLE = "document_unreadable"
    DOCUMENT_FORMAT_UNSUPPORTED = "document_format_unsupported"
    # bundle refused (unusable)
    BUNDLE_UNUSABLE = "bundle_unusable"
    MANIFEST_MISSING = "manifest_missing"
    MANIFEST_INVALID = "manifest_invalid"
    ARCHIVE_CORRUPT = "archive_corrupt"
    ABSOLUTE_PATH = "absolute_path"
    PARENT_PATH = "parent_path"
    LINK = "link"
    NOT_REGULAR_FILE = "not_regular_file"
    FILE_UNREADABLE = "file_unreadable"
    DUPLICATE_MEMBER = "duplicate_member"
    TOO_MANY_MEMBERS = "too_many_members"
    MEMBER_TOO_LARGE = "member_too_large"
    TOTAL_TOO_LARGE = "total_too_large"
    COMPRESSION_RATIO = "compression_ratio"
    ENCRYPTED_MEMBER = "encrypted_member"
    PATH_TOO_DEEP = "path_too_deep"
    """More nested folders, or a longer path, than `ZipLimits` allows."""


@dataclass(frozen=True)
class Finding:
    """One thing an auditor must know about the bundle; `message` is French, report-ready."""

    code: FindingCode
    severity: Severity
    message: str
    item: str | None = None
    """Bundle-relative path (or zip member name) concerned, if any."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": str(self.code),
            "severity": str(self.severity),
            "message": self.message,
            "item": self.item,
        }


@dataclass(frozen=True)
class PentestFacts:
    passi_firm: str | None
    scope: str | None
    report_date: dt.date


@dataclass(frozen=True)
class CorrectiveActionFacts:
    """One action of the provider's corrective plan, as its manifest entry declares it."""

    action: str
    due: dt.date
    targets: tuple[str, ...]
    """Control refs (`EXI EDC PSC 115/APRES/1`) or requirement ids (`EXI EDC PSC 115`)."""
    owner: str | None = None


@dataclass(frozen=True)
class InventoryItem:
    """One file of the bundle, listed or not."""

    path: str
    """Bundle-relative POSIX path."""
    kind: ItemKind | None
    """None for files present but not listed in the manifest."""
    requirements: tuple[str, ...]
    """Normalised requirement ids (`EXI EDC PSC 103`)."""
    date: dt.date | None
    size: int | None
    """Bytes on disk; None when the file is missing."""
    sha256: str | None
    """SHA-256 actually computed; None when the file is missing."""
    declared_sha256: str | None
    status: ItemStatus
    title: str | None = None
    certificate_use: CertificateUse | None = None
    certificates: tuple[CertificateInfo, ...] = ()
    """Parsed certificates (leaf first when the file holds a chain)."""
    pentest: PentestFacts | None = None
    corrective_actions: tuple[CorrectiveActionFacts, ...] = ()
    """Kind `corrective_plan` only: the plan's actions."""

    @property
    def intact(self) -> bool:
        """Usable as evidence: listed, present, hash verified, readable."""
        return self.status is ItemStatus.OK

    @property
    def leaf_certificate(self) -> CertificateInfo | None:
        leaves = [c for c in self.certificates if not c.is_ca]
        return leaves[0] if leaves else None


class SectionState(StrEnum):
    PRESENT = "present"
    EMPTY = "empty"
    MISSING = "missing"


@dataclass(frozen=True)
class SectionCheck:
    """An expected section of a document de conformité and what was found."""

    item: str
    section: str
    state: SectionState
    heading: str | None = None
    """Heading text as written in the document, when found."""


@dataclass(frozen=True)
class BundleFingerprint:
    """What was judged, provably: recompute these to show the files have not changed since.

    `content_sha256` is the SHA-256 of the UTF-8 text made of one line
    `<sha256 hex>  <path>\\n` per file (manifest excluded), sorted by path (byte order),
    i.e. the output of `LC_ALL=C sha256sum` over the sorted file list.
    """

    manifest_sha256: str | None
    content_sha256: str | None
    file_count: int
    source_sha256: str | None
    """SHA-256 of the .zip as delivered (None for a folder)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_sha256": self.manifest_sha256,
            "content_sha256": self.content_sha256,
            "file_count": self.file_count,
            "source_sha256": self.source_sha256,
        }


class BundleStatus(StrEnum):
    CLEAN = "clean"
    FINDINGS = "findings"
    UNUSABLE = "unusable"


@dataclass(frozen=True)
class EvidenceBundle:
    """A loaded evidence bundle: inventory, findings, fingerprint. Never half-loaded:
    when `usable` is False, `items` is empty and `findings` says why."""

    source: Path
    source_type: str
    """`folder` or `zip`."""
    usable: bool
    as_of: dt.datetime
    provider_id: str | None = None
    items: tuple[InventoryItem, ...] = ()
    findings: tuple[Finding, ...] = ()
    fingerprint: BundleFingerprint | None = None
    sections: tuple[SectionCheck, ...] = ()
    current_certificate: CertificateInfo | None = None
    """The certificate the pentest recency was judged against."""
    known_requirements: frozenset[str] | None = field(default=None, repr=False)

    @property
    def bottom_line(self) -> BundleStatus:
        if not self.usable:
            return BundleStatus.UNUSABLE
        return BundleStatus.FINDINGS if self.findings else BundleStatus.CLEAN

    @property
    def certificates(self) -> list[tuple[InventoryItem, CertificateInfo]]:
        """Every certificate parsed from intact items, with the item it came from."""
        return [(item, cert) for item in self.items if item.intact for cert in item.certificates]

    def findings_for(self, item_path: str) -> list[Finding]:
        return [f for f in self.findings if f.item == item_path]

    def evidence_for(self, requirement_id: str) -> list[InventoryItem]:
        """Intact items that support this requirement (exact id match after normalisation)."""
        rid = normalise_requirement_id(requirement_id, allow_bare_number=True) or requirement_id
        return [i for i in self.items if i.intact and rid in i.requirements]

    def coverage(self, required_ids: Iterable[str]) -> dict[str, list[str]]:
        """Requirement id -> paths of intact items supporting it, in requirement order."""
        ids = {normalise_requirement_id(r, allow_bare_number=True) or r for r in required_ids}
        return {
            rid: [i.path for i in self.evidence_for(rid)]
            for rid in sorted(ids, key=requirement_sort_key)
        }

    def requirements_without_evidence(self, required_ids: Iterable[str]) -> list[str]:
        """Required ids that no intact item supports (tampered or missing files do not count)."""
        return [rid for rid, paths in self.coverage(required_ids).items() if not paths]

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        columns = ["item", "kind", "requirements", "date", "size", "sha256", "status"]
        rows = [
            {
                "item": i.path,
                "kind": str(i.kind) if i.kind else None,
                "requirements": ", ".join(i.requirements),
                "date": i.date,
                "size": i.size,
                "sha256": i.sha256,
                "status": str(i.status),
            }
            for i in self.items
        ]
        return pd.DataFrame(rows, columns=columns)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (for `--json` and the audit record)."""
        return {
            "source": str(self.source),
            "source_type": self.source_type,
            "provider_id": self.provider_id,
            "usable": self.usable,
            "bottom_line": str(self.bottom_line),
            "as_of": self.as_of.isoformat(),
            "fingerprint": self.fingerprint.to_dict() if self.fingerprint else None,
            "items": [
                {
                    "path": i.path,
                    "kind": str(i.kind) if i.kind else None,
                    "requirements": list(i.requirements),
                    "date": i.date.isoformat() if i.date else None,
                    "size": i.size,
                    "sha256": i.sha256,
                    "declared_sha256": i.declared_sha256,
                    "status": str(i.status),
                    "certificates": [
                        {
                            "subject": c.subject,
                            "issuer": c.issuer,
                            "serial": c.serial,
                            "not_before": c.not_before.isoformat(),
                            "not_after": c.not_after.isoformat(),
                            "key": f"{c.key_type} {c.key_size}",
                            "signature_hash": c.signature_hash,
                        }
                        for c in i.certificates
                    ],
                }
                for i in self.items
            ],
            "findings": [f.to_dict() for f in self.findings],
            "sections": [
                {"item": s.item, "section": s.section, "state": str(s.state), "heading": s.heading}
                for s in self.sections
            ],
        }


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    order = {Severity.CRITICAL: 0, Severity.HIGH: 1, Severity.MEDIUM: 2, Severity.LOW: 3}
    return tuple(sorted(findings, key=lambda f: (order[f.severity], f.item or "", f.code)))
