"""The report's charts as SVG (issue 22): what each holds for a known run, hostile labels,
empty inputs, and the SVG through both PDF engines."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import textwrap
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from auditlib import svgchart
from auditlib.audit.assess import STATUS_ORDER
from auditlib.audit.run import AuditRun
from auditlib.report import charts
from auditlib.report.writer import pdf_bytes
from auditlib.svgchart import SvgChart
from auditlib.tls.evaluate import EndpointEvaluation, RuleResult
from auditlib.tls.profile import RuleStatus, Verdict
from auditlib.tls.scan import ScanStatus
from tests.report.deskdata import AUDIT_DATE, demo_run
from tests.report.test_typeset import page, text_of

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "<script>alert(\"x\")</script> & 'quoted' " + "Très-long-nom-de-point-d-accès " * 30


def parsed(chart: SvgChart) -> ET.Element:
    root = ET.fromstring(chart.svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == f"0 0 {svgchart._n(chart.width)} {svgchart._n(chart.height)}"
    assert float(root.get("width", "0")) > 0 and float(root.get("height", "0")) > 0
    assert root.get("font-family") == "DejaVu Sans, sans-serif"
    return root


def texts(chart: SvgChart) -> list[str]:
    return [t.text or "" for t in parsed(chart).iter(f"{SVG}text")]


def fills(chart: SvgChart, tag: str = "rect") -> Counter[str]:
    return Counter(e.get("fill", "") for e in parsed(chart).iter(f"{SVG}{tag}"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    return demo_run(tmp_path_factory.mktemp("charts"))


def evaluation(label: str, statuses: dict[str, RuleStatus]) -> EndpointEvaluation:
    results = tuple(
        RuleResult(rule_id=rule, status=status, reason="", requirement=None, severity="high")
        for rule, status in statuses.items()
    )
    return EndpointEvaluation(
        label=label,
        host="api.exemple.test",
        port=443,
        scan_status=ScanStatus.OK,
        scan_error=None,
        profile_id="anssi",
        level="recommended",
        as_of=dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
        results=results,
        requirements=(),
        bottom_line=Verdict.NON_COMPLIANT,
    )


# ------------------------------------------------------------------ status by chapter


@pytest.mark.parametrize("language", ["fr", "en"])
def test_status_by_chapter_holds_every_chapter_count_and_status(
    run: AuditRun, language: str
) -> None:
    table = run.assessment.by_chapter()
    chart = charts.status_by_chapter(run.assessment, language)
    found = texts(chart)
    t = charts.TEXT[language]
    assert found[0] == t["chapter_title"] and chart.title == t["chapter_title"]
    assert t["controls"] in found
    # chapters in natural order (2.10 after 2.9), wrapped at 38 characters as before
    lines = [line for c in sorted(table, key=charts._natural) for line in textwrap.wrap(c, 38)]
    assert [x for x in found if x in lines] == lines
    assert any(len(textwrap.wrap(c, 38)) > 1 for c in table)  # the demo has a long one
    # one bar per (chapter, status) with a count, in the status's colour, its value on it
    present = [s for s in STATUS_ORDER if any(table[c].get(s.value) for c in table)]
    colours = fills(chart)
    for status in present:
        bars = sum(1 for c in table if table[c].get(status.value))
        assert colours[charts.STATUS_CHART_COLOURS[status]] == bars + 1  # + its legend box
    values = sorted(str(v) for c in table for v in table[c].values() if v)
    white = [t.text for t in parsed(chart).iter(f"{SVG}text") if t.get("fill") == "#ffffff"]
    assert sorted(white) == values
    # the legend: the statuses present, in STATUS_ORDER, in the chart's language
    legend = [charts.status_label(s, language) for s in present]
    assert found[-len(legend) :] == legend


# ------------------------------------------------------------------ TLS matrix


def test_tls_matrix_holds_endpoints_rules_colours_and_legend() -> None:
    first = {"R3": RuleStatus.PASS, "R7-": RuleStatus.NOT_APPLICABLE, "HSTS": RuleStatus.FAIL}
    second = {"R3": RuleStatus.DEGRADED, "IGC-REVOCATION": RuleStatus.NOT_TESTED}
    chart = charts.tls_matrix(
        [evaluation("prestataire/API:443", first), evaluation("prestataire/API 2:8443", second)]
    )
    found = texts(chart)
    assert found[0] == "Règles ANSSI par point d'accès"
    assert {"prestataire/API:443", "prestataire/API 2:8443"} <= set(found)
    rules = ["R3", "R7-", "HSTS", "IGC-REVOCATION"]  # first seen order
    rotated = [t.text for t in parsed(chart).iter(f"{SVG}text") if t.get("transform")]
    assert rotated == rules
    # 2 x 4 cells; a rule the endpoint lacks is "not evaluated"; marks on the cells
    cells = fills(chart) - Counter({"#ffffff": 1})
    expected = Counter(
        charts.RULE_COLOURS[s]
        for s in [
            *first.values(),
            RuleStatus.INCOMPLETE,
            RuleStatus.DEGRADED,
            RuleStatus.INCOMPLETE,
            RuleStatus.INCOMPLETE,
            RuleStatus.NOT_TESTED,
        ]
    )
    legend_order = [
        RuleStatus.PASS,
        RuleStatus.DEGRADED,
        RuleStatus.FAIL,
        RuleStatus.NOT_APPLICABLE,
        RuleStatus.INCOMPLETE,
        RuleStatus.NOT_TESTED,
    ]
    assert cells == expected + Counter(charts.RULE_COLOURS[s] for s in legend_order)
    assert Counter(found)["✗"] == 1 and Counter(found)["?"] == 4 and Counter(found)["~"] == 1
    assert found[-6:] == [charts.TEXT["fr"][s] for s in legend_order]
    english = texts(charts.tls_matrix([evaluation("e", first)], "en"))
    assert english[0] == "ANSSI rules by endpoint"
    assert english[-3:] == ["pass", "fail", "not applicable"]


# ------------------------------------------------------------------ timeline


def test_timeline_holds_bars_markers_lines_and_legend() -> None:
    utc = dt.UTC
    bars = [
        charts.TimelineBar(
            "api.exemple.test (prestataire/API:443)",
            dt.datetime(2025, 3, 1, tzinfo=utc),
            dt.datetime(2027, 3, 1, tzinfo=utc),
            "scan",
        ),
        charts.TimelineBar(
            "client.exemple.test (certs/client.pem)",
            dt.datetime(2024, 1, 1, tzinfo=utc),
            dt.datetime(2026, 12, 31, tzinfo=utc),
            "bundle",
        ),
    ]
    markers = [
        charts.TimelineMarker("pentest/rapport.pdf", dt.date(2026, 10, 1)),
        charts.TimelineMarker("pentest/ancien.pdf", dt.date(2024, 6, 1)),
    ]
    chart = charts.timeline(bars, markers, AUDIT_DATE, 2030)
    found = texts(chart)
    assert found[0] == "Certificats et tests d'intrusion"
    assert "api.exemple.test (prestataire/API:443)" in found
    assert "client.exemple.test (certs/client.pem)" in found
    ticks = [x for x in found if len(x) == 7 and x[4] == "-"]
    assert ticks[0] <= "2024-01" and ticks[-1] >= "2030-01" and ticks == sorted(ticks)
    assert found[-5:] == [
        "date de l'audit",
        "horizon RGS B1 (2030)",
        "analyse",
        "dossier",
        "test d'intrusion",
    ]
    assert found.count("test d'intrusion") == 2  # the markers' row and the legend
    assert fills(chart, "polygon")["#d9534f"] == 3  # two pentests + the legend's diamond
    lines = [(e.get("stroke"), e.get("stroke-dasharray")) for e in parsed(chart).iter(f"{SVG}line")]
    assert lines.count(("#222222", "4.44 1.92")) == 2  # the audit date, its legend
    assert lines.count(("#d98c1f", "1.5 2.47")) == 2  # the horizon, its legend
    assert fills(chart)["#3f6fb5"] == 2 and fills(chart)["#8fb0dc"] == 2  # bars + legend
    english = texts(charts.timeline(bars, [], AUDIT_DATE, None, "en"))
    assert english[0] == "Certificates and penetration tests"
    assert english[-3:] == ["audit date", "scan", "bundle"]


def test_certificate_timeline_of_a_run(run: AuditRun) -> None:
    bars, markers = charts.timeline_items(run)
    found = texts(charts.certificate_timeline(run, "en"))
    for bar in bars:
        assert svgchart.wrap(bar.label, 42)[0] in found
    assert ("penetration test" in found) == bool(markers)
    assert "RGS B1 horizon (2030)" in found


# ------------------------------------------------------------------ empty and hostile


def test_empty_inputs_give_the_message_chart(run: AuditRun) -> None:
    empty = dataclasses.replace(run.assessment, controls=())
    for chart, message in (
        (charts.status_by_chapter(empty), "aucun contrôle applicable"),
        (charts.tls_matrix([]), "aucun point d'accès analysé"),
        (charts.timeline([], [], AUDIT_DATE), "aucun certificat ni test d'intrusion"),
        (charts.tls_matrix([], "en"), "no endpoint scanned"),
    ):
        assert texts(chart)[1] == message
        assert (chart.width, chart.height) == (504, 100.8)


def test_hostile_labels_are_escaped_cleaned_and_wrapped() -> None:
    label = HOSTILE + "\x00\x1b\ud800 fin"
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for chart, width in (
        (charts.tls_matrix([evaluation(label, {label: RuleStatus.FAIL})]), 30),
        (charts.timeline([charts.TimelineBar(label, when, when, "scan")], [], AUDIT_DATE), 42),
    ):
        assert "<script" not in chart.svg and "\x00" not in chart.svg
        found = texts(chart)  # parses: the text is escaped, no control character left
        rotated = [t.text for t in parsed(chart).iter(f"{SVG}text") if t.get("transform")]
        assert all(len(x or "") <= 40 for x in rotated)  # a column name: one line, cut
        lines = svgchart.wrap(label, width)
        start = found.index(lines[0])
        assert found[start : start + len(lines)] == lines  # the label, line by line
        assert lines[0].startswith('<script>alert("x")</script> &')
        assert len(lines) == svgchart.MAX_LINES and all(len(x) <= width for x in lines)
        assert lines[-1].endswith("…")  # cut, and says so
    assert svgchart.clean("a\x00b\x1bc\ud800") == "a\ufffdb\ufffdc\ufffd"
    assert svgchart.wrap("x" * 100, 38) == ["x" * 38, "x" * 38, "x" * 24]


def test_extreme_certificate_dates_still_draw() -> None:
    """X.509 allows notAfter 9999-12-31: the axis stays within Python's dates."""
    utc = dt.UTC
    forever = charts.TimelineBar(
        "forever", dt.datetime(1, 1, 1, tzinfo=utc), dt.datetime(9999, 12, 31, tzinfo=utc), "bundle"
    )
    found = texts(charts.timeline([forever], [charts.TimelineMarker("p", dt.date.max)], AUDIT_DATE))
    ticks = [x for x in found if len(x) == 7 and x[4] == "-"]
    assert 2 <= len(ticks) <= 9 and ticks[-1] == "9000-01"


# ------------------------------------------------------------------ display and embedding


def test_the_notebook_shows_the_svg_the_report_embeds(run: AuditRun) -> None:
    fresh = dataclasses.replace(run, figures={})
    chart = charts.chart(fresh, "status_by_chapter")
    assert chart is charts.chart(fresh, "status_by_chapter", "FR")  # drawn once
    assert chart._repr_svg_() == chart.svg
    uri = charts.figure_data_uri(chart)
    assert uri.startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == charts.figure_bytes(chart)
    assert charts.figure_bytes(chart).decode("utf-8") == chart.svg
    shown = parsed(chart)
    assert float(shown.get("width", "0")) == pytest.approx(chart.width * 100 / 72, abs=0.01)
    # what Jupyter stores for it: the SVG, and a short text (not the SVG a second time)
    from IPython.core.formatters import DisplayFormatter

    data, _ = DisplayFormatter().format(chart)
    assert data["image/svg+xml"] == chart.svg
    assert data["text/plain"] == (
        f"<SvgChart 'Statut des contrôles par chapitre' 576x{svgchart._n(chart.height)} pt>"
    )


def test_a_chart_can_be_saved(run: AuditRun, tmp_path: Path) -> None:
    path = charts.chart(run, "certificate_timeline").save(tmp_path / "timeline.svg")
    assert ET.parse(path).getroot().tag == f"{SVG}svg"


@pytest.mark.parametrize("engine", ["typst", "weasyprint"])
def test_charts_print_as_text_in_dejavu_with_both_engines(run: AuditRun, engine: str) -> None:
    body = "".join(
        f'<figure class="chart"><img src="{charts.figure_data_uri(chart)}" alt="g"></figure>'
        for chart in (
            charts.status_by_chapter(run.assessment),
            charts.tls_matrix([evaluation("prestataire/API:443", {"R3": RuleStatus.FAIL})]),
        )
    )
    pdf = pdf_bytes(page(body), engine)
    found = text_of(pdf)
    for text in ("Statut des contrôles par chapitre", "contrôles", "à évaluer", "R3", "✗"):
        assert text in found, (engine, text)
    used = fonts(pdf)  # the page holds nothing but the charts: all DejaVu, no fallback font
    assert used and all("DejaVu" in f for f in used), used


def fonts(pdf: bytes) -> set[str]:
    """Base font names of the pages and of their forms."""
    import io

    from pypdf import PdfReader

    found: set[str] = set()

    def walk(resources: Any) -> None:
        resources = resources.get_object() if resources is not None else {}
        for font in (resources.get("/Font") or {}).values():
            found.add(str(font.get_object().get("/BaseFont")))
        for form in (resources.get("/XObject") or {}).values():
            walk(form.get_object().get("/Resources"))

    for page_ in PdfReader(io.BytesIO(pdf)).pages:
        walk(page_.get("/Resources"))
    return found
