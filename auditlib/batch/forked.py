"""Run an audit notebook in a fork of a warm worker: no kernel, no messages (issue 22).

The papermill path costs, per audit, a kernel (a process forked from a pre-imported
template, then ipykernel's start), a ZMQ conversation for every cell and output, and a
save of the whole notebook before and after every cell. This executor keeps what
papermill does to the notebook and drops the rest:

- papermill itself parameterises the notebook and fills its metadata (`prepare_only`),
  and its `NotebookExecutionManager` times every cell (same `papermill` metadata);
- the worker has imported what the notebook needs and built an IPython shell once; each
  audit runs in a `fork()` of it: a fresh process, so a fresh namespace and no state
  carried from one audit to the next (nothing to reset, nothing to prove clean), and a
  crash or a hung cell takes down only that audit;
- the child runs each code cell in that IPython shell (same display formatters as a
  kernel's) and records what a kernel would have sent as outputs: `display_data` (with
  display-id updates), `execute_result`, `stream` and `error`, then writes the executed
  notebook once; papermill's `raise_for_execution_errors` then marks a failure exactly as
  after a kernel run.

`execute_forked` is the whole interface; `auditlib.batch.runner` calls it in its workers.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gc
import io
import json
import os
import platform
import select
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from auditlib.batch.kernel_template import NOTEBOOK_MODULES, die_with_parent
from auditlib.errors import BatchError
from auditlib.report import typeset

WARM_MODULES = (
    *NOTEBOOK_MODULES,
    "papermill",
    "nbformat",
    "jinja2",
    "openpyxl",
    "docx",
    "jsonschema",
    "fastjsonschema",
    "pandas.core.reshape.reshape",
    "openpyxl.packaging.extended",
    # jsonschema's format checkers import these on first use (optional: absent is fine)
    "arrow",
    "fqdn",
    "idna",
    "isoduration",
    "rfc3339_validator",
    "rfc3986_validator",
    "uri_template",
    "webcolors",
)
"""What the audit notebook imports (the kernel template's list), and what it imports
lazily, imported once per worker before any fork."""

CHILD_FAILED = 70  # the child could not run the notebook at all (exit status)


class ForkedExecutionError(BatchError):
    """The forked notebook process died or could not run the notebook."""


class CellTimeoutError(BatchError, TimeoutError):
    """A cell ran longer than the batch's execution timeout."""


_shell: Any = None


def prepare_worker() -> None:
    """Import what the notebook needs and build the IPython shell, once per worker."""
    global _shell
    if _shell is not None:
        return
    import importlib

    for name in WARM_MODULES:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    from traitlets.config import Config

    from auditlib.report.text import LANGUAGES
    from auditlib.report.writer import report_template

    for language in LANGUAGES:
        report_template(language)  # compiled once here, not once per audit
    config = Config()
    config.HistoryManager.enabled = False  # no sqlite file, no history thread
    _shell = _capturing_shell_class().instance(config=config)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _jsonable(bundle: dict[str, Any] | None) -> dict[str, Any]:
    """A MIME bundle as a kernel sends it: binary data base64-encoded."""
    out: dict[str, Any] = {}
    for key, value in (bundle or {}).items():
        if isinstance(value, bytes | bytearray):
            out[key] = base64.b64encode(value).decode("ascii")
        elif isinstance(value, dict):
            out[key] = _jsonable(value)
        else:
            out[key] = value
    return out


class _Outputs:
    """The outputs of the cell being run, and every output shown with a display id."""

    def __init__(self) -> None:
        self.cell: list[dict[str, Any]] = []
        self.by_display_id: dict[str, list[dict[str, Any]]] = {}
        self.clear_on_next = False

    def add(self, output: dict[str, Any]) -> dict[str, Any]:
        """Keep `output` (as a notebook node: the very object the notebook will hold, so a
        later display update reaches it); a stream continues the previous one."""
        import nbformat

        if self.clear_on_next:
            self.cell.clear()
            self.clear_on_next = False
        last = self.cell[-1] if self.cell else None
        if (
            output["output_type"] == "stream"
            and last is not None
            and last["output_type"] == "stream"
            and last["name"] == output["name"]
        ):
            last["text"] += output["text"]
            return last
        node: dict[str, Any] = nbformat.from_dict(output)  # type: ignore[no-untyped-call]
        self.cell.append(node)
        return node


_outputs = _Outputs()


def _capturing_shell_class() -> type[Any]:
    from IPython.core.displayhook import DisplayHook
    from IPython.core.displaypub import DisplayPublisher
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets import Type

    class Publisher(DisplayPublisher):
        def publish(
            self,
            data: dict[str, Any],
            metadata: dict[str, Any] | None = None,
            source: Any = None,
            *,
            transient: dict[str, Any] | None = None,
            update: bool = False,
            **kwargs: Any,
        ) -> None:
            display_id = (transient or {}).get("display_id")
            if update and display_id:
                for shown in _outputs.by_display_id.get(display_id, []):
                    shown["data"] = _jsonable(data)
                    shown["metadata"] = _jsonable(metadata)
                return
            output = {
                "output_type": "display_data",
                "data": _jsonable(data),
                "metadata": _jsonable(metadata),
            }
            node = _outputs.add(output)
            if display_id:
                _outputs.by_display_id.setdefault(display_id, []).append(node)

        def clear_output(self, wait: bool = False) -> None:
            if wait:
                _outputs.clear_on_next = True
            else:
                _outputs.cell.clear()

    class Hook(DisplayHook):
        def start_displayhook(self) -> None:
            self._bundle: tuple[dict[str, Any], dict[str, Any]] = ({}, {})

        def write_output_prompt(self) -> None:
            pass

        def write_format_data(
            self, format_dict: dict[str, Any], md_dict: dict[str, Any] | None = None
        ) -> None:
            self._bundle = (format_dict, md_dict or {})

        def finish_displayhook(self) -> None:
            data, metadata = self._bundle
            _outputs.add(
                {
                    "output_type": "execute_result",
                    "data": _jsonable(data),
                    "metadata": _jsonable(metadata),
                    "execution_count": self.prompt_count,
                }
            )

    class Shell(InteractiveShell):
        display_pub_class = Type(Publisher)
        displayhook_class = Type(Hook)

        def _showtraceback(self, etype: Any, evalue: Any, stb: list[str]) -> None:
            _outputs.add(
                {
                    "output_type": "error",
                    "ename": str(etype.__name__),
                    "evalue": str(evalue),
                    "traceback": list(stb),
                }
            )

    return Shell


class _Stream(io.TextIOBase):
    """sys.stdout / sys.stderr of the child: each write becomes (part of) a stream output."""

    def __init__(self, name: str) -> None:
        self.name_ = name

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            _outputs.add({"output_type": "stream", "name": self.name_, "text": text})
        return len(text)


def _run_cells(nb: Any, timeout: int | None) -> None:
    """Run the code cells in order, as papermill's client does (stop at the first error)."""
    from papermill.engines import NotebookExecutionManager

    shell = _shell
    manager = NotebookExecutionManager(nb, output_path=None, log_output=False, progress_bar=False)
    manager.notebook_start()

    def on_alarm(signum: int, frame: Any) -> None:
        raise CellTimeoutError(
            f"A cell timed out while it was being executed, after {timeout} seconds."
        )

    signal.signal(signal.SIGALRM, on_alarm)
    try:
        for index, cell in enumerate(manager.nb.cells):
            manager.cell_start(cell, index)
            try:
                if cell.cell_type != "code":
                    continue
                execution: dict[str, str] = {"iopub.status.busy": _now()}
                execution["iopub.execute_input"] = _now()
                _outputs.cell = []
                if timeout:
                    signal.alarm(timeout)
                try:
                    result = shell.run_cell(cell.source, store_history=True, cell_id=cell.get("id"))
                finally:
                    signal.alarm(0)
                    sys.stdout.flush()
                execution["shell.execute_reply"] = _now()
                execution["iopub.status.idle"] = _now()
                cell.execution_count = shell.execution_count - 1
                cell.outputs = list(_outputs.cell)
                cell.metadata["execution"] = execution
                if not result.success:
                    manager.cell_exception(cell, cell_index=index)
                    break
            finally:
                manager.cell_complete(cell, cell_index=index)
    finally:
        manager.notebook_complete()
    nb.metadata.setdefault("language_info", {})["version"] = platform.python_version()


def _child(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    cwd: str | None,
    timeout: int | None,
    report: int,
) -> int:
    """In the forked process: prepare, run, write; tell the parent how it went."""
    import papermill as pm
    from papermill.iorw import write_ipynb

    status: dict[str, Any] = {"ok": True}
    try:
        nb = pm.execute_notebook(
            str(notebook),
            str(output),
            parameters=parameters,
            prepare_only=True,
            progress_bar=False,
            log_output=False,
        )
        if cwd:
            os.chdir(cwd)
        sys.stdout, sys.stderr = _Stream("stdout"), _Stream("stderr")
        try:
            _run_cells(nb, timeout)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        write_ipynb(nb, str(output))
    except BaseException as exc:  # the parent reports it; nothing may escape a fork
        status = {
            "ok": False,
            "error_name": type(exc).__name__,
            "message": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
        }
    with contextlib.suppress(OSError):
        os.write(report, json.dumps(status).encode("utf-8"))
    return 0 if status["ok"] else CHILD_FAILED


def execute_forked(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    *,
    cwd: str | None = None,
    timeout: int | None = None,
    grace: float = 60.0,
) -> Any:
    """Execute `notebook` into `output` in a fork of this (warm) process; return the
    executed notebook. `timeout`: seconds per cell (the child's alarm); the child is
    killed if it has not finished `timeout` x (code cells + 2) + `grace` seconds after
    the fork (a cell blocked where the alarm cannot reach it). Raises papermill's
    `PapermillExecutionError` for a failing cell (the notebook saved with papermill's error
    banner), `ForkedExecutionError` when the child died, hung or could not run the
    notebook, or when this process may not fork (threads)."""
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines
    from papermill.execute import raise_for_execution_errors

    if typeset.has_compiled() or threading.active_count() > 1:
        # a fork keeps only the calling thread: a lock another Python thread held, or
        # Typst's thread pool (this process laid out a PDF), would hang the child for ever
        raise ForkedExecutionError(
            f"cannot fork a notebook from this process: it runs "
            f"{threading.active_count()} Python threads"
            + (" and has laid out a PDF (Typst's threads)" if typeset.has_compiled() else "")
            + ": use the batch's workers, or --executor kernel"
        )
    prepare_worker()
    # Objects the worker holds go to the permanent generation: the child's garbage
    # collector then never walks them, so it does not copy the worker's whole heap page by
    # page (copy-on-write); measured: the assessment 0.26 -> 0.04 CPU-s in the child.
    gc.freeze()
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    worker = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = CHILD_FAILED
        try:
            # a fork does not inherit the worker's death signal: the child asks for its own,
            # so a killed batch (worker killed in turn) leaves no notebook running
            die_with_parent(worker)
            os.close(read_end)
            code = _child(notebook, output, parameters, cwd, timeout, write_end)
        finally:
            os._exit(code)
    os.close(write_end)
    cells = len(_code_cells(notebook)) if timeout else 0
    deadline = None if not timeout else time.monotonic() + timeout * (cells + 2) + grace
    try:
        report = _read_all(read_end, deadline)
    except TimeoutError:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise ForkedExecutionError(
            f"the notebook process did not finish within {timeout} s per cell "
            f"({cells} code cells): killed"
        ) from None
    finally:
        os.close(read_end)
    _, wait_status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(wait_status):
        raise ForkedExecutionError(
            f"the notebook process was killed by signal {os.WTERMSIG(wait_status)} "
            f"({signal.Signals(os.WTERMSIG(wait_status)).name})"
        )
    status = json.loads(report.decode("utf-8")) if report else {}
    if not status.get("ok"):
        raise ForkedExecutionError(
            f"{status.get('error_name', 'error')}: "
            f"{status.get('message', 'the notebook process ended without a report')}"
        )
    # the child wrote it with nbformat: read back without validating it again
    raw = json.loads(output.read_text(encoding="utf-8"))
    nb = rejoin_lines(nbformat.from_dict(raw))  # type: ignore[no-untyped-call]
    raise_for_execution_errors(nb, str(output))
    return nb


def _read_all(fd: int, deadline: float | None) -> bytes:
    """Everything the child writes until it exits; TimeoutError past `deadline`."""
    chunks: list[bytes] = []
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            raise TimeoutError
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _code_cells(notebook: Path) -> list[Any]:
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return []
    return [c for c in cells if isinstance(c, dict) and c.get("cell_type") == "code"]
