"""The provider's corrective plan: manifest kind `corrective_plan` with its actions and dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from auditlib.audit.plan import actions_for, corrective_actions
from auditlib.demo.data import manifest_entry
from auditlib.evidence import FindingCode, ItemKind, load_bundle
from auditlib.testing.pki import TestPki
from tests.evidence.factory import AS_OF, clean_files, make_bundle

PLAN = b"# Plan d'actions correctives\n\n1. TLS 1.0 desactive au 15/01/2027.\n"


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create()


def with_plan(pki: TestPki, folder: Path, **plan: Any) -> Path:
    files, items = clean_files(pki)
    files["plan/plan-actions.md"] = PLAN
    items.append(
        manifest_entry("plan/plan-actions.md", PLAN, "corrective_plan", [115], AS_OF.date(), **plan)
    )
    return make_bundle(folder, pki, files=files, items=items)


def test_actions_and_dates_are_read_and_targets_normalised(tmp_path: Path, pki: TestPki) -> None:
    actions = [
        {
            "action": "Désactiver TLS 1.0 et 1.1",
            "due": "2027-01-15",
            "targets": [115],
            "owner": "DSI",
        },
        {
            "action": "Activer l'agrafage OCSP",
            "due": "2026-12-20",
            "targets": "exi-edc-psc-115/apres/1",
        },
    ]
    bundle = load_bundle(
        with_plan(pki, tmp_path / "b", corrective_plan={"actions": actions}), as_of=AS_OF
    )
    assert bundle.usable and bundle.findings == ()
    item = next(i for i in bundle.items if i.kind is ItemKind.CORRECTIVE_PLAN)
    assert [a.targets for a in item.corrective_actions] == [
        ("EXI EDC PSC 115",),
        ("EXI EDC PSC 115/APRES/1",),
    ]
    assert item.corrective_actions[0].due == dt.date(2027, 1, 15)
    found = corrective_actions(bundle)
    assert [a.plan for a in found] == ["plan/plan-actions.md"] * 2
    assert [a.action for a in actions_for(found, "EXI EDC PSC 115/APRES/1")] == [
        "Activer l'agrafage OCSP",
        "Désactiver TLS 1.0 et 1.1",
    ]
    assert actions_for(found, "EXI EDC PSC 116/APRES/1") == []


def test_a_tampered_plan_is_not_shown(tmp_path: Path, pki: TestPki) -> None:
    actions = [{"action": "x", "due": "2027-01-15", "targets": [115]}]
    folder = with_plan(pki, tmp_path / "b", corrective_plan={"actions": actions})
    (folder / "plan/plan-actions.md").write_bytes(b"rewritten after filing\n")
    bundle = load_bundle(folder, as_of=AS_OF)
    assert FindingCode.HASH_MISMATCH in [f.code for f in bundle.findings]
    assert corrective_actions(bundle) == []


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        ({}, "corrective_plan.actions"),
        ({"corrective_plan": {"actions": []}}, "actions"),
        ({"corrective_plan": {"actions": [{"action": "x", "targets": [115]}]}}, "due"),
        (
            {"corrective_plan": {"actions": [{"action": "x", "due": "demain", "targets": [1]}]}},
            "due",
        ),
        (
            {"corrective_plan": {"actions": [{"action": "x", "due": "2027-01-01", "targets": []}]}},
            "targets",
        ),
        (
            {
                "corrective_plan": {
                    "actions": [{"action": "x", "due": "2027-01-01", "targets": ["?"]}]
                }
            },
            "neither a control ref nor a requirement id",
        ),
        (
            {"corrective_plan": {"actions": [{"action": "", "due": "2027-01-01", "targets": [1]}]}},
            "action",
        ),
    ],
)
def test_a_broken_plan_entry_makes_the_manifest_invalid(
    tmp_path: Path, pki: TestPki, plan: dict[str, Any], expected: str
) -> None:
    bundle = load_bundle(with_plan(pki, tmp_path / "b", **plan), as_of=AS_OF)
    assert not bundle.usable
    assert FindingCode.MANIFEST_INVALID in [f.code for f in bundle.findings]
    assert any(expected in f.message for f in bundle.findings), [f.message for f in bundle.findings]


def test_a_plan_only_goes_with_its_kind(tmp_path: Path, pki: TestPki) -> None:
    files, items = clean_files(pki)
    items[0]["corrective_plan"] = {
        "actions": [{"action": "x", "due": "2027-01-01", "targets": [115]}]
    }
    bundle = load_bundle(make_bundle(tmp_path / "b", pki, files=files, items=items), as_of=AS_OF)
    assert not bundle.usable
    assert any("only for an item of kind corrective_plan" in f.message for f in bundle.findings)
