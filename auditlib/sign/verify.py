"""Verify PAdES signatures offline against the trust anchors of a CA folder."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from auditlib.errors import KeyMaterialError, PdfInputError
from auditlib.files import sha256_bytes
from auditlib.sign.keys import load_certs
from auditlib.sign.model import PadesLevel, SignatureCheck, VerifyResult
from auditlib.sign.pdf import open_reader, read_pdf, run_sync

# ----------------------------------------------------------------------- verifying


def load_trust_roots(ca_dir: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Every certificate in the PEM/DER files of a folder (the trust anchors)."""
    folder = Path(ca_dir)
    if not folder.is_dir():
        raise KeyMaterialError(f"CA folder {folder} does not exist or is not a folder")
    roots: list[x509.Certificate] = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in {".pem", ".crt", ".cer", ".der"}:
            roots += load_certs(path)
    if not roots:
        raise KeyMaterialError(f"CA folder {folder} holds no certificate (.pem/.crt/.cer/.der)")
    return roots


def _validation_context(roots: Sequence[x509.Certificate]) -> Any:
    """Offline context: given anchors only, no fetching, revocation soft-fail (unchecked)."""
    from asn1crypto import x509 as asn1_x509
    from pyhanko_certvalidator import ValidationContext

    der = serialization.Encoding.DER
    anchors = [asn1_x509.Certificate.load(c.public_bytes(der)) for c in roots]
    return ValidationContext(
        trust_roots=anchors,
        other_certs=anchors,
        allow_fetching=False,
        revocation_mode="soft-fail",
    )


def _name_of(owner: Any, attribute: str) -> tuple[str | None, str | None]:
    """Common name and readable subject of `owner.<attribute>` (a certificate), if any."""
    try:
        subject = getattr(owner, attribute).subject
        return subject.native.get("common_name"), subject.human_friendly
    except Exception:
        return None, None


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


async def _check_signature(embedded: Any, context: Any) -> SignatureCheck:
    from pyhanko.sign.diff_analysis import ModificationLevel
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    field_name = str(embedded.field_name)
    try:
        status = await async_validate_pdf_signature(
            embedded,
            signer_validation_context=context,
            key_usage_settings=KeyUsageConstraints(
                key_usage={"digital_signature", "non_repudiation"},
                match_all_key_usages=False,
            ),
        )
    except Exception as exc:
        cn, subject = _name_of(embedded, "signer_cert")
        return SignatureCheck(
            field_name=field_name,
            signer_name=cn,
            signer_subject=subject,
            signing_time=None,
            timestamp_time=None,
            intact=False,
            valid=False,
            trusted=False,
            trust_problem=None,
            coverage="UNCLEAR",
            modification_level=None,
            modified_after_signing=False,
            docmdp_ok=None,
            level=None,
            pyhanko_bottom_line=False,
            error=f"signature cannot be validated: {type(exc).__name__}: {exc}",
        )
    cn, subject = _name_of(status, "signing_cert")
    coverage = status.coverage or SignatureCoverageLevel.UNCLEAR
    level = status.modification_level
    modified = coverage != SignatureCoverageLevel.ENTIRE_FILE and level not in (
        ModificationLevel.NONE,
        ModificationLevel.LTA_UPDATES,
    )
    ts = status.timestamp_validity
    ts_ok = ts is not None and ts.intact and ts.valid and ts.trusted
    ts_time = _utc(ts.timestamp) if ts is not None and ts_ok else None
    problem = status.trust_problem_indic
    return SignatureCheck(
        field_name=field_name,
        signer_name=cn,
        signer_subject=subject,
        signing_time=_utc(status.signer_reported_dt),
        timestamp_time=ts_time,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        trust_problem=None if problem is None else str(getattr(problem, "name", problem)),
        coverage=coverage.name,
        modification_level=None if level is None else level.name,
        modified_after_signing=modified,
        docmdp_ok=status.docmdp_ok,
        level=PadesLevel.B_T if ts is not None else PadesLevel.B_B,
        pyhanko_bottom_line=bool(status.bottom_line),
    )


async def async_verify_pdf(
    path: str | os.PathLike[str], ca_dir: str | os.PathLike[str] | None = None
) -> VerifyResult:
    """Check every signature of a PDF offline against the CAs in `ca_dir`.

    Without `ca_dir` nothing is trusted (the system store does not hold IGC-Santé), so
    the verdict is "not trusted" rather than a silent pass.
    """
    source = Path(path)
    data = read_pdf(source)
    reader = open_reader(data, source)
    roots = load_trust_roots(ca_dir) if ca_dir is not None else []
    context = _validation_context(roots)
    try:
        embedded = list(reader.embedded_signatures)
    except Exception as exc:
        raise PdfInputError(f"{source}: cannot read its signature fields: {exc}") from exc
    checks = [await _check_signature(sig, context) for sig in embedded]
    return VerifyResult(
        path=source,
        sha256=sha256_bytes(data),
        signatures=tuple(checks),
        trust_source=str(ca_dir) if ca_dir is not None else "none (no CA folder given)",
    )


def verify_pdf(
    path: str | os.PathLike[str], ca_dir: str | os.PathLike[str] | None = None
) -> VerifyResult:
    """Synchronous `async_verify_pdf`; safe to call from a notebook cell (runs on a thread)."""
    return run_sync(lambda: async_verify_pdf(path, ca_dir))
