"""The outputs of one audit: report.html, report.pdf, grille.xlsx, findings.json, notebook.

`write_outputs(run, folder)` writes them all, each atomically (a reader never sees half a
file; an interrupted run leaves the previous files intact). The report is rendered from
the Jinja2 template in `templates/` (the one source of the report's content), then
printed to PDF by Typst (`typeset.py`, `templates/report.typ`) or WeasyPrint
(`report.css`). Nothing secret is in an `AuditRun`; as a last guard, every text output
is searched for private-key markers and for the value of the provider's client-key
passphrase variable before it is written.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape

from auditlib import resources
from auditlib.audit.assess import STATUS_ORDER, CheckOutcome, ControlStatus
from auditlib.audit.plan import actions_for, corrective_actions
from auditlib.errors import AuditlibError
from auditlib.files import write_atomic
from auditlib.report import charts, typeset
from auditlib.report.changes import PreviousFindings, previous_for
from auditlib.report.findings import check_record, findings_record, to_json
from auditlib.report.grille import grille_bytes, short_sha
from auditlib.report.text import (
    AUDIT_OUTCOME,
    BUNDLE_STATE,
    DISPOSITION,
    INPUT_NAMES,
    INTEGRITY,
    LABELS,
    LANGUAGES,
    OUTCOME,
    RECOMMENDATION,
    RULE_STATUS,
    SEVERITY,
    VERDICT,
)
from auditlib.tls.profile import RuleStatus
from auditlib.traces.analysis import api_chart, api_volumes_records, trace_chart, trace_totals

if TYPE_CHECKING:
    from auditlib.audit.assess import ControlAssessment, UnplacedResult
    from auditlib.audit.run import AuditRun

TEMPLATE = "report.html.j2"
STYLESHEET = "report.css"
SECRET_MARKERS = ("PRIVATE KEY",)
DEFAULT_OUTPUT_ROOT = Path("out")


class ReportError(AuditlibError):
    """The report cannot be produced (templates missing, bad language, secret found...)."""


@dataclass(frozen=True)
class ReportOutputs:
    """Where `write_outputs` put each file."""

    folder: Path
    html: Path
    pdf: Path
    grille: Path
    findings: Path
    notebook: Path | None = None

    @property
    def files(self) -> list[Path]:
        found = [self.html, self.pdf, self.grille, self.findings]
        return [*found, self.notebook] if self.notebook else found


def templates_dir() -> Path:
    """The report templates shipped with the package (`templates/` in the checkout)."""
    try:
        folder = resources.templates_dir()
    except resources.ResourceError as exc:
        raise ReportError(str(exc)) from exc
    if not (folder / TEMPLATE).is_file() or not (folder / STYLESHEET).is_file():
        raise ReportError(
            f"report templates not found: expected {folder / TEMPLATE} and "
            f"{folder / STYLESHEET} (a broken install: reinstall auditlib)"
        )
    return folder


def _language(run: AuditRun, language: str | None) -> str:
    chosen = (language or run.settings.language or "fr").lower()
    if chosen not in LANGUAGES:
        raise ReportError(f"unknown report language {chosen!r} (known: {', '.join(LANGUAGES)})")
    return chosen


# ------------------------------------------------------------------ template context


def css_string(text: Any) -> str:
    """A CSS string literal for `text` (running headers): quotes, backslashes, `<` escaped."""
    out = []
    for char in str(text):
        if char in '"\\<>&' or ord(char) < 32:
            out.append(f"\\{ord(char):x} ")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _requirement_sections(run: AuditRun) -> list[dict[str, Any]]:
    grouped: dict[str, list[ControlAssessment]] = {}
    for c in run.assessment.controls:
        grouped.setdefault(c.control.requirement_id, []).append(c)
    statuses = run.assessment.by_requirement()
    sections = []
    for requirement_id, controls in grouped.items():
        requirement = run.grid.requirements.get(requirement_id)
        sections.append(
            {
                "id": requirement_id,
                "anchor": re.sub(r"[^A-Za-z0-9]+", "-", requirement_id).strip("-").lower(),
                "requirement": requirement,
                "status": statuses[requirement_id],
                "controls": controls,
                "evidence": controls[0].evidence,
            }
        )
    return sections


def check_summary(
    c: ControlAssessment,
    language: str = "fr",
    reasons: dict[tuple[str, str], str] | None = None,
) -> dict[str, Any]:
    """A control's checks for the report: every non-passing one, passes counted (each is
    in findings.json and, for TLS, in the annex). TLS rules that could not be judged for
    the same reason on the same endpoint (an unreachable endpoint) are shown as one line."""

    quiet = (CheckOutcome.PASS, CheckOutcome.NOT_APPLICABLE)
    shown: list[dict[str, str]] = []
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for k in c.checks:
        if k.outcome in quiet:
            continue
        rule = k.name.split(" @ ")[0]
        reason = (reasons or {}).get((k.source or "", rule))
        if k.outcome in (CheckOutcome.INCOMPLETE, CheckOutcome.ERROR) and reason and k.source:
            grouped.setdefault((k.outcome.value, k.source, reason), []).append(rule)
            continue
        shown.append({"outcome": k.outcome.value, "text": k.message})
    rules_word = "règle(s)" if language == "fr" else "rule(s)"
    for (outcome, source, reason), rules in grouped.items():
        if len(rules) == 1:
            text = f"{source} : {rules[0]} : {reason}"
        else:
            text = f"{source} : {len(rules)} {rules_word} ({', '.join(rules)}) : {reason}"
        shown.append({"outcome": outcome, "text": text})
    passed = [k.message for k in c.checks if k.outcome is CheckOutcome.PASS]
    return {
        "shown": shown,
        "passed": len(passed),
        "passed_messages": passed,
        "not_applicable": sum(1 for k in c.checks if k.outcome is CheckOutcome.NOT_APPLICABLE),
    }


def _endpoints(run: AuditRun) -> list[dict[str, Any]]:

    by_address = {(o.host, o.port): o for o in run.observations}
    endpoints = []
    for e in run.evaluations:
        reasons = {r.reason for r in e.results}
        unjudged = all(r.status is RuleStatus.INCOMPLETE for r in e.results) and len(reasons) == 1
        endpoints.append(
            {
                "evaluation": e,
                "observation": by_address.get((e.host, e.port)),
                "rules": [r for r in e.results if r.rule_id != "HSTS"],
                # an endpoint that could not be scanned: one line instead of 35 equal rows
                "unjudged": next(iter(reasons)) if unjudged and e.results else None,
            }
        )
    return endpoints


def _supervision(run: AuditRun, language: str) -> list[dict[str, Any]]:

    sections = []
    for analysis in run.traces:
        volumes = api_volumes_records(analysis.export.records)
        sections.append(
            {
                "analysis": analysis,
                "totals": trace_totals(analysis.export),
                "chart": charts.figure_data_uri(trace_chart(analysis.export, language=language)),
                # Statistics, never findings: per-API volumes (table + chart).
                "api_volumes": volumes,
                "api_chart": (
                    charts.figure_data_uri(api_chart(analysis.export, language=language))
                    if volumes
                    else None
                ),
                "opened_before_window": analysis.stats.get("opened_before_window") or {},
            }
        )
    return sections


UNMAPPED_RANK = {
    CheckOutcome.FAIL: 0,
    CheckOutcome.ERROR: 1,
    CheckOutcome.INCOMPLETE: 1,
    CheckOutcome.DEGRADED: 2,
    CheckOutcome.PASS: 3,
    CheckOutcome.NOT_APPLICABLE: 4,
}
"""The compte rendu shows the unmapped findings that weigh most first."""


def _set_aside_groups(unplaced: Sequence[UnplacedResult]) -> list[dict[str, Any]]:
    """Results set aside (non applicable, hors périmètre), one row per check family,
    requirement and reason, with the count of each outcome (each is in findings.json)."""
    groups: dict[tuple[str, str, str, str], Counter[str]] = {}
    for u in unplaced:
        if u.unmapped:
            continue
        key = (u.check.check, ", ".join(u.check.requirements), u.disposition, u.reason)
        groups.setdefault(key, Counter())[u.check.outcome.value] += 1
    return [
        {
            "check": check,
            "requirements": requirements,
            "disposition": disposition,
            "reason": reason,
            "outcomes": dict(counts),
            "total": sum(counts.values()),
        }
        for (check, requirements, disposition, reason), counts in groups.items()
    ]


def _status_text(value: str | None, language: str) -> str:
    if value is None:
        return "—"
    try:
        return charts.status_label(ControlStatus(value), language)
    except ValueError:
        return value


def change_rows(changes: dict[str, Any] | None, language: str = "fr") -> list[dict[str, str]]:
    """The report's lines for `changes_since_previous`: new, resolved and persisting
    non-conformities, then the other status changes (each control once)."""
    if not changes:
        return []
    words = LABELS[language]
    rows: list[dict[str, str]] = []
    for kind in ("new", "resolved", "not_reassessed", "persisting"):
        for entry in changes.get(kind, []):
            rows.append(
                {
                    "kind": kind,
                    "label": words[f"change_{kind}"],
                    "ref": entry["control"],
                    "before": _status_text(entry.get("previous_status"), language),
                    "after": _status_text(entry.get("status"), language),
                }
            )
    listed = {row["ref"] for row in rows}
    for change in changes["status_changes"]:
        if change["ref"] in listed:
            continue
        rows.append(
            {
                "kind": "status",
                "label": words["change_status"],
                "ref": change["ref"],
                "before": _status_text(change["previous"], language),
                "after": _status_text(change["current"], language),
            }
        )
    return rows


def report_context(
    run: AuditRun, language: str = "fr", changes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything the template shows, computed once (charts as `data:` URIs); `changes`:
    the record's `changes_since_previous` (None: no previous audit to compare with)."""
    a = run.assessment
    counts = a.counts()
    rule_reasons = {(e.label, r.rule_id): r.reason for e in run.evaluations for r in e.results}
    plan = corrective_actions(run.bundle)
    labels = LABELS[language]
    days = run.assessment_settings.remediation_days if run.assessment_settings else {}
    severity_words = SEVERITY[language]
    deadline_note = (
        labels["deadline_note"].format(
            days=", ".join(f"{severity_words.get(k, k)} {v} j" for k, v in days.items())
        )
        if days
        else labels["no_deadline_note"]
    )
    return {
        "outcome": a.outcome,
        "audit_outcome_label": AUDIT_OUTCOME[language],
        "recommendation_label": RECOMMENDATION[language],
        "disposition_label": DISPOSITION[language],
        "deadline_note": deadline_note,
        "unmapped": a.unmapped_findings,
        "unmapped_ranked": sorted(
            a.unmapped_findings, key=lambda u: UNMAPPED_RANK.get(u.check.outcome, 9)
        ),
        "set_aside": _set_aside_groups(a.unplaced),
        "actions_for": lambda n: actions_for(plan, n.control_ref, n.requirement_id),
        "phase_labels": [ph.label for ph in a.phases],
        "run": run,
        "a": a,
        "p": run.provider,
        "spec": run.spec,
        "lang": language,
        "L": LABELS[language],
        "severity": SEVERITY[language],
        "verdict_label": VERDICT[language],
        "rule_status": RULE_STATUS[language],
        "outcome_label": OUTCOME[language],
        "input_names": INPUT_NAMES[language],
        "integrity": INTEGRITY[language],
        "bundle_state": BUNDLE_STATE[language],
        "status_label": lambda s: charts.status_label(s, language),
        "short_sha": short_sha,
        "check_summary": lambda c: check_summary(c, language, rule_reasons),
        "counts": counts,
        "count_rows": [(s, counts[s.value]) for s in STATUS_ORDER],
        "total": sum(counts.values()),
        "generated_at": dt.datetime.now(dt.UTC),
        "requirements": _requirement_sections(run),
        "endpoints": _endpoints(run),
        "supervision": _supervision(run, language),
        "changes": changes,
        "change_rows": change_rows(changes, language),
        "charts": {
            "chapters": charts.figure_data_uri(charts.chart(run, "status_by_chapter", language)),
            "matrix": charts.figure_data_uri(charts.chart(run, "tls_matrix", language))
            if run.evaluations
            else None,
            "timeline": charts.figure_data_uri(charts.chart(run, "certificate_timeline", language)),
        },
    }


_ENVIRONMENTS: dict[tuple[str, str], Environment] = {}


def jinja_environment(folder: Path) -> Environment:
    """The Jinja2 environment of the shipped HTML templates: autoescaped, strict (an
    unknown name is an error, never an empty string)."""
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def report_template(language: str) -> Template:
    """The report's Jinja2 template for `language`, compiled once per process (about
    0.15 CPU-s; Jinja recompiles it if the file changes). The batch's workers compile it
    before forking a notebook (`auditlib.batch.forked`)."""
    folder = templates_dir()
    key = (str(folder), language)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        env = jinja_environment(folder)
        env.filters["css_string"] = css_string
        env.filters["date"] = (
            (lambda d: d.strftime("%d/%m/%Y")) if language == "fr" else (lambda d: d.isoformat())
        )
        _ENVIRONMENTS[key] = env
    return env.get_template(TEMPLATE)


def render_html(
    run: AuditRun, language: str | None = None, changes: dict[str, Any] | None = None
) -> str:
    """The report as one self-contained HTML document (CSS inlined, charts as data URIs);
    `changes`: what changed since the previous audit (`changes_since_previous`)."""
    lang = _language(run, language)
    template = report_template(lang)
    context = report_context(run, lang, changes)
    context["stylesheet"] = (templates_dir() / STYLESHEET).read_text(encoding="utf-8")
    return str(template.render(**context))


PDF_ENGINES = ("typst", "weasyprint")
PDF_ENGINE_ENV = "AUDITLIB_PDF_ENGINE"
"""Environment variable choosing the PDF engine (default: typst)."""


def pdf_engine(engine: str | None = None) -> str:
    """The PDF engine to use: `engine`, else $AUDITLIB_PDF_ENGINE, else Typst."""
    chosen = (engine or os.environ.get(PDF_ENGINE_ENV) or "typst").strip().lower()
    if chosen not in PDF_ENGINES:
        raise ReportError(
            f"unknown PDF engine {chosen!r} (from {'the call' if engine else PDF_ENGINE_ENV}; "
            f"known: {', '.join(PDF_ENGINES)})"
        )
    return chosen


def pdf_bytes(html: str, engine: str | None = None) -> bytes:
    """Print the HTML report to PDF: with Typst (`typeset`, `templates/report.typ`; the
    default, about 10 times faster) or WeasyPrint (`templates/report.css`), from the same
    HTML: the two PDFs hold the same text."""
    if pdf_engine(engine) == "typst":
        return typeset.pdf_bytes(html)
    from weasyprint import HTML

    data: bytes = HTML(string=html, base_url=str(templates_dir())).write_pdf()
    return data


def write_pdf(html: str, path: str | os.PathLike[str]) -> Path:
    """Print the HTML report to PDF, atomically."""
    return write_atomic(path, pdf_bytes(html))


def secret_markers(run: AuditRun) -> list[str]:
    """Strings no output may contain: key markers and any client-key passphrase in use."""
    markers = list(SECRET_MARKERS)
    for endpoint in run.provider.endpoints:
        name = endpoint.key_passphrase_env
        value = os.environ.get(name) if name else None
        if value and len(value) >= 4:
            markers.append(value)
    return markers


def _guard(text: str, markers: list[str], what: str) -> None:
    for marker in markers:
        if marker in text:
            shown = marker if marker in SECRET_MARKERS else "a client-key passphrase"
            raise ReportError(f"{what} would contain {shown}: refusing to write it")


def previous_audit(
    run: AuditRun,
    previous_findings: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] | None = None,
) -> PreviousFindings | None:
    """The provider's previous audit record to compare `run` with: `previous_findings` when
    given (a findings.json or an audit folder), else the latest earlier audit of the same
    provider beside the output folder (default `out/<AuditSpec.folder_name>`)."""
    folder = Path(output_dir) if output_dir else DEFAULT_OUTPUT_ROOT / run.spec.folder_name
    return previous_for(run.spec.provider_id, run.spec.date, previous_findings, folder)


def write_outputs(
    run: AuditRun,
    output_dir: str | os.PathLike[str] | None = None,
    *,
    notebook_path: str | os.PathLike[str] | None = None,
    language: str | None = None,
    previous: PreviousFindings | None = None,
) -> ReportOutputs:
    """Write report.html, report.pdf, grille.xlsx, findings.json (and a copy of the executed
    notebook) into `output_dir` (default: `out/<AuditSpec.folder_name>` under the current
    folder), replacing earlier versions atomically. `previous`: the provider's previous
    audit record (`auditlib.report.changes.previous_for`): findings.json and the report
    then say what changed since.

    Everything is produced in memory first: if anything fails (templates, workbook,
    schema, a secret found), nothing is written and earlier outputs stay as they were."""
    lang = _language(run, language)
    folder = Path(output_dir) if output_dir else DEFAULT_OUTPUT_ROOT / run.spec.folder_name
    markers = secret_markers(run)

    record = findings_record(run, previous=previous)
    check_record(record)
    findings_text = to_json(record)
    _guard(findings_text, markers, "findings.json")
    html = render_html(run, lang, record["changes_since_previous"])
    _guard(html, markers, "report.html")
    notebook_data: bytes | None = None
    if notebook_path is not None:
        source = Path(notebook_path)
        if not source.is_file():
            raise ReportError(f"executed notebook {source} not found")
        notebook_data = source.read_bytes()
        _guard(notebook_data.decode("utf-8", "replace"), markers, f"notebook {source.name}")
    grille = grille_bytes(run, lang)
    pdf = pdf_bytes(html)

    folder.mkdir(parents=True, exist_ok=True)
    notebook = None
    if notebook_path is not None and notebook_data is not None:
        notebook = write_atomic(folder / Path(notebook_path).name, notebook_data)
    return ReportOutputs(
        folder=folder,
        findings=write_atomic(folder / "findings.json", findings_text),
        html=write_atomic(folder / "report.html", html),
        pdf=write_atomic(folder / "report.pdf", pdf),
        grille=write_atomic(folder / "grille.xlsx", grille),
        notebook=notebook,
    )
