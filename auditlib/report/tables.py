"""Tables for people: what the audit notebook shows, in the audit's language.

`table(run, name, language)` returns a `Table`: a pandas DataFrame of readable values
(status words, `oui`/`non`, dates; never `PASS`, `NON_COMPLIANT`, `True`, `nan`) with
localised headers, and its HTML rendering:
- the index is hidden and nothing is truncated (a SHA-256 is shown whole);
- status colours are inline `style=` attributes, so they survive when an executed
  notebook is reopened untrusted (a `<style>` block does not);
- every value is HTML-escaped (the data come from the audited party);
- an empty table is a sentence saying what there is none of.

`show(table)` displays it: interactive (search, filter, pagination) with `itables` when
it is installed (`pip install auditlib[desk]`) and the kernel was started by a Jupyter
server (JupyterLab); static HTML otherwise, e.g. under papermill. `AUDITLIB_TABLES=static`
or `interactive` overrides the choice.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from auditlib.audit.assess import STATUS_ORDER, ControlStatus
from auditlib.audit.run import STATUS_COLOURS
from auditlib.audit.verdicts import severity_label, status_label

if TYPE_CHECKING:
    from auditlib.audit.run import AuditRun

TLS_WORDS = {
    "fr": {
        "PASS": ("conforme", ControlStatus.CONFORME),
        "COMPLIANT": ("conforme", ControlStatus.CONFORME),
        "FAIL": ("non conforme", ControlStatus.NON_CONFORME),
        "NON_COMPLIANT": ("non conforme", ControlStatus.NON_CONFORME),
        "DEGRADED": ("toléré", ControlStatus.PARTIEL),
        "INCOMPLETE": ("incomplet", ControlStatus.A_EVALUER),
        "NOT_APPLICABLE": ("non applicable", ControlStatus.NON_APPLICABLE),
        "ERROR": ("erreur", ControlStatus.ERREUR),
    },
    "en": {
        "PASS": ("compliant", ControlStatus.CONFORME),
        "COMPLIANT": ("compliant", ControlStatus.CONFORME),
        "FAIL": ("non compliant", ControlStatus.NON_CONFORME),
        "NON_COMPLIANT": ("non compliant", ControlStatus.NON_CONFORME),
        "DEGRADED": ("tolerated", ControlStatus.PARTIEL),
        "INCOMPLETE": ("incomplete", ControlStatus.A_EVALUER),
        "NOT_APPLICABLE": ("not applicable", ControlStatus.NON_APPLICABLE),
        "ERROR": ("error", ControlStatus.ERREUR),
    },
}
ITEM_WORDS = {
    "fr": {
        "ok": ("intact", ControlStatus.CONFORME),
        "hash_mismatch": ("empreinte différente", ControlStatus.NON_CONFORME),
        "missing": ("absent", ControlStatus.NON_CONFORME),
        "unlisted": ("non déclaré", ControlStatus.PARTIEL),
        "unreadable": ("illisible", ControlStatus.ERREUR),
    },
    "en": {
        "ok": ("intact", ControlStatus.CONFORME),
        "hash_mismatch": ("hash differs", ControlStatus.NON_CONFORME),
        "missing": ("missing", ControlStatus.NON_CONFORME),
        "unlisted": ("not listed", ControlStatus.PARTIEL),
        "unreadable": ("unreadable", ControlStatus.ERREUR),
    },
}
YES_NO = {"fr": ("oui", "non"), "en": ("yes", "no")}
PHASES = {
    "fr": {"AVANT": "Avant", "PENDANT": "Pendant", "APRES": "Après"},
    "en": {"AVANT": "Before", "PENDANT": "During", "APRES": "After"},
}

# name -> (fr headers, en headers); the column keys are the French headers.
HEADERS: dict[str, dict[str, tuple[str, ...]]] = {
    "provider": {"fr": ("", "valeur"), "en": ("", "value")},
    "applicability": {
        "fr": ("exigence", "chapitre", "applicable", "motif"),
        "en": ("requirement", "chapter", "applies", "reason"),
    },
    "summary": {"fr": ("audit",), "en": ("audit",)},
    "nonconformities": {
        "fr": ("contrôle", "statut", "gravité", "échéance (proposition de l'auditeur)", "motif"),
        "en": ("control", "status", "severity", "deadline (auditor's proposal)", "reason"),
    },
    "conflicts": {
        "fr": ("contrôle", "auditeur", "automatique", "vérifications en échec"),
        "en": ("control", "auditor", "automated", "failing checks"),
    },
    "findings": {
        "fr": ("contrôle", "statut", "motif", "commentaire de l'auditeur", "automatique",
               "gravité", "niveau", "preuves", "cellule"),
        "en": ("control", "status", "reason", "auditor's comment", "automated", "severity",
               "level", "evidence", "cell"),
    },
    "pending": {
        "fr": ("contrôle", "phase", "contrôle à mener", "preuve attendue",
               "appréciation précédente"),
        "en": ("control", "phase", "what to check", "expected proof", "previous verdict"),
    },
    "tls_summary": {
        "fr": ("point d'accès", "verdict", "versions", "expiration (jours)", "erreur"),
        "en": ("endpoint", "verdict", "versions", "expiry (days)", "error"),
    },
    "tls": {
        "fr": ("point d'accès", "règle", "intitulé", "statut", "motif", "exigence", "gravité",
               "écart documenté"),
        "en": ("endpoint", "rule", "title", "status", "reason", "requirement", "severity",
               "documented deviation"),
    },
    "evidence": {
        "fr": ("fichier", "nature", "exigences", "date", "taille (octets)", "SHA-256", "état"),
        "en": ("file", "kind", "requirements", "date", "size (bytes)", "SHA-256", "state"),
    },
    "supervision": {
        "fr": ("export", "vérification", "gravité", "occurrences", "constat"),
        "en": ("export", "check", "severity", "occurrences", "finding"),
    },
}  # fmt: skip
EMPTY = {
    "provider": ("Aucune information sur le prestataire.", "No provider information."),
    "applicability": ("Aucune exigence dans la grille.", "No requirement in the grid."),
    "summary": ("Aucun contrôle évalué.", "No control assessed."),
    "nonconformities": ("Aucune non-conformité.", "No non-conformity."),
    "conflicts": (
        "Aucune appréciation de l'auditeur ne contredit une vérification automatique.",
        "No auditor's verdict contradicts an automated check.",
    ),
    "findings": ("Aucun contrôle ne correspond à ce filtre.", "No control matches this filter."),
    "pending": (
        "Aucun contrôle n'attend l'appréciation de l'auditeur.",
        "No control awaits the auditor's verdict.",
    ),
    "tls_summary": (
        "Aucun point d'accès TLS enregistré pour ce prestataire.",
        "No TLS endpoint registered for this provider.",
    ),
    "tls": ("Aucune règle TLS évaluée.", "No TLS rule evaluated."),
    "evidence": (
        "Aucun fichier dans le dossier de preuves (ou dossier inutilisable).",
        "No file in the evidence bundle (or the bundle is unusable).",
    ),
    "supervision": (
        "Aucun constat de supervision (aucun export de traces, ou aucun écart).",
        "No supervision finding (no trace export, or nothing found).",
    ),
}
TABLE_NAMES = tuple(HEADERS)


@dataclass(frozen=True)
class Table:
    """One table for people: readable values, localised headers, inline status colours."""

    name: str
    language: str
    frame: pd.DataFrame
    """Readable values; column names are the headers shown."""
    colours: tuple[tuple[str | None, ...], ...] = ()
    """Per row, per column: a background colour or None (status cells)."""
    empty_text: str = ""

    @property
    def empty(self) -> bool:
        return len(self.frame) == 0

    def _repr_html_(self) -> str:
        return to_html(self)

    def __repr__(self) -> str:
        if self.empty:
            return self.empty_text
        return str(self.frame.to_string(index=False))


CELL = "padding:3px 6px;border:1px solid #ccc;text-align:left;vertical-align:top;"
HEAD = CELL + "background-color:#eef1f5;font-weight:bold;"
WIDE = "min-width:22em;white-space:normal;"
WIDE_HEADERS = {"motif", "reason", "constat", "finding", "contrôle à mener", "what to check",
                "commentaire de l'auditeur", "auditor's comment", "intitulé", "title"}  # fmt: skip


def to_html(table: Table) -> str:
    """Inline-styled, escaped HTML; a paragraph when the table is empty."""
    if table.empty:
        return f'<p style="font-style:italic">{html.escape(table.empty_text)}</p>'
    headers = [str(c) for c in table.frame.columns]
    parts = [
        f'<table class="auditlib-table" data-table="{html.escape(table.name)}" '
        'style="border-collapse:collapse;font-size:90%">',
        "<thead><tr>",
        *(f'<th style="{HEAD}">{html.escape(h)}</th>' for h in headers),
        "</tr></thead><tbody>",
    ]
    for r, row in enumerate(table.frame.itertuples(index=False)):
        parts.append("<tr>")
        for c, value in enumerate(row):
            style = CELL + (WIDE if headers[c] in WIDE_HEADERS else "")
            colour = table.colours[r][c] if r < len(table.colours) else None
            if colour:
                style += f"background-color:{colour};"
            text = html.escape(_text(value)).replace("\n", "<br>")
            parts.append(f'<td style="{style}">{text}</td>')
        parts.append("</tr>")
    parts.append("</tbody></table>")
    return "".join(parts)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    if isinstance(value, bool):
        return "oui" if value else "non"
    return str(value)


def _lang(language: str | None, run: AuditRun | None = None) -> str:
    chosen = language or (run.settings.language if run is not None else "fr")
    return chosen if chosen in ("fr", "en") else "fr"


def _make(
    name: str,
    lang: str,
    rows: Sequence[Sequence[Any]],
    colours: Sequence[Sequence[str | None]] = (),
    headers: Sequence[str] | None = None,
) -> Table:
    columns = list(headers or HEADERS[name][lang])
    frame = pd.DataFrame([[_text(v) for v in row] for row in rows], columns=columns, dtype=object)
    return Table(
        name=name,
        language=lang,
        frame=frame,
        colours=tuple(tuple(c) for c in colours),
        empty_text=EMPTY[name][0 if lang == "fr" else 1],
    )


def _status_cell(status: ControlStatus | str, lang: str) -> tuple[str, str | None]:
    parsed = ControlStatus(status) if not isinstance(status, ControlStatus) else status
    return status_label(parsed, lang), STATUS_COLOURS.get(parsed)


# ----------------------------------------------------------------------------- the tables


def provider(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    p = run.provider
    labels = {
        "fr": ("Prestataire", "Habilitation", "Rôles", "S'appuie sur", "Points d'accès",
               "Dossier de preuves", "Audit", "Référence", "Auditeur"),
        "en": ("Provider", "Habilitation", "Roles", "Relies on", "Endpoints", "Evidence bundle",
               "Audit", "Reference", "Auditor"),
    }[lang]  # fmt: skip
    values = (
        f"{p.name} ({p.id})",
        p.habilitation,
        ", ".join(r.label for r in p.roles),
        ", ".join(p.relies_on) or "-",
        ", ".join(e.display for e in p.endpoints) or "-",
        str(p.evidence_bundle),
        f"{run.spec.trigger.label}, {run.spec.date.isoformat()}",
        run.spec.reference or "-",
        run.spec.auditor or "-",
    )
    return _make("provider", lang, list(zip(labels, values, strict=True)))


def applicability(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    yes, no = YES_NO[lang]
    rows = [
        (r.requirement_id, r.chapter, yes if r.applies else no, r.reason)
        for r in run.assessment.applicability
    ]
    colours = [
        (None, None, STATUS_COLOURS[ControlStatus.NON_APPLICABLE] if not r.applies else None, None)
        for r in run.assessment.applicability
    ]
    return _make("applicability", lang, rows, colours)


def summary(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    counts = run.assessment.counts()
    if not any(counts.values()):
        return _make("summary", lang, [])
    headers = [HEADERS["summary"][lang][0], *(status_label(s, lang) for s in STATUS_ORDER)]
    row = [run.spec.folder_name, *(counts.get(s.value, 0) for s in STATUS_ORDER)]
    colours = [None, *(STATUS_COLOURS[s] if counts.get(s.value) else None for s in STATUS_ORDER)]
    return _make("summary", lang, [row], [colours], headers)


def nonconformities(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    rows, colours = [], []
    for n in run.assessment.nonconformities:
        label, colour = _status_cell(n.status, lang)
        rows.append(
            (
                n.control_ref,
                label,
                severity_label(n.severity, lang),
                n.deadline.isoformat() if n.deadline else "—",
                " ; ".join(n.reasons),
            )
        )
        colours.append((None, colour, None, None, None))
    return _make("nonconformities", lang, rows, colours)


def conflicts(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    rows, colours = [], []
    for c in run.assessment.conflicts:
        verdict, vc = _status_cell(c.verdict, lang)
        automated, ac = _status_cell(c.automated, lang)
        rows.append((c.control_ref, verdict, automated, ", ".join(c.failing_checks)))
        colours.append((None, vc, ac, None))
    return _make("conflicts", lang, rows, colours)


def findings(
    run: AuditRun,
    language: str | None = None,
    *,
    status: str | None = None,
    requirement: str | None = None,
    phase: str | None = None,
) -> Table:
    """One row per control; filter by status (French or English), requirement or phase."""
    from auditlib.audit.verdicts import parse_status

    lang = _lang(language, run)
    wanted = parse_status(status) if status is not None else None
    rows, colours = [], []
    for c in run.assessment.controls:
        if wanted is not None and c.status is not wanted:
            continue
        if requirement is not None and not c.control.requirement_id.endswith(str(requirement)):
            continue
        if phase is not None and c.control.phase.value != phase.upper().replace("È", "E"):
            continue
        label, colour = _status_cell(c.status, lang)
        automated, automated_colour = _status_cell(c.automated_status, lang)
        rows.append(
            (
                c.ref,
                label,
                c.reason,
                c.verdict.comment if c.verdict and c.verdict.comment else "",
                automated,
                severity_label(c.severity, lang),
                c.control.level.code if c.control.level else "",
                "\n".join(e.path for e in c.evidence),
                c.control.cell,
            )
        )
        colours.append(
            (None, colour, None, None, automated_colour if c.overridden else None, *[None] * 4)
        )
    return _make("findings", lang, rows, colours)


def pending(
    run: AuditRun, language: str | None = None, previous: dict[str, Any] | None = None
) -> Table:
    """The controls awaiting the auditor (`à évaluer`), with last cycle's verdict if any
    (`previous`: control ref -> AuditorVerdict), offered, never applied."""
    lang = _lang(language, run)
    rows = []
    for c in run.assessment.controls:
        if c.status is not ControlStatus.A_EVALUER:
            continue
        before = (previous or {}).get(c.ref)
        offered = ""
        if before is not None:
            offered = status_label(before.status, lang)
            if before.comment:
                offered += f" : {before.comment}"
        rows.append(
            (
                c.ref,
                PHASES[lang].get(c.control.phase.value, c.control.phase.value),
                c.control.text,
                c.control.expected_format or "",
                offered,
            )
        )
    return _make("pending", lang, rows)


def tls_summary(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    rows, colours = [], []
    for e, o in zip(run.evaluations, run.observations, strict=True):
        word, status = TLS_WORDS[lang].get(str(e.bottom_line), (str(e.bottom_line), None))
        rows.append(
            (
                e.label,
                word,
                ", ".join(o.accepted_versions) if o.protocols else "-",
                "" if e.days_until_expiry is None else e.days_until_expiry,
                e.scan_error or "",
            )
        )
        colours.append((None, STATUS_COLOURS.get(status) if status else None, None, None, None))
    return _make("tls_summary", lang, rows, colours)


def tls(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    rows, colours = [], []
    for e in run.evaluations:
        for r in e.results:
            word, status = TLS_WORDS[lang].get(str(r.status), (str(r.status), None))
            rows.append(
                (
                    e.label,
                    r.rule_id,
                    r.title,
                    word,
                    r.reason,
                    r.requirement,
                    severity_label(r.severity, lang),
                    r.deviation or "",
                )
            )
            colour = STATUS_COLOURS.get(status) if status else None
            colours.append((None, None, None, colour, None, None, None, None))
    return _make("tls", lang, rows, colours)


def evidence(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    rows, colours = [], []
    items = run.bundle.items if run.bundle is not None else ()
    for i in items:
        word, status = ITEM_WORDS[lang].get(str(i.status), (str(i.status), None))
        kind = i.kind.label if i.kind is not None and lang == "fr" else (str(i.kind or ""))
        rows.append(
            (
                i.path,
                kind,
                ", ".join(i.requirements),
                i.date.isoformat() if i.date else "",
                "" if i.size is None else i.size,
                i.sha256 or "",
                word,
            )
        )
        colours.append((*[None] * 6, STATUS_COLOURS.get(status) if status else None))
    return _make("evidence", lang, rows, colours)


def supervision(run: AuditRun, language: str | None = None) -> Table:
    lang = _lang(language, run)
    rows = [
        (
            str(analysis.export.source),
            f.check,
            severity_label(str(f.severity), lang),
            f.count,
            f.message,
        )
        for analysis in run.traces
        for f in analysis.findings
    ]
    return _make("supervision", lang, rows)


BUILDERS: dict[str, Callable[..., Table]] = {
    "provider": provider,
    "applicability": applicability,
    "summary": summary,
    "nonconformities": nonconformities,
    "conflicts": conflicts,
    "findings": findings,
    "pending": pending,
    "tls_summary": tls_summary,
    "tls": tls,
    "evidence": evidence,
    "supervision": supervision,
}


def table(run: AuditRun, name: str, language: str | None = None, **options: Any) -> Table:
    """The table `name` (one of TABLE_NAMES) of `run`."""
    if name not in BUILDERS:
        raise ValueError(f"unknown table {name!r} (known: {', '.join(BUILDERS)})")
    return BUILDERS[name](run, language, **options)


# ----------------------------------------------------------------------------- display


def interactive_wanted() -> bool:
    """Interactive tables only in a kernel a Jupyter server started (JupyterLab sets
    JPY_SESSION_NAME) with itables installed; papermill's kernels get static tables."""
    forced = os.environ.get("AUDITLIB_TABLES", "").strip().lower()
    if forced in ("static", "interactive"):
        wanted = forced == "interactive"
    else:
        wanted = bool(os.environ.get("JPY_SESSION_NAME"))
    if not wanted:
        return False
    try:
        import itables  # noqa: F401
    except ImportError:
        return False
    return True


def rendered(t: Table, interactive: bool | None = None) -> Any:
    """What to display for `t`: static inline-styled HTML, or an itables DataTable (search,
    column filters, pagination) inside a `<div data-table=NAME>` when interactive."""
    from IPython.display import HTML

    use_itables = interactive_wanted() if interactive is None else interactive
    if t.empty or not use_itables or len(t.frame) < 2:
        return HTML(to_html(t))
    try:
        from itables import to_html_datatable
    except ImportError:
        return HTML(to_html(t))
    # Cells are escaped here, then given to DataTables as HTML (allow_html) so that the
    # status colours stay inline styles.
    frame = t.frame.copy()
    for c in range(frame.shape[1]):
        column = []
        for r in range(len(frame)):
            text = html.escape(_text(frame.iat[r, c])).replace("\n", "<br>")
            colour = t.colours[r][c] if r < len(t.colours) else None
            if colour:
                text = f'<span style="background-color:{colour};padding:1px 4px">{text}</span>'
            column.append(text)
        frame[frame.columns[c]] = column
    widget = to_html_datatable(
        frame,
        connected=False,
        showIndex=False,
        maxBytes=0,
        allow_html=True,
        column_filters="footer",
        classes="display compact",
        layout={
            "topStart": "pageLength",
            "topEnd": "search",
            "bottomStart": "info",
            "bottomEnd": "paging",
        },
    )
    return HTML(f'<div data-table="{html.escape(t.name)}">{widget}</div>')
