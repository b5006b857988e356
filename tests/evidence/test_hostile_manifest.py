"""Hostile evidence bundles (issue 16): each reproduces an input that crashed the loader,
took unbounded time, or leaked; each must now be a finding on an unusable bundle or on an
item, never an exception."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from auditlib.evidence import EvidenceBundle, FindingCode, ItemStatus, load_bundle
from auditlib.evidence.archive import ZipLimits
from auditlib.evidence.conformite import markdown_blocks
from auditlib.testing.pki import TestPki
from tests.evidence.factory import AS_OF, CERT_START, clean_files, make_bundle

GOOD_MANIFEST_HEAD = "version: 1\nprovider: acme\n"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create(now=AS_OF, key=("ec", 256))


def codes(bundle: EvidenceBundle) -> list[FindingCode]:
    return [f.code for f in bundle.findings]


def _clean_bundle(folder: Path, pki: TestPki) -> Path:
    return make_bundle(folder, pki)


def _replace_in_manifest(folder: Path, old: str, new: str) -> None:
    manifest = folder / "manifest.yaml"
    text = manifest.read_text(encoding="utf-8")
    assert old in text
    manifest.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("version: 1", "version: 1\nprepared_on: 2026-02-30", "day is out of range"),
        ("version: 1", "version: !!int ²", "invalid int"),
        ("version: 1", "version: " + "9" * 5000, "number too long"),
        ("version: 1", "version: !!float abc", "invalid float"),
        ("version: 1", "version: &v 1\nprepared_on: *v", "aliases are not allowed"),
    ],
    ids=["february-30", "superscript-int", "5000-digits", "bad-float", "alias"],
)
def test_hostile_yaml_values_make_the_bundle_unusable_with_the_line(
    tmp_path: Path, pki: TestPki, old: str, new: str, expected: str
) -> None:
    folder = _clean_bundle(tmp_path / "b", pki)
    _replace_in_manifest(folder, old, new)
    bundle = load_bundle(folder, as_of=AS_OF)
    assert not bundle.usable
    assert FindingCode.MANIFEST_INVALID in codes(bundle)
    message = " ".join(f.message for f in bundle.findings)
    assert expected in message and "line " in message


def test_manifest_over_one_mebibyte_is_refused_before_parsing(tmp_path: Path, pki: TestPki) -> None:
    folder = _clean_bundle(tmp_path / "b", pki)
    with (folder / "manifest.yaml").open("a", encoding="utf-8") as handle:
        handle.write("# " + "x" * (1024 * 1024) + "\n")
    bundle = load_bundle(folder, as_of=AS_OF)
    assert not bundle.usable and FindingCode.MANIFEST_INVALID in codes(bundle)
    assert "trop volumineux" in " ".join(f.message for f in bundle.findings)
    # the limit is raised by the caller, not by the bundle
    raised = load_bundle(folder, as_of=AS_OF, limits=ZipLimits(max_manifest_bytes=2 * 1024**2))
    assert raised.usable


def test_zip_with_2000_nested_folders_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "nested.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("manifest.yaml", GOOD_MANIFEST_HEAD + "items: []\n")
        archive.writestr("/".join(["d"] * 2000) + "/f.txt", "x")
    bundle = load_bundle(target, as_of=AS_OF)  # was a RecursionError in pathlib
    assert not bundle.usable
    assert FindingCode.PATH_TOO_DEEP in codes(bundle)


def test_zip_nested_deeper_than_the_limit_but_short_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "deep.zip"
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("manifest.yaml", GOOD_MANIFEST_HEAD + "items: []\n")
        archive.writestr("/".join(["d"] * 40) + "/f.txt", "x")
    bundle = load_bundle(target, as_of=AS_OF)
    assert FindingCode.PATH_TOO_DEEP in codes(bundle)
    assert "41 niveaux" in " ".join(f.message for f in bundle.findings)


def test_folder_nested_deeper_than_the_limit_is_refused(tmp_path: Path, pki: TestPki) -> None:
    folder = _clean_bundle(tmp_path / "b", pki)
    deep = folder.joinpath(*(["d"] * 40))
    deep.mkdir(parents=True)
    (deep / "f.txt").write_text("x")
    bundle = load_bundle(folder, as_of=AS_OF)
    assert not bundle.usable and FindingCode.PATH_TOO_DEEP in codes(bundle)


def unknown_key_algorithm_certificate(pki: TestPki) -> bytes:
    rsa_leaf = pki.issue("odd.acme", "server", key=("rsa", 2048), not_before=CERT_START)
    der = rsa_leaf.cert_der()
    rsa_oid = bytes.fromhex("06092A864886F70D0101010500")  # rsaEncryption, NULL
    assert der.count(rsa_oid) == 1
    odd = der.replace(rsa_oid, bytes.fromhex("06092A864886F70D01017F0500"))
    x509.load_der_x509_certificate(odd)  # parses; only the key algorithm is unknown
    return x509.load_der_x509_certificate(odd).public_bytes(Encoding.PEM)


def _with_cert(
    tmp_path: Path, pki: TestPki, name: str, data: bytes, cert_spec: dict[str, str]
) -> EvidenceBundle:
    from auditlib.demo.data import manifest_entry

    files, items = clean_files(pki)
    files[name] = data
    items.append(
        manifest_entry(name, data, "certificate", [116], AS_OF.date(), certificate=cert_spec)
    )
    return load_bundle(make_bundle(tmp_path / "b", pki, files=files, items=items), as_of=AS_OF)


def test_certificate_with_an_unknown_key_algorithm_is_unreadable(
    tmp_path: Path, pki: TestPki
) -> None:
    bundle = _with_cert(tmp_path, pki, "certs/odd.pem", unknown_key_algorithm_certificate(pki), {})
    assert bundle.usable
    assert codes(bundle) == [FindingCode.CERTIFICATE_UNREADABLE]
    assert "1.2.840.113549.1.1.127" in bundle.findings[0].message
    item = next(i for i in bundle.items if i.path == "certs/odd.pem")
    assert item.status is ItemStatus.UNREADABLE


def test_private_key_inside_a_pkcs12_file_is_flagged(
    tmp_path: Path, pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pki.issue("client.acme", "client", key=("ec", 256), not_before=CERT_START)
    monkeypatch.setenv("AUDITLIB_P12", "s3cret")
    spec = {"use": "mtls_client", "passphrase_env": "AUDITLIB_P12"}
    bundle = _with_cert(tmp_path, pki, "certs/client.p12", client.pkcs12(b"s3cret"), spec)
    assert codes(bundle) == [FindingCode.PRIVATE_KEY_IN_BUNDLE]


def test_passphrase_variable_outside_the_configured_prefix_is_not_read(
    tmp_path: Path, pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pki.issue("client.acme", "client", key=("ec", 256), not_before=CERT_START)
    p12 = client.pkcs12(b"s3cret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cret")  # the auditor's own secret
    spec = {"use": "mtls_client", "passphrase_env": "AWS_SECRET_ACCESS_KEY"}
    bundle = _with_cert(tmp_path / "a", pki, "certs/client.p12", p12, spec)
    # not "wrong passphrase" nor a success: the variable is never read (no oracle)
    assert codes(bundle) == [FindingCode.CERTIFICATE_UNREADABLE]
    assert "AUDITLIB_" in bundle.findings[0].message
    monkeypatch.setenv("AUDITLIB_P12_ENV_PREFIX", "AWS_")  # the auditor configures another
    bundle = _with_cert(tmp_path / "b", pki, "certs/client.p12", p12, spec)
    assert codes(bundle) == [FindingCode.PRIVATE_KEY_IN_BUNDLE]


def test_markdown_heading_parsing_is_linear() -> None:
    # Each of these took quadratic time (a 65 KB line: 40 s); at 400 KB quadratic parsing
    # would take tens of minutes, linear parsing a fraction of a second.
    size = 400_000
    spaced = markdown_blocks("# a" + " " * size + "x\n")
    assert spaced[0].level == 1 and spaced[0].text.endswith("x")
    assert markdown_blocks("<!--" * (size // 4) + "\n# T\n") == []  # unclosed: to the end
    hashes = markdown_blocks("# " + "# " * (size // 2) + "x")
    assert hashes[0].level == 1
    assert markdown_blocks("## Title ##\n# a # b\n#no\n<!-- c -->## D\n") == [
        markdown_blocks("## Title")[0],
        markdown_blocks("# a # b")[0],
        markdown_blocks("#no")[0],
        markdown_blocks("## D")[0],
    ]
