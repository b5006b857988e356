"""Shared by signing and verifying: reading the input PDF, and running pyHanko's coroutines
from synchronous code (a private thread when the caller already has a running loop)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from auditlib.errors import PdfInputError

# ---------------------------------------------------------------- event-loop bridge


T = TypeVar("T")


def run_sync(make_coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine from sync code, even when this thread already runs an event loop.

    In Jupyter the cell runs inside a loop, so `asyncio.run` would raise; the coroutine
    then runs on a private thread with its own loop and this call blocks until it ends.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coro())
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make_coro())).result()


# ------------------------------------------------------------------------- PDF input


def read_pdf(path: Path) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise PdfInputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not data.lstrip()[:5] == b"%PDF-":
        raise PdfInputError(f"{path} is not a PDF (no %PDF- header)")
    return data


def open_reader(data: bytes, path: Path) -> Any:
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        encrypted = reader.encrypted
    except Exception as exc:
        raise PdfInputError(f"{path} is a broken PDF: {type(exc).__name__}: {exc}") from exc
    if encrypted:
        raise PdfInputError(f"{path} is encrypted; decrypt it before signing or verifying")
    return reader
