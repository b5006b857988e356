"""Evidence bundles: integrity, findings, certificates, pentest, document de conformité."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from auditlib.demo.data import manifest_entry, write_bundle, zip_folder
from auditlib.errors import EvidenceError
from auditlib.evidence import (
    BundleStatus,
    EvidenceBundle,
    FindingCode,
    ItemKind,
    ItemStatus,
    SectionState,
    load_bundle,
)
from auditlib.files import sha256_bytes
from auditlib.testing.pki import TestPki
from tests.evidence.factory import (
    AS_OF,
    CERT_START,
    clean_files,
    conformite_docx,
    conformite_markdown,
    make_bundle,
    server_cert,
)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create(now=AS_OF, key=("ec", 256))


def codes(bundle: EvidenceBundle) -> list[FindingCode]:
    return [f.code for f in bundle.findings]


def load(path: Path, **kwargs: object) -> EvidenceBundle:
    return load_bundle(path, as_of=AS_OF, **kwargs)  # type: ignore[arg-type]


def test_clean_bundle_has_no_findings_and_a_fingerprint(tmp_path: Path, pki: TestPki) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    bundle = load_bundle(
        folder, known_requirements=["101", "102", "103", "115", "116"], as_of=AS_OF
    )
    assert bundle.usable
    assert bundle.findings == ()
    assert bundle.bottom_line is BundleStatus.CLEAN
    assert bundle.provider_id == "acme"
    assert all(i.status is ItemStatus.OK for i in bundle.items)
    fp = bundle.fingerprint
    assert fp is not None
    assert fp.manifest_sha256 == sha256_bytes((folder / "manifest.yaml").read_bytes())
    assert fp.file_count == 5
    # content hash = sha256 of sorted "hash  path" lines (sha256sum style)
    lines = "".join(
        f"{sha256_bytes((folder / p).read_bytes())}  {p}\n"
        for p in sorted(i.path for i in bundle.items)
    )
    assert fp.content_sha256 == sha256_bytes(lines.encode())
    certs = bundle.certificates
    assert certs[0][1].common_name == "api.acme.demo.esante.test"
    assert certs[1][1].is_ca  # the chain's issuing CA comes after the leaf
    assert bundle.current_certificate is not None
    assert {s.state for s in bundle.sections} == {SectionState.PRESENT}


def test_inventory_dataframe_and_coverage(tmp_path: Path, pki: TestPki) -> None:
    bundle = load(make_bundle(tmp_path / "b", pki))
    frame = bundle.to_dataframe()
    assert list(frame.columns) == [
        "item",
        "kind",
        "requirements",
        "date",
        "size",
        "sha256",
        "status",
    ]
    assert len(frame) == 5
    missing = bundle.requirements_without_evidence(["101", "EXI-EDC-PSC-103", "104", "120"])
    assert missing == ["EXI EDC PSC 104", "EXI EDC PSC 120"]
    cov = bundle.coverage(["115"])
    assert cov == {"EXI EDC PSC 115": ["pentest/rapport-test-intrusion.pdf", "certs/server.pem"]}


def test_hash_mismatch(tmp_path: Path, pki: TestPki) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    (folder / "cgu/engagement-cgu.txt").write_bytes(b"tampered\n")
    bundle = load(folder)
    assert codes(bundle) == [FindingCode.HASH_MISMATCH]
    item = next(i for i in bundle.items if i.path == "cgu/engagement-cgu.txt")
    assert item.status is ItemStatus.HASH_MISMATCH
    assert bundle.requirements_without_evidence(["102"]) == ["EXI EDC PSC 102"]
    assert bundle.bottom_line is BundleStatus.FINDINGS
    assert "modifié" in bundle.findings[0].message


def test_listed_but_missing_and_present_but_unlisted(tmp_path: Path, pki: TestPki) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    (folder / "architecture/architecture.md").unlink()
    (folder / "extra.txt").write_text("surprise")
    bundle = load(folder)
    found = {(f.code, f.item) for f in bundle.findings}
    assert found == {
        (FindingCode.FILE_MISSING, "architecture/architecture.md"),
        (FindingCode.FILE_UNLISTED, "extra.txt"),
    }
    statuses = {i.path: i.status for i in bundle.items}
    assert statuses["architecture/architecture.md"] is ItemStatus.MISSING
    assert statuses["extra.txt"] is ItemStatus.UNLISTED


def test_unknown_and_invalid_requirement(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    items[1]["requirements"] = ["EXI EDC PSC 101", "999", "not an id"]
    folder = make_bundle(tmp_path / "b", pki, files=files, items=items)
    bundle = load(folder, known_requirements=["EXI EDC PSC 101", "102", "103", "115", "116"])
    assert sorted(codes(bundle)) == sorted(
        [FindingCode.UNKNOWN_REQUIREMENT, FindingCode.INVALID_REQUIREMENT_ID]
    )
    # without a known list, only the malformed id is a finding
    assert codes(load(folder)) == [FindingCode.INVALID_REQUIREMENT_ID]


def test_item_dated_in_the_future(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    items[2]["date"] = (AS_OF + dt.timedelta(days=3)).date().isoformat()
    bundle = load(make_bundle(tmp_path / "b", pki, files=files, items=items))
    assert codes(bundle) == [FindingCode.FUTURE_DATE]
    assert bundle.findings[0].item == "cgu/engagement-cgu.txt"


def test_provider_mismatch(tmp_path: Path, pki: TestPki) -> None:
    bundle = load(make_bundle(tmp_path / "b", pki), provider_id="other")
    assert codes(bundle) == [FindingCode.PROVIDER_MISMATCH]


def test_missing_pentest(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    del files["pentest/rapport-test-intrusion.pdf"]
    items = [i for i in items if i["kind"] != "pentest_report"]
    bundle = load(make_bundle(tmp_path / "b", pki, files=files, items=items))
    assert codes(bundle) == [FindingCode.PENTEST_MISSING]


def test_pentest_older_than_current_certificate(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    old = (CERT_START - dt.timedelta(days=5)).date().isoformat()
    items[3]["date"] = old
    items[3]["pentest"]["report_date"] = old
    bundle = load(make_bundle(tmp_path / "b", pki, files=files, items=items))
    assert codes(bundle) == [FindingCode.PENTEST_OUTDATED]
    assert "antérieur" in bundle.findings[0].message


def test_pentest_judged_against_a_given_current_certificate(tmp_path: Path, pki: TestPki) -> None:
    from auditlib.certs import describe_certificate

    renewed = server_cert(pki, not_before=AS_OF - dt.timedelta(days=2))
    bundle = load(
        make_bundle(tmp_path / "b", pki),
        current_certificate=describe_certificate(renewed.certificate),
    )
    assert codes(bundle) == [FindingCode.PENTEST_OUTDATED]


def test_pentest_without_passi_firm(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    del items[3]["pentest"]
    assert codes(load(make_bundle(tmp_path / "b", pki, files=files, items=items))) == [
        FindingCode.PENTEST_DETAILS_MISSING
    ]


def _with_cert(
    tmp_path: Path, pki: TestPki, name: str, data: bytes, cert_spec: dict[str, str]
) -> EvidenceBundle:
    files, items = clean_files(pki)
    files[name] = data
    items.append(
        manifest_entry(name, data, "certificate", [116], AS_OF.date(), certificate=cert_spec)
    )
    return load(make_bundle(tmp_path / "b", pki, files=files, items=items))


def test_der_certificate_is_parsed(tmp_path: Path, pki: TestPki) -> None:
    client = pki.issue("client.acme", "client", key=("ec", 256), not_before=CERT_START)
    bundle = _with_cert(
        tmp_path, pki, "certs/client.der", client.cert_der(), {"use": "mtls_client"}
    )
    assert codes(bundle) == []
    item = next(i for i in bundle.items if i.path == "certs/client.der")
    leaf = item.leaf_certificate
    assert leaf.common_name == "client.acme"
    assert leaf.extended_key_usage == ("clientAuth",)
    assert leaf.key_type == "EC"


def test_pkcs12_with_passphrase_from_environment(
    tmp_path: Path, pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pki.issue("client.acme", "client", key=("ec", 256), not_before=CERT_START)
    p12 = client.pkcs12(b"s3cret", chain=[pki.issuing.certificate])
    spec = {"use": "mtls_client", "passphrase_env": "AUDITLIB_TEST_P12_PASS"}
    monkeypatch.setenv("AUDITLIB_TEST_P12_PASS", "s3cret")
    bundle = _with_cert(tmp_path / "ok", pki, "certs/client.p12", p12, spec)
    item = next(i for i in bundle.items if i.path == "certs/client.p12")
    assert item.status is ItemStatus.OK
    assert [c.is_ca for c in item.certificates] == [False, True]

    monkeypatch.setenv("AUDITLIB_TEST_P12_PASS", "wrong")
    bundle = _with_cert(tmp_path / "wrong", pki, "certs/client.p12", p12, spec)
    assert codes(bundle) == [FindingCode.CERTIFICATE_UNREADABLE]
    assert "mot de passe" in bundle.findings[0].message

    monkeypatch.delenv("AUDITLIB_TEST_P12_PASS")
    bundle = _with_cert(tmp_path / "unset", pki, "certs/client.p12", p12, spec)
    assert codes(bundle) == [FindingCode.CERTIFICATE_UNREADABLE]
    assert "AUDITLIB_TEST_P12_PASS" in bundle.findings[0].message
    item = next(i for i in bundle.items if i.path == "certs/client.p12")
    assert item.status is ItemStatus.UNREADABLE


def test_passphrase_in_manifest_makes_it_invalid(tmp_path: Path, pki: TestPki) -> None:
    bundle = _with_cert(
        tmp_path, pki, "certs/c.p12", b"x", {"use": "mtls_client", "passphrase": "oops"}
    )
    assert not bundle.usable
    assert FindingCode.MANIFEST_INVALID in codes(bundle)
    assert "oops" not in str(bundle.findings)


def test_garbage_certificate_is_unreadable(tmp_path: Path, pki: TestPki) -> None:
    bundle = _with_cert(tmp_path, pki, "certs/bad.pem", b"-----BEGIN CERTIFICATE-----\nxx\n", {})
    assert codes(bundle) == [FindingCode.CERTIFICATE_UNREADABLE]
    bundle = _with_cert(tmp_path / "2", pki, "certs/bad.cer", b"\x00\x01garbage", {})
    assert codes(bundle) == [FindingCode.CERTIFICATE_UNREADABLE]


def test_expired_certificate_private_key_and_wrong_use(tmp_path: Path, pki: TestPki) -> None:
    old = pki.issue(
        "old.acme", "server", key=("ec", 256), not_before=AS_OF - dt.timedelta(days=800), days=365
    )
    data = old.cert_pem() + old.key_pem()
    bundle = _with_cert(tmp_path, pki, "certs/old.pem", data, {"use": "mtls_client"})
    assert sorted(codes(bundle)) == sorted(
        [
            FindingCode.CERTIFICATE_EXPIRED,
            FindingCode.PRIVATE_KEY_IN_BUNDLE,
            FindingCode.CERTIFICATE_USE_MISMATCH,
        ]
    )


def test_docx_conformite_complete_missing_and_empty(tmp_path: Path, pki: TestPki) -> None:
    def run(sub: str, data: bytes) -> EvidenceBundle:
        files, items = clean_files(pki)
        del files["conformite/document-conformite.md"]
        files["conformite/dc.docx"] = data
        items[0] = manifest_entry(
            "conformite/dc.docx", data, "document_conformite", [103], AS_OF.date()
        )
        return load(make_bundle(tmp_path / sub, pki, files=files, items=items))

    assert codes(run("ok", conformite_docx())) == []
    bundle = run("missing", conformite_docx(sections=("Architecture", "Sécurité")))
    assert codes(bundle) == [FindingCode.CONFORMITE_SECTION_MISSING]
    assert "Mises à jour" in bundle.findings[0].message
    bundle = run("empty", conformite_docx(empty=("Architecture",)))
    assert codes(bundle) == [FindingCode.CONFORMITE_SECTION_EMPTY]
    states = {s.section: s.state for s in bundle.sections}
    assert states["Architecture"] is SectionState.EMPTY


def test_markdown_placeholder_counts_as_empty(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    data = conformite_markdown(empty=("Mises à jour",), placeholder="À compléter")
    files["conformite/document-conformite.md"] = data
    items[0]["sha256"] = sha256_bytes(data)
    bundle = load(make_bundle(tmp_path / "b", pki, files=files, items=items))
    assert codes(bundle) == [FindingCode.CONFORMITE_SECTION_EMPTY]


def test_conformite_missing_unsupported_and_corrupt(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    del files["conformite/document-conformite.md"]
    bundle = load(make_bundle(tmp_path / "none", pki, files=files, items=items[1:]))
    assert codes(bundle) == [FindingCode.CONFORMITE_MISSING]

    for sub, name, data, code in [
        ("pdf", "dc.pdf", b"%PDF-1.4", FindingCode.DOCUMENT_FORMAT_UNSUPPORTED),
        ("bad", "dc.docx", b"PK\x03\x04 not really", FindingCode.DOCUMENT_UNREADABLE),
        ("latin1", "dc.md", "# Sécurité".encode("latin-1"), FindingCode.DOCUMENT_UNREADABLE),
    ]:
        entry = manifest_entry(name, data, "document_conformite", [103], AS_OF.date())
        bundle = load(
            make_bundle(tmp_path / sub, pki, files={**files, name: data}, items=[entry, *items[1:]])
        )
        assert codes(bundle) == [code], sub


def test_docx_with_a_dtd_is_refused(tmp_path: Path, pki: TestPki) -> None:
    """XXE: a DTD in any XML part is refused by defusedxml before python-docx sees it."""
    import io
    import zipfile

    original = conformite_docx()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml":
                data = data.replace(
                    b"?>",
                    b'?><!DOCTYPE w [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
                    1,
                )
            dst.writestr(info, data)
    evil = out.getvalue()
    files, items = clean_files(pki)
    files["conformite/dc.docx"] = evil
    items.append(
        manifest_entry("conformite/dc.docx", evil, "document_conformite", [103], AS_OF.date())
    )
    bundle = load(make_bundle(tmp_path / "b", pki, files=files, items=items))
    assert codes(bundle) == [FindingCode.DOCUMENT_UNREADABLE]
    assert "XXE" in bundle.findings[0].message


def test_manifest_missing_or_invalid_makes_bundle_unusable(tmp_path: Path, pki: TestPki) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    (folder / "manifest.yaml").unlink()
    bundle = load(folder)
    assert not bundle.usable
    assert bundle.items == ()
    assert codes(bundle) == [FindingCode.BUNDLE_UNUSABLE, FindingCode.MANIFEST_MISSING]
    assert bundle.bottom_line is BundleStatus.UNUSABLE

    for text in [
        "provider: acme\nitems:\n\t- path: x\n",  # tab
        "provider: acme\nitems: 12\n",  # wrong type
        "",  # empty
        "- just\n- a list\n",
    ]:
        (folder / "manifest.yaml").write_text(text)
        bundle = load(folder)
        assert not bundle.usable, text
        assert FindingCode.MANIFEST_INVALID in codes(bundle)
    (folder / "manifest.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    assert FindingCode.MANIFEST_INVALID in codes(load(folder))


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("../outside.txt", FindingCode.PARENT_PATH),
        ("/etc/passwd", FindingCode.ABSOLUTE_PATH),
        ("C:\\Windows\\win.ini", FindingCode.ABSOLUTE_PATH),
        ("a/../../b", FindingCode.PARENT_PATH),
    ],
)
def test_manifest_path_escaping_the_bundle(
    tmp_path: Path, pki: TestPki, path: str, code: FindingCode
) -> None:
    (tmp_path / "outside.txt").write_text("secret")
    files, items = clean_files(pki)
    items.append(manifest_entry(path, b"secret", "other", [], AS_OF.date()))
    bundle = load(make_bundle(tmp_path / "b", pki, files=files, items=items))
    assert not bundle.usable
    assert code in codes(bundle)
    assert any(f.item == path for f in bundle.findings)


def test_duplicate_manifest_paths(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    items.append(dict(items[1]))
    bundle = load(make_bundle(tmp_path / "b", pki, files=files, items=items))
    assert not bundle.usable
    assert FindingCode.MANIFEST_INVALID in codes(bundle)


def test_symlink_in_folder_bundle_is_refused(tmp_path: Path, pki: TestPki) -> None:
    (tmp_path / "secret.txt").write_text("secret")
    folder = make_bundle(tmp_path / "b", pki)
    (folder / "link.txt").symlink_to(tmp_path / "secret.txt")
    bundle = load(folder)
    assert not bundle.usable
    assert codes(bundle) == [FindingCode.BUNDLE_UNUSABLE, FindingCode.LINK]
    assert bundle.findings[1].item == "link.txt"


def test_missing_path_raises(tmp_path: Path) -> None:
    with pytest.raises(EvidenceError, match="no such folder"):
        load_bundle(tmp_path / "nope")


def test_zip_and_folder_give_the_same_content_fingerprint(tmp_path: Path, pki: TestPki) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    zipped = zip_folder(folder, tmp_path / "b.zip")
    from_folder = load(folder)
    from_zip = load(zipped)
    assert from_zip.usable and from_zip.findings == ()
    assert from_zip.source_type == "zip"
    fz, ff = from_zip.fingerprint, from_folder.fingerprint
    assert fz.content_sha256 == ff.content_sha256
    assert fz.manifest_sha256 == ff.manifest_sha256
    assert fz.source_sha256 == sha256_bytes(zipped.read_bytes())
    assert ff.source_sha256 is None


def test_zip_with_a_single_top_folder(tmp_path: Path, pki: TestPki) -> None:
    folder = make_bundle(tmp_path / "src" / "acme-preuves", pki)
    zipped = zip_folder(tmp_path / "src", tmp_path / "b.zip")
    bundle = load(zipped)
    assert bundle.usable and bundle.findings == ()
    assert {i.path for i in bundle.items} == {
        p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
    } - {"manifest.yaml"}


def test_item_kinds_have_french_labels() -> None:
    assert ItemKind.PENTEST_REPORT.label == "Rapport de test d'intrusion"
    assert all(k.label for k in ItemKind)


def test_json_summary_is_serialisable(tmp_path: Path, pki: TestPki) -> None:
    import json

    bundle = load(make_bundle(tmp_path / "b", pki))
    text = json.dumps(bundle.to_dict())
    assert "api.acme.demo.esante.test" in text


def test_write_bundle_round_trip_with_der_encoding(tmp_path: Path, pki: TestPki) -> None:
    cert = server_cert(pki)
    der = cert.certificate.public_bytes(Encoding.DER)
    files, items = clean_files(pki, cert)
    files["certs/server.pem"] = der
    items[4]["sha256"] = sha256_bytes(der)
    bundle = load(write_bundle(tmp_path / "b", "acme", files, items))
    assert codes(bundle) == []


def test_oversized_manifest_and_folder_limits(tmp_path: Path, pki: TestPki) -> None:
    from auditlib.evidence import ZipLimits

    folder = make_bundle(tmp_path / "b", pki)
    bundle = load(folder, limits=ZipLimits(max_members=3))
    assert codes(bundle) == [FindingCode.BUNDLE_UNUSABLE, FindingCode.TOO_MANY_MEMBERS]
    bundle = load(folder, limits=ZipLimits(max_member_bytes=100))
    assert FindingCode.MEMBER_TOO_LARGE in codes(bundle)
    bundle = load(folder, limits=ZipLimits(max_total_bytes=1000))
    assert FindingCode.TOTAL_TOO_LARGE in codes(bundle)
    (folder / "manifest.yaml").write_bytes(b"# " + b"x" * (6 * 1024 * 1024))
    bundle = load(folder)
    assert codes(bundle) == [FindingCode.BUNDLE_UNUSABLE, FindingCode.MANIFEST_INVALID]


def test_special_file_in_folder_is_refused(tmp_path: Path, pki: TestPki) -> None:
    import os

    folder = make_bundle(tmp_path / "b", pki)
    os.mkfifo(folder / "pipe")
    bundle = load(folder)
    assert codes(bundle) == [FindingCode.BUNDLE_UNUSABLE, FindingCode.NOT_REGULAR_FILE]
    assert bundle.findings[1].item == "pipe"


def test_pentest_report_dated_in_the_future(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    items[3]["pentest"]["report_date"] = (AS_OF + dt.timedelta(days=30)).date().isoformat()
    bundle = load(make_bundle(tmp_path / "b", pki, files=files, items=items))
    assert codes(bundle) == [FindingCode.FUTURE_DATE]
    assert "test d'intrusion" in bundle.findings[0].message


def test_every_finding_code_is_exercised_by_a_test() -> None:
    here = Path(__file__).parent
    files = [*here.glob("test_*.py"), here.parent / "cli" / "test_evidence.py"]
    text = "".join(p.read_text(encoding="utf-8") for p in files)
    untested = [c.name for c in FindingCode if f"FindingCode.{c.name}" not in text]
    assert untested == []


def test_decomposed_unicode_names_match_the_manifest(tmp_path: Path, pki: TestPki) -> None:
    """macOS spells `é` as `e` + combining accent; the manifest (NFC) must still match."""
    import unicodedata

    files, items = clean_files(pki)
    data = files.pop("conformite/document-conformite.md")
    nfc = "conformite/déclaration-conformité.md"
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfd != nfc
    files[nfd] = data
    items[0] = manifest_entry(nfc, data, "document_conformite", [103], AS_OF.date())
    folder = make_bundle(tmp_path / "b", pki, files=files, items=items)
    bundle = load(folder)
    assert codes(bundle) == []
    assert {s.state for s in bundle.sections} == {SectionState.PRESENT}
    zipped = load(zip_folder(folder, tmp_path / "b.zip"))
    assert codes(zipped) == []
    assert zipped.fingerprint.content_sha256 == bundle.fingerprint.content_sha256  # type: ignore[union-attr]

    (folder / nfc).write_bytes(data)  # both spellings side by side: ambiguous
    bundle = load(folder)
    assert codes(bundle) == [FindingCode.BUNDLE_UNUSABLE, FindingCode.DUPLICATE_MEMBER]


def test_a_file_that_cannot_be_read_makes_the_bundle_unusable(
    tmp_path: Path, pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    import auditlib.evidence.bundle as evidence_module

    real = evidence_module.sha256_file

    def flaky(path: str) -> str:
        if str(path).endswith("engagement-cgu.txt"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(evidence_module, "sha256_file", flaky)
    bundle = load(make_bundle(tmp_path / "b", pki))
    assert codes(bundle) == [FindingCode.BUNDLE_UNUSABLE, FindingCode.FILE_UNREADABLE]
    assert bundle.findings[1].item == "cgu/engagement-cgu.txt"
    assert "Permission denied" in bundle.findings[1].message
