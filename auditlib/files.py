"""Small file helpers shared by every module that writes or fingerprints files."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from pathlib import Path

from auditlib.errors import OutputPathError

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


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a file"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def check_output_dir(path: str | os.PathLike[str]) -> Path:
    """The one rule for output folders: a folder (or a link to one) or absent; when absent,
    its nearest existing ancestor must be a folder. Raises `OutputPathError` otherwise."""
    folder = Path(path)
    probe = folder
    while True:
        try:
            mode = os.stat(probe).st_mode
        except FileNotFoundError:
            if probe.parent == probe:
                return folder
            probe = probe.parent
            continue
        except NotADirectoryError:
            probe = probe.parent
            continue
        except OSError as exc:
            raise OutputPathError(f"output folder {folder}: {exc.strerror or exc}") from None
        if not stat.S_ISDIR(mode):
            where = "" if probe == folder else f" ({probe} is {_kind(mode)})"
            what = f" is {_kind(mode)}" if probe == folder else " cannot be created"
            raise OutputPathError(f"output folder {folder}{what}{where}: a folder is needed")
        return folder


def check_output_file(path: str | os.PathLike[str]) -> Path:
    """The one rule for output files: the last component is a regular file (replaced) or
    absent (created); never a device, FIFO, socket, symlink or folder, which a rename
    would silently replace (as root, `--output /dev/null` deleted /dev/null). The folder
    must follow `check_output_dir`. Raises `OutputPathError` naming the path."""
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise OutputPathError(f"output {path}: a file name is needed, not a folder")
    check_output_dir(target.parent)
    try:
        mode = os.lstat(target).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return target
    except OSError as exc:
        raise OutputPathError(f"output {target}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise OutputPathError(
            f"output {target} exists and is {_kind(mode)}: only a regular file is replaced "
            "(remove it or choose another name)"
        )
    return target


def write_atomic(path: str | os.PathLike[str], data: bytes | str, encoding: str = "utf-8") -> Path:
    """Write a file via a temporary sibling and rename, so readers never see half a file.

    `check_output_file` first: a device, FIFO or link at `path` is refused, never replaced.
    """
    target = check_output_file(path)
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
    `check_output_file` first, as for `write_atomic`.
    """
    target = check_output_file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    _default_mode(fd)
    os.close(fd)
    return Path(tmp), target


def describe_missing(path: Path) -> str:
    """`PATH: no such file`, naming the absolute path a relative one was looked for at
    (relative paths on a command line resolve against the current folder)."""
    where = "" if path.is_absolute() else f" (looked for {path.absolute()})"
    return f"{path}: no such file{where}"


_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


def redact(text: str) -> str:
    """`printable(text)` with the `user:password@` of every URL replaced by `***@`."""
    return printable(_USERINFO_RE.sub(r"\1***@", text))


_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` safe for a terminal: control characters (escape sequences, carriage returns,
    bidi overrides) shown as `\\x1b`-style escapes; newlines and tabs kept."""
    return _CONTROL_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
