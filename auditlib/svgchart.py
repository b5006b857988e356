"""Charts written as SVG text: the drawing primitives the report's and the supervision
section's charts share (`auditlib.report.charts`, `auditlib.traces.analysis`).

Pure Python and the standard library: a chart is a few dozen shapes and labels, so writing
its SVG directly costs about a millisecond, where matplotlib's figure machinery and PNG
encoding cost about 0.2 CPU-seconds a chart (issue 22; `benchmarks/bench_charts.py`).

Geometry is in points (1/72 inch), as matplotlib's figure sizes and font sizes were, so a
chart keeps the proportions of its matplotlib predecessor; the `width`/`height` attributes
show it at 100 pixels per inch in a notebook (the former PNGs' display size), the report
scales it to the text width. Every text is cleaned of the characters XML cannot hold and
escaped (labels come from the audited party's files); long labels are wrapped and cut.
Text widths are measured with DejaVu Sans' advance widths (the font the report prints
with), close enough to lay labels out without a font engine.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import math
import re
import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditlib.files import write_atomic

FONT_FAMILY = "DejaVu Sans, sans-serif"
DISPLAY_SCALE = 100 / 72
"""Display pixels per point: 100 pixels per inch, the notebook size of the former PNGs."""
LINE_HEIGHT = 1.2
"""Line spacing of wrapped labels, in font sizes."""
MAX_LINES = 6
"""A wrapped label keeps at most this many lines (the last one ends with an ellipsis)."""
MAX_LABEL = 400
"""Characters of a label considered at all (hostile inputs can be megabytes long)."""

# DejaVu Sans advance widths of U+0020..U+007E, in thousandths of an em (from the font's
# hmtx table). Other characters: their base letter's width (é as e), else 0.6 em, or 1 em
# for East Asian wide characters.
_ASCII_WIDTHS = (
    318, 401, 460, 838, 636, 950, 780, 275, 390, 390, 500, 838, 318, 361, 318, 337,
    636, 636, 636, 636, 636, 636, 636, 636, 636, 636, 337, 337, 838, 838, 838, 531,
    1000, 684, 686, 698, 770, 632, 575, 775, 752, 295, 295, 656, 557, 863, 748, 787,
    603, 787, 695, 635, 611, 732, 684, 989, 685, 611, 685, 390, 337, 390, 838, 500,
    500, 613, 635, 550, 635, 615, 352, 635, 634, 278, 278, 579, 278, 974, 634, 612,
    635, 635, 411, 521, 392, 634, 592, 818, 592, 592, 525, 636, 337, 636, 838,
)  # fmt: skip
_OTHER_WIDTHS = {"–": 500, "—": 1000, "…": 1000, "’": 318, "✗": 838, "·": 318, "\u00a0": 318}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: object) -> str:
    """`text` as a string XML 1.0 can hold: control characters and lone surrogates become
    U+FFFD, so a hostile label shows as what it is instead of breaking the document."""
    return _NOT_XML.sub("\ufffd", str(text))


def escape(text: object) -> str:
    """`text` cleaned and escaped for an SVG text node or attribute value."""
    return (
        clean(text)
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&#39;")
    )


def _char_width(char: str) -> int:
    code = ord(char)
    if 32 <= code < 127:
        return _ASCII_WIDTHS[code - 32]
    known = _OTHER_WIDTHS.get(char)
    if known is not None:
        return known
    base = unicodedata.normalize("NFD", char)[:1]
    if base and 32 <= ord(base) < 127:
        return _ASCII_WIDTHS[ord(base) - 32]
    return 1000 if unicodedata.east_asian_width(char) in ("W", "F") else 600


def text_width(text: str, size: float) -> float:
    """Width of `text` at `size` points in DejaVu Sans (points)."""
    return sum(_char_width(c) for c in text) * size / 1000


def wrap(text: object, width: int) -> list[str]:
    """`text` on lines of at most `width` characters (as `textwrap.wrap`: at spaces, long
    words cut), at most `MAX_LINES` lines; an empty text is one empty line."""
    raw = clean(text)
    cut = len(raw) > MAX_LABEL
    lines = textwrap.wrap(raw[:MAX_LABEL], width) or [raw[:MAX_LABEL]]
    if len(lines) > MAX_LINES or cut:
        lines = lines[:MAX_LINES]
        lines[-1] = lines[-1][: max(width - 1, 1)] + "…"
    return lines


def one_line(text: object, width: int) -> str:
    """`text` on one line of at most `width` characters (cut with an ellipsis)."""
    raw = " ".join(clean(text)[: MAX_LABEL + 1].split())
    return raw if len(raw) <= width else raw[: max(width - 1, 1)] + "…"


def _n(value: float) -> str:
    """A coordinate with two decimals at most (`12`, `3.5`, `0.25`)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class Canvas:
    """An SVG document under construction, in points; `chart()` finishes it."""

    def __init__(self, width: float, height: float) -> None:
        self.width = width
        self.height = height
        self._parts: list[str] = []

    def rect(
        self,
        x: float,
        y: float,
        width: float,
        height: float,
        fill: str,
        stroke: str | None = None,
        stroke_width: float = 1.0,
    ) -> None:
        edge = f' stroke="{stroke}" stroke-width="{_n(stroke_width)}"' if stroke else ""
        self._parts.append(
            f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(width, 0))}" '
            f'height="{_n(max(height, 0))}" fill="{fill}"{edge}/>'
        )

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        stroke: str = "#000000",
        width: float = 0.8,
        dash: Sequence[float] = (),
    ) -> None:
        pattern = f' stroke-dasharray="{" ".join(_n(d) for d in dash)}"' if dash else ""
        self._parts.append(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" '
            f'stroke="{stroke}" stroke-width="{_n(width)}"{pattern}/>'
        )

    def diamond(self, x: float, y: float, size: float, fill: str) -> None:
        """A diamond marker `size` points high and wide, centred on (x, y)."""
        r = size / 2
        points = f"{_n(x)},{_n(y - r)} {_n(x + r)},{_n(y)} {_n(x)},{_n(y + r)} {_n(x - r)},{_n(y)}"
        self._parts.append(f'<polygon points="{points}" fill="{fill}"/>')

    def text(
        self,
        x: float,
        y: float,
        text: object,
        size: float = 8,
        anchor: str = "start",
        fill: str = "#000000",
        rotate: float = 0,
    ) -> None:
        """One line of text, vertically centred on y (no dominant-baseline: renderers
        differ on it); `rotate` in degrees around (x, y), clockwise."""
        baseline = y + 0.36 * size
        turn = f' transform="rotate({_n(rotate)} {_n(x)} {_n(y)})"' if rotate else ""
        middle = "" if anchor == "start" else f' text-anchor="{anchor}"'
        colour = "" if fill == "#000000" else f' fill="{fill}"'
        self._parts.append(
            f'<text x="{_n(x)}" y="{_n(baseline)}" font-size="{_n(size)}"{middle}{colour}{turn}>'
            f"{escape(text)}</text>"
        )

    def lines(
        self,
        x: float,
        y: float,
        lines: Sequence[str],
        size: float = 8,
        anchor: str = "start",
        fill: str = "#000000",
    ) -> None:
        """Several lines of text, the block vertically centred on y."""
        step = size * LINE_HEIGHT
        top = y - step * (len(lines) - 1) / 2
        for index, line in enumerate(lines):
            self.text(x, top + index * step, line, size, anchor, fill)

    def chart(self, title: str) -> SvgChart:
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" '
            f'width="{_n(self.width * DISPLAY_SCALE)}" height="{_n(self.height * DISPLAY_SCALE)}" '
            f'viewBox="0 0 {_n(self.width)} {_n(self.height)}" '
            f'font-family="{FONT_FAMILY}" role="img">'
            f"<title>{escape(title)}</title>"
            f'<rect width="100%" height="100%" fill="#ffffff"/>'
        )
        return SvgChart("".join([head, *self._parts, "</svg>"]), self.width, self.height, title)


@dataclass(frozen=True, repr=False)
class SvgChart:
    """A finished chart: its SVG text and size in points. Jupyter shows it inline by
    itself (`_repr_svg_`); the report embeds `data_uri()`."""

    svg: str
    width: float
    height: float
    title: str

    def __repr__(self) -> str:  # the notebook's text/plain beside the SVG: short
        return f"<SvgChart {self.title!r} {_n(self.width)}x{_n(self.height)} pt>"

    def _repr_svg_(self) -> str:
        return self.svg

    def svg_bytes(self) -> bytes:
        return self.svg.encode("utf-8")

    def data_uri(self) -> str:
        """`data:image/svg+xml;base64,...`, for `<img src=...>` in HTML and the PDF."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg_bytes()).decode("ascii")

    def save(self, path: Path) -> Path:
        """Write the SVG file (atomically)."""
        return write_atomic(path, self.svg_bytes())


# ------------------------------------------------------------------ parts of a chart

TITLE_SIZE = 11.0
TITLE_BAND = 22.0
"""Height of the band holding a chart's title, in points."""


def title(canvas: Canvas, text: str, centre: float | None = None, size: float = TITLE_SIZE) -> None:
    canvas.text(
        canvas.width / 2 if centre is None else centre, TITLE_BAND / 2, text, size, "middle"
    )


def empty(title_text: str, message: str) -> SvgChart:
    """A small framed chart saying there is nothing to show (never an empty axis)."""
    canvas = Canvas(504, 100.8)  # 7 x 1.4 inches, as the matplotlib version
    title(canvas, title_text)
    canvas.text(canvas.width / 2, 58, message, 10, "middle", "#555555")
    return canvas.chart(title_text)


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: str
    kind: str = "patch"
    """`patch` (a filled box), `line` (with `dash`) or `diamond`."""
    dash: tuple[float, ...] = ()
    width: float = 1.5


LEGEND_SIZE = 8.0
_HANDLE = 16.0  # handle length, points
_GAP = 6.0  # handle to label
_SPACING = 14.0  # between entries


def legend_rows(entries: Sequence[LegendEntry], width: float, columns: int) -> list[list[int]]:
    """Entries (by index) per row: at most `columns` a row, fewer when they would not fit."""
    rows: list[list[int]] = []
    current: list[int] = []
    used = 0.0
    for index, entry in enumerate(entries):
        size = _HANDLE + _GAP + text_width(entry.label, LEGEND_SIZE)
        extra = size + (_SPACING if current else 0)
        if current and (len(current) >= columns or used + extra > width):
            rows.append(current)
            current, used = [], 0.0
            extra = size
        current.append(index)
        used += extra
    if current:
        rows.append(current)
    return rows


def legend_height(entries: Sequence[LegendEntry], width: float, columns: int) -> float:
    return len(legend_rows(entries, width, columns)) * LEGEND_SIZE * 1.8 if entries else 0.0


def legend(canvas: Canvas, entries: Sequence[LegendEntry], top: float, columns: int = 6) -> float:
    """Entries in reading order, rows centred, from `top`; returns the height used."""
    rows = legend_rows(entries, canvas.width - 16, columns)
    step = LEGEND_SIZE * 1.8
    for number, row in enumerate(rows):
        sizes = [_HANDLE + _GAP + text_width(entries[i].label, LEGEND_SIZE) for i in row]
        x = (canvas.width - sum(sizes) - _SPACING * (len(row) - 1)) / 2
        y = top + step * (number + 0.5)
        for index, size in zip(row, sizes, strict=True):
            entry = entries[index]
            if entry.kind == "line":
                canvas.line(x, y, x + _HANDLE, y, entry.colour, entry.width, entry.dash)
            elif entry.kind == "diamond":
                canvas.diamond(x + _HANDLE / 2, y, 7, entry.colour)
            else:
                canvas.rect(x, y - 3.5, _HANDLE, 7, entry.colour)
            canvas.text(x + _HANDLE + _GAP, y, entry.label, LEGEND_SIZE)
            x += size + _SPACING
    return step * len(rows)


def nice_ticks(high: float, count: int = 8) -> list[float]:
    """Round tick values from 0 to at least `high` (1, 2, 2.5, 5 x 10^n steps)."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if step < 1 and high >= 1:
        step = 1.0
    last = math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(last + 1)]


def tick_label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def month_ticks(start: dt.date, end: dt.date, most: int = 9) -> list[dt.date]:
    """First days of months between `start` and `end`, every 1, 2, 3, 4, 6 or 12 months
    or every few years: as many as fit in `most` ticks."""
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    steps = (1, 2, 3, 4, 6, 12, 24, 60, 120, 240, 600, 1200, 2400, 6000, 12000)
    step = next((s for s in steps if months / s <= most), steps[-1])
    index = start.year * 12 + start.month - 1
    index += -index % step  # first multiple of the step, counted from year 0
    ticks: list[dt.date] = []
    while index // 12 <= min(end.year, dt.MAXYEAR):
        day = dt.date(index // 12, index % 12 + 1, 1)
        if day > end:
            break
        if day >= start:
            ticks.append(day)
        index += step
    return ticks


def day_number(value: dt.date | dt.datetime) -> float:
    """Days since 1970-01-01 (fractional for a datetime): the timeline's x unit."""
    if isinstance(value, dt.datetime):
        naive = value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
        return (naive - dt.datetime(1970, 1, 1)).total_seconds() / 86400
    return float((value - dt.date(1970, 1, 1)).days)


def from_day_number(value: float) -> dt.date:
    """The day of a day number, within the dates Python has (certificates may say 9999)."""
    low, high = day_number(dt.date.min), day_number(dt.date.max)
    return dt.date(1970, 1, 1) + dt.timedelta(days=math.floor(min(max(value, low), high)))


def last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def row_height(
    labels: Sequence[Sequence[str]], size: float, height: float, margins: float
) -> float:
    """The height of each of a chart's rows (all alike, as matplotlib's categories): the
    chart's `height` (the former figure's, so the report's pages break where they did) less
    its `margins`, shared out; more when a wrapped label needs it (the chart grows)."""
    needed = max((len(lines) for lines in labels), default=1) * size * LINE_HEIGHT + 4
    return max(needed, (height - margins) / max(len(labels), 1))


def widest(texts: Iterable[str], size: float) -> float:
    return max((text_width(t, size) for t in texts), default=0.0)
