"""The auditor's verdicts file (`verdicts.yaml`): manual judgements that complete the checks.

```yaml
provider: editeur-alpha          # must match the audited provider
audit: editeur-alpha_certificate_expiry_2026-11-28   # optional: the one audit it belongs to
auditor: Jeanne Martin           # default for every entry
verdicts:
  - control: EXI EDC PSC 103/AVANT/2     # one control...
    status: conforme                     # French or English: compliant, non compliant...
    comment: Sections vérifiées sur la version 3.2 du document.
    auditor: Jeanne Martin
    date: 2026-11-20
  - requirement: EXI EDC PSC 102          # ...or every control of a requirement
    status: non conforme
    severity: élevée                      # critique|élevée|moyenne|faible or critical|high|...
    comment: Engagement CGU non signé.
```

An entry whose status is still `à évaluer` is a placeholder (`auditlib verdicts template`
writes one per control awaiting the auditor) and records nothing. Writing goes through
`save_verdicts`: the whole resulting file is validated before it replaces the old one.
Format: docs/formats/verdicts.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from auditlib.audit.assess import AuditorVerdict, ControlStatus
from auditlib.checkpoints.reader import ControlGrid
from auditlib.errors import AuditlibError, YamlInputError
from auditlib.files import write_atomic
from auditlib.requirements import fold, normalise_requirement_id
from auditlib.yamlio import load_yaml_file

SEVERITIES = ("critical", "high", "medium", "low")
"""Canonical (stored) severity names; French names are accepted on input."""
ENTRY_KEYS = {"control", "requirement", "status", "comment", "auditor", "date", "severity"}
TOP_KEYS = {"provider", "audit", "auditor", "verdicts"}
MAX_BYTES = 4 * 1024 * 1024

SEVERITY_ALIASES: dict[str, str] = {
    "critical": "critical",
    "critique": "critical",
    "high": "high",
    "elevee": "high",
    "eleve": "high",
    "haute": "high",
    "medium": "medium",
    "moyenne": "medium",
    "moyen": "medium",
    "low": "low",
    "faible": "low",
    "basse": "low",
}
SEVERITY_LABELS = {
    "fr": {"critical": "critique", "high": "élevée", "medium": "moyenne", "low": "faible"},
    "en": {"critical": "critical", "high": "high", "medium": "medium", "low": "low"},
}
STATUS_ALIASES: dict[str, ControlStatus] = {
    "compliant": ControlStatus.CONFORME,
    "conformant": ControlStatus.CONFORME,
    "partially compliant": ControlStatus.PARTIEL,
    "partial": ControlStatus.PARTIEL,
    "partially": ControlStatus.PARTIEL,
    "non compliant": ControlStatus.NON_CONFORME,
    "noncompliant": ControlStatus.NON_CONFORME,
    "not compliant": ControlStatus.NON_CONFORME,
    "not applicable": ControlStatus.NON_APPLICABLE,
    "to assess": ControlStatus.A_EVALUER,
    "to be assessed": ControlStatus.A_EVALUER,
    "to evaluate": ControlStatus.A_EVALUER,
    "pending": ControlStatus.A_EVALUER,
    "error": ControlStatus.ERREUR,
}
STATUS_LABELS = {
    "fr": {s: s.value for s in ControlStatus},
    "en": {
        ControlStatus.CONFORME: "compliant",
        ControlStatus.PARTIEL: "partially compliant",
        ControlStatus.NON_CONFORME: "non compliant",
        ControlStatus.NON_APPLICABLE: "not applicable",
        ControlStatus.A_EVALUER: "to assess",
        ControlStatus.ERREUR: "error",
        ControlStatus.HORS_PERIMETRE: "outside this audit's scope",
    },
}
VERDICT_STATUSES = (
    ControlStatus.CONFORME,
    ControlStatus.PARTIEL,
    ControlStatus.NON_CONFORME,
    ControlStatus.NON_APPLICABLE,
)
"""What an auditor can decide (`à évaluer` means "not decided yet", `erreur` is the tool's)."""


class VerdictsError(AuditlibError):
    """A verdicts file cannot be used; the message names the file, the entry and the key."""


def parse_status(text: Any) -> ControlStatus:
    """A status in French or English, with or without accents, any case, `_`/`-` for spaces."""
    raw = "" if text is None else str(text)
    try:
        return ControlStatus.parse(raw)
    except ValueError:
        folded = fold(raw.replace("_", " ").replace("-", " "))
        if folded in STATUS_ALIASES:
            return STATUS_ALIASES[folded]
        known = ", ".join(s.value for s in ControlStatus)
        english = ", ".join(STATUS_LABELS["en"].values())
        raise ValueError(f"unknown status {raw!r} (known: {known}; or {english})") from None


def parse_severity(text: Any) -> str:
    """`critique`/`critical`, `élevée`/`high`, `moyenne`/`medium`, `faible`/`low` -> English."""
    folded = fold(str(text).replace("_", " "))
    if folded in SEVERITY_ALIASES:
        return SEVERITY_ALIASES[folded]
    raise ValueError(
        f"unknown severity {text!r} (known: critique, élevée, moyenne, faible; "
        "or critical, high, medium, low)"
    )


def status_label(status: ControlStatus | str, language: str = "fr") -> str:
    labels = STATUS_LABELS.get(language, STATUS_LABELS["fr"])
    return labels[parse_status(status)]


def severity_label(severity: str | None, language: str = "fr") -> str:
    if not severity:
        return ""
    labels = SEVERITY_LABELS.get(language, SEVERITY_LABELS["fr"])
    try:
        return labels[parse_severity(severity)]
    except ValueError:
        return str(severity)


@dataclass(frozen=True)
class VerdictEntry:
    """One verdict to record for one control (what the form or the grille gives)."""

    control: str
    status: ControlStatus
    comment: str | None = None
    severity: str | None = None
    auditor: str | None = None
    date: dt.date | None = None

    def to_yaml(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"control": self.control, "status": self.status.value}
        if self.severity:
            entry["severity"] = self.severity
        if self.comment:
            entry["comment"] = self.comment
        if self.auditor:
            entry["auditor"] = self.auditor
        if self.date:
            entry["date"] = self.date.isoformat()
        return entry


# ----------------------------------------------------------------------------- reading


def read_document(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a verdicts file (not validated against a grid); refused with the
    file named when it is not a YAML mapping with a `verdicts` list."""
    source = Path(path)
    if source.is_dir():
        raise VerdictsError(f"{source}: is a folder, not a verdicts file")
    if not source.is_file():
        raise VerdictsError(f"{source.resolve()}: no such file")
    if source.stat().st_size == 0:
        return {"verdicts": []}
    try:
        raw = load_yaml_file(source, MAX_BYTES)  # strict: no aliases, sizes bounded
    except YamlInputError as exc:
        detail = str(exc).removeprefix(f"{source}: ")
        if "holds no data" in detail or "is empty" in detail:
            return {"verdicts": []}
        if "NUL bytes" in detail or "UTF-8" in detail:
            raise VerdictsError(f"{source}: not a UTF-8 text file") from None
        raise VerdictsError(f"{source}: not valid YAML: {detail}") from None
    if raw is None:
        return {"verdicts": []}
    if not isinstance(raw, dict):
        raise VerdictsError(f"{source}: expected a mapping with a 'verdicts' list at the top")
    if not isinstance(raw.get("verdicts") or [], list):
        raise VerdictsError(f"{source}: 'verdicts' must be a list")
    return raw


def load_verdicts(
    path: str | Path,
    grid: ControlGrid,
    provider_id: str | None = None,
    audit: str | None = None,
) -> list[AuditorVerdict]:
    """Read and validate a verdicts file against the grid; every problem is listed.

    `audit`: the audit being run (its folder name). A file recorded for another audit
    (its `audit:` key) is refused: last cycle's verdicts are never applied silently."""
    source = Path(path)
    return parse_verdicts(read_document(source), source.name, grid, provider_id, audit)


def parse_verdicts(
    raw: dict[str, Any],
    name: str,
    grid: ControlGrid,
    provider_id: str | None = None,
    audit: str | None = None,
) -> list[AuditorVerdict]:
    """Validate a verdicts mapping (as read from `name`)."""
    if provider_id is not None and raw.get("provider") not in (None, provider_id):
        raise VerdictsError(
            f"{name}: written for provider {raw.get('provider')!r}, not {provider_id!r}"
        )
    recorded_for = _text(raw.get("audit"))
    if audit is not None and recorded_for not in (None, audit):
        raise VerdictsError(
            f"{name}: recorded for audit {recorded_for!r}, not {audit!r}: verdicts belong to "
            "one audit. To reuse them, copy the entries you confirm into this audit's file "
            "(`auditlib new-audit` offers the previous cycle's as previous_verdicts.yaml)"
        )
    entries = raw.get("verdicts") or []
    if not isinstance(entries, list):
        raise VerdictsError(f"{name}: 'verdicts' must be a list")
    problems: list[str] = []
    unknown_top = sorted(set(map(str, raw)) - TOP_KEYS)
    if unknown_top:
        problems.append(f"{name}: unknown top-level key(s) {', '.join(unknown_top)}")
    default_auditor = _text(raw.get("auditor"))
    refs = {c.ref for c in grid.controls}
    verdicts: dict[str, AuditorVerdict] = {}
    for index, entry in enumerate(entries, start=1):
        where = f"{name}, entry {index}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping, got {type(entry).__name__}")
            continue
        unknown = sorted(set(map(str, entry)) - ENTRY_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {', '.join(unknown)}")
        try:
            status = parse_status(entry.get("status", ""))
        except ValueError as exc:
            problems.append(f"{where}, key 'status': {exc}")
            continue
        severity = _text(entry.get("severity"))
        if severity is not None:
            try:
                severity = parse_severity(severity)
            except ValueError as exc:
                problems.append(f"{where}, key 'severity': {exc}")
                continue
        date = entry.get("date")
        if date is not None and not isinstance(date, dt.date):
            try:
                date = dt.date.fromisoformat(str(date))
            except ValueError:
                problems.append(f"{where}, key 'date': {date!r} is not a date (YYYY-MM-DD)")
                continue
        targets = _targets(entry, grid, refs, where, problems)
        if status is ControlStatus.A_EVALUER:
            continue  # a placeholder still to fill: records nothing
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
            f"{name}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems)
        )
    return list(verdicts.values())


def resolve_control(text: str, grid: ControlGrid) -> str | None:
    """A control reference as the grid spells it (`exi-edc-psc-103/avant/2` accepted)."""
    ident, _, rest = str(text).strip().rpartition("/")
    ident, _, phase = ident.rpartition("/")
    req = normalise_requirement_id(ident, allow_bare_number=True)
    ref = f"{req}/{phase.upper()}/{rest.strip()}" if req else str(text).strip()
    return ref if ref in {c.ref for c in grid.controls} else None


def _targets(
    entry: dict[str, Any], grid: ControlGrid, refs: set[str], where: str, problems: list[str]
) -> list[str]:
    control = _text(entry.get("control"))
    requirement = _text(entry.get("requirement"))
    if bool(control) == bool(requirement):
        problems.append(f"{where}: give exactly one of 'control' or 'requirement'")
        return []
    if control:
        ref = resolve_control(control, grid)
        if ref is None:
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


# ----------------------------------------------------------------------------- writing

HEADER = (
    "# Auditor verdicts (format: docs/formats/verdicts.md).\n"
    "# status: conforme | partiellement conforme | non conforme | non applicable\n"
    "#   (English accepted: compliant, partially compliant, non compliant, not applicable;\n"
    "#   an entry left at 'à évaluer' records nothing)\n"
    "# severity: critique | élevée | moyenne | faible (or critical, high, medium, low)\n"
)


def render_document(
    provider_id: str,
    audit: str | None,
    auditor: str | None,
    entries: Sequence[dict[str, Any]],
    notes: dict[str, str] | None = None,
) -> str:
    """The YAML text of a verdicts file; `notes` (control -> text) become a comment line
    above each entry (the control's text, for whoever fills the file)."""
    head: dict[str, Any] = {"provider": provider_id}
    if audit:
        head["audit"] = audit
    if auditor:
        head["auditor"] = auditor
    parts = [HEADER, _dump(head)]
    if not entries:
        parts.append("verdicts: []\n")
        return "".join(parts)
    parts.append("verdicts:\n")
    for entry in entries:
        note = (notes or {}).get(str(entry.get("control")))
        if note:
            parts.append(f"# {' '.join(note.split())}\n")
        parts.append(_dump([entry]))
    return "".join(parts)


def _dump(value: Any) -> str:
    text: str = yaml.safe_dump(value, allow_unicode=True, sort_keys=False, width=100)
    return text


def merge_entries(
    existing: Iterable[Any], new: Sequence[VerdictEntry], grid: ControlGrid
) -> list[dict[str, Any]]:
    """`existing` raw entries with `new` ones replacing the same controls (a requirement
    entry covering a replaced control is split into its other controls)."""
    replaced = {e.control for e in new}
    merged: list[dict[str, Any]] = []
    for entry in existing:
        if not isinstance(entry, dict):
            merged.append(entry)  # kept: the final validation names it
            continue
        control = _text(entry.get("control"))
        requirement = _text(entry.get("requirement"))
        if control and resolve_control(control, grid) in replaced:
            continue
        if requirement and not control:
            req_id = normalise_requirement_id(requirement, allow_bare_number=True)
            covered = [c.ref for c in grid.controls if c.requirement_id == req_id]
            if replaced & set(covered):
                for ref in covered:
                    if ref not in replaced:
                        split = {k: v for k, v in entry.items() if k != "requirement"}
                        merged.append({"control": ref, **split})
                continue
        merged.append(entry)
    merged.extend(e.to_yaml() for e in new)
    return merged


def save_verdicts(
    path: str | Path,
    grid: ControlGrid,
    entries: Sequence[VerdictEntry],
    *,
    provider_id: str,
    audit: str | None = None,
    auditor: str | None = None,
    merge: bool = True,
) -> list[AuditorVerdict]:
    """Record `entries` in the verdicts file at `path` (merged into what it holds when
    `merge`), validated whole before the file is replaced atomically; returns the file's
    verdicts. A file of another provider or audit is refused, never overwritten."""
    target = Path(path)
    existing: list[Any] = []
    top: dict[str, Any] = {}
    if merge and target.exists():
        top = read_document(target)
        existing = list(top.get("verdicts") or [])
        # refuse another provider's or audit's file before touching it
        parse_verdicts({**top, "verdicts": []}, target.name, grid, provider_id, audit)
    merged = merge_entries(existing, entries, grid) if existing else [e.to_yaml() for e in entries]
    document: dict[str, Any] = {
        "provider": provider_id,
        "audit": audit or _text(top.get("audit")),
        "auditor": _text(top.get("auditor")) or auditor,
        "verdicts": merged,
    }
    verdicts = parse_verdicts(document, target.name, grid, provider_id, audit)
    text = render_document(provider_id, document["audit"], document["auditor"], merged)
    write_atomic(target, text)
    return verdicts
