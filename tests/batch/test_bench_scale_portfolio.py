"""bench_scale.py's synthetic portfolio is a valid registry whose cloned bundles load."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from auditlib.evidence.bundle import load_bundle
from auditlib.evidence.model import FindingCode
from auditlib.registry import load_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_scale", ROOT / "benchmarks" / "bench_scale.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    return module


def test_portfolio_clones_load(bench: ModuleType, tmp_path: Path) -> None:
    registry_path, ids = bench.make_portfolio(tmp_path, 8)
    registry = load_registry(registry_path)
    assert [p.id for p in registry.providers] == ids
    assert len(set(ids)) == 8
    assert ids[0] == "proxisante-editions-c000" and ids[6] == "proxisante-editions-c001"
    demo = {p.id: p for p in load_registry(ROOT / "data" / "registry.yaml").providers}
    for provider in registry.providers:
        original = demo[provider.id.rsplit("-c", 1)[0]]
        assert len(provider.habilitations) == len(original.habilitations)
        assert all(h.number.endswith(provider.id[-4:].upper()) for h in provider.habilitations)
        # the clone's bundle (folder or zip) loads under the clone's id, not the demo's
        bundle = load_bundle(provider.evidence_bundle, provider_id=provider.id)
        assert bundle.provider_id == provider.id
        assert FindingCode.PROVIDER_MISMATCH not in {f.code for f in bundle.findings}
        wrong = load_bundle(provider.evidence_bundle, provider_id=original.id)
        assert FindingCode.PROVIDER_MISMATCH in {f.code for f in wrong.findings}
    # references between the demo's providers stay inside the clone group
    relies = next(p for p in registry.providers if p.id == "medicab-c000").relies_on
    assert relies and all(r.endswith("-C000") for r in relies)


def test_sample_cycles_through_providers(bench: ModuleType) -> None:
    ids = [f"p{i % 6}-g{i // 6}" for i in range(24)]
    sample = bench.sample_of(bench.planned(ids), 6)
    assert sorted(a.provider_id.split("-")[0] for a in sample) == [f"p{i}" for i in range(6)]
    assert len({a.provider_id for a in sample}) == 6
