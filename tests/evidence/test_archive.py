"""Hostile zips: every refusal rule, and nothing written outside a private temporary folder."""

from __future__ import annotations

import io
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest

from auditlib.demo.data import zip_folder
from auditlib.evidence import EvidenceBundle, FindingCode, ZipLimits, load_bundle
from auditlib.testing.pki import TestPki
from tests.evidence.factory import AS_OF, make_bundle


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create(now=AS_OF, key=("ec", 256))


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Route tempfile to a folder we can inspect after each load."""
    folder = tmp_path / "private-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def build_zip(members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def patch_headers(data: bytes, *, flag: int = 0, central_size: int | None = None) -> bytes:
    """Set general-purpose flag bits, or lie about the uncompressed size (central directory)."""
    buf = bytearray(data)
    pos = 0
    while (pos := buf.find(b"PK\x03\x04", pos)) != -1:
        (old,) = struct.unpack_from("<H", buf, pos + 6)
        struct.pack_into("<H", buf, pos + 6, old | flag)
        pos += 4
    pos = 0
    while (pos := buf.find(b"PK\x01\x02", pos)) != -1:
        (old,) = struct.unpack_from("<H", buf, pos + 8)
        struct.pack_into("<H", buf, pos + 8, old | flag)
        if central_size is not None:
            struct.pack_into("<I", buf, pos + 24, central_size)
        pos += 4
    return bytes(buf)


def load_zip(tmp_path: Path, data: bytes, limits: ZipLimits | None = None) -> EvidenceBundle:
    path = tmp_path / "bundle.zip"
    path.write_bytes(data)
    return load_bundle(path, as_of=AS_OF, limits=limits or ZipLimits())


def refusal(bundle: EvidenceBundle) -> list[tuple[FindingCode, str | None]]:
    assert not bundle.usable
    assert bundle.items == ()
    assert bundle.findings[0].code is FindingCode.BUNDLE_UNUSABLE
    return [(f.code, f.item) for f in bundle.findings[1:]]


def symlink_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = 0o120777 << 16
    return info


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("/etc/cron.d/evil", FindingCode.ABSOLUTE_PATH),
        ("C:/evil.txt", FindingCode.ABSOLUTE_PATH),
        ("../evil.txt", FindingCode.PARENT_PATH),
        ("docs/../../evil.txt", FindingCode.PARENT_PATH),
        ("..\\..\\evil.txt", FindingCode.PARENT_PATH),
    ],
)
def test_unsafe_member_names(
    tmp_path: Path, private_tmp: Path, name: str, code: FindingCode
) -> None:
    data = build_zip([("manifest.yaml", b"provider: x\nitems: []\n"), (name, b"boom")])
    bundle = load_zip(tmp_path, data)
    assert refusal(bundle) == [(code, name)]
    assert name in bundle.findings[1].message
    assert list(private_tmp.iterdir()) == []  # refused before anything was extracted


def test_symlink_member(tmp_path: Path, private_tmp: Path) -> None:
    data = build_zip([("manifest.yaml", b"x"), (symlink_info("link"), b"/etc/passwd")])
    assert refusal(load_zip(tmp_path, data)) == [(FindingCode.LINK, "link")]


def test_encrypted_member(tmp_path: Path, private_tmp: Path) -> None:
    data = patch_headers(build_zip([("secret.txt", b"hidden")]), flag=0x1)
    assert refusal(load_zip(tmp_path, data)) == [(FindingCode.ENCRYPTED_MEMBER, "secret.txt")]


def test_too_many_members(tmp_path: Path, private_tmp: Path) -> None:
    data = build_zip([(f"f{i}.txt", b"x") for i in range(10)])
    bundle = load_zip(tmp_path, data, ZipLimits(max_members=5))
    assert refusal(bundle) == [(FindingCode.TOO_MANY_MEMBERS, None)]


def test_member_too_large(tmp_path: Path, private_tmp: Path) -> None:
    data = build_zip([("big.bin", bytes(range(256)) * 8)])
    bundle = load_zip(tmp_path, data, ZipLimits(max_member_bytes=1000))
    assert refusal(bundle) == [(FindingCode.MEMBER_TOO_LARGE, "big.bin")]


def test_total_too_large(tmp_path: Path, private_tmp: Path) -> None:
    data = build_zip([(f"f{i}.bin", bytes(range(256)) * 6) for i in range(3)])
    bundle = load_zip(tmp_path, data, ZipLimits(max_total_bytes=3000))
    assert refusal(bundle) == [(FindingCode.TOTAL_TOO_LARGE, None)]


def test_compression_ratio_zip_bomb(tmp_path: Path, private_tmp: Path) -> None:
    data = build_zip([("manifest.yaml", b"x"), ("bomb.bin", bytes(4 * 1024 * 1024))])
    assert len(data) < 50_000
    bundle = load_zip(tmp_path, data)
    assert refusal(bundle) == [(FindingCode.COMPRESSION_RATIO, "bomb.bin")]
    assert "bombe" in bundle.findings[1].message


def test_duplicate_member(tmp_path: Path, private_tmp: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        data = build_zip([("a.txt", b"one"), ("A.txt", b"two"), ("a.txt", b"three")])
    found = refusal(load_zip(tmp_path, data))
    assert found == [
        (FindingCode.DUPLICATE_MEMBER, "A.txt"),
        (FindingCode.DUPLICATE_MEMBER, "a.txt"),
    ]


def test_not_a_zip(tmp_path: Path, private_tmp: Path) -> None:
    assert refusal(load_zip(tmp_path, b"this is not a zip")) == [
        (FindingCode.ARCHIVE_CORRUPT, None)
    ]


def test_lying_size_header_is_caught_during_extraction(
    tmp_path: Path, private_tmp: Path, pki: TestPki
) -> None:
    """The central directory claims 10 bytes; the stream holds more: refused, temp cleaned."""
    data = patch_headers(build_zip([("payload.bin", bytes(range(256)) * 8)]), central_size=10)
    found = refusal(load_zip(tmp_path, data))
    assert found == [(FindingCode.ARCHIVE_CORRUPT, "payload.bin")]
    assert list(private_tmp.iterdir()) == []


def test_several_refusals_are_all_named(tmp_path: Path, private_tmp: Path) -> None:
    data = build_zip(
        [("../a", b"x"), ("/b", b"y"), (symlink_info("c"), b"/etc"), ("ok.txt", b"fine")]
    )
    assert refusal(load_zip(tmp_path, data)) == [
        (FindingCode.PARENT_PATH, "../a"),
        (FindingCode.ABSOLUTE_PATH, "/b"),
        (FindingCode.LINK, "c"),
    ]


def snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def test_malicious_zip_writes_nothing_outside_the_private_folder(
    tmp_path: Path, private_tmp: Path, pki: TestPki
) -> None:
    """Canary: names aimed at the parent folders and at an absolute path never appear."""
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    canary = tmp_path / "canary.txt"
    canary.write_text("untouched")
    folder = make_bundle(tmp_path / "src", pki)
    good = zip_folder(folder, tmp_path / "good.zip").read_bytes()
    with zipfile.ZipFile(io.BytesIO(good)) as src:
        members: list[tuple[str | zipfile.ZipInfo, bytes]] = [
            (i.filename, src.read(i)) for i in src.infolist()
        ]
    members += [
        ("../../canary.txt", b"overwritten"),
        ("../../../escaped.txt", b"escaped"),
        (str(tmp_path / "absolute.txt"), b"absolute"),
        (symlink_info("certs/link"), str(canary).encode()),
    ]
    before = snapshot(tmp_path)
    path = work / "evil.zip"
    path.write_bytes(build_zip(members))
    bundle = load_bundle(path, as_of=AS_OF)
    assert not bundle.usable
    assert snapshot(tmp_path) == before | {"work/deep/evil.zip"}
    assert canary.read_text() == "untouched"
    assert not (tmp_path / "absolute.txt").exists()
    assert not (tmp_path.parent / "escaped.txt").exists()
    assert list(private_tmp.iterdir()) == []

    # and a good zip is extracted only into the private folder, which is then removed
    bundle = load_bundle(tmp_path / "good.zip", as_of=AS_OF)
    assert bundle.usable and bundle.findings == ()
    assert list(private_tmp.iterdir()) == []
    assert snapshot(tmp_path) == before | {"work/deep/evil.zip"}


@pytest.mark.parametrize(
    "members",
    [
        [("a", b"file"), ("a/b", b"under a file")],
        [("x" * 300 + "/f.txt", b"name too long")],
        [("d/" + "y" * 300, b"name too long")],
    ],
)
def test_unextractable_layouts_are_refused_not_crashing(
    tmp_path: Path, private_tmp: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]
) -> None:
    found = refusal(load_zip(tmp_path, build_zip(members)))
    assert [code for code, _ in found] == [FindingCode.ARCHIVE_CORRUPT]
    assert list(private_tmp.iterdir()) == []
