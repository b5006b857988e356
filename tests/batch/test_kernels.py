"""Warm kernels (auditlib.batch.kernels, auditlib.batch.kernel_template): real kernels forked
from the template, run through papermill's Python API as the batch runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from auditlib.batch import kernels
from auditlib.batch.kernels import (
    KernelTemplate,
    TemplateError,
    WarmKernelManager,
    kernel_arguments,
)

pytestmark = pytest.mark.notebook


def notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def execute(source: Path, out: Path, warm: bool = True, **kwargs: object) -> nbformat.NotebookNode:
    engine = {"kernel_manager_class": WarmKernelManager} if warm else {}
    return pm.execute_notebook(
        str(source),
        str(out),
        kernel_name="python3",
        progress_bar=False,
        cwd=str(out.parent),
        iopub_timeout=60,  # nbclient's 4 s drops late outputs on a loaded machine
        **engine,
        **kwargs,
    )


def text_outputs(nb: nbformat.NotebookNode) -> list[str]:
    """The text/plain result of each code cell that has one."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "data" in output and "text/plain" in output["data"]:
                found.append(output["data"]["text/plain"])
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_kernel_arguments_only_for_this_interpreters_ipykernel() -> None:
    python = sys.executable
    assert kernel_arguments([python, "-m", "ipykernel_launcher", "-f", "c.json"]) == [
        "-f",
        "c.json",
    ]
    assert kernel_arguments(["/usr/bin/python3.9", "-m", "ipykernel_launcher", "-f", "c"]) is None
    assert kernel_arguments([python, "-m", "ir_kernel", "-f", "c.json"]) is None
    assert kernel_arguments([python, "script.py"]) is None
    assert kernel_arguments([]) is None


def test_warm_kernel_runs_a_notebook_like_a_cold_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITLIB_TEST_MARKER", "from-the-worker")
    source = notebook(
        tmp_path / "probe.ipynb",
        """
        import os, sys
        preloaded = "typst" in sys.modules and "auditlib.report.writer" in sys.modules
        parent = open(f"/proc/{os.getppid()}/cmdline", "rb").read().split(b"\\0")
        from auditlib.report import charts
        """,
        "os.environ.get('AUDITLIB_TEST_MARKER'), os.getcwd() == os.environ['PROBE_CWD'],"
        " sys.path[:2]",
        "charts.empty_figure('titre', 'rien à montrer')",
        "print('hello from the kernel'); 6 * 7",
        "preloaded, b'auditlib.batch.kernel_template' in parent",
    )
    monkeypatch.setenv("PROBE_CWD", str(tmp_path))
    warm = execute(source, tmp_path / "warm.ipynb")
    cold = execute(source, tmp_path / "cold.ipynb", warm=False)

    # same results, same kinds of outputs (the chart inline as SVG, the printed line)
    assert text_outputs(warm)[:3] == text_outputs(cold)[:3]
    marker_cwd_path = " ".join(text_outputs(warm)[0].split())
    assert marker_cwd_path.startswith("('from-the-worker', True, [")  # sys.path as cold
    assert text_outputs(warm)[2] == "42"
    for nb in (warm, cold):
        chart = nb.cells[2].outputs[0]
        assert chart["data"]["image/svg+xml"].startswith("<svg ")
        assert nb.cells[3].outputs[0]["text"] == "hello from the kernel\n"
    # and the warm one really was forked from the template, with the imports done
    assert text_outputs(warm)[3] == "(True, True)"
    assert text_outputs(cold)[3] == "(False, False)"


def test_each_notebook_has_a_fresh_kernel(tmp_path: Path) -> None:
    first = notebook(
        tmp_path / "first.ipynb",
        "import auditlib, os\nauditlib.LEFT_BEHIND = 1\nleaked = 'yes'\nos.getpid()",
    )
    second = notebook(
        tmp_path / "second.ipynb",
        "import auditlib, os\nhasattr(auditlib, 'LEFT_BEHIND'), 'leaked' in globals(), os.getpid()",
    )
    one = execute(first, tmp_path / "one.ipynb")
    two = execute(second, tmp_path / "two.ipynb")
    first_pid = int(text_outputs(one)[0])
    left, leaked, second_pid = text_outputs(two)[0].strip("()").split(", ")
    assert (left, leaked) == ("False", "False")
    assert int(second_pid) != first_pid
    assert not alive(first_pid)  # shut down, and reaped by the template


def test_a_failing_cell_and_a_dying_kernel_are_reported(tmp_path: Path) -> None:
    failing = notebook(tmp_path / "fail.ipynb", "x = 1", "raise ValueError('no luck')", "x")
    with pytest.raises(PapermillExecutionError) as info:
        execute(failing, tmp_path / "fail.out.ipynb")
    assert info.value.ename == "ValueError" and info.value.cell_index == 1
    assert (tmp_path / "fail.out.ipynb").is_file()

    dying = notebook(
        tmp_path / "die.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"
    )
    with pytest.raises(Exception) as died:
        execute(dying, tmp_path / "die.out.ipynb")
    assert "died" in str(died.value).lower() or type(died.value).__name__ == "DeadKernelError"

    # the template is unharmed: the next notebook runs
    ok = execute(notebook(tmp_path / "ok.ipynb", "1 + 1"), tmp_path / "ok.out.ipynb")
    assert text_outputs(ok) == ["2"]


def test_a_lost_template_is_replaced(tmp_path: Path) -> None:
    execute(notebook(tmp_path / "a.ipynb", "1"), tmp_path / "a.out.ipynb")
    template = kernels.shared_template()
    assert template is not None and template.alive
    template._process.kill()
    template._process.wait()
    ok = execute(notebook(tmp_path / "b.ipynb", "2"), tmp_path / "b.out.ipynb")
    assert text_outputs(ok) == ["2"]
    replacement = kernels.shared_template()
    assert replacement is not None and replacement is not template and replacement.alive


def test_a_template_that_cannot_start_falls_back_to_ordinary_kernels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(kernels, "TEMPLATE_MODULE", "auditlib.no_such_template")
    monkeypatch.setattr(kernels, "_template", None)
    monkeypatch.setattr(kernels, "_template_failed", False)
    with pytest.raises(TemplateError):
        KernelTemplate(timeout=30)
    source = notebook(
        tmp_path / "fallback.ipynb",
        "import os\nb'kernel_template' in open(f'/proc/{os.getppid()}/cmdline', 'rb').read()",
    )
    nb = execute(source, tmp_path / "fallback.out.ipynb")
    assert text_outputs(nb) == ["False"]
    assert "warm kernels unavailable" in caplog.text


def test_nothing_is_left_running_when_the_worker_goes(tmp_path: Path) -> None:
    """A worker that ran a warm notebook and then exits (or is killed) leaves no template
    and no kernel behind."""
    source = notebook(tmp_path / "w.ipynb", "import os\nos.getpid(), os.getppid()")
    script = textwrap.dedent(
        f"""
        import json, sys, papermill as pm
        from auditlib.batch.kernels import WarmKernelManager
        nb = pm.execute_notebook({str(source)!r}, {str(tmp_path / "w.out.ipynb")!r},
                                 kernel_name="python3", progress_bar=False,
                                 kernel_manager_class=WarmKernelManager)
        print(json.dumps(nb.cells[0].outputs[0]["data"]["text/plain"]), flush=True)
        if sys.argv[1] == "kill":
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    for how in ("exit", "kill"):
        run = subprocess.run(
            [sys.executable, "-c", script, how], capture_output=True, text=True, timeout=120
        )
        kernel_pid, template_pid = (int(x) for x in json.loads(run.stdout).strip("()").split(", "))
        deadline = time.monotonic() + 15
        while (alive(kernel_pid) or alive(template_pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(kernel_pid), how
        assert not alive(template_pid), how


def test_the_template_reports_a_broken_request(tmp_path: Path) -> None:
    template = KernelTemplate()
    try:
        with pytest.raises(TemplateError, match="argv"):
            template.launch(None, None, {})  # type: ignore[arg-type]
        assert template.alive
    finally:
        template.close()
    assert not template.alive


def test_signals_reach_the_forked_kernel_only(tmp_path: Path) -> None:
    template = KernelTemplate()
    try:
        pid = template.launch(["-c", "import time; time.sleep(60)"], None, dict(os.environ))
        process = kernels.ForkedProcess(template, pid)
        assert process.poll() is None
        process.terminate()
        assert process.wait(10) == -signal.SIGTERM
        assert template.alive
    finally:
        template.close()
