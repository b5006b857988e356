"""The portfolio (`auditlib.batch.portfolio`, `notebooks/portfolio.ipynb`) over a batch-like
folder of demo audits.

The folder is built the cheap way: every demo provider but one is audited in-process
(`run_audit`, scan results saved as ERROR observations: nothing listens, nothing is
scanned) and its findings.json written where the batch puts it; the folder also holds a
scan file, a supervision events file, a damaged record and a foreign provider's record.
"""

from __future__ import annotations

import datetime as dt
import json
import types
from pathlib import Path
from typing import Any

import pytest

from auditlib.audit.run import AuditSettings, run_audit
from auditlib.batch.portfolio import (
    NO_AUDIT,
    Portfolio,
    PortfolioError,
    habilitation_expiries,
    load_portfolio,
    write_portfolio,
)
from auditlib.errors import AuditlibError
from auditlib.registry import load_registry
from auditlib.report.findings import findings_record, to_json
from auditlib.resources import portfolio_notebook
from auditlib.tls.scan import ScanStatus, TlsObservation, save_observations

DATA = Path(__file__).resolve().parents[2] / "data"
REGISTRY = load_registry(DATA / "registry.yaml")
DAY = dt.date(2026, 11, 28)
NOT_AUDITED = "medicab"
EVENT = "cloudproxy-sante,2026-11-20,SEND sans RPPS,high\n"


@pytest.fixture(scope="module")
def audits_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    observations = [
        TlsObservation(
            label=f"{p.id}/{e.label}",
            host=e.host,
            port=e.port,
            sni=e.sni,
            scanned_at=dt.datetime(2026, 11, 28, 8, 0, tzinfo=dt.UTC),
            status=ScanStatus.ERROR,
            error="connection refused (nothing listening on the port)",
        )
        for p in REGISTRY
        for e in p.endpoints
    ]
    (folder / "scans").mkdir()
    scans = save_observations(folder / "scans" / "scan-20261128T080000Z-abcdef.json", observations)
    (folder / "supervision").mkdir()
    (folder / "supervision" / "events.csv").write_text(
        "provider,date,event,severity\n" + EVENT, "utf-8"
    )
    for provider in REGISTRY:
        if provider.id == NOT_AUDITED:
            continue
        run = run_audit(
            AuditSettings(
                provider_id=provider.id,
                audit_date=DAY,
                registry_path=DATA / "registry.yaml",
                checkpoints_path=DATA / "checkpoints_demo.xlsx",
                scan_results_path=scans,
            )
        )
        target = folder / run.spec.folder_name
        target.mkdir()
        (target / "findings.json").write_text(to_json(findings_record(run)), "utf-8")
    damaged = folder / "medilogic_certificate_expiry_2026-12-01"
    damaged.mkdir()
    (damaged / "findings.json").write_text("{damaged", "utf-8")
    (folder / "_failed" / "x").mkdir(parents=True)
    (folder / "_failed" / "x" / "findings.json").write_text("{ignored", "utf-8")
    return folder


def _foreign(audits_dir: Path, tmp_path: Path) -> Path:
    """A copy of the folder's records plus one of a provider absent from the registry."""
    folder = tmp_path / "copy"
    folder.mkdir()
    source = next(audits_dir.glob("proxylink_*/findings.json"))
    record = json.loads(source.read_text("utf-8"))
    record["audit"]["provider_id"] = "inconnu"
    (folder / "inconnu_certificate_expiry_2026-11-28").mkdir()
    (folder / "inconnu_certificate_expiry_2026-11-28" / "findings.json").write_text(
        json.dumps(record), "utf-8"
    )
    return folder


@pytest.fixture(scope="module")
def folio(audits_dir: Path) -> Portfolio:
    return load_portfolio(audits_dir, DATA / "registry.yaml", as_of=DAY)


def test_every_provider_with_its_latest_bottom_line_or_none(folio: Portfolio) -> None:
    table = folio.providers_table()
    assert list(table["prestataire"]) == REGISTRY.ids
    row = table.set_index("prestataire").loc[NOT_AUDITED]
    assert row["conclusion"] == NO_AUDIT and row["dernier audit"] == NO_AUDIT
    for entry in folio.providers:
        if entry.provider.id != NOT_AUDITED:
            assert entry.latest is not None and entry.latest.date == DAY
            record = json.loads((entry.latest.folder / "findings.json").read_text("utf-8"))
            assert (
                table.set_index("prestataire").loc[entry.provider.id, "conclusion"]
                == (record["bottom_line"])
            )
            assert len(entry.latest.nonconformities) == len(record["nonconformities"])


def test_problems_are_listed_not_fatal(folio: Portfolio) -> None:
    assert any("medilogic_certificate_expiry_2026-12-01" in p for p in folio.problems)
    assert not any("_failed" in p for p in folio.problems)  # private folders are skipped


def test_foreign_provider_is_a_problem(audits_dir: Path, tmp_path: Path) -> None:
    folio = load_portfolio(_foreign(audits_dir, tmp_path), DATA / "registry.yaml", as_of=DAY)
    assert any("'inconnu' is not in the registry" in p for p in folio.problems)
    assert all(p.latest is None for p in folio.providers)


def test_nonconformities_by_requirement_and_severity(folio: Portfolio) -> None:
    table = folio.nonconformities_by_requirement()
    total = sum(len(a.nonconformities) for a in folio.latest())
    assert total > 0 and int(table["total"].sum()) == total
    severities = ["critique", "élevée", "moyenne", "faible"]
    assert (table[severities].sum(axis=1) == table["total"]).all()
    listed = folio.nonconformities_list()
    assert len(listed) == total and NOT_AUDITED not in set(listed["prestataire"])


def test_plan_timeline_and_supervision(folio: Portfolio) -> None:
    kinds = {m.kind for m in folio.milestones}
    assert {"audit_due", "certificate_expiry", "supervision_event", "audit_done"} <= kinds
    # the event makes a supervision audit due 30 days later, within the window
    due = folio.plan_table()
    assert ((due["prestataire"] == "cloudproxy-sante") & (due["échéance"] == "2026-12-20")).any()
    supervision = folio.supervision_table()
    event = supervision[supervision["source"] == "événement"].iloc[0]
    assert event["prestataire"] == "cloudproxy-sante" and event["audit déclenché"] == "oui"
    assert event["sévérité"] == "élevée"
    timeline = folio.timeline_table()
    assert list(timeline["date"]) == sorted(timeline["date"])
    assert folio.scan_results is not None and folio.scan_results.name.startswith("scan-")


def test_habilitation_expiries_read_defensively() -> None:
    provider = types.SimpleNamespace(
        habilitation="EDC-EP-2024-0001",
        habilitations=[
            {"number": "EDC-EP-2024-0001", "expires": "2027-03-01", "status": "active"},
            types.SimpleNamespace(number="EDC-OP-2025-0009", expiry=dt.date(2028, 1, 2)),
            {"number": "no-date"},
            {"number": "bad-date", "expires": "soon"},
        ],
    )
    assert habilitation_expiries(provider) == [  # type: ignore[arg-type]
        ("EDC-EP-2024-0001", dt.date(2027, 3, 1), "active"),
        ("EDC-OP-2025-0009", dt.date(2028, 1, 2), None),
    ]
    medicab = REGISTRY.get("medicab")  # the demo registry is version 2: its habilitations
    assert habilitation_expiries(medicab) == [
        (h.number, h.expires, h.status.value) for h in medicab.habilitations
    ]
    assert habilitation_expiries(medicab)


def test_html_escapes_what_the_folders_say(audits_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "hostile"
    folder.mkdir()
    source = next(audits_dir.glob("santexpress_*/findings.json"))
    record: dict[str, Any] = json.loads(source.read_text("utf-8"))
    record["audit"]["date"] = "2026-11-29"
    record["audit"]["trigger_label"] = "<script>alert('motif')</script>"
    record["nonconformities"][0]["requirement"] = "<img src=x onerror=alert(1)>"
    (folder / "santexpress_x_2026-11-29").mkdir()
    (folder / "santexpress_x_2026-11-29" / "findings.json").write_text(json.dumps(record), "utf-8")
    html = load_portfolio(folder, DATA / "registry.yaml", as_of=DAY).render_html()
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_bad_inputs_are_named(audits_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(PortfolioError, match="does not exist"):
        load_portfolio(tmp_path / "absent", DATA / "registry.yaml")
    with pytest.raises(PortfolioError, match="as_of"):
        load_portfolio(audits_dir, DATA / "registry.yaml", as_of="28/11/2026")
    broken = tmp_path / "events.csv"
    broken.write_text("not,an,events\nfile\n", "utf-8")
    with pytest.raises(AuditlibError):
        load_portfolio(audits_dir, DATA / "registry.yaml", events_path=broken)
    with pytest.raises(AuditlibError):
        load_portfolio(audits_dir, tmp_path / "no-registry.yaml")


def test_default_registry_is_the_demo_one(audits_dir: Path) -> None:
    folio = load_portfolio(audits_dir, as_of=DAY)
    assert [p.provider.id for p in folio.providers] == REGISTRY.ids


@pytest.mark.notebook
def test_notebook_over_the_folder_names_every_provider(audits_dir: Path, tmp_path: Path) -> None:
    import papermill

    out = tmp_path / "out"
    executed = tmp_path / "portfolio.ipynb"
    papermill.execute_notebook(
        str(portfolio_notebook()),
        str(executed),
        parameters={"audits_dir": str(audits_dir), "as_of": "2026-11-28", "output_dir": str(out)},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(tmp_path),
        iopub_timeout=60,  # nbclient's 4 s drops late outputs on a loaded machine
    )
    notebook = json.loads(executed.read_text("utf-8"))
    shown = json.dumps([c.get("outputs", []) for c in notebook["cells"]], ensure_ascii=False)
    for provider in REGISTRY:
        assert provider.id in shown and provider.name in shown
    assert NO_AUDIT in shown
    assert "image/png" in shown  # the charts are displayed inline
    html = (out / "portfolio.html").read_text("utf-8")
    assert all(p.name in html for p in REGISTRY)
    assert (out / "portfolio.pdf").read_bytes().startswith(b"%PDF")


def test_write_portfolio_html_only(folio: Portfolio, tmp_path: Path) -> None:
    outputs = write_portfolio(folio, tmp_path, pdf=False)
    assert outputs.pdf is None and not (tmp_path / "portfolio.pdf").exists()
    assert "<h1>Portefeuille d'audits EDC PSC</h1>" in outputs.html.read_text("utf-8")


def test_papermill_sees_every_parameter_of_the_portfolio_notebook() -> None:
    import papermill

    declared = papermill.inspect_notebook(str(portfolio_notebook()))
    assert set(declared) == {
        "audits_dir",
        "registry_path",
        "as_of",
        "within",
        "scan_results_path",
        "events_path",
        "output_dir",
        "pdf",
    }
    assert declared["registry_path"]["default"] == "None"  # the packaged demo registry
