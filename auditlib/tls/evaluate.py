"""Judge TLS observations and certificates against the ANSSI TLS profile (EXI EDC PSC 115/116).

The profile is data (`auditlib/profiles/anssi-tls-v1.2.yaml`, loaded by
`auditlib.tls.profile`); the rule functions are in `auditlib.tls.rules`. This module
runs them and aggregates: one `RuleResult` per rule, a verdict per EXI requirement and
one `bottom_line` per endpoint. "Incomplete" (could not judge) is never a FAIL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from auditlib.certs import CertificateInfo
from auditlib.tls.profile import (
    Profile,
    RuleSpec,
    RuleStatus,
    Verdict,
)
from auditlib.tls.rules import (
    CERT_RULES,
    ENDPOINT_RULES,
    CertificateContext,
    EndpointContext,
    Outcome,
    SuiteVerdict,
    Usage,
    classify_suites,
    load_profile,
    missing_reason,
    split_suite,
)
from auditlib.tls.scan import ScanStatus, TlsObservation

# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RuleResult:
    """The verdict of one rule on one endpoint or certificate."""

    rule_id: str
    status: RuleStatus
    reason: str
    """French sentence naming the offending items."""
    requirement: str | None
    severity: str
    title: str = ""
    level: str = "recommended"
    deviation: str | None = None
    """Set when a DEGRADED status is a documented, accepted deviation (IGC-Santé 3 years)."""
    counts: bool = True
    verified: bool = False
    """Whether the rule's number and title were checked against a cited public text."""


@dataclass(frozen=True)
class RequirementVerdict:
    requirement: str
    bottom_line: Verdict
    failed: tuple[str, ...] = ()
    degraded: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()
    not_tested: tuple[str, ...] = ()


@dataclass(frozen=True)
class EndpointEvaluation:
    """Every rule's result for one endpoint, with one overall verdict."""

    label: str
    host: str
    port: int
    scan_status: ScanStatus
    scan_error: str | None
    profile_id: str
    level: str
    as_of: dt.datetime
    results: tuple[RuleResult, ...]
    requirements: tuple[RequirementVerdict, ...]
    bottom_line: Verdict
    days_until_expiry: int | None = None
    certificate_not_after: dt.datetime | None = None
    hsts: RuleResult | None = None
    """The HSTS result, reported separately (never part of `bottom_line`)."""
    suites: tuple[SuiteVerdict, ...] = ()
    """Every accepted suite with the rules it breaks (the report's suite table)."""

    def result(self, rule_id: str) -> RuleResult:
        for res in self.results:
            if res.rule_id == rule_id:
                return res
        raise KeyError(rule_id)

    def rows(self) -> list[dict[str, Any]]:
        """One flat row per rule (for a pandas DataFrame in the notebook or the report)."""
        return [
            {
                "endpoint": self.label,
                "rule": r.rule_id,
                "title": r.title,
                "status": r.status.value,
                "reason": r.reason,
                "requirement": r.requirement,
                "severity": r.severity,
                "deviation": r.deviation,
                "counts": r.counts,
                "verified": r.verified,
            }
            for r in self.results
        ]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        if self.certificate_not_after:
            data["certificate_not_after"] = self.certificate_not_after.isoformat()
        return data


def _result(spec: RuleSpec, outcome: Outcome) -> RuleResult:
    status, reason = outcome[0], outcome[1]
    deviation = outcome[2] if len(outcome) > 2 else None
    return RuleResult(
        rule_id=spec.id,
        status=status,
        reason=reason,
        requirement=spec.requirement,
        severity=spec.severity,
        title=spec.title,
        level=spec.level,
        deviation=deviation,
        counts=spec.counts,
        verified=spec.verified,
    )


# --------------------------------------------------------------------------- entry points


def _utc(when: dt.datetime | None) -> dt.datetime:
    if when is None:
        return dt.datetime.now(dt.UTC)
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def evaluate_certificate(
    info: CertificateInfo,
    usage: Usage = "server",
    profile: Profile | None = None,
    as_of: dt.datetime | None = None,
    *,
    issuer: CertificateInfo | None = None,
    expected_name: str | None = None,
    chain: Sequence[CertificateInfo] = (),
) -> list[RuleResult]:
    """Certificate rules (R24–R33, RGS B1, IGC-Santé issuer and expiry) on one certificate.

    Works on a bare certificate (e.g. the mTLS client certificate of an evidence bundle):
    pass its `issuer` to let R32 compare key identifiers, `expected_name` for R29.
    """
    if usage not in ("server", "client"):
        raise ValueError(f"usage must be 'server' or 'client', not {usage!r}")
    profile = profile or load_profile()
    ctx = CertificateContext(
        info=info,
        usage=usage,
        profile=profile,
        as_of=_utc(as_of),
        issuer=issuer,
        expected_name=expected_name,
        chain=tuple(chain) or ((info, issuer) if issuer else (info,)),
    )
    return [
        _result(spec, CERT_RULES[spec.id](ctx)) for spec in profile.rules if spec.id in CERT_RULES
    ]


def _issuer_of(
    leaf: CertificateInfo, candidates: Iterable[CertificateInfo]
) -> CertificateInfo | None:
    for cand in candidates:
        if cand.subject == leaf.issuer and cand is not leaf:
            return cand
    return None


def evaluate(
    observation: TlsObservation, profile: Profile | None = None, as_of: dt.datetime | None = None
) -> EndpointEvaluation:
    """Judge one endpoint's observation against every rule of the profile."""
    profile = profile or load_profile()
    when = _utc(as_of)
    obs = observation
    needs_client_cert = client_certificate_required(obs)
    unreachable = obs.status == ScanStatus.ERROR and (not obs.protocols or needs_client_cert)
    results: list[RuleResult] = []
    suite_verdicts: tuple[SuiteVerdict, ...] = ()
    if needs_client_cert:
        reason = (
            "certificat client exigé : le serveur demande un certificat client (TLS mutuel) "
            "et aucun n'a été fourni ; point d'accès non analysé"
        )
        results = [_result(spec, (RuleStatus.INCOMPLETE, reason)) for spec in profile.rules]
    elif unreachable:
        reason = f"point d'accès non analysé : {obs.error or 'erreur inconnue'}"
        results = [_result(spec, (RuleStatus.INCOMPLETE, reason)) for spec in profile.rules]
    else:
        leaf = obs.leaf
        suites = tuple(
            (proto.version, suite, split_suite(suite, leaf))
            for proto in obs.protocols
            for suite in proto.suites
        )
        ctx = EndpointContext(obs=obs, profile=profile, as_of=when, suites=suites)
        suite_verdicts = classify_suites(suites, profile)
        cert_results: dict[str, RuleResult] = {}
        if leaf is not None:
            verified = obs.path_validation.verified_chain if obs.path_validation else ()
            issuer = _issuer_of(leaf, [*obs.chain[1:], *verified])
            for res in evaluate_certificate(
                leaf,
                "server",
                profile,
                when,
                issuer=issuer,
                expected_name=obs.sni,
                chain=obs.chain,
            ):
                cert_results[res.rule_id] = res
        for spec in profile.rules:
            if spec.id in ENDPOINT_RULES:
                results.append(_result(spec, ENDPOINT_RULES[spec.id](ctx)))
            elif spec.id in cert_results:
                results.append(cert_results[spec.id])
            else:
                missing = missing_reason(ctx, "certificate_info") or "certificat non observé"
                results.append(_result(spec, (RuleStatus.INCOMPLETE, missing)))
    counted = [r for r in results if r.counts]
    hsts_result = next((r for r in results if r.rule_id == "HSTS"), None)
    requirements = tuple(
        _requirement_verdict(req, [r for r in counted if r.requirement == req], profile)
        for req in sorted({r.requirement for r in counted if r.requirement})
    )
    leaf = obs.leaf
    return EndpointEvaluation(
        label=obs.label,
        host=obs.host,
        port=obs.port,
        scan_status=obs.status,
        scan_error=obs.error,
        profile_id=profile.id,
        level=profile.level,
        as_of=when,
        results=tuple(results),
        requirements=requirements,
        bottom_line=(
            Verdict.INCOMPLETE
            if needs_client_cert
            else _bottom_line(counted, profile, obs.status == ScanStatus.ERROR)
        ),
        days_until_expiry=leaf.days_until_expiry(when) if leaf else None,
        certificate_not_after=leaf.not_after if leaf else None,
        hsts=hsts_result,
        suites=suite_verdicts,
    )


def client_certificate_required(obs: TlsObservation) -> bool:
    """The server demands a client certificate and the scan had none: nothing it showed
    can be judged (its probes end in refusals or time-outs), the endpoint is incomplete."""
    return obs.status == ScanStatus.ERROR and obs.client_auth == "REQUIRED" and not obs.client_cert


def _requirement_verdict(
    requirement: str, results: Sequence[RuleResult], profile: Profile
) -> RequirementVerdict:
    return RequirementVerdict(
        requirement=requirement,
        bottom_line=_bottom_line(results, profile, scan_error=False),
        failed=tuple(r.rule_id for r in results if _fails(r, profile)),
        degraded=tuple(
            r.rule_id for r in results if r.status == RuleStatus.DEGRADED and not _fails(r, profile)
        ),
        incomplete=tuple(r.rule_id for r in results if r.status == RuleStatus.INCOMPLETE),
        not_tested=tuple(r.rule_id for r in results if r.status == RuleStatus.NOT_TESTED),
    )


def _fails(result: RuleResult, profile: Profile) -> bool:
    if result.status == RuleStatus.FAIL:
        return True
    return (
        result.status == RuleStatus.DEGRADED
        and result.deviation is None
        and profile.level == "recommended"
    )


def _bottom_line(results: Sequence[RuleResult], profile: Profile, scan_error: bool) -> Verdict:
    """NON_COMPLIANT beats ERROR beats INCOMPLETE beats DEGRADED beats COMPLIANT.

    A rule NOT_TESTED never counts as compliant: the verdict is at best DEGRADED."""
    if any(_fails(r, profile) for r in results):
        return Verdict.NON_COMPLIANT
    if scan_error:
        return Verdict.ERROR
    if any(r.status == RuleStatus.INCOMPLETE for r in results):
        return Verdict.INCOMPLETE
    if any(r.status in (RuleStatus.DEGRADED, RuleStatus.NOT_TESTED) for r in results):
        return Verdict.DEGRADED
    return Verdict.COMPLIANT


def bottom_line_of(results: Sequence[RuleResult], profile: Profile | None = None) -> Verdict:
    """One verdict for a list of rule results, e.g. `evaluate_certificate` on a client cert."""
    profile = profile or load_profile()
    return _bottom_line([r for r in results if r.counts], profile, scan_error=False)


def evaluate_all(
    observations: Sequence[TlsObservation],
    profile: Profile | None = None,
    as_of: dt.datetime | None = None,
) -> list[EndpointEvaluation]:
    profile = profile or load_profile()
    return [evaluate(obs, profile, as_of) for obs in observations]
