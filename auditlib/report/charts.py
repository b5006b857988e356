"""The report's charts: status by chapter, TLS verdict matrix, certificate and pentest timeline.

Each function returns an `auditlib.svgchart.SvgChart`, SVG written directly (no matplotlib:
issue 22 measured 0.6 CPU-seconds an audit for its three figures, this takes milliseconds):
notebooks display it inline (`_repr_svg_`), the report embeds it with `figure_data_uri`.
Empty inputs give a clean "nothing to show" chart, never an exception.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditlib import svgchart
from auditlib.audit.assess import STATUS_ORDER, ControlStatus
from auditlib.audit.verdicts import STATUS_LABELS
from auditlib.errors import ProfileError
from auditlib.svgchart import Canvas, LegendEntry, SvgChart
from auditlib.tls import load_profile
from auditlib.tls.profile import RuleStatus

if TYPE_CHECKING:
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
STATUS_EN = STATUS_LABELS["en"]


def _text(language: str) -> dict[object, str]:
    return TEXT.get(language, TEXT["fr"])  # type: ignore[return-value]


def status_label(status: ControlStatus, language: str = "fr") -> str:
    return STATUS_EN[status] if language == "en" else status.value


def empty_figure(title: str, message: str) -> SvgChart:
    """A small framed chart saying there is nothing to show (never an empty axis)."""
    return svgchart.empty(title, message)


def _natural(text: str) -> list[tuple[int, str]]:
    """Sort key putting chapter 2.10 after 2.9."""
    return [(int(p), "") if p.isdigit() else (0, p) for p in re.split(r"(\d+)", text)]


def _wrap(text: str, width: int = 38) -> list[str]:
    return svgchart.wrap(text, width)


def _value_axis(canvas: Canvas, left: float, right: float, y: float, high: float) -> float:
    """The bottom axis of counts from 0 to `high` (ticks and labels); returns the scale."""
    ticks = [t for t in svgchart.nice_ticks(high) if t <= high + 1e-9]
    scale = (right - left) / high
    canvas.line(left, y, right, y)
    for tick in ticks:
        x = left + tick * scale
        canvas.line(x, y, x, y + 3.5)
        canvas.text(x, y + 10, svgchart.tick_label(tick), 8, "middle")
    return scale


# ------------------------------------------------------------------ status by chapter


def status_by_chapter(assessment: Assessment, language: str = "fr") -> SvgChart:
    """Stacked horizontal bars: for each requirement chapter, its controls by status."""
    t = _text(language)
    table = assessment.by_chapter()
    if not table:
        return empty_figure(t["chapter_title"], t["no_controls"])
    chapters = sorted(table, key=_natural)
    labels = [_wrap(c) for c in chapters]
    statuses = [s for s in STATUS_ORDER if any(table[c].get(s.value, 0) for c in chapters)]
    entries = [LegendEntry(status_label(s, language), STATUS_CHART_COLOURS[s]) for s in statuses]
    width = 576.0  # 8 x (0.9 + 0.45 n) inches, as the matplotlib figure
    top = svgchart.TITLE_BAND + 4
    below = 4 + 36 + svgchart.legend_height(entries, width - 16, 6) + 4
    row = svgchart.row_height(labels, 8, (0.9 + 0.45 * len(labels)) * 72, top + below)
    left = 8 + svgchart.widest((line for lines in labels for line in lines), 8) + 8
    right = width - 12
    axis = top + row * len(labels) + 4
    legend_top = axis + 36
    canvas = Canvas(width, axis + below - 4)
    svgchart.title(canvas, t["chapter_title"], (left + right) / 2)
    totals = [sum(int(table[c].get(s.value, 0)) for s in statuses) for c in chapters]
    scale = _value_axis(canvas, left, right, axis, max(max(totals), 1))
    y = top
    thickness = 0.7 * min(row, 0.45 * 72)  # matplotlib's bar height, 0.7 of a row
    for chapter, lines in zip(chapters, labels, strict=True):
        middle = y + row / 2
        canvas.line(left - 3.5, middle, left, middle)
        canvas.lines(left - 6, middle, lines, 8, "end")
        x = left
        for status in statuses:
            value = int(table[chapter].get(status.value, 0))
            if not value:
                continue
            bar = value * scale
            canvas.rect(
                x,
                middle - thickness / 2,
                bar,
                thickness,
                STATUS_CHART_COLOURS[status],
                "#ffffff",
                1,
            )
            canvas.text(x + bar / 2, middle, value, 8, "middle", "#ffffff")
            x += bar
        y += row
    canvas.line(left, top - 4, left, axis)
    canvas.text((left + right) / 2, axis + 24, t["controls"], 9, "middle")
    svgchart.legend(canvas, entries, legend_top, 6)
    return canvas.chart(t["chapter_title"])


# ------------------------------------------------------------------ TLS verdict matrix


def tls_matrix(evaluations: Sequence[EndpointEvaluation], language: str = "fr") -> SvgChart:
    """Endpoint x rule grid coloured by rule status (HSTS included, as its own column)."""
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
        grid.append([by_id.get(rule, RuleStatus.INCOMPLETE) for rule in rules])
    present = sorted({status for row in grid for status in row}, key=order.index)
    entries = [LegendEntry(t[s], RULE_COLOURS[s]) for s in present]
    labels = [_wrap(e.label, 30) for e in evaluations]
    rule_labels = [svgchart.one_line(rule, 40) for rule in rules]
    width = max(504.0, (0.22 * len(rules) + 2.5) * 72)  # as the matplotlib figure
    top = svgchart.TITLE_BAND + 4
    below = 6 + svgchart.widest(rule_labels, 7) + 6
    below += svgchart.legend_height(entries, width - 16, len(entries)) + 2
    row = svgchart.row_height(labels, 8, (1.9 + 0.38 * len(labels)) * 72, top + below)
    left = 8 + svgchart.widest((line for lines in labels for line in lines), 8) + 8
    right = width - 8
    column = (right - left) / max(len(rules), 1)
    bottom = top + row * len(labels)
    legend_top = bottom + 6 + svgchart.widest(rule_labels, 7) + 6
    canvas = Canvas(width, bottom + below)
    svgchart.title(canvas, t["matrix_title"], (left + right) / 2)
    y = top
    for statuses, lines in zip(grid, labels, strict=True):
        middle = y + row / 2
        canvas.line(left - 3.5, middle, left, middle)
        canvas.lines(left - 6, middle, lines, 8, "end")
        for index, status in enumerate(statuses):
            x = left + index * column
            canvas.rect(x, y, column, row, RULE_COLOURS[status], "#ffffff", 1.2)
            if RULE_LETTERS[status]:
                canvas.text(x + column / 2, middle, RULE_LETTERS[status], 7, "middle", "#ffffff")
        y += row
    for index, rule in enumerate(rule_labels):
        x = left + (index + 0.5) * column
        canvas.line(x, bottom, x, bottom + 3.5)
        canvas.text(x, bottom + 5, rule, 7, "end", rotate=-90)
    svgchart.legend(canvas, entries, legend_top, len(entries))
    return canvas.chart(t["matrix_title"])


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
) -> SvgChart:
    """Certificate validity bars (notBefore→notAfter), pentest dates as diamonds, the audit
    date and the RGS B1 horizon (end of `horizon_year`) as vertical lines."""
    t = _text(language)
    if not bars and not markers:
        return empty_figure(t["timeline_title"], t["no_certificates"])
    colours = {"scan": "#3f6fb5", "bundle": "#8fb0dc"}
    labels = [_wrap(bar.label, 42) for bar in bars] + ([[t["pentest"]]] if markers else [])
    audit_x = svgchart.day_number(audit_date)
    horizon_x = (
        svgchart.day_number(dt.date(horizon_year, 12, 31)) if horizon_year is not None else None
    )
    starts = [svgchart.day_number(b.not_before) for b in bars]
    ends = [svgchart.day_number(b.not_after) for b in bars]
    points = [svgchart.day_number(m.when) for m in markers]
    every = [*starts, *ends, *points, audit_x] + ([horizon_x] if horizon_x is not None else [])
    low, high = min(every), max(every)
    pad = 0.05 * (high - low) if high > low else 15.0
    low = low if starts and low == min(starts) else low - pad  # bars start at the axis
    high += pad

    entries = [LegendEntry(t["audit_date"], "#222222", "line", (4.44, 1.92), 1.2)]
    if horizon_year is not None:
        horizon_label = t["horizon"].format(year=horizon_year)
        entries.append(LegendEntry(horizon_label, "#d98c1f", "line", (1.5, 2.47), 1.5))
    if any(b.origin == "scan" for b in bars):
        entries.append(LegendEntry(t["scan"], colours["scan"]))
    if any(b.origin == "bundle" for b in bars):
        entries.append(LegendEntry(t["bundle"], colours["bundle"]))
    if markers:
        entries.append(LegendEntry(t["pentest"], "#d9534f", "diamond"))

    width = 576.0  # 8 x (1.6 + 0.42 rows) inches, as the matplotlib figure
    top = svgchart.TITLE_BAND + 4
    below = 22 + svgchart.legend_height(entries, width - 16, 4) + 4
    row = svgchart.row_height(labels, 7.5, (1.6 + 0.42 * len(labels)) * 72, top + below)
    left = 8 + svgchart.widest((line for lines in labels for line in lines), 7.5) + 8
    right = width - 18
    axis = top + row * len(labels)
    legend_top = axis + 22
    canvas = Canvas(width, axis + below)
    svgchart.title(canvas, t["timeline_title"], (left + right) / 2)
    scale = (right - left) / (high - low)

    def x_of(day: float) -> float:
        return left + (day - low) * scale

    ticks = svgchart.month_ticks(svgchart.from_day_number(low), svgchart.from_day_number(high))
    for tick in ticks:
        x = x_of(svgchart.day_number(tick))
        canvas.line(x, top, x, axis, "#e5e5e5", 0.8)
        canvas.line(x, axis, x, axis + 3.5)
        canvas.text(x, axis + 10, f"{tick:%Y-%m}", 8, "middle")
    y = top
    thickness = 0.55 * min(row, 0.42 * 72)  # matplotlib's bar height, 0.55 of a row
    for index, lines in enumerate(labels):
        middle = y + row / 2
        canvas.line(left - 3.5, middle, left, middle)
        canvas.lines(left - 6, middle, lines, 7.5, "end")
        if index < len(bars):
            colour = colours.get(bars[index].origin, colours["scan"])
            start = x_of(starts[index])
            canvas.rect(start, middle - thickness / 2, x_of(ends[index]) - start, thickness, colour)
        else:
            for point in points:
                canvas.diamond(x_of(point), middle, 8, "#d9534f")
        y += row
    canvas.line(x_of(audit_x), top, x_of(audit_x), axis, "#222222", 1.2, (4.44, 1.92))
    if horizon_x is not None:
        canvas.line(x_of(horizon_x), top, x_of(horizon_x), axis, "#d98c1f", 1.5, (1.5, 2.47))
    canvas.line(left, top, left, axis)
    canvas.line(left, axis, right, axis)
    svgchart.legend(canvas, entries, legend_top, 4)
    return canvas.chart(t["timeline_title"])


def certificate_timeline(run: AuditRun, language: str = "fr") -> SvgChart:
    """The timeline of one audit: its certificates and pentests against its date."""
    bars, markers = timeline_items(run)
    horizon = _horizon_year(run)
    return timeline(bars, markers, run.spec.date, horizon, language)


CHARTS: dict[str, Callable[[AuditRun, str], SvgChart]] = {
    "status_by_chapter": lambda run, language: status_by_chapter(run.assessment, language),
    "tls_matrix": lambda run, language: tls_matrix(run.evaluations, language),
    "certificate_timeline": certificate_timeline,
}
"""The report's charts, by name: how `chart` draws each from a run."""


def chart(run: AuditRun, name: str, language: str | None = None) -> SvgChart:
    """One of the report's charts (`CHARTS`), drawn once per run and language (kept in
    `run.figures`): the notebook shows the very SVG that the report embeds."""
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


def figure_bytes(chart: SvgChart) -> bytes:
    """The chart's SVG document (UTF-8), e.g. to save it as a file."""
    return chart.svg_bytes()


def figure_data_uri(chart: SvgChart) -> str:
    """`data:image/svg+xml;base64,...` of a chart, for `<img src=...>` in the HTML and PDF
    report."""
    return chart.data_uri()
