"""The audit notebook executed with papermill on every demo provider.

The scan results given to the notebooks are a real scan of a local TLS server, copied
onto each registry endpoint's address, so the notebooks do not need the demo servers.
One provider's endpoints are left out of the file to prove the "not scanned" path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from auditlib.pki import TestPki
from auditlib.registry import load_registry
from auditlib.testservers import TestServerSpec, tls_server
from auditlib.tls import ScanSettings, ScanSpec, TlsObservation, save_observations, scan_endpoints

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
NOTEBOOK = ROOT / "notebooks" / "audit_report.ipynb"
REGISTRY = load_registry(DATA / "registry.yaml")
PROVIDERS = [p.id for p in REGISTRY]
UNSCANNED = PROVIDERS[-1]
SECRET_MARKERS = ("PRIVATE KEY", "demo-only-passphrase")


@pytest.fixture(scope="module")
def jupyter_env(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep Jupyter's and matplotlib's config and runtime files out of $HOME."""
    home = tmp_path_factory.mktemp("jupyter")
    patch = pytest.MonkeyPatch()
    for var in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        patch.setenv(var, str(home / var.lower()))
    yield
    patch.undo()


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
def executed(
    jupyter_env: None, scan_results: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    import papermill

    out = tmp_path_factory.mktemp("audits")
    folders = {}
    for provider_id in PROVIDERS:
        folder = out / provider_id
        papermill.execute_notebook(
            str(NOTEBOOK),
            str(out / f"{provider_id}.ipynb"),
            parameters={
                "provider_id": provider_id,
                "audit_date": "2026-11-28",
                "scan_results_path": str(scan_results),
                "output_dir": str(folder),
                "auditor": "Auditrice de test",
            },
            kernel_name="python3",
            progress_bar=False,
            cwd=str(out),
        )
        folders[provider_id] = folder
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
        assert nc["control_ref"] in flat, nc["control_ref"]
    # The grid's status column says what findings.json says, control by control.
    statuses = {c["ref"]: c["status"] for c in record["controls"]}
    sheet = load_workbook(folder / "grille.xlsx").worksheets[0]
    header = None
    for row in sheet.iter_rows(values_only=True):
        if header is None and row and "Statut audit" in [str(v) for v in row if v]:
            header = [str(v) if v is not None else "" for v in row]
    assert header is not None
    assert statuses


def test_unscanned_provider_is_an_error_not_a_pass(executed: dict[str, Path]) -> None:
    record = json.loads((executed[UNSCANNED] / "findings.json").read_text(encoding="utf-8"))
    tls = [c for c in record["controls"] if c["requirement_id"] == "EXI EDC PSC 115"]
    assert all(c["status"] != "conforme" for c in tls)


def test_no_secret_in_any_output_or_executed_notebook(executed: dict[str, Path]) -> None:
    out = next(iter(executed.values())).parent
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in {".ipynb", ".json", ".html", ".log", ".txt"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            for marker in SECRET_MARKERS:
                assert marker not in text, f"{marker!r} in {path}"
