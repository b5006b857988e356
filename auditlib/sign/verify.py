"""Verify PAdES signatures offline against the trust anchors of a CA folder."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from auditlib.errors import KeyMaterialError, PdfInputError
from auditlib.files import sha256_bytes
from auditlib.sign.keys import load_certs
from auditlib.sign.model import PadesLevel, SignatureCheck, VerifyResult
from auditlib.sign.pdf import open_reader, read_pdf, run_sync
from auditlib.sign.policy import SealPolicy

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


def _seal_problems(owner: Any, attribute: str, policy: SealPolicy | None) -> tuple[str, ...]:
    """The seal policy's objections to the signer's certificate (none without a policy)."""
    if policy is None:
        return ()
    try:
        cert = x509.load_der_x509_certificate(getattr(owner, attribute).dump())
    except Exception as exc:
        return (f"the signer's certificate cannot be read ({type(exc).__name__})",)
    return policy.check(cert)


def _signed_span(embedded: Any) -> tuple[int | None, int | None]:
    """(revision the signature covers, end of its byte range), None when unreadable."""
    try:
        revision = int(embedded.signed_revision)
    except Exception:
        revision = None
    try:
        byte_range = [int(v) for v in embedded.byte_range]
        end = byte_range[-2] + byte_range[-1]
    except Exception:
        end = None
    return revision, end


async def _check_signature(
    embedded: Any, context: Any, policy: SealPolicy | None = None
) -> SignatureCheck:
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko.sign.validation.settings import KeyUsageConstraints
    from pyhanko.sign.validation.status import SignatureCoverageLevel

    field_name = str(embedded.field_name)
    revision, covered_end = _signed_span(embedded)
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
            signed_revision=revision,
            covered_end=covered_end,
            seal_problems=_seal_problems(embedded, "signer_cert", policy),
        )
    cn, subject = _name_of(status, "signing_cert")
    coverage = status.coverage or SignatureCoverageLevel.UNCLEAR
    level = status.modification_level
    # "Modified after signing" is not pyHanko's modification level: pyHanko files /Info
    # and XMP updates under LTA_UPDATES and trailing data under NONE (they look
    # unmodified), and counts a later signature as FORM_FILLING. `async_verify_pdf` sets
    # it from the bytes and revisions that follow (`changes_after_signing`).
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
        modified_after_signing=False,
        docmdp_ok=status.docmdp_ok,
        level=PadesLevel.B_T if ts is not None else PadesLevel.B_B,
        pyhanko_bottom_line=bool(status.bottom_line),
        signed_revision=revision,
        covered_end=covered_end,
        seal_problems=_seal_problems(status, "signing_cert", policy),
    )


def _describe_revision(reader: Any, revision: int) -> str:
    """What an unsigned incremental update changes, in a few words."""
    try:
        refs = reader.xrefs.explicit_refs_in_revision(revision)
        history = reader.get_historical_resolver(revision)
        trailer = history.trailer_view
        what: list[str] = []
        seen: set[Any] = set()
        if "/Info" in trailer and trailer.raw_get("/Info").reference in refs:
            what.append("changes the document information (/Info)")
            seen.add(trailer.raw_get("/Info").reference)
        root_ref = trailer.raw_get("/Root").reference
        root = history.root
        for key, label in (("/Metadata", "XMP metadata (/Metadata)"), ("/DSS", "/DSS")):
            if key in root:
                value = root.raw_get(key)
                ref = getattr(value, "reference", None)
                if ref in refs:
                    what.append(f"writes {label}")
                    seen.add(ref)
        if root_ref in refs:
            what.append("changes the document catalog")
            seen.add(root_ref)
        xref_stream = reader.xrefs.get_xref_container_info(revision).stream_ref
        others = len([r for r in refs if r not in seen and r != xref_stream])
        if others > 0:
            what.append(f"writes {others} other object(s)")
        return ", ".join(what) or "an empty update"
    except Exception as exc:  # a damaged update: still reported, just not described
        return f"unreadable update ({type(exc).__name__})"


def _describe_tail(tail: bytes) -> str:
    """What follows the last signed byte when it is not a readable revision."""
    objects = len(re.findall(rb"\d+\s+\d+\s+obj\b", tail))
    parts = [f"{len(tail)} byte(s) after the signed range"]
    if b"%%EOF" not in tail:
        parts.append("after %%EOF, outside any incremental update")
    if objects:
        parts.append(f"holding {objects} object definition(s)")
    return ", ".join(parts)


def changes_after_signing(
    data: bytes, reader: Any, checks: Sequence[SignatureCheck]
) -> dict[int, tuple[str, ...]]:
    """For each signature (by position), the changes made after it that are not a later
    signature: unsigned incremental updates, and any byte after the last signed range.

    The rule is `pdfsig`'s "total document signed": the last signature's byte range must
    end where the file ends; a later signature is not a change (it is judged on its own).
    """
    if not checks:
        return {}
    try:
        total = int(reader.xrefs.total_revisions)
    except Exception:
        total = 0
    signature_revisions = {c.signed_revision for c in checks if c.signed_revision is not None}
    unsigned = [
        r
        for r in range(total)
        if r not in signature_revisions
        and any(c.signed_revision is not None and r > c.signed_revision for c in checks)
    ]
    described = {r: f"unsigned incremental update (revision {r + 1}): "
                 f"{_describe_revision(reader, r)}" for r in unsigned}  # fmt: skip
    # the signature whose byte range reaches furthest (pyHanko lists them in file order)
    last = max(checks, key=lambda c: -1 if c.covered_end is None else c.covered_end)
    if any(c.covered_end is None for c in checks):
        last = checks[-1]
    tail_note: str | None = None
    if last.covered_end is None:
        tail_note = "the last signature's byte range cannot be read"
    elif last.covered_end != len(data):
        after_last = [
            r for r in unsigned if last.signed_revision is None or r > last.signed_revision
        ]
        if not after_last:
            tail_note = _describe_tail(data[last.covered_end :])
        else:
            end_of_updates = data.rfind(b"%%EOF")
            leftover = data[end_of_updates + 5 :].strip() if end_of_updates >= 0 else b""
            if leftover:
                tail_note = f"{len(leftover)} byte(s) after the last %%EOF"
    result: dict[int, tuple[str, ...]] = {}
    for i, check in enumerate(checks):
        notes = [
            described[r]
            for r in unsigned
            if check.signed_revision is None or r > check.signed_revision
        ]
        if tail_note:
            notes.append(tail_note)
        result[i] = tuple(notes)
    return result


async def async_verify_pdf(
    path: str | os.PathLike[str],
    ca_dir: str | os.PathLike[str] | None = None,
    *,
    policy: SealPolicy | None = None,
) -> VerifyResult:
    """Check every signature of a PDF offline against the CAs in `ca_dir`.

    Without `ca_dir` nothing is trusted (the system store does not hold IGC-Santé), so
    the verdict is "not trusted" rather than a silent pass. With a `policy`, every
    signer must also be fit for sealing (`SealPolicy.check`); without one, only
    integrity and trust are judged (third-party documents). Any change after the last
    signature that is not itself a signature is reported (`modified_after_signing`).
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
    checks = [await _check_signature(sig, context, policy) for sig in embedded]
    changes = changes_after_signing(data, reader, checks)
    checks = [
        replace(
            check,
            changes_after=changes[i],
            modified_after_signing=bool(changes[i]),
        )
        for i, check in enumerate(checks)
    ]
    return VerifyResult(
        path=source,
        sha256=sha256_bytes(data),
        signatures=tuple(checks),
        trust_source=str(ca_dir) if ca_dir is not None else "none (no CA folder given)",
        seal_policy=None if policy is None else policy.name,
        file_size=len(data),
    )


def verify_pdf(
    path: str | os.PathLike[str],
    ca_dir: str | os.PathLike[str] | None = None,
    *,
    policy: SealPolicy | None = None,
) -> VerifyResult:
    """Synchronous `async_verify_pdf`; safe to call from a notebook cell (runs on a thread)."""
    return run_sync(lambda: async_verify_pdf(path, ca_dir, policy=policy))
