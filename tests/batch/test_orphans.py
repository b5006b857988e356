"""kill -9 of a batch leaves nothing running (issue 16): its workers, their kernel templates,
the kernels and the multiprocessing resource tracker all go with it (parent-death signal
on the workers and the forked kernels, pipe watchdogs on the templates and the tracker)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from tests.batch.test_runner import PARAMETERS, make_world

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="/proc"),
]

ROOT = Path(__file__).resolve().parents[2]
GRACE = 5.0  # seconds the children have to go (the bound)
SLACK = 10.0  # on a loaded 2-core machine, never a flaky failure; still far below 100 s


def sleepy_notebook(path: Path, marker: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    sleep = nbformat.v4.new_code_cell(
        f"import pathlib, time\npathlib.Path({str(marker)!r}, provider_id).touch()\n"
        "time.sleep(600)\n"
    )
    nb.cells = [params, sleep]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def _ppid_and_state(pid: int) -> tuple[int, str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), fields[0]


def descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _ppid_and_state(int(entry.name))
            if info is not None:
                parents[int(entry.name)] = info[0]
    found: set[int] = set()
    frontier = {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        children -= found
        found |= children
        frontier = children
    return found


def alive(pid: int) -> bool:
    info = _ppid_and_state(pid)
    return info is not None and info[1] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


@pytest.mark.parametrize(
    ("executor", "warm"),
    [("fork", True), ("kernel", True), ("kernel", False)],
    ids=["forked", "warm-kernels", "cold-kernels"],
)
def test_children_exit_when_the_batch_is_killed(tmp_path: Path, executor: str, warm: bool) -> None:
    registry, _verdicts, _nb, workbook = make_world(tmp_path, ["beta"])
    marker = tmp_path / "started"
    marker.mkdir()
    notebook = sleepy_notebook(tmp_path / "sleepy.ipynb", marker)
    driver = textwrap.dedent(
        f"""
        import datetime as dt
        from pathlib import Path
        from auditlib.batch.runner import BatchSettings, run_batch
        from tests.batch.test_runner import planned
        settings = BatchSettings(
            output_dir=Path({str(tmp_path / "out")!r}),
            registry_path=Path({str(registry)!r}),
            checkpoints_path=Path({str(workbook)!r}),
            notebook_path=Path({str(notebook)!r}),
            workers=1,
            warm_kernels={warm!r},
            executor={executor!r},
            scan_results_path=None,
        )
        run_batch([planned("beta")], settings, observations=[])
        """
    )
    batch = subprocess.Popen(
        [sys.executable, "-c", driver],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 180
        while not list(marker.iterdir()):  # the kernel is running its cell
            assert batch.poll() is None, "the batch ended before its notebooks started"
            assert time.monotonic() < deadline, "the notebooks did not start"
            time.sleep(0.2)
        children = descendants(batch.pid)
        names = " | ".join(cmdline(pid) for pid in children)
        assert "resource_tracker" in names and "multiprocessing" in names
        assert ("kernel_template" in names) is (warm and executor == "kernel")
        assert ("ipykernel" in names) is (executor == "kernel" and not warm)
        os.kill(batch.pid, signal.SIGKILL)
        batch.wait()
        deadline = time.monotonic() + GRACE + SLACK
        while (left := [pid for pid in children if alive(pid)]) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not left, "still running after the batch's death: " + "; ".join(
            f"{pid} {cmdline(pid)[:100]}" for pid in left
        )
    finally:  # whatever happened, nothing this test started keeps running
        children |= descendants(batch.pid) if batch.poll() is None else set()
        if batch.poll() is None:
            batch.kill()
            batch.wait()
        for pid in children:
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
