"""Hostile inputs to the core (issue 16): strict YAML values, registry ids, output paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from auditlib.errors import OutputPathError, RegistryError, YamlInputError
from auditlib.files import check_output_dir, check_output_file, printable, redact, write_atomic
from auditlib.registry import load_registry
from auditlib.yamlio import parse_yaml_text

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("d: 2026-02-30\n", "day is out of range"),
        ("n: !!int ²\n", "invalid int"),
        ("n: " + "9" * 5000 + "\n", "number too long"),
        ("n: !!float x\n", "invalid float"),
        ("a: &x [1]\nb: *x\n", "aliases are not allowed"),
        ("a: &x 1\nb: *x\n", "aliases are not allowed"),
        ("a: " + "[" * 300 + "]" * 300 + "\n", "nesting"),
    ],
)
def test_yaml_values_are_errors_with_their_line(text: str, message: str) -> None:
    with pytest.raises(YamlInputError, match=message) as info:
        parse_yaml_text(text.encode(), "x.yaml")
    assert "x.yaml" in str(info.value)


def test_ordinary_yaml_values_still_load() -> None:
    import datetime as dt

    value = parse_yaml_text(b"d: 2026-02-28\nn: 42\nf: 1.5\nb: true\ns: '2026-02-30'\n", "x")
    assert value == {"d": dt.date(2026, 2, 28), "n": 42, "f": 1.5, "b": True, "s": "2026-02-30"}


def test_provider_id_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    text = (DATA / "registry.yaml").read_text(encoding="utf-8")
    text = text.replace("- id: medicab\n", '- id: "medicab\\n"\n', 1)
    text = text.replace("evidence_bundle: bundles/", f"evidence_bundle: {DATA}/bundles/")
    registry = tmp_path / "registry.yaml"
    registry.write_text(text, encoding="utf-8")
    with pytest.raises(RegistryError, match=r"id: .*got 'medicab\\n'"):
        load_registry(registry)


def test_output_rule(tmp_path: Path) -> None:
    regular = tmp_path / "out.txt"
    assert check_output_file(regular) == regular  # absent: fine
    write_atomic(regular, "one")
    write_atomic(regular, "two")  # a regular file is replaced
    assert regular.read_text() == "two"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(regular)
    for path in (fifo, link, tmp_path, Path("/dev/null")):
        with pytest.raises(OutputPathError, match="only a regular file"):
            write_atomic(path, "x")
    assert link.is_symlink() and regular.read_text() == "two"
    with pytest.raises(OutputPathError, match="a folder is needed"):
        check_output_dir(regular)
    with pytest.raises(OutputPathError, match="cannot be created"):
        write_atomic(regular / "sub" / "file.txt", "x")
    assert check_output_dir(tmp_path / "new" / "folder") == tmp_path / "new" / "folder"


def test_printable_and_redact() -> None:
    assert printable("a\x1b]0;pwned\x07b\r\n\tc\u202e") == "a\\x1b]0;pwned\\x07b\\r\n\tc\\u202e"
    assert redact("see https://user:p@ss@tsa.example/x") == "see https://***@tsa.example/x"
