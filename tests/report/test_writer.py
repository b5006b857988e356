"""The outputs of one audit: report.html/pdf, grille.xlsx, findings.json and the notebook copy.

Two audits are rendered once each (module fixtures): ProxiSanté Éditions in French, with
real TLS content (a loopback server scanned with sslyze, saved as scan results under the
registry's endpoint address) and auditor verdicts; CloudProxy Santé in English, with saved
ERROR scan results (never a live scan of the demo ports) and supervision traces.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import dataclasses
import datetime as dt
import html as html_module
import json
import re
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from auditlib import resources
from auditlib.audit.assess import AuditSpec, AuditTrigger
from auditlib.audit.run import AuditRun, AuditSettings, run_audit
from auditlib.report import charts
from auditlib.report.findings import (
    FINDINGS_SCHEMA_VERSION,
    SCHEMA_PATH,
    check_record,
    findings_record,
    load_schema,
    validate,
)
from auditlib.report.grille import NOT_APPLICABLE_ROLE, GrilleError, parse_cell, row_key
from auditlib.report.writer import (
    ReportError,
    ReportOutputs,
    css_string,
    pdf_bytes,
    render_html,
    write_outputs,
)
from auditlib.testing.pki import TestPki
from auditlib.testing.servers import (
    DEMO_CLIENT_KEY_PASS,
    DEMO_CLIENT_KEY_PASS_ENV,
    legacy_server_spec,
    tls_server,
)
from auditlib.tls.scan import (
    ScanSettings,
    ScanSpec,
    ScanStatus,
    TlsObservation,
    save_observations,
    scan_endpoints,
)

pytestmark = [
    pytest.mark.loopback,
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]

DATA = Path(__file__).resolve().parents[2] / "data"
AUDIT_DATE = dt.date(2026, 11, 28)
SECRETS = ("PRIVATE KEY", DEMO_CLIENT_KEY_PASS)
VERDICTS = """\
provider: proxisante-editions
auditor: Jeanne Martin
verdicts:
  - control: EXI EDC PSC 116/AVANT/1
    status: conforme
    comment: Agrafage OCSP activé depuis le scan, constaté en séance le 2026-11-27.
    date: 2026-11-27
  - requirement: EXI EDC PSC 102
    status: conforme
    comment: Engagement signé par le représentant légal.
"""


def _registry_endpoint(provider_id: str) -> tuple[str, int, str]:
    import yaml

    raw = yaml.safe_load((DATA / "registry.yaml").read_text(encoding="utf-8"))
    provider = next(p for p in raw["providers"] if p["id"] == provider_id)
    endpoint = provider["endpoints"][0]
    return endpoint["host"], endpoint["port"], endpoint["sni"]


@pytest.fixture(scope="module")
def scan_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sslyze scan of a legacy loopback server, saved under the registry address of
    ProxiSanté's endpoint (the demo endpoints themselves are not running in tests)."""
    folder = tmp_path_factory.mktemp("scan")
    host, port, sni = _registry_endpoint("proxisante-editions")
    pki = TestPki.create()
    anchors = pki.write_ca_dir(folder / "anchors")
    leaf = pki.issue(sni, dns_names=[sni])
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(
            tls_server(legacy_server_spec(pki.chain_pem(leaf), leaf.key_pem()))
        )
        spec = ScanSpec(host=server.host, port=server.port, sni=sni, label="API")
        observations = scan_endpoints([spec], ScanSettings(ca_dir=anchors, timeout=10))
    moved = [o.model_copy(update={"host": host, "port": port}) for o in observations]
    return save_observations(folder / "observations.json", moved)


@pytest.fixture(scope="module")
def fr_run(scan_results: Path, tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    verdicts = tmp_path_factory.mktemp("verdicts") / "verdicts.yaml"
    verdicts.write_text(VERDICTS, encoding="utf-8")
    return run_audit(
        AuditSettings(
            provider_id="proxisante-editions",
            audit_date=AUDIT_DATE,
            registry_path=DATA / "registry.yaml",
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            scan_results_path=scan_results,
            verdicts_path=verdicts,
            auditor="Jeanne Martin",
            trigger_reference="certificat 1A2B, notAfter 2026-12-20",
        )
    )


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nb") / "audit_report.ipynb"
    cells = [{"cell_type": "code", "source": "provider_id = 'proxisante-editions'"}]
    path.write_text(json.dumps({"cells": cells, "nbformat": 4}), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def fr(fr_run: AuditRun, notebook: Path, tmp_path_factory: pytest.TempPathFactory) -> ReportOutputs:
    folder = tmp_path_factory.mktemp("out") / fr_run.spec.folder_name
    folder.mkdir()
    # the folder already holds an earlier run's outputs, damaged, and a file of the auditor's
    (folder / "report.pdf").write_text("stale")
    (folder / "findings.json").write_text("{broken")
    (folder / "grille.xlsx").write_bytes(b"PK not really")
    (folder / "notes-auditeur.txt").write_text("kept")
    return write_outputs(fr_run, folder, notebook_path=notebook)


@pytest.fixture(scope="module")
def en(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuditRun, ReportOutputs]]:
    """CloudProxy Santé in English: unreachable endpoints, traces; the client-key passphrase
    variable is set, as it would be in a real audit, and must appear nowhere."""
    import yaml

    mp = pytest.MonkeyPatch()
    mp.setenv(DEMO_CLIENT_KEY_PASS_ENV, DEMO_CLIENT_KEY_PASS)
    # saved ERROR results, never a live scan: the demo ports may be in use on this machine
    raw = yaml.safe_load((DATA / "registry.yaml").read_text(encoding="utf-8"))
    provider = next(p for p in raw["providers"] if p["id"] == "cloudproxy-sante")
    errors = [
        TlsObservation(
            label=f"cloudproxy-sante/{e['label']}",
            host=e["host"],
            port=e["port"],
            sni=e["sni"],
            scanned_at=dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC),
            status=ScanStatus.ERROR,
            error="connection refused (nothing listening on the port)",
        )
        for e in provider["endpoints"]
    ]
    saved = save_observations(tmp_path_factory.mktemp("scan-en") / "scans.json", errors)
    run = run_audit(
        AuditSettings(
            provider_id="cloudproxy-sante",
            audit_date=AUDIT_DATE,
            registry_path=DATA / "registry.yaml",
            checkpoints_path=DATA / "checkpoints_demo.xlsx",
            scan_results_path=saved,
            language="en",
        )
    )
    outputs = write_outputs(run, tmp_path_factory.mktemp("out-en") / "cloudproxy")
    yield run, outputs
    mp.undo()


def pdf_text(path: Path) -> str:
    if shutil.which("pdftotext"):
        done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, check=True)
        return done.stdout.decode("utf-8")
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def squashed(text: str) -> str:
    """Whitespace removed: table cells may wrap a control reference over two lines."""
    return "".join(text.split())


def all_output_text(outputs: ReportOutputs) -> str:
    parts = [pdf_text(outputs.pdf)]
    for path in outputs.files:
        if path.suffix == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                parts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
        else:
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


# ------------------------------------------------------------------ files


def test_every_output_is_written_in_the_audit_folder(fr: ReportOutputs, notebook: Path) -> None:
    assert fr.folder.name == "proxisante-editions_certificate_expiry_2026-11-28"
    names = sorted(p.name for p in fr.folder.iterdir())
    expected = ["report.html", "report.pdf", "grille.xlsx", "findings.json", notebook.name]
    assert names == sorted([*expected, "notes-auditeur.txt"])
    assert all(p.stat().st_size > 0 for p in fr.files)
    assert fr.pdf.read_bytes().startswith(b"%PDF-")
    assert fr.notebook is not None
    assert fr.notebook.read_bytes() == notebook.read_bytes()


def test_audit_folder_name_is_provider_trigger_date_and_safe() -> None:
    spec = AuditSpec("medilogic", AuditTrigger.CERTIFICATE_EXPIRY, AUDIT_DATE)
    assert spec.folder_name == "medilogic_certificate_expiry_2026-11-28"
    hostile = AuditSpec("../../etc/x y", AuditTrigger.SUPERVISION_EVENT, AUDIT_DATE)
    name = hostile.folder_name
    assert "/" not in name and " " not in name and not name.startswith(".")
    assert name.endswith("_supervision_event_2026-11-28")


def test_an_existing_folder_is_overwritten_cleanly(fr: ReportOutputs) -> None:
    assert fr.pdf.read_bytes().startswith(b"%PDF-")
    written = json.loads(fr.findings.read_text(encoding="utf-8"))
    assert written["schema_version"] == FINDINGS_SCHEMA_VERSION
    load_workbook(fr.grille)
    assert (fr.folder / "notes-auditeur.txt").read_text() == "kept"


def test_no_temporary_file_is_left_behind(fr: ReportOutputs) -> None:
    leftovers = [p.name for p in fr.folder.iterdir() if p.name.startswith(".") or ".part" in p.name]
    assert leftovers == []


# ------------------------------------------------------------------ secrets


def test_no_secret_in_any_output(fr: ReportOutputs, en: tuple[AuditRun, ReportOutputs]) -> None:
    for outputs in (fr, en[1]):
        text = all_output_text(outputs)
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} found in {outputs.folder}"


def test_a_notebook_holding_a_key_is_refused_and_nothing_is_written(
    fr_run: AuditRun, tmp_path: Path
) -> None:
    leaky = tmp_path / "leaky.ipynb"
    leaky.write_text('{"cells": ["-----BEGIN ENCRYPTED PRIVATE KEY-----"]}', encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(ReportError, match="PRIVATE KEY"):
        write_outputs(fr_run, out, notebook_path=leaky)
    assert not out.exists()


def test_a_notebook_holding_the_passphrase_is_refused(
    fr_run: AuditRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the registry names the variable on CloudProxy's endpoint; reuse that run's provider
    monkeypatch.setenv(DEMO_CLIENT_KEY_PASS_ENV, DEMO_CLIENT_KEY_PASS)
    registry_provider = fr_run.registry.get("cloudproxy-sante")
    run = dataclasses.replace(fr_run, provider=registry_provider)
    leaky = tmp_path / "leaky.ipynb"
    leaky.write_text(json.dumps({"cells": [f"pass = '{DEMO_CLIENT_KEY_PASS}'"]}), "utf-8")
    with pytest.raises(ReportError) as caught:
        write_outputs(run, tmp_path / "out", notebook_path=leaky)
    assert DEMO_CLIENT_KEY_PASS not in str(caught.value)


# ------------------------------------------------------------------ PDF and HTML content


def test_pdf_names_the_provider_and_every_nonconformity(
    fr: ReportOutputs, fr_run: AuditRun
) -> None:
    text = pdf_text(fr.pdf)
    flat = squashed(text)
    assert "ProxiSanté Éditions" in text
    assert squashed(fr_run.spec.audit_id) in flat
    assert fr_run.assessment.nonconformities
    for nc in fr_run.assessment.nonconformities:
        assert squashed(nc.control_ref) in flat, nc.control_ref
    assert "page 1 / " in text  # page numbers in the margin box
    assert text.count("Habilitation EDC-EP-2024-0001") >= 3  # running header on every page


def test_pdf_shows_the_tls_annex_with_rules_and_suites(fr: ReportOutputs) -> None:
    text = pdf_text(fr.pdf)
    assert "Annexe : configuration TLS" in text
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in text
    assert "R4" in text and "HSTS" in text
    assert "TLSv1.0" in text


def test_html_marks_unverified_rule_numbers_and_untested_rules(fr: ReportOutputs) -> None:
    html = fr.html.read_text(encoding="utf-8")
    assert "(numéro non vérifié)" in html  # no rule number is verified yet
    assert "non testé" in html  # IGC-REVOCATION without a stapled OCSP response


def test_html_is_self_contained_with_charts_embedded(fr: ReportOutputs) -> None:
    html = fr.html.read_text(encoding="utf-8")
    assert html.count('src="data:image/svg+xml;base64,') >= 3  # chapters, matrix, timeline
    assert 'src="http' not in html and "<link " not in html
    assert "@page" in html  # print CSS inlined


def test_overrides_and_conflicts_are_shown(fr: ReportOutputs, fr_run: AuditRun) -> None:
    control = fr_run.assessment.control("EXI EDC PSC 116/AVANT/1")
    assert control.overridden
    assert [c.control_ref for c in fr_run.assessment.conflicts] == ["EXI EDC PSC 116/AVANT/1"]
    html = fr.html.read_text(encoding="utf-8")
    assert "dérogation au statut automatique" in html
    assert "Divergences à examiner (1)" in html
    assert "Agrafage OCSP activé depuis le scan" in html


def test_english_report_renders(en: tuple[AuditRun, ReportOutputs]) -> None:
    _, outputs = en
    html = outputs.html.read_text(encoding="utf-8")
    assert '<html lang="en">' in html
    text = pdf_text(outputs.pdf)
    assert "Executive summary" in text and "Statement of applicability" in text
    assert "CloudProxy Santé" in text
    # findings' own sentences stay in French
    assert squashed("point d'accès non analysé") in squashed(text)
    # an endpoint that could not be scanned: one line, not a table of "not evaluated" rows
    assert re.search(r"Noneofthe\d+rulescouldbejudged", squashed(text))


def test_supervision_section_when_traces_exist(en: tuple[AuditRun, ReportOutputs]) -> None:
    run, outputs = en
    assert run.traces
    html = outputs.html.read_text(encoding="utf-8")
    assert 'id="supervision"' in html
    assert html.count("data:image/svg+xml;base64,") >= 5  # + the trace chart, the per-API chart
    # Per-API volumes are statistics shown beside the findings, never among them.
    assert "SEND calls per national API" in html and "nomApiPsc" in html
    assert all("nomApiPsc" not in f.message for t in run.traces for f in t.findings)


def test_unknown_language_is_refused(fr_run: AuditRun) -> None:
    with pytest.raises(ReportError, match="language"):
        render_html(fr_run, "de")


def test_missing_templates_say_where_they_were_expected(
    fr_run: AuditRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "TEMPLATES_PACKAGE", "auditlib._no_such_templates")
    with pytest.raises(ReportError, match="templates"):
        render_html(fr_run)


def test_hostile_registry_text_is_escaped(fr_run: AuditRun) -> None:
    provider = dataclasses.replace(fr_run.provider, name='Évil</style><script>alert(1)</script>"')
    html = render_html(dataclasses.replace(fr_run, provider=provider))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_css_strings_cannot_break_out_of_the_stylesheet() -> None:
    escaped = css_string('Évil"; } </style><script>x</script> \\')
    assert escaped.startswith('"') and escaped.endswith('"')
    inner = escaped[1:-1]
    assert '"' not in inner and "<" not in inner and ">" not in inner
    assert "Évil" in inner


# ------------------------------------------------------------------ findings.json


def test_findings_json_validates_against_its_schema(
    fr: ReportOutputs, en: tuple[AuditRun, ReportOutputs]
) -> None:
    schema = load_schema()
    assert SCHEMA_PATH.name == "findings.schema.json"
    for outputs in (fr, en[1]):
        record = json.loads(outputs.findings.read_text(encoding="utf-8"))
        assert validate(record, schema) == []
        assert record["schema_version"] == FINDINGS_SCHEMA_VERSION


def test_findings_json_carries_the_whole_record(fr: ReportOutputs, fr_run: AuditRun) -> None:
    record = json.loads(fr.findings.read_text(encoding="utf-8"))
    assert record["audit"]["id"] == fr_run.spec.audit_id
    assert record["provider"]["name"] == "ProxiSanté Éditions"
    assert len(record["controls"]) == len(fr_run.assessment.controls)
    assert [n["control"] for n in record["nonconformities"]] == [
        n.control_ref for n in fr_run.assessment.nonconformities
    ]
    assert all(n["deadline"] > "2026-11-28" for n in record["nonconformities"])
    overridden = next(c for c in record["controls"] if c["ref"] == "EXI EDC PSC 116/AVANT/1")
    assert overridden["override"] is True and overridden["automated_status"] == "non conforme"
    assert record["conflicts"][0]["control"] == "EXI EDC PSC 116/AVANT/1"
    evidence = [e for c in record["controls"] for e in c["evidence"]]
    assert evidence and all(len(e["sha256"]) == 64 for e in evidence if e["sha256"])
    # the scanned endpoint (the demo's second one, 18448, has no saved observation)
    (tls,) = [t for t in record["tls"] if t["scan_status"] == "OK"]
    assert tls["port"] == _registry_endpoint("proxisante-editions")[1]
    assert tls["versions"] == ["TLSv1.0", "TLSv1.1", "TLSv1.2"]
    assert {r["rule"] for r in tls["rules"]} >= {"R4", "R6", "R13"}
    assert tls["hsts"]["rule"] == "HSTS"
    assert record["evidence"]["fingerprint"]["content_sha256"]
    assert record["inputs"]["hashes"]["scan_results"]
    assert record["tool"]["tls_profile"] == "anssi-tls-v1.2"


def test_the_validator_catches_broken_records(fr_run: AuditRun) -> None:
    record: dict[str, Any] = findings_record(fr_run)
    check_record(record)
    broken = json.loads(json.dumps(record))
    del broken["audit"]["date"]
    broken["controls"][0]["status"] = "ok"
    broken["counts"]["conforme"] = "3"
    broken["surprise"] = True
    problems = validate(broken)
    assert "$.audit: missing required key 'date'" in problems
    assert any(p.startswith("$.controls[0].status:") for p in problems)
    assert any(p.startswith("$.counts.conforme: expected integer") for p in problems)
    assert "$: unexpected key 'surprise'" in problems
    with pytest.raises(Exception, match="does not match its schema"):
        check_record(broken)


# ------------------------------------------------------------------ grille.xlsx


def test_grille_status_column_matches_findings(fr: ReportOutputs, fr_run: AuditRun) -> None:
    record = json.loads(fr.findings.read_text(encoding="utf-8"))
    workbook = load_workbook(fr.grille)
    sheet = workbook[fr_run.grid.sheet or ""]
    original = load_workbook(fr_run.grid.source or "")[fr_run.grid.sheet or ""]
    status_col = original.max_column + 1
    assert sheet.cell(row=4, column=status_col).value == "Statut (audit)"
    for control in record["controls"]:
        cell = parse_cell(sheet.cell(row=control["row"], column=status_col).value)
        value = cell.get(row_key(control["ref"]), cell.get(""))
        assert value == control["status"], control["ref"]
    # rows of requirements that do not apply to the provider
    not_applicable = {r["requirement"] for r in record["applicability"] if not r["applies"]}
    assert not_applicable
    for c in fr_run.grid.controls:
        if c.requirement_id in not_applicable:
            assert sheet.cell(row=c.row, column=status_col).value == NOT_APPLICABLE_ROLE


def test_a_workbook_changed_since_the_audit_leaves_earlier_outputs_alone(
    fr: ReportOutputs, fr_run: AuditRun, tmp_path: Path
) -> None:
    changed = tmp_path / "checkpoints.xlsx"
    shutil.copyfile(fr_run.grid.source or "", changed)
    book = load_workbook(changed)
    book[fr_run.grid.sheet or ""]["A1"] = "modifié après l'audit"
    book.save(changed)
    grid = copy.copy(fr_run.grid)
    grid.source = changed
    folder = tmp_path / "audit"
    shutil.copytree(fr.folder, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with pytest.raises(GrilleError, match="changed since the audit read it"):
        write_outputs(dataclasses.replace(fr_run, grid=grid), folder)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_grille_keeps_the_workbook_as_it_was(fr: ReportOutputs, fr_run: AuditRun) -> None:
    original_book = load_workbook(fr_run.grid.source or "")
    completed_book = load_workbook(fr.grille)
    # the original sheets, in order; the flat sheet first and the hidden metadata sheet added
    assert completed_book.sheetnames == ["Constats", *original_book.sheetnames, "auditlib"]
    original = original_book[fr_run.grid.sheet or ""]
    completed = completed_book[fr_run.grid.sheet or ""]
    assert {str(r) for r in original.merged_cells.ranges} <= {
        str(r) for r in completed.merged_cells.ranges
    }
    for row in original.iter_rows():
        for cell in row:
            assert completed[cell.coordinate].value == cell.value
    assert completed.max_column == original.max_column + 5
    # evidence column: file name and short SHA-256; auditor column from verdicts
    evidence_col, auditor_col = original.max_column + 3, original.max_column + 5
    row_102 = fr_run.assessment.control("EXI EDC PSC 102/AVANT/1").control.row
    assert "cgu/engagement-cgu-psc.pdf (" in completed.cell(row_102, evidence_col).value
    assert "Jeanne Martin" in completed.cell(row_102, auditor_col).value


# ------------------------------------------------------------------ charts


def test_timeline_takes_certificates_from_scans_and_bundle(fr_run: AuditRun) -> None:
    bars, markers = charts.timeline_items(fr_run)
    assert {b.origin for b in bars} == {"scan", "bundle"}
    assert markers and all(isinstance(m.when, dt.date) for m in markers)
    svg = charts.figure_bytes(charts.certificate_timeline(fr_run, "en"))
    assert svg.startswith(b"<svg ") and b"penetration test" in svg


def test_chart_colours_follow_the_status_hues() -> None:
    from auditlib.audit.run import STATUS_COLOURS

    assert set(charts.STATUS_CHART_COLOURS) == set(STATUS_COLOURS)


def test_the_notebook_shows_the_charts_the_report_embeds(fr_run: AuditRun) -> None:
    run = dataclasses.replace(fr_run, figures={})
    shown = {name: charts.chart(run, name)._repr_svg_() for name in charts.CHARTS}
    assert charts.chart(run, "tls_matrix") is charts.chart(run, "tls_matrix", "FR")  # drawn once
    html = render_html(run, "fr")
    for name, svg in shown.items():
        assert "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode() in html, name
    # another language is another drawing; an unknown chart is named in the error
    assert charts.chart(run, "status_by_chapter", "en") is not charts.chart(
        run, "status_by_chapter"
    )
    with pytest.raises(ValueError, match=r"unknown chart 'pie'.*status_by_chapter"):
        charts.chart(run, "pie")


# ------------------------------------------------------------------ outcome, hors grille


def test_outcome_recommendation_and_deadline_basis_in_every_output(
    fr: ReportOutputs, fr_run: AuditRun
) -> None:

    record = json.loads(fr.findings.read_text(encoding="utf-8"))
    outcome = fr_run.assessment.outcome
    assert record["bottom_line"] == "non conforme"
    assert record["outcome"]["value"] == outcome.value.value == "non conforme"
    assert record["outcome"]["recommendation"] in (
        "plan d'actions correctives",
        "suspension recommandée",
    )
    assert record["remediation"] == {
        "basis": "proposition de l'auditeur",
        "days": {"critical": 30, "high": 60, "medium": 90, "low": 180},
    }
    assert all(
        n["deadline_basis"] == "proposition de l'auditeur" for n in record["nonconformities"]
    )
    assert record["unmapped_findings"] == []  # every check maps onto the demo workbook
    page = html_module.unescape(fr.html.read_text(encoding="utf-8"))
    assert "Échéance proposée (proposition de l'auditeur)" in page
    assert "ne fixent de délai" in page
    assert "Échéance ANS" not in page and "Échéance</th>" not in page
    table = fr_run.nonconformities_table()
    assert "échéance (proposition de l'auditeur)" in table.columns
    # the one-page compte rendu comes before the contents and the detail
    text = squashed(pdf_text(fr.pdf))
    assert text.index(squashed("Compte rendu")) < text.index(squashed("Sommaire"))
    assert squashed("Recommandation (proposition de l'auditeur)") in text
    assert squashed("Le prestataire (pris connaissance)") in text


def test_the_compte_rendu_is_one_page(fr: ReportOutputs) -> None:
    from pypdf import PdfReader

    pages = [squashed(p.extract_text() or "") for p in PdfReader(fr.pdf).pages]
    holding = [i for i, p in enumerate(pages) if squashed("Visa de l'auditeur") in p]
    report = [i for i, p in enumerate(pages) if squashed("Compte rendu") in p]
    assert holding == [0]  # cover
    # page 2 holds the whole compte rendu, signatures included; the contents start on page 3
    assert report[0] == 1
    assert squashed("Le prestataire (pris connaissance)") in pages[1]
    assert squashed("Sommaire") not in pages[1] and squashed("Sommaire") in pages[2]


@pytest.fixture(scope="module")
def other_run(scan_results: Path, tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    """ProxiSanté audited against the demo workbook numbered otherwise (115 -> 215 ...)."""
    from auditlib.checkpoints.reader import load_checkpoints
    from auditlib.testing.workbooks import renumbered, rows_from_grid, write_workbook

    rows = renumbered(rows_from_grid(load_checkpoints(DATA / "checkpoints_demo.xlsx")))
    workbook = write_workbook(tmp_path_factory.mktemp("other") / "ans.xlsx", rows)
    return run_audit(
        AuditSettings(
            provider_id="proxisante-editions",
            audit_date=AUDIT_DATE,
            registry_path=DATA / "registry.yaml",
            checkpoints_path=workbook,
            scan_results_path=scan_results,
        )
    )


def test_a_workbook_numbered_otherwise_keeps_every_failing_result(
    other_run: AuditRun, tmp_path: Path
) -> None:

    from auditlib.audit.assess import CheckOutcome

    failing = [c for c in other_run.checks if c.outcome is CheckOutcome.FAIL and c.check == "tls"]
    assert failing, "the legacy server fails ANSSI rules"
    record = findings_record(other_run)
    check_record(record)
    kept = {u["name"] for u in record["unmapped_findings"]}
    assert {c.name for c in failing} <= kept
    assert all(u["disposition"] == "hors grille" for u in record["unmapped_findings"])
    assert record["bottom_line"] == "non conforme"
    assert record["outcome"]["value"] == "non conforme"
    page = html_module.unescape(render_html(other_run))
    assert "Constats hors grille" in page
    for c in failing:
        assert c.name in page


def test_the_providers_corrective_actions_sit_beside_the_nonconformities(
    fr_run: AuditRun, tmp_path: Path
) -> None:

    from auditlib.demo.data import manifest_entry, write_bundle
    from auditlib.evidence.bundle import load_bundle

    nc = fr_run.assessment.nonconformities[0]
    plan = b"Plan d'actions correctives signe.\n"
    actions = [
        {
            "action": "Renouveler le certificat serveur",
            "due": "2026-12-15",
            "targets": [nc.control_ref],
        },
        {"action": "Action sans rapport", "due": "2026-12-01", "targets": ["EXI EDC PSC 999"]},
    ]
    entry = manifest_entry(
        "plan.md", plan, "corrective_plan", [], AUDIT_DATE, corrective_plan={"actions": actions}
    )
    folder = write_bundle(tmp_path / "bundle", fr_run.provider.id, {"plan.md": plan}, [entry])
    run = copy.copy(fr_run)
    run.bundle = load_bundle(folder, as_of=fr_run.as_of)
    record = findings_record(run)
    check_record(record)
    answered = next(n for n in record["nonconformities"] if n["control"] == nc.control_ref)
    assert answered["corrective_actions"] == [
        {
            "action": "Renouveler le certificat serveur",
            "due": "2026-12-15",
            "owner": None,
            "targets": [nc.control_ref],
            "plan": "plan.md",
        }
    ]
    assert len(record["corrective_plan"]) == 2
    page = html_module.unescape(render_html(run))
    summary = page[page.index('id="summary"') : page.index('id="unmapped"')]
    assert "Renouveler le certificat serveur" in summary
    assert "échéance du prestataire 15/12/2026" in summary
    assert "Action sans rapport" not in summary


def test_results_set_aside_are_grouped_in_the_report_and_whole_in_findings(
    fr_run: AuditRun,
) -> None:
    from auditlib.report.writer import report_context

    record = findings_record(fr_run)
    aside = record["set_aside_findings"]
    assert aside and {u["disposition"] for u in aside} <= {
        "non applicable",
        "hors périmètre de cet audit",
    }
    groups = report_context(fr_run)["set_aside"]
    assert sum(g["total"] for g in groups) == len(aside)
    assert len(groups) < len(aside)
    assert "Résultats écartés" in render_html(fr_run)


def test_the_compte_rendu_stays_one_page_with_many_findings(
    other_run: AuditRun, tmp_path: Path
) -> None:
    from pypdf import PdfReader

    assert len(other_run.assessment.nonconformities) > 6
    assert len(other_run.assessment.unmapped_findings) > 6
    out = write_outputs(other_run, tmp_path / "out")
    pages = [squashed(p.extract_text() or "") for p in PdfReader(out.pdf).pages]
    assert squashed("Compte rendu") in pages[1]
    assert squashed("Le prestataire (pris connaissance)") in pages[1]
    assert squashed("Sommaire") in pages[2]
    # failing unmapped results come first in the compte rendu
    assert squashed("hors grille · en échec") in pages[1]


# ------------------------------------------------------------------ one content, two engines


class _VisibleText(HTMLParser):
    """The text a reader sees in the HTML report's body (no <head>, <style>, attributes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.chunks: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("head", "style", "title", "script"):
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "style", "title", "script"):
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.chunks.append(" ".join(data.split()))


def missing_from_pdf(html: str, pdf: Path) -> list[str]:
    """The HTML's text chunks the PDF's text does not hold (compared without white space,
    hyphens (pdftotext joins a word cut after one), case (CSS/Typst upper-case the
    kicker), and the running header and footer, which a long paragraph may straddle)."""

    def flat(text: str) -> str:
        return "".join(text.split()).replace("-", "").casefold()

    parser = _VisibleText()
    parser.feed(html)
    body = re.search(r"<body([^>]*)>", html)
    assert body is not None
    running = [html_module.unescape(v) for v in re.findall(r'data-[a-z-]+="([^"]*)"', body[1])]
    from pypdf import PdfReader

    # pypdf reads in the order the engine wrote (a wrapped table cell stays in one piece,
    # pdftotext may interleave the lines of neighbouring cells)
    text = flat("".join(page.extract_text() or "" for page in PdfReader(pdf).pages))
    for line in running:
        text = text.replace(flat(line), "")
    text = re.sub(r"page\d+/\d+", "", text)
    return [c for c in parser.chunks if flat(c) not in text]


@pytest.mark.parametrize("engine", ["typst", "weasyprint"])
def test_the_pdf_holds_every_text_of_the_html_whatever_the_engine(
    engine: str, fr: ReportOutputs, tmp_path: Path
) -> None:
    html = fr.html.read_text("utf-8")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(pdf_bytes(html, engine))
    assert missing_from_pdf(html, pdf) == []
