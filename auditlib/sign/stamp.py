"""Where the visible seal stamp goes: a corner free of text on the last page."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from auditlib.sign.model import FIELD_PREFIX, STAMP_HEIGHT, STAMP_INSET, STAMP_WIDTH

# ------------------------------------------------------------------ stamp placement


def _text_rects(data: bytes) -> tuple[tuple[float, float, float, float], list[tuple[float, ...]]]:
    """Media box of the last page and rough boxes around its text runs (pypdf, heuristic)."""
    from pypdf import PdfReader

    page = PdfReader(io.BytesIO(data)).pages[-1]
    box = page.mediabox
    media = (float(box.left), float(box.bottom), float(box.right), float(box.top))
    rects: list[tuple[float, ...]] = []

    def visit(text: str, cm: Sequence[float], tm: Sequence[float], _f: Any, size: float) -> None:
        if not text.strip():
            return
        x = cm[0] * tm[4] + cm[2] * tm[5] + cm[4]
        y = cm[1] * tm[4] + cm[3] * tm[5] + cm[5]
        height = abs(size * tm[3] * cm[3]) or abs(size) or 10.0
        width = len(text.rstrip()) * 0.6 * height
        rects.append((x, y - 0.3 * height, x + width, y + height))

    page.extract_text(visitor_text=visit)
    for annot in page.get("/Annots") or []:  # earlier stamps and other widgets
        rect = annot.get_object().get("/Rect")
        if rect and len(rect) == 4:
            x1, y1, x2, y2 = (float(v) for v in rect)
            rects.append((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)))
    return media, rects


def choose_stamp_box(data: bytes) -> tuple[tuple[int, int, int, int], str, bool]:
    """Pick the first place (bottom-right first) whose area holds no text, else the place
    covering the least text (reports have a running header and footer in every corner)."""
    try:
        (left, bottom, right, top), rects = _text_rects(data)
    except Exception:  # pypdf missing or unable to parse: keep the default corner
        return (
            (595 - STAMP_INSET - STAMP_WIDTH, STAMP_INSET, 595 - STAMP_INSET, STAMP_INSET + 50),
            "bottom-right",
            False,
        )
    w, h, i = STAMP_WIDTH, STAMP_HEIGHT, STAMP_INSET
    candidates = {
        "bottom-right": (right - i - w, bottom + i),
        "bottom-center": ((left + right - w) / 2, bottom + i),
        "bottom-left": (left + i, bottom + i),
        "top-right": (right - i - w, top - i - h),
        "top-left": (left + i, top - i - h),
    }

    def overlap(x: float, y: float) -> float:
        """Area of text the stamp would cover at (x, y)."""
        return sum(
            max(0.0, min(x + w, r[2]) - max(x, r[0])) * max(0.0, min(y + h, r[3]) - max(y, r[1]))
            for r in rects
        )

    covered = {corner: overlap(x, y) for corner, (x, y) in candidates.items()}
    for corner, (x, y) in candidates.items():
        if covered[corner] == 0:
            return (int(x), int(y), int(x + w), int(y + h)), corner, False
    # Every place has text (running header and footer): cover as little as possible.
    corner = min(covered, key=lambda c: covered[c])
    x, y = candidates[corner]
    return (int(x), int(y), int(x + w), int(y + h)), corner, True


def free_field_name(reader: Any) -> str:
    from pyhanko.sign.fields import enumerate_sig_fields

    taken = {name for name, _value, _ref in enumerate_sig_fields(reader)}
    if FIELD_PREFIX not in taken:
        return FIELD_PREFIX
    n = 2
    while f"{FIELD_PREFIX}{n}" in taken:
        n += 1
    return f"{FIELD_PREFIX}{n}"
