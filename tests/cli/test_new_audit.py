"""`auditlib new-audit`: the working notebook, parameterised and never executed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from auditlib.cli import main
from auditlib.resources import audit_notebook
from tests.report.deskdata import DATA, FOLDER, PROVIDER


def new_audit(work: Path, *extra: str) -> int:
    return main(
        ["new-audit", PROVIDER, "--date", "2026-11-28", "--work", str(work),
         "--registry", str(DATA / "registry.yaml"),
         "--checkpoints", str(DATA / "checkpoints_demo.xlsx"), *extra]
    )  # fmt: skip


def injected(notebook: Path) -> dict[str, object]:
    cells = json.loads(notebook.read_text("utf-8"))["cells"]
    (cell,) = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    namespace: dict[str, object] = {}
    exec("".join(cell["source"]), namespace)  # the cell papermill wrote: assignments only
    return {k: v for k, v in namespace.items() if not k.startswith("__")}


def test_creates_the_audit_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    template_before = audit_notebook().read_bytes()
    work = tmp_path / "work"
    previous = tmp_path / "last-cycle.yaml"
    previous.write_text(f"provider: {PROVIDER}\nverdicts: []\n", "utf-8")
    assert new_audit(work, "--auditor", "Jeanne", "--previous-verdicts", str(previous)) == 0
    folder = work / FOLDER
    notebook = folder / "audit.ipynb"
    params = injected(notebook)
    assert params["provider_id"] == PROVIDER and params["audit_date"] == "2026-11-28"
    assert params["verdicts_path"] == str(folder / "verdicts.yaml")
    assert params["output_dir"] == str(folder)
    for name in ("registry_path", "checkpoints_path", "verdicts_path", "output_dir"):
        assert Path(str(params[name])).is_absolute(), name
    assert params["auditor"] == "Jeanne"
    nb = json.loads(notebook.read_text("utf-8"))
    assert all(c.get("outputs", []) == [] for c in nb["cells"])  # not executed
    assert "papermill" not in nb["metadata"]
    verdicts = yaml.safe_load((folder / "verdicts.yaml").read_text("utf-8"))
    assert verdicts == {"provider": PROVIDER, "audit": FOLDER, "auditor": "Jeanne",
                        "verdicts": []}  # fmt: skip
    assert (folder / "previous_verdicts.yaml").read_bytes() == previous.read_bytes()
    assert audit_notebook().read_bytes() == template_before  # the template is untouched

    # the auditor's notebook is never replaced
    notebook.write_text(notebook.read_text("utf-8").replace("desk.form()", "desk.form() # mine"))
    mine = notebook.read_bytes()
    assert new_audit(work) == 2
    assert "never replaced" in capsys.readouterr().err
    assert notebook.read_bytes() == mine


def test_crl_source_is_filled_absolute(tmp_path: Path) -> None:
    source = tmp_path / "crl-source.yaml"
    source.write_text("folder: crls/\n", "utf-8")
    assert new_audit(tmp_path / "work", "--crl-source", str(source)) == 0
    assert injected(tmp_path / "work" / FOLDER / "audit.ipynb")["crl_source"] == str(source)
    assert new_audit(tmp_path / "other") == 0  # not given: None (revocation not verified)
    assert injected(tmp_path / "other" / FOLDER / "audit.ipynb")["crl_source"] is None


def test_previous_cycle_found_in_work(tmp_path: Path) -> None:
    work = tmp_path / "work"
    earlier = work / f"{PROVIDER}_certificate_expiry_2023-11-28"
    earlier.mkdir(parents=True)
    (earlier / "verdicts.yaml").write_text(f"provider: {PROVIDER}\nverdicts: []\n", "utf-8")
    assert new_audit(work) == 0
    assert (work / FOLDER / "previous_verdicts.yaml").read_bytes() == (
        earlier / "verdicts.yaml"
    ).read_bytes()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--date", "28/11/2026"], "not an ISO date"),
        (["--scan-results", "/nonexistent/scan.json"], "/nonexistent/scan.json not found"),
        (["--previous-verdicts", "/nonexistent/v.yaml"], "/nonexistent/v.yaml not found"),
        (["--crl-source", "/nonexistent/crl.yaml"], "/nonexistent/crl.yaml not found"),
    ],
)
def test_bad_options(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert new_audit(tmp_path / "work", *extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "work" / FOLDER / "audit.ipynb").exists()


def test_unknown_provider(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["new-audit", "nobody", "--work", str(tmp_path),
                 "--registry", str(DATA / "registry.yaml"),
                 "--checkpoints", str(DATA / "checkpoints_demo.xlsx")])  # fmt: skip
    assert code == 2
    assert "nobody" in capsys.readouterr().err


def test_template_parameters_are_parseable_by_papermill() -> None:
    """`papermill --help-notebook` lists every parameter, `trigger_reference` included
    (a comment holding '=' hides a parameter from papermill)."""
    shown = subprocess.run(
        [sys.executable, "-m", "papermill", "--help-notebook", str(audit_notebook())],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in ("provider_id", "audit_date", "trigger", "trigger_reference", "registry_path",
                 "checkpoints_path", "scan_results_path", "verdicts_path", "ca_dir",
                 "crl_source", "output_dir", "auditor", "language"):  # fmt: skip
        assert f"  {name}:" in shown, name


def test_template_is_clean_and_reproducible(tmp_path: Path) -> None:
    nb = json.loads(audit_notebook().read_text("utf-8"))
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None
               for c in nb["cells"] if c["cell_type"] == "code")  # fmt: skip
    info = nb["metadata"]["language_info"]
    assert {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
            "pygments_lexer", "version"} <= set(info)  # fmt: skip
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_notebook.py"
    namespace: dict[str, object] = {"__name__": "make_notebook"}
    exec(compile(script.read_text("utf-8"), str(script), "exec"), namespace)
    import nbformat

    rebuilt = nbformat.writes(namespace["build"]())  # type: ignore[operator]
    assert json.loads(rebuilt) == nb  # the committed notebook is the script's output
