"""The forked executor: a notebook run in a fork of the worker, without a kernel (issue 22).

Its executed notebook must be the kernel's: same cells, outputs, counts and metadata."""

from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import pytest
from papermill.exceptions import PapermillExecutionError

from auditlib.batch import forked
from auditlib.batch.forked import ForkedExecutionError
from auditlib.tls.scan import save_observations

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
NOTEBOOK = ROOT / "notebooks" / "audit_report.ipynb"


def _in_worker(notebook: Path, output: Path, parameters: dict[str, Any], **options: Any) -> Any:
    """execute_forked in a clean worker process (this one may hold threads: a test that
    laid out a PDF leaves Typst's pool behind); what it raised, as a plain value."""
    try:
        return forked.execute_forked(notebook, output, parameters, **options)
    except PapermillExecutionError as exc:
        return ("PapermillExecutionError", exc.ename, exc.evalue, exc.cell_index)
    except ForkedExecutionError as exc:
        return ("ForkedExecutionError", str(exc))


@pytest.fixture(scope="module")
def worker() -> Iterator[cf.ProcessPoolExecutor]:
    """One worker for the module, started as the batch starts its own (spawn)."""
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


def execute_forked(
    worker: cf.ProcessPoolExecutor,
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    **options: Any,
) -> Any:
    result = worker.submit(_in_worker, notebook, output, parameters, **options).result()
    if isinstance(result, tuple) and result[0] == "PapermillExecutionError":
        raise PapermillExecutionError(result[3], None, "", result[1], result[2], [result[2]])
    if isinstance(result, tuple) and result[0] == "ForkedExecutionError":
        raise ForkedExecutionError(result[1])
    return result


def notebook(tmp_path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("name = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, *(nbformat.v4.new_code_cell(s) for s in sources)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    return path


def comparable(nb: Any, folder: Path) -> dict[str, Any]:
    """The notebook without what differs from run to run: times, the output folder."""
    text = json.dumps(nb, sort_keys=True).replace(str(folder), "<out>")
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "<time>", text)
    text = re.sub(r'"duration": [0-9.e-]+', '"duration": 0', text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "<time>", text)  # the report's stamp
    record: dict[str, Any] = json.loads(text)
    for cell in record["cells"]:
        cell.pop("id", None)
    return record


@pytest.mark.notebook
def test_the_audit_notebook_forked_is_the_kernel_one(
    tmp_path: Path, worker: cf.ProcessPoolExecutor
) -> None:
    scans = save_observations(tmp_path / "scans.json", [])
    results = {}
    for name in ("kernel", "forked"):
        folder = tmp_path / name
        folder.mkdir()
        parameters = {
            "provider_id": "medicab",
            "audit_date": "2026-11-28",
            "registry_path": str(DATA / "registry.yaml"),
            "checkpoints_path": str(DATA / "checkpoints_demo.xlsx"),
            "scan_results_path": str(scans),
            "ca_dir": str(DATA / "pki" / "ca"),
            "output_dir": str(folder),
        }
        output = folder / "audit_report.ipynb"
        if name == "kernel":
            pm.execute_notebook(
                str(NOTEBOOK),
                str(output),
                parameters=parameters,
                cwd=str(folder),
                progress_bar=False,
                iopub_timeout=60,  # nbclient's 4 s drops late outputs on a loaded machine
            )
        else:
            execute_forked(worker, NOTEBOOK, output, parameters, cwd=str(folder))
        results[name] = comparable(nbformat.read(str(output), as_version=4), folder)
        assert (folder / "report.pdf").is_file() and (folder / "findings.json").is_file()
    kernel, forked = results["kernel"], results["forked"]
    assert kernel["metadata"] == forked["metadata"]
    assert len(kernel["cells"]) == len(forked["cells"])
    for ours, theirs in zip(forked["cells"], kernel["cells"], strict=True):
        assert ours == theirs
    # the shown outputs are there: tables, charts, the links to the written files
    types = {o["output_type"] for c in forked["cells"] for o in c.get("outputs", [])}
    assert {"display_data", "execute_result", "stream"} <= types


def test_a_failing_cell_is_reported_as_papermill_reports_it(
    tmp_path: Path, worker: cf.ProcessPoolExecutor
) -> None:
    path = notebook(tmp_path, "print('before')", "raise ValueError('mauvais ' + name)", "1 + 1")
    output = tmp_path / "out.ipynb"
    with pytest.raises(PapermillExecutionError) as caught:
        execute_forked(worker, path, output, {"name": "lot"})
    assert caught.value.ename == "ValueError" and caught.value.evalue == "mauvais lot"
    saved = nbformat.read(str(output), as_version=4)
    # papermill's banner and anchor cells, the error output, the next cell never run
    assert "papermill-error-cell-tag" in saved.cells[0].metadata["tags"]
    code = [c for c in saved.cells if c.cell_type == "code"]
    assert code[2].outputs[0]["text"] == "before\n"
    assert code[3].outputs[0]["output_type"] == "error"
    assert code[4].execution_count is None and code[4].outputs == []
    assert saved.metadata.papermill["exception"] is True


def test_a_cell_over_the_timeout_fails_with_the_notebook_saved(
    tmp_path: Path, worker: cf.ProcessPoolExecutor
) -> None:
    path = notebook(tmp_path, "import time\ntime.sleep(30)")
    output = tmp_path / "out.ipynb"
    with pytest.raises(PapermillExecutionError, match="timed out"):
        execute_forked(worker, path, output, {}, timeout=1)
    assert output.is_file()


def test_a_child_killed_by_a_signal_is_reported(
    tmp_path: Path, worker: cf.ProcessPoolExecutor
) -> None:
    path = notebook(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    with pytest.raises(ForkedExecutionError, match=r"killed by signal 9 \(SIGKILL\)"):
        execute_forked(worker, path, tmp_path / "out.ipynb", {})


def test_each_notebook_starts_from_a_fresh_process(
    tmp_path: Path, worker: cf.ProcessPoolExecutor
) -> None:
    """Nothing one audit does (globals, module state) reaches the next one."""
    path = notebook(
        tmp_path,
        "import auditlib\nprint(hasattr(auditlib, 'leak'), 'leak' in globals())\n"
        "auditlib.leak = leak = name",
    )
    outputs = []
    for run in ("a", "b"):
        done = execute_forked(worker, path, tmp_path / f"{run}.ipynb", {"name": run})
        outputs.append(done.cells[2].outputs[0]["text"])
    assert outputs == ["False False\n", "False False\n"]
    import auditlib

    assert not hasattr(auditlib, "leak")


def test_display_updates_reach_the_output_they_update(
    tmp_path: Path, worker: cf.ProcessPoolExecutor
) -> None:
    path = notebook(
        tmp_path,
        "from IPython.display import display, DisplayHandle\nh = DisplayHandle()\n"
        "h.display('avant')\nprint('a'); print('b')",
        "h.update('après')\n'résultat'",
    )
    done = execute_forked(worker, path, tmp_path / "out.ipynb", {"name": "z"})
    first, second = done.cells[2], done.cells[3]
    assert [o["output_type"] for o in first.outputs] == ["display_data", "stream"]
    assert first.outputs[0]["data"]["text/plain"] == "'après'"
    assert first.outputs[1]["text"] == "a\nb\n"  # one stream output, as a kernel buffers it
    assert second.outputs[0]["output_type"] == "execute_result"
    assert second.outputs[0]["execution_count"] == second.execution_count == 4


def test_a_process_with_threads_is_never_forked(tmp_path: Path) -> None:
    """A fork keeps only the calling thread: a pool another thread owned would hang the
    child for ever. The executor refuses, naming the way out."""
    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        with pytest.raises(
            ForkedExecutionError,
            match=r"cannot fork a notebook from this process: it runs \d+ Python threads",
        ):
            forked.execute_forked(notebook(tmp_path, "1"), tmp_path / "out.ipynb", {})
    finally:
        stop.set()
        helper.join()


def test_a_child_that_hangs_past_every_cell_timeout_is_killed(
    tmp_path: Path, worker: cf.ProcessPoolExecutor
) -> None:
    """A cell blocked where Python's alarm cannot interrupt it (here: signals ignored)."""
    path = notebook(
        tmp_path,
        "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\ntime.sleep(600)",
    )
    with pytest.raises(ForkedExecutionError, match="did not finish within 1 s per cell"):
        execute_forked(worker, path, tmp_path / "out.ipynb", {}, timeout=1, grace=1)
