"""`auditlib traces --registry --provider`: the registered subject comes from the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditlib.cli import main
from auditlib.testing.traces import generate_traces

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "data" / "registry.yaml"


def test_expected_subject_is_read_from_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "traces.json"
    registered = "CN=medicab.demo.esante.test,O=MEDICAB SERVICES,C=FR"
    generate_traces(20, client_dn="/C=FR/O=MEDICAB SERVICES/CN=medicab.demo.esante.test").write(
        export
    )
    args = ["traces", str(export), "--provider", "medicab", "--registry", str(REGISTRY), "--json"]
    assert main(args) == 0, capsys.readouterr()
    clean = json.loads(capsys.readouterr().out)
    assert clean["expected_client_subject"] == registered
    generate_traces(20, client_dn="CN=intrus.example,O=AUTRE,C=FR").write(export)
    assert main(args) == 1
    found = json.loads(capsys.readouterr().out)
    assert any(f["check"] == "client_dn" for f in found["findings"])


def test_registry_needs_a_known_provider(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "traces.json"
    generate_traces(5).write(export)
    assert main(["traces", str(export), "--registry", str(REGISTRY)]) == 2
    assert "--registry needs --provider" in capsys.readouterr().err
    assert main(["traces", str(export), "--registry", str(REGISTRY), "--provider", "nobody"]) == 2
    assert "no provider 'nobody'" in capsys.readouterr().err
