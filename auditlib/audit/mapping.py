"""Which controls of a checkpoint workbook each automated check reaches.

`check_mapping(grid)` lists every automated check the assessment runs (each ANSSI rule on
the scanned endpoints and on the filed mTLS client certificate, each bundle check, each
supervision check), the requirement(s) it is mapped to (`profiles/assessment.yaml`, or the
file given with `--mapping`, and `profiles/supervision.yaml`), and the controls of the
workbook it reaches (requirement present and a control in one of the check's phases). A check
that reaches none would produce results no control shows: `auditlib checkpoints WORKBOOK
--check-mapping` exits 1 on it. Informative rules (HSTS) never count; the evidence checks whose
requirements come from the manifest or the workbook itself are listed as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditlib.audit.assess import AssessmentSettings
from auditlib.audit.checks import rule_requirements
from auditlib.checkpoints.reader import ControlGrid, Phase
from auditlib.tls.profile import Profile
from auditlib.tls.rules import CERT_RULES, load_profile
from auditlib.traces.model import SupervisionProfile, load_supervision_profile

BUNDLE_FAMILIES = (
    "conformite_sections",
    "pentest",
    "certificate_validity",
    "key_policy",
    "revocation",
)
DYNAMIC_FAMILIES = {
    "evidence_integrity": "exigences déclarées au manifeste pour chaque preuve",
    "evidence_missing": "exigences du classeur qui attendent une preuve (Format Avant)",
}


@dataclass(frozen=True)
class CheckMapping:
    """One automated check and the controls of one workbook it reaches."""

    check: str
    """`tls/R4`, `client_certificate/R27`, `pentest`, `supervision/send_identity`, ..."""
    title: str
    requirements: tuple[str, ...]
    phases: tuple[Phase, ...]
    reached: tuple[str, ...]
    """Refs of the workbook's controls the check's results attach to."""
    informative: bool = False
    """Reported apart, never part of a status (HSTS)."""
    dynamic: str | None = None
    """Where the requirements come from when not from the profiles."""

    @property
    def counts(self) -> bool:
        return not self.informative and self.dynamic is None

    @property
    def unreached(self) -> bool:
        """A counted check no control of the workbook shows."""
        return self.counts and not self.reached

    @property
    def state(self) -> str:
        if self.informative:
            return "informative"
        if self.dynamic is not None:
            return "dynamic"
        return "ok" if self.reached else "UNREACHED"


def _reached(
    grid: ControlGrid, requirements: tuple[str, ...], phases: tuple[Phase, ...]
) -> tuple[str, ...]:
    return tuple(
        c.ref for c in grid.controls if c.requirement_id in requirements and c.phase in phases
    )


def check_mapping(
    grid: ControlGrid,
    settings: AssessmentSettings | None = None,
    tls_profile: Profile | None = None,
    supervision: SupervisionProfile | None = None,
) -> list[CheckMapping]:
    """Every automated check with its requirements and the controls of `grid` it reaches."""
    settings = settings or AssessmentSettings.load()
    tls_profile = tls_profile or load_profile()
    supervision = supervision or load_supervision_profile()
    rows: list[CheckMapping] = []

    def add(check: str, title: str, requirements: tuple[str, ...], family: str) -> None:
        phases = settings.check_phases.get(family, tuple(Phase))
        rows.append(
            CheckMapping(check, title, requirements, phases, _reached(grid, requirements, phases))
        )

    for family, rules in (
        ("tls", [r for r in tls_profile.rules]),
        ("client_certificate", [r for r in tls_profile.rules if r.id in CERT_RULES]),
    ):
        if family not in settings.check_phases:
            continue
        for rule in rules:
            requirements = rule_requirements(rule.id, rule.requirement, settings)
            if not rule.counts:
                rows.append(
                    CheckMapping(
                        f"{family}/{rule.id}", rule.title, requirements, (), (), informative=True
                    )
                )
                continue
            add(f"{family}/{rule.id}", rule.title, requirements, family)
    for family in BUNDLE_FAMILIES:
        if family in settings.check_phases:
            add(family, family, settings.check_requirements.get(family, ()), family)
    if "supervision" in settings.check_phases:
        for name, spec in supervision.checks.items():
            if not spec.enabled:
                continue
            requirements = settings.supervision_requirements.get(name, spec.requirements)
            add(f"supervision/{name}", spec.title, requirements, "supervision")
    for family, origin in DYNAMIC_FAMILIES.items():
        if family in settings.check_phases:
            rows.append(
                CheckMapping(
                    family,
                    family,
                    (),
                    settings.check_phases[family],
                    (),
                    dynamic=origin,
                )
            )
    return rows


def mapping_settings(path: str | Path | None) -> AssessmentSettings:
    """The assessment profile given with `--mapping` (default: the packaged one)."""
    return AssessmentSettings.load(Path(path)) if path else AssessmentSettings.load()
