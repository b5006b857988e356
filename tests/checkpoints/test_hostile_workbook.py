"""Hostile checkpoint workbooks (issue 16): a zip bomb is refused from the zip's central
directory, before openpyxl decompresses anything (a 3 MB xlsx used to take 3.3 GB)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from auditlib.checkpoints import reader
from auditlib.checkpoints.reader import check_xlsx_archive, load_checkpoints
from auditlib.errors import ChecklistError

WORKBOOK = Path(__file__).resolve().parents[2] / "data" / "checkpoints_demo.xlsx"


def with_extra_part(target: Path, name: str, size: int) -> Path:
    """The demo workbook plus one highly compressible part of `size` bytes."""
    with zipfile.ZipFile(WORKBOOK) as src, zipfile.ZipFile(target, "w") as out:
        for member in src.infolist():
            out.writestr(member, src.read(member))
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with out.open(info, "w", force_zip64=True) as part:
            chunk = b" " * (1024 * 1024)
            for _ in range(size // len(chunk)):
                part.write(chunk)
    with zipfile.ZipFile(target) as archive:
        assert archive.getinfo(name).compress_size < size // 100  # a real bomb: tiny on disk
    return target


def test_sheet_bomb_is_refused_before_openpyxl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = with_extra_part(tmp_path / "bomb.xlsx", "xl/worksheets/sheet9.xml", 8 * 1024 * 1024)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("openpyxl was reached")

    monkeypatch.setattr(reader, "load_workbook", never)
    with pytest.raises(ChecklistError, match=r"sheet9\.xml is compressed \d+:1"):
        load_checkpoints(bomb)


def test_declared_sizes_over_the_limits_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = with_extra_part(tmp_path / "big.xlsx", "xl/media/pad.bin", 3 * 1024 * 1024)
    monkeypatch.setattr(reader, "XLSX_MAX_RATIO", 1e9)
    monkeypatch.setattr(reader, "XLSX_MAX_MEMBER_BYTES", 2 * 1024 * 1024)
    with pytest.raises(ChecklistError, match="uncompresses to"):
        load_checkpoints(big)
    monkeypatch.setattr(reader, "XLSX_MAX_MEMBER_BYTES", 4 * 1024 * 1024)
    monkeypatch.setattr(reader, "XLSX_MAX_TOTAL_BYTES", 3 * 1024 * 1024)
    with pytest.raises(ChecklistError, match="the workbook uncompresses to"):
        load_checkpoints(big)
    monkeypatch.setattr(reader, "XLSX_MAX_MEMBERS", 3)
    with zipfile.ZipFile(big) as archive, pytest.raises(ChecklistError, match="parts"):
        check_xlsx_archive(big, archive)


def test_the_demo_workbook_passes_the_pre_check() -> None:
    with zipfile.ZipFile(WORKBOOK) as archive:
        check_xlsx_archive(WORKBOOK, archive)
    assert len(load_checkpoints(WORKBOOK)) > 0
