"""Turn each source of automated evidence into `CheckResult`s the assessment can map.

Sources: the evidence bundle (integrity, missing proofs, pentest recency, document de
conformité sections, certificate validity), the ANSSI evaluation of each scanned
endpoint, the ANSSI certificate rules applied to the mTLS client certificate filed in
the bundle, and the supervision trace analysis. Which requirement and phase each
family reaches is data (`profiles/assessment.yaml`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from auditlib.audit.assess import AssessmentSettings, CheckOutcome, CheckResult, EvidenceRef
from auditlib.certs import CertificateInfo
from auditlib.checkpoints.reader import ControlGrid, Phase
from auditlib.evidence.model import (
    CertificateUse,
    EvidenceBundle,
    FindingCode,
    ItemKind,
    ItemStatus,
)
from auditlib.tls.evaluate import evaluate_certificate

if TYPE_CHECKING:
    from auditlib.tls.evaluate import EndpointEvaluation, RuleResult
    from auditlib.tls.scan import TlsObservation
    from auditlib.traces.analysis import TraceAnalysis

INTEGRITY_PROBLEMS = {
    ItemStatus.HASH_MISMATCH: "empreinte SHA-256 différente de celle du manifeste",
    ItemStatus.MISSING: "listée au manifeste mais absente du dossier",
    ItemStatus.UNREADABLE: "illisible",
}
CONFORMITE_CODES = {
    FindingCode.CONFORMITE_MISSING,
    FindingCode.CONFORMITE_SECTION_MISSING,
    FindingCode.CONFORMITE_SECTION_EMPTY,
    FindingCode.DOCUMENT_UNREADABLE,
    FindingCode.DOCUMENT_FORMAT_UNSUPPORTED,
}
PENTEST_CODES = {
    FindingCode.PENTEST_MISSING,
    FindingCode.PENTEST_OUTDATED,
    FindingCode.PENTEST_DETAILS_MISSING,
}
RULE_OUTCOMES = {
    "PASS": CheckOutcome.PASS,
    "FAIL": CheckOutcome.FAIL,
    "DEGRADED": CheckOutcome.DEGRADED,
    "NOT_APPLICABLE": CheckOutcome.NOT_APPLICABLE,
    "INCOMPLETE": CheckOutcome.INCOMPLETE,
    # a rule never tested (no usable OCSP answer, 0-RTT probe inconclusive) proves nothing:
    # the control stays to be evaluated, never "conforme"
    "NOT_TESTED": CheckOutcome.INCOMPLETE,
}
TRACE_OUTCOMES = {
    "passed": CheckOutcome.PASS,
    "failed": CheckOutcome.FAIL,
    "not_evaluated": CheckOutcome.INCOMPLETE,
    "disabled": CheckOutcome.NOT_APPLICABLE,
}


def evidence_index(bundle: EvidenceBundle | None) -> dict[str, list[EvidenceRef]]:
    """Requirement id -> every file filed for it, intact or not (shown beside controls)."""
    index: dict[str, list[EvidenceRef]] = {}
    if bundle is None:
        return index
    for item in bundle.items:
        ref = EvidenceRef(
            path=item.path,
            kind=item.kind.label if item.kind else None,
            sha256=item.sha256,
            status=str(item.status),
            date=item.date,
        )
        for requirement in item.requirements:
            index.setdefault(requirement, []).append(ref)
    return index


def bundle_checks(
    bundle: EvidenceBundle | None,
    grid: ControlGrid,
    settings: AssessmentSettings,
    covered_elsewhere: Iterable[str] = (),
) -> list[CheckResult]:
    """Integrity, missing proofs, pentest, document sections and certificate validity."""
    phases = settings.check_phases
    if bundle is None or not bundle.usable:
        why = (
            "aucun dossier de preuves"
            if bundle is None
            else "; ".join(f.message for f in bundle.findings[:3])
        )
        return [
            CheckResult(
                check="evidence_missing",
                name="dossier de preuves",
                outcome=CheckOutcome.ERROR,
                message=f"Dossier de preuves inutilisable : {why}",
                requirements=tuple(grid.requirements),
                phases=phases["evidence_missing"],
                severity="high",
                source=str(bundle.source) if bundle else None,
            )
        ]
    results: list[CheckResult] = []
    for item in bundle.items:
        problem = INTEGRITY_PROBLEMS.get(item.status)
        if problem and item.requirements:
            results.append(
                CheckResult(
                    check="evidence_integrity",
                    name=item.path,
                    outcome=CheckOutcome.FAIL,
                    message=f"Preuve « {item.path} » : {problem}",
                    requirements=item.requirements,
                    phases=phases["evidence_integrity"],
                    severity="high",
                    source=item.path,
                )
            )
    covered = set(covered_elsewhere)
    expected = sorted(
        {c.requirement_id for c in grid.controls if c.phase is Phase.AVANT and c.expected_format}
        - covered
    )
    for requirement in expected:
        if not bundle.evidence_for(requirement):
            formats = sorted(
                {
                    c.expected_format or ""
                    for c in grid.controls
                    if c.requirement_id == requirement and c.phase is Phase.AVANT
                }
            )
            results.append(
                CheckResult(
                    check="evidence_missing",
                    name=requirement,
                    outcome=CheckOutcome.FAIL,
                    message=f"Aucune preuve intacte déposée pour {requirement} "
                    f"(attendu : {' ; '.join(f for f in formats if f)})",
                    requirements=(requirement,),
                    phases=phases["evidence_missing"],
                    severity="medium",
                )
            )
    results += _finding_family(
        bundle,
        "pentest",
        PENTEST_CODES,
        settings,
        ItemKind.PENTEST_REPORT,
        "Test d'intrusion PASSI déposé et renouvelé pour le certificat en cours",
    )
    results += _finding_family(
        bundle,
        "conformite_sections",
        CONFORMITE_CODES,
        settings,
        ItemKind.DOCUMENT_CONFORMITE,
        "Document de conformité : toutes les sections attendues sont présentes et renseignées",
    )
    results += certificate_validity_checks(bundle, settings)
    return results


def _finding_family(
    bundle: EvidenceBundle,
    family: str,
    codes: set[FindingCode],
    settings: AssessmentSettings,
    kind: ItemKind,
    pass_message: str,
) -> list[CheckResult]:
    requirements = settings.check_requirements[family]
    phases = settings.check_phases[family]
    found = [f for f in bundle.findings if f.code in codes]
    if found:
        return [
            CheckResult(
                check=family,
                name=f.item or str(f.code),
                outcome=CheckOutcome.FAIL,
                message=f.message,
                requirements=requirements,
                phases=phases,
                severity=str(f.severity),
                source=f.item,
            )
            for f in found
        ]
    items = [i for i in bundle.items if i.kind is kind and i.intact]
    if not items:
        return []
    return [
        CheckResult(
            check=family,
            name=", ".join(i.path for i in items),
            outcome=CheckOutcome.PASS,
            message=pass_message,
            requirements=requirements,
            phases=phases,
            source=items[0].path,
        )
    ]


def certificate_validity_checks(
    bundle: EvidenceBundle, settings: AssessmentSettings
) -> list[CheckResult]:
    requirements = settings.check_requirements["certificate_validity"]
    phases = settings.check_phases["certificate_validity"]
    when = bundle.as_of
    results = []
    for item, cert in bundle.certificates:
        if cert.is_ca:
            continue
        days = cert.days_until_expiry(when)
        if cert.not_after < when:
            outcome, message = (
                CheckOutcome.FAIL,
                (
                    f"Certificat « {cert.common_name} » ({item.path}) expiré le "
                    f"{cert.not_after.date().isoformat()}"
                ),
            )
        elif cert.not_before > when:
            outcome, message = (
                CheckOutcome.FAIL,
                (f"Certificat « {cert.common_name} » ({item.path}) pas encore valide"),
            )
        else:
            outcome, message = (
                CheckOutcome.PASS,
                (
                    f"Certificat « {cert.common_name} » valide jusqu'au "
                    f"{cert.not_after.date().isoformat()} ({days} jours)"
                ),
            )
        results.append(
            CheckResult(
                check="certificate_validity",
                name=f"{item.path} ({cert.serial})",
                outcome=outcome,
                message=message,
                requirements=requirements,
                phases=phases,
                severity="high",
                source=item.path,
            )
        )
    return results


def rule_requirements(
    rule_id: str, profile_requirement: str | None, settings: AssessmentSettings | None
) -> tuple[str, ...]:
    """The requirement(s) an ANSSI rule evidences: the assessment profile's
    `rule_requirements` when it names the rule, else the TLS profile's own."""
    if settings is not None and rule_id in settings.rule_requirements:
        return settings.rule_requirements[rule_id]
    return (profile_requirement,) if profile_requirement else ()


def rule_check(
    family: str,
    result: RuleResult,
    where: str,
    phases: Sequence[Phase],
    settings: AssessmentSettings | None = None,
) -> CheckResult | None:
    """One rule on one endpoint as a check; None for informative rules (HSTS). A rule
    mapped to no requirement is kept (it becomes an unmapped finding, never dropped)."""
    if not result.counts:
        return None
    requirements = rule_requirements(result.rule_id, result.requirement, settings)
    label = f"{result.rule_id} {result.title}".strip()
    return CheckResult(
        check=family,
        name=f"{result.rule_id} @ {where}",
        outcome=RULE_OUTCOMES[str(result.status)],
        message=f"{where} : {label} : {result.reason}",
        requirements=requirements,
        phases=tuple(phases),
        severity=result.severity,
        source=where,
    )


def tls_checks(
    evaluations: Sequence[EndpointEvaluation], settings: AssessmentSettings
) -> list[CheckResult]:
    """One check per ANSSI rule per endpoint (HSTS is reported apart, never counted)."""
    phases = settings.check_phases["tls"]
    results = []
    for evaluation in evaluations:
        where = evaluation.label
        for rule in evaluation.results:
            check = rule_check("tls", rule, where, phases, settings)
            if check is not None:
                results.append(check)
    return results


def client_certificate_checks(
    bundle: EvidenceBundle | None,
    settings: AssessmentSettings,
    as_of: dt.datetime,
) -> list[CheckResult]:
    """ANSSI certificate rules on each mTLS client certificate filed in the bundle."""

    if bundle is None or not bundle.usable:
        return []
    phases = settings.check_phases["client_certificate"]
    results = []
    for item in bundle.items:
        if item.certificate_use is not CertificateUse.MTLS_CLIENT or not item.intact:
            continue
        leaf = item.leaf_certificate
        if leaf is None:
            continue
        issuer = next((c for c in item.certificates if c is not leaf), None)
        where = f"certificat client {item.path}"
        rules = evaluate_certificate(
            leaf, "client", as_of=as_of, issuer=issuer, chain=item.certificates
        )
        for rule in rules:
            check = rule_check("client_certificate", rule, where, phases, settings)
            if check is not None:
                results.append(check)
    return results


def trace_checks(analysis: TraceAnalysis, settings: AssessmentSettings) -> list[CheckResult]:
    """Every supervision check outcome, under the requirements the supervision profile names."""
    phases = settings.check_phases["supervision"]
    results = []
    for outcome in analysis.outcomes:
        if not outcome.requirements and outcome.check not in settings.supervision_requirements:
            continue
        finding = outcome.finding
        message = finding.message if finding else (outcome.note or f"{outcome.title} : conforme")
        results.append(
            CheckResult(
                check="supervision",
                name=outcome.check,
                outcome=TRACE_OUTCOMES.get(str(outcome.status), CheckOutcome.INCOMPLETE),
                message=f"Supervision : {message}",
                requirements=settings.supervision_requirements.get(
                    outcome.check, tuple(outcome.requirements)
                ),
                phases=phases,
                severity=str(outcome.severity),
                source=str(analysis.export.source) if analysis.export else None,
            )
        )
    return results


def key_policy_checks(
    observations: Sequence[TlsObservation],
    bundle: EvidenceBundle | None,
    settings: AssessmentSettings,
) -> list[CheckResult]:
    """What a tool can check of the IGC-Santé key policy (docs/domain.md: private keys
    neither duplicated nor installed on more than one device): the same key (or the same
    certificate) on several of the provider's endpoints, and a key kept across a renewal
    (two certificates of one key, one issued after the other). Public keys are compared
    across the endpoints' certificates and the certificates filed in the bundle; an
    endpoint whose certificate was not observed is listed as not verified."""
    if "key_policy" not in settings.check_phases:
        return []
    requirements = settings.check_requirements.get("key_policy", ())
    phases = settings.check_phases["key_policy"]

    def result(name: str, outcome: CheckOutcome, message: str, source: str | None) -> CheckResult:
        return CheckResult(
            check="key_policy",
            name=name,
            outcome=outcome,
            message=message,
            requirements=requirements,
            phases=phases,
            severity="high",
            source=source,
        )

    seen: list[tuple[str, CertificateInfo, bool]] = []  # (where, certificate, on an endpoint)
    unverified: list[str] = []
    for observation in observations:
        where = f"{observation.label} ({observation.host}:{observation.port})"
        leaf = observation.leaf
        if leaf is None or leaf.public_key_sha256 is None:
            unverified.append(where)
            continue
        seen.append((where, leaf, True))
    if bundle is not None and bundle.usable:
        for item, cert in bundle.certificates:
            if cert.is_ca or cert.public_key_sha256 is None or not item.intact:
                continue
            seen.append((f"{item.path}", cert, False))

    results: list[CheckResult] = []
    by_key: dict[str, list[tuple[str, CertificateInfo, bool]]] = {}
    for entry in seen:
        assert entry[1].public_key_sha256 is not None
        by_key.setdefault(entry[1].public_key_sha256, []).append(entry)
    for key, entries in by_key.items():
        short = key[:16]
        endpoints = sorted({where for where, _, on_endpoint in entries if on_endpoint})
        if len(endpoints) > 1:
            same_cert = len({c.sha256_fingerprint for _, c, on in entries if on}) == 1
            what = "le même certificat" if same_cert else "la même clé publique"
            results.append(
                result(
                    f"clé {short} sur {len(endpoints)} points d'accès",
                    CheckOutcome.FAIL,
                    f"Politique de gestion des clés IGC-Santé : {what} (clé {short}…) est "
                    f"installé(e) sur {len(endpoints)} points d'accès : {', '.join(endpoints)} ; "
                    "une clé privée ne doit être ni dupliquée ni installée sur plus d'un "
                    "équipement",
                    endpoints[0],
                )
            )
        certificates: dict[str, tuple[str, CertificateInfo]] = {}
        for where, cert, _ in entries:
            certificates.setdefault(cert.sha256_fingerprint, (where, cert))
        if len(certificates) > 1:
            ordered = sorted(certificates.values(), key=lambda wc: wc[1].not_before)
            names = [
                f"{c.common_name} n° {c.serial} ({where}, du {c.not_before.date().isoformat()} "
                f"au {c.not_after.date().isoformat()})"
                for where, c in ordered
            ]
            results.append(
                result(
                    f"clé {short} réutilisée ({len(ordered)} certificats)",
                    CheckOutcome.FAIL,
                    f"Politique de gestion des clés IGC-Santé : la même clé (clé {short}…) "
                    f"porte {len(ordered)} certificats successifs : {' ; '.join(names)} ; "
                    "la clé n'a pas été renouvelée avec le certificat",
                    ordered[-1][0],
                )
            )
    if unverified:
        results.append(
            result(
                "clés non comparées",
                CheckOutcome.INCOMPLETE,
                "Politique de gestion des clés IGC-Santé : non vérifié pour "
                + ", ".join(unverified)
                + " (certificat non observé)",
                unverified[0],
            )
        )
    if seen and not any(r.outcome is CheckOutcome.FAIL for r in results):
        results.append(
            result(
                f"{len(seen)} certificat(s) comparé(s)",
                CheckOutcome.PASS,
                f"Politique de gestion des clés IGC-Santé : aucune clé partagée entre points "
                f"d'accès ni conservée au renouvellement ({len(by_key)} clé(s) distincte(s) "
                f"pour {len(seen)} certificat(s) comparé(s))",
                None,
            )
        )
    return results
