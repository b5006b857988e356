"""Signing and verifying report PDFs (auditlib.sign) with a test ORG SIGN seal.

Independent checks: poppler's `pdfsig` and pyHanko's own CLI (`pyhanko sign validate`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import io
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from auditlib.cli import main as cli_main
from auditlib.errors import KeyMaterialError, PassphraseError, PdfInputError, SignError
from auditlib.files import sha256_file
from auditlib.sign import (
    PadesLevel,
    SignerSpec,
    SigningSettings,
    async_sign_pdf,
    async_verify_pdf,
    load_signer,
    sign_pdf,
    verify_pdf,
)
from auditlib.testing.pki import TestPki

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from render_last_page import render_last_page

PASSPHRASE = "Sceau-EDC-PSC 2026 élémentaire"
PASS_ENV = "AUDITLIB_TEST_SEAL_PASS"
PDFSIG = shutil.which("pdfsig")
PYHANKO_CLI = Path(sys.executable).with_name("pyhanko")

REPORT_HTML = """
<style>
  @page { size: A4; margin: 2cm; @bottom-center { content: "Page " counter(page) } }
  body { font-family: sans-serif; }
</style>
<h1>Rapport d'audit EDC PSC</h1>
<p>Fournisseur : DEMO SANTÉ. Conformité TLS, certificats et journalisation.</p>
""" + "".join(f"<p>Constat {i} : exigence vérifiée, conforme.</p>" for i in range(60))


@dataclass(frozen=True)
class Material:
    pki: TestPki
    root: Path
    folder: Path
    ca_dir: Path
    p12: Path
    key_pem: Path
    cert_pem: Path
    chain_pem: Path
    report: Path
    signed: Path

    def settings(self, **kw: object) -> SigningSettings:
        return SigningSettings(SignerSpec(p12_path=self.p12, pass_env=PASS_ENV), **kw)  # type: ignore[arg-type]


def make_pdf(path: Path, html: str = REPORT_HTML) -> Path:
    import weasyprint

    path.write_bytes(weasyprint.HTML(string=html).write_pdf())
    return path


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Material]:
    folder = tmp_path_factory.mktemp("sign")
    pki = TestPki.create()
    org = pki.issue("EDC PSC AUDIT ORG SIGN", "sign", organisation="CABINET AUDIT DEMO")
    p12 = folder / "seal.p12"
    p12.write_bytes(org.pkcs12(PASSPHRASE.encode(), [pki.issuing.certificate]))
    cert_pem, key_pem = org.write(folder, "seal", passphrase=PASSPHRASE.encode())
    chain_pem = folder / "chain.pem"
    chain_pem.write_bytes(pki.issuing.cert_pem())
    root = folder / "root.pem"
    root.write_bytes(pki.root.cert_pem())
    ca_dir = pki.write_ca_dir(folder / "ca")
    report = make_pdf(folder / "report.pdf")
    mp = pytest.MonkeyPatch()
    mp.setenv(PASS_ENV, PASSPHRASE)
    signed = folder / "report.signed.pdf"
    sign_pdf(report, signed, SigningSettings(SignerSpec(p12_path=p12, pass_env=PASS_ENV)))
    yield Material(pki, root, folder, ca_dir, p12, key_pem, cert_pem, chain_pem, report, signed)
    mp.undo()


@pytest.fixture
def env(material: Material, monkeypatch: pytest.MonkeyPatch) -> Material:
    monkeypatch.setenv(PASS_ENV, PASSPHRASE)
    return material


# ----------------------------------------------------------------- seal and signing


def test_seal_certificate_is_like_igc_sante_org_sign(material: Material) -> None:
    cert = x509.load_pem_x509_certificate(material.cert_pem.read_bytes())
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == dt.timedelta(days=3 * 365)
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment


def test_signed_report_verifies_with_ours(env: Material) -> None:
    result = verify_pdf(env.signed, env.ca_dir)
    assert result.bottom_line, result.problems
    assert result.intact and result.trusted and not result.modified_after_signing
    (sig,) = result.signatures
    assert sig.signer_name == "EDC PSC AUDIT ORG SIGN"
    assert sig.coverage == "ENTIRE_FILE" and sig.modification_level == "NONE"
    assert sig.level == PadesLevel.B_B
    assert sig.signing_time is not None and sig.signing_time.tzinfo is not None
    assert result.revocation_checked is False
    assert any("revocation not checked" in n for n in result.notes)


def test_signing_is_an_incremental_pades_update(env: Material, tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    result = sign_pdf(env.report, out, env.settings(location="Paris"))
    original = env.report.read_bytes()
    signed = out.read_bytes()
    assert signed.startswith(original)  # the unsigned report is untouched inside
    assert b"/ETSI.CAdES.detached" in signed
    assert result.input_sha256 == sha256_file(env.report)
    assert result.output_sha256 == sha256_file(out)
    assert result.field_name == "AuditSeal"
    assert result.signing_time.tzinfo is not None
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_passphrase_never_lands_in_outputs(
    env: Material, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    key = ["--p12", str(env.p12), "--pass-env", PASS_ENV]
    code = cli_main(["sign", str(env.report), *key, "--output-dir", str(out), "--json"])
    assert code == 0
    printed = capsys.readouterr()
    assert PASSPHRASE not in printed.out + printed.err
    assert json.loads(printed.out)[0]["output"] == str(out / "report.pdf")
    secret = PASSPHRASE.encode()
    for path in [*out.iterdir(), env.signed]:
        data = path.read_bytes()
        assert secret not in data and PASSPHRASE.encode("utf-16-be") not in data
        assert PASSPHRASE.encode("latin-1", "replace") not in data


def test_pem_key_and_certificate_with_chain(env: Material, tmp_path: Path) -> None:
    spec = SignerSpec(
        key_path=env.key_pem,
        cert_path=env.cert_pem,
        chain_paths=(env.chain_pem,),
        pass_env=PASS_ENV,
    )
    out = tmp_path / "pem.pdf"
    sign_pdf(env.report, out, SigningSettings(spec, signer_name="Cabinet Audit Démo"))
    result = verify_pdf(out, env.ca_dir)
    assert result.bottom_line, result.problems


def test_second_signature_gets_its_own_field_and_corner(env: Material, tmp_path: Path) -> None:
    out = tmp_path / "twice.pdf"
    second = sign_pdf(env.signed, out, env.settings())
    assert second.field_name == "AuditSeal2"
    assert second.stamp is not None and second.stamp.corner != "bottom-right"
    result = verify_pdf(out, env.ca_dir)
    assert result.bottom_line, result.problems
    assert [s.field_name for s in result.signatures] == ["AuditSeal", "AuditSeal2"]


# ------------------------------------------------------------------- visible stamp


def test_stamp_is_on_the_last_page(env: Material) -> None:
    """pypdf: the signature widget hangs on the last page and draws signer and hash."""
    from pypdf import PdfReader

    reader = PdfReader(env.signed)
    digest = sha256_file(env.report)
    widgets = [a.get_object() for a in reader.pages[-1].get("/Annots") or []]
    (seal,) = [w for w in widgets if w.get("/FT") == "/Sig"]
    drawing = seal["/AP"]["/N"].get_object().get_data()
    assert b"EDC PSC AUDIT ORG SIGN" in drawing
    assert digest[:32].encode() in drawing and digest[32:].encode() in drawing
    assert all(not page.get("/Annots") for page in reader.pages[:-1])


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) missing")
def test_stamp_text_renders_on_the_last_page(env: Material) -> None:
    """poppler: the rendered text of the last page (annotations included) shows the stamp."""
    digest = sha256_file(env.report)

    def text(first: int, last: int) -> str:
        cmd = ["pdftotext", "-f", str(first), "-l", str(last), str(env.signed), "-"]
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

    from pypdf import PdfReader

    count = len(PdfReader(env.signed).pages)
    assert count >= 2
    last_page = text(count, count)
    assert "Cachet électronique : EDC PSC AUDIT ORG SIGN" in last_page
    assert "SHA-256 du rapport non signé" in last_page
    assert digest[:32] in last_page and digest[32:] in last_page
    assert "Date : " in last_page and " UTC" in last_page
    assert "Cachet" not in text(1, count - 1)


def test_stamp_sits_in_the_bottom_margin(env: Material) -> None:
    result = sign_pdf(env.report, env.folder / "again.pdf", env.settings())
    assert result.stamp is not None
    assert result.stamp.corner == "bottom-right" and not result.stamp.overlaps_text
    _x1, _y1, x2, y2 = result.stamp.box
    assert y2 <= 57  # 2 cm margin = 56.7 pt: under the text block
    assert x2 <= 595


def test_stamp_avoids_text_in_the_bottom_right_corner(env: Material, tmp_path: Path) -> None:
    html = (
        "<style>@page { size: A4; margin: 0 } body { margin: 0 }"
        ".corner { position: absolute; bottom: 4pt; right: 4pt; font-size: 20pt }</style>"
        "<p>Annexe</p><div class='corner'>Texte en bas à droite du rapport</div>"
    )
    pdf = make_pdf(tmp_path / "corner.pdf", html)
    result = sign_pdf(pdf, tmp_path / "corner.signed.pdf", env.settings())
    assert result.stamp is not None
    assert result.stamp.corner == "bottom-left" and not result.stamp.overlaps_text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) missing")
def test_last_page_renders(env: Material, tmp_path: Path) -> None:
    png = render_last_page(env.signed, tmp_path / "last")
    assert png.read_bytes().startswith(b"\x89PNG")


# ------------------------------------------------------------ independent verifiers


@pytest.mark.skipif(PDFSIG is None, reason="pdfsig (poppler-utils) missing")
def test_pdfsig_says_signature_is_valid(material: Material) -> None:
    out = subprocess.run([str(PDFSIG), str(material.signed)], capture_output=True, text=True)
    assert "Signature Validation: Signature is Valid." in out.stdout, out.stdout + out.stderr
    assert "Total document signed" in out.stdout
    assert "ETSI.CAdES.detached" in out.stdout  # PAdES


@pytest.mark.skipif(not PYHANKO_CLI.exists(), reason="pyhanko-cli missing")
def test_pyhanko_cli_says_valid(material: Material) -> None:
    out = subprocess.run(
        [
            *(str(PYHANKO_CLI), "sign", "validate", "--trust", str(material.root)),
            *("--trust-replace", "--no-revocation-check", "--executive-summary"),
            str(material.signed),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().startswith("AuditSeal:") and out.stdout.strip().endswith(":VALID")


# --------------------------------------------------------------- tampering and trust


def flip_byte_in_signed_content(signed: Path, target: Path) -> None:
    """Flip one byte inside the first page content stream (inside the signed range)."""
    data = bytearray(signed.read_bytes())
    start = data.index(b"stream\n") + len(b"stream\n") + 40
    data[start] ^= 0x01
    target.write_bytes(bytes(data))


def test_flipped_byte_is_detected(material: Material, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.pdf"
    flip_byte_in_signed_content(material.signed, tampered)
    result = verify_pdf(tampered, material.ca_dir)
    assert not result.bottom_line
    assert not result.intact
    assert any("altered" in p for p in result.problems)
    if PDFSIG:
        out = subprocess.run([PDFSIG, str(tampered)], capture_output=True, text=True)
        assert "Signature is Valid" not in out.stdout


def add_unsigned_update(signed: Path, target: Path) -> None:
    """Append an incremental update that draws text on the first page, after signing."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    buffer = io.BytesIO(signed.read_bytes())
    writer = IncrementalPdfFileWriter(buffer)
    stream = generic.StreamObject(stream_data=b"0 0 1 rg 10 10 50 50 re f")
    writer.add_stream_to_page(0, writer.add_object(stream))
    out = io.BytesIO()
    writer.write(out)
    target.write_bytes(out.getvalue())


def test_update_after_signing_is_reported(material: Material, tmp_path: Path) -> None:
    modified = tmp_path / "modified.pdf"
    add_unsigned_update(material.signed, modified)
    result = verify_pdf(modified, material.ca_dir)
    assert result.modified_after_signing
    assert result.intact  # the signed revision itself is untouched
    assert not result.bottom_line
    assert result.signatures[0].coverage == "ENTIRE_REVISION"
    assert any("modified after signing" in p for p in result.problems)


def test_signer_from_another_ca_is_not_trusted(env: Material, tmp_path: Path) -> None:
    other = TestPki.create(root_cn="AUTRE AC RACINE", issuing_cn="AUTRE AC ORGANISATIONS")
    rogue = other.issue("ORG SIGN USURPATEUR", "sign")
    p12 = tmp_path / "rogue.p12"
    p12.write_bytes(rogue.pkcs12(PASSPHRASE.encode(), [other.issuing.certificate]))
    out = tmp_path / "rogue.pdf"
    sign_pdf(env.report, out, SigningSettings(SignerSpec(p12_path=p12, pass_env=PASS_ENV)))
    result = verify_pdf(out, env.ca_dir)
    assert result.intact and not result.trusted and not result.bottom_line
    assert any("not trusted" in p for p in result.problems)


def test_without_ca_dir_nothing_is_trusted(material: Material) -> None:
    result = verify_pdf(material.signed)
    assert result.intact and not result.trusted and not result.bottom_line
    assert "no CA folder" in result.trust_source


def test_unsigned_pdf_is_a_failure_not_an_error(material: Material) -> None:
    result = verify_pdf(material.report, material.ca_dir)
    assert not result.signed and not result.bottom_line
    assert result.problems == ("no signature in the file",)


# ---------------------------------------------------------------------- bad inputs


def test_wrong_passphrase(
    material: Material, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, "not-the-passphrase")
    with pytest.raises(PassphraseError, match="wrong passphrase") as info:
        sign_pdf(material.report, tmp_path / "x.pdf", material.settings())
    assert "not-the-passphrase" not in str(info.value)
    assert not (tmp_path / "x.pdf").exists()


def test_wrong_passphrase_for_pem_key(
    material: Material, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASS_ENV, "nope")
    spec = SignerSpec(key_path=material.key_pem, cert_path=material.cert_pem, pass_env=PASS_ENV)
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        load_signer(spec)


def test_missing_environment_variable(material: Material, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUDITLIB_NO_SUCH_VAR", raising=False)
    spec = SignerSpec(p12_path=material.p12, pass_env="AUDITLIB_NO_SUCH_VAR")
    with pytest.raises(PassphraseError, match=r"AUDITLIB_NO_SUCH_VAR.*not set"):
        load_signer(spec)


def test_no_passphrase_source_without_terminal(
    material: Material, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # not a TTY: no prompt
    with pytest.raises(PassphraseError, match="--pass-env"):
        load_signer(SignerSpec(p12_path=material.p12))


def test_prompt_on_a_terminal(material: Material, monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", Tty())
    monkeypatch.setattr("getpass.getpass", lambda prompt: PASSPHRASE)
    assert load_signer(SignerSpec(p12_path=material.p12)).common_name == "EDC PSC AUDIT ORG SIGN"


def test_corrupt_pkcs12(env: Material, tmp_path: Path) -> None:
    bad = tmp_path / "bad.p12"
    data = bytearray(env.p12.read_bytes())
    bad.write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(KeyMaterialError, match="not a PKCS#12"):
        load_signer(SignerSpec(p12_path=bad, pass_env=PASS_ENV))
    (tmp_path / "text.p12").write_text("hello")
    with pytest.raises(KeyMaterialError, match="not a PKCS#12"):
        load_signer(SignerSpec(p12_path=tmp_path / "text.p12", pass_env=PASS_ENV))
    with pytest.raises(KeyMaterialError, match="cannot read"):
        load_signer(SignerSpec(p12_path=tmp_path / "missing.p12", pass_env=PASS_ENV))


def test_key_not_matching_certificate(env: Material) -> None:
    other_cert = env.folder / "other.crt.pem"
    other_cert.write_bytes(env.pki.issuing.cert_pem())
    spec = SignerSpec(key_path=env.key_pem, cert_path=other_cert, pass_env=PASS_ENV)
    with pytest.raises(KeyMaterialError, match="does not match"):
        load_signer(spec)


def test_expired_seal_certificate(env: Material, tmp_path: Path) -> None:
    old = env.pki.issue(
        "ORG SIGN EXPIRE", "sign", not_before=env.pki.now - dt.timedelta(days=1200), days=1095
    )
    p12 = tmp_path / "old.p12"
    p12.write_bytes(old.pkcs12(PASSPHRASE.encode()))
    with pytest.raises(KeyMaterialError, match="not valid now"):
        load_signer(SignerSpec(p12_path=p12, pass_env=PASS_ENV))


def test_not_a_pdf(env: Material, tmp_path: Path) -> None:
    fake = tmp_path / "report.pdf"
    fake.write_text("<html>pas un PDF</html>")
    with pytest.raises(PdfInputError, match="not a PDF"):
        sign_pdf(fake, tmp_path / "out.pdf", env.settings())
    with pytest.raises(PdfInputError, match="not a PDF"):
        verify_pdf(fake, env.ca_dir)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    with pytest.raises(PdfInputError):
        sign_pdf(broken, tmp_path / "out.pdf", env.settings())
    with pytest.raises(PdfInputError, match="cannot read"):
        verify_pdf(tmp_path / "missing.pdf")


def test_encrypted_pdf(env: Material, tmp_path: Path) -> None:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(env.report))
    writer.encrypt("user-pw", "owner-pw", algorithm="AES-256")
    locked = tmp_path / "locked.pdf"
    with locked.open("wb") as handle:
        writer.write(handle)
    with pytest.raises(PdfInputError, match="encrypted"):
        sign_pdf(locked, tmp_path / "out.pdf", env.settings())
    with pytest.raises(PdfInputError, match="encrypted"):
        verify_pdf(locked, env.ca_dir)


def test_bad_ca_dir(material: Material, tmp_path: Path) -> None:
    with pytest.raises(KeyMaterialError, match="does not exist"):
        verify_pdf(material.signed, tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeyMaterialError, match="no certificate"):
        verify_pdf(material.signed, tmp_path / "empty")


# ------------------------------------------------------------------- event loops


def test_async_api_under_asyncio_run(env: Material, tmp_path: Path) -> None:
    async def job() -> bool:
        await async_sign_pdf(env.report, tmp_path / "a.pdf", env.settings())
        return (await async_verify_pdf(tmp_path / "a.pdf", env.ca_dir)).bottom_line

    assert asyncio.run(job())


def test_sync_wrappers_inside_a_running_loop(env: Material, tmp_path: Path) -> None:
    """What a notebook cell does: call the sync API while a loop is running."""

    async def cell() -> bool:
        asyncio.get_running_loop()  # we are inside a loop, like Jupyter
        sign_pdf(env.report, tmp_path / "nb.pdf", env.settings())
        return verify_pdf(tmp_path / "nb.pdf", env.ca_dir).bottom_line

    assert asyncio.run(cell())


# --------------------------------------------------------------- RFC 3161 (B-T)


def make_tsa(pki: TestPki) -> tuple[object, object]:
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name.from_rfc4514_string("CN=TEST TSA IGC-SANTE,O=ASIP-SANTE,C=FR"))
        .issuer_name(pki.issuing.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.now - dt.timedelta(days=1))
        .not_valid_after(pki.now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(pki.issuing.key, hashes.SHA256())
    )
    der = serialization.Encoding.DER
    key_der = key.private_bytes(
        der, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return asn1_x509.Certificate.load(cert.public_bytes(der)), asn1_keys.PrivateKeyInfo.load(
        key_der
    )


@pytest.fixture(scope="module")
def tsa_url(material: Material) -> Iterator[str]:
    from asn1crypto import tsp
    from asn1crypto import x509 as asn1_x509
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    tsa_cert, tsa_key = make_tsa(material.pki)
    issuing = asn1_x509.Certificate.load(material.pki.issuing.cert_der())
    stamper = DummyTimeStamper(tsa_cert, tsa_key, certs_to_embed=[issuing])  # type: ignore[arg-type]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            reply = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    server.shutdown()
    server.server_close()
    thread.join()


def test_pades_b_t_with_a_local_timestamp_server(
    env: Material, tsa_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "bt.pdf"
    result = sign_pdf(env.report, out, env.settings(timestamp_url=tsa_url))
    assert result.level == PadesLevel.B_T
    check = verify_pdf(out, env.ca_dir)
    assert check.bottom_line, check.problems
    assert check.signatures[0].level == PadesLevel.B_T
    assert check.signatures[0].timestamp_time is not None


def test_unreachable_timestamp_server(env: Material, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = env.settings(timestamp_url=f"http://127.0.0.1:{port}/tsa", timestamp_timeout=2)
    with pytest.raises(SignError, match="timestamp server"):
        sign_pdf(env.report, tmp_path / "x.pdf", settings)
    assert not (tmp_path / "x.pdf").exists()


# ---------------------------------------------------------------------------- CLI


def test_cli_sign_and_verify(
    env: Material, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pdf = tmp_path / "rapport.pdf"
    shutil.copy(env.report, pdf)
    assert cli_main(["sign", str(pdf), "--p12", str(env.p12), "--pass-env", PASS_ENV]) == 0
    signed = tmp_path / "rapport.signed.pdf"
    assert signed.exists()
    capsys.readouterr()
    assert cli_main(["verify", str(signed), "--ca-dir", str(env.ca_dir)]) == 0
    out = capsys.readouterr().out
    assert "OK (intact: yes, trusted: yes, modified after signing: no)" in out
    assert "revocation not checked" in out


def test_cli_verify_exit_codes_and_json(
    env: Material, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    modified = tmp_path / "modified.pdf"
    add_unsigned_update(env.signed, modified)
    ca = ["--ca-dir", str(env.ca_dir)]
    capsys.readouterr()
    assert cli_main(["verify", str(env.signed), str(modified), *ca, "--json"]) == 1
    records = json.loads(capsys.readouterr().out)
    assert [r["bottom_line"] for r in records] == [True, False]
    assert records[1]["modified_after_signing"] is True and records[1]["intact"] is True
    assert records[0]["signatures"][0]["signer"] == "EDC PSC AUDIT ORG SIGN"
    assert cli_main(["verify", str(env.report), *ca]) == 1  # unsigned
    fake = tmp_path / "fake.pdf"
    fake.write_text("nope")
    assert cli_main(["verify", str(env.signed), str(fake), *ca]) == 2
    err = capsys.readouterr()
    assert "Traceback" not in err.out + err.err
    assert cli_main(["verify", str(env.signed), "--ca-dir", str(tmp_path / "no")]) == 2


def test_cli_sign_errors(env: Material, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["sign", str(env.report), "--key", str(env.key_pem)]) == 2
    assert "--key needs --cert" in capsys.readouterr().err
    assert (
        cli_main(["sign", str(env.report), "--p12", str(env.p12), "--pass-env", "AUDITLIB_UNSET"])
        == 2
    )
    assert "AUDITLIB_UNSET" in capsys.readouterr().err
    same = ["--output-dir", str(env.report.parent)]
    args = ["sign", str(env.report), "--p12", str(env.p12), "--pass-env", PASS_ENV, *same]
    assert cli_main(args) == 2
    assert "overwrite the unsigned input" in capsys.readouterr().err
    fake = tmp_path / "fake.pdf"
    fake.write_text("nope")
    args = ["sign", str(fake), str(env.report), "--p12", str(env.p12), "--pass-env", PASS_ENV]
    assert cli_main([*args, "--output-dir", str(tmp_path / "o")]) == 2
    assert (tmp_path / "o" / "report.pdf").exists()  # the good file is still signed
    err = capsys.readouterr().err
    assert "not a PDF" in err and "Traceback" not in err


def test_hostile_byte_range_and_truncation(material: Material, tmp_path: Path) -> None:
    """A forged /ByteRange is a failed verification; a cut-off file is a clear input error."""
    import re

    data = material.signed.read_bytes()
    found = re.search(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", data)
    assert found is not None
    a, b, c, d = (int(found[i]) for i in range(1, 5))
    forged = b"/ByteRange [%d %d %d %d]" % (a, b, c, d - 10)
    hostile = tmp_path / "byterange.pdf"
    hostile.write_bytes(
        data[: found.start()] + forged.ljust(found.end() - found.start()) + data[found.end() :]
    )
    result = verify_pdf(hostile, material.ca_dir)
    assert not result.bottom_line and result.problems
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(PdfInputError, match="broken PDF"):
        verify_pdf(cut, material.ca_dir)


@pytest.mark.notebook
def test_sign_and_verify_in_a_real_notebook_kernel(
    env: Material, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """papermill runs cells inside a running event loop: both the sync and async API work,
    and the passphrase (inherited through the environment) is nowhere in the notebook."""
    nbformat = pytest.importorskip("nbformat")
    papermill = pytest.importorskip("papermill")
    for var in ("MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    setup = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from pathlib import Path\n"
        "from auditlib.sign import *\n"
        f"report, ca, p12 = Path({str(env.report)!r}), Path({str(env.ca_dir)!r}), "
        f"Path({str(env.p12)!r})\n"
        f"settings = SigningSettings(SignerSpec(p12_path=p12, pass_env={PASS_ENV!r}))\n"
        f"out = Path({str(tmp_path)!r})"
    )
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell(
            "sign_pdf(report, out / 'sync.pdf', settings)\n"
            "print('sync', verify_pdf(out / 'sync.pdf', ca).bottom_line)"
        ),
        nbformat.v4.new_code_cell(
            "await async_sign_pdf(report, out / 'async.pdf', settings)\n"
            "print('async', (await async_verify_pdf(out / 'async.pdf', ca)).bottom_line)"
        ),
    ]
    source, executed = tmp_path / "sign.ipynb", tmp_path / "sign.out.ipynb"
    nbformat.write(notebook, source)
    papermill.execute_notebook(
        str(source),
        str(executed),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
        iopub_timeout=60,  # nbclient's 4 s drops late outputs on a loaded machine
    )
    text = executed.read_text()
    printed = "".join(
        "".join(o.get("text", "")) if isinstance(o.get("text"), list) else o.get("text", "")
        for c in json.loads(text)["cells"]
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
    )
    assert "sync True" in printed and "async True" in printed, printed
    assert PASSPHRASE not in text
