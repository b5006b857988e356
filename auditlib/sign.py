"""Sign audit report PDFs as PAdES with an organisation seal, and verify them offline.

Layered like pyHanko itself: `async_sign_pdf` / `async_verify_pdf` do the work (they
are what notebooks must call, because pyHanko's synchronous helpers call
`asyncio.run()`, which fails inside Jupyter's running loop); `sign_pdf` / `verify_pdf`
are synchronous wrappers that run the coroutine on a private thread when the caller
already has a running event loop.

Secrets: a passphrase comes from an environment variable (its NAME is what the
settings hold) or from an interactive prompt; it is never a parameter value, never
stored in a result, and never written anywhere.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import getpass
import io
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from auditlib.errors import KeyMaterialError, PassphraseError, PdfInputError, SignError
from auditlib.files import sha256_bytes, write_atomic

T = TypeVar("T")

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
    """Bytes were appended after this signature (other than signatures/LTA data)."""
    docmdp_ok: bool | None
    level: PadesLevel | None
    pyhanko_bottom_line: bool
    error: str | None = None

    @property
    def bottom_line(self) -> bool:
        return (
            self.error is None
            and self.pyhanko_bottom_line
            and self.intact
            and self.valid
            and self.trusted
            and self.coverage in ("ENTIRE_FILE", "ENTIRE_REVISION")
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
        """True when the last signature does not cover everything after it."""
        return self.signed and self.signatures[-1].modified_after_signing

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
        if self.modified_after_signing:
            last = self.signatures[-1]
            found.append(
                f"modified after signing: unsigned incremental update(s) after "
                f"{last.field_name!r} (modification level {last.modification_level})"
            )
        return tuple(found)

    @property
    def bottom_line(self) -> bool:
        return self.signed and not self.problems


# ---------------------------------------------------------------- event-loop bridge


def _run_sync(make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, even when this thread already runs an event loop.

    In Jupyter the cell runs inside a loop, so `asyncio.run` would raise; the coroutine
    then runs on a private thread with its own loop and this call blocks until it ends.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


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


def _load_certs(path: Path) -> list[x509.Certificate]:
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
        certs = _load_certs(spec.cert_path)
        cert, extra = certs[0], certs[1:]
        origin = spec.cert_path
    else:
        raise KeyMaterialError("no signing key: give a PKCS#12 file, or a PEM key and certificate")
    for chain_path in spec.chain_paths:
        extra += _load_certs(chain_path)

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


# ------------------------------------------------------------------------- PDF input


def _read_pdf(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PdfInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not data.lstrip()[:5] == b"%PDF-":
        raise PdfInputError(f"{path} is not a PDF (no %PDF- header)")
    return data


def _open_reader(data: bytes, path: Path) -> Any:
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        encrypted = reader.encrypted
    except Exception as exc:
        raise PdfInputError(f"{path} is a broken PDF: {type(exc).__name__}: {exc}") from exc
    if encrypted:
        raise PdfInputError(f"{path} is encrypted; decrypt it before signing or verifying")
    return reader


# ------------------------------------------------------------------ stamp placement


def _text_rects(data: bytes) -> tuple[tuple[float, float, float, float], list[tuple[float, ...]]]:
    """Media box of the last page and rough boxes around its text runs (pypdf, heuristic)."""
    from pypdf import PdfReader

    page = PdfReader(io.BytesIO(data)).pages[-1]
    box = page.mediabox
    media = (float(box.left), float(box.bottom), float(box.right), float(box.top))
    rects: list[tuple[float, ...]] = []

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], _f: Any, size: float) -> None:
        if not text.strip():
            return
        x = cm[0] * tm[4] + cm[2] * tm[5] + cm[4]
        y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]
        height = abs(size * tm[3] * cm[3]) or abs(size) or 10.0
        width = len(text.rstrip()) * 0.6 * height
        rects.append((x, y - 0.3 * height, x + width, y + height))

    page.extract_text(visitor_text=visit)
    for annot in page.get("/Annots") or []:  # earlier stamps and other widgets
        rect = annot.get_object().get("/Rect")
        if rect and len(rect) == 4:
            x1, y1, x2, y2 = (float(v) for v in rect)
            rects.append((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    return media, rects


def _choose_stamp_box(data: bytes) -> tuple[tuple[int, int, int, int], str, bool]:
    """Pick the first place (bottom-right first) whose area holds no text, else the place
    covering the least text (reports have a running header and footer in every corner)."""
    try:
        (left, bottom, right, top), rects = _text_rects(data)
    except Exception:  # pypdf missing or unable to parse: keep the default corner
        return (
            (595 - STAMP_INSET - STAMP_WIDTH, STAMP_INSET, 595 - STAMP_INSET, STAMP_INSET + 50),
            "bottom-right",
            False,
        )
    w, h, i = STAMP_WIDTH, STAMP_HEIGHT, STAMP_INSET
    candidates = {
        "bottom-right": (right - i - w, bottom + i),
        "bottom-center": ((left + right - w) / 2, bottom + i),
        "bottom-left": (left + i, bottom + i),
        "top-right": (right - i - w, top - i - h),
        "top-left": (left + i, top - i - h),
    }

    def overlap(x: float, y: float) -> float:
        """Area of text the stamp would cover at (x, y)."""
        return sum(
            max(0.0, min(x + w, r[2]) - max(x, r[0])) * max(0.0, min(y + h, r[3]) - max(y, r[1]))
            for r in rects
        )

    covered = {corner: overlap(x, y) for corner, (x, y) in candidates.items()}
    for corner, (x, y) in candidates.items():
        if covered[corner] == 0:
            return (int(x), int(y), int(x + w), int(y + h)), corner, False
    # Every place has text (running header and footer): cover as little as possible.
    corner = min(covered, key=lambda c: covered[c])
    x, y = candidates[corner]
    return (int(x), int(y), int(x + w), int(y + h)), corner, True


def _free_field_name(reader: Any) -> str:
    from pyhanko.sign.fields import enumerate_sig_fields

    taken = {name for name, _value, _ref in enumerate_sig_fields(reader)}
    if FIELD_PREFIX not in taken:
        return FIELD_PREFIX
    n = 2
    while f"{FIELD_PREFIX}{n}" in taken:
        n += 1
    return f"{FIELD_PREFIX}{n}"


# ------------------------------------------------------------------------- signing


async def async_sign_pdf(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    settings: SigningSettings,
    *,
    signer: LoadedSigner | None = None,
) -> SignResult:
    """Sign `input_path` as PAdES (incremental update) and write `output_path` atomically."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import SigSeedSubFilter
    from pyhanko.sign.timestamps.common_utils import TimestampRequestError
    from pyhanko.stamp import TextStampStyle

    source, target = Path(input_path), Path(output_path)
    data = _read_pdf(source)
    reader_check = _open_reader(data, source)
    try:
        page_count = int(reader_check.root["/Pages"]["/Count"])
    except Exception as exc:
        raise PdfInputError(f"{source} has no readable page tree: {exc}") from exc
    if page_count < 1:
        raise PdfInputError(f"{source} has no page to carry the signature stamp")
    loaded = signer or load_signer(settings.signer)
    input_hash = sha256_bytes(data)
    name = settings.signer_name or loaded.common_name

    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    except Exception as exc:
        raise PdfInputError(f"{source} is a broken PDF: {type(exc).__name__}: {exc}") from exc
    field_name = _free_field_name(writer.prev)
    placement: StampPlacement | None = None
    if settings.visible:
        box, corner, overlaps = _choose_stamp_box(data)
        placement = StampPlacement(page_count - 1, box, corner, overlaps)
        field_spec = fields.SigFieldSpec(field_name, on_page=-1, box=box)
    else:
        field_spec = fields.SigFieldSpec(field_name)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        subfilter=SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=settings.reason,
        location=settings.location,
        name=name,
    )
    timestamper = None
    if settings.timestamp_url:
        from pyhanko.sign.timestamps import HTTPTimeStamper

        timestamper = HTTPTimeStamper(  # type: ignore[no-untyped-call]
            settings.timestamp_url, timeout=settings.timestamp_timeout
        )
    style = TextStampStyle(stamp_text=STAMP_TEXT, border_width=1)
    pdf_signer = signers.PdfSigner(
        meta,
        loaded.pyhanko_signer,
        timestamper=timestamper,
        stamp_style=style,
        new_field_spec=field_spec,
    )
    try:
        out = await pdf_signer.async_sign_pdf(
            writer,
            appearance_text_params={"hash1": input_hash[:32], "hash2": input_hash[32:]},
        )
    except TimestampRequestError as exc:
        cause = exc.__cause__ or exc
        raise SignError(f"timestamp server {settings.timestamp_url} failed: {cause}") from exc
    except Exception as exc:
        raise SignError(f"signing {source} failed: {type(exc).__name__}: {exc}") from exc
    signed = out.getvalue()
    write_atomic(target, signed)
    return SignResult(
        input_path=source,
        output_path=target,
        input_sha256=input_hash,
        output_sha256=sha256_bytes(signed),
        field_name=field_name,
        signer_name=name,
        signer_subject=loaded.subject,
        signing_time=_signing_time(signed),
        level=PadesLevel.B_T if timestamper else PadesLevel.B_B,
        stamp=placement,
    )


def _signing_time(signed: bytes) -> dt.datetime:
    """The /M time pyHanko wrote in the new signature (UTC)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    sig = PdfFileReader(io.BytesIO(signed), strict=False).embedded_signatures[-1]
    moment: dt.datetime | None = sig.self_reported_timestamp
    if moment is None:  # pragma: no cover - pyHanko always writes /M
        return dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC) if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def sign_pdf(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    settings: SigningSettings,
    *,
    signer: LoadedSigner | None = None,
) -> SignResult:
    """Synchronous `async_sign_pdf`; safe to call from a notebook cell (runs on a thread)."""
    return _run_sync(lambda: async_sign_pdf(input_path, output_path, settings, signer=signer))


# ----------------------------------------------------------------------- verifying


def load_trust_roots(ca_dir: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Every certificate in the PEM/DER files of a folder (the trust anchors)."""
    folder = Path(ca_dir)
    if not folder.is_dir():
        raise KeyMaterialError(f"CA folder {folder} does not exist or is not a folder")
    roots: list[x509.Certificate] = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in {".pem", ".crt", ".cer", ".der"}:
            roots += _load_certs(path)
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
    data = _read_pdf(source)
    reader = _open_reader(data, source)
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
    return _run_sync(lambda: async_verify_pdf(path, ca_dir))
