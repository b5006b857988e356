"""One audit's outputs: report.html and report.pdf (Jinja2 + WeasyPrint, from the templates
shipped in `templates/`), grille.xlsx, findings.json, and the charts they embed.

The notebook calls `report.chart(run, name)` and `report.write_outputs(run, output_dir)`.
"""

from auditlib.report.charts import CHARTS, chart
from auditlib.report.findings import check_record, findings_record, load_schema, validate
from auditlib.report.grille import write_grille
from auditlib.report.writer import (
    ReportError,
    ReportOutputs,
    render_html,
    templates_dir,
    write_outputs,
    write_pdf,
)

__all__ = [
    "CHARTS",
    "ReportError",
    "ReportOutputs",
    "chart",
    "check_record",
    "findings_record",
    "load_schema",
    "render_html",
    "templates_dir",
    "validate",
    "write_grille",
    "write_outputs",
    "write_pdf",
]
