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

from auditlib.checkpoints.reader import Control, ControlGrid, Phase
from auditlib.errors import AuditlibError, YamlInputError
from auditlib.requirements import (
    Actor,
    fold,
    normalise_requirement_id,
    requirement_sort_key,
)
from auditlib.resources import profile_path
from auditlib.yamlio import load_yaml_file

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
    """The requirement applies to the provider, but not in the phases this audit covers
    (`trigger_phases` in profiles/assessment.yaml), or a result reaches no control of them."""

    @classmethod
    def parse(cls, text: str) -> ControlStatus:
        """Accept the statuses with or without accents, any case, `_` or `-` for spaces."""
        folded = fold(str(text).replace("_", " ").replace("-", " "))
        for status in cls:
            if fold(status.value) == folded or status.name.lower().replace("_", " ") == folded:
                return status
        aliases = {
            "partiel": cls.PARTIEL,
            "na": cls.NON_APPLICABLE,
            "n/a": cls.NON_APPLICABLE,
            "hors perimetre": cls.HORS_PERIMETRE,
        }
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
    ControlStatus.HORS_PERIMETRE,
    ControlStatus.NON_APPLICABLE,
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


DEADLINE_BASIS = "proposition de l'auditeur"
"""What a remediation deadline is: the auditor's proposal (docs/domain.md: neither the seed
nor public ANS material sets deadlines). Printed beside every deadline, in every output."""


class AuditOutcome(StrEnum):
    """What the auditor hands over (`findings.json` `outcome.value`)."""

    CONFORME = "conforme"
    CONFORME_AVEC_RESERVES = "conforme avec réserves"
    NON_CONFORME = "non conforme"
    NON_CONCLU = "non conclu"
    """Controls remain `à évaluer` or in `erreur` and nothing is non conforme: the audit
    cannot conclude yet (never rounded up to `conforme`)."""


class Recommendation(StrEnum):
    """The auditor's recommendation that goes with the outcome (a proposal, not an ANS rule)."""

    NONE = "aucune"
    CORRECTIVE_PLAN = "plan d'actions correctives"
    SUSPENSION = "suspension recommandée"
    COMPLETE_AUDIT = "compléter l'audit"


@dataclass(frozen=True)
class NonConformity:
    """A control found non (or partially) conforming, with the remediation date the auditor
    proposes (`DEADLINE_BASIS`; None when the assessment profile proposes none)."""

    control_ref: str
    requirement_id: str
    status: ControlStatus
    severity: str
    deadline: dt.date | None
    reasons: tuple[str, ...]
    deadline_basis: str = DEADLINE_BASIS

    @property
    def severity_label(self) -> str:
        return SEVERITY_LABELS.get(self.severity, self.severity)


UNMAPPED = "hors grille"
"""Disposition of a result none of whose requirements exists in the workbook."""


@dataclass(frozen=True)
class UnplacedResult:
    """An automated result that reached no assessed control, kept with the reason why.

    `disposition` is `hors grille` (none of its requirements is in the workbook: an
    *unmapped finding*, counted in the outcome), or `non applicable` (the requirement does
    not apply to the provider's roles) or `hors périmètre de cet audit` (it applies, but no
    control of the audit's phases covers it); the last two never change the outcome."""

    check: CheckResult
    disposition: str
    reason: str

    @property
    def unmapped(self) -> bool:
        return self.disposition == UNMAPPED


@dataclass(frozen=True)
class Outcome:
    """The audit's outcome and the recommendation that goes with it, with their grounds."""

    value: AuditOutcome
    recommendation: Recommendation
    reservations: tuple[str, ...]
    """Partially conforming controls and degraded unmapped results (`conforme avec réserves`)."""
    grounds: str
    """French sentence: why this outcome and this recommendation."""
    basis: str = DEADLINE_BASIS


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
    unplaced: tuple[UnplacedResult, ...] = ()
    """Results that reached no assessed control (nothing is dropped: see `UnplacedResult`)."""
    suspension_severities: tuple[str, ...] = ("critical",)

    @property
    def unmapped_findings(self) -> tuple[UnplacedResult, ...]:
        return tuple(u for u in self.unplaced if u.unmapped)

    @property
    def bottom_line(self) -> ControlStatus:
        """The worst control status, unmapped results included (a failing result whose
        requirement is not in the workbook makes the audit `non conforme`)."""
        return worst(
            [c.status for c in self.controls]
            + [_unmapped_status(u.check) for u in self.unmapped_findings]
        )

    @property
    def phases(self) -> tuple[Phase, ...]:
        """The phases this audit assessed (scope of the compte rendu)."""
        present = {c.control.phase for c in self.controls}
        return tuple(p for p in Phase if p in present)

    @property
    def outcome(self) -> Outcome:
        return audit_outcome(self)

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


def _unmapped_status(check: CheckResult) -> ControlStatus:
    """How an unmapped result weighs in the bottom line (as a control it would make)."""
    return {
        CheckOutcome.FAIL: ControlStatus.NON_CONFORME,
        CheckOutcome.DEGRADED: ControlStatus.PARTIEL,
        CheckOutcome.ERROR: ControlStatus.ERREUR,
        CheckOutcome.INCOMPLETE: ControlStatus.ERREUR,
        CheckOutcome.PASS: ControlStatus.CONFORME,
        CheckOutcome.PENDING: ControlStatus.A_EVALUER,
    }.get(check.outcome, ControlStatus.NON_APPLICABLE)


def audit_outcome(a: Assessment) -> Outcome:
    """`non conforme` when a control or an unmapped result is non conforme; `non conclu` when
    controls remain `à évaluer` or in `erreur`; `conforme avec réserves` when some are only
    partially conforming; `conforme` otherwise. The recommendation follows: suspension when a
    non-conformity has a severity listed under `outcomes.suspension_severities` of the
    assessment profile, a corrective plan for any other non-conformity or reservation."""
    statuses = [c.status for c in a.controls]
    unmapped = a.unmapped_findings
    failing = [u for u in unmapped if u.check.outcome is CheckOutcome.FAIL]
    degraded = [u for u in unmapped if u.check.outcome is CheckOutcome.DEGRADED]
    broken = [
        u for u in unmapped if u.check.outcome in (CheckOutcome.ERROR, CheckOutcome.INCOMPLETE)
    ]
    reservations = tuple(
        [f"{c.ref} : {c.reason}" for c in a.controls if c.status is ControlStatus.PARTIEL]
        + [f"{u.check.name} (hors grille) : {u.check.message}" for u in degraded]
    )
    nc_controls = [n for n in a.nonconformities if n.status is ControlStatus.NON_CONFORME]
    open_items = sum(s in (ControlStatus.A_EVALUER, ControlStatus.ERREUR) for s in statuses)
    open_items += len(broken)
    severe = [n.control_ref for n in nc_controls if n.severity in a.suspension_severities] + [
        u.check.name for u in failing if u.check.severity in a.suspension_severities
    ]
    if nc_controls or failing:
        value = AuditOutcome.NON_CONFORME
        grounds = f"{len(nc_controls)} contrôle(s) non conforme(s)"
        if failing:
            grounds += f", {len(failing)} constat(s) en échec hors grille"
        if severe:
            recommendation = Recommendation.SUSPENSION
            grounds += (
                " ; gravité justifiant une suspension ("
                + ", ".join(a.suspension_severities)
                + ") : "
                + ", ".join(severe)
            )
        else:
            recommendation = Recommendation.CORRECTIVE_PLAN
    elif open_items:
        value = AuditOutcome.NON_CONCLU
        recommendation = Recommendation.COMPLETE_AUDIT
        grounds = f"{open_items} contrôle(s) ou constat(s) à évaluer ou en erreur"
    elif reservations:
        value = AuditOutcome.CONFORME_AVEC_RESERVES
        recommendation = Recommendation.CORRECTIVE_PLAN
        grounds = f"{len(reservations)} réserve(s)"
    else:
        value = AuditOutcome.CONFORME
        recommendation = Recommendation.NONE
        grounds = "Tous les contrôles applicables sont conformes."
    return Outcome(
        value=value,
        recommendation=recommendation,
        reservations=reservations,
        grounds=grounds,
    )


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
    """The data half of the assessment (`profiles/assessment.yaml`, or the file given with
    `--mapping`): which requirement each check evidences, the remediation delays the auditor
    proposes, and the outcome rules."""

    remediation_days: dict[str, int]
    """Severity -> days, counted from the audit date: the auditor's proposal. Empty: none."""
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

    rule_requirements: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """ANSSI TLS / certificate rule id -> requirement(s), overriding the TLS profile's."""
    supervision_requirements: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Supervision check -> requirement(s), overriding `profiles/supervision.yaml`."""
    suspension_severities: tuple[str, ...] = ("critical",)
    source: Path | None = None

    @classmethod
    def load(cls, path: Path = ASSESSMENT_PROFILE) -> AssessmentSettings:
        return _load_settings(Path(path))

    def deadline(self, audit_date: dt.date, severity: str) -> dt.date | None:
        """The remediation date the auditor proposes for a non-conformity of `severity`."""
        days = self.remediation_days.get(severity, self.remediation_days.get("medium"))
        return None if days is None else audit_date + dt.timedelta(days=days)


def _requirement_ids(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str | int) and not isinstance(value, bool) else value
    if not isinstance(items, list):
        raise ValueError(f"{where}: expected a list of requirement ids, got {value!r}")
    out = []
    for item in items:
        ident = normalise_requirement_id(str(item), allow_bare_number=True)
        if ident is None:
            raise ValueError(f"{where}: {item!r} is not an EXI EDC PSC requirement id")
        out.append(ident)
    return tuple(out)


def _id_map(raw: Any, where: str) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(raw).__name__}")
    return {str(k): _requirement_ids(v, f"{where}.{k}") for k, v in raw.items()}


@cache
def _load_settings(path: Path) -> AssessmentSettings:
    try:
        raw = load_yaml_file(path)  # strict: no aliases, bounded size
        if not isinstance(raw, dict):
            raise ValueError("not a YAML mapping")
        checks = raw["checks"]
        if not isinstance(checks, dict):
            raise ValueError("checks: expected a mapping")
        days = raw.get("remediation_days") or {}
        if not isinstance(days, dict):
            raise ValueError("remediation_days: expected a mapping severity -> days")
        outcomes = raw.get("outcomes") or {}
        return AssessmentSettings(
            remediation_days={str(k): int(v) for k, v in days.items()},
            default_severity=str(raw["default_severity"]),
            check_phases={
                name: tuple(Phase(p) for p in (spec or {}).get("phases", [p.value for p in Phase]))
                for name, spec in checks.items()
            },
            check_requirements={
                name: _requirement_ids(
                    (spec or {}).get("requirements"), f"checks.{name}.requirements"
                )
                for name, spec in checks.items()
            },
            trigger_phases={
                str(AuditTrigger(name).value): tuple(Phase(p) for p in phases)
                for name, phases in (raw.get("trigger_phases") or {}).items()
            },
            rule_requirements=_id_map(raw.get("rule_requirements"), "rule_requirements"),
            supervision_requirements=_id_map(
                raw.get("supervision_requirements"), "supervision_requirements"
            ),
            suspension_severities=tuple(
                str(s) for s in outcomes.get("suspension_severities", ["critical"])
            ),
            source=path,
        )
    except (OSError, YamlInputError, KeyError, TypeError, ValueError, AttributeError) as exc:
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
            nonconformities.append(
                NonConformity(
                    control_ref=control.ref,
                    requirement_id=control.requirement_id,
                    status=status,
                    severity=severity,
                    deadline=settings.deadline(audit.date, severity),
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
        unplaced=place_results(checks, assessed, grid, applicable_ids),
        suspension_severities=settings.suspension_severities,
    )


def place_results(
    checks: Sequence[CheckResult],
    assessed: Sequence[ControlAssessment],
    grid: ControlGrid,
    applicable_ids: set[str],
) -> tuple[UnplacedResult, ...]:
    """Every result that reached no assessed control, with why (no result is ever dropped)."""
    reached = {id(k) for c in assessed for k in c.checks}
    out = []
    for check in checks:
        if id(check) in reached:
            continue
        known = [r for r in check.requirements if r in grid.requirements]
        if not known:
            wanted = ", ".join(check.requirements) or "aucune"
            out.append(
                UnplacedResult(
                    check,
                    UNMAPPED,
                    f"Aucune exigence de ce résultat ({wanted}) n'existe dans le classeur "
                    "de points de contrôle : constat hors grille",
                )
            )
        elif not any(r in applicable_ids for r in known):
            out.append(
                UnplacedResult(
                    check,
                    ControlStatus.NON_APPLICABLE.value,
                    f"{', '.join(known)} ne s'applique pas aux rôles du prestataire",
                )
            )
        else:
            phases = ", ".join(p.value for p in check.phases)
            out.append(
                UnplacedResult(
                    check,
                    ControlStatus.HORS_PERIMETRE.value,
                    f"{', '.join(known)} : aucun contrôle des phases de ce résultat "
                    f"({phases}) dans le périmètre de cet audit",
                )
            )
    return tuple(out)
