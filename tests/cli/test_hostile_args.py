"""Hostile command lines (issue 16): every one used to end in a traceback (exit 1) or to
destroy what sat at an output path; each is now exit 2 with one line on stderr (the
traceback only with `--debug`), and nothing but a regular file is ever replaced."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from auditlib.cli import main
from auditlib.cli.app import error_line
from auditlib.testing.pki import TestPki
from auditlib.tls.scan import save_observations

DATA = Path(__file__).resolve().parents[2] / "data"
REGISTRY = str(DATA / "registry.yaml")
WORKBOOK = str(DATA / "checkpoints_demo.xlsx")


def one_error_line(capsys: pytest.CaptureFixture[str], code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope="module")
def signing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from pypdf import PdfWriter

    folder = tmp_path_factory.mktemp("sign")
    pki = TestPki.create()
    seal = pki.issue("EDC PSC AUDIT ORG SIGN", "sign", organisation="CABINET")
    p12 = folder / "seal.p12"
    p12.write_bytes(seal.pkcs12(b"pw", [pki.issuing.certificate]))
    pdf = PdfWriter()
    pdf.add_blank_page(width=595, height=842)
    report = folder / "report.pdf"
    with report.open("wb") as handle:
        pdf.write(handle)
    return p12, report


def test_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    line = one_error_line(capsys, main(["scan", "127.0.0.1:99999"]))
    assert "99999" in line


def test_unclosed_ipv6_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    one_error_line(capsys, main(["scan", "[::1:443"]))


def test_timestamp_url_unclosed_ipv6_and_credentials_never_echoed(
    signing: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p12, report = signing
    monkeypatch.setenv("AUDITLIB_TEST_SEAL_PASS", "pw")
    code = main(
        [
            "sign",
            "--p12",
            str(p12),
            "--pass-env",
            "AUDITLIB_TEST_SEAL_PASS",
            "--timestamp-url",
            "https://bob:s3cret@[::1/",
            "--output-dir",
            str(tmp_path),
            str(report),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "s3cret" not in err and "bob" not in err and "***@" in err


@pytest.mark.parametrize("where", ["folder", "missing-parent"])
def test_events_path_that_is_a_folder_or_has_no_parent(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path if where == "folder" else tmp_path / "absent" / "events.csv"
    code = main(["plan", "--registry", REGISTRY, "--events", str(events)])
    assert str(events) in one_error_line(capsys, code)


def test_csv_field_over_the_csv_module_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.csv"
    events.write_text(
        "date,provider,event,severity\n2026-11-01,medicab," + "x" * 140_000 + ",high\n",
        encoding="utf-8",
    )
    argv = ["plan", "--registry", REGISTRY, "--events", str(events)]
    one_error_line(capsys, main(argv))
    # --debug: the same error, with the traceback before the one line
    assert main(["--debug", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("auditlib plan: error:")


def test_plan_as_of_the_last_day(capsys: pytest.CaptureFixture[str]) -> None:
    one_error_line(capsys, main(["plan", "--registry", REGISTRY, "--as-of", "9999-12-31"]))


@pytest.mark.parametrize("suffix", ["/x", "../x", "a/b", ""])
def test_sign_suffix_with_a_separator(
    suffix: str, signing: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    p12, report = signing
    code = main(["sign", "--p12", str(p12), f"--suffix={suffix}", str(report)])
    assert "--suffix" in one_error_line(capsys, code)


def test_sign_output_dir_that_is_a_file(
    signing: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p12, report = signing
    a_file = tmp_path / "file"
    a_file.write_text("keep me")
    code = main(["sign", "--p12", str(p12), "--output-dir", str(a_file), str(report)])
    assert "a folder is needed" in one_error_line(capsys, code)
    assert a_file.read_text() == "keep me"


def test_batch_output_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "audits"
    a_file.write_text("keep me")
    scans = tmp_path / "scans.json"
    scans.write_text("[]")
    argv = ["batch", "--registry", REGISTRY, "--checkpoints", WORKBOOK]
    code = main([*argv, "--scan-results", str(scans), "--output", str(a_file)])
    assert "a folder is needed" in one_error_line(capsys, code)
    assert a_file.read_text() == "keep me"


def test_bad_regex_in_a_workbook_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "layout.yaml"
    profile.write_text(
        "name: x\nheader_search_rows: 40\nfields: {}\nactors: {}\nphases: {}\n"
        'yes_values: []\nno_values: []\nlevel_pattern: "(N[1-4"\n',
        encoding="utf-8",
    )
    code = main(["checkpoints", WORKBOOK, "--profile", str(profile)])
    assert "bad regular expression" in one_error_line(capsys, code)


# --------------------------------------------------------------------------- outputs


def _special_outputs(tmp_path: Path) -> dict[str, Path]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    target = tmp_path / "target.txt"
    target.write_text("not to be replaced")
    link = tmp_path / "link"
    link.symlink_to(target)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    folder = tmp_path / "folder"
    folder.mkdir()
    return {"fifo": fifo, "link": link, "dangling": dangling, "folder": folder}


@pytest.mark.parametrize("kind", ["fifo", "link", "dangling", "folder", "device"])
def test_outputs_never_replace_anything_but_a_regular_file(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path("/dev/null") if kind == "device" else _special_outputs(tmp_path)[kind]
    before = os.lstat(path)
    code = main(["checkpoints", WORKBOOK, "--format", "csv", "--output", str(path)])
    assert "only a regular file is replaced" in one_error_line(capsys, code)
    after = os.lstat(path)
    assert (after.st_ino, stat.S_IFMT(after.st_mode)) == (
        before.st_ino,
        stat.S_IFMT(before.st_mode),
    )
    assert not (tmp_path / "nowhere").exists()
    if kind != "device":
        code = main(["scan", "--json", str(path), "127.0.0.1:1"])
        assert "only a regular file is replaced" in one_error_line(capsys, code)


def test_output_dash_is_stdout_and_a_regular_file_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["checkpoints", WORKBOOK, "--format", "summary", "--output", "-"]) == 0
    assert "Checkpoint grid" in capsys.readouterr().out
    assert not Path("-").exists()
    out = tmp_path / "grid.csv"
    out.write_text("old")
    assert main(["checkpoints", WORKBOOK, "--format", "csv", "--output", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("ref,requirement_id")


def test_error_line_hides_credentials_and_escapes() -> None:
    line = error_line("x", ValueError("GET https://u:p@host/ failed \x1b[2J\nsecond line"))
    assert line == "auditlib x: error: ValueError: GET https://***@host/ failed \\x1b[2J"


def test_terminal_escapes_in_bundle_file_names_are_printed_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.evidence.factory import AS_OF, make_bundle

    pki = TestPki.create(now=AS_OF, key=("ec", 256))
    folder = make_bundle(tmp_path / "b", pki)
    (folder / "evil\x1b]0;owned\x07\x1b[2J.txt").write_text("x")
    code = main(["evidence", str(folder), "--as-of", AS_OF.date().isoformat()])
    out = capsys.readouterr().out
    assert code == 1  # an unlisted file is a finding
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;owned\\x07\\x1b[2J.txt" in out


def test_batch_ledger_that_is_a_symbolic_link_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "audits"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / "ledger.jsonl").symlink_to(victim)
    scans = save_observations(tmp_path / "scans.json", [])
    argv = ["batch", "--registry", REGISTRY, "--checkpoints", WORKBOOK, "--as-of", "2026-11-28"]
    code = main([*argv, "--scan-results", str(scans), "--output", str(out)])
    assert "ledger.jsonl" in one_error_line(capsys, code)
    assert victim.read_text() == "keep me"
