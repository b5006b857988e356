"""The report's charts: status by chapter, TLS verdict matrix, certificate and pentest timeline.

Each function returns a bare `matplotlib.figure.Figure` (no pyplot, so no global figure
registry and no backend switch): notebooks display it inline, the report embeds it with
`figure_data_uri`. Empty inputs give a clean "nothing to show" figure, never an exception.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from auditlib.audit.assess import STATUS_ORDER, ControlStatus
from auditlib.errors import ProfileError
from auditlib.tls import load_profile
from auditlib.tls.profile import RuleStatus

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from auditlib.audit.assess import Assessment
    from auditlib.audit.run import AuditRun
    from auditlib.tls.evaluate import EndpointEvaluation

# Saturated versions of `auditlib.audit.run.STATUS_COLOURS` (same hue per status): the pastel
# table backgrounds are too pale for bars. Kept here so charts and tables agree on hue.
STATUS_CHART_COLOURS = {
    ControlStatus.CONFORME: "#4caf50",
    ControlStatus.PARTIEL: "#f2b705",
    ControlStatus.NON_CONFORME: "#d9534f",
    ControlStatus.NON_APPLICABLE: "#b0b0b0",
    ControlStatus.A_EVALUER: "#6f94c4",
    ControlStatus.ERREUR: "#b45fb0",
    ControlStatus.HORS_PERIMETRE: "#d6d6d6",
}
RULE_COLOURS = {
    RuleStatus.PASS: STATUS_CHART_COLOURS[ControlStatus.CONFORME],
    RuleStatus.DEGRADED: STATUS_CHART_COLOURS[ControlStatus.PARTIEL],
    RuleStatus.FAIL: STATUS_CHART_COLOURS[ControlStatus.NON_CONFORME],
    RuleStatus.NOT_APPLICABLE: STATUS_CHART_COLOURS[ControlStatus.NON_APPLICABLE],
    RuleStatus.INCOMPLETE: STATUS_CHART_COLOURS[ControlStatus.ERREUR],
    RuleStatus.NOT_TESTED: STATUS_CHART_COLOURS[ControlStatus.A_EVALUER],
}
RULE_LETTERS = {
    RuleStatus.PASS: "",
    RuleStatus.DEGRADED: "~",
    RuleStatus.FAIL: "✗",
    RuleStatus.NOT_APPLICABLE: "–",
    RuleStatus.INCOMPLETE: "?",
    RuleStatus.NOT_TESTED: "?",
}

TEXT = {
    "fr": {
        "chapter_title": "Statut des contrôles par chapitre",
        "controls": "contrôles",
        "matrix_title": "Règles ANSSI par point d'accès",
        "timeline_title": "Certificats et tests d'intrusion",
        "audit_date": "date de l'audit",
        "horizon": "horizon RGS B1 ({year})",
        "pentest": "test d'intrusion",
        "nothing": "Rien à afficher",
        "no_controls": "aucun contrôle applicable",
        "no_endpoints": "aucun point d'accès analysé",
        "no_certificates": "aucun certificat ni test d'intrusion",
        "scan": "analyse",
        "bundle": "dossier",
        RuleStatus.PASS: "conforme",
        RuleStatus.DEGRADED: "toléré",
        RuleStatus.FAIL: "non conforme",
        RuleStatus.NOT_APPLICABLE: "sans objet",
        RuleStatus.INCOMPLETE: "non évalué",
        RuleStatus.NOT_TESTED: "non testé",
    },
    "en": {
        "chapter_title": "Control status by chapter",
        "controls": "controls",
        "matrix_title": "ANSSI rules by endpoint",
        "timeline_title": "Certificates and penetration tests",
        "audit_date": "audit date",
        "horizon": "RGS B1 horizon ({year})",
        "pentest": "penetration test",
        "nothing": "Nothing to show",
        "no_controls": "no applicable control",
        "no_endpoints": "no endpoint scanned",
        "no_certificates": "no certificate and no penetration test",
        "scan": "scan",
        "bundle": "bundle",
        RuleStatus.PASS: "pass",
        RuleStatus.DEGRADED: "tolerated",
        RuleStatus.FAIL: "fail",
        RuleStatus.NOT_APPLICABLE: "not applicable",
        RuleStatus.INCOMPLETE: "not evaluated",
        RuleStatus.NOT_TESTED: "not tested",
    },
}
STATUS_EN = {
    ControlStatus.CONFORME: "compliant",
    ControlStatus.PARTIEL: "partially compliant",
    ControlStatus.NON_CONFORME: "non compliant",
    ControlStatus.NON_APPLICABLE: "not applicable",
    ControlStatus.A_EVALUER: "to assess",
    ControlStatus.ERREUR: "error",
    ControlStatus.HORS_PERIMETRE: "outside this audit's scope",
}


def _text(language: str) -> dict[object, str]:
    return TEXT.get(language, TEXT["fr"])  # type: ignore[return-value]


def status_label(status: ControlStatus, language: str = "fr") -> str:
    return STATUS_EN[status] if language == "en" else status.value


REPORT_DPI = 150
"""Resolution of the PNG embedded in the report (and shown in the notebook)."""
SCREEN_DPI = 100
"""Display size in the notebook: inches x SCREEN_DPI pixels wide."""


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    class ChartFigure(Figure):
        """A Figure that Jupyter shows inline by itself (no pyplot, no inline backend),
        as the very PNG the report embeds: encoded once, on first use. A chart is finished
        when drawn; to change one, draw a new one."""

        _png: bytes | None = None

        def png(self) -> bytes:
            if self._png is None:
                self._png = figure_bytes(self, "png", dpi=REPORT_DPI)
            return self._png

        def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
            width, height = self.get_size_inches()
            size = {"width": round(width * SCREEN_DPI), "height": round(height * SCREEN_DPI)}
            return self.png(), size

    return ChartFigure(figsize=(width, height), layout="constrained")


def empty_figure(title: str, message: str) -> Figure:
    """A small framed figure saying there is nothing to show (never an empty axis)."""
    fig = _figure(7, 1.4)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=11)
    ax.text(0.5, 0.4, message, ha="center", va="center", fontsize=10, color="#555555")
    return fig


def _natural(text: str) -> list[tuple[int, str]]:
    """Sort key putting chapter 2.10 after 2.9."""
    import re

    return [(int(p), "") if p.isdigit() else (0, p) for p in re.split(r"(\d+)", text)]


def _wrap(text: str, width: int = 38) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width)) or text


# ------------------------------------------------------------------ status by chapter


def status_by_chapter(assessment: Assessment, language: str = "fr") -> Figure:
    """Stacked horizontal bars: for each requirement chapter, its controls by status."""
    t = _text(language)
    table = assessment.by_chapter()
    if not table:
        return empty_figure(t["chapter_title"], t["no_controls"])
    chapters = sorted(table, key=_natural)
    fig = _figure(8, 0.9 + 0.45 * len(chapters))
    ax = fig.add_subplot()
    positions = list(range(len(chapters)))
    left = [0.0] * len(chapters)
    for status in STATUS_ORDER:
        values = [float(table[c].get(status.value, 0)) for c in chapters]
        if not any(values):
            continue
        bars = ax.barh(
            positions,
            values,
            left=left,
            color=STATUS_CHART_COLOURS[status],
            label=status_label(status, language),
            edgecolor="white",
            height=0.7,
        )
        ax.bar_label(
            bars,
            labels=[str(int(v)) if v else "" for v in values],
            label_type="center",
            fontsize=8,
            color="white",
        )
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.set_yticks(positions, [_wrap(c) for c in chapters], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(t["controls"], fontsize=9)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title(t["chapter_title"], fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    fig.legend(loc="outside lower center", ncols=6, fontsize=8, frameon=False)
    return fig


# ------------------------------------------------------------------ TLS verdict matrix


def tls_matrix(evaluations: Sequence[EndpointEvaluation], language: str = "fr") -> Figure:
    """Endpoint x rule grid coloured by rule status (HSTS included, as its own column)."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    t = _text(language)
    if not evaluations:
        return empty_figure(t["matrix_title"], t["no_endpoints"])
    rules: list[str] = []
    for evaluation in evaluations:
        for result in evaluation.results:
            if result.rule_id not in rules:
                rules.append(result.rule_id)
    order = list(RULE_COLOURS)
    grid = []
    for evaluation in evaluations:
        by_id = {r.rule_id: r.status for r in evaluation.results}
        grid.append([order.index(by_id.get(rule, RuleStatus.INCOMPLETE)) for rule in rules])
    fig = _figure(max(7.0, 0.22 * len(rules) + 2.5), 1.9 + 0.38 * len(evaluations))
    ax = fig.add_subplot()
    cmap = ListedColormap([RULE_COLOURS[s] for s in order])
    ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=len(order) - 0.5, aspect="auto")
    for y, row in enumerate(grid):
        for x, index in enumerate(row):
            mark = RULE_LETTERS[order[index]]
            if mark:
                ax.text(x, y, mark, ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks(range(len(rules)), rules, rotation=90, fontsize=7)
    ax.set_yticks(range(len(evaluations)), [_wrap(e.label, 30) for e in evaluations], fontsize=8)
    ax.set_xticks([x - 0.5 for x in range(1, len(rules))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(evaluations))], minor=True)
    ax.grid(which="minor", color="white", linewidth=1.2)
    ax.tick_params(which="minor", length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(t["matrix_title"], fontsize=11)
    present = sorted({order[i] for row in grid for i in row}, key=order.index)
    fig.legend(
        handles=[Patch(color=RULE_COLOURS[s], label=t[s]) for s in present],
        loc="outside lower center",
        ncols=len(present),
        fontsize=8,
        frameon=False,
    )
    return fig


# ------------------------------------------------------------------ timeline


@dataclass(frozen=True)
class TimelineBar:
    """One certificate's validity, as drawn on the timeline."""

    label: str
    not_before: dt.datetime
    not_after: dt.datetime
    origin: str
    """`scan` (seen on an endpoint) or `bundle` (filed in the evidence bundle)."""


@dataclass(frozen=True)
class TimelineMarker:
    label: str
    when: dt.date


def timeline_items(run: AuditRun) -> tuple[list[TimelineBar], list[TimelineMarker]]:
    """End-entity certificates from the scans and the bundle (deduplicated by serial and
    issuer) and the pentest report dates, for `timeline`."""
    bars: list[TimelineBar] = []
    seen: set[tuple[str, str]] = set()
    for observation in run.observations:
        leaf = observation.leaf
        if leaf is None or (leaf.issuer, leaf.serial) in seen:
            continue
        seen.add((leaf.issuer, leaf.serial))
        label = f"{leaf.common_name} ({observation.label})"
        bars.append(TimelineBar(label, leaf.not_before, leaf.not_after, "scan"))
    markers: list[TimelineMarker] = []
    if run.bundle is not None:
        for item, cert in run.bundle.certificates:
            if cert.is_ca or (cert.issuer, cert.serial) in seen:
                continue
            seen.add((cert.issuer, cert.serial))
            label = f"{cert.common_name} ({item.path})"
            bars.append(TimelineBar(label, cert.not_before, cert.not_after, "bundle"))
        for item in run.bundle.items:
            if item.pentest is not None:
                markers.append(TimelineMarker(item.path, item.pentest.report_date))
            elif item.kind is not None and item.kind.value == "pentest_report" and item.date:
                markers.append(TimelineMarker(item.path, item.date))
    return bars, markers


def timeline(
    bars: Sequence[TimelineBar],
    markers: Sequence[TimelineMarker],
    audit_date: dt.date,
    horizon_year: int | None = 2030,
    language: str = "fr",
) -> Figure:
    """Certificate validity bars (notBefore→notAfter), pentest dates as diamonds, the audit
    date and the RGS B1 horizon (end of `horizon_year`) as vertical lines."""
    import matplotlib.dates

    mdates: Any = matplotlib.dates  # untyped functions: keep strict mypy quiet
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    t = _text(language)
    if not bars and not markers:
        return empty_figure(t["timeline_title"], t["no_certificates"])
    rows = len(bars) + (1 if markers else 0)
    fig = _figure(8, 1.6 + 0.42 * rows)
    ax = fig.add_subplot()
    labels: list[str] = []
    colours = {"scan": "#3f6fb5", "bundle": "#8fb0dc"}
    for y, bar in enumerate(bars):
        start = mdates.date2num(bar.not_before)
        width = mdates.date2num(bar.not_after) - start
        ax.barh(y, width, left=start, height=0.55, color=colours.get(bar.origin, "#3f6fb5"))
        labels.append(_wrap(bar.label, 42))
    if markers:
        y = len(bars)
        ax.plot(
            [mdates.date2num(m.when) for m in markers],
            [y] * len(markers),
            marker="D",
            linestyle="none",
            color="#d9534f",
            markersize=7,
        )
        labels.append(t["pentest"])
    audit_x = mdates.date2num(audit_date)
    ax.axvline(audit_x, color="#222222", linestyle="--", linewidth=1.2)
    handles: list[Line2D | Patch] = [
        Line2D([], [], color="#222222", linestyle="--", label=t["audit_date"]),
    ]
    if horizon_year is not None:
        ax.axvline(
            mdates.date2num(dt.date(horizon_year, 12, 31)),
            color="#d98c1f",
            linestyle=":",
            linewidth=1.5,
        )
        horizon_label = t["horizon"].format(year=horizon_year)
        handles.append(Line2D([], [], color="#d98c1f", linestyle=":", label=horizon_label))
    if any(b.origin == "scan" for b in bars):
        handles.append(Patch(color=colours["scan"], label=t["scan"]))
    if any(b.origin == "bundle" for b in bars):
        handles.append(Patch(color=colours["bundle"], label=t["bundle"]))
    if markers:
        handles.append(
            Line2D([], [], marker="D", linestyle="none", color="#d9534f", label=t["pentest"])
        )
    ax.set_yticks(range(len(labels)), labels, fontsize=7.5)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.xaxis.set_major_locator(mdates.AutoDateLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", color="#e5e5e5")
    ax.set_axisbelow(True)
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_title(t["timeline_title"], fontsize=11)
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), 4),
        fontsize=8,
        frameon=False,
    )
    return fig


def certificate_timeline(run: AuditRun, language: str = "fr") -> Figure:
    """The timeline of one audit: its certificates and pentests against its date."""
    bars, markers = timeline_items(run)
    horizon = _horizon_year(run)
    return timeline(bars, markers, run.spec.date, horizon, language)


CHARTS: dict[str, Callable[[AuditRun, str], Figure]] = {
    "status_by_chapter": lambda run, language: status_by_chapter(run.assessment, language),
    "tls_matrix": lambda run, language: tls_matrix(run.evaluations, language),
    "certificate_timeline": certificate_timeline,
}
"""The report's charts, by name: how `chart` draws each from a run."""


def chart(run: AuditRun, name: str, language: str | None = None) -> Figure:
    """One of the report's charts (`CHARTS`), drawn once per run and language (kept in
    `run.figures`): the notebook shows the figure, and the PNG, that the report embeds."""
    lang = (language or run.settings.language or "fr").lower()
    key = (name, lang)
    if key not in run.figures:
        draw = CHARTS.get(name)
        if draw is None:
            raise ValueError(f"unknown chart {name!r} (known: {', '.join(CHARTS)})")
        run.figures[key] = draw(run, lang)
    return run.figures[key]


def _horizon_year(run: AuditRun) -> int | None:

    try:
        return load_profile(run.tls_profile_id or "anssi").horizon_year
    except ProfileError:  # the chart must not fail on a profile problem the audit reported
        return 2030


# ------------------------------------------------------------------ embedding


def figure_bytes(fig: Figure, fmt: str = "svg", dpi: int = 150) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    return buffer.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    # reproducible outputs: no creation date in the SVG, no software stamp in the PNG
    if fmt == "svg":
        return {"Date": None}
    return {"Software": None}


def figure_data_uri(fig: Figure, fmt: str = "png", dpi: int = 150) -> str:
    """`data:` URI of a figure, for `<img src=...>` in the HTML and PDF report."""
    mime = "image/svg+xml" if fmt == "svg" else f"image/{fmt}"
    cached = getattr(fig, "png", None) if (fmt, dpi) == ("png", REPORT_DPI) else None
    data = cached() if callable(cached) else figure_bytes(fig, fmt, dpi)
    payload = base64.b64encode(data).decode("ascii")
    return f"data:{mime};base64,{payload}"
