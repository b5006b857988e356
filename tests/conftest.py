"""Shared fixtures and settings for the whole suite."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA = REPO_ROOT / "data"

_JUPYTER_HOME: str | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Jupyter's runtime files, the IPython profile and matplotlib's cache go to a folder of
    this run, never to $HOME (kernels started by the tests inherit it). The kernelspecs in
    the venv's share/jupyter stay visible: JUPYTER_DATA_DIR is left alone."""
    global _JUPYTER_HOME
    _JUPYTER_HOME = tempfile.mkdtemp(prefix="auditlib-tests-jupyter-")
    for var in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        os.environ[var] = os.path.join(_JUPYTER_HOME, var.lower())


def pytest_unconfigure(config: pytest.Config) -> None:
    if _JUPYTER_HOME:
        shutil.rmtree(_JUPYTER_HOME, ignore_errors=True)
