"""Tables for people (auditlib.report.tables) and the desk (auditlib.report.desk) without a
display: readable localised values, escaping, inline colours, sentences for empty tables,
and a verdict recorded through the desk's own API (what the form calls)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from auditlib.audit.assess import ControlStatus
from auditlib.audit.run import AuditRun
from auditlib.audit.verdicts import load_verdicts
from auditlib.errors import AuditlibError
from auditlib.report import tables
from auditlib.report.desk import Desk
from tests.report.deskdata import FOLDER, PROVIDER, demo_run

RAW_WORDS = re.compile(r"\b(PASS|FAIL|NON_COMPLIANT|COMPLIANT|INCOMPLETE|True|False|nan|None)\b")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> AuditRun:
    return demo_run(tmp_path_factory.mktemp("tables"))


@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_table_is_readable(run: AuditRun, language: str) -> None:
    for name in tables.TABLE_NAMES:
        table = tables.table(run, name, language)
        rendered = tables.to_html(table)
        text = re.sub(r"<[^>]+>", " ", rendered)
        assert not RAW_WORDS.search(text), (name, RAW_WORDS.search(text))
        assert "<style" not in rendered
        if table.empty:
            assert rendered.startswith("<p") and table.empty_text in rendered.replace("&#x27;", "'")
        else:
            assert "<th" in rendered and "index" not in str(table.frame.columns)


def test_language_changes_headers_and_values(run: AuditRun) -> None:
    fr = tables.findings(run, "fr").frame
    en = tables.findings(run, "en").frame
    assert list(fr.columns)[:2] == ["contrôle", "statut"]
    assert list(en.columns)[:2] == ["control", "status"]
    assert "à évaluer" in set(fr["statut"]) and "to assess" in set(en["status"])
    assert tables.table(run, "tls_summary", "fr").frame.iloc[0, 1] == "erreur"
    assert tables.table(run, "tls_summary", "en").frame.iloc[0, 1] == "error"


def test_full_sha256_and_inline_colours(run: AuditRun) -> None:
    evidence = tables.evidence(run, "fr")
    assert all(len(v) == 64 for v in evidence.frame["SHA-256"] if v)
    html = tables.to_html(tables.findings(run, "fr"))
    assert 'style="padding' in html and "background-color:#dde6f0" in html


def test_data_is_escaped(run: AuditRun) -> None:
    hostile = dataclasses.replace(
        run.provider, name='<img src=x onerror="alert(1)">', habilitation="<b>&</b>"
    )
    html = tables.to_html(tables.provider(dataclasses.replace(run, provider=hostile), "fr"))
    assert "<img" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in html


def test_empty_table_is_a_sentence_and_filters(run: AuditRun) -> None:
    none = tables.findings(run, "fr", requirement="999")
    assert none.empty and "Aucun contrôle" in tables.to_html(none)
    only = tables.findings(run, "en", status="to assess")
    assert set(only.frame["status"]) == {"to assess"}
    assert set(tables.findings(run, "fr", phase="après").frame["contrôle"]) <= {
        c.ref for c in run.assessment.controls if c.control.phase.value == "APRES"
    }
    with pytest.raises(ValueError, match="unknown table"):
        tables.table(run, "nope")


def test_static_tables_without_a_jupyter_server(
    run: AuditRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delenv("AUDITLIB_TABLES", raising=False)
    assert not tables.interactive_wanted()
    shown = tables.rendered(tables.findings(run, "fr"))
    assert shown.data.startswith('<table class="auditlib-table"')
    pytest.importorskip("itables")
    interactive = tables.rendered(tables.findings(run, "fr"), interactive=True).data
    assert interactive.startswith('<div data-table="findings">')
    assert "background-color:#dde6f0" in interactive  # colours kept inline in DataTables


def test_desk_records_a_verdict_and_redraws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDITLIB_TABLES", "static")
    verdicts = tmp_path / "verdicts.yaml"
    verdicts.write_text(f"provider: {PROVIDER}\naudit: {FOLDER}\nverdicts: []\n", "utf-8")
    (tmp_path / "previous_verdicts.yaml").write_text(
        f"provider: {PROVIDER}\naudit: {PROVIDER}_certificate_expiry_2023-11-28\nverdicts:\n"
        "- control: EXI EDC PSC 104/AVANT/1\n  status: conforme\n  comment: Vu en 2023.\n",
        "utf-8",
    )
    desk = Desk(demo_run(tmp_path, verdicts))
    pending = desk.pending_refs()
    assert "EXI EDC PSC 104/AVANT/1" in pending
    # last cycle's verdict is offered in the pending list, never applied
    offered = tables.pending(desk.run, "fr", desk.previous).frame
    row = offered[offered["contrôle"] == "EXI EDC PSC 104/AVANT/1"].iloc[0]
    assert row["appréciation précédente"] == "conforme : Vu en 2023."
    assert desk.run.assessment.control("EXI EDC PSC 104/AVANT/1").status is ControlStatus.A_EVALUER

    updates: list[str] = []
    desk.show("findings")
    desk._shown[0].handle.update = lambda obj: updates.append(obj.data)  # type: ignore[method-assign]
    verdict = desk.record(
        "exi-edc-psc-104/avant/1", "Non compliant", severity="élevée", comment="Inventaire ancien"
    )
    assert verdict.status is ControlStatus.NON_CONFORME and verdict.severity == "high"
    assert verdict.auditor == "Jeanne Martin" and verdict.date is not None
    assessed = desk.run.assessment.control("EXI EDC PSC 104/AVANT/1")
    assert assessed.status is ControlStatus.NON_CONFORME
    assert "EXI EDC PSC 104/AVANT/1" not in desk.pending_refs()
    assert len(updates) == 1 and "Inventaire ancien" in updates[0]
    (saved,) = load_verdicts(verdicts, desk.run.grid, PROVIDER, audit=FOLDER)
    assert saved.comment == "Inventaire ancien"

    with pytest.raises(AuditlibError, match="not an auditor's verdict"):
        desk.record("EXI EDC PSC 104/AVANT/1", "à évaluer")
    with pytest.raises(AuditlibError, match="no control"):
        desk.record("EXI EDC PSC 999/AVANT/1", "conforme")
    assert load_verdicts(verdicts, desk.run.grid, PROVIDER, audit=FOLDER) == [saved]


def test_form_and_outputs_without_a_verdicts_file(tmp_path: Path) -> None:
    desk = Desk(demo_run(tmp_path))
    assert "auditlib new-audit" in desk.form().data
    with pytest.raises(AuditlibError, match="new-audit"):
        desk.record("EXI EDC PSC 104/AVANT/1", "conforme")


def test_form_widgets(tmp_path: Path) -> None:
    pytest.importorskip("ipywidgets")
    verdicts = tmp_path / "verdicts.yaml"
    verdicts.write_text(f"provider: {PROVIDER}\nverdicts: []\n", "utf-8")
    desk = Desk(demo_run(tmp_path, verdicts))
    box = desk.form()
    control, status, _severity, comment, _auditor, save, message = box.children
    assert control.value == desk.pending_refs()[0]
    status.value = "non applicable"
    comment.value = "Hors périmètre"
    save.click()
    assert "Enregistré" in message.value
    assert desk.run.assessment.control(control.value).status is ControlStatus.NON_APPLICABLE
    status.value = "conforme"
    verdicts.write_text("provider: someone-else\nverdicts: []\n", "utf-8")
    save.click()
    assert "Refusé" in message.value and "someone-else" in message.value


def test_relative_notebook_path_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditlib.audit.run import AuditSettings

    monkeypatch.chdir(tmp_path)
    with pytest.raises(AuditlibError) as caught:
        AuditSettings.from_parameters(
            provider_id=PROVIDER, audit_date="2026-11-28", verdicts_path="data/v.yaml"
        )
    assert str(tmp_path / "data" / "v.yaml") in str(caught.value)
    assert "verdicts_path" in str(caught.value)
