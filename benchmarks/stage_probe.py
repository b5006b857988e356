"""CPU time per stage inside one audit notebook's kernel (used by bench_scale.py).

bench_scale.py runs a copy of the audit notebook with two extra cells: the first, just
after the parameters, calls `install()` (which times the imports and wraps the stage
functions); the last calls `dump(path)`. Each wrapped function accumulates the kernel
process's CPU time (`time.process_time`) *exclusive* of the other wrapped functions it
calls (charts drawn inside `render_html` count as charts, not as HTML). Nothing about
the outputs changes: the wrappers only time and return what the function returned.
"""

from __future__ import annotations

import functools
import importlib
import json
import time
from pathlib import Path
from typing import Any

_cpu: dict[str, float] = {}
_calls: dict[str, int] = {}
_stack: list[list[float]] = []
_marks: dict[str, float] = {}

STAGES = (
    # (module, attribute, stage); "Class.method" for methods
    ("auditlib.report.desk", "Desk.open", "assessment (Desk.open: run_audit)"),
    ("auditlib.report.desk", "Desk.show", "notebook tables (desk.show)"),
    ("auditlib.report.desk", "Desk.show_pending", "notebook tables (desk.show)"),
    ("auditlib.report.desk", "Desk.form", "notebook tables (desk.show)"),
    ("auditlib.report.desk", "Desk.show_chart", "charts"),
    ("auditlib.report.desk", "chart", "charts"),
    ("auditlib.report.charts", "chart", "charts"),
    ("auditlib.report.charts", "figure_data_uri", "charts"),
    ("auditlib.report.writer", "trace_chart", "charts"),
    ("auditlib.report.writer", "api_chart", "charts"),
    ("auditlib.report.writer", "render_html", "report.html (Jinja)"),
    ("auditlib.report.writer", "pdf_bytes", "report.pdf (PDF engine)"),
    ("auditlib.report.writer", "grille_bytes", "grille.xlsx (openpyxl)"),
    ("auditlib.report.writer", "findings_record", "findings.json (record, schema)"),
    ("auditlib.report.writer", "check_record", "findings.json (record, schema)"),
    ("auditlib.report.writer", "to_json", "findings.json (record, schema)"),
    ("auditlib.report.writer", "write_outputs", "write_outputs (rest: guards, files)"),
    ("auditlib.report.desk", "write_outputs", "write_outputs (rest: guards, files)"),
    ("auditlib.report", "previous_audit", "changes since previous audit"),
    ("auditlib.report", "changes_for", "changes since previous audit"),
)


def _timed(stage: str, function: Any) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        frame = [time.process_time(), 0.0]  # start, CPU spent in nested timed calls
        _stack.append(frame)
        try:
            return function(*args, **kwargs)
        finally:
            _stack.pop()
            spent = time.process_time() - frame[0]
            _cpu[stage] = _cpu.get(stage, 0.0) + spent - frame[1]
            _calls[stage] = _calls.get(stage, 0) + 1
            if _stack:
                _stack[-1][1] += spent

    wrapper.__stage_probe__ = True  # type: ignore[attr-defined]
    return wrapper


def _engine_module() -> str:
    from auditlib.report.writer import pdf_engine

    return "weasyprint" if pdf_engine() == "weasyprint" else "typst"


def install() -> None:
    """Time the imports the notebook needs (the PDF engine included: WeasyPrint is imported
    on first use), then wrap every stage function."""
    _marks["kernel_cpu_at_first_cell"] = time.process_time()
    start = time.process_time()
    for name in ("auditlib.report.desk", "auditlib.report", _engine_module()):
        importlib.import_module(name)
    _marks["imports"] = time.process_time() - start
    for module_name, attribute, stage in STAGES:
        module = importlib.import_module(module_name)
        owner: Any = module
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        current = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        if isinstance(current, classmethod):
            inner = current.__func__
            if not getattr(inner, "__stage_probe__", False):
                setattr(owner, name, classmethod(_timed(stage, inner)))
        elif not getattr(current, "__stage_probe__", False):
            setattr(owner, name, _timed(stage, current))
    _marks["start"] = time.process_time()


def dump(path: str) -> None:
    """Write the CPU seconds per stage (and the kernel's total) as JSON."""
    end = time.process_time()
    record = {
        "kernel_cpu_at_first_cell": _marks.get("kernel_cpu_at_first_cell", 0.0),
        "imports": _marks.get("imports", 0.0),
        "cells_total": end - _marks.get("start", end),
        "stages": dict(_cpu),
        "calls": dict(_calls),
    }
    Path(path).write_text(json.dumps(record, indent=1), encoding="utf-8")
