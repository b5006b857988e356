"""The portfolio: every provider of a registry at a glance, across its audits.

`load_portfolio(audits_dir, registry_path)` reads the audit folders of a folder (a batch
output such as `out/demo`: `<audit>/findings.json`), keeps each provider's latest audit,
and makes the plan as of a day (`auditlib.batch.plan.plan_audits`, with the folder's
latest scan `scans/scan-*.json` and its supervision events `supervision/events.csv` when
present). The `Portfolio` gives French tables (pandas) and charts (matplotlib figures the
notebook shows inline) and renders one HTML page and its PDF (`write_portfolio`).

Everything read from the folder is input from the audited side: an unreadable or foreign
`findings.json` becomes a line in `Portfolio.problems`, never a crash and never a silent
skip; every table cell is HTML-escaped when rendered.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from auditlib import resources
from auditlib.batch.plan import DEFAULT_WITHIN, MAX_WITHIN_DAYS, PlannedAudit, plan_audits
from auditlib.errors import AuditlibError
from auditlib.files import write_atomic
from auditlib.registry import Provider, Registry, load_registry
from auditlib.report.changes import FINDINGS_NAME, PreviousFindingsError, read_findings
from auditlib.report.writer import jinja_environment
from auditlib.tls.scan import TlsObservation, load_observations
from auditlib.traces.events import load_supervision_events
from auditlib.traces.model import SupervisionEvent

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PORTFOLIO_TEMPLATE = "portfolio.html.j2"
PORTFOLIO_HTML = "portfolio.html"
PORTFOLIO_PDF = "portfolio.pdf"
EVENTS_FILE = Path("supervision") / "events.csv"
SCANS_GLOB = "scans/scan-*.json"
TIMELINE_HORIZON = dt.timedelta(days=3 * 365 + 1)
"""How far ahead certificate and habilitation expiries are listed (one 3-year cycle)."""

NO_AUDIT = "aucun audit"
SEVERITIES = ("critical", "high", "medium", "low")
SEVERITY_FR = {"critical": "critique", "high": "élevée", "medium": "moyenne", "low": "faible"}
SEVERITY_COLOURS = {
    "critical": "#7b1f1d",
    "high": "#d9534f",
    "medium": "#f2b705",
    "low": "#6f94c4",
}
PORTFOLIO_DPI = 150
"""Resolution of the portfolio's PNG charts (it keeps matplotlib: one page per batch, not
one per audit; the audit report's charts are SVG, `auditlib.report.charts`)."""


KIND_FR = {
    "audit_due": "audit dû",
    "certificate_expiry": "expiration de certificat (audit dû)",
    "habilitation_expiry": "expiration d'habilitation",
    "supervision_event": "événement de supervision",
    "audit_done": "audit réalisé",
}
KIND_STYLE = {  # marker, colour
    "audit_due": ("o", "#d9534f"),
    "certificate_expiry": ("s", "#6f94c4"),
    "habilitation_expiry": ("D", "#b45fb0"),
    "supervision_event": ("^", "#f2b705"),
    "audit_done": ("P", "#4caf50"),
}
_HABILITATION_NUMBER = ("number", "id", "habilitation", "reference")
_HABILITATION_EXPIRY = (
    "expires",
    "expiry",
    "expires_on",
    "expiry_date",
    "valid_until",
    "not_after",
)


class PortfolioError(AuditlibError):
    """The portfolio cannot be made (audits folder or registry unusable)."""


# --------------------------------------------------------------------------- figures


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    class ChartFigure(Figure):
        """A Figure that Jupyter shows inline by itself (no pyplot, no inline backend),
        as the PNG the portfolio page embeds."""

        def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
            width, height = self.get_size_inches()
            return _png(self), {"width": round(width * 100), "height": round(height * 100)}

    return ChartFigure(figsize=(width, height), layout="constrained")


def empty_figure(title: str, message: str) -> Figure:
    """A small framed figure saying there is nothing to show (never an empty axis)."""
    fig = _figure(7, 1.4)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    ax.text(0.5, 0.4, message, ha="center", va="center", fontsize=10, color="#555555")
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PORTFOLIO_DPI, metadata={"Software": None})
    return buffer.getvalue()


def figure_data_uri(fig: Figure) -> str:
    """`data:image/png;base64,...` of a figure, for the portfolio page."""
    return "data:image/png;base64," + base64.b64encode(_png(fig)).decode("ascii")


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class AuditSummary:
    """What the portfolio reads of one audit folder's findings.json."""

    folder: Path
    provider_id: str
    audit_id: str
    date: dt.date
    trigger: str
    bottom_line: str
    generated_at: str
    nonconformities: tuple[dict[str, Any], ...]
    supervision: tuple[dict[str, Any], ...]
    changes: dict[str, Any] | None


@dataclass(frozen=True)
class ProviderAudits:
    """A provider of the registry and its audits found in the folder, latest last."""

    provider: Provider
    audits: tuple[AuditSummary, ...]

    @property
    def latest(self) -> AuditSummary | None:
        return self.audits[-1] if self.audits else None


@dataclass(frozen=True)
class Milestone:
    """One dated point of the plan's timeline."""

    provider_id: str
    date: dt.date
    kind: str
    """`audit_due`, `certificate_expiry`, `habilitation_expiry`, `supervision_event`,
    `audit_done` (see `KIND_FR`)."""
    label: str
    days: int
    """Days from the reference day (negative: past)."""


@dataclass(frozen=True)
class Portfolio:
    registry: Registry
    audits_dir: Path
    as_of: dt.date
    within: dt.timedelta
    providers: tuple[ProviderAudits, ...]
    plan: tuple[PlannedAudit, ...]
    """Every audit due by `as_of + TIMELINE_HORIZON` (the window's are `due_audits`)."""
    events: tuple[SupervisionEvent, ...]
    milestones: tuple[Milestone, ...]
    scan_results: Path | None
    events_file: Path | None
    problems: tuple[str, ...] = field(default=())

    # ---------------------------------------------------------------- views

    @property
    def due_audits(self) -> list[PlannedAudit]:
        horizon = self.as_of + self.within
        return [a for a in self.plan if a.due_date <= horizon]

    def latest(self) -> list[AuditSummary]:
        return [p.latest for p in self.providers if p.latest is not None]

    def providers_table(self) -> pd.DataFrame:
        """One line per provider of the registry: its latest audit's bottom line, or none."""
        due = Counter(a.provider_id for a in self.due_audits)
        rows = []
        for entry in self.providers:
            p = entry.provider
            last = entry.latest
            severities = (
                Counter(str(n.get("severity")) for n in last.nonconformities) if last else {}
            )
            rows.append(
                {
                    "prestataire": p.id,
                    "nom": p.name,
                    "habilitation": _habilitation_text(p),
                    "rôles": ", ".join(r.value for r in p.roles),
                    "dernier audit": last.date.isoformat() if last else NO_AUDIT,
                    "motif": last.trigger if last else "",
                    "conclusion": last.bottom_line if last else NO_AUDIT,
                    "non-conformités": len(last.nonconformities) if last else None,
                    "dont critiques/élevées": (
                        severities.get("critical", 0) + severities.get("high", 0)
                    )
                    if last
                    else None,
                    "audits dus": due.get(p.id, 0),
                    "audits trouvés": len(entry.audits),
                }
            )
        return _integers(pd.DataFrame(rows), ["non-conformités", "dont critiques/élevées"])

    def nonconformities_list(self) -> pd.DataFrame:
        """Every non-conformity of each provider's latest audit."""
        columns = ["prestataire", "contrôle", "exigence", "statut", "sévérité", "échéance"]
        rows = [
            [
                last.provider_id,
                n.get("control"),
                n.get("requirement"),
                n.get("status"),
                SEVERITY_FR.get(str(n.get("severity")), n.get("severity")),
                n.get("deadline"),
            ]
            for last in self.latest()
            for n in last.nonconformities
        ]
        return pd.DataFrame(rows, columns=columns)

    def nonconformities_by_requirement(self) -> pd.DataFrame:
        """Requirement x severity: how many non-conformities the latest audits hold, and
        which providers have them."""
        counts: dict[str, Counter[str]] = {}
        who: dict[str, set[str]] = {}
        for last in self.latest():
            for n in last.nonconformities:
                requirement = str(n.get("requirement") or "?")
                counts.setdefault(requirement, Counter())[str(n.get("severity"))] += 1
                who.setdefault(requirement, set()).add(last.provider_id)
        columns = [SEVERITY_FR[s] for s in SEVERITIES] + ["total", "prestataires"]
        rows = []
        for requirement in sorted(counts, key=_natural):
            c = counts[requirement]
            rows.append(
                [c.get(s, 0) for s in SEVERITIES]
                + [sum(c.values()), ", ".join(sorted(who[requirement]))]
            )
        index = pd.Index(sorted(counts, key=_natural), name="exigence")
        return pd.DataFrame(rows, columns=columns, index=index)

    def timeline_table(self) -> pd.DataFrame:
        """The plan's dated points: audits due, certificate and habilitation expiries,
        supervision events, audits done; by date."""
        rows = [
            {
                "date": m.date.isoformat(),
                "jours": m.days,
                "prestataire": m.provider_id,
                "nature": KIND_FR[m.kind],
                "détail": m.label,
            }
            for m in self.milestones
        ]
        return pd.DataFrame(rows, columns=["date", "jours", "prestataire", "nature", "détail"])

    def plan_table(self) -> pd.DataFrame:
        """The audits due within the window (what `auditlib plan` lists), overdue first."""
        rows = [
            {
                "échéance": a.due_date.isoformat(),
                "jours": a.days_until_due,
                "en retard": "oui" if a.overdue else "non",
                "prestataire": a.provider_id,
                "motif": _trigger_label(a),
                "référence": a.reference,
            }
            for a in self.due_audits
        ]
        return pd.DataFrame(
            rows, columns=["échéance", "jours", "en retard", "prestataire", "motif", "référence"]
        )

    def supervision_table(self) -> pd.DataFrame:
        """Supervision events (the events file) and whether each made an audit due; then
        the trace findings of each provider's latest audit."""
        triggered = {
            (a.provider_id, a.event.date, a.event.event) for a in self.plan if a.event is not None
        }
        rows = [
            {
                "date": e.date.isoformat(),
                "prestataire": e.provider,
                "source": "événement",
                "constat": e.event,
                "sévérité": SEVERITY_FR.get(e.severity.value, e.severity.value),
                "nombre": None,
                "audit déclenché": "oui" if (e.provider, e.date, e.event) in triggered else "non",
            }
            for e in self.events
        ]
        for last in self.latest():
            for analysis in last.supervision:
                findings = analysis.get("findings")
                for f in findings if isinstance(findings, list) else []:
                    if not isinstance(f, dict):
                        continue
                    rows.append(
                        {
                            "date": last.date.isoformat(),
                            "prestataire": last.provider_id,
                            "source": "traces (dernier audit)",
                            "constat": f.get("message") or f.get("check"),
                            "sévérité": SEVERITY_FR.get(str(f.get("severity")), f.get("severity")),
                            "nombre": f.get("count"),
                            "audit déclenché": "",
                        }
                    )
        columns = [
            "date",
            "prestataire",
            "source",
            "constat",
            "sévérité",
            "nombre",
            "audit déclenché",
        ]
        return _integers(pd.DataFrame(rows, columns=columns), ["nombre"])

    def changes_table(self) -> pd.DataFrame:
        """For each provider whose latest audit was compared with an earlier one: counts
        of new, resolved and persisting non-conformities."""
        rows = []
        for last in self.latest():
            c = last.changes
            if not isinstance(c, dict):
                continue
            previous = c.get("previous") if isinstance(c.get("previous"), dict) else {}
            rows.append(
                {
                    "prestataire": last.provider_id,
                    "audit précédent": previous.get("date") if previous else None,
                    "conclusion précédente": previous.get("bottom_line") if previous else None,
                    "conclusion actuelle": last.bottom_line,
                    "nouvelles": _length(c.get("new")),
                    "levées": _length(c.get("resolved")),
                    "non réévaluées": _length(c.get("not_reassessed")),
                    "persistantes": _length(c.get("persisting")),
                    "changements de statut": _length(c.get("status_changes")),
                }
            )
        columns = [
            "prestataire",
            "audit précédent",
            "conclusion précédente",
            "conclusion actuelle",
            "nouvelles",
            "levées",
            "non réévaluées",
            "persistantes",
            "changements de statut",
        ]
        return pd.DataFrame(rows, columns=columns)

    def problems_table(self) -> pd.DataFrame:
        return pd.DataFrame({"problème": list(self.problems)}, columns=["problème"])

    # ---------------------------------------------------------------- charts

    def nonconformities_chart(self) -> Figure:
        """Stacked bars: each provider's non-conformities (latest audit) by severity; a
        provider without an audit says so."""
        title = "Non-conformités par prestataire (dernier audit) et sévérité"
        names = [p.provider.id for p in self.providers]
        if not names:
            return empty_figure(title, "aucun prestataire")
        fig = _figure(8, 0.45 * len(names) + 1.6)
        ax = fig.add_subplot()
        left = [0] * len(names)
        for severity in SEVERITIES:
            values = [
                sum(1 for n in p.latest.nonconformities if n.get("severity") == severity)
                if p.latest
                else 0
                for p in self.providers
            ]
            ax.barh(
                names,
                values,
                left=left,
                color=SEVERITY_COLOURS[severity],
                label=SEVERITY_FR[severity],
            )
            left = [a + b for a, b in zip(left, values, strict=True)]
        for index, p in enumerate(self.providers):
            if p.latest is None:
                ax.text(0.1, index, NO_AUDIT, va="center", fontsize=9, color="#555555")
            else:
                ax.text(left[index] + 0.1, index, p.latest.bottom_line, va="center", fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("non-conformités")
        ax.set_xlim(0, max([*left, 1]) * 1.6 + 1)
        ax.set_title(title, fontsize=11)
        ax.legend(loc="lower right", fontsize=8, title="sévérité", title_fontsize=8)
        return fig

    def requirements_chart(self) -> Figure:
        """Stacked bars: non-conformities of the latest audits per requirement, by severity."""
        title = "Non-conformités par exigence et sévérité"
        table = self.nonconformities_by_requirement()
        if table.empty:
            return empty_figure(title, "aucune non-conformité dans les derniers audits")
        labels = [str(r) for r in table.index]
        fig = _figure(8, 0.35 * len(labels) + 1.6)
        ax = fig.add_subplot()
        left = [0] * len(labels)
        for severity in SEVERITIES:
            values = [int(v) for v in table[SEVERITY_FR[severity]]]
            ax.barh(
                labels,
                values,
                left=left,
                color=SEVERITY_COLOURS[severity],
                label=SEVERITY_FR[severity],
            )
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.invert_yaxis()
        ax.set_xlabel("non-conformités")
        ax.set_title(title, fontsize=11)
        ax.legend(loc="lower right", fontsize=8, title="sévérité", title_fontsize=8)
        return fig

    def timeline_chart(self, horizon: dt.timedelta = dt.timedelta(days=365)) -> Figure:
        """One line per provider: audits done and due, certificate and habilitation
        expiries, supervision events, from 90 days back to `horizon` ahead."""
        title = "Calendrier : audits, expirations, événements de supervision"
        start = self.as_of - dt.timedelta(days=90)
        end = self.as_of + horizon
        shown = [m for m in self.milestones if start <= m.date <= end]
        names = [p.provider.id for p in self.providers]
        if not names:
            return empty_figure(title, "aucun prestataire")
        import matplotlib.dates

        x: Any = matplotlib.dates.date2num  # untyped: keep strict mypy quiet
        fig = _figure(9, 0.5 * len(names) + 2.0)
        ax = fig.add_subplot()
        ax.xaxis_date()
        row = {name: index for index, name in enumerate(names)}
        for kind, (marker, colour) in KIND_STYLE.items():
            points = [m for m in shown if m.kind == kind and m.provider_id in row]
            if not points:
                continue
            ax.scatter(
                [x(m.date) for m in points],
                [row[m.provider_id] for m in points],
                marker=marker,
                color=colour,
                s=60,
                label=KIND_FR[kind],
                zorder=3,
                alpha=0.85,
            )
        ax.axvline(x(self.as_of), color="#333333", linestyle="--", linewidth=1)
        ax.axvspan(x(self.as_of), x(self.as_of + self.within), color="#f2b705", alpha=0.12)
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_xlim(x(start), x(end))
        ax.grid(axis="x", color="#dddddd")
        ax.set_title(title, fontsize=11)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=8)
        fig.autofmt_xdate()
        return fig

    # ---------------------------------------------------------------- output

    def render_html(self) -> str:
        """The portfolio as one self-contained HTML page (charts as data URIs; every
        table cell escaped)."""

        folder = resources.templates_dir()
        if not (folder / PORTFOLIO_TEMPLATE).is_file():
            raise PortfolioError(
                f"portfolio template not found: {folder / PORTFOLIO_TEMPLATE} "
                "(a broken install: reinstall auditlib)"
            )
        env = jinja_environment(folder)
        tables = {
            "providers": self.providers_table(),
            "plan": self.plan_table(),
            "by_requirement": self.nonconformities_by_requirement().reset_index(),
            "nonconformities": self.nonconformities_list(),
            "timeline": self.timeline_table(),
            "supervision": self.supervision_table(),
            "changes": self.changes_table(),
            "problems": self.problems_table(),
        }
        return env.get_template(PORTFOLIO_TEMPLATE).render(
            p=self,
            tables={name: _rows(frame) for name, frame in tables.items()},
            charts={
                "nonconformities": figure_data_uri(self.nonconformities_chart()),
                "requirements": figure_data_uri(self.requirements_chart()),
                "timeline": figure_data_uri(self.timeline_chart()),
            },
            generated_at=dt.datetime.now(dt.UTC).strftime("%d/%m/%Y %H:%M UTC"),
        )


def _habilitation_text(provider: Provider) -> str:
    """The provider's habilitation number(s): the registry's list when it has one."""
    numbers = [number for number, _, _ in habilitation_expiries(provider)]
    return ", ".join(numbers) or str(getattr(provider, "habilitation", "") or "")


def _integers(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Counts shown as integers (a missing one stays empty, not NaN and floats)."""
    for column in columns:
        try:
            frame[column] = frame[column].astype("Int64")
        except (TypeError, ValueError):
            frame[column] = frame[column].astype(object)
    return frame


def _rows(frame: pd.DataFrame) -> dict[str, Any]:
    """Columns and rows as plain text for the template (which escapes every cell)."""
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [["" if _missing(v) else str(v) for v in row] for row in frame.itertuples(False)],
    }


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _length(value: Any) -> int:
    return len(value) if isinstance(value, list) else 0


def _natural(text: str) -> list[tuple[int, str]]:
    import re

    return [(int(p), "") if p.isdigit() else (0, p) for p in re.split(r"(\d+)", text)]


def _trigger_label(audit: PlannedAudit) -> str:
    try:
        return str(audit.trigger.label)
    except (AttributeError, KeyError):
        return str(getattr(audit.trigger, "value", audit.trigger))


# --------------------------------------------------------------------------- loading


def _summary(folder: Path, record: dict[str, Any]) -> AuditSummary:
    audit = record["audit"]
    ncs = record.get("nonconformities")
    supervision = record.get("supervision")
    changes = record.get("changes_since_previous")
    return AuditSummary(
        folder=folder,
        provider_id=str(audit["provider_id"]),
        audit_id=str(audit.get("id") or folder.name),
        date=dt.date.fromisoformat(str(audit["date"])),
        trigger=str(audit.get("trigger_label") or audit.get("trigger") or ""),
        bottom_line=str(record["bottom_line"]),
        generated_at=str(record.get("generated_at") or ""),
        nonconformities=tuple(n for n in ncs if isinstance(n, dict))
        if isinstance(ncs, list)
        else (),
        supervision=tuple(s for s in supervision if isinstance(s, dict))
        if isinstance(supervision, list)
        else (),
        changes=changes if isinstance(changes, dict) else None,
    )


def read_audits(audits_dir: Path) -> tuple[list[AuditSummary], list[str]]:
    """Every `<audits_dir>/<audit>/findings.json` (private folders `.partial`, `_failed`
    skipped), and the problems met."""
    found: list[AuditSummary] = []
    problems: list[str] = []
    for path in sorted(audits_dir.glob(f"*/{FINDINGS_NAME}")):
        if path.parent.name.startswith((".", "_")):
            continue
        try:
            previous = read_findings(path)
        except PreviousFindingsError as exc:
            problems.append(str(exc).replace("previous findings ", "", 1))
            continue
        found.append(_summary(path.parent, previous.record))
    return found, problems


def latest_scan(audits_dir: Path) -> Path | None:
    """The batch's latest scan file (`scans/scan-<run>.json`; run ids sort by time)."""
    scans = [p for p in audits_dir.glob(SCANS_GLOB) if not p.name.endswith(".sslyze.json")]
    return max(scans, key=lambda p: p.name) if scans else None


def habilitation_expiries(provider: Provider) -> list[tuple[str, dt.date, str | None]]:
    """(number, expiry, status) of each habilitation the registry gives the provider with an
    expiry date. Registry version 1 has none; later versions' `habilitations` are read by
    attribute or key, whichever they use."""
    items = getattr(provider, "habilitations", None)
    found: list[tuple[str, dt.date, str | None]] = []
    if not isinstance(items, list | tuple):
        return found

    def get(item: Any, name: str) -> Any:
        return item.get(name) if isinstance(item, dict) else getattr(item, name, None)

    for item in items:
        number = next((get(item, n) for n in _HABILITATION_NUMBER if get(item, n)), None)
        expiry: Any = next((get(item, n) for n in _HABILITATION_EXPIRY if get(item, n)), None)
        if isinstance(expiry, dt.datetime):
            expiry = expiry.date()
        elif isinstance(expiry, str):
            try:
                expiry = dt.date.fromisoformat(expiry[:10])
            except ValueError:
                expiry = None
        if not isinstance(expiry, dt.date):
            continue
        status = get(item, "status")
        found.append(
            (
                str(number or provider.habilitation),
                expiry,
                str(getattr(status, "value", status)) if status else None,
            )
        )
    return found


def _milestones(
    providers: Sequence[ProviderAudits],
    plan: Sequence[PlannedAudit],
    events: Sequence[SupervisionEvent],
    as_of: dt.date,
) -> list[Milestone]:
    out: list[Milestone] = []

    def add(provider_id: str, day: dt.date, kind: str, label: str) -> None:
        out.append(Milestone(provider_id, day, kind, label, (day - as_of).days))

    seen: set[tuple[str, str]] = set()
    for a in plan:
        cert = getattr(a, "certificate", None)
        if cert is None:
            add(a.provider_id, a.due_date, "audit_due", f"{_trigger_label(a)} : {a.reference}")
            continue
        # a certificate's expiry is the day its audit is due: one point, saying both
        if (a.provider_id, cert.fingerprint) in seen:
            continue
        seen.add((a.provider_id, cert.fingerprint))
        add(
            a.provider_id,
            cert.not_after.astimezone(dt.UTC).date(),
            "certificate_expiry",
            f"{cert.common_name} n° {cert.serial} : audit dû",
        )
    for entry in providers:
        for number, expiry, status in habilitation_expiries(entry.provider):
            label = f"habilitation {number}" + (f" ({status})" if status else "")
            add(entry.provider.id, expiry, "habilitation_expiry", label)
        for audit in entry.audits:
            add(
                audit.provider_id,
                audit.date,
                "audit_done",
                f"{audit.trigger} : {audit.bottom_line}",
            )
    for e in events:
        add(e.provider, e.date, "supervision_event", f"{e.severity.value} : {e.event}")
    out.sort(key=lambda m: (m.date, m.provider_id, m.kind, m.label))
    return out


def default_registry() -> Path:
    """The demo registry shipped with the package."""
    return resources.demo_data_dir() / "registry.yaml"


def load_portfolio(
    audits_dir: str | os.PathLike[str],
    registry_path: str | os.PathLike[str] | None = None,
    *,
    as_of: dt.date | str | None = None,
    within: dt.timedelta = DEFAULT_WITHIN,
    scan_results_path: str | os.PathLike[str] | None = None,
    events_path: str | os.PathLike[str] | None = None,
) -> Portfolio:
    """Read the audit folders of `audits_dir` and plan as of `as_of` (default today, UTC).

    `registry_path`: default the demo registry shipped with the package. Scan results and
    supervision events default to the batch folder's latest `scans/scan-*.json` and its
    `supervision/events.csv`, when present. A bad registry, audits folder, or explicitly
    named scan or events file is an error; problems with single audit folders are listed
    in `Portfolio.problems`."""
    folder = Path(audits_dir)
    if not folder.is_dir():
        raise PortfolioError(f"audits folder {folder.absolute()} does not exist or is not a folder")
    registry = load_registry(registry_path if registry_path is not None else default_registry())
    if as_of is None:
        day = dt.datetime.now(dt.UTC).date()
    elif isinstance(as_of, str):
        try:
            day = dt.date.fromisoformat(as_of.strip())
        except ValueError:
            raise PortfolioError(
                f"as_of {as_of!r}: expected an ISO date such as 2026-11-28"
            ) from None
    else:
        day = as_of

    audits, problems = read_audits(folder)
    by_provider: dict[str, list[AuditSummary]] = {}
    known = set(registry.ids)
    for audit in audits:
        if audit.provider_id not in known:
            problems.append(
                f"{audit.folder / FINDINGS_NAME}: provider {audit.provider_id!r} is not in the "
                f"registry {registry.path}"
            )
            continue
        by_provider.setdefault(audit.provider_id, []).append(audit)
    providers = tuple(
        ProviderAudits(
            p,
            tuple(sorted(by_provider.get(p.id, []), key=lambda a: (a.date, a.generated_at))),
        )
        for p in registry
    )

    scans = Path(scan_results_path) if scan_results_path is not None else latest_scan(folder)
    observations: list[TlsObservation] = []
    if scans is not None:
        try:
            observations = load_observations(scans)
        except AuditlibError as exc:
            if scan_results_path is not None:
                raise
            problems.append(f"scan results {scans}: {exc}")
    events_file = Path(events_path) if events_path is not None else folder / EVENTS_FILE
    events: list[SupervisionEvent] = []
    if events_path is not None or events_file.is_file():
        try:
            events = load_supervision_events(events_file)
        except AuditlibError as exc:
            if events_path is not None:
                raise
            problems.append(f"supervision events {events_file}: {exc}")
    horizon = max(within, TIMELINE_HORIZON)
    horizon = min(horizon, dt.timedelta(days=MAX_WITHIN_DAYS))
    plan: list[PlannedAudit] = []
    try:
        plan = plan_audits(registry, day, horizon, observations=observations, events=events)
    except AuditlibError as exc:
        problems.append(f"plan: {exc}")
        try:  # an event naming an unknown provider must not hide the certificates' plan
            plan = plan_audits(registry, day, horizon, observations=observations)
        except AuditlibError as again:
            problems.append(f"plan without events: {again}")
    return Portfolio(
        registry=registry,
        audits_dir=folder.resolve(),
        as_of=day,
        within=within,
        providers=providers,
        plan=tuple(plan),
        events=tuple(events),
        milestones=tuple(_milestones(providers, plan, events, day)),
        scan_results=scans.resolve() if scans is not None else None,
        events_file=events_file.resolve() if events else None,
        problems=tuple(problems),
    )


def portfolio_pdf(html: str) -> bytes:
    """Print the portfolio page to PDF with WeasyPrint (as the audit report)."""
    from weasyprint import HTML

    data: bytes = HTML(string=html, base_url=str(resources.templates_dir())).write_pdf()
    return data


@dataclass(frozen=True)
class PortfolioOutputs:
    html: Path
    pdf: Path | None


def write_portfolio(
    portfolio: Portfolio, output_dir: str | os.PathLike[str] | None = None, *, pdf: bool = True
) -> PortfolioOutputs:
    """Write `portfolio.html` (and `portfolio.pdf`) into `output_dir` (default: the audits
    folder), each atomically."""
    folder = Path(output_dir) if output_dir is not None else portfolio.audits_dir
    html = portfolio.render_html()
    data = portfolio_pdf(html) if pdf else None
    folder.mkdir(parents=True, exist_ok=True)
    return PortfolioOutputs(
        html=write_atomic(folder / PORTFOLIO_HTML, html),
        pdf=write_atomic(folder / PORTFOLIO_PDF, data) if data is not None else None,
    )
