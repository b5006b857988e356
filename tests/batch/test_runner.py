"""The batch (auditlib.batch.runner, `auditlib batch`) with a tiny notebook made here that has
the audit notebook's parameters and writes the same four files (real kernels, papermill's
Python API, spawned workers)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from auditlib.audit.assess import AuditTrigger
from auditlib.batch import runner as batch_module
from auditlib.batch.plan import PlannedAudit
from auditlib.batch.runner import (
    EXECUTED_NOTEBOOK,
    FAILED_DIR,
    REPORT_FILES,
    SIGNED_PDF,
    AuditStatus,
    BatchSettings,
    Progress,
    is_kernel_start_race,
    read_ledger,
    run_batch,
)
from auditlib.cli import main
from auditlib.demo.data import write_bundle
from auditlib.errors import BatchError
from auditlib.testing.servers import closed_port
from auditlib.tls.scan import load_observations, save_observations

pytestmark = [pytest.mark.loopback, pytest.mark.notebook]

DATA = Path(__file__).resolve().parents[2] / "data"
DAY = dt.date(2026, 11, 28)

PARAMETERS = """provider_id = None
audit_date = None
trigger = None
trigger_reference = None
registry_path = None
checkpoints_path = None
scan_results_path = None
verdicts_path = None
ca_dir = None
output_dir = None
auditor = None
language = "fr"
"""

WRITE_OUTPUTS = """import json, pathlib
from pypdf import PdfWriter
out = pathlib.Path(output_dir)
for name in ("report.html", "grille.xlsx"):
    (out / name).write_text(f"{name} {provider_id} {audit_date} {trigger_reference}")
pdf = PdfWriter()
pdf.add_blank_page(width=595, height=842)
with open(out / "report.pdf", "wb") as handle:
    pdf.write(handle)
(out / "findings.json").write_text(json.dumps({
    "provider_id": provider_id, "verdicts_path": verdicts_path,
    "scan_results_path": scan_results_path, "trigger_reference": trigger_reference,
}))
"""


def make_notebook(path: Path) -> Path:
    """Cells: 0 parameters, then (1 injected by papermill), 2 raise for `boom`, 3 outputs."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMETERS)
    params.metadata["tags"] = ["parameters"]
    boom = nbformat.v4.new_code_cell(
        'if provider_id == "boom":\n    raise ValueError("boom: this provider always fails")\n'
        'if provider_id == "crash":  # the worker process dies under the notebook\n'
        "    import os, pathlib, signal\n    worker = os.getppid()\n"
        "    if b'kernel_template' in pathlib.Path(f'/proc/{worker}/cmdline').read_bytes():\n"
        "        stat = pathlib.Path(f'/proc/{worker}/stat').read_text()\n"
        "        worker = int(stat.rsplit(')', 1)[1].split()[1])  # the template's parent\n"
        "    os.kill(worker, signal.SIGKILL)"
    )
    nb.cells = [params, boom, nbformat.v4.new_code_cell(WRITE_OUTPUTS)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def make_world(folder: Path, ids: list[str]) -> tuple[Path, Path, Path, Path]:
    """A registry of providers (alpha has an endpoint on a closed port), their bundles,
    a verdicts folder, and the notebook."""
    providers = []
    for index, pid in enumerate(ids):
        bundle = write_bundle(folder / "bundles" / pid, pid, {}, [])
        entry: dict[str, Any] = {
            "id": pid,
            "name": pid.title(),
            "habilitation": f"EDC-EP-2024-{index:04d}",
            "roles": ["editeur_proxy"],
            "evidence_bundle": str(bundle),
        }
        if pid == "alpha":
            entry["endpoints"] = [{"host": "127.0.0.1", "port": closed_port(), "label": "API"}]
        providers.append(entry)
    registry = folder / "registry.yaml"
    registry.write_text(json.dumps({"version": 1, "providers": providers}), "utf-8")
    verdicts = folder / "verdicts"
    verdicts.mkdir()
    for pid in ids:
        (verdicts / f"{pid}.yaml").write_text(f"provider: {pid}\nverdicts: []\n", "utf-8")
    return registry, verdicts, make_notebook(folder / "nb.ipynb"), DATA / "checkpoints_demo.xlsx"


def planned(pid: str) -> PlannedAudit:
    return PlannedAudit(
        provider_id=pid,
        provider_name=pid.title(),
        trigger=AuditTrigger.CERTIFICATE_EXPIRY,
        due_date=DAY + dt.timedelta(days=30),
        days_until_due=30,
        audit_date=DAY,
    )


def folder_of(pid: str) -> str:
    return f"{pid}_certificate_expiry_{DAY.isoformat()}"


def assert_no_kernel_template_left() -> None:
    """The workers' warm kernel templates (and their kernels) have gone with the workers;
    only this test process's own template, if a test started one, may remain."""
    deadline = time.monotonic() + 15
    while True:
        left = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                cmdline = (stat.parent / "cmdline").read_bytes()
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            mine = cmdline.startswith(sys.executable.encode())  # not another checkout's
            if mine and b"auditlib.batch.kernel_template" in cmdline and parent != os.getpid():
                left.append(stat.parent.name)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not left, f"kernel templates still running: {left}"


def statuses(result: Any) -> dict[str, str]:
    return {o.job.provider_id: o.status.value for o in result.outcomes}


def test_batch_runs_records_failures_resumes_and_redoes(tmp_path: Path) -> None:
    registry, verdicts, notebook, workbook = make_world(tmp_path, ["alpha", "beta", "boom"])
    out = tmp_path / "out"
    settings = BatchSettings(
        output_dir=out,
        registry_path=registry,
        checkpoints_path=workbook,
        notebook_path=notebook,
        workers=2,
        verdicts_dir=verdicts,
    )
    result = run_batch([planned("alpha"), planned("beta"), planned("boom")], settings)
    assert statuses(result) == {"alpha": "done", "beta": "done", "boom": "failed"}
    assert result.bottom_line.value == "failed"
    assert read_ledger(out / "ledger.jsonl")[0]["kernels"] == "forked"  # the default executor
    assert_no_kernel_template_left()

    # every output in place, hashed in the ledger
    alpha = out / folder_of("alpha")
    for name in (*REPORT_FILES, EXECUTED_NOTEBOOK):
        assert (alpha / name).is_file()
    findings = json.loads((alpha / "findings.json").read_text())
    assert findings["verdicts_path"] == str((verdicts / "alpha.yaml").resolve())
    # one scan for the batch, passed to the notebooks; the closed port is an ERROR result
    scans = Path(findings["scan_results_path"])
    assert scans.parent == out / "scans"
    (obs,) = load_observations(scans)
    assert obs.status.value == "ERROR" and obs.label.startswith("alpha/")

    # the failure: cell index, error, partial notebook kept; no folder for it
    (boom,) = [o for o in result.outcomes if o.job.provider_id == "boom"]
    assert boom.failure is not None
    assert boom.failure.cell_index == 2
    assert boom.failure.error_name == "ValueError"
    assert "always fails" in boom.failure.message
    assert boom.failure.notebook == out / FAILED_DIR / folder_of("boom") / EXECUTED_NOTEBOOK
    assert boom.failure.notebook.is_file()
    assert not (out / folder_of("boom")).exists()
    assert not (out / ".partial").exists()

    records = read_ledger(out / "ledger.jsonl")
    lines = (out / "ledger.jsonl").read_text("utf-8").splitlines()
    assert len(records) == len(lines)  # every line is valid JSON
    ends = {r["audit"]: r for r in records if r["event"] == "end"}
    assert ends[folder_of("boom")]["error"]["cell_index"] == 2
    assert set(ends[folder_of("alpha")]["outputs"]) == {
        f"{folder_of('alpha')}/{n}" for n in (*REPORT_FILES, EXECUTED_NOTEBOOK)
    }
    assert next(r["event"] for r in records) == "run_start" and records[-1]["event"] == "run_end"

    # rerun: nothing changed, nothing redone (not even rescanned endpoints change it)
    two = [planned("alpha"), planned("beta")]
    again = run_batch(two, settings)
    assert statuses(again) == {"alpha": "skipped", "beta": "skipped"}

    # a changed verdicts file redoes that audit only
    (verdicts / "beta.yaml").write_text("provider: beta\nverdicts: []\n# revu\n", "utf-8")
    changed = run_batch(two, settings)
    assert statuses(changed) == {"alpha": "skipped", "beta": "done"}

    # the notebook run and saved in JupyterLab (outputs, execution counts, metadata) redoes
    # nothing: only its cells' sources are an input
    book = nbformat.read(str(notebook), as_version=4)
    book.metadata["language_info"] = {"name": "python", "version": "3.11.2"}
    book.cells[2].outputs = [nbformat.v4.new_output("stream", text="x" * 1000)]
    book.cells[2].execution_count = 7
    nbformat.write(book, str(notebook))
    assert statuses(run_batch(two, settings)) == {"alpha": "skipped", "beta": "skipped"}

    # an auditor's working folder (auditlib new-audit) is never replaced, even with --force
    (out / folder_of("beta") / "audit.ipynb").write_text("{}", "utf-8")
    beta_files = {p.name: p.read_bytes() for p in (out / folder_of("beta")).iterdir()}
    kept = run_batch(two, BatchSettings(**{**settings.__dict__, "force": True}))
    assert statuses(kept) == {"alpha": "done", "beta": "skipped"}
    assert {p.name: p.read_bytes() for p in (out / folder_of("beta")).iterdir()} == beta_files
    skip = [r for r in read_ledger(out / "ledger.jsonl") if r.get("audit") == folder_of("beta")]
    assert "audit.ipynb" in skip[-1]["reason"]
    (out / folder_of("beta") / "audit.ipynb").unlink()

    # editing one provider's registry entry redoes that provider's audit only; a comment
    # or another layout of the same entries redoes nothing
    entries = json.loads(registry.read_text("utf-8"))
    entries["providers"][1]["name"] = "Beta renamed"
    registry.write_text(json.dumps(entries), "utf-8")
    assert statuses(run_batch(two, settings)) == {"alpha": "skipped", "beta": "done"}
    registry.write_text("# reviewed\n" + json.dumps(entries, indent=4), "utf-8")
    assert statuses(run_batch(two, settings)) == {"alpha": "skipped", "beta": "skipped"}

    # an output altered after the fact is not trusted
    (alpha / "report.html").write_text("edited by hand", "utf-8")
    assert statuses(run_batch(two, settings)) == {"alpha": "done", "beta": "skipped"}

    # --force redoes everything
    forced = run_batch(two, BatchSettings(**{**settings.__dict__, "force": True}))
    assert statuses(forced) == {"alpha": "done", "beta": "done"}
    assert all(json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines())


def test_notebook_digest_is_the_cells_sources_only(tmp_path: Path) -> None:
    notebook = make_notebook(tmp_path / "nb.ipynb")
    before = batch_module.notebook_source_digest(notebook)
    book = nbformat.read(str(notebook), as_version=4)
    book.metadata["widgets"] = {"state": {}}
    book.cells[0].outputs = [nbformat.v4.new_output("stream", text="saved output")]
    nbformat.write(book, str(notebook))
    assert batch_module.notebook_source_digest(notebook) == before
    book.cells[0].source += "\nlanguage = 'en'"
    nbformat.write(book, str(notebook))
    assert batch_module.notebook_source_digest(notebook) != before
    (tmp_path / "broken.ipynb").write_text("{not json", "utf-8")
    with pytest.raises(BatchError, match=r"broken\.ipynb"):
        batch_module.notebook_source_digest(tmp_path / "broken.ipynb")


def test_interrupted_batch_leaves_no_complete_looking_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry, _verdicts, notebook, workbook = make_world(tmp_path, ["gamma", "delta"])
    out = tmp_path / "out"
    settings = BatchSettings(
        output_dir=out,
        registry_path=registry,
        checkpoints_path=workbook,
        notebook_path=notebook,
        workers=1,
    )
    real_replace = batch_module._replace_folder

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the first finished audit is being put in place

    monkeypatch.setattr(batch_module, "_replace_folder", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_batch([planned("gamma"), planned("delta")], settings)
    assert not (out / folder_of("gamma")).exists()
    assert not (out / folder_of("delta")).exists()
    records = read_ledger(out / "ledger.jsonl")
    assert records[-1]["event"] == "run_end" and records[-1]["status"] == "interrupted"
    assert not [r for r in records if r["event"] == "end"]

    monkeypatch.setattr(batch_module, "_replace_folder", real_replace)
    resumed = run_batch([planned("gamma"), planned("delta")], settings)
    assert statuses(resumed) == {"gamma": "done", "delta": "done"}
    assert not (out / ".partial").exists()


@pytest.mark.parametrize(
    ("executor", "warm"),
    [("fork", True), ("kernel", True), ("kernel", False)],
    ids=["forked", "warm-kernels", "cold-kernels"],
)
def test_a_dead_worker_fails_its_audit_and_the_batch_goes_on(
    tmp_path: Path, executor: str, warm: bool
) -> None:
    registry, _, notebook, workbook = make_world(tmp_path, ["crash", "omega"])
    out = tmp_path / "out"
    settings = BatchSettings(
        output_dir=out,
        registry_path=registry,
        checkpoints_path=workbook,
        notebook_path=notebook,
        workers=1,
        warm_kernels=warm,
        executor=executor,
    )
    result = run_batch([planned("crash"), planned("omega")], settings)
    assert statuses(result) == {"crash": "failed", "omega": "done"}
    (crash,) = [o for o in result.outcomes if o.job.provider_id == "crash"]
    assert crash.failure is not None and crash.failure.error_name == "BrokenProcessPool"
    assert not (out / folder_of("crash")).exists()
    assert (out / folder_of("omega") / "findings.json").is_file()


def test_batch_cli_on_the_demo_plan_signs_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditlib.testing.pki import TestPki

    pki = TestPki.create()
    seal = pki.issue("EDC PSC AUDIT ORG SIGN", "sign", organisation="CABINET AUDIT DEMO")
    p12 = tmp_path / "seal.p12"
    p12.write_bytes(seal.pkcs12(b"seal-pass", [pki.issuing.certificate]))
    monkeypatch.setenv("TEST_SEAL_PASS", "seal-pass")
    notebook = make_notebook(tmp_path / "nb.ipynb")
    scans = save_observations(tmp_path / "scans.json", [])
    out = tmp_path / "out"
    argv = [
        "batch",
        "--registry",
        str(DATA / "registry.yaml"),
        "--checkpoints",
        str(DATA / "checkpoints_demo.xlsx"),
        "--as-of",
        "2027-01-10",
        "--within",
        "0d",
        "--scan-results",
        str(scans),
        "--notebook",
        str(notebook),
        "--output",
        str(out),
        "--workers",
        "1",
        "--json",
    ]
    sign = ["--sign", "--p12", str(p12), "--pass-env", "TEST_SEAL_PASS"]
    assert main([*argv, *sign]) == 0
    summary = json.loads(capsys.readouterr().out)
    # overdue on 2027-01-10: medicab (2026-12-23) and proxisante-editions (2027-01-07)
    assert summary["done"] == 2 and summary["failed"] == 0
    assert all(a["signed"] is True for a in summary["audits"])
    audit = next(a for a in summary["audits"] if a["provider_id"] == "proxisante-editions")
    assert audit["signed"] is True
    folder = out / "proxisante-editions_certificate_expiry_2027-01-10"
    assert (folder / SIGNED_PDF).read_bytes().startswith(b"%PDF")
    reference = json.loads((folder / "findings.json").read_text())["trigger_reference"]
    assert "expire le 2027-01-07" in reference
    (end,) = [
        r
        for r in read_ledger(out / "ledger.jsonl")
        if r["event"] == "end" and r["audit"] == folder.name
    ]
    assert end["signed"] is True and f"{folder.name}/{SIGNED_PDF}" in end["outputs"]

    assert read_ledger(out / "ledger.jsonl")[0]["kernels"] == "forked"

    # a rerun without signing keeps the audit (up to date); exit 0
    assert main([*argv, "--cold-kernels"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 2
    assert main([*argv, "--executor", "kernel"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"] == 2
    starts = [r for r in read_ledger(out / "ledger.jsonl") if r["event"] == "run_start"]
    assert [s["kernels"] for s in starts[-2:]] == ["cold", "warm"]

    # an up-to-date audit made without signing is signed without executing it again
    other = tmp_path / "other"
    unsigned = [a if a != str(out) else str(other) for a in argv]
    assert main(unsigned) == 0
    capsys.readouterr()
    executed = (other / folder.name / EXECUTED_NOTEBOOK).read_bytes()
    assert main([*unsigned, *sign]) == 0
    assert json.loads(capsys.readouterr().out)["audits"][0]["signed"] is True
    assert (other / folder.name / SIGNED_PDF).is_file()
    assert (other / folder.name / EXECUTED_NOTEBOOK).read_bytes() == executed
    last = [r for r in read_ledger(other / "ledger.jsonl") if r["event"] == "end"][-1]
    assert last["note"] == "outputs up to date; signed only" and last["signed"] is True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--notebook", "/nonexistent.ipynb"], "notebook"),
        (["--workers", "0"], "--workers"),
        (["--sign"], "--sign needs"),
        (["--p12", "x.p12"], "needs --sign"),
        (["--ca-dir", "/nonexistent-ca"], "--ca-dir"),
        (["--crl-source", "/nonexistent-crl.yaml"], "--crl-source /nonexistent-crl.yaml"),
        (["--within", "forever"], "bad duration"),
        (["--timeout", "0"], "--timeout"),
    ],
)
def test_batch_cli_bad_input_exits_2(
    tmp_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["batch", "--registry", str(DATA / "registry.yaml"), "--output", str(tmp_path / "o")]
    assert main([*argv, "--as-of", "2026-11-28", *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_crl_source_reaches_every_notebook_and_counts_among_the_inputs(tmp_path: Path) -> None:
    """`--crl-source`: each notebook gets it as `crl_source` (absolute); changing its
    content changes the audit's input hashes (the batch redoes the audit)."""
    registry, _, notebook, workbook = make_world(tmp_path, ["alpha"])
    source = tmp_path / "crl-source.yaml"
    source.write_text("folder: crls/\n", "utf-8")
    (job,) = batch_module.group_jobs([planned("alpha")])
    settings = BatchSettings(
        output_dir=tmp_path / "out",
        registry_path=registry,
        checkpoints_path=workbook,
        notebook_path=notebook,
        crl_source=source,
    )
    batch_module.check_settings(settings)
    params = batch_module._parameters(job, settings, tmp_path / "out", None)
    assert params["crl_source"] == str(source.resolve())
    without = batch_module._parameters(
        job, BatchSettings(output_dir=tmp_path / "out"), tmp_path / "out", None
    )
    assert without["crl_source"] is None

    from auditlib.registry import load_registry

    def hashes() -> dict[str, str | None]:
        return batch_module._input_hashes(job, settings, load_registry(registry), [], {}, {})

    before = hashes()
    source.write_text("folder: other-crls/\n", "utf-8")
    after = hashes()
    assert before["crl_source"] != after["crl_source"]
    assert before["parameters"] == after["parameters"]


def test_batch_refuses_a_second_batch_on_the_same_folder(tmp_path: Path) -> None:
    registry, _, notebook, workbook = make_world(tmp_path, ["alpha"])
    out = tmp_path / "out"
    settings = BatchSettings(
        output_dir=out, registry_path=registry, checkpoints_path=workbook, notebook_path=notebook
    )
    out.mkdir()
    with batch_module._locked(out), pytest.raises(BatchError, match="already running"):
        run_batch([planned("alpha")], settings)


def test_kernel_start_races_are_recognised() -> None:
    class ZMQError(Exception):
        pass

    assert is_kernel_start_race(ZMQError("Address already in use (addr='tcp://127.0.0.1:5555')"))
    assert is_kernel_start_race(RuntimeError("Kernel died before replying to kernel_info"))
    assert not is_kernel_start_race(RuntimeError("something else"))
    assert not is_kernel_start_race(ValueError("Kernel died before replying"))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty", [True, False])
def test_progress_display(tty: bool) -> None:
    stream = _Terminal() if tty else io.StringIO()
    progress = Progress(3, stream)
    progress.update("a", AuditStatus.DONE)
    progress.update("b", AuditStatus.SKIPPED)
    progress.update("c", AuditStatus.FAILED)
    text = stream.getvalue()
    assert "1 done, 1 up to date, 1 failed, 0 remaining" in text
    if tty:
        assert text.startswith("\r[") and text.count("\r") == 3 and text.endswith("\n")
    else:
        assert text.splitlines()[0].startswith("batch: a done (1 done, 0 up to date, 0 failed, 2")
        assert len(text.splitlines()) == 3
