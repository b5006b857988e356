"""Warm kernels for batch runs. Each notebook still gets a fresh kernel process of its own,
but that process is forked from a template (`auditlib.batch.kernel_template`) that has already
imported ipykernel, pandas, matplotlib, Typst and auditlib, instead of starting a new
interpreter and importing them again for every audit: about 1.5 s less per notebook on
these machines.

`WarmKernelManager` is a jupyter_client kernel manager: pass it to papermill as
``kernel_manager_class``. A kernel spec that does not run this interpreter's
`-m ipykernel_launcher`, or a template that cannot start, falls back to the ordinary
launch (logged), so warm kernels can only make a batch faster, never break it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from auditlib.errors import BatchError

log = logging.getLogger(__name__)

TEMPLATE_MODULE = "auditlib.batch.kernel_template"
TEMPLATE_START_TIMEOUT = 120.0  # seconds: the template's imports, on a loaded machine
LAUNCH_TIMEOUT = 30.0


class TemplateError(BatchError):
    """The warm kernel template could not start or serve a request."""


def kernel_arguments(cmd: Sequence[str], python: str | None = None) -> list[str] | None:
    """The kernel's own arguments if `cmd` runs ipykernel with this very interpreter
    (`<sys.executable> -m ipykernel_launcher -f FILE ...`), else None."""
    python = python or sys.executable
    if len(cmd) < 3 or os.path.abspath(cmd[0]) != os.path.abspath(python):
        return None
    if cmd[1] != "-m" or cmd[2] not in ("ipykernel_launcher", "ipykernel"):
        return None
    return list(cmd[3:])


class KernelTemplate:
    """One template process (per worker) and the kernels it forked for us."""

    def __init__(self, timeout: float = TEMPLATE_START_TIMEOUT) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", TEMPLATE_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._changed = threading.Condition()
        self._ready: int | None = None
        self._error: str | None = None
        self._open = True
        self._started: dict[int, int | str] = {}  # request id -> kernel pid, or error text
        self._exits: dict[int, int] = {}  # kernel pid -> exit code
        self._next_id = 0
        threading.Thread(target=self._read, name="kernel-template", daemon=True).start()
        with self._changed:
            ok = self._changed.wait_for(
                lambda: self._ready or self._error or not self._open, timeout
            )
        if not ok or self._ready is None:
            self.close()
            raise TemplateError(self._error or "the warm kernel template did not start")

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            with self._changed:
                if "ready" in message:
                    self._ready = int(message["ready"])
                elif "exited" in message:
                    self._exits[int(message["exited"])] = int(message["code"])
                elif "id" in message and message["id"] is not None:
                    self._started[int(message["id"])] = (
                        int(message["pid"]) if "pid" in message else str(message.get("error"))
                    )
                elif "error" in message:
                    self._error = str(message["error"])
                self._changed.notify_all()
        with self._changed:
            self._open = False
            self._changed.notify_all()

    @property
    def alive(self) -> bool:
        return self._open and self._process.poll() is None

    def launch(self, argv: list[str], cwd: str | None, env: dict[str, str]) -> int:
        """Fork a kernel; its pid."""
        with self._changed:
            self._next_id += 1
            request_id = self._next_id
        request = {"id": request_id, "argv": argv, "cwd": cwd, "env": env}
        assert self._process.stdin is not None
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
        except OSError as exc:
            raise TemplateError(f"the warm kernel template has gone: {exc}") from exc
        with self._changed:
            self._changed.wait_for(
                lambda: request_id in self._started or not self._open, LAUNCH_TIMEOUT
            )
            answer = self._started.pop(request_id, None)
        if not isinstance(answer, int):
            raise TemplateError(answer or "the warm kernel template did not answer")
        return answer

    def exit_code(self, pid: int) -> int | None:
        """The kernel's exit code, or None while it runs."""
        with self._changed:
            if pid in self._exits:
                return self._exits[pid]
            if self._open:
                return None
        # The template has gone: its kernels exit on their own (parent poller).
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return -signal.SIGKILL
        return None

    def wait(self, pid: int, timeout: float | None = None) -> int | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.exit_code(pid)) is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            with self._changed:
                self._changed.wait(0.1 if left is None else min(left, 0.1))
        return code

    def close(self) -> None:
        if self._process.stdin and not self._process.stdin.closed:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        try:
            self._process.wait(10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_template: KernelTemplate | None = None
_template_failed = False
_template_lock = threading.Lock()


def shared_template() -> KernelTemplate | None:
    """This process's template, started on first use; None (and a logged reason) if it
    cannot start, in which case kernels are launched the ordinary way."""
    global _template, _template_failed
    with _template_lock:
        if _template is not None and not _template.alive:
            _template = None
        if _template is None and not _template_failed:
            try:
                _template = KernelTemplate()
                atexit.register(_template.close)
            except (OSError, TemplateError) as exc:
                _template_failed = True
                log.warning("warm kernels unavailable, starting kernels normally: %s", exc)
        return _template


class ForkedProcess:
    """The part of `subprocess.Popen` that LocalProvisioner uses, for a forked kernel."""

    stdin = stdout = stderr = None

    def __init__(self, template: KernelTemplate, pid: int) -> None:
        self._template = template
        self.pid = pid

    def poll(self) -> int | None:
        return self._template.exit_code(self.pid)

    def wait(self, timeout: float | None = None) -> int | None:
        return self._template.wait(self.pid, timeout)

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkedProvisioner(LocalProvisioner):
    """LocalProvisioner whose kernels are forked from the warm template."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        argv = kernel_arguments(cmd)
        template = shared_template() if argv is not None else None
        if argv is None or template is None:
            return await super().launch_kernel(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        cwd = kwargs.get("cwd")
        try:
            pid = template.launch(argv, str(cwd) if cwd else None, env)
        except TemplateError as exc:
            log.warning("warm kernel launch failed, starting the kernel normally: %s", exc)
            return await super().launch_kernel(cmd, **kwargs)
        self.process = ForkedProcess(template, pid)  # type: ignore[assignment]
        self.pid = pid
        # Signals go to the kernel itself (it has its own session; see kernel_template).
        self.pgid = None
        self.cwd = cwd or os.getcwd()
        return self.connection_info


class WarmKernelManager(AsyncKernelManager):
    """AsyncKernelManager that starts each kernel by forking the warm template."""

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self.provisioner is None:
            self.kernel_id = self.kernel_id or kw.pop("kernel_id", None) or str(uuid.uuid4())
            self.provisioner = ForkedProvisioner(
                kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self
            )
        return await super()._async_pre_start_kernel(**kw)
