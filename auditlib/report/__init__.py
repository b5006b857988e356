"""One audit's outputs: report.html and report.pdf (Jinja2 + WeasyPrint, from the templates
shipped in `templates/`), grille.xlsx, findings.json, and the charts they embed.

The notebook calls `report.chart(run, name)` and `report.write_outputs(run, output_dir)`.
"""

from auditlib.report.changes import (
    PreviousFindings,
    PreviousFindingsError,
    changes_since,
    changes_table,
    find_previous,
    load_previous,
)
from auditlib.report.charts import CHARTS, chart
from auditlib.report.findings import (
    changes_for,
    check_record,
    findings_record,
    load_schema,
    validate,
)
from auditlib.report.grille import write_grille
from auditlib.report.writer import (
    ReportError,
    ReportOutputs,
    previous_audit,
    render_html,
    templates_dir,
    write_outputs,
    write_pdf,
)

__all__ = [
    "CHARTS",
    "PreviousFindings",
    "PreviousFindingsError",
    "ReportError",
    "ReportOutputs",
    "changes_for",
    "changes_since",
    "changes_table",
    "chart",
    "check_record",
    "find_previous",
    "findings_record",
    "load_previous",
    "load_schema",
    "previous_audit",
    "render_html",
    "templates_dir",
    "validate",
    "write_grille",
    "write_outputs",
    "write_pdf",
]
