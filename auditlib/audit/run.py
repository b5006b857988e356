"""One audit of one provider, end to end: load every input, run the checks, assess.

This is what the audit notebook calls (the notebook is the orchestrator of one audit;
`auditlib.batch.runner` runs many). Every input is named by path; secrets (client key
passphrases) stay in environment variables and never enter the run record.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from auditlib import __version__
from auditlib.audit.assess import (
    DEADLINE_BASIS,
    Assessment,
    AssessmentSettings,
    AuditorVerdict,
    AuditSpec,
    AuditTrigger,
    CheckOutcome,
    CheckResult,
    ControlStatus,
    assess,
)
from auditlib.audit.checks import (
    bundle_checks,
    chain_checks,
    client_certificate_checks,
    dependency_checks,
    evidence_index,
    key_policy_checks,
    pentest_checks,
    tls_checks,
    trace_checks,
)
from auditlib.audit.revocation import CrlSource, revocation_checks
from auditlib.audit.verdicts import load_verdicts
from auditlib.certs import CertificateInfo
from auditlib.checkpoints.reader import ControlGrid, load_checkpoints
from auditlib.classify import Classifier, load_anchors
from auditlib.errors import AuditlibError
from auditlib.evidence.bundle import load_bundle
from auditlib.evidence.model import EvidenceBundle, InventoryItem, ItemKind
from auditlib.files import sha256_bytes, sha256_file
from auditlib.registry import Endpoint, Provider, Registry, load_registry
from auditlib.resources import demo_data_dir
from auditlib.tls import EndpointEvaluation, evaluate, load_profile
from auditlib.tls.scan import (
    ScanSettings,
    ScanSpec,
    ScanStatus,
    TlsObservation,
    load_observations,
    scan_endpoints,
)
from auditlib.traces import (
    SIDECAR_SUFFIX,
    analyse_traces,
    parse_iso_datetime,
    parse_traces,
    settings_for_provider,
)

if TYPE_CHECKING:
    import pandas as pd
    from pandas.io.formats.style import Styler

    from auditlib.svgchart import SvgChart
    from auditlib.traces.analysis import TraceAnalysis

"""The demo data of a source checkout; the defaults of a notebook run with no paths given."""
UNVERIFIED_NOTE = "certificats classés sans ancre (ancre non vérifiée)"

DEADLINE_COLUMN = f"échéance ({DEADLINE_BASIS})"
STATUS_COLOURS = {
    ControlStatus.CONFORME: "#d8f0d8",
    ControlStatus.PARTIEL: "#fff1c2",
    ControlStatus.NON_CONFORME: "#f6c9c4",
    ControlStatus.NON_APPLICABLE: "#e8e8e8",
    ControlStatus.A_EVALUER: "#dde6f0",
    ControlStatus.ERREUR: "#f3d3f0",
    ControlStatus.HORS_PERIMETRE: "#efefef",
}


@dataclass(frozen=True)
class AuditSettings:
    """Where one audit's inputs are: the notebook's parameters, secrets excluded."""

    provider_id: str
    audit_date: dt.date
    trigger: AuditTrigger = AuditTrigger.CERTIFICATE_EXPIRY
    registry_path: Path = field(default_factory=lambda: demo_data_dir() / "registry.yaml")
    checkpoints_path: Path = field(
        default_factory=lambda: demo_data_dir() / "checkpoints_demo.xlsx"
    )
    scan_results_path: Path | None = None
    """Observations saved by `auditlib scan --save-observations` or the batch; None: scan live."""
    verdicts_path: Path | None = None
    ca_dir: Path | None = None
    """Trust anchors (IGC-Santé CA certificates) for live scans."""
    auditor: str | None = None
    trigger_reference: str | None = None
    language: str = "fr"
    scan_timeout: int = 5
    crl_source: Path | None = None
    """The auditor's CRL source (YAML, see `auditlib.audit.revocation`); None: revocation
    is not verified (said in the report's problems)."""
    mapping_path: Path | None = None
    """Assessment profile mapping checks to requirements (`--mapping`); None: the packaged
    `profiles/assessment.yaml`."""

    @classmethod
    def from_parameters(cls, **params: Any) -> AuditSettings:
        """Build from notebook parameters (strings; empty string means "not given")."""

        def path(value: Any, name: str = "") -> Path | None:
            return _parameter_path(name, value) if value not in (None, "") else None

        date = params["audit_date"]
        return cls(
            provider_id=str(params["provider_id"]),
            audit_date=date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date)),
            trigger=AuditTrigger(params.get("trigger") or AuditTrigger.CERTIFICATE_EXPIRY),
            registry_path=path(params.get("registry_path"), "registry_path")
            or demo_data_dir() / "registry.yaml",
            checkpoints_path=path(params.get("checkpoints_path"), "checkpoints_path")
            or demo_data_dir() / "checkpoints_demo.xlsx",
            scan_results_path=path(params.get("scan_results_path"), "scan_results_path"),
            verdicts_path=path(params.get("verdicts_path"), "verdicts_path"),
            ca_dir=path(params.get("ca_dir"), "ca_dir"),
            auditor=params.get("auditor") or None,
            trigger_reference=params.get("trigger_reference") or None,
            language=str(params.get("language") or "fr"),
            mapping_path=path(params.get("mapping_path")),
            crl_source=path(params.get("crl_source")),
        )


def _parameter_path(name: str, value: Any) -> Path:
    """A notebook parameter's path. Parameters are written absolute by whoever creates the
    notebook (the batch, `auditlib new-audit`); a relative one resolves against the kernel's
    folder (the notebook's own folder in JupyterLab), and when nothing is there the error
    says where it was looked for."""
    given = Path(str(value)).expanduser()
    if given.is_absolute():
        return given
    looked = Path.cwd() / given
    if not looked.exists():
        raise AuditlibError(
            f"parameter {name} = {str(value)!r} is relative and {looked} does not exist "
            f"(relative paths resolve against the kernel's folder, {Path.cwd()}, which "
            "JupyterLab sets to the notebook's folder): give an absolute path, or create the "
            "audit's notebook with `auditlib new-audit`, which writes them absolute"
        )
    return looked.resolve()


@dataclass
class AuditRun:
    """Everything one audit loaded, computed and concluded: what the report renders."""

    settings: AuditSettings
    spec: AuditSpec
    registry: Registry
    provider: Provider
    grid: ControlGrid
    bundle: EvidenceBundle | None
    observations: list[TlsObservation]
    evaluations: list[EndpointEvaluation]
    traces: list[TraceAnalysis]
    verdicts: list[AuditorVerdict]
    checks: list[CheckResult]
    assessment: Assessment
    input_hashes: dict[str, str | None]
    problems: list[str] = field(default_factory=list)
    """Inputs that could not be used (recorded, shown in the report)."""
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    tool_version: str = __version__
    tls_profile_id: str = ""
    assessment_settings: AssessmentSettings | None = None
    """The mapping and remediation proposal the assessment used."""
    figures: dict[tuple[str, str], SvgChart] = field(
        default_factory=dict, repr=False, compare=False
    )
    """Charts drawn so far, by (name, language): see `auditlib.report.charts.chart`."""

    @property
    def as_of(self) -> dt.datetime:
        return audit_instant(self.spec.date)

    def reassess(self) -> AuditRun:
        """The same audit with its verdicts file read again: the checks, scans and evidence
        already loaded are kept (nothing is rescanned), only the assessment is redone."""
        path = self.settings.verdicts_path
        verdicts = (
            load_verdicts(path, self.grid, self.provider.id, audit=self.spec.folder_name)
            if path is not None and path.exists()
            else []
        )
        assessment = assess(
            self.grid,
            self.provider,
            self.spec,
            self.checks,
            evidence=evidence_index(self.bundle),
            verdicts=verdicts,
            settings=AssessmentSettings.load(),
        )
        hashes = dict(self.input_hashes)
        hashes["verdicts"] = sha256_file(path) if path is not None and path.exists() else None
        return dataclasses.replace(
            self, verdicts=verdicts, assessment=assessment, input_hashes=hashes, figures={}
        )

    # ----------------------------------------------------------- tables for notebooks

    def provider_table(self) -> pd.DataFrame:
        import pandas as pd

        p = self.provider
        rows = [
            ("Prestataire", f"{p.name} ({p.id})"),
            (
                "Habilitation",
                "; ".join(
                    f"{h.label}, {h.status_on(self.spec.date).label}"
                    + (f", expire le {h.expires:%d/%m/%Y}" if h.expires else "")
                    for h in p.habilitations
                )
                or p.habilitation,
            ),
            ("Rôles", ", ".join(r.label for r in p.roles)),
            ("S'appuie sur", ", ".join(p.relies_on) or "-"),
            ("Points d'accès", ", ".join(e.display for e in p.endpoints) or "-"),
            ("Dossier de preuves", str(p.evidence_bundle)),
            ("Audit", f"{self.spec.trigger.label}, {self.spec.date.isoformat()}"),
            ("Référence", self.spec.reference or "-"),
            ("Auditeur", self.spec.auditor or "-"),
        ]
        return pd.DataFrame(rows, columns=["", "valeur"]).set_index("")

    def summary_table(self) -> pd.DataFrame:
        """Counts by status, the executive summary's first line."""
        import pandas as pd

        counts = self.assessment.counts()
        return pd.DataFrame([counts], index=[self.spec.audit_id])

    def nonconformities_table(self) -> pd.DataFrame:
        import pandas as pd

        due = DEADLINE_COLUMN
        return pd.DataFrame(
            [
                {
                    "contrôle": n.control_ref,
                    "statut": n.status.value,
                    "gravité": n.severity_label,
                    due: n.deadline.isoformat() if n.deadline else "-",
                    "motif": " ; ".join(n.reasons),
                }
                for n in self.assessment.nonconformities
            ],
            columns=["contrôle", "statut", "gravité", due, "motif"],
        )

    def outcome_table(self) -> pd.DataFrame:
        """The outcome and the recommendation (the compte rendu's bottom line)."""
        import pandas as pd

        o = self.assessment.outcome
        rows = [
            ("Conclusion", o.value.value),
            ("Recommandation (proposition de l'auditeur)", o.recommendation.value),
            ("Motifs", o.grounds),
            ("Réserves", " ; ".join(o.reservations) or "-"),
            ("Constats hors grille", str(len(self.assessment.unmapped_findings))),
        ]
        return pd.DataFrame(rows, columns=["", "valeur"]).set_index("")

    def unmapped_table(self) -> pd.DataFrame:
        """Results that reached no control: hors grille, non applicable, hors périmètre."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "vérification": u.check.name,
                    "résultat": u.check.outcome.value,
                    "exigences": ", ".join(u.check.requirements) or "-",
                    "classement": u.disposition,
                    "constat": u.check.message,
                }
                for u in self.assessment.unplaced
            ],
            columns=["vérification", "résultat", "exigences", "classement", "constat"],
        )

    def conflicts_table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "contrôle": c.control_ref,
                    "auditeur": c.verdict.value,
                    "automatique": c.automated.value,
                    "vérifications en échec": ", ".join(c.failing_checks),
                }
                for c in self.assessment.conflicts
            ],
            columns=["contrôle", "auditeur", "automatique", "vérifications en échec"],
        )

    def supervision_table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "export": str(analysis.export.source),
                    "vérification": f.check,
                    "gravité": str(f.severity),
                    "occurrences": f.count,
                    "constat": f.message,
                }
                for analysis in self.traces
                for f in analysis.findings
            ],
            columns=["export", "vérification", "gravité", "occurrences", "constat"],
        )

    def applicability_table(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "exigence": row.requirement_id,
                    "chapitre": row.chapter,
                    "applicable": "oui" if row.applies else "non",
                    "motif": row.reason,
                }
                for row in self.assessment.applicability
            ]
        )

    def findings_table(
        self,
        status: str | None = None,
        requirement: str | None = None,
        phase: str | None = None,
    ) -> Styler:
        """The findings, coloured by status; filter by status, requirement or phase."""
        frame = self.assessment.to_dataframe()
        if status is not None:
            frame = frame[frame["status"] == ControlStatus.parse(status).value]
        if requirement is not None:
            frame = frame[frame["requirement"].str.endswith(str(requirement))]
        if phase is not None:
            frame = frame[frame["phase"] == phase.upper()]

        def colour(value: Any) -> str:
            try:
                return f"background-color: {STATUS_COLOURS[ControlStatus(value)]}"
            except ValueError:
                return ""

        return html_escaped(frame.style.map(colour, subset=["status"]).hide(axis="index"))

    def tls_table(self) -> pd.DataFrame:
        import pandas as pd

        rows = [row for e in self.evaluations for row in e.rows()]
        return pd.DataFrame(rows)

    def tls_summary(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "point d'accès": e.label,
                    "verdict": str(e.bottom_line),
                    "versions": ", ".join(o.accepted_versions) if o.protocols else "-",
                    "expiration (jours)": e.days_until_expiry,
                    "erreur": e.scan_error,
                }
                for e, o in zip(self.evaluations, self.observations, strict=True)
            ]
        )

    def evidence_table(self) -> pd.DataFrame:
        import pandas as pd

        if self.bundle is None:
            return pd.DataFrame(columns=["item", "kind", "requirements", "sha256", "status"])
        return self.bundle.to_dataframe()


def html_escaped(styler: Styler) -> Styler:
    """A Styler that renders every cell and header as text (HTML-escaped).

    Cells hold data from the audited party (bundle file names, workbook text) and from
    auditors (comments): unescaped, `<img src=x onerror=...>` in a file name runs as
    script in JupyterLab. A Styler does not escape by default (`styler.format.escape` is
    None); a plain DataFrame's HTML repr does, so the table methods returning DataFrames
    are safe as they are. Apply this to every Styler a notebook displays.
    """
    return (
        styler.format(escape="html")
        .format_index(escape="html", axis="index")
        .format_index(escape="html", axis="columns")
    )


def audit_instant(day: dt.date) -> dt.datetime:
    """The moment an audit judges validity: the start of its day, UTC."""
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)


def scan_spec(provider: Provider, endpoint: Endpoint) -> ScanSpec:
    """The scan of one registry endpoint (client key passphrase by variable name only)."""
    return ScanSpec(
        host=endpoint.host,
        port=endpoint.port,
        sni=endpoint.sni,
        client_cert=endpoint.client_cert,
        client_key=endpoint.client_key,
        key_pass_env=endpoint.key_passphrase_env,
        label=f"{provider.id}/{endpoint.label or endpoint.host}:{endpoint.port}",
    )


def _error_observation(spec: ScanSpec, reason: str) -> TlsObservation:
    return TlsObservation(
        label=spec.name,
        host=spec.host,
        port=spec.port,
        sni=spec.sni or spec.host,
        scanned_at=dt.datetime.now(dt.UTC),
        status=ScanStatus.ERROR,
        error=reason,
    )


def observations_for(
    provider: Provider, settings: AuditSettings
) -> tuple[list[TlsObservation], str | None]:
    """The provider's endpoints from the saved scan results, or scanned live now."""
    specs = [scan_spec(provider, e) for e in provider.endpoints]
    if not specs:
        return [], None
    if settings.scan_results_path is not None:
        saved = load_observations(settings.scan_results_path)
        by_address = {(o.host, o.port): o for o in saved}
        return [
            by_address.get((s.host, s.port))
            or _error_observation(
                s, f"point d'accès absent du fichier de résultats {settings.scan_results_path.name}"
            )
            for s in specs
        ], sha256_file(settings.scan_results_path)
    return scan_live(
        specs, ScanSettings(ca_dir=settings.ca_dir, timeout=settings.scan_timeout)
    ), None


def scan_live(specs: list[ScanSpec], settings: ScanSettings) -> list[TlsObservation]:
    """Scan now; an endpoint whose client-key passphrase variable is unset is an ERROR
    result (the others are still scanned), never a crash of the whole audit."""

    unset = {
        i: _error_observation(
            s,
            f"variable d'environnement {s.key_pass_env} (phrase secrète de la clé client) absente",
        )
        for i, s in enumerate(specs)
        if s.key_pass_env and s.key_pass_env not in os.environ
    }
    scanned = iter(scan_endpoints([s for i, s in enumerate(specs) if i not in unset], settings))
    return [unset[i] if i in unset else next(scanned) for i in range(len(specs))]


def _trace_exports(
    bundle: EvidenceBundle, provider: Provider, problems: list[str]
) -> list[TraceAnalysis]:

    analyses = []
    intact = {item.path: item for item in bundle.items if item.intact}
    for item in bundle.items:
        if item.kind is not ItemKind.SUPERVISION_TRACE_EXPORT or not item.intact:
            continue
        try:
            raw = _read_item(bundle, item.path)
            start, end = _trace_window(bundle, intact.get(item.path + SIDECAR_SUFFIX), raw)
            export = parse_traces(raw, f"{bundle.source.name}:{item.path}", start=start, end=end)
            analyses.append(analyse_traces(export, settings_for_provider(provider)))
        except AuditlibError as exc:
            problems.append(f"export de traces {item.path} inutilisable : {exc}")
    return analyses


def _trace_window(
    bundle: EvidenceBundle, sidecar: InventoryItem | None, raw: bytes
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The window an export was requested for, from its fetch record filed beside it
    (`<export>.fetch.json`, as `fetch_traces` writes it); (None, None) without one."""
    import json

    if sidecar is None:
        return None, None
    try:
        record = json.loads(_read_item(bundle, sidecar.path))
    except ValueError as exc:
        raise AuditlibError(f"fetch record {sidecar.path} is not JSON: {exc}") from None
    if not isinstance(record, dict) or not {"sha256", "start", "end"} <= record.keys():
        raise AuditlibError(f"fetch record {sidecar.path} lacks sha256/start/end")
    if str(record["sha256"]).lower() != sha256_bytes(raw):
        raise AuditlibError(
            f"fetch record {sidecar.path}: the export's SHA-256 differs from the one recorded"
        )
    start = parse_iso_datetime(record["start"], "fetch record start")
    end = parse_iso_datetime(record["end"], "fetch record end")
    return start, end


def _read_item(bundle: EvidenceBundle, path: str) -> bytes:
    """Bytes of a bundle item; the loader already vetted paths, sizes and hashes."""
    if bundle.source_type == "zip":
        with zipfile.ZipFile(bundle.source) as archive:
            for name in archive.namelist():
                if name == path or name.endswith("/" + path):
                    return archive.read(name)
        raise AuditlibError(f"{path} not found in {bundle.source}")
    return (bundle.source / path).read_bytes()


class FormSignature(Protocol):
    """What a PDF signature check tells the pentest rule (`auditlib.sign.VerifyResult`
    fits): integrity and trust only, no seal policy."""

    @property
    def signed(self) -> bool: ...
    @property
    def intact(self) -> bool: ...
    @property
    def trusted(self) -> bool: ...
    @property
    def problems(self) -> tuple[str, ...]: ...


PdfVerifier = Callable[[Path], FormSignature]
"""Verifies the signatures of a PDF file. The audit layer cannot import `auditlib.sign`
(a higher layer): the notebook passes `lambda path: sign.verify_pdf(path, ca_dir)`."""


def form_signature_checks(
    bundle: EvidenceBundle | None,
    verifier: PdfVerifier,
    settings: AssessmentSettings,
    problems: list[str],
) -> dict[str, CheckResult]:
    """Per pentest report path: the result of verifying its signature, when it is a signed
    PDF (public ANS material: the PASSI form is electronically signed)."""
    found: dict[str, CheckResult] = {}
    if bundle is None or not bundle.usable:
        return found
    phases = settings.check_phases["pentest"]
    requirements = settings.check_requirements["pentest"]
    for item in bundle.items:
        if item.kind is not ItemKind.PENTEST_REPORT or not item.intact:
            continue
        if not item.path.lower().endswith(".pdf"):
            continue
        try:
            data = _read_item(bundle, item.path)
            with tempfile.TemporaryDirectory(prefix="auditlib-form-") as tmp:
                target = Path(tmp) / "form.pdf"
                target.write_bytes(data)
                verdict = verifier(target)
        except (AuditlibError, OSError, ValueError) as exc:
            problems.append(f"signature du formulaire {item.path} non vérifiable : {exc}")
            continue
        if not verdict.signed:
            continue
        if verdict.intact and verdict.trusted:
            outcome, text = CheckOutcome.PASS, "signature vérifiée : intègre et de confiance"
        else:
            outcome = CheckOutcome.FAIL
            text = "signature non valable : " + "; ".join(verdict.problems)
        found[item.path] = CheckResult(
            check="pentest",
            name=f"{item.path} (signature)",
            outcome=outcome,
            message=f"Formulaire PASSI « {item.path} » : {text}",
            requirements=requirements,
            phases=phases,
            severity="high",
            source=item.path,
        )
    return found


_SERIAL_IN_REFERENCE = re.compile(r"n° ([0-9A-Fa-f]{1,64})\b")


def cycle_certificate(
    trigger: AuditTrigger,
    reference: str | None,
    observations: list[TlsObservation],
    bundle: EvidenceBundle | None,
) -> CertificateInfo | None:
    """The certificate whose cycle the pentest rule applies to: for a certificate-expiry
    audit, the first certificate its reference names (by serial) that was seen on the
    wire or filed; otherwise (or when none is found) the current one: the first leaf
    served, else the bundle's current certificate."""
    known = [o.leaf for o in observations if o.leaf is not None]
    if bundle is not None and bundle.usable:
        known += [c for _, c in bundle.certificates if not c.is_ca]
    if trigger is AuditTrigger.CERTIFICATE_EXPIRY and reference:
        for serial in _SERIAL_IN_REFERENCE.findall(reference):
            found = next((c for c in known if c.serial.upper() == serial.upper()), None)
            if found is not None:
                return found
    served = next((o.leaf for o in observations if o.leaf is not None), None)
    if served is not None:
        return served
    return bundle.current_certificate if bundle is not None else None


def _revocation(
    settings: AuditSettings,
    observations: list[TlsObservation],
    bundle: EvidenceBundle,
    assessment_settings: AssessmentSettings,
    when: dt.datetime,
    problems: list[str],
) -> list[CheckResult]:
    """Revocation of the endpoints' and the bundle's certificates, from the auditor's CRLs."""
    certificates = [(o.label, o.leaf) for o in observations if o.leaf is not None]
    if bundle.usable:
        certificates += [(item.path, cert) for item, cert in bundle.certificates if item.intact]
    if settings.crl_source is None:
        if certificates and "revocation" in assessment_settings.check_phases:
            problems.append(
                "révocation des certificats non vérifiée : aucune source de CRL configurée "
                "(AuditSettings.crl_source)"
            )
        return []
    source = CrlSource.load(settings.crl_source, default_issuers=settings.ca_dir)
    return revocation_checks(certificates, source, assessment_settings, when)


def run_audit(settings: AuditSettings, *, pdf_verifier: PdfVerifier | None = None) -> AuditRun:
    """Load every input, run every automated check, and assess the provider.

    `pdf_verifier`: verifies a signed PDF pentest form (integrity and trust); without it a
    signed form is recorded as not verified in `problems`."""
    registry = load_registry(settings.registry_path)
    provider = registry.get(settings.provider_id)
    grid = load_checkpoints(settings.checkpoints_path)
    spec = AuditSpec(
        provider_id=provider.id,
        trigger=settings.trigger,
        date=settings.audit_date,
        auditor=settings.auditor,
        reference=settings.trigger_reference,
    )
    when = audit_instant(settings.audit_date)
    problems: list[str] = []
    observations, scans_sha = observations_for(provider, settings)
    profile = load_profile()
    evaluations = [evaluate(o, profile, as_of=when) for o in observations]
    current = next((o.leaf for o in observations if o.leaf is not None), None)
    bundle = load_bundle(
        provider.evidence_bundle,
        known_requirements=grid.requirements,
        as_of=when,
        provider_id=provider.id,
        current_certificate=current,
    )
    traces = _trace_exports(bundle, provider, problems) if bundle.usable else []
    verdicts = (
        load_verdicts(settings.verdicts_path, grid, provider.id, audit=spec.folder_name)
        if settings.verdicts_path is not None
        else []
    )
    assessment_settings = (
        AssessmentSettings.load(settings.mapping_path)
        if settings.mapping_path is not None
        else AssessmentSettings.load()
    )
    classifier = Classifier()
    if settings.ca_dir is not None:
        try:
            classifier = Classifier(load_anchors(settings.ca_dir))
        except AuditlibError as exc:
            problems.append(f"ancres de confiance inutilisables ({exc}) : {UNVERIFIED_NOTE}")
    checks = tls_checks(evaluations, assessment_settings)
    checks += client_certificate_checks(bundle, assessment_settings, when)
    checks += key_policy_checks(observations, bundle, assessment_settings)
    checks += _revocation(settings, observations, bundle, assessment_settings, when, problems)
    for analysis in traces:
        checks += trace_checks(analysis, assessment_settings)
    checks += dependency_checks(registry, provider, settings.audit_date, assessment_settings)
    checks += chain_checks(provider, observations, bundle, classifier, assessment_settings)
    covered = {r for c in checks for r in c.requirements}
    cycle = cycle_certificate(settings.trigger, settings.trigger_reference, observations, bundle)
    signatures = (
        form_signature_checks(bundle, pdf_verifier, assessment_settings, problems)
        if pdf_verifier is not None
        else {}
    )
    pentest = pentest_checks(
        bundle, assessment_settings, cycle, settings.audit_date, signatures=signatures
    )
    # the per-cycle rule judges the pentest requirement: a report not filed yet while the
    # certificate is valid is "à évaluer", not a missing AVANT proof
    covered |= {r for c in pentest for r in c.requirements}
    checks += bundle_checks(
        bundle, grid, assessment_settings, covered_elsewhere=covered, pentest=pentest
    )
    assessment = assess(
        grid,
        provider,
        spec,
        checks,
        evidence=evidence_index(bundle),
        verdicts=verdicts,
        settings=assessment_settings,
    )
    fingerprint = bundle.fingerprint
    hashes: dict[str, str | None] = {
        "checkpoints": grid.source_sha256,
        "registry": sha256_file(settings.registry_path),
        "bundle": (fingerprint.source_sha256 or fingerprint.content_sha256)
        if fingerprint
        else None,
        "bundle_manifest": fingerprint.manifest_sha256 if fingerprint else None,
        "scan_results": scans_sha,
        "verdicts": sha256_file(settings.verdicts_path) if settings.verdicts_path else None,
        "mapping": sha256_file(settings.mapping_path) if settings.mapping_path else None,
        "crl_source": sha256_file(settings.crl_source) if settings.crl_source else None,
    }
    return AuditRun(
        settings=settings,
        spec=spec,
        registry=registry,
        provider=provider,
        grid=grid,
        bundle=bundle,
        observations=observations,
        evaluations=evaluations,
        traces=traces,
        verdicts=verdicts,
        checks=checks,
        assessment=assessment,
        input_hashes=hashes,
        problems=problems,
        tls_profile_id=profile.id,
        assessment_settings=assessment_settings,
    )
