"""Sign an audit report PDF as PAdES (incremental update, visible stamp, optional timestamp).

`async_sign_pdf` is what notebooks call; `sign_pdf` runs it from synchronous code.
"""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path

from auditlib.errors import PdfInputError, SignError
from auditlib.files import sha256_bytes, write_atomic
from auditlib.sign.keys import LoadedSigner, load_signer
from auditlib.sign.model import STAMP_TEXT, PadesLevel, SigningSettings, SignResult, StampPlacement
from auditlib.sign.pdf import open_reader, read_pdf, run_sync
from auditlib.sign.stamp import choose_stamp_box, free_field_name

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
    data = read_pdf(source)
    reader_check = open_reader(data, source)
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
    field_name = free_field_name(writer.prev)
    placement: StampPlacement | None = None
    if settings.visible:
        box, corner, overlaps = choose_stamp_box(data)
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
    return run_sync(lambda: async_sign_pdf(input_path, output_path, settings, signer=signer))
