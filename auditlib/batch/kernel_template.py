"""The warm kernel template (`python -m auditlib.batch.kernel_template`): a process that imports
what the audit notebook needs once, then forks one fresh kernel per request.

It holds no audit data, opens no socket and starts no thread before forking, so each
kernel inherits exactly what its own imports would have produced. `auditlib.batch.kernels`
drives it over a pipe, one JSON object per line:

- requests on stdin: ``{"id": N, "argv": [...], "cwd": "..." | null, "env": {...}}``;
- replies on stdout: ``{"ready": PID}`` once the imports are done, ``{"id": N, "pid": PID}``
  for each kernel started, ``{"exited": PID, "code": CODE}`` when a kernel ends, and
  ``{"error": "..."}`` if the template cannot serve.

When its stdin closes (the worker that owns it has gone), it stops every kernel it
started and exits. Each forked kernel also asks Linux for SIGKILL when the template dies
(`die_with_parent`), and polls its parent as ipykernel does elsewhere.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib
import json
import os
import selectors
import signal
import sys
import traceback
from pathlib import Path
from typing import IO, Any

# ipykernel's IPKernelApp sets this unless the user chose a backend; matplotlib reads it
# once, when it is first imported, so it must be set before the imports below.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

NOTEBOOK_MODULES = (
    "pandas",
    "typst",
    "auditlib.audit.run",
    "auditlib.report.charts",
    "auditlib.report.writer",
    "auditlib.report.desk",
)
"""What the audit notebook imports, in the order it imports it (its charts are SVG: no
matplotlib)."""

WARM_MODULES = ("ipykernel.kernelapp", "matplotlib_inline.backend_inline", *NOTEBOOK_MODULES)
"""A kernel's own imports, then the notebook's."""


PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int | None = None, signum: int = signal.SIGKILL) -> bool:
    """Have Linux send `signum` to this process when its parent dies (`prctl(2)`,
    `PR_SET_PDEATHSIG`); if the parent is already gone (`parent_pid` no longer the
    parent), exit at once. Returns False where this is unavailable (not Linux).

    Linux sends the signal when the *thread* that created this process exits: call it in
    children started from a thread that lives as long as its process (the main thread).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request: we are an orphan already
    return True


def _send(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def run_kernel(argv: list[str], cwd: str | None, env: dict[str, str]) -> int:
    """Body of a forked kernel: its own session, folder and environment, then ipykernel.
    Returns the exit code (never returns into the template's loop: see `_fork_kernel`)."""
    code = 0
    try:
        os.setsid()  # as jupyter_client does: signals to the batch do not reach the kernel
        if cwd:
            os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        from ipykernel.kernelapp import IPKernelApp

        # The kernel exits if the template (which lives as long as its worker) goes away,
        # as a kernel started by jupyter_client exits when its parent does.
        full = [*argv, f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.argv = [sys.executable, "-m", "ipykernel_launcher", *full]
        IPKernelApp.launch_instance(argv=full)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    return code


def _fork_kernel(request: dict[str, Any], closing: list[int]) -> int:
    """Fork one kernel; in the child, run it and leave with `os._exit` (the child must never
    return into the template's loop)."""
    argv, cwd, env = request.get("argv"), request.get("cwd"), request.get("env")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError("a kernel request needs an argv list of strings")
    if not isinstance(env, dict) or not isinstance(cwd, str | None):
        raise ValueError("a kernel request needs an env mapping and a cwd string or null")
    env = {str(k): str(v) for k, v in env.items()}
    template = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        die_with_parent(template)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for fd in closing:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        code = run_kernel(argv, str(cwd) if cwd else None, env)
        atexit._run_exitfuncs()  # what the interpreter would run on a normal exit
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> int:
    # As ipykernel_launcher does: the folder the template was started in is not a place
    # to import from (kernels get their own path entries from IPython).
    if sys.path and (sys.path[0] == "" or Path(sys.path[0]) == Path.cwd()):
        del sys.path[0]
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    # Replies go to a private copy of stdout; fd 1 becomes stderr, so nothing printed by an
    # import or a kernel can corrupt the protocol.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    try:
        for name in WARM_MODULES:
            importlib.import_module(name)
    except BaseException as exc:
        _send(out, {"error": f"cannot import {name}: {type(exc).__name__}: {exc}"})
        return 1

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    selector = selectors.DefaultSelector()
    selector.register(sys.stdin, selectors.EVENT_READ, "request")
    selector.register(wake_r, selectors.EVENT_READ, "child")
    children: set[int] = set()
    closing = [out.fileno(), wake_r, wake_w, sys.stdin.fileno()]
    _send(out, {"ready": os.getpid()})

    while True:
        for key, _ in selector.select():
            if key.data == "child":
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 512)
                _reap(out, children)
                continue
            line = sys.stdin.readline()
            if not line:
                _stop(children)
                return 0
            try:
                request = json.loads(line)
                pid = _fork_kernel(request, closing)
            except Exception as exc:
                _send(out, {"id": _request_id(line), "error": f"{type(exc).__name__}: {exc}"})
                continue
            children.add(pid)
            _send(out, {"id": request.get("id"), "pid": pid})


def _request_id(line: str) -> Any:
    try:
        return json.loads(line).get("id")
    except Exception:
        return None


def _reap(out: IO[str], children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        _send(out, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _stop(children: set[int]) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(serve())
