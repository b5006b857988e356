"""Turn each source of automated evidence into `CheckResult`s the assessment can map.

Sources: the evidence bundle (integrity, missing proofs, pentest recency, document de
conformité sections, certificate validity), the ANSSI evaluation of each scanned
endpoint, the ANSSI certificate rules applied to the mTLS client certificate filed in
the bundle, and the supervision trace analysis. Which requirement and phase each
family reaches is data (`profiles/assessment.yaml`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from auditlib.audit.assess import AssessmentSettings, CheckOutcome, CheckResult, EvidenceRef
from auditlib.audit.passi import PassiList, load_passi_list
from auditlib.certs import CertificateInfo
from auditlib.checkpoints.reader import ControlGrid, Phase
from auditlib.classify import Classifier
from auditlib.evidence.model import (
    CertificateUse,
    EvidenceBundle,
    FindingCode,
    ItemKind,
    ItemStatus,
)
from auditlib.registry import Environment
from auditlib.requirements import HABILITATION_DEPENDS_ON
from auditlib.tls.evaluate import evaluate_certificate

if TYPE_CHECKING:
    from auditlib.registry import Provider, Registry
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
"""The bundle loader's pentest findings. The audit judges recency itself, per certificate
cycle (`pentest_checks`): of these it keeps only PENTEST_DETAILS_MISSING."""
PASSI_FORM_MAX_AGE = dt.timedelta(days=365)
"""Public ANS material: the PASSI form is dated less than one year when filed."""
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
    *,
    pentest: Sequence[CheckResult] | None = None,
) -> list[CheckResult]:
    """Integrity, missing proofs, pentest, document sections and certificate validity.

    `pentest`: the results of `pentest_checks` (the per-cycle rule); without them the
    bundle loader's pentest findings are used as they are."""
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
    if pentest is None:
        results += _finding_family(
            bundle,
            "pentest",
            PENTEST_CODES,
            settings,
            ItemKind.PENTEST_REPORT,
            "Test d'intrusion PASSI déposé et renouvelé pour le certificat en cours",
        )
    else:
        results += list(pentest)
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


# --------------------------------------------------------------------------- pentest


def pentest_checks(
    bundle: EvidenceBundle | None,
    settings: AssessmentSettings,
    cycle: CertificateInfo | None,
    audit_day: dt.date,
    *,
    passi: PassiList | None = None,
    signatures: dict[str, CheckResult] | None = None,
) -> list[CheckResult]:
    """The EDC penetration test, per certificate cycle (docs/domain.md, seed: "renouvelé
    avant chaque expiration des certificats").

    `cycle`: the certificate whose expiry triggers the audit, else the current one. A
    report dated within its validity and on or before its notAfter passes; none yet while
    the certificate is still valid is `pending` ("à évaluer (échéance <date>)"), none
    after its notAfter fails. Each report's PASSI form must be under one year old when
    filed (the manifest item's date) and its firm qualified for penetration testing on
    the report date in the dated snapshot `profiles/passi.yaml`. `signatures`: per report
    path, the result of verifying its signature (`auditlib.sign`), kept as evidence.
    """
    if bundle is None or not bundle.usable:
        return []
    family = "pentest"
    requirements = settings.check_requirements[family]
    phases = settings.check_phases[family]
    passi = passi or load_passi_list()

    def result(
        outcome: CheckOutcome,
        name: str,
        message: str,
        source: str | None = None,
        severity: str = "high",
    ) -> CheckResult:
        return CheckResult(
            check=family,
            name=name,
            outcome=outcome,
            message=message,
            requirements=requirements,
            phases=phases,
            severity=severity,
            source=source,
        )

    results: list[CheckResult] = [
        result(CheckOutcome.FAIL, f.item or str(f.code), f.message, f.item, str(f.severity))
        for f in bundle.findings
        if f.code is FindingCode.PENTEST_DETAILS_MISSING
    ]
    reports = [
        i
        for i in bundle.items
        if i.intact and i.kind is ItemKind.PENTEST_REPORT and i.pentest is not None
    ]
    if cycle is None:
        if not reports:
            results.append(
                result(
                    CheckOutcome.FAIL,
                    "test d'intrusion",
                    "Aucun rapport de test d'intrusion exploitable, et aucun certificat connu "
                    "pour situer le cycle.",
                )
            )
        else:
            latest = max(reports, key=lambda i: i.pentest.report_date if i.pentest else dt.date.min)
            results.append(
                result(
                    CheckOutcome.INCOMPLETE,
                    latest.path,
                    "Aucun certificat connu pour situer le cycle du test d'intrusion "
                    "(ni point d'accès ni certificat déposé) : à apprécier par l'auditeur.",
                    latest.path,
                )
            )
    else:
        start = cycle.not_before.astimezone(dt.UTC).date()
        end = cycle.not_after.astimezone(dt.UTC).date()
        label = (
            f"« {cycle.common_name} » n° {cycle.serial} "
            f"(valide du {start:%d/%m/%Y} au {end:%d/%m/%Y})"
        )
        within = [
            i for i in reports if i.pentest is not None and start <= i.pentest.report_date <= end
        ]
        if within:
            best = max(within, key=lambda i: i.pentest.report_date if i.pentest else start)
            assert best.pentest is not None
            results.append(
                result(
                    CheckOutcome.PASS,
                    best.path,
                    f"Test d'intrusion du {best.pentest.report_date:%d/%m/%Y} réalisé dans le "
                    f"cycle du certificat {label}",
                    best.path,
                )
            )
        elif audit_day <= end:
            results.append(
                result(
                    CheckOutcome.PENDING,
                    f"test d'intrusion, cycle {cycle.serial}",
                    f"À évaluer (échéance {end:%d/%m/%Y}) : aucun rapport de test d'intrusion "
                    f"daté dans le cycle du certificat {label} ; il doit être renouvelé avant "
                    "son expiration.",
                )
            )
        else:
            results.append(
                result(
                    CheckOutcome.FAIL,
                    f"test d'intrusion, cycle {cycle.serial}",
                    f"Aucun rapport de test d'intrusion daté dans le cycle du certificat {label}, "
                    "expiré : le test n'a pas été renouvelé avant l'expiration.",
                )
            )
    for item in reports:
        facts = item.pentest
        assert facts is not None
        if item.date is not None and item.date - facts.report_date > PASSI_FORM_MAX_AGE:
            results.append(
                result(
                    CheckOutcome.FAIL,
                    item.path,
                    f"Formulaire PASSI « {item.path} » daté du {facts.report_date:%d/%m/%Y}, "
                    f"plus d'un an avant son dépôt ({item.date:%d/%m/%Y}).",
                    item.path,
                    "medium",
                )
            )
        results.append(
            _passi_firm_check(item.path, facts.passi_firm, facts.report_date, passi, result)
        )
        if signatures and item.path in signatures:
            results.append(signatures[item.path])
    return results


def _passi_firm_check(
    path: str,
    firm_name: str | None,
    day: dt.date,
    passi: PassiList,
    result: Callable[..., CheckResult],
) -> CheckResult:
    snapshot = f"liste PASSI du {passi.snapshot_date:%d/%m/%Y}"
    firm = passi.find(firm_name)
    if firm is None:
        return result(
            CheckOutcome.FAIL,
            f"{path} (prestataire)",
            f"Prestataire « {firm_name or '?'} » du test d'intrusion absent de la {snapshot} "
            "(profiles/passi.yaml).",
            path,
        )
    note = " (entreprise fictive de démonstration)" if firm.fictitious else ""
    if not firm.qualified_for_pentest_on(day):
        return result(
            CheckOutcome.FAIL,
            f"{path} (prestataire)",
            f"Prestataire « {firm.name} »{note} non qualifié PASSI pour les tests d'intrusion "
            f"au {day:%d/%m/%Y} ({snapshot}).",
            path,
        )
    return result(
        CheckOutcome.PASS,
        f"{path} (prestataire)",
        f"Prestataire « {firm.name} »{note} qualifié PASSI (tests d'intrusion) au "
        f"{day:%d/%m/%Y} ({snapshot}).",
        path,
    )


# --------------------------------------------------------------------------- habilitations


def dependency_checks(
    registry: Registry, provider: Provider, day: dt.date, settings: AssessmentSettings
) -> list[CheckResult]:
    """The habilitations each of the provider's relies on (docs/domain.md: ELU->EP,
    FP->EP, FU->ELU+FP): a failure when one is missing, expired, suspended, a mere
    candidature, or expires before the audited one; `incomplete` when the reference
    points outside the registry."""
    family = "habilitation_dependencies"
    requirements = settings.check_requirements[family]
    phases = settings.check_phases[family]
    results: list[CheckResult] = []
    for hab in provider.habilitations:
        issues = registry.dependency_issues(provider, hab, day)
        for issue in issues:
            outcome = (
                CheckOutcome.INCOMPLETE
                if issue.problem.value == "unverifiable"
                else CheckOutcome.FAIL
            )
            results.append(
                CheckResult(
                    check=family,
                    name=f"{hab.number} -> {issue.needed.value}",
                    outcome=outcome,
                    message=issue.message,
                    requirements=requirements,
                    phases=phases,
                    severity="high",
                    source="registre des prestataires",
                )
            )
        if not issues:
            needs = HABILITATION_DEPENDS_ON[hab.role]
            if needs:
                results.append(
                    CheckResult(
                        check=family,
                        name=f"{hab.number} -> dépendances",
                        outcome=CheckOutcome.PASS,
                        message=f"Habilitation {hab.number} : les habilitations dont elle dépend ("
                        + ", ".join(r.label for r in needs)
                        + f") sont valides au {day:%d/%m/%Y}",
                        requirements=requirements,
                        phases=phases,
                        source="registre des prestataires",
                    )
                )
    return results


def chain_checks(
    provider: Provider,
    observations: Sequence[TlsObservation],
    bundle: EvidenceBundle | None,
    classifier: Classifier,
    settings: AssessmentSettings,
) -> list[CheckResult]:
    """A certificate of the TEST chain on a production endpoint or for a production
    habilitation is a finding (production/test from anchors.yaml, never from names)."""
    family = "certificate_chain"
    requirements = settings.check_requirements[family]
    phases = settings.check_phases[family]
    production = [h for h in provider.habilitations if h.environment is Environment.PRODUCTION]
    seen: list[tuple[CertificateInfo, str, str | None]] = []
    by_address = {(o.host, o.port): o for o in observations}
    for endpoint in provider.endpoints:
        obs = by_address.get((endpoint.host, endpoint.port))
        if obs is not None and obs.leaf is not None:
            seen.append((obs.leaf, f"point d'accès {endpoint.display}", endpoint.habilitation))
    if bundle is not None and bundle.usable:
        for item, cert in bundle.certificates:
            if not cert.is_ca and item.certificate_use is not CertificateUse.CA:
                seen.append((cert, f"certificat déposé {item.path}", None))
    results: list[CheckResult] = []
    done: set[str] = set()
    for cert, where, named in seen:
        if cert.sha256_fingerprint in done:
            continue
        done.add(cert.sha256_fingerprint)
        c = classifier.classify(cert)
        if not c.is_test:
            continue
        hab = provider.habilitation_by_number(named) if named else None
        targets = [hab] if hab is not None else production
        if not targets or any(t.environment is not Environment.PRODUCTION for t in targets):
            continue
        results.append(
            CheckResult(
                check=family,
                name=f"{where} ({cert.serial})",
                outcome=CheckOutcome.FAIL,
                message=(
                    f"Certificat de la chaîne de TEST « {cert.subject} » ({where}) pour "
                    f"l'habilitation de production {targets[0].number} : {c.reason}"
                ),
                requirements=requirements,
                phases=phases,
                severity="high",
                source=where,
            )
        )
    return results
