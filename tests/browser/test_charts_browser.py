"""The report's SVG charts as a browser shows them: `<img src="data:image/svg+xml;...">`
in the HTML report (issue 22)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditlib.report import charts
from auditlib.svgchart import DISPLAY_SCALE
from tests.browser.test_lab import CHROMIUM_FLAGS, chromium_binary
from tests.report.deskdata import AUDIT_DATE, demo_run

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no Chromium binary installed: apt-get install -y chromium")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright: the test extra")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def test_every_chart_decodes_as_an_image_at_its_size(page: Any, tmp_path: Path) -> None:
    run = demo_run(tmp_path)
    hostile = charts.TimelineBar(
        '<img src=x onerror="window.pwned=1"> & </svg><script>window.pwned=2</script>',
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
        "scan",
    )
    shown = [charts.chart(run, name) for name in charts.CHARTS]
    shown.append(charts.timeline([hostile], [], AUDIT_DATE))
    body = "".join(f'<img alt="c" src="{charts.figure_data_uri(c)}">' for c in shown)
    page.set_content(f"<!DOCTYPE html><html><body>{body}</body></html>")
    page.wait_for_load_state("load")
    sizes = page.evaluate(
        "() => [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight])"
    )
    for chart, (complete, width, height) in zip(shown, sizes, strict=True):
        assert complete and width == round(chart.width * DISPLAY_SCALE), chart.title
        assert abs(height - chart.height * DISPLAY_SCALE) <= 1, chart.title
    assert page.evaluate("() => window.pwned") is None
