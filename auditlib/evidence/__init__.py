"""Evidence bundles: a folder or a zip with a manifest, loaded as untrusted input (hostile
archives refused, every problem a finding), with the document de conformité checks."""

from auditlib.evidence.archive import ZipLimits
from auditlib.evidence.bundle import load_bundle
from auditlib.evidence.manifest import MANIFEST_NAME, CertificateSpec, ItemSpec, ManifestSpec
from auditlib.evidence.model import (
    BundleFingerprint,
    BundleStatus,
    CertificateUse,
    EvidenceBundle,
    Finding,
    FindingCode,
    InventoryItem,
    ItemKind,
    ItemStatus,
    SectionCheck,
    SectionState,
)
from auditlib.severity import Severity

__all__ = [
    "MANIFEST_NAME",
    "BundleFingerprint",
    "BundleStatus",
    "CertificateSpec",
    "CertificateUse",
    "EvidenceBundle",
    "Finding",
    "FindingCode",
    "InventoryItem",
    "ItemKind",
    "ItemSpec",
    "ItemStatus",
    "ManifestSpec",
    "SectionCheck",
    "SectionState",
    "Severity",
    "ZipLimits",
    "load_bundle",
]
