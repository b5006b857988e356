"""The audit plan: which audits are due, and when.

docs/domain.md: an audit is due at least at each certificate expiry, and supervision can
trigger one. The certificates come from two places that may disagree: what the
provider's endpoints show on the wire (scan observations) and what the provider filed
in its evidence bundle. Both are read, de-duplicated by SHA-256 fingerprint, and each
leaf certificate expiring before the horizon makes an audit due on its notAfter date.
Supervision events at or above a severity make an audit due a few days after the event.
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
from auditlib.errors import AuditlibError, PlanError
from auditlib.evidence.bundle import load_bundle
from auditlib.evidence.model import CertificateUse, EvidenceBundle, ItemKind, ItemStatus
from auditlib.registry import Provider, Registry
from auditlib.severity import Severity
from auditlib.tls.scan import TlsObservation
from auditlib.traces.model import SupervisionEvent

DEFAULT_WITHIN = dt.timedelta(days=90)
DEFAULT_EVENT_DELAY = dt.timedelta(days=30)
"""A supervision-triggered audit is due this long after the event."""
DEFAULT_MIN_SEVERITY = Severity.MEDIUM
"""Same floor as the supervision profile's `event_min_severity`."""
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
    event: SupervisionEvent | None = None
    pentest_renewed: bool | None = None
    """Pentest report dated on or after the certificate's notBefore; None when unknown."""

    @property
    def overdue(self) -> bool:
        return self.days_until_due < 0

    @property
    def reference(self) -> str:
        """What triggered the audit, in French (the report's `Référence` line)."""
        if self.certificate is not None:
            c = self.certificate
            return (
                f"certificat {c.subject} n° {c.serial}, expire le {c.not_after.date().isoformat()}"
            )
        if self.event is not None:
            e = self.event
            return (
                f"événement de supervision du {e.date.isoformat()} "
                f"(sévérité {e.severity.value}) : {e.event}"
            )
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
            "certificate": None
            if c is None
            else {
                "subject": c.subject,
                "serial": c.serial,
                "not_before": c.not_before.isoformat(),
                "not_after": c.not_after.isoformat(),
                "fingerprint": c.fingerprint,
                "sources": list(c.sources),
            },
            "event": None
            if e is None
            else {"date": e.date.isoformat(), "event": e.event, "severity": e.severity.value},
            "pentest_renewed": self.pentest_renewed,
        }


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


def _leaf_certificates(
    provider: Provider,
    observations: Sequence[TlsObservation],
    bundle: EvidenceBundle | None,
) -> list[tuple[CertificateInfo, str]]:
    """(certificate, where seen): each endpoint's leaf on the wire, then filed leaves."""
    found: list[tuple[CertificateInfo, str]] = []
    by_address = {(o.host, o.port): o for o in observations}
    for endpoint in provider.endpoints:
        obs = by_address.get((endpoint.host, endpoint.port))
        if obs is not None and obs.leaf is not None:
            found.append((obs.leaf, f"scan {endpoint.host}:{endpoint.port} ({obs.label})"))
    if bundle is not None and bundle.usable:
        for item in bundle.items:
            if not item.intact or item.kind is not ItemKind.CERTIFICATE:
                continue
            if item.certificate_use is CertificateUse.CA:
                continue
            for cert in item.certificates:
                if not cert.is_ca:
                    found.append((cert, f"bundle {item.path}"))
    return found


def _merge(found: list[tuple[CertificateInfo, str]]) -> list[PlannedCertificate]:
    """De-duplicate by fingerprint, keeping every source; drop superseded filed
    certificates (only in the bundle, and another certificate of the same subject expires
    later: it has been renewed). What an endpoint serves is never dropped."""
    merged: dict[str, tuple[CertificateInfo, list[str]]] = {}
    for cert, source in found:
        key = cert.sha256_fingerprint.lower()
        if key not in merged:
            merged[key] = (cert, [])
        if source not in merged[key][1]:
            merged[key][1].append(source)
    latest: dict[str, dt.datetime] = {}
    for cert, _ in merged.values():
        latest[cert.subject] = max(latest.get(cert.subject, cert.not_after), cert.not_after)
    return [
        PlannedCertificate(
            subject=cert.subject,
            serial=cert.serial,
            not_before=cert.not_before,
            not_after=cert.not_after,
            fingerprint=cert.sha256_fingerprint,
            sources=tuple(sources),
        )
        for cert, sources in merged.values()
        if cert.not_after >= latest[cert.subject] or any(s.startswith("scan ") for s in sources)
    ]


def pentest_renewed(bundle: EvidenceBundle | None, not_before: dt.datetime) -> bool | None:
    """Was the newest intact pentest report made on or after the certificate's notBefore?

    None when the bundle cannot tell (missing or unusable); False when it holds no report.
    """
    if bundle is None or not bundle.usable:
        return None
    dates = [
        i.pentest.report_date
        for i in bundle.items
        if i.intact and i.kind is ItemKind.PENTEST_REPORT and i.pentest is not None
    ]
    if not dates:
        return False
    return max(dates) >= not_before.astimezone(dt.UTC).date()


def plan_audits(
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
    problems: list[PlanProblem] | None = None,
) -> list[PlannedAudit]:
    """Every audit due by `as_of + within`, overdue ones included, overdue first.

    `observations`: saved scan results (matched to endpoints by host and port).
    `checkpoints_known`: requirement ids of the workbook, passed to the bundle loader.
    `bundles`: already loaded bundles by provider id (the loader is not called for them).
    `problems`: when given, a provider whose bundle is unusable or cannot be read at all
    is appended there (with the reason) and the plan goes on for the others; without it,
    unusable bundles are passed over and any other failure raises `PlanError`.
    """
    if within < dt.timedelta(0):
        raise PlanError("the planning window cannot be negative")
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
    planned: list[PlannedAudit] = []
    loaded = dict(bundles or {})

    for provider in registry:
        try:
            bundle = loaded.get(provider.id)
            if bundle is None:
                bundle = load_bundle(
                    provider.evidence_bundle,
                    known_requirements=known,
                    as_of=instant,
                    provider_id=provider.id,
                )
                loaded[provider.id] = bundle
            mine = []
            for cert in _merge(_leaf_certificates(provider, observations or (), bundle)):
                due = cert.not_after.astimezone(dt.UTC).date()
                if due > horizon:
                    continue
                mine.append(
                    PlannedAudit(
                        provider_id=provider.id,
                        provider_name=provider.name,
                        trigger=AuditTrigger.CERTIFICATE_EXPIRY,
                        due_date=due,
                        days_until_due=(due - day).days,
                        audit_date=day,
                        certificate=cert,
                        pentest_renewed=pentest_renewed(bundle, cert.not_before),
                    )
                )
        except Exception as exc:  # one provider's hostile input must not stop the plan
            if problems is None:
                raise PlanError(
                    f"provider {provider.id!r}: cannot plan: {describe_exception(exc)}"
                ) from exc
            problems.append(PlanProblem(provider.id, describe_exception(exc)))
            continue
        planned += mine
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
        planned.append(
            PlannedAudit(
                provider_id=target.id,
                provider_name=target.name,
                trigger=AuditTrigger.SUPERVISION_EVENT,
                due_date=due,
                days_until_due=(due - day).days,
                audit_date=day,
                event=dataclasses.replace(event, provider=target.id),
            )
        )
    planned.sort(
        key=lambda a: (
            not a.overdue,
            a.due_date,
            a.provider_id,
            a.trigger.value,
            a.certificate.fingerprint if a.certificate else (a.event.event if a.event else ""),
        )
    )
    return planned


# --------------------------------------------------------------------------- display


def format_plan(audits: Sequence[PlannedAudit], as_of: dt.date, within: dt.timedelta) -> str:
    """A plain-text table, one line per due audit."""
    horizon = as_of + within
    head = f"Audits due by {horizon.isoformat()} (as of {as_of.isoformat()}, within {within.days}d)"
    if not audits:
        return head + ": none\n"
    rows = [("DUE", "DAYS", "PROVIDER", "TRIGGER", "REFERENCE", "PENTEST")]
    for a in audits:
        if a.certificate is not None:
            ref = f"{a.certificate.common_name} #{a.certificate.serial[:12]}"
        elif a.event is not None:
            ref = f"{a.event.severity.value}: {a.event.event}"
        else:
            ref = "-"
        if len(ref) > 60:
            ref = ref[:59] + "…"
        pentest = {True: "renewed", False: "NOT renewed", None: "-"}[a.pentest_renewed]
        days = f"{a.days_until_due}" + (" OVERDUE" if a.overdue else "")
        rows.append((a.due_date.isoformat(), days, a.provider_id, a.trigger.value, ref, pentest))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    ]
    overdue = sum(1 for a in audits if a.overdue)
    tail = f"{len(audits)} audit(s) due, {overdue} overdue"
    return head + "\n" + "\n".join(lines) + "\n" + tail + "\n"
