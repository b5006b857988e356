"""The audit notebook executed with papermill on every demo provider.

The scan results given to the notebooks are a real scan of a local TLS server, copied
onto each registry endpoint's address, so the notebooks do not need the demo servers.
One provider's endpoints are left out of the file to prove the "not scanned" path.
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from auditlib.registry import load_registry
from auditlib.report.grille import parse_cell, row_key
from auditlib.testing.pki import TestPki
from auditlib.testing.servers import TestServerSpec, tls_server
from auditlib.tls.scan import (
    ScanSettings,
    ScanSpec,
    TlsObservation,
    save_observations,
    scan_endpoints,
)

pytestmark = [pytest.mark.loopback, pytest.mark.notebook]

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
NOTEBOOK = ROOT / "notebooks" / "audit_report.ipynb"
REGISTRY = load_registry(DATA / "registry.yaml")
PROVIDERS = [p.id for p in REGISTRY]
UNSCANNED = PROVIDERS[-1]
SECRET_MARKERS = ("PRIVATE KEY", "demo-only-passphrase")


@pytest.fixture(scope="module")
def scan_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scan")
    pki = TestPki.create()
    leaf = pki.issue("api.demo.esante.test", dns_names=["api.demo.esante.test"])
    spec = TestServerSpec(cert_chain_pem=pki.chain_pem(leaf), key_pem=leaf.key_pem())
    with tls_server(spec) as server:
        (seen,) = scan_endpoints(
            [ScanSpec(host="127.0.0.1", port=server.port, sni="api.demo.esante.test")],
            ScanSettings(ca_dir=pki.write_ca_dir(folder / "ca"), timeout=3),
        )
    copies: list[TlsObservation] = []
    for provider in REGISTRY:
        if provider.id == UNSCANNED:
            continue
        for endpoint in provider.endpoints:
            copies.append(
                seen.model_copy(
                    update={
                        "label": f"{provider.id}/{endpoint.label}",
                        "host": endpoint.host,
                        "port": endpoint.port,
                    }
                )
            )
    return save_observations(folder / "observations.json", copies)


@pytest.fixture(scope="module")
def executed(scan_results: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import papermill

    out = tmp_path_factory.mktemp("audits")

    def execute(provider_id: str) -> None:
        for attempt in range(3):  # parallel kernels can race for ports: retry the start
            try:
                papermill.execute_notebook(
                    str(NOTEBOOK),
                    str(out / f"{provider_id}.ipynb"),
                    parameters={
                        "provider_id": provider_id,
                        "audit_date": "2026-11-28",
                        "scan_results_path": str(scan_results),
                        "output_dir": str(out / provider_id),
                        "auditor": "Auditrice de test",
                    },
                    kernel_name="python3",
                    progress_bar=False,
                    cwd=str(out),
                    iopub_timeout=60,  # nbclient's 4 s drops late outputs when loaded
                )
                return
            except RuntimeError as exc:  # "Kernel died before replying", ZMQ address in use
                if attempt == 2 or ("Kernel" not in str(exc) and "Address" not in str(exc)):
                    raise

    # Two kernels at a time: the machine has two cores.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(execute, PROVIDERS))
    folders = {provider_id: out / provider_id for provider_id in PROVIDERS}
    return folders


def test_notebook_has_a_parameters_cell_and_no_secret_parameter() -> None:
    notebook = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    tagged = [c for c in notebook["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(tagged) == 1
    source = "".join(tagged[0]["source"])
    assert not re.search(r"(pass|secret|key)\w*\s*=", source, re.IGNORECASE)


@pytest.mark.parametrize("provider_id", PROVIDERS)
def test_outputs_of_each_provider(executed: dict[str, Path], provider_id: str) -> None:
    folder = executed[provider_id]
    for name in ("report.html", "report.pdf", "grille.xlsx", "findings.json"):
        assert (folder / name).is_file(), name
    record = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    provider = REGISTRY.get(provider_id)
    text = "\n".join(page.extract_text() or "" for page in PdfReader(folder / "report.pdf").pages)
    flat = " ".join(text.split())
    assert provider.name in flat
    for nc in record["nonconformities"]:
        assert nc["control"] in flat, nc["control"]
    # The grid's status column says what findings.json says, control by control.
    sheet = load_workbook(folder / "grille.xlsx")[record["controls"][0]["cell"].split("!")[0]]
    status_col = next(
        cell.column
        for row in sheet.iter_rows(max_row=10)
        for cell in row
        if cell.value == "Statut (audit)"
    )
    for control in record["controls"]:
        value = parse_cell(sheet.cell(row=control["row"], column=status_col).value)
        assert control["status"] in (value.get(row_key(control["ref"])), value.get("")), control


def test_unscanned_provider_is_an_error_not_a_pass(executed: dict[str, Path]) -> None:
    record = json.loads((executed[UNSCANNED] / "findings.json").read_text(encoding="utf-8"))
    tls = [c for c in record["controls"] if c["requirement"] == "EXI EDC PSC 115"]
    assert all(c["status"] != "conforme" for c in tls)


def test_no_secret_in_any_output_or_executed_notebook(executed: dict[str, Path]) -> None:
    out = next(iter(executed.values())).parent
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".json", ".html", ".log", ".txt"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            for marker in SECRET_MARKERS:
                assert marker not in text, f"{marker!r} in {path}"
