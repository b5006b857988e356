"""Small file helpers shared by every module that writes or fingerprints files."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

CHUNK = 1024 * 1024


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, read in chunks so large evidence does not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _default_mode(fd: int) -> None:
    """mkstemp creates files 0600; give outputs the mode a plain `open()` would."""
    os.fchmod(fd, 0o666 & ~_umask())


def write_atomic(path: str | os.PathLike[str], data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write a file via a temporary sibling and rename, so readers never see half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    _default_mode(fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_target(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Return (temporary path, final path) for writers that need a file name (openpyxl, PDF).

    The caller writes the temporary path, then calls `os.replace(tmp, final)`.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    _default_mode(fd)
    os.close(fd)
    return Path(tmp), target


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` safe for a terminal: control characters (escape sequences, carriage returns,
    bidi overrides) shown as `\\x1b`-style escapes; newlines and tabs kept."""
    return _CONTROL_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
