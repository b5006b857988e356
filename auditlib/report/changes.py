"""What changed since a provider's previous audit (`findings.json` key `changes_since_previous`).

Two findings records of the same provider are compared by control reference
(`controls[].ref`, the stable key of a checkpoint): the non-conformities of the current
record that the previous one did not have (`new`), those of the previous record whose
control is now conforme or non applicable (`resolved`), those whose control is now
unjudged ("à évaluer", "erreur") or no longer in the grid (`not_reassessed`: a
non-conformity is never assumed lifted), those in both (`persisting`), and every control
whose status changed.

The previous record comes from the auditor (the notebook parameter `previous_findings`)
or is found beside the new audit: the latest `findings.json` of the same provider, dated
before the current audit, in the audit folders of the output folder (a batch output).
A previous record is input from disk: it is checked (a findings record, of this
provider, not later than the current audit) and every problem names the file and key.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from auditlib.errors import AuditlibError
from auditlib.files import sha256_bytes

FINDINGS_NAME = "findings.json"
FINDINGS_FORMAT = "auditlib.findings"
MAX_FINDINGS_BYTES = 64 * 1024 * 1024
"""A findings.json larger than this is refused (a record is a few hundred kilobytes)."""

NC_STATUSES = ("non conforme", "partiellement conforme")
RESOLVED_STATUSES = ("conforme", "non applicable")
"""A previous non-conformity is `resolved` only when its control is now judged one of these;
one now "à évaluer", "erreur" or gone from the grid is `not_reassessed` (never assumed lifted)."""
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PreviousFindingsError(AuditlibError):
    """The previous audit's findings.json cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class PreviousFindings:
    """A provider's previous audit record, read and checked."""

    path: Path
    sha256: str
    record: dict[str, Any]

    @property
    def audit_id(self) -> str:
        return str(self.record["audit"].get("id") or "")

    @property
    def audit_date(self) -> str:
        return str(self.record["audit"]["date"])

    @property
    def provider_id(self) -> str:
        return str(self.record["audit"]["provider_id"])


def _fail(path: Path, message: str) -> PreviousFindingsError:
    return PreviousFindingsError(f"previous findings {path}: {message}")


def _check_shape(record: Any, path: Path) -> dict[str, Any]:
    """The keys the comparison reads, with their types; the first problem found is raised."""
    if not isinstance(record, dict):
        raise _fail(path, f"expected a JSON object, found {type(record).__name__}")
    if record.get("format") != FINDINGS_FORMAT:
        raise _fail(path, f"format: expected {FINDINGS_FORMAT!r}, found {record.get('format')!r}")
    audit = record.get("audit")
    if not isinstance(audit, dict):
        raise _fail(path, "audit: missing or not an object")
    for key in ("provider_id", "date"):
        if not isinstance(audit.get(key), str) or not audit[key]:
            raise _fail(path, f"audit.{key}: missing or not a string")
    try:
        if not _ISO_DAY.match(audit["date"]):
            raise ValueError
        dt.date.fromisoformat(audit["date"][:10])
    except ValueError:
        raise _fail(path, f"audit.date: {audit['date']!r} is not an ISO date") from None
    if not isinstance(record.get("bottom_line"), str):
        raise _fail(path, "bottom_line: missing or not a string")
    controls = record.get("controls")
    if not isinstance(controls, list):
        raise _fail(path, "controls: missing or not a list")
    for index, control in enumerate(controls):
        if not isinstance(control, dict):
            raise _fail(path, f"controls[{index}]: not an object")
        for key in ("ref", "status"):
            if not isinstance(control.get(key), str):
                raise _fail(path, f"controls[{index}].{key}: missing or not a string")
        _optional_text(control, "requirement", f"controls[{index}]", path)
    ncs = record.get("nonconformities")
    if not isinstance(ncs, list):
        raise _fail(path, "nonconformities: missing or not a list")
    for index, nc in enumerate(ncs):
        if not isinstance(nc, dict):
            raise _fail(path, f"nonconformities[{index}]: not an object")
        if not isinstance(nc.get("control"), str):
            raise _fail(path, f"nonconformities[{index}].control: missing or not a string")
        if nc.get("status") not in NC_STATUSES:
            raise _fail(
                path,
                f"nonconformities[{index}].status: {nc.get('status')!r} is not one of "
                f"{', '.join(NC_STATUSES)}",
            )
        for key in ("requirement", "severity"):
            _optional_text(nc, key, f"nonconformities[{index}]", path)
    for key in ("id", "trigger"):
        _optional_text(audit, key, "audit", path)
    return record


def _optional_text(entry: dict[str, Any], key: str, where: str, path: Path) -> None:
    if entry.get(key) is not None and not isinstance(entry[key], str):
        raise _fail(path, f"{where}.{key}: not a string")


def load_previous(path: str | os.PathLike[str]) -> PreviousFindings:
    """Read and check a previous `findings.json` (or an audit folder holding one)."""
    return read_findings(path)


def read_findings(path: str | os.PathLike[str]) -> PreviousFindings:
    """Read a `findings.json` (or an audit folder holding one), checking the keys that
    comparisons and the portfolio read; `PreviousFindingsError` names the file and key."""
    source = Path(path)
    if source.is_dir():
        source = source / FINDINGS_NAME
    try:
        size = source.stat().st_size
        if size > MAX_FINDINGS_BYTES:
            raise _fail(source, f"{size} bytes, more than the {MAX_FINDINGS_BYTES} accepted")
        data = source.read_bytes()
    except FileNotFoundError:
        raise _fail(source, "no such file") from None
    except OSError as exc:
        raise _fail(source, f"cannot be read: {exc.strerror or exc}") from None
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise _fail(source, f"not valid JSON: {exc}") from None
    return PreviousFindings(source.resolve(), sha256_bytes(data), _check_shape(record, source))


def _audit_day(record: dict[str, Any]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(record["audit"]["date"]))
    except (KeyError, TypeError, ValueError):
        return None


def find_previous(
    folder: str | os.PathLike[str],
    provider_id: str,
    before: dt.date,
    *,
    exclude: str | os.PathLike[str] | None = None,
) -> PreviousFindings | None:
    """The latest audit of `provider_id` dated before `before` among the audit folders of
    `folder` (`<folder>/<audit>/findings.json`), or None. `exclude`: an audit folder to
    ignore (the one being written). Records that are unreadable, of another provider or
    not findings records are passed over: they are not this provider's history."""
    root = Path(folder)
    if not root.is_dir():
        return None
    skip = Path(exclude).resolve() if exclude is not None else None
    best: tuple[dt.date, str, PreviousFindings] | None = None
    for candidate in sorted(root.glob(f"*/{FINDINGS_NAME}")):
        # folder names are `<provider>_<trigger>_<date>`: read only this provider's
        if not candidate.parent.name.startswith(f"{provider_id}_"):
            continue
        if skip is not None and candidate.parent.resolve() == skip:
            continue
        try:
            previous = load_previous(candidate)
        except PreviousFindingsError:
            continue
        day = _audit_day(previous.record)
        if previous.provider_id != provider_id or day is None or day >= before:
            continue
        key = (day, str(previous.record.get("generated_at") or ""))
        if best is None or key > best[:2]:
            best = (*key, previous)
    return best[2] if best else None


def _nc_entry(nc: dict[str, Any]) -> dict[str, Any]:
    return {
        "control": nc["control"],
        "requirement": nc.get("requirement"),
        "status": nc["status"],
        "severity": nc.get("severity"),
    }


def changes_since(
    current: dict[str, Any], previous: PreviousFindings | dict[str, Any]
) -> dict[str, Any]:
    """The `changes_since_previous` value: `current` (a findings record being written)
    against the previous record of the same provider."""
    if isinstance(previous, PreviousFindings):
        meta: dict[str, Any] = {"path": str(previous.path), "sha256": previous.sha256}
        old = previous.record
    else:
        meta = {"path": None, "sha256": None}
        old = _check_shape(previous, Path("<record>"))
    old_ncs = {nc["control"]: nc for nc in old["nonconformities"]}
    new_ncs = {nc["control"]: nc for nc in current["nonconformities"]}
    old_status = {c["ref"]: c["status"] for c in old["controls"]}
    new_status = {c["ref"]: c["status"] for c in current["controls"]}
    requirement = {c["ref"]: c.get("requirement") for c in old["controls"]} | {
        c["ref"]: c.get("requirement") for c in current["controls"]
    }
    return {
        "previous": {
            "audit_id": old["audit"].get("id"),
            "date": old["audit"]["date"],
            "trigger": old["audit"].get("trigger"),
            "bottom_line": old["bottom_line"],
            **meta,
        },
        "bottom_line": {"previous": old["bottom_line"], "current": current["bottom_line"]},
        "new": [_nc_entry(nc) for ref, nc in new_ncs.items() if ref not in old_ncs],
        "resolved": [
            {**_nc_entry(nc), "previous_status": nc["status"], "status": new_status[ref]}
            for ref, nc in old_ncs.items()
            if ref not in new_ncs and new_status.get(ref) in RESOLVED_STATUSES
        ],
        "not_reassessed": [
            {**_nc_entry(nc), "previous_status": nc["status"], "status": new_status.get(ref)}
            for ref, nc in old_ncs.items()
            if ref not in new_ncs and new_status.get(ref) not in RESOLVED_STATUSES
        ],
        "persisting": [
            {
                **_nc_entry(nc),
                "previous_status": old_ncs[ref]["status"],
                "previous_severity": old_ncs[ref].get("severity"),
            }
            for ref, nc in new_ncs.items()
            if ref in old_ncs
        ],
        "status_changes": [
            {
                "ref": ref,
                "requirement": requirement.get(ref),
                "previous": old_status[ref],
                "current": status,
            }
            for ref, status in new_status.items()
            if ref in old_status and old_status[ref] != status
        ],
    }


def previous_for(
    provider_id: str,
    audit_date: dt.date,
    previous_findings: str | os.PathLike[str] | None,
    output_dir: str | os.PathLike[str] | None,
) -> PreviousFindings | None:
    """The previous record an audit is compared with: `previous_findings` when given (a
    findings.json or an audit folder; checked to be this provider's and not later than the
    audit), else the latest earlier audit of the provider beside `output_dir`."""
    if previous_findings is not None and str(previous_findings).strip():
        previous = load_previous(previous_findings)
        if previous.provider_id != provider_id:
            raise _fail(
                previous.path,
                f"audit.provider_id is {previous.provider_id!r}, not {provider_id!r}: "
                "the previous audit must be of the same provider",
            )
        day = _audit_day(previous.record)
        if day is not None and day > audit_date:
            raise _fail(
                previous.path,
                f"audit.date {day.isoformat()} is after this audit's {audit_date.isoformat()}",
            )
        return previous
    if output_dir is None:
        return None
    target = Path(output_dir).resolve()
    return find_previous(target.parent, provider_id, audit_date, exclude=target)


# ------------------------------------------------------------------------------ display

CHANGE_KIND = {
    "new": "nouvelle",
    "resolved": "levée",
    "not_reassessed": "non réévaluée",
    "persisting": "persistante",
}
CHANGE_LISTS = tuple(CHANGE_KIND)


def changes_table(changes: dict[str, Any] | None) -> pd.DataFrame:
    """The non-conformities new, resolved and persisting since the previous audit, and
    every other status change, as one table (French headers)."""
    columns = ["évolution", "contrôle", "exigence", "statut précédent", "statut actuel"]
    if not changes:
        return pd.DataFrame(columns=columns)
    rows: list[list[Any]] = []
    for kind in CHANGE_LISTS:
        for entry in changes.get(kind, []):
            before = entry.get("previous_status") if kind != "new" else None
            after = entry.get("status")
            rows.append(
                [
                    f"non-conformité {CHANGE_KIND[kind]}",
                    entry["control"],
                    entry.get("requirement"),
                    before or "—",
                    after or "—",
                ]
            )
    listed = {row[1] for row in rows}
    for change in changes["status_changes"]:
        if change["ref"] not in listed:
            rows.append(
                [
                    "changement de statut",
                    change["ref"],
                    change.get("requirement"),
                    change["previous"],
                    change["current"],
                ]
            )
    return pd.DataFrame(rows, columns=columns)
