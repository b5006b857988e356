"""Opening what the audited party delivered without letting it reach anything else.

Zips are checked member by member *before* anything is extracted (paths, links,
encryption, counts, declared sizes, compression ratios), then extracted into a private
temporary folder while the real decompressed sizes are counted (headers can lie).
Folders get the same size/count limits and may hold no links or special files.
Every refusal names the member and the rule; one refusal makes the bundle unusable.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from auditlib.evidence.model import FindingCode

MiB = 1024 * 1024


@dataclass(frozen=True)
class ZipLimits:
    """Limits applied to zip bundles (and, for counts and sizes, to folder bundles)."""

    max_members: int = 2000
    max_member_bytes: int = 200 * MiB
    max_total_bytes: int = 1024 * MiB
    max_ratio: float = 100.0
    """Largest uncompressed/compressed size ratio accepted for one member..."""
    ratio_floor_bytes: int = 1 * MiB
    """...once the member is at least this large (small text compresses very well)."""
    max_depth: int = 32
    """Most folder levels in a member path (a zip of 2,000 nested folders broke pathlib)."""
    max_path_chars: int = 1024
    """Longest member path, in characters."""
    max_manifest_bytes: int = 1 * MiB
    """Largest `manifest.yaml` accepted."""


def path_shape_rule(name: str, limits: ZipLimits) -> Refusal | None:
    """Refuse a path nested deeper or spelled longer than the limits allow."""
    shown = name if len(name) <= 80 else name[:80] + "…"
    if len(name) > limits.max_path_chars:
        return Refusal(
            FindingCode.PATH_TOO_DEEP,
            shown,
            f"chemin de {len(name)} caractères (maximum {limits.max_path_chars})",
        )
    depth = name.replace("\\", "/").strip("/").count("/") + 1
    if depth > limits.max_depth:
        return Refusal(
            FindingCode.PATH_TOO_DEEP,
            shown,
            f"chemin de {depth} niveaux (maximum {limits.max_depth})",
        )
    return None


@dataclass(frozen=True)
class Refusal:
    """Why a bundle (or one of its members) is refused."""

    rule: FindingCode
    member: str | None
    detail: str
    """French, report-ready."""


@dataclass(frozen=True)
class FileEntry:
    path: str
    """Bundle-relative POSIX path, Unicode NFC (macOS writes accented names decomposed)."""
    size: int
    sha256: str | None = None
    """Filled in when computed while extracting (saves reading the file again)."""
    disk: str = ""
    """Relative path as spelled on disk, when it differs from `path`."""

    @property
    def on_disk(self) -> str:
        return self.disk or self.path


_DRIVE_RE = re.compile(r"^[A-Za-z]:")


def unsafe_path_rule(name: str) -> Refusal | None:
    """Refuse absolute paths, drive letters, `..` and NUL bytes (with `\\` read as a separator)."""
    normalised = name.replace("\\", "/")
    if "\x00" in name or not normalised.strip("/"):
        return Refusal(FindingCode.ABSOLUTE_PATH, name, "nom de fichier vide ou invalide")
    if normalised.startswith("/") or _DRIVE_RE.match(normalised):
        return Refusal(FindingCode.ABSOLUTE_PATH, name, "chemin absolu refusé")
    if ".." in normalised.split("/"):
        return Refusal(FindingCode.PARENT_PATH, name, "chemin contenant « .. » refusé")
    return None


def clean_member_path(name: str) -> str:
    """`./a//b\\c` -> `a/b/c`, NFC (call only after `unsafe_path_rule` accepted the name)."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return unicodedata.normalize("NFC", "/".join(parts))


def check_zip(archive: zipfile.ZipFile, limits: ZipLimits) -> list[Refusal]:
    """Every rule broken by the archive's central directory (nothing is read or written)."""
    infos = archive.infolist()
    refusals: list[Refusal] = []
    if len(infos) > limits.max_members:
        refusals.append(
            Refusal(
                FindingCode.TOO_MANY_MEMBERS,
                None,
                f"l'archive contient {len(infos)} membres (maximum {limits.max_members})",
            )
        )
        return refusals
    seen: dict[str, str] = {}
    total = 0
    for info in infos:
        name = info.filename
        path_refusal = unsafe_path_rule(name) or path_shape_rule(name, limits)
        if path_refusal:
            refusals.append(path_refusal)
            continue
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            refusals.append(Refusal(FindingCode.LINK, name, "lien symbolique refusé"))
            continue
        if info.flag_bits & 0x1:
            refusals.append(Refusal(FindingCode.ENCRYPTED_MEMBER, name, "membre chiffré refusé"))
            continue
        if info.is_dir():
            continue
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # many writers leave the type bits 0
            refusals.append(
                Refusal(FindingCode.NOT_REGULAR_FILE, name, "membre qui n'est pas un fichier")
            )
            continue
        clean = clean_member_path(name)
        key = clean.casefold()
        if key in seen:
            refusals.append(
                Refusal(
                    FindingCode.DUPLICATE_MEMBER,
                    name,
                    f"membre en double (même chemin que « {seen[key]} »)",
                )
            )
            continue
        seen[key] = name
        if info.file_size > limits.max_member_bytes:
            refusals.append(
                Refusal(
                    FindingCode.MEMBER_TOO_LARGE,
                    name,
                    f"taille {info.file_size} octets (maximum {limits.max_member_bytes})",
                )
            )
            continue
        if info.file_size >= limits.ratio_floor_bytes:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                refusals.append(
                    Refusal(
                        FindingCode.COMPRESSION_RATIO,
                        name,
                        f"taux de compression {ratio:.0f}:1 (maximum {limits.max_ratio:.0f}:1), "
                        "bombe de décompression probable",
                    )
                )
                continue
        total += info.file_size
    if total > limits.max_total_bytes:
        refusals.append(
            Refusal(
                FindingCode.TOTAL_TOO_LARGE,
                None,
                f"taille totale décompressée {total} octets (maximum {limits.max_total_bytes})",
            )
        )
    return refusals


def extract_zip(
    archive: zipfile.ZipFile, dest: Path, limits: ZipLimits
) -> tuple[list[FileEntry], list[Refusal]]:
    """Extract an archive that passed `check_zip` into `dest` (an empty private folder).

    Sizes are counted on the decompressed stream, files are created exclusively and
    without following links, and each target is checked to stay inside `dest`.
    """
    root = dest.resolve()
    entries: list[FileEntry] = []
    total = 0
    for info in archive.infolist():
        if info.is_dir():
            continue
        clean = clean_member_path(info.filename)
        target = root / PurePosixPath(clean)
        if root not in target.parents:
            return entries, [Refusal(FindingCode.PARENT_PATH, info.filename, "hors du dossier")]
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:  # e.g. `a` is a file and `a/b` a member, or a name too long
            return entries, [
                Refusal(
                    FindingCode.ARCHIVE_CORRUPT,
                    info.filename,
                    f"extraction impossible ({exc.strerror or exc})",
                )
            ]
        if not target.parent.resolve().is_relative_to(root):
            return entries, [Refusal(FindingCode.LINK, info.filename, "chemin détourné")]
        digest = hashlib.sha256()
        written = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(target, flags, 0o600)
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                while chunk := src.read(MiB):
                    written += len(chunk)
                    total += len(chunk)
                    if written > min(info.file_size, limits.max_member_bytes):
                        return entries, [
                            Refusal(
                                FindingCode.MEMBER_TOO_LARGE,
                                info.filename,
                                "taille décompressée supérieure à la taille déclarée",
                            )
                        ]
                    if total > limits.max_total_bytes:
                        return entries, [
                            Refusal(
                                FindingCode.TOTAL_TOO_LARGE,
                                info.filename,
                                f"taille totale décompressée > {limits.max_total_bytes} octets",
                            )
                        ]
                    digest.update(chunk)
                    out.write(chunk)
        except FileExistsError:
            return entries, [
                Refusal(FindingCode.DUPLICATE_MEMBER, info.filename, "membre en double")
            ]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
            return entries, [
                Refusal(FindingCode.ARCHIVE_CORRUPT, info.filename, f"membre illisible ({exc})")
            ]
        except NotImplementedError:
            return entries, [
                Refusal(
                    FindingCode.ARCHIVE_CORRUPT,
                    info.filename,
                    "méthode de compression non prise en charge",
                )
            ]
        except OSError as exc:
            return entries, [
                Refusal(
                    FindingCode.ARCHIVE_CORRUPT,
                    info.filename,
                    f"extraction impossible ({exc.strerror or exc})",
                )
            ]
        entries.append(FileEntry(clean, written, digest.hexdigest()))
    return entries, []


def scan_folder(root: Path, limits: ZipLimits) -> tuple[list[FileEntry], list[Refusal]]:
    """List the regular files under `root` without following links; refuse links and oddities."""
    entries: list[FileEntry] = []
    refusals: list[Refusal] = []
    total = 0
    seen: set[str] = set()
    base = os.path.join(str(root), "")
    cut = len(base)
    stack = [base]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                children = list(it)
        except OSError as exc:
            refusals.append(
                Refusal(
                    FindingCode.NOT_REGULAR_FILE,
                    folder[cut:].replace(os.sep, "/") or ".",
                    f"dossier illisible ({exc.strerror})",
                )
            )
            continue
        for entry in children:
            spelled = entry.path[cut:].replace(os.sep, "/")
            rel = unicodedata.normalize("NFC", spelled)
            shape = path_shape_rule(spelled, limits)
            if shape is not None:
                refusals.append(shape)
                continue
            if entry.is_symlink():
                refusals.append(Refusal(FindingCode.LINK, rel, "lien symbolique refusé"))
            elif entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                size = entry.stat(follow_symlinks=False).st_size
                if size > limits.max_member_bytes:
                    refusals.append(
                        Refusal(
                            FindingCode.MEMBER_TOO_LARGE,
                            rel,
                            f"taille {size} octets (maximum {limits.max_member_bytes})",
                        )
                    )
                total += size
                if rel in seen:
                    refusals.append(
                        Refusal(FindingCode.DUPLICATE_MEMBER, spelled, "fichier en double")
                    )
                seen.add(rel)
                entries.append(FileEntry(rel, size, None, spelled if spelled != rel else ""))
            else:
                refusals.append(
                    Refusal(FindingCode.NOT_REGULAR_FILE, rel, "élément qui n'est pas un fichier")
                )
        if len(entries) > limits.max_members:
            refusals.append(
                Refusal(
                    FindingCode.TOO_MANY_MEMBERS,
                    None,
                    f"le dossier contient plus de {limits.max_members} fichiers",
                )
            )
            return entries, refusals
    if total > limits.max_total_bytes:
        refusals.append(
            Refusal(
                FindingCode.TOTAL_TOO_LARGE,
                None,
                f"taille totale {total} octets (maximum {limits.max_total_bytes})",
            )
        )
    entries.sort(key=lambda e: e.path)
    refusals.sort(key=lambda r: r.member or "")
    return entries, refusals
