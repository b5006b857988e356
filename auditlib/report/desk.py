"""The auditor's desk: the audit notebook's tables, the controls awaiting the auditor, and a
form that records verdicts into the audit's verdicts file and updates the tables in place.

The notebook calls:

    desk = report.Desk.open(provider_id=..., ...)   # runs the audit
    desk.show("findings")                            # a table (auditlib.report.tables)
    desk.show_pending()                              # what awaits the auditor
    desk.form()                                      # ipywidgets form (pip install auditlib[desk])
    desk.write_outputs(output_dir)                   # the outputs, as clickable links

`desk.record(control, status, ...)` is what the form calls (usable from code too): the
verdict is merged into the audit's own verdicts file (`save_verdicts`, validated whole,
written atomically), the assessment is redone from the checks already made (nothing is
rescanned), and every table and chart shown so far is redrawn where it stands.
Last cycle's verdicts (`previous_verdicts.yaml` beside the verdicts file, written by
`auditlib new-audit`) are offered in the pending list and prefill the form; they are
never recorded until the auditor saves them.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.display import HTML, DisplayHandle, display

from auditlib.audit.assess import AuditorVerdict, ControlStatus
from auditlib.audit.run import AuditRun, AuditSettings, run_audit
from auditlib.audit.verdicts import (
    SEVERITIES,
    VERDICT_STATUSES,
    VerdictEntry,
    load_verdicts,
    parse_severity,
    parse_status,
    resolve_control,
    save_verdicts,
    severity_label,
    status_label,
)
from auditlib.errors import AuditlibError
from auditlib.report import tables
from auditlib.report.changes import PreviousFindings
from auditlib.report.charts import chart
from auditlib.report.writer import ReportOutputs, write_outputs

PREVIOUS_VERDICTS = "previous_verdicts.yaml"

TEXT = {
    "fr": {
        "no_widgets": "Le formulaire demande ipywidgets : pip install 'auditlib[desk]'. En "
        "attendant, écrire les appréciations dans {path} (docs/formats/verdicts.md) ou dans "
        "la feuille Constats de grille.xlsx (auditlib verdicts from-grille).",
        "no_file": "Pas de fichier d'appréciations pour cet audit (verdicts_path vide) : créer "
        "l'audit avec « auditlib new-audit PRESTATAIRE », qui en prépare un.",
        "control": "Contrôle",
        "status": "Appréciation",
        "severity": "Gravité",
        "comment": "Commentaire",
        "auditor": "Auditeur",
        "save": "Enregistrer",
        "saved": "Enregistré dans {path} : {ref} — {status}. Tableaux recalculés "
        "({pending} contrôle(s) encore à évaluer).",
        "offered": "Appréciation du cycle précédent proposée (non enregistrée) : {status}. "
        "Vérifier puis enregistrer.",
        "current": "Appréciation enregistrée : {status}.",
        "pending_suffix": " (à évaluer)",
        "refused": "Refusé : {error}",
        "outputs": "Sorties de l'audit",
        "next": "Suite : relire report.html ; compléter grille.xlsx (colonnes « Appréciation "
        "auditeur » et « Commentaire auditeur ») puis « auditlib verdicts from-grille "
        "{grille} --output {verdicts} --merge » et réexécuter ; enfin sceller : "
        "« auditlib sign {pdf} ».",
        "previous_bad": "Appréciations du cycle précédent illisibles ({error}) : ignorées.",
    },
    "en": {
        "no_widgets": "The form needs ipywidgets: pip install 'auditlib[desk]'. Meanwhile, "
        "write verdicts in {path} (docs/formats/verdicts.md) or in the Constats sheet of "
        "grille.xlsx (auditlib verdicts from-grille).",
        "no_file": "No verdicts file for this audit (verdicts_path empty): create the audit "
        "with `auditlib new-audit PROVIDER`, which prepares one.",
        "control": "Control",
        "status": "Verdict",
        "severity": "Severity",
        "comment": "Comment",
        "auditor": "Auditor",
        "save": "Save",
        "saved": "Saved in {path}: {ref} — {status}. Tables recomputed ({pending} "
        "control(s) still to assess).",
        "offered": "Last cycle's verdict offered (not recorded): {status}. Check, then save.",
        "current": "Recorded verdict: {status}.",
        "pending_suffix": " (to assess)",
        "refused": "Refused: {error}",
        "outputs": "Audit outputs",
        "next": 'Next: read report.html; fill grille.xlsx (columns "Appréciation auditeur" '
        'and "Commentaire auditeur") then `auditlib verdicts from-grille {grille} --output '
        "{verdicts} --merge` and run again; finally seal: `auditlib sign {pdf}`.",
        "previous_bad": "Last cycle's verdicts unreadable ({error}): ignored.",
    },
}


@dataclass
class _Shown:
    handle: DisplayHandle
    kind: str  # "table" or "chart"
    name: str
    options: dict[str, Any] = field(default_factory=dict)


class Desk:
    """One audit in the notebook: its run, what was shown, and the verdict form."""

    def __init__(self, run: AuditRun) -> None:
        self.run = run
        self.language = run.settings.language if run.settings.language in TEXT else "fr"
        self._shown: list[_Shown] = []
        self.previous: dict[str, AuditorVerdict] = {}
        self.previous_problem: str | None = None
        self.interactive = tables.interactive_wanted()
        self._itables_ready = False
        self._load_previous()

    @classmethod
    def open(cls, **parameters: Any) -> Desk:
        """Run the audit from the notebook's parameters."""
        return cls(run_audit(AuditSettings.from_parameters(**parameters)))

    def _t(self, key: str, **values: Any) -> str:
        return TEXT[self.language][key].format(**values)

    @property
    def verdicts_path(self) -> Path | None:
        return self.run.settings.verdicts_path

    def _load_previous(self) -> None:
        path = self.verdicts_path
        if path is None:
            return
        candidate = path.parent / PREVIOUS_VERDICTS
        if not candidate.is_file():
            return
        try:  # any audit's: they are only offered
            found = load_verdicts(candidate, self.run.grid, self.run.provider.id)
        except AuditlibError as exc:
            self.previous_problem = self._t("previous_bad", error=exc)
            return
        self.previous = {v.control_ref: v for v in found}

    # ------------------------------------------------------------------------- showing

    def _render(self, item: _Shown) -> Any:
        if item.kind == "chart":
            return chart(self.run, item.name)
        options = dict(item.options)
        if item.name == "pending":
            options["previous"] = self.previous
        built = tables.table(self.run, item.name, self.language, **options)
        if self.interactive and not self._itables_ready and not built.empty:
            self._itables_ready = _init_itables()
            self.interactive = self._itables_ready
        return tables.rendered(built, self.interactive)

    def show(self, name: str, **options: Any) -> None:
        """Display a table (`auditlib.report.tables.TABLE_NAMES`; `findings` takes
        status=, requirement=, phase=); it is redrawn in place after each verdict."""
        tables.table(self.run, name, self.language, **options)  # unknown name: ValueError now
        self._display(_Shown(DisplayHandle(), "table", name, options))

    def show_chart(self, name: str) -> None:
        """Display one of the report's charts; redrawn in place after each verdict."""
        self._display(_Shown(DisplayHandle(), "chart", name))

    def show_pending(self) -> None:
        """The controls awaiting the auditor, with last cycle's verdict where there is one."""
        if self.previous_problem:
            display(HTML(f"<p>{html.escape(self.previous_problem)}</p>"))
        self.show("pending")

    def _display(self, item: _Shown) -> None:
        item.handle.display(self._render(item))
        self._shown.append(item)

    def refresh(self) -> None:
        """Redraw every table and chart shown so far, where it stands."""
        for item in self._shown:
            item.handle.update(self._render(item))

    # ------------------------------------------------------------------------- verdicts

    def pending_refs(self) -> list[str]:
        return [c.ref for c in self.run.assessment.controls if c.status is ControlStatus.A_EVALUER]

    def record(
        self,
        control: str,
        status: str | ControlStatus,
        *,
        severity: str | None = None,
        comment: str | None = None,
        auditor: str | None = None,
        date: dt.date | None = None,
    ) -> AuditorVerdict:
        """Merge one verdict into the audit's verdicts file, reassess, redraw the tables."""
        path = self.verdicts_path
        if path is None:
            raise AuditlibError(self._t("no_file"))
        ref = resolve_control(control, self.run.grid)
        if ref is None:
            raise AuditlibError(f"no control {control!r} in the grid")
        try:
            parsed = parse_status(status)
            level = parse_severity(severity) if severity else None
        except ValueError as exc:
            raise AuditlibError(str(exc)) from None
        if parsed not in VERDICT_STATUSES:
            raise AuditlibError(
                f"{status_label(parsed, self.language)!r} is not an auditor's verdict "
                f"(one of {', '.join(status_label(s, self.language) for s in VERDICT_STATUSES)})"
            )
        entry = VerdictEntry(
            control=ref,
            status=parsed,
            comment=" ".join((comment or "").split()) or None,
            severity=level,
            auditor=(auditor or "").strip() or self.run.settings.auditor,
            date=date or dt.date.today(),
        )
        saved = save_verdicts(
            path,
            self.run.grid,
            [entry],
            provider_id=self.run.provider.id,
            audit=self.run.spec.folder_name,
            auditor=self.run.settings.auditor,
        )
        self.run = self.run.reassess()
        self.refresh()
        return next(v for v in saved if v.control_ref == ref)

    def write_outputs(
        self,
        output_dir: str | os.PathLike[str] | None = None,
        previous: PreviousFindings | None = None,
    ) -> DeskOutputs:
        """report.html, report.pdf, grille.xlsx, findings.json (with the changes since
        `previous`, the provider's previous audit): shown as links."""
        written = write_outputs(self.run, output_dir, previous=previous)
        return DeskOutputs(written, self.language, self.verdicts_path)

    def form(self) -> Any:
        """The verdict form (ipywidgets); a sentence saying what to do when unavailable."""
        if self.verdicts_path is None:
            return HTML(f"<p>{html.escape(self._t('no_file'))}</p>")
        try:
            import ipywidgets as widgets
        except ImportError:
            return HTML(f"<p>{html.escape(self._t('no_widgets', path=self.verdicts_path))}</p>")
        return VerdictForm(self, widgets).box


class VerdictForm:
    """Control, status, severity, comment, auditor, and a save button."""

    def __init__(self, desk: Desk, widgets: Any) -> None:
        self.desk = desk
        t = desk._t
        lang = desk.language
        layout = widgets.Layout(width="48em")
        self.control = widgets.Dropdown(
            description=t("control"), options=self._control_options(), layout=layout
        )
        self.status = widgets.Dropdown(
            description=t("status"),
            options=[(status_label(s, lang), s.value) for s in VERDICT_STATUSES],
            layout=layout,
        )
        self.severity = widgets.Dropdown(
            description=t("severity"),
            options=[("", ""), *((severity_label(s, lang), s) for s in SEVERITIES)],
            layout=layout,
        )
        self.comment = widgets.Textarea(description=t("comment"), layout=layout)
        self.auditor = widgets.Text(
            description=t("auditor"), value=desk.run.settings.auditor or "", layout=layout
        )
        self.save = widgets.Button(description=t("save"), button_style="primary")
        self.message = widgets.HTML(value="")
        for widget in (self.control, self.status, self.severity, self.comment, self.auditor):
            widget.add_class("auditlib-verdict")
        self.save.add_class("auditlib-save")
        self.message.add_class("auditlib-message")
        self.control.observe(self._prefill, names="value")
        self.save.on_click(self._save)
        self.box = widgets.VBox(
            [
                self.control,
                self.status,
                self.severity,
                self.comment,
                self.auditor,
                self.save,
                self.message,
            ]
        )
        self._prefill()

    def _control_options(self) -> list[tuple[str, str]]:
        suffix = self.desk._t("pending_suffix")
        pending = self.desk.pending_refs()
        others = [c.ref for c in self.desk.run.assessment.controls if c.ref not in set(pending)]
        return [(ref + suffix, ref) for ref in pending] + [(ref, ref) for ref in others]

    def _prefill(self, _change: Any = None) -> None:
        ref = self.control.value
        assessed = {c.ref: c for c in self.desk.run.assessment.controls}.get(ref)
        lang = self.desk.language
        current = assessed.verdict if assessed is not None else None
        offered = self.desk.previous.get(ref) if current is None else None
        source = current or offered
        if source is not None and source.status in VERDICT_STATUSES:
            self.status.value = source.status.value
            self.severity.value = source.severity or ""
            self.comment.value = source.comment or ""
        else:
            self.severity.value = ""
            self.comment.value = ""
        if current is not None:
            note = self.desk._t("current", status=status_label(current.status, lang))
        elif offered is not None:
            note = self.desk._t("offered", status=status_label(offered.status, lang))
        else:
            note = ""
        self.message.value = f"<span>{html.escape(note)}</span>" if note else ""

    def _save(self, _button: Any = None) -> None:
        desk = self.desk
        try:
            verdict = desk.record(
                self.control.value,
                self.status.value,
                severity=self.severity.value or None,
                comment=self.comment.value,
                auditor=self.auditor.value,
            )
        except AuditlibError as exc:
            text = desk._t("refused", error=exc)
            self.message.value = f'<span style="color:#a00000">{html.escape(text)}</span>'
            return
        keep = verdict.control_ref
        self.control.unobserve(self._prefill, names="value")
        self.control.options = self._control_options()
        self.control.value = keep
        self.control.observe(self._prefill, names="value")
        text = desk._t(
            "saved",
            path=desk.verdicts_path,
            ref=verdict.control_ref,
            status=status_label(verdict.status, desk.language),
            pending=len(desk.pending_refs()),
        )
        self.message.value = f'<span style="color:#006000">{html.escape(text)}</span>'


def _init_itables() -> bool:
    try:
        from itables import init_notebook_mode
    except ImportError:
        return False
    init_notebook_mode(all_interactive=False, connected=False)
    return True


@dataclass(frozen=True)
class DeskOutputs:
    """The outputs written, shown as links (relative to the kernel's folder, which is the
    notebook's in JupyterLab) with their absolute paths, and what to do next."""

    outputs: ReportOutputs
    language: str
    verdicts_path: Path | None

    def _next(self) -> str:
        o = self.outputs
        return TEXT[self.language]["next"].format(
            grille=o.grille.resolve(),
            verdicts=self.verdicts_path or "verdicts.yaml",
            pdf=o.pdf.resolve(),
        )

    def __repr__(self) -> str:
        lines = [f"{TEXT[self.language]['outputs']} ({self.outputs.folder.resolve()}):"]
        lines += [f"  {p.resolve()}" for p in self.outputs.files]
        return "\n".join([*lines, self._next()])

    def _repr_html_(self) -> str:
        items = []
        for path in self.outputs.files:
            absolute = path.resolve()
            try:
                href = os.path.relpath(absolute, Path.cwd())
            except ValueError:  # another drive (Windows)
                href = absolute.as_uri()
            items.append(
                f'<li><a href="{html.escape(Path(href).as_posix())}" target="_blank">'
                f"{html.escape(path.name)}</a> <code>{html.escape(str(absolute))}</code></li>"
            )
        title = html.escape(TEXT[self.language]["outputs"])
        return (
            f"<p><strong>{title}</strong></p><ul>{''.join(items)}</ul>"
            f"<p>{html.escape(self._next())}</p>"
        )
