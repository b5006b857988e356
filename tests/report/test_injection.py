"""Hostile text reaches neither the notebook's HTML nor grille.xlsx as code (issue 15).

Attacks: a bundle file named `<img src=x onerror=alert(1)>.md` (the notebook's
`findings_table()` rendered it unescaped: script in a live JupyterLab), and a file
name, a verdict comment and an auditor name starting with `=` (live formulas in
grille.xlsx).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from auditlib.audit.run import AuditRun, AuditSettings, run_audit
from auditlib.report.grille import grille_bytes
from auditlib.testing.servers import closed_port
from auditlib.tls.scan import save_observations

DATA = Path(__file__).resolve().parents[2] / "data"
IMG = "<img src=x onerror=alert(1)>.md"
FORMULA_NAME = '=HYPERLINK("http:evil")&".md"'
COMMENT = "=cmd|' /C calc'!A0"
AUDITOR = "@SUM(1+1)*cmd|' /C calc'!A0"


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    folder = tmp_path_factory.mktemp("hostile")
    bundle = folder / "bundle"
    shutil.copytree(DATA / "bundles" / "medilogic", bundle)
    manifest = yaml.safe_load((bundle / "manifest.yaml").read_text(encoding="utf-8"))
    for name in (IMG, FORMULA_NAME):
        content = f"# {name}\n\nPreuve.\n".encode()
        (bundle / "conformite" / name).write_bytes(content)
        manifest["items"].append(
            {
                "path": f"conformite/{name}",
                "kind": "other",
                "requirements": ["103"],
                "date": "2026-11-20",
                "sha256": hashlib.sha256(content).hexdigest(),
            }
        )
    (bundle / "manifest.yaml").write_text(yaml.safe_dump(manifest), encoding="utf-8")
    registry = folder / "registry.yaml"
    port = closed_port()
    registry.write_text(
        f"""
version: 1
providers:
  - id: medilogic
    name: "Médilogic <b>onmouseover=alert(2)</b>"
    habilitation: EDC-TEST-1
    roles: ["editeur_utilisateur"]
    endpoints:
      - host: 127.0.0.1
        port: {port}
        sni: api.medilogic.demo.esante.test
        mtls: false
        label: API
    evidence_bundle: {bundle}
""",
        encoding="utf-8",
    )
    verdicts = folder / "verdicts.yaml"
    verdicts.write_text(
        yaml.safe_dump(
            {
                "provider": "medilogic",
                "auditor": AUDITOR,
                "verdicts": [
                    {
                        "control": "EXI EDC PSC 103/AVANT/1",
                        "status": "conforme",
                        "comment": COMMENT,
                        "date": "2026-11-27",
                    },
                    {
                        "requirement": "EXI EDC PSC 102",
                        "status": "non conforme",
                        "comment": "<script>alert(3)</script>",
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    scans = save_observations(folder / "scans.json", [])
    return run_audit(
        AuditSettings(
            provider_id="medilogic",
            audit_date=dt.date(2026, 11, 28),
            registry_path=registry,
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            scan_results_path=scans,
            verdicts_path=verdicts,
            auditor=AUDITOR,
        )
    )


TABLES = (
    "provider_table",
    "summary_table",
    "nonconformities_table",
    "conflicts_table",
    "supervision_table",
    "applicability_table",
    "findings_table",
    "tls_table",
    "tls_summary",
    "evidence_table",
)


def notebook_html(table: object) -> str:
    """What JupyterLab renders for a cell's value: its `_repr_html_`."""
    html = table._repr_html_()  # type: ignore[attr-defined]
    assert isinstance(html, str)
    return html


def test_the_hostile_file_name_reaches_the_tables(hostile_run: AuditRun) -> None:
    """Otherwise the escaping tests below could not fail."""
    assert IMG in hostile_run.assessment.to_dataframe()["evidence"].str.cat()
    assert IMG in "".join(map(str, hostile_run.evidence_table().to_numpy().ravel()))


@pytest.mark.parametrize("method", TABLES)
def test_notebook_tables_escape_html(hostile_run: AuditRun, method: str) -> None:
    html = notebook_html(getattr(hostile_run, method)())
    assert "<img" not in html and "<script" not in html and "<b>" not in html, method


def test_findings_table_shows_the_name_escaped(hostile_run: AuditRun) -> None:
    html = notebook_html(hostile_run.findings_table())
    assert "&lt;img src=x onerror=alert(1)&gt;.md" in html
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html
    assert "background-color" in html  # the status colours survive the escaping
    filtered = notebook_html(hostile_run.findings_table(requirement="103", phase="avant"))
    assert "<img" not in filtered and "&lt;img" in filtered


def test_grille_holds_no_formula(hostile_run: AuditRun) -> None:
    workbook = load_workbook(io.BytesIO(grille_bytes(hostile_run)))
    cells = [c for sheet in workbook.worksheets for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    texts = {c.coordinate: c for c in cells if isinstance(c.value, str)}
    comment = [c for c in texts.values() if c.value == COMMENT]
    auditor = [c for c in texts.values() if c.value.startswith(AUDITOR)]
    evidence = [c for c in texts.values() if FORMULA_NAME in c.value]
    assert comment and auditor and evidence
    for cell in (*comment, *auditor):
        assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
    # read back unchanged (the quote prefix is a style, not a character)
    values = load_workbook(io.BytesIO(grille_bytes(hostile_run)), read_only=True)
    read = {v for ws in values.worksheets for row in ws.iter_rows(values_only=True) for v in row}
    assert COMMENT in read


def test_copied_workbook_formulas_become_text(tmp_path: Path) -> None:
    from openpyxl import Workbook

    from auditlib.report.grille import neutralise_formulas

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["A1"] = "=1+1"
    sheet["B1"] = "texte"
    assert neutralise_formulas(workbook) == 1
    assert sheet["A1"].data_type == "s" and sheet["A1"].value == "=1+1"
    assert sheet["A1"].quotePrefix
    buffer = io.BytesIO()
    workbook.save(buffer)
    with zipfile.ZipFile(buffer) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")
    again = load_workbook(io.BytesIO(buffer.getvalue()))
    assert again.active is not None and again.active["A1"].data_type == "s"


def test_findings_json_keeps_the_text(hostile_run: AuditRun, tmp_path: Path) -> None:
    """Escaping is for display: the data itself is unchanged."""
    frame = hostile_run.assessment.to_dataframe()
    assert COMMENT in set(frame["comment"].dropna())
    assert json.dumps(IMG)  # a plain string, nothing stripped
