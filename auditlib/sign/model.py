"""What signing takes and what signing and verifying return: specs, settings, results."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

FIELD_PREFIX = "AuditSeal"
STAMP_WIDTH = 214
"""Stamp width in points: 32 Courier characters of the hash at about 9 pt."""
STAMP_HEIGHT = 50
"""Stamp height in points: fits the bottom margin of an A4 page with 2 cm margins."""
STAMP_INSET = 6
"""Distance from the page edge, in points."""
STAMP_TEXT = (
    "Cachet électronique : %(signer)s\n"
    "Date : %(ts)s\n"
    "SHA-256 du rapport non signé :\n"
    "%(hash1)s\n"
    "%(hash2)s"
)
REVOCATION_NOTE = "revocation not checked (offline validation, no CRL/OCSP fetching)"


class PadesLevel(StrEnum):
    B_B = "PAdES-B-B"
    B_T = "PAdES-B-T"


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class SignerSpec:
    """Where the organisation seal key comes from. Holds paths and names, never secrets."""

    p12_path: Path | None = None
    """PKCS#12 (.p12/.pfx) with key and certificate; excludes key_path/cert_path."""
    key_path: Path | None = None
    """PEM (or DER) private key, used with cert_path."""
    cert_path: Path | None = None
    """PEM (or DER) certificate of the key."""
    chain_paths: tuple[Path, ...] = ()
    """Extra CA certificates (PEM bundles or DER) embedded so verifiers can build the path."""
    pass_env: str | None = None
    """NAME of the environment variable holding the passphrase (not the passphrase)."""
    prompt: bool = True
    """Ask with getpass when a passphrase is needed, no pass_env is set and stdin is a TTY."""


@dataclass(frozen=True)
class SigningSettings:
    """How to sign: which key, what the signature says, and whether to timestamp it."""

    signer: SignerSpec
    signer_name: str | None = None
    """Name shown in the stamp and /Name; defaults to the certificate's common name."""
    reason: str | None = "Rapport d'audit EDC PSC"
    location: str | None = None
    timestamp_url: str | None = None
    """RFC 3161 timestamp server (PAdES B-T); None gives PAdES B-B."""
    timestamp_timeout: float = 10.0
    visible: bool = True
    """Draw the visible stamp on the last page."""


# -------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StampPlacement:
    page_index: int
    """Zero-based index of the page carrying the stamp (the last page)."""
    box: tuple[int, int, int, int]
    """(x1, y1, x2, y2) in PDF points."""
    corner: str
    overlaps_text: bool
    """True when every candidate corner had text in it and the stamp covers some."""


@dataclass(frozen=True)
class SignResult:
    input_path: Path
    output_path: Path
    input_sha256: str
    """SHA-256 of the unsigned report, as printed in the stamp."""
    output_sha256: str
    field_name: str
    signer_name: str
    signer_subject: str
    signing_time: dt.datetime
    level: PadesLevel
    stamp: StampPlacement | None

    @property
    def bottom_line(self) -> bool:
        return True


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on one embedded signature."""

    field_name: str
    signer_name: str | None
    signer_subject: str | None
    signing_time: dt.datetime | None
    """Time claimed by the signer (not proof unless timestamped)."""
    timestamp_time: dt.datetime | None
    """Time from a trusted RFC 3161 token, when the signature carries one."""
    intact: bool
    """The signed bytes hash to the digest in the signature."""
    valid: bool
    """The cryptographic signature over the signed attributes checks out."""
    trusted: bool
    """The signer's certificate chains to a CA in the trust folder."""
    trust_problem: str | None
    coverage: str
    """ENTIRE_FILE, ENTIRE_REVISION (later updates exist), or worse."""
    modification_level: str | None
    """pyHanko's judgement of later updates: NONE, LTA_UPDATES, FORM_FILLING, ANNOTATIONS, OTHER."""
    modified_after_signing: bool
    """Something other than a later signature was changed or appended after this one."""
    docmdp_ok: bool | None
    level: PadesLevel | None
    pyhanko_bottom_line: bool
    error: str | None = None
    signed_revision: int | None = None
    """Zero-based revision this signature covers (None when unreadable)."""
    covered_end: int | None = None
    """Offset where the signature's byte range ends (the file size when nothing follows)."""
    seal_problems: tuple[str, ...] = ()
    """Why the signer may not seal under the seal policy (empty: fit, or no policy)."""
    changes_after: tuple[str, ...] = ()
    """The changes after this signature that are not a later signature."""

    @property
    def seal_conforming(self) -> bool:
        return not self.seal_problems

    @property
    def bottom_line(self) -> bool:
        return (
            self.error is None
            and self.pyhanko_bottom_line
            and self.intact
            and self.valid
            and self.trusted
            and self.coverage in ("ENTIRE_FILE", "ENTIRE_REVISION")
            and not self.modified_after_signing
            and not self.seal_problems
        )


@dataclass(frozen=True)
class VerifyResult:
    path: Path
    sha256: str
    signatures: tuple[SignatureCheck, ...]
    trust_source: str
    """The CA folder used, or a note that none was given."""
    revocation_checked: bool = False
    notes: tuple[str, ...] = field(default=(REVOCATION_NOTE,))
    seal_policy: str | None = None
    """Name of the seal policy applied; None: integrity and trust only (third-party file)."""
    file_size: int = 0

    @property
    def signed(self) -> bool:
        return bool(self.signatures)

    @property
    def intact(self) -> bool:
        return self.signed and all(
            s.intact and s.valid and s.error is None for s in self.signatures
        )

    @property
    def trusted(self) -> bool:
        return self.signed and all(s.trusted for s in self.signatures)

    @property
    def modified_after_signing(self) -> bool:
        """True when anything but a later signature changed after a signature."""
        return self.signed and any(s.modified_after_signing for s in self.signatures)

    @property
    def seal_conforming(self) -> bool | None:
        """Every signer fits the seal policy; None when no policy was applied."""
        if self.seal_policy is None:
            return None
        return self.signed and all(s.seal_conforming for s in self.signatures)

    @property
    def problems(self) -> tuple[str, ...]:
        if not self.signed:
            return ("no signature in the file",)
        found: list[str] = []
        for sig in self.signatures:
            where = f"signature {sig.field_name!r}"
            if sig.error:
                found.append(f"{where}: {sig.error}")
                continue
            if not sig.intact:
                found.append(f"{where}: signed bytes were altered (digest mismatch)")
            if not sig.valid:
                found.append(f"{where}: cryptographic signature does not verify")
            if not sig.trusted:
                found.append(f"{where}: signer not trusted ({sig.trust_problem or 'no path'})")
            if sig.coverage not in ("ENTIRE_FILE", "ENTIRE_REVISION"):
                found.append(f"{where}: byte range does not cover its revision ({sig.coverage})")
            if sig.docmdp_ok is False:
                found.append(f"{where}: later changes not allowed ({sig.modification_level})")
            for problem in sig.seal_problems:
                found.append(f"{where}: cachet non conforme: {problem}")
        reported: set[str] = set()
        for sig in self.signatures:
            for change in sig.changes_after:
                if change not in reported:
                    reported.add(change)
                    found.append(f"modified after signing {sig.field_name!r}: {change}")
        return tuple(found)

    @property
    def bottom_line(self) -> bool:
        return self.signed and not self.problems
