"""Every change after the last signature that is not a later signature is reported.

Attacks (issue 15): an incremental update that changes /Info, one that adds XMP
metadata (pyHanko files both under LTA_UPDATES), objects appended after %%EOF and
trailing bytes (pyHanko: NONE). Each one was "OK, modified after signing: no"; `pdfsig`
says "Not total document signed" for all of them, and so must we.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from auditlib.cli import main as cli_main
from auditlib.sign import SealPolicy, SignerSpec, SigningSettings, sign_pdf, verify_pdf
from auditlib.testing.pki import TestPki

PASS_ENV = "AUDITLIB_TEST_AFTER_SIGNING_PASS"
PDFSIG = shutil.which("pdfsig")


@dataclass(frozen=True)
class Signed:
    ca_dir: Path
    p12: Path
    signed: Path
    twice: Path
    folder: Path


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    import weasyprint

    folder = tmp_path_factory.mktemp("after-signing")
    mp = pytest.MonkeyPatch()
    mp.setenv(PASS_ENV, "x")
    pki = TestPki.create()
    seal = pki.issue("CABINET AUDIT ORG SIGN", "sign", organisation="CABINET AUDIT")
    p12 = folder / "seal.p12"
    p12.write_bytes(seal.pkcs12(b"x", [pki.issuing.certificate]))
    report = folder / "report.pdf"
    report.write_bytes(weasyprint.HTML(string="<h1>Rapport</h1><p>Conforme.</p>").write_pdf())
    settings = SigningSettings(SignerSpec(p12_path=p12, pass_env=PASS_ENV))
    once = folder / "signed.pdf"
    sign_pdf(report, once, settings)
    twice = folder / "twice.pdf"
    sign_pdf(once, twice, settings)
    yield Signed(pki.write_ca_dir(folder / "ca"), p12, once, twice, folder)
    mp.undo()


def incremental(data: bytes, change: Callable[[Any], None]) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def change_info(writer: Any) -> None:
    from pyhanko.pdf_utils import generic

    info_ref = writer.trailer.raw_get("/Info")
    info = info_ref.get_object()
    info[generic.NameObject("/Title")] = generic.TextStringObject("Rapport falsifié")
    info[generic.NameObject("/Author")] = generic.TextStringObject("Cabinet d'audit officiel")
    writer.mark_update(info_ref)


def add_xmp(writer: Any) -> None:
    from pyhanko.pdf_utils import generic

    xmp = generic.StreamObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Metadata"),
            generic.NameObject("/Subtype"): generic.NameObject("/XML"),
        },
        stream_data=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:title>Conforme</dc:title>'
        b"</x:xmpmeta>",
    )
    writer.root[generic.NameObject("/Metadata")] = writer.add_object(xmp)
    writer.update_root()


ATTACKS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "info": (lambda d: incremental(d, change_info), "/Info"),
    "xmp": (lambda d: incremental(d, add_xmp), "XMP metadata"),
    "object after %%EOF": (
        lambda d: d + b"99 0 obj\n<< /Title (Rapport falsifie) >>\nendobj\n",
        "1 object definition",
    ),
    "trailing bytes": (lambda d: d + b"\n% trailing note\n", "after the signed range"),
    "one byte": (lambda d: d + b" ", "1 byte(s) after the signed range"),
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_change_after_signing_is_reported(signed: Signed, tmp_path: Path, attack: str) -> None:
    make, described = ATTACKS[attack]
    hostile = tmp_path / "hostile.pdf"
    hostile.write_bytes(make(signed.signed.read_bytes()))
    for policy in (None, SealPolicy.load()):  # integrity is judged with or without a policy
        result = verify_pdf(hostile, signed.ca_dir, policy=policy)
        assert result.intact and result.trusted  # the signed revision itself is untouched
        assert result.modified_after_signing and not result.bottom_line
        (sig,) = result.signatures
        assert sig.modified_after_signing and not sig.bottom_line
        assert any(
            p.startswith("modified after signing 'AuditSeal'") and described in p
            for p in result.problems
        ), result.problems
    assert cli_main(["verify", str(hostile), "--ca-dir", str(signed.ca_dir)]) == 1
    if PDFSIG:
        out = subprocess.run([PDFSIG, str(hostile)], capture_output=True, text=True).stdout
        assert "Not total document signed" in out


def test_cli_prints_modified_after_signing(
    signed: Signed, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = tmp_path / "info.pdf"
    hostile.write_bytes(incremental(signed.signed.read_bytes(), change_info))
    capsys.readouterr()
    assert cli_main(["verify", str(hostile), "--ca-dir", str(signed.ca_dir)]) == 1
    out = capsys.readouterr().out
    assert "FAILED (intact: yes, trusted: yes, modified after signing: YES)" in out
    assert "unsigned incremental update (revision 3): changes the document information" in out


def test_untouched_file_is_total_document_signed(signed: Signed) -> None:
    result = verify_pdf(signed.signed, signed.ca_dir, policy=SealPolicy.load())
    assert result.bottom_line and not result.modified_after_signing, result.problems
    (sig,) = result.signatures
    assert sig.covered_end == result.file_size and sig.changes_after == ()
    if PDFSIG:
        out = subprocess.run([PDFSIG, str(signed.signed)], capture_output=True, text=True).stdout
        assert "Total document signed" in out and "Not total" not in out


def test_later_signature_is_listed_not_a_change(signed: Signed) -> None:
    result = verify_pdf(signed.twice, signed.ca_dir, policy=SealPolicy.load())
    assert result.bottom_line, result.problems
    assert [s.field_name for s in result.signatures] == ["AuditSeal", "AuditSeal2"]
    assert not any(s.modified_after_signing for s in result.signatures)
    assert result.signatures[0].coverage == "ENTIRE_REVISION"  # judged on its own
    assert result.signatures[1].covered_end == result.file_size


def test_change_after_the_second_signature_concerns_both(signed: Signed, tmp_path: Path) -> None:
    hostile = tmp_path / "twice-info.pdf"
    hostile.write_bytes(incremental(signed.twice.read_bytes(), change_info))
    result = verify_pdf(hostile, signed.ca_dir)
    assert all(s.modified_after_signing for s in result.signatures)
    assert not result.bottom_line
    changes = [p for p in result.problems if p.startswith("modified after signing")]
    assert len(changes) == 1  # one change, reported once


def test_unsigned_update_between_two_signatures(signed: Signed, tmp_path: Path) -> None:
    """/Info rewritten after the first seal, then a second signature over it."""
    middle = tmp_path / "middle.pdf"
    middle.write_bytes(incremental(signed.signed.read_bytes(), change_info))
    resigned = tmp_path / "resigned.pdf"
    sign_pdf(middle, resigned, SigningSettings(SignerSpec(p12_path=signed.p12, pass_env=PASS_ENV)))
    result = verify_pdf(resigned, signed.ca_dir, policy=SealPolicy.load())
    first, second = result.signatures
    assert first.modified_after_signing and "/Info" in first.changes_after[0]
    assert not second.modified_after_signing and second.bottom_line
    assert not result.bottom_line
