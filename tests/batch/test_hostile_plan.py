"""One hostile provider stops nothing (issue 16): `plan` prints the plan of the others and
lists the problem (exit 2); `batch` records that provider as failed in the ledger, with the
reason, and runs the others (exit 2)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from auditlib.batch import plan as plan_module
from auditlib.batch.plan import PlanProblem, plan_audits
from auditlib.batch.runner import read_ledger
from auditlib.cli import main
from auditlib.demo.data import manifest_entry
from auditlib.errors import PlanError
from auditlib.registry import load_registry
from auditlib.testing.pki import TestPki
from auditlib.tls.scan import save_observations
from tests.batch.test_runner import make_notebook
from tests.evidence.factory import AS_OF, clean_files, make_bundle
from tests.evidence.test_hostile_manifest import unknown_key_algorithm_certificate

DATA = Path(__file__).resolve().parents[2] / "data"
AS_OF_TEXT = AS_OF.date().isoformat()
WINDOW = "800d"  # the factory's certificate expires 695 days after AS_OF


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create(now=AS_OF, key=("ec", 256))


def make_registry(folder: Path, pki: TestPki) -> Path:
    """good: a clean bundle; datebad: `prepared_on: 2026-02-30`; deep: a zip of 2,000
    nested folders; bigint: a 5000-digit version; oddkey: a certificate whose key
    algorithm is unknown (it used to raise ValueError out of the plan)."""
    good = make_bundle(folder / "bundles" / "good", pki, provider="good")
    datebad = make_bundle(folder / "bundles" / "datebad", pki, provider="datebad")
    manifest = datebad / "manifest.yaml"
    manifest.write_text(
        manifest.read_text("utf-8").replace("version: 1", "version: 1\nprepared_on: 2026-02-30"),
        "utf-8",
    )
    bigint = make_bundle(folder / "bundles" / "bigint", pki, provider="bigint")
    manifest = bigint / "manifest.yaml"
    manifest.write_text(
        manifest.read_text("utf-8").replace("version: 1", "version: " + "9" * 5000), "utf-8"
    )
    files, items = clean_files(pki)
    odd = unknown_key_algorithm_certificate(pki)
    files["certs/odd.pem"] = odd
    items.append(
        manifest_entry("certs/odd.pem", odd, "certificate", [116], AS_OF.date(), certificate={})
    )
    oddkey = make_bundle(
        folder / "bundles" / "oddkey", pki, files=files, items=items, provider="oddkey"
    )
    deep = folder / "bundles" / "deep.zip"
    with zipfile.ZipFile(deep, "w") as archive:
        archive.writestr("manifest.yaml", "version: 1\nprovider: deep\nitems: []\n")
        archive.writestr("/".join(["d"] * 2000) + "/f.txt", "x")
    providers = [
        {
            "id": pid,
            "name": pid.title(),
            "habilitation": f"EDC-EP-2024-{index:04d}",
            "roles": ["editeur_proxy"],
            "evidence_bundle": str(bundle),
        }
        for index, (pid, bundle) in enumerate(
            [
                ("good", good),
                ("datebad", datebad),
                ("deep", deep),
                ("bigint", bigint),
                ("oddkey", oddkey),
            ]
        )
    ]
    registry = folder / "registry.yaml"
    registry.write_text(json.dumps({"version": 1, "providers": providers}), "utf-8")
    return registry


def test_plan_api_collects_problems_and_plans_the_others(tmp_path: Path, pki: TestPki) -> None:
    registry = load_registry(make_registry(tmp_path, pki))
    problems: list[PlanProblem] = []
    audits = plan_audits(registry, AS_OF, plan_module.parse_duration(WINDOW), problems=problems)
    # oddkey's readable certificate is planned; the unreadable one is a problem
    assert sorted(a.provider_id for a in audits) == ["good", "oddkey"]
    reasons = {p.provider_id: p.reason for p in problems}
    assert set(reasons) == {"datebad", "deep", "bigint", "oddkey"}
    assert "certs/odd.pem" in reasons["oddkey"] and "expiry is unknown" in reasons["oddkey"]
    assert "day is out of range" in reasons["datebad"]
    assert "niveaux" in reasons["deep"] or "caractères" in reasons["deep"]
    assert "number too long" in reasons["bigint"]


def test_an_exception_in_one_provider_does_not_stop_the_plan(
    tmp_path: Path, pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = load_registry(make_registry(tmp_path, pki))
    real = plan_module.load_bundle

    def fragile(path: Any, **kwargs: Any) -> Any:
        if kwargs.get("provider_id") == "datebad":
            raise RecursionError("maximum recursion depth exceeded")  # what 2,000 folders did
        return real(path, **kwargs)

    monkeypatch.setattr(plan_module, "load_bundle", fragile)
    problems: list[PlanProblem] = []
    audits = plan_audits(registry, AS_OF, plan_module.parse_duration(WINDOW), problems=problems)
    assert sorted(a.provider_id for a in audits) == ["good", "oddkey"]
    assert problems[0] == PlanProblem("datebad", "RecursionError: maximum recursion depth exceeded")
    with pytest.raises(PlanError, match="provider 'datebad'"):  # without `problems`: one error
        plan_audits(registry, AS_OF, plan_module.parse_duration(WINDOW))


def test_plan_cli_prints_the_others_and_exits_2(
    tmp_path: Path, pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = make_registry(tmp_path, pki)
    common = ["plan", "--registry", str(registry), "--as-of", AS_OF_TEXT, "--within", WINDOW]
    assert main([*common, "--json"]) == 2
    payload = json.loads(capsys.readouterr().out)
    assert sorted(a["provider_id"] for a in payload["audits"]) == ["good", "oddkey"]
    assert {p["provider_id"] for p in payload["problems"]} == {
        "datebad",
        "deep",
        "bigint",
        "oddkey",
    }
    assert all(set(p) == {"provider_id", "reason"} for p in payload["problems"])
    assert main(common) == 2
    out = capsys.readouterr().out
    assert "good" in out and "4 provider(s) not fully planned" in out and "Traceback" not in out


def test_plan_as_of_the_last_representable_day_is_one_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["plan", "--registry", str(DATA / "registry.yaml"), "--as-of", "9999-12-31"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.notebook
def test_batch_records_the_broken_providers_and_runs_the_others(
    tmp_path: Path, pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = make_registry(tmp_path, pki)
    scans = save_observations(tmp_path / "scans.json", [])
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            "--registry",
            str(registry),
            "--as-of",
            AS_OF_TEXT,
            "--within",
            WINDOW,
            "--checkpoints",
            str(DATA / "checkpoints_demo.xlsx"),
            "--scan-results",
            str(scans),
            "--notebook",
            str(make_notebook(tmp_path / "nb.ipynb")),
            "--workers",
            "1",
            "--output",
            str(out),
            "--json",
        ]
    )
    assert code == 2
    summary = json.loads(capsys.readouterr().out)
    seen = {(a["provider_id"], a["status"]) for a in summary["audits"]}
    assert ("good", "done") in seen and ("good", "failed") not in seen
    # oddkey: its readable certificate's audit ran; its unreadable one is recorded
    assert {("oddkey", "done"), ("oddkey", "failed")} <= seen
    unplanned = {a["provider_id"]: a for a in summary["audits"] if a["status"] == "failed"}
    for pid in ("datebad", "deep", "bigint", "oddkey"):
        assert unplanned[pid]["failure"]["error_name"] == "PlanError"
    ends = {r["audit"]: r for r in read_ledger(out / "ledger.jsonl") if r["event"] == "end"}
    assert ends["datebad_unplanned"]["status"] == "failed"
    assert "day is out of range" in ends["datebad_unplanned"]["error"]["message"]
    assert (out / f"good_certificate_expiry_{AS_OF_TEXT}" / "findings.json").is_file()
