"""The audit plan: which audits are due, and when (docs/guide/plan.md).

docs/domain.md (seed): an audit is due at least at each expiry of the EDC means of
authentication, the IGC-Santé certificates, and supervision can trigger one. The
certificates come from two places that may disagree: what the provider's endpoints show on
the wire (scan observations) and what the provider filed in its evidence bundle. Both are
read, de-duplicated by SHA-256 fingerprint and classified once (`auditlib.classify`):
IGC-Santé certificates of one habilitation expiring close together make one audit, due on
the first notAfter; every other certificate is listed as out of scope with its reason.
Habilitation expiry, the renewal of commitments and a candidature (initial entry) are
triggers too; supervision events at or above a severity make an audit due after the event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditlib.audit.assess import AuditTrigger
from auditlib.certs import CertificateInfo
from auditlib.classify import ChainEnvironment, Classification, Classifier
from auditlib.errors import AuditlibError, PlanError
from auditlib.evidence.bundle import load_bundle
from auditlib.evidence.model import CertificateUse, EvidenceBundle, ItemKind, ItemStatus
from auditlib.registry import (
    Environment,
    Habilitation,
    HabilitationStatus,
    Provider,
    Registry,
)
from auditlib.requirements import normalise_requirement_id
from auditlib.severity import Severity
from auditlib.tls.scan import TlsObservation
from auditlib.traces.model import SupervisionEvent, load_supervision_profile

DEFAULT_WITHIN = dt.timedelta(days=90)
DEFAULT_EVENT_DELAY = dt.timedelta(days=30)
"""A supervision-triggered audit is due this long after the event."""
DEFAULT_MIN_SEVERITY = Severity.MEDIUM
"""Same floor as the supervision profile's `event_min_severity`."""
DEFAULT_LEAD = dt.timedelta(days=60)
"""Public ANS material: the technical contact is warned 60 days before a certificate
expires, and renewal is only possible while it is valid: the audit opens then."""
DEFAULT_GROUP_WINDOW = dt.timedelta(days=30)
"""The project's own default: certificates of one habilitation whose notAfter fall within
this many days of the first one are one audit."""
MAX_WITHIN_DAYS = 3660

_DURATION_RE = re.compile(r"^\s*(\d{1,5})\s*([dwm]?)\s*$", re.IGNORECASE)
_UNIT_DAYS = {"": 1, "d": 1, "w": 7, "m": 30}


def parse_duration(text: str) -> dt.timedelta:
    """`90d`, `12w`, `3m` (a month counts 30 days) or a bare number of days."""
    match = _DURATION_RE.match(str(text))
    if not match:
        raise PlanError(
            f"bad duration {text!r}: expected a number of days, weeks or months, "
            "e.g. 90d, 12w or 3m"
        )
    days = int(match.group(1)) * _UNIT_DAYS[match.group(2).lower()]
    if days > MAX_WITHIN_DAYS:
        raise PlanError(f"duration {text!r} is longer than {MAX_WITHIN_DAYS} days")
    return dt.timedelta(days=days)


def parse_date(text: str) -> dt.date:
    """An ISO date (`2026-11-28`); a clear error otherwise."""
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise PlanError(f"bad date {text!r}: expected an ISO date such as 2026-11-28") from None


@dataclass(frozen=True)
class PlannedCertificate:
    """A certificate whose expiry makes an audit due, with everywhere it was seen."""

    subject: str
    serial: str
    not_before: dt.datetime
    not_after: dt.datetime
    fingerprint: str
    """SHA-256 fingerprint (the de-duplication key)."""
    sources: tuple[str, ...]
    """`scan host:port (label)` and/or `bundle <item path>`."""
    classification: Classification | None = None
    habilitation: str | None = None
    """Number of the habilitation the certificate was attributed to."""

    @property
    def reference(self) -> str:
        return (
            f"certificat {self.subject} n° {self.serial}, expire le "
            f"{self.not_after.date().isoformat()}"
        )

    def to_dict(self) -> dict[str, Any]:
        c = self.classification
        return {
            "subject": self.subject,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "fingerprint": self.fingerprint,
            "sources": list(self.sources),
            "habilitation": self.habilitation,
            "classification": None
            if c is None
            else {
                "igc_sante": c.igc_sante,
                "environment": c.environment.value,
                "product": c.product,
                "use": c.use,
                "anchor": c.anchor,
                "anchor_verified": c.anchor_verified,
                "label": c.label,
                "reason": c.reason,
            },
        }

    @property
    def common_name(self) -> str:
        for part in self.subject.split(","):
            if part.startswith("CN="):
                return part[3:]
        return self.subject


@dataclass(frozen=True)
class PlannedAudit:
    """One due audit: who, why, when, and what the audit notebook needs to run it."""

    provider_id: str
    provider_name: str
    trigger: AuditTrigger
    due_date: dt.date
    days_until_due: int
    """Negative when overdue."""
    audit_date: dt.date
    """The day the audit is carried out (the plan's reference day)."""
    certificate: PlannedCertificate | None = None
    """The certificate whose expiry triggers the audit (the first of `certificates`)."""
    event: SupervisionEvent | None = None
    pentest_renewed: bool | None = None
    """A pentest report dated within the triggering certificate's validity (on or before
    its notAfter); None when unknown."""
    certificates: tuple[PlannedCertificate, ...] = ()
    """Every IGC-Santé certificate of the habilitation cycle this audit covers."""
    habilitation: str | None = None
    """Number of the habilitation this audit is for, when known."""
    dependencies: tuple[str, ...] = ()
    """French: what is wrong with the habilitations this one relies on (shown in the plan)."""
    lead: dt.timedelta = DEFAULT_LEAD
    requirements: tuple[str, ...] = ()
    """Supervision trigger: the requirements the event names (the audit's PENDANT scope)."""

    @property
    def overdue(self) -> bool:
        return self.days_until_due < 0

    @property
    def opens_on(self) -> dt.date:
        """The day the audit should start: `lead` before it is due."""
        return self.due_date - self.lead

    @property
    def reference(self) -> str:
        """What triggered the audit, in French (the report's `Référence` line)."""
        suffix = f" (habilitation {self.habilitation})" if self.habilitation else ""
        if self.certificate is not None:
            certs = self.certificates or (self.certificate,)
            if len(certs) == 1:
                return certs[0].reference + suffix
            return "certificats : " + " ; ".join(c.reference for c in certs) + suffix
        if self.event is not None:
            e = self.event
            text = (
                f"événement de supervision du {e.date.isoformat()} "
                f"(sévérité {e.severity.value}) : {e.event}"
            )
            if self.requirements:
                text += f" [exigences : {', '.join(self.requirements)}]"
            return text
        if self.habilitation:
            day = self.due_date.isoformat()
            return f"{self.trigger.label} : habilitation {self.habilitation}, le {day}"
        return self.trigger.label

    def parameters(
        self,
        *,
        registry_path: str | Path,
        checkpoints_path: str | Path,
        output_dir: str | Path,
        scan_results_path: str | Path | None = None,
        verdicts_path: str | Path | None = None,
        ca_dir: str | Path | None = None,
        crl_source: str | Path | None = None,
        auditor: str | None = None,
        language: str = "fr",
        previous_findings: str | Path | None = None,
    ) -> dict[str, str | None]:
        """The audit notebook's papermill parameters (strings or None; never a secret).
        `previous_findings`: the provider's previous audit record, compared with this one."""

        def text(value: str | Path | None) -> str | None:
            return None if value is None else str(Path(value).absolute())

        return {
            "provider_id": self.provider_id,
            "audit_date": self.audit_date.isoformat(),
            "trigger": self.trigger.value,
            "trigger_reference": self.reference,
            "registry_path": text(registry_path),
            "checkpoints_path": text(checkpoints_path),
            "scan_results_path": text(scan_results_path),
            "verdicts_path": text(verdicts_path),
            "ca_dir": text(ca_dir),
            "crl_source": text(crl_source),
            "output_dir": text(output_dir),
            "previous_findings": text(previous_findings),
            "auditor": auditor,
            "language": language,
        }

    def to_dict(self) -> dict[str, Any]:
        c = self.certificate
        e = self.event
        return {
            "provider_id": self.provider_id,
            "provider_name": self.provider_name,
            "trigger": self.trigger.value,
            "due_date": self.due_date.isoformat(),
            "days_until_due": self.days_until_due,
            "overdue": self.overdue,
            "audit_date": self.audit_date.isoformat(),
            "reference": self.reference,
            "opens_on": self.opens_on.isoformat(),
            "habilitation": self.habilitation,
            "certificate": None if c is None else c.to_dict(),
            "certificates": [x.to_dict() for x in self.certificates],
            "event": None
            if e is None
            else {"date": e.date.isoformat(), "event": e.event, "severity": e.severity.value},
            "requirements": list(self.requirements),
            "pentest_renewed": self.pentest_renewed,
            "dependencies": list(self.dependencies),
        }


@dataclass(frozen=True)
class OutOfScope:
    """A certificate seen or filed that makes no audit due, and why (never dropped silently)."""

    provider_id: str
    subject: str
    fingerprint: str
    """Lower-case hexadecimal SHA-256."""
    reason: str
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id,
            "subject": self.subject,
            "fingerprint": self.fingerprint,
            "reason": self.reason,
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class PlanFinding:
    """Something the plan found wrong on the way (a TEST-chain certificate in production,
    a broken habilitation dependency): French, for the auditor."""

    provider_id: str
    kind: str
    """`test_certificate_in_production`, `dependency`."""
    message: str
    habilitation: str | None = None
    fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider_id": self.provider_id,
            "kind": self.kind,
            "habilitation": self.habilitation,
            "fingerprint": self.fingerprint,
            "message": self.message,
        }


@dataclass(frozen=True)
class Plan:
    """The whole plan: the audits due, the certificates out of scope, the findings."""

    audits: list[PlannedAudit]
    out_of_scope: list[OutOfScope]
    findings: list[PlanFinding]


@dataclass(frozen=True)
class PlanProblem:
    """A provider the plan could not judge (bundle unusable or unreadable): the plan goes
    on for the others; `plan` exits 2 and `batch` records the provider as failed."""

    provider_id: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"provider_id": self.provider_id, "reason": self.reason}


def describe_exception(exc: BaseException) -> str:
    """One line for an unexpected exception: its type, then its first line (shortened)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if len(text) > 300:
        text = text[:299] + "…"
    if isinstance(exc, AuditlibError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unusable_reason(bundle: EvidenceBundle) -> str:
    reasons = [f.message for f in bundle.findings[1:3]] or [f.message for f in bundle.findings]
    return f"evidence bundle {bundle.source} unusable: " + " ".join(reasons)[:300]


# --------------------------------------------------------------------------- planning


def _as_date(as_of: dt.date | dt.datetime) -> dt.date:
    if isinstance(as_of, dt.datetime):
        return as_of.astimezone(dt.UTC).date() if as_of.tzinfo else as_of.date()
    return as_of


@dataclass(frozen=True)
class _Seen:
    cert: CertificateInfo
    source: str
    habilitation: str | None
    """The habilitation the endpoint serving it is tied to (registry format 2)."""


def _leaf_certificates(
    provider: Provider,
    observations: Sequence[TlsObservation],
    bundle: EvidenceBundle | None,
) -> list[_Seen]:
    """Each endpoint's leaf on the wire, then the filed leaves (CA certificates excluded)."""
    found: list[_Seen] = []
    by_address = {(o.host, o.port): o for o in observations}
    for endpoint in provider.endpoints:
        obs = by_address.get((endpoint.host, endpoint.port))
        if obs is not None and obs.leaf is not None:
            found.append(
                _Seen(
                    obs.leaf,
                    f"scan {endpoint.host}:{endpoint.port} ({obs.label})",
                    endpoint.habilitation,
                )
            )
    if bundle is not None and bundle.usable:
        for item in bundle.items:
            if not item.intact or item.kind is not ItemKind.CERTIFICATE:
                continue
            if item.certificate_use is CertificateUse.CA:
                continue
            for cert in item.certificates:
                if not cert.is_ca:
                    found.append(_Seen(cert, f"bundle {item.path}", _endpoint_of(provider, cert)))
    return found


def _endpoint_of(provider: Provider, cert: CertificateInfo) -> str | None:
    """The habilitation of the endpoint a filed certificate names (its DNS names or CN
    match the endpoint's server name), if that endpoint is tied to one."""
    names = {n.lower() for n in cert.san_dns} | {cert.common_name.lower()}
    for endpoint in provider.endpoints:
        if endpoint.habilitation and endpoint.server_name.lower() in names:
            return endpoint.habilitation
    return None


@dataclass
class _Merged:
    cert: CertificateInfo
    sources: list[str]
    habilitations: list[str]

    def planned(
        self, classification: Classification | None = None, habilitation: str | None = None
    ) -> PlannedCertificate:
        return PlannedCertificate(
            subject=self.cert.subject,
            serial=self.cert.serial,
            not_before=self.cert.not_before,
            not_after=self.cert.not_after,
            fingerprint=self.cert.sha256_fingerprint.lower(),
            sources=tuple(self.sources),
            classification=classification,
            habilitation=habilitation,
        )


def _merge(found: list[_Seen]) -> tuple[list[_Merged], list[_Merged]]:
    """De-duplicate by fingerprint, keeping every source. Returns (kept, superseded):
    a certificate only filed in the bundle while another of the same subject expires
    later has been renewed; what an endpoint serves is never superseded."""
    merged: dict[str, _Merged] = {}
    for seen in found:
        key = seen.cert.sha256_fingerprint.lower()
        entry = merged.setdefault(key, _Merged(seen.cert, [], []))
        if seen.source not in entry.sources:
            entry.sources.append(seen.source)
        if seen.habilitation and seen.habilitation not in entry.habilitations:
            entry.habilitations.append(seen.habilitation)
    latest: dict[str, dt.datetime] = {}
    for m in merged.values():
        latest[m.cert.subject] = max(latest.get(m.cert.subject, m.cert.not_after), m.cert.not_after)
    kept: list[_Merged] = []
    superseded: list[_Merged] = []
    for m in merged.values():
        served = any(s.startswith("scan ") for s in m.sources)
        (kept if served or m.cert.not_after >= latest[m.cert.subject] else superseded).append(m)
    return kept, superseded


def pentest_renewed(
    bundle: EvidenceBundle | None, not_before: dt.datetime, not_after: dt.datetime | None = None
) -> bool | None:
    """Is there an intact pentest report dated within the certificate's validity (on or
    after its notBefore, on or before its notAfter)? docs/domain.md (seed): the test is
    renewed before each certificate expiry.

    None when the bundle cannot tell (missing or unusable); False when it holds none.
    """
    if bundle is None or not bundle.usable:
        return None
    start = not_before.astimezone(dt.UTC).date()
    end = not_after.astimezone(dt.UTC).date() if not_after is not None else None
    dates = [
        i.pentest.report_date
        for i in bundle.items
        if i.intact and i.kind is ItemKind.PENTEST_REPORT and i.pentest is not None
    ]
    return any(d >= start and (end is None or d <= end) for d in dates)


_WANTED_ENVIRONMENT = {
    ChainEnvironment.PRODUCTION: Environment.PRODUCTION,
    ChainEnvironment.TEST: Environment.BAS,
}


def attribute_habilitation(
    provider: Provider, classification: Classification, named: Sequence[str] = ()
) -> Habilitation | None:
    """The habilitation a certificate belongs to: the one its endpoint names; the only
    one; else the first (not expired) whose environment matches the certificate's chain
    (production chain -> production, test chain -> BAS); else the first production one."""
    for number in named:
        found = provider.habilitation_by_number(number)
        if found is not None:
            return found
    habs = list(provider.habilitations)
    if len(habs) <= 1:
        return habs[0] if habs else None
    pool = [h for h in habs if h.status is not HabilitationStatus.EXPIRED] or habs
    wanted = _WANTED_ENVIRONMENT.get(classification.environment)
    match = [h for h in pool if h.environment is wanted]
    if match:
        return match[0]
    production = [h for h in pool if h.environment is Environment.PRODUCTION]
    return (production or pool)[0]


def _group(certs: list[PlannedCertificate], window: dt.timedelta) -> list[list[PlannedCertificate]]:
    """Certificates sorted by notAfter; each group spans at most `window` from its first."""
    groups: list[list[PlannedCertificate]] = []
    for cert in sorted(certs, key=lambda c: (c.not_after, c.fingerprint)):
        if groups and cert.not_after - groups[-1][0].not_after <= window:
            groups[-1].append(cert)
        else:
            groups.append([cert])
    return groups


def audited_in_history(history: Path) -> dict[str, list[dt.date]]:
    """Provider id -> dates of the audits found in `history` (`*/findings.json`, as the
    batch writes them). An unreadable record is an error, not a silent "never audited"."""
    import json

    if not history.is_dir():
        raise PlanError(f"history folder {history}: no such folder")
    found: dict[str, list[dt.date]] = {}
    for record in sorted(history.glob("*/findings.json")):
        try:
            data = json.loads(record.read_text("utf-8"))
            audit = data["audit"]
            day = dt.date.fromisoformat(str(audit["date"]))
            found.setdefault(str(audit["provider_id"]), []).append(day)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PlanError(f"history record {record} is unusable: {exc!r}") from None
    return found


_REQ_IN_TEXT = re.compile(r"EXI[\s_\-.]*EDC[\s_\-.]*PSC[\s_\-.]*\d{1,4}(?:-\d{1,3})?", re.I)
_CHECK_IN_TEXT = re.compile(r"\[([a-z0-9_]+)\]")


def event_requirements(event: SupervisionEvent) -> tuple[str, ...]:
    """The requirements a supervision event names: ids written in its text, and those the
    supervision profile maps to the check it cites (`[check]`, as `auditlib traces`
    writes events)."""
    found: list[str] = []
    for match in _REQ_IN_TEXT.findall(event.event):
        ident = normalise_requirement_id(match)
        if ident:
            found.append(ident)
    checks = _CHECK_IN_TEXT.findall(event.event)
    if checks:
        profile = load_supervision_profile()
        for name in checks:
            spec = profile.checks.get(name)
            if spec is not None:
                found.extend(spec.requirements)
    return tuple(dict.fromkeys(found))


def make_plan(
    registry: Registry,
    as_of: dt.date | dt.datetime,
    within: dt.timedelta = DEFAULT_WITHIN,
    *,
    observations: Sequence[TlsObservation] | None = None,
    events: Iterable[SupervisionEvent] | None = None,
    checkpoints_known: Iterable[str] | None = None,
    min_severity: Severity | str = DEFAULT_MIN_SEVERITY,
    event_delay: dt.timedelta = DEFAULT_EVENT_DELAY,
    bundles: dict[str, EvidenceBundle] | None = None,
    classifier: Classifier | None = None,
    lead: dt.timedelta = DEFAULT_LEAD,
    group_window: dt.timedelta = DEFAULT_GROUP_WINDOW,
    history: Path | None = None,
    problems: list[PlanProblem] | None = None,
) -> Plan:
    """Every audit due by `as_of + within` (overdue ones included, overdue first), every
    certificate out of scope with its reason, and what the plan found wrong.

    `observations`: saved scan results (matched to endpoints by host and port).
    `checkpoints_known`: requirement ids of the workbook, passed to the bundle loader.
    `bundles`: already loaded bundles by provider id (the loader is not called for them).
    `classifier`: `auditlib.classify.Classifier` with the `--ca-dir` anchors; default
    without anchors (IGC-Santé by policy OID and issuer name, "ancre non vérifiée").
    `history`: a folder of past audits; a habilitation with none since it was issued
    gets an `initial_entry` audit.
    `problems`: when given, a provider whose bundle is unusable or cannot be read at all
    is appended there (with the reason) and the plan goes on for the others; without it,
    unusable bundles are passed over and any other failure raises `PlanError`.
    """
    if within < dt.timedelta(0):
        raise PlanError("the planning window cannot be negative")
    if lead < dt.timedelta(0) or group_window < dt.timedelta(0):
        raise PlanError("the lead time and the grouping window cannot be negative")
    day = _as_date(as_of)
    try:
        horizon = day + within
    except OverflowError:
        raise PlanError(
            f"as of {day.isoformat()} plus {within.days} days is past the last date "
            "Python can represent (9999-12-31)"
        ) from None
    instant = dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)
    known = list(checkpoints_known) if checkpoints_known is not None else None
    floor = Severity(min_severity)
    classify = classifier or Classifier()
    planned: list[PlannedAudit] = []
    out_of_scope: list[OutOfScope] = []
    findings: list[PlanFinding] = []
    loaded = dict(bundles or {})
    past = audited_in_history(history) if history is not None else None

    def audit(provider: Provider, trigger: AuditTrigger, due: dt.date, **extra: Any) -> None:
        planned.append(
            PlannedAudit(
                provider_id=provider.id,
                provider_name=provider.name,
                trigger=trigger,
                due_date=due,
                days_until_due=(due - day).days,
                audit_date=day,
                lead=lead,
                **extra,
            )
        )

    for provider in registry:
        marks = (len(planned), len(out_of_scope), len(findings))
        try:
            dependency_text: dict[str, tuple[str, ...]] = {}
            for hab in provider.habilitations:
                # a version 1 number is shared by every role of the provider: one entry each
                issues = registry.dependency_issues(provider, hab, day)
                noted = dependency_text.get(hab.number, ())
                dependency_text[hab.number] = noted + tuple(
                    i.message for i in issues if i.message not in noted
                )
                findings.extend(
                    PlanFinding(provider.id, "dependency", i.message, habilitation=hab.number)
                    for i in issues
                )

            bundle = loaded.get(provider.id)
            if bundle is None:
                bundle = load_bundle(
                    provider.evidence_bundle,
                    known_requirements=known,
                    as_of=instant,
                    provider_id=provider.id,
                )
                loaded[provider.id] = bundle
            kept, superseded = _merge(_leaf_certificates(provider, observations or (), bundle))
            # a renewed certificate still valid ends its cycle: its expiry makes the audit due
            # (seed: at least at each certificate expiry); an expired one is history.
            kept += [m for m in superseded if m.cert.not_after >= instant]
            superseded = [m for m in superseded if m.cert.not_after < instant]
            for m in superseded:
                out_of_scope.append(
                    OutOfScope(
                        provider.id,
                        m.cert.subject,
                        m.cert.sha256_fingerprint.lower(),
                        "remplacé par un certificat plus récent de même sujet, et expiré",
                        tuple(m.sources),
                    )
                )
            by_habilitation: dict[str, list[PlannedCertificate]] = {}
            for m in kept:
                c = classify.classify(m.cert)
                fingerprint = m.cert.sha256_fingerprint.lower()
                if not c.igc_sante:
                    out_of_scope.append(
                        OutOfScope(
                            provider.id, m.cert.subject, fingerprint, c.reason, tuple(m.sources)
                        )
                    )
                    continue
                owner = attribute_habilitation(provider, c, m.habilitations)
                if c.is_test and owner is not None and owner.environment is Environment.PRODUCTION:
                    message = (
                        f"Certificat de la chaîne de TEST « {m.cert.subject} » "
                        f"({', '.join(m.sources)}) utilisé pour l'habilitation de production "
                        f"{owner.number}"
                    )
                    findings.append(
                        PlanFinding(
                            provider.id,
                            "test_certificate_in_production",
                            message,
                            habilitation=owner.number,
                            fingerprint=fingerprint,
                        )
                    )
                    out_of_scope.append(
                        OutOfScope(
                            provider.id,
                            m.cert.subject,
                            fingerprint,
                            "chaîne de TEST sur une habilitation de production : pas un moyen "
                            "d'authentification de production (constat du plan)",
                            tuple(m.sources),
                        )
                    )
                    continue
                number = owner.number if owner is not None else ""
                by_habilitation.setdefault(number, []).append(m.planned(c, number or None))
            for number, certs in by_habilitation.items():
                for group in _group(certs, group_window):
                    first = group[0]
                    due = first.not_after.astimezone(dt.UTC).date()
                    if due > horizon:
                        continue
                    audit(
                        provider,
                        AuditTrigger.CERTIFICATE_EXPIRY,
                        due,
                        certificate=first,
                        certificates=tuple(group),
                        habilitation=number or None,
                        pentest_renewed=pentest_renewed(bundle, first.not_before, first.not_after),
                        dependencies=dependency_text.get(number, ()),
                    )

            entered: set[str] = set()
            for hab in provider.habilitations:
                deps = dependency_text.get(hab.number, ())
                status = hab.status_on(day)
                audited = past is not None and any(
                    hab.issued is None or d >= hab.issued for d in past.get(provider.id, [])
                )
                if hab.number not in entered and (
                    status is HabilitationStatus.CANDIDATE or (past is not None and not audited)
                ):
                    entered.add(hab.number)
                    audit(
                        provider,
                        AuditTrigger.INITIAL_ENTRY,
                        day,
                        habilitation=hab.number,
                        dependencies=deps,
                    )
                if (
                    hab.status is HabilitationStatus.ACTIVE
                    and hab.expires is not None
                    and hab.expires <= horizon
                ):
                    audit(
                        provider,
                        AuditTrigger.HABILITATION_EXPIRY,
                        hab.expires,
                        habilitation=hab.number,
                        dependencies=deps,
                    )
                if (
                    hab.commitments_renewal is not None
                    and hab.commitments_renewal <= horizon
                    and status is not HabilitationStatus.EXPIRED
                ):
                    audit(
                        provider,
                        AuditTrigger.RENEWAL,
                        hab.commitments_renewal,
                        habilitation=hab.number,
                        dependencies=deps,
                    )
        except Exception as exc:  # one provider's hostile input must not stop the plan
            if problems is None:
                raise PlanError(
                    f"provider {provider.id!r}: cannot plan: {describe_exception(exc)}"
                ) from exc
            del planned[marks[0] :], out_of_scope[marks[1] :], findings[marks[2] :]
            problems.append(PlanProblem(provider.id, describe_exception(exc)))
            continue
        if problems is not None and not bundle.usable:
            problems.append(PlanProblem(provider.id, _unusable_reason(bundle)))
        elif problems is not None:
            problems += [
                PlanProblem(
                    provider.id,
                    f"certificate {item.path} in the evidence bundle is {item.status.value}: "
                    "its expiry is unknown",
                )
                for item in bundle.items
                if item.kind is ItemKind.CERTIFICATE and item.status is not ItemStatus.OK
            ]

    for event in events or ():
        if not event.severity.at_least(floor):
            continue
        target = registry.find(event.provider)
        if target is None:
            raise PlanError(
                f"supervision event of {event.date.isoformat()} ({event.event!r}) names "
                f"provider {event.provider!r}, which is not in the registry {registry.path}"
            )
        try:
            due = event.date + event_delay
        except OverflowError:
            raise PlanError(
                f"supervision event of {event.date.isoformat()}: date too far"
            ) from None
        if due > horizon:
            continue
        audit(
            target,
            AuditTrigger.SUPERVISION_EVENT,
            due,
            event=dataclasses.replace(event, provider=target.id),
            requirements=event_requirements(event),
        )
    planned.sort(
        key=lambda a: (
            not a.overdue,
            a.due_date,
            a.provider_id,
            a.trigger.value,
            a.habilitation or "",
            a.certificate.fingerprint if a.certificate else (a.event.event if a.event else ""),
        )
    )
    out_of_scope.sort(key=lambda o: (o.provider_id, o.subject, o.fingerprint))
    return Plan(audits=planned, out_of_scope=out_of_scope, findings=findings)


def plan_audits(
    registry: Registry,
    as_of: dt.date | dt.datetime,
    within: dt.timedelta = DEFAULT_WITHIN,
    **options: Any,
) -> list[PlannedAudit]:
    """The audits of `make_plan` (same options)."""
    return make_plan(registry, as_of, within, **options).audits


# --------------------------------------------------------------------------- display


def format_plan(
    audits: Sequence[PlannedAudit],
    as_of: dt.date,
    within: dt.timedelta,
    plan: Plan | None = None,
) -> str:
    """A plain-text table, one line per due audit; then, with `plan`, the certificates out
    of scope and the plan's findings (dependencies, TEST certificates in production)."""
    horizon = as_of + within
    head = f"Audits due by {horizon.isoformat()} (as of {as_of.isoformat()}, within {within.days}d)"
    out = head + ": none\n" if not audits else ""
    if audits:
        rows = [
            ("DUE", "OPENS", "DAYS", "PROVIDER", "TRIGGER", "HABILITATION", "REFERENCE", "PENTEST")
        ]
        for a in audits:
            if a.certificate is not None:
                certs = a.certificates or (a.certificate,)
                ref = ", ".join(f"{c.common_name} #{c.serial[:8]}" for c in certs)
            elif a.event is not None:
                ref = f"{a.event.severity.value}: {a.event.event}"
            else:
                ref = a.trigger.label
            if a.dependencies:
                ref += f" [{len(a.dependencies)} dépendance(s) en défaut]"
            if len(ref) > 70:
                ref = ref[:69] + "…"
            pentest = {True: "renewed", False: "NOT renewed", None: "-"}[a.pentest_renewed]
            if a.pentest_renewed is False and a.certificate is not None and a.days_until_due >= 0:
                pentest = f"due by {a.due_date.isoformat()}"
            days = f"{a.days_until_due}" + (" OVERDUE" if a.overdue else "")
            rows.append(
                (
                    a.due_date.isoformat(),
                    a.opens_on.isoformat(),
                    days,
                    a.provider_id,
                    a.trigger.value,
                    a.habilitation or "-",
                    ref,
                    pentest,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
            for r in rows
        ]
        overdue = sum(1 for a in audits if a.overdue)
        tail = f"{len(audits)} audit(s) due, {overdue} overdue"
        out = head + "\n" + "\n".join(lines) + "\n" + tail + "\n"
    if plan is not None and plan.out_of_scope:
        out += f"\nOut of scope ({len(plan.out_of_scope)} certificate(s), no audit due):\n"
        for o in plan.out_of_scope:
            out += f"  {o.provider_id}  {o.subject}  sha256 {o.fingerprint[:16]}…  {o.reason}\n"
    if plan is not None and plan.findings:
        out += f"\nFindings ({len(plan.findings)}):\n"
        for f in plan.findings:
            out += f"  {f.provider_id}  {f.kind}  {f.message}\n"
    return out
