"""The wheel works away from the checkout: built, installed in a fresh venv, and the demo run
from an empty folder (exit 0, sealed reports that verify, no path into the checkout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.loopback, pytest.mark.notebook]


def _run(command: list[str], cwd: Path, env: dict[str, str], timeout: int) -> str:
    proc = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, f"{command}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_wheel_installs_and_runs_the_demo_from_an_empty_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["HOME"] = str(tmp_path / "home")
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)],
        tmp_path,
        env,
        600,
    )
    (wheel,) = wheels.glob("auditlib-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in (
        "auditlib/_notebooks/audit_report.ipynb",
        "auditlib/_templates/report.html.j2",
        "auditlib/_templates/report.typ",
        "auditlib/_data/registry.yaml",
        "auditlib/_data/checkpoints_demo.xlsx",
        "auditlib/_data/pki/ca/test-ac-racine-igc-sante-elementaire.pem",
        "auditlib/profiles/anssi-tls-v1.2.yaml",
    ):
        assert shipped in names, shipped
    assert not [n for n in names if "ca-private" in n]  # the demo CA's keys stay out

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, 120)
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(wheel)], tmp_path, env, 1200)

    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([str(python), "-c", "import auditlib; print(auditlib.__file__)"], empty, env, 60)
    assert where.startswith(str(venv)), where

    out = _run([str(venv / "bin" / "auditlib"), "demo", "--output", "X"], empty, env, 900)
    assert "Done in" in out
    signed = sorted((empty / "X").glob("*/report.signed.pdf"))
    assert len(signed) >= 5, out[-3000:]
    for record in (empty / "X").glob("*/findings.json"):
        text = record.read_text("utf-8")
        assert str(REPO) not in text, record
        assert json.loads(text)["bottom_line"]
    # exit 0: every sealed report verifies against the trust folder the demo names
    _run(
        [str(venv / "bin" / "auditlib"), "verify", *map(str, signed), "--ca-dir", "X/pki/trust"],
        empty,
        env,
        300,
    )
