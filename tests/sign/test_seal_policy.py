"""The seal policy: a report sealed with any certificate under the trusted CA is not a seal.

Attack (issue 15): an audited provider's TLS server certificate, issued by the same
IGC-Santé organisations CA as the audit team's ORG SIGN seal, signs a report with
`--signer "Cabinet d'audit officiel"`; `auditlib verify` must say "cachet non conforme".
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditlib.cli import main as cli_main
from auditlib.resources import profile_path
from auditlib.sign import (
    SealPolicy,
    SealPolicyError,
    SignerSpec,
    SigningSettings,
    sign_pdf,
    verify_pdf,
)
from auditlib.testing.pki import TestPki, generate_key

PASS_ENV = "AUDITLIB_TEST_SEAL_POLICY_PASS"
PASSPHRASE = "policy-test"
DOC_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")
OWN_SEAL_POLICY = "1.2.250.1.213.1.7.1.1"
OWN = [OWN_SEAL_POLICY]
DS = {"digital_signature": True}
SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH
EMAIL, ANY = ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE


@dataclass(frozen=True)
class Setup:
    pki: TestPki
    ca_dir: Path
    report: Path
    sealed: Path
    forged: Path
    folder: Path

    def p12_for(self, profile: str, name: str) -> Path:
        issued = self.pki.issue(name, profile, organisation="FOURNISSEUR AUDITE")  # type: ignore[arg-type]
        path = self.folder / f"{name}.p12"
        path.write_bytes(issued.pkcs12(PASSPHRASE.encode(), [self.pki.issuing.certificate]))
        return path


def sign_with(p12: Path, source: Path, target: Path, signer_name: str | None = None) -> Path:
    settings = SigningSettings(SignerSpec(p12_path=p12, pass_env=PASS_ENV), signer_name=signer_name)
    sign_pdf(source, target, settings)
    return target


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    import weasyprint

    folder = tmp_path_factory.mktemp("seal-policy")
    mp = pytest.MonkeyPatch()
    mp.setenv(PASS_ENV, PASSPHRASE)
    pki = TestPki.create()
    ca_dir = pki.write_ca_dir(folder / "ca")
    report = folder / "report.pdf"
    report.write_bytes(
        weasyprint.HTML(string="<h1>Rapport d'audit</h1><p>Conforme.</p>").write_pdf()
    )
    s = Setup(pki, ca_dir, report, folder / "sealed.pdf", folder / "forged.pdf", folder)
    sign_with(s.p12_for("sign", "CABINET AUDIT ORG SIGN"), report, s.sealed)
    tls = s.p12_for("server", "api.fournisseur.example")
    sign_with(tls, report, s.forged, signer_name="Cabinet d'audit officiel")
    yield s
    mp.undo()


def leaf(
    pki: TestPki,
    *,
    key_usage: dict[str, bool] | None,
    eku: list[x509.ObjectIdentifier] | None,
    policies: list[str],
    cn: str = "TEST SEAL",
) -> x509.Certificate:
    """A certificate under the trusted issuing CA with exactly the extensions given."""
    key = generate_key(("ec", 256))
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(pki.issuing.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
    )
    if key_usage is not None:
        bits = dict.fromkeys(
            (
                "digital_signature",
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        bits.update(key_usage)
        builder = builder.add_extension(x509.KeyUsage(**bits), critical=True)
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if policies:
        builder = builder.add_extension(
            x509.CertificatePolicies(
                [x509.PolicyInformation(x509.ObjectIdentifier(p), None) for p in policies]
            ),
            critical=False,
        )
    return builder.sign(pki.issuing.key, hashes.SHA256())  # type: ignore[arg-type]


# ------------------------------------------------------------------- the policy file


def test_shipped_policy_says_the_demo_oid_is_our_own() -> None:
    policy = SealPolicy.load()
    assert policy.seal_policies == {OWN_SEAL_POLICY}
    assert policy.key_usage_none_of == {"key_cert_sign"}
    assert {"1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"} <= policy.eku_none_of
    text = profile_path("seal-policy.yaml").read_text(encoding="utf-8")
    assert "OUR OWN value" in text and "NOT taken" in text


def test_demo_seal_passes_the_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's own seal (auditlib/demo/seal.py, test PKI profile "sign") is fit."""
    from auditlib.demo.data import DEMO_SEAL_PASS, DEMO_SEAL_PASS_ENV
    from auditlib.demo.seal import ensure_seal, seal_spec
    from auditlib.resources import demo_data_dir
    from auditlib.sign import load_signer

    monkeypatch.setenv(DEMO_SEAL_PASS_ENV, DEMO_SEAL_PASS)
    path, created = ensure_seal(demo_data_dir(), tmp_path)
    assert created
    cert = load_signer(seal_spec(path)).certificate
    assert SealPolicy.load().check(cert) == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("name: x\n", "key_usage"),
        ("name: x\nkey_usage: {any_of: [sign_things]}\nextended_key_usage: {}\n"
         "seal_policies: ['1.2.3']\n", "unknown key usage 'sign_things'"),
        ("name: x\nkey_usage: {}\nextended_key_usage: {any_of: [serverAuth]}\n"
         "seal_policies: ['1.2.3']\n", "'serverAuth' is not an OID"),
        ("name: x\nkey_usage: {}\nextended_key_usage: {}\nseal_policies: []\n",
         "at least one policy OID"),
        ("name: x\nkey_usage: {}\nextended_key_usage: {}\nseal_policies: ['1.2']\n"
         "expected_fingerprint: abc\n", "not a SHA-256 fingerprint"),
        ("name: x\nkey_usage: {}\nextended_key_usage: {}\nseal_policies: ['1.2']\n"
         "expected_subject: 'not a = = name'\n", "not an RFC 4514 name"),
        ("name: x\nkey_usage: {}\nextended_key_usage: {}\nseal_policies: ['1.2']\nextra: 1\n",
         "unknown key(s) extra"),
        ("- a list\n", "mapping"),
        ("name: [unclosed\n", "YAML error"),
    ],
)  # fmt: skip
def test_broken_policy_files_name_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SealPolicyError, match=re.escape(message)) as info:
        SealPolicy.load(path)
    assert str(path) in str(info.value)


def test_unknown_policy_name() -> None:
    with pytest.raises(SealPolicyError, match="no seal policy named 'nope'"):
        SealPolicy.load("nope")


# -------------------------------------------------------- certificates, one by one


@pytest.mark.parametrize(
    ("key_usage", "eku", "policies", "expected"),
    [
        ({"content_commitment": True}, None, OWN, None),  # EKU absent: fine
        (DS, [DOC_SIGNING], OWN, None),
        (DS, [EMAIL], OWN, None),
        ({**DS, "key_cert_sign": True}, None, OWN, "key_cert_sign"),
        ({"key_encipherment": True}, None, OWN, "Key Usage has none of"),
        (None, None, OWN, "no Key Usage extension"),
        (DS, [SERVER], OWN, "serverAuth"),
        (DS, [DOC_SIGNING, CLIENT], OWN, "clientAuth"),
        (DS, [ANY], OWN, "none of"),
        (DS, [DOC_SIGNING], ["1.2.250.1.213.1.7.3.1"], "not a seal policy"),
        (DS, [DOC_SIGNING], [], "certificate policy none"),
    ],
)  # fmt: skip
def test_policy_judges_each_property(
    setup: Setup,
    key_usage: dict[str, bool] | None,
    eku: list[x509.ObjectIdentifier] | None,
    policies: list[str],
    expected: str | None,
) -> None:
    cert = leaf(setup.pki, key_usage=key_usage, eku=eku, policies=policies)
    problems = SealPolicy.load().check(cert)
    if expected is None:
        assert problems == ()
    else:
        assert problems and expected in problems[0], problems


def test_pinned_subject_and_fingerprint(setup: Setup) -> None:
    cert = leaf(
        setup.pki, key_usage={"content_commitment": True}, eku=None, policies=[OWN_SEAL_POLICY]
    )
    fingerprint = cert.fingerprint(hashes.SHA256()).hex()
    policy = SealPolicy.load()
    assert policy.pinned(subject="CN=TEST SEAL", fingerprint=fingerprint.upper()).check(cert) == ()
    colons = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2))
    assert policy.pinned(fingerprint=colons).check(cert) == ()
    (wrong,) = policy.pinned(subject="CN=OTHER SEAL").check(cert)
    assert "not the expected seal 'CN=OTHER SEAL'" in wrong
    (wrong,) = policy.pinned(fingerprint="00" * 32).check(cert)
    assert "fingerprint" in wrong


# ------------------------------------------------------------- signed reports


def test_tls_server_certificate_is_not_a_seal(setup: Setup) -> None:
    """The attack: trusted, intact, whole file signed, yet not a seal."""
    result = verify_pdf(setup.forged, setup.ca_dir, policy=SealPolicy.load())
    assert result.intact and result.trusted and not result.modified_after_signing
    assert result.seal_conforming is False and not result.bottom_line
    assert any("cachet non conforme" in p and "serverAuth" in p for p in result.problems)
    (sig,) = result.signatures
    assert not sig.bottom_line and sig.seal_problems


def test_our_seal_passes_and_no_policy_means_integrity_and_trust_only(setup: Setup) -> None:
    sealed = verify_pdf(setup.sealed, setup.ca_dir, policy=SealPolicy.load())
    assert sealed.bottom_line and sealed.seal_conforming is True, sealed.problems
    third_party = verify_pdf(setup.forged, setup.ca_dir)  # a PASSI form, say: no policy
    assert third_party.bottom_line and third_party.seal_conforming is None


def test_cli_verify_says_cachet_non_conforme(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = ["--ca-dir", str(setup.ca_dir)]
    assert cli_main(["verify", str(setup.forged), *ca]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "cachet non conforme" in out and "serverAuth" in out
    assert cli_main(["verify", str(setup.sealed), *ca]) == 0
    assert "cachet conforme" in capsys.readouterr().out
    assert cli_main(["verify", str(setup.forged), *ca, "--no-seal-policy"]) == 0
    assert "integrity and trust only" in capsys.readouterr().out
    import json

    assert cli_main(["verify", str(setup.forged), *ca, "--json"]) == 1
    (record,) = json.loads(capsys.readouterr().out)
    assert record["seal_conforming"] is False and record["signatures"][0]["seal_problems"]


def test_cli_verify_pins_the_seal(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    with setup.sealed.open("rb") as handle:
        der = PdfFileReader(handle).embedded_signatures[0].signer_cert.dump()
    fingerprint = x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex()
    ca = ["verify", str(setup.sealed), "--ca-dir", str(setup.ca_dir)]
    assert cli_main([*ca, "--seal-fingerprint", fingerprint]) == 0
    assert cli_main([*ca, "--seal-fingerprint", "ab" * 32]) == 1
    assert (
        cli_main([*ca, "--seal-subject", "CN=CABINET AUDIT ORG SIGN,O=FOURNISSEUR AUDITE,C=FR"])
        == 0
    )
    assert cli_main([*ca, "--seal-subject", "CN=Cabinet d'audit officiel"]) == 1
    capsys.readouterr()
    assert cli_main([*ca, "--seal-fingerprint", "xyz"]) == 2
    assert cli_main([*ca, "--seal-policy", str(setup.folder / "missing.yaml")]) == 2
    assert cli_main([*ca, "--no-seal-policy", "--seal-subject", "CN=X"]) == 2
    err = capsys.readouterr().err
    assert "not a SHA-256 fingerprint" in err and "Traceback" not in err


def test_cli_sign_warns_about_an_unfit_certificate(
    setup: Setup, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = setup.p12_for("server", "www.fournisseur.example")
    args = ["sign", str(setup.report), "--p12", str(tls), "--pass-env", PASS_ENV]
    assert cli_main([*args, "--output-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "not fit to seal an audit report" in err and "serverAuth" in err
    seal = setup.p12_for("sign", "AUTRE CABINET ORG SIGN")
    args = ["sign", str(setup.report), "--p12", str(seal), "--pass-env", PASS_ENV]
    assert cli_main([*args, "--output-dir", str(tmp_path / "ok")]) == 0
    assert "not fit" not in capsys.readouterr().err


def test_a_later_signature_is_judged_on_its_own(setup: Setup) -> None:
    """Our seal, then a TLS certificate's signature: the second one is non conforming."""
    tls = setup.p12_for("server_client", "mtls.fournisseur.example")
    twice = sign_with(tls, setup.sealed, setup.folder / "twice.pdf")
    result = verify_pdf(twice, setup.ca_dir, policy=SealPolicy.load())
    first, second = result.signatures
    assert first.bottom_line and first.seal_conforming and not first.modified_after_signing
    assert not second.seal_conforming and not result.bottom_line
    assert not result.modified_after_signing
    assert all("'AuditSeal2'" in p for p in result.problems)
