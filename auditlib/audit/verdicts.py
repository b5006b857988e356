"""The auditor's verdicts file (`verdicts.yaml`): manual judgements that complete the checks.

```yaml
provider: editeur-alpha          # must match the audited provider
auditor: Jeanne Martin           # default for every entry
verdicts:
  - control: EXI EDC PSC 103/AVANT/2     # one control...
    status: conforme
    comment: Sections vérifiées sur la version 3.2 du document.
    date: 2026-11-20
  - requirement: EXI EDC PSC 102          # ...or every control of a requirement
    status: non conforme
    severity: high
    comment: Engagement CGU non signé.
```
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from auditlib.audit.assess import AuditorVerdict, ControlStatus
from auditlib.checkpoints.reader import ControlGrid
from auditlib.errors import AuditlibError, YamlInputError
from auditlib.requirements import normalise_requirement_id
from auditlib.yamlio import load_yaml_file

VERDICTS_MAX_BYTES = 1024 * 1024

SEVERITIES = ("critical", "high", "medium", "low")
ENTRY_KEYS = {"control", "requirement", "status", "comment", "auditor", "date", "severity"}


class VerdictsError(AuditlibError):
    """A verdicts file cannot be used; the message names the file, the entry and the key."""


def load_verdicts(
    path: str | Path, grid: ControlGrid, provider_id: str | None = None
) -> list[AuditorVerdict]:
    """Read and validate a verdicts file against the grid; every problem is listed."""
    source = Path(path)
    if not source.is_file():
        raise VerdictsError(f"{source}: no such file")
    if source.stat().st_size == 0:
        return []
    try:
        raw = load_yaml_file(source, VERDICTS_MAX_BYTES)  # strict: no aliases, sizes bounded
    except YamlInputError as exc:
        detail = str(exc).removeprefix(f"{source}: ")
        if "holds no data" in detail or "is empty" in detail:
            return []
        if "NUL bytes" in detail or "UTF-8" in detail:
            raise VerdictsError(f"{source}: not a UTF-8 text file") from None
        raise VerdictsError(f"{source}: not valid YAML: {detail}") from None
    if not isinstance(raw, dict):
        raise VerdictsError(f"{source}: expected a mapping with a 'verdicts' list at the top")
    if provider_id is not None and raw.get("provider") not in (None, provider_id):
        raise VerdictsError(
            f"{source}: written for provider {raw.get('provider')!r}, not {provider_id!r}"
        )
    entries = raw.get("verdicts") or []
    if not isinstance(entries, list):
        raise VerdictsError(f"{source}: 'verdicts' must be a list")
    default_auditor = _text(raw.get("auditor"))
    refs = {c.ref for c in grid.controls}
    problems: list[str] = []
    verdicts: dict[str, AuditorVerdict] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"{source.name}, entry {index}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping, got {type(entry).__name__}")
            continue
        unknown = sorted(set(map(str, entry)) - ENTRY_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        try:
            status = ControlStatus.parse(str(entry.get("status", "")))
        except ValueError as exc:
            problems.append(f"{where}, key 'status': {exc}")
            continue
        severity = _text(entry.get("severity"))
        if severity is not None and severity not in SEVERITIES:
            problems.append(f"{where}, key 'severity': {severity!r} is not one of {SEVERITIES}")
            continue
        date = entry.get("date")
        if date is not None and not isinstance(date, dt.date):
            try:
                date = dt.date.fromisoformat(str(date))
            except ValueError:
                problems.append(f"{where}, key 'date': {date!r} is not a date (YYYY-MM-DD)")
                continue
        targets = _targets(entry, grid, refs, where, problems)
        for ref in targets:
            if ref in verdicts:
                problems.append(
                    f"{where}: control {ref} already has a verdict ({verdicts[ref].source})"
                )
                continue
            verdicts[ref] = AuditorVerdict(
                control_ref=ref,
                status=status,
                comment=_text(entry.get("comment")),
                auditor=_text(entry.get("auditor")) or default_auditor,
                date=date,
                severity=severity,
                source=where,
            )
    if problems:
        raise VerdictsError(
            f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return list(verdicts.values())


def _targets(
    entry: dict[str, Any], grid: ControlGrid, refs: set[str], where: str, problems: list[str]
) -> list[str]:
    control = _text(entry.get("control"))
    requirement = _text(entry.get("requirement"))
    if bool(control) == bool(requirement):
        problems.append(f"{where}: give exactly one of 'control' or 'requirement'")
        return []
    if control:
        ident, _, rest = control.rpartition("/")
        ident, _, phase = ident.rpartition("/")
        req = normalise_requirement_id(ident, allow_bare_number=True)
        ref = f"{req}/{phase.upper()}/{rest}" if req else control
        if ref not in refs:
            problems.append(f"{where}, key 'control': no control {control!r} in the grid")
            return []
        return [ref]
    req_id = normalise_requirement_id(requirement or "", allow_bare_number=True)
    if req_id is None or req_id not in grid.requirements:
        problems.append(f"{where}, key 'requirement': no requirement {requirement!r} in the grid")
        return []
    return [c.ref for c in grid.controls if c.requirement_id == req_id]


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None
