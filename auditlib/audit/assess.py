"""Assess one provider for one audit: every applicable control gets a status and its reasons.

Inputs are the control grid, the provider, the automated check results (built from the
evidence bundle, the TLS scans and the supervision traces by `auditlib.audit.checks`) and the
auditor's own verdicts. Statuses follow the compliance frameworks auditors know
(CISO Assistant, Prowler): a control no check reaches is `à évaluer`, never `conforme`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from auditlib.checkpoints.reader import Control, ControlGrid, Phase
from auditlib.errors import AuditlibError
from auditlib.requirements import Actor, fold, normalise_requirement_id, requirement_sort_key
from auditlib.resources import profile_path

if TYPE_CHECKING:
    import pandas as pd

    from auditlib.registry import Provider

ASSESSMENT_PROFILE = profile_path("assessment.yaml")


class AssessError(AuditlibError):
    """The assessment cannot be made (inconsistent inputs)."""


class ControlStatus(StrEnum):
    """Status of one control; values are the French words the report prints."""

    CONFORME = "conforme"
    PARTIEL = "partiellement conforme"
    NON_CONFORME = "non conforme"
    NON_APPLICABLE = "non applicable"
    A_EVALUER = "à évaluer"
    ERREUR = "erreur"
    HORS_PERIMETRE = "hors périmètre de cet audit"
    """The control's phase is outside what this audit's trigger assesses
    (`trigger_phases` in profiles/assessment.yaml)."""

    @classmethod
    def parse(cls, text: str) -> ControlStatus:
        """Accept the statuses with or without accents, any case, `_` or `-` for spaces."""
        folded = fold(str(text).replace("_", " ").replace("-", " "))
        for status in cls:
            if fold(status.value) == folded or status.name.lower().replace("_", " ") == folded:
                return status
        aliases = {"partiel": cls.PARTIEL, "na": cls.NON_APPLICABLE, "n/a": cls.NON_APPLICABLE}
        if folded in aliases:
            return aliases[folded]
        known = ", ".join(s.value for s in cls)
        raise ValueError(f"unknown status {text!r} (known: {known})")


# Worst first: the roll-up of several controls is the worst status among them.
STATUS_ORDER: tuple[ControlStatus, ...] = (
    ControlStatus.NON_CONFORME,
    ControlStatus.ERREUR,
    ControlStatus.PARTIEL,
    ControlStatus.A_EVALUER,
    ControlStatus.CONFORME,
    ControlStatus.NON_APPLICABLE,
    ControlStatus.HORS_PERIMETRE,
)
SEVERITY_ORDER = ("critical", "high", "medium", "low")
SEVERITY_LABELS = {"critical": "critique", "high": "élevée", "medium": "moyenne", "low": "faible"}


class CheckOutcome(StrEnum):
    """What one automated check concluded."""

    PASS = "pass"
    FAIL = "fail"
    DEGRADED = "degraded"
    """Acceptable only at a tolerated level, or a documented deviation."""
    INCOMPLETE = "incomplete"
    """The check ran but could not observe what it needs."""
    ERROR = "error"
    """The check could not run (endpoint unreachable, bundle unusable)."""
    NOT_APPLICABLE = "not_applicable"
    PENDING = "pending"
    """Not yet due: what is checked must exist by a deadline still ahead (the control
    stays `à évaluer`, the message says the deadline)."""


class AuditTrigger(StrEnum):
    """Why an audit happens (docs/domain.md: at least at each certificate expiry, or
    supervision)."""

    CERTIFICATE_EXPIRY = "certificate_expiry"
    SUPERVISION_EVENT = "supervision_event"
    INITIAL_ENTRY = "initial_entry"
    HABILITATION_EXPIRY = "habilitation_expiry"
    RENEWAL = "renewal"
    """Renouvellement des engagements."""

    @property
    def label(self) -> str:
        return {
            "certificate_expiry": "Expiration de certificat",
            "supervision_event": "Événement de supervision",
            "initial_entry": "Entrée dans l'Espace de Confiance",
            "habilitation_expiry": "Expiration d'habilitation",
            "renewal": "Renouvellement des engagements",
        }[self.value]


@dataclass(frozen=True)
class AuditSpec:
    """One audit of one provider."""

    provider_id: str
    trigger: AuditTrigger
    date: dt.date
    auditor: str | None = None
    reference: str | None = None
    """What triggered it: certificate serial and notAfter, or the supervision event."""
    scope_requirements: tuple[str, ...] = ()
    """Supervision trigger: the requirements the events name (their PENDANT controls are
    in scope); by default read from `reference`."""

    @property
    def audit_id(self) -> str:
        return f"{self.provider_id}-{self.trigger.value}-{self.date.isoformat()}"

    @property
    def folder_name(self) -> str:
        """The one rule naming an audit's output folder: provider, trigger and date, e.g.
        `medilogic_certificate_expiry_2026-11-28` (safe on every file system)."""
        raw = f"{self.provider_id}_{self.trigger.value}_{self.date.isoformat()}"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip(".-") or "audit"


@dataclass(frozen=True)
class CheckResult:
    """One automated check's conclusion, already mapped to requirements and phases."""

    check: str
    """Check family from `profiles/assessment.yaml` (`tls`, `pentest`, ...)."""
    name: str
    """What exactly was checked, e.g. `R4 @ api.example.fr:443` or an evidence file."""
    outcome: CheckOutcome
    message: str
    """French sentence for the report."""
    requirements: tuple[str, ...]
    phases: tuple[Phase, ...]
    severity: str = "medium"
    source: str | None = None
    """Endpoint, evidence file or trace export the result comes from."""


@dataclass(frozen=True)
class EvidenceRef:
    """An evidence file shown next to a control: name, hash, integrity status."""

    path: str
    kind: str | None
    sha256: str | None
    status: str
    date: dt.date | None = None


@dataclass(frozen=True)
class AuditorVerdict:
    """The auditor's judgement of a control (from `verdicts.yaml`)."""

    control_ref: str
    status: ControlStatus
    comment: str | None
    auditor: str | None
    date: dt.date | None
    severity: str | None = None
    source: str | None = None
    """Where it was written: `verdicts.yaml, entry 3`."""


@dataclass(frozen=True)
class ControlAssessment:
    """One control's status and everything that led to it."""

    control: Control
    status: ControlStatus
    automated_status: ControlStatus
    """What the checks alone concluded (shown beside an auditor override)."""
    checks: tuple[CheckResult, ...]
    evidence: tuple[EvidenceRef, ...]
    verdict: AuditorVerdict | None
    reason: str
    """French summary of why the status is what it is."""
    severity: str | None = None

    @property
    def overridden(self) -> bool:
        return self.verdict is not None and self.verdict.status is not self.automated_status

    @property
    def ref(self) -> str:
        return self.control.ref


@dataclass(frozen=True)
class NonConformity:
    """A control found non (or partially) conforming, with the date it must be fixed by."""

    control_ref: str
    requirement_id: str
    status: ControlStatus
    severity: str
    deadline: dt.date
    reasons: tuple[str, ...]

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS.get(self.severity, self.severity)


@dataclass(frozen=True)
class Conflict:
    """The auditor says conforme where an automated check failed: to review."""

    control_ref: str
    verdict: ControlStatus
    automated: ControlStatus
    failing_checks: tuple[str, ...]


@dataclass(frozen=True)
class ApplicabilityRow:
    """Statement of applicability: does a requirement apply to this provider, and why."""

    requirement_id: str
    chapter: str | None
    text: str | None
    applies: bool
    reason: str
    roles: tuple[Actor, ...]
    """The provider's roles the requirement applies to."""


@dataclass(frozen=True)
class Assessment:
    """Every applicable control of one provider for one audit, with the roll-ups."""

    audit: AuditSpec
    provider: Provider
    controls: tuple[ControlAssessment, ...]
    applicability: tuple[ApplicabilityRow, ...]
    nonconformities: tuple[NonConformity, ...]
    conflicts: tuple[Conflict, ...]
    checks: tuple[CheckResult, ...]
    grid: ControlGrid = field(repr=False)
    unmatched_verdicts: tuple[str, ...] = ()

    @property
    def bottom_line(self) -> ControlStatus:
        return worst(c.status for c in self.controls)

    def by_requirement(self) -> dict[str, ControlStatus]:
        groups: dict[str, list[ControlStatus]] = {}
        for c in self.controls:
            groups.setdefault(c.control.requirement_id, []).append(c.status)
        return {k: worst(groups[k]) for k in sorted(groups, key=requirement_sort_key)}

    def by_phase(self) -> dict[str, dict[str, int]]:
        return _counts_by(self.controls, lambda c: c.control.phase.value)

    def by_level(self) -> dict[str, dict[str, int]]:
        return _counts_by(
            self.controls, lambda c: c.control.level.code if c.control.level else "sans niveau"
        )

    def by_chapter(self) -> dict[str, dict[str, int]]:
        def chapter(c: ControlAssessment) -> str:
            req = self.grid.requirements.get(c.control.requirement_id)
            return (req.chapter if req and req.chapter else "Sans chapitre") or "Sans chapitre"

        return _counts_by(self.controls, chapter)

    def counts(self) -> dict[str, int]:
        counted = Counter(c.status for c in self.controls)
        return {s.value: counted.get(s, 0) for s in STATUS_ORDER}

    def control(self, ref: str) -> ControlAssessment:
        for c in self.controls:
            if c.ref == ref:
                return c
        raise KeyError(ref)

    def to_dataframe(self) -> pd.DataFrame:
        """The findings table: one row per control, worst first within each requirement."""
        import pandas as pd

        rows = [
            {
                "control": c.ref,
                "requirement": c.control.requirement_id,
                "phase": c.control.phase.value,
                "level": c.control.level.code if c.control.level else None,
                "status": c.status.value,
                "automated": c.automated_status.value,
                "override": c.overridden,
                "severity": c.severity,
                "reason": c.reason,
                "evidence": ", ".join(e.path for e in c.evidence),
                "comment": c.verdict.comment if c.verdict else None,
                "cell": c.control.cell,
            }
            for c in self.controls
        ]
        return pd.DataFrame(rows)


def worst(statuses: Iterable[ControlStatus]) -> ControlStatus:
    """The roll-up of several statuses: the worst; `non applicable` only when all are."""
    present = set(statuses)
    for status in STATUS_ORDER:
        if status in present:
            return status
    return ControlStatus.NON_APPLICABLE


def _counts_by(controls: Sequence[ControlAssessment], key: Any) -> dict[str, dict[str, int]]:
    table: dict[str, Counter[str]] = {}
    for c in controls:
        table.setdefault(key(c), Counter())[c.status.value] += 1
    return {k: {s.value: v.get(s.value, 0) for s in STATUS_ORDER} for k, v in table.items()}


_REQUIREMENT_IN_TEXT = re.compile(
    r"EXI[\s_\-.]*EDC[\s_\-.]*PSC[\s_\-.]*\d{1,4}(?:-\d{1,3})?", re.IGNORECASE
)


def requirements_in_text(text: str | None) -> tuple[str, ...]:
    """The requirement ids written in a text (a supervision trigger's reference)."""
    found = (normalise_requirement_id(m) for m in _REQUIREMENT_IN_TEXT.findall(text or ""))
    return tuple(dict.fromkeys(f for f in found if f))


@dataclass(frozen=True)
class AssessmentSettings:
    """The data half of the assessment: remediation delays and severities."""

    remediation_days: dict[str, int]
    default_severity: str
    check_phases: dict[str, tuple[Phase, ...]]
    check_requirements: dict[str, tuple[str, ...]]
    trigger_phases: dict[str, tuple[Phase, ...]] = field(default_factory=dict)
    """Which phases an audit assesses, by trigger; a trigger not listed assesses all."""

    def in_scope(self, control: Control, audit: AuditSpec) -> bool:
        """Does this audit assess this control? Its phase is one its trigger names, or (a
        supervision trigger) it is a PENDANT control of a requirement the events name."""
        phases = self.trigger_phases.get(audit.trigger.value)
        if phases is None or control.phase in phases:
            return True
        if audit.trigger is AuditTrigger.SUPERVISION_EVENT and control.phase is Phase.PENDANT:
            named = audit.scope_requirements or requirements_in_text(audit.reference)
            return control.requirement_id in named
        return False

    @classmethod
    def load(cls, path: Path = ASSESSMENT_PROFILE) -> AssessmentSettings:
        return _load_settings(path)


@cache
def _load_settings(path: Path) -> AssessmentSettings:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        checks = raw["checks"]
        return AssessmentSettings(
            remediation_days={str(k): int(v) for k, v in raw["remediation_days"].items()},
            default_severity=str(raw["default_severity"]),
            check_phases={
                name: tuple(Phase(p) for p in spec.get("phases", [p.value for p in Phase]))
                for name, spec in checks.items()
            },
            check_requirements={
                name: tuple(spec.get("requirements", [])) for name, spec in checks.items()
            },
            trigger_phases={
                str(AuditTrigger(name).value): tuple(Phase(p) for p in phases)
                for name, phases in (raw.get("trigger_phases") or {}).items()
            },
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise AssessError(f"assessment profile {path} cannot be used: {exc}") from exc


def automated_status(checks: Sequence[CheckResult]) -> tuple[ControlStatus, str]:
    """Status from check results alone, with the French reason.

    No check: `à évaluer`. Any failure: `non conforme`. A check that could not run:
    `erreur` (the control is not judged on partial grounds). Only tolerated results:
    `partiellement conforme`. All passed: `conforme`.
    """
    relevant = [c for c in checks if c.outcome is not CheckOutcome.NOT_APPLICABLE]
    if not relevant:
        if checks:
            return (
                ControlStatus.NON_APPLICABLE,
                "Les vérifications automatiques ne s'appliquent pas.",
            )
        return (
            ControlStatus.A_EVALUER,
            "Aucune vérification automatique : appréciation de l'auditeur requise.",
        )
    failed = [c for c in relevant if c.outcome is CheckOutcome.FAIL]
    if failed:
        return ControlStatus.NON_CONFORME, "; ".join(dict.fromkeys(c.message for c in failed))
    broken = [c for c in relevant if c.outcome in (CheckOutcome.ERROR, CheckOutcome.INCOMPLETE)]
    if broken:
        return ControlStatus.ERREUR, "; ".join(dict.fromkeys(c.message for c in broken))
    degraded = [c for c in relevant if c.outcome is CheckOutcome.DEGRADED]
    if degraded:
        return ControlStatus.PARTIEL, "; ".join(dict.fromkeys(c.message for c in degraded))
    pending = [c for c in relevant if c.outcome is CheckOutcome.PENDING]
    if pending:
        return ControlStatus.A_EVALUER, "; ".join(dict.fromkeys(c.message for c in pending))
    return ControlStatus.CONFORME, f"{len(relevant)} vérification(s) automatique(s) satisfaite(s)."


def _severity_of(checks: Sequence[CheckResult], default: str) -> str:
    bad = [
        c.severity
        for c in checks
        if c.outcome in (CheckOutcome.FAIL, CheckOutcome.DEGRADED) and c.severity in SEVERITY_ORDER
    ]
    if not bad:
        return default
    return min(bad, key=SEVERITY_ORDER.index)


def statement_of_applicability(grid: ControlGrid, roles: Sequence[Actor]) -> list[ApplicabilityRow]:
    rows = []
    for req_id in grid.requirement_ids():
        req = grid.requirements[req_id]
        hits = tuple(r for r in roles if req.applicability.get(r))
        unknown = [r for r in roles if r in req.applicability and req.applicability[r] is None]
        missing = [r for r in roles if r not in req.applicability]
        if hits:
            reason = "S'applique au(x) rôle(s) : " + ", ".join(r.label for r in hits)
        else:
            parts = [
                "Ne vise aucun des rôles du prestataire (" + ", ".join(r.label for r in roles) + ")"
            ]
            if unknown:
                parts.append(
                    "applicabilité non renseignée pour " + ", ".join(r.value for r in unknown)
                )
            if missing:
                parts.append(
                    "le classeur n'a pas de colonne pour " + ", ".join(r.value for r in missing)
                )
            reason = " ; ".join(parts)
        rows.append(
            ApplicabilityRow(
                requirement_id=req_id,
                chapter=req.chapter,
                text=req.text,
                applies=bool(hits),
                reason=reason,
                roles=hits,
            )
        )
    return rows


def assess(
    grid: ControlGrid,
    provider: Provider,
    audit: AuditSpec,
    checks: Sequence[CheckResult] = (),
    evidence: dict[str, list[EvidenceRef]] | None = None,
    verdicts: Sequence[AuditorVerdict] = (),
    settings: AssessmentSettings | None = None,
) -> Assessment:
    """Give every control that applies to the provider's roles a status and its reasons.

    `evidence` maps a requirement id to the files filed for it (shown next to each of
    its controls). Auditor verdicts override the automated status; where they say
    `conforme` against a failed check, the pair is listed in `conflicts` for review.
    """
    if audit.provider_id != provider.id:
        raise AssessError(
            f"audit is for provider {audit.provider_id!r} but the provider given is {provider.id!r}"
        )
    settings = settings or AssessmentSettings.load()
    evidence = evidence or {}
    applicability = statement_of_applicability(grid, provider.roles)
    applicable_ids = {row.requirement_id for row in applicability if row.applies}
    by_ref = {v.control_ref: v for v in verdicts}
    known_refs = {c.ref for c in grid.controls}
    unmatched = tuple(
        f"{v.source or 'verdicts'}: {v.control_ref}"
        for v in verdicts
        if v.control_ref not in known_refs
    )

    assessed: list[ControlAssessment] = []
    nonconformities: list[NonConformity] = []
    conflicts: list[Conflict] = []
    for control in grid.controls:
        if control.requirement_id not in applicable_ids:
            continue
        mine = tuple(
            c
            for c in checks
            if control.requirement_id in c.requirements and control.phase in c.phases
        )
        auto, reason = automated_status(mine)
        if not settings.in_scope(control, audit):
            mine = ()
            auto = ControlStatus.HORS_PERIMETRE
            reason = (
                f"Phase {control.phase.value} hors du périmètre d'un audit « "
                f"{audit.trigger.label} » (profiles/assessment.yaml, trigger_phases)."
            )
        verdict = by_ref.get(control.ref)
        status = verdict.status if verdict else auto
        if verdict is not None:
            note = f"Appréciation de l'auditeur ({verdict.auditor or 'auditeur'})"
            if verdict.comment:
                note += f" : {verdict.comment}"
            if verdict.status is not auto:
                note += f". Statut automatique : {auto.value} ({reason})"
            reason = note
        severity = None
        if status in (ControlStatus.NON_CONFORME, ControlStatus.PARTIEL):
            severity = (verdict.severity if verdict and verdict.severity else None) or _severity_of(
                mine, settings.default_severity
            )
            days = settings.remediation_days.get(severity, settings.remediation_days["medium"])
            nonconformities.append(
                NonConformity(
                    control_ref=control.ref,
                    requirement_id=control.requirement_id,
                    status=status,
                    severity=severity,
                    deadline=audit.date + dt.timedelta(days=days),
                    reasons=(reason,),
                )
            )
        if (
            verdict is not None
            and verdict.status is ControlStatus.CONFORME
            and auto in (ControlStatus.NON_CONFORME, ControlStatus.ERREUR, ControlStatus.PARTIEL)
        ):
            conflicts.append(
                Conflict(
                    control_ref=control.ref,
                    verdict=verdict.status,
                    automated=auto,
                    failing_checks=tuple(
                        c.name for c in mine if c.outcome is not CheckOutcome.PASS
                    ),
                )
            )
        assessed.append(
            ControlAssessment(
                control=control,
                status=status,
                automated_status=auto,
                checks=mine,
                evidence=tuple(evidence.get(control.requirement_id, ())),
                verdict=verdict,
                reason=reason,
                severity=severity,
            )
        )
    nonconformities.sort(
        key=lambda n: (
            SEVERITY_ORDER.index(n.severity) if n.severity in SEVERITY_ORDER else 9,
            requirement_sort_key(n.requirement_id),
            n.control_ref,
        )
    )
    return Assessment(
        audit=audit,
        provider=provider,
        controls=tuple(assessed),
        applicability=tuple(applicability),
        nonconformities=tuple(nonconformities),
        conflicts=tuple(conflicts),
        checks=tuple(checks),
        grid=grid,
        unmatched_verdicts=unmatched,
    )
