"""`auditlib evidence`: exit codes, JSON, coverage with a real checkpoint workbook; demo data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditlib.cli import main
from auditlib.demo.data import DEMO_DATE
from auditlib.evidence import FindingCode, load_bundle
from auditlib.registry import load_registry
from auditlib.requirements import Actor
from auditlib.testing.pki import TestPki
from tests.evidence.factory import AS_OF, make_bundle

DATA = Path(__file__).resolve().parents[2] / "data"
WORKBOOK = DATA / "checkpoints_demo.xlsx"
DAY = AS_OF.date().isoformat()


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return TestPki.create(now=AS_OF, key=("ec", 256))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["evidence", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_bundle_exits_0(
    tmp_path: Path, pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    code, out, _ = run(capsys, str(folder), "--as-of", DAY)
    assert code == 0
    assert "Bottom line: clean" in out
    assert "Content SHA-256" in out


def test_findings_exit_1_and_json(
    tmp_path: Path, pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    (folder / "cgu/engagement-cgu.txt").write_text("changed")
    code, out, _ = run(capsys, str(folder), "--as-of", DAY, "--json")
    assert code == 1
    payload = json.loads(out)
    assert payload["bottom_line"] == "findings"
    assert [f["code"] for f in payload["findings"]] == ["hash_mismatch"]


def test_unusable_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    code, out, _ = run(capsys, str(bad))
    assert code == 2
    assert "Bottom line: unusable" in out


def test_missing_path_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope"))
    assert code == 2
    assert err.startswith("auditlib evidence: error:") and "Traceback" not in err


def test_coverage_with_the_demo_workbook(
    tmp_path: Path, pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    code, out, _ = run(
        capsys,
        str(folder),
        "--as-of",
        DAY,
        "--checkpoints",
        str(WORKBOOK),
        "--actor",
        "fs_utilisateur",
        "--json",
    )
    assert code == 0
    cov = json.loads(out)["coverage"]
    from auditlib.checkpoints.reader import load_checkpoints

    applicable = load_checkpoints(WORKBOOK).requirement_ids(Actor.FS_UTILISATEUR)
    assert list(cov["requirements"]) == applicable
    assert cov["requirements"]["EXI EDC PSC 102"] == ["cgu/engagement-cgu.txt"]
    assert "EXI EDC PSC 104" in cov["without_evidence"]
    assert "EXI EDC PSC 101" not in cov["requirements"]  # not applicable to fs_utilisateur


def test_unknown_requirement_against_the_workbook(
    tmp_path: Path, pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.evidence.factory import clean_files

    files, items = clean_files(pki)
    items[1]["requirements"] = ["101", "999"]
    folder = make_bundle(tmp_path / "b", pki, files=files, items=items)
    code, out, _ = run(capsys, str(folder), "--as-of", DAY, "--checkpoints", str(WORKBOOK))
    assert code == 1
    assert "unknown_requirement" in out and "EXI EDC PSC 999" in out
    assert "Coverage of 28 requirement(s)" in out


def test_bad_checkpoint_file_exits_2(
    tmp_path: Path, pki: TestPki, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_bundle(tmp_path / "b", pki)
    bogus = tmp_path / "grid.xlsx"
    bogus.write_bytes(b"not a workbook")
    code, _, err = run(capsys, str(folder), "--checkpoints", str(bogus))
    assert code == 2
    assert "error" in err


EXPECTED_DEMO = {
    "proxisante-editions": set(),
    "medilogic": {FindingCode.HASH_MISMATCH},
    "cloudproxy-sante": {FindingCode.PENTEST_OUTDATED},
    "medicab": {FindingCode.PENTEST_MISSING},
    "santexpress": {FindingCode.CONFORMITE_SECTION_MISSING, FindingCode.CONFORMITE_SECTION_EMPTY},
    "proxylink": set(),
}


def test_demo_registry_and_bundles_show_their_intended_states() -> None:
    registry = load_registry(DATA / "registry.yaml")
    assert len(registry) >= 6
    assert {r for p in registry for r in p.roles} == set(Actor)
    ports = [e.port for p in registry for e in p.endpoints]
    assert len(ports) == len(set(ports)) and all(18441 <= port <= 18460 for port in ports)
    assert any(
        e.mtls and e.client_key and e.key_passphrase_env for p in registry for e in p.endpoints
    )
    assert any(p.evidence_bundle.suffix == ".zip" for p in registry)
    expiring = 0
    for provider in registry:
        bundle = load_bundle(
            provider.evidence_bundle,
            as_of=DEMO_DATE,
            provider_id=provider.id,
            known_requirements=[f"EXI EDC PSC {n}" for n in range(101, 129)],
        )
        assert bundle.usable
        assert {f.code for f in bundle.findings} == EXPECTED_DEMO[provider.id], provider.id
        current = bundle.current_certificate
        assert current is not None and current.lifetime_days >= 3 * 365 - 1
        expiring += current.days_until_expiry(DEMO_DATE) <= 90
    assert expiring >= 2
    size = sum(f.stat().st_size for f in DATA.rglob("*") if f.is_file())
    assert size < 2 * 1024 * 1024


def test_provider_from_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "santexpress",
        "--registry",
        str(DATA / "registry.yaml"),
        "--checkpoints",
        str(WORKBOOK),
        "--as-of",
        DEMO_DATE.date().isoformat(),
        "--json",
    )
    assert code == 1
    payload = json.loads(out)
    assert payload["provider_id"] == "santexpress"
    assert payload["coverage"]["roles"] == ["fs_utilisateur", "editeur_utilisateur"]
    from auditlib.checkpoints.reader import load_checkpoints

    grid = load_checkpoints(WORKBOOK)
    union = set(grid.requirement_ids(Actor.FS_UTILISATEUR)) | set(
        grid.requirement_ids(Actor.EDITEUR_UTILISATEUR)
    )
    assert set(payload["coverage"]["requirements"]) == union
    code, _, err = run(capsys, "nobody", "--registry", str(DATA / "registry.yaml"))
    assert code == 2 and "known ids: proxisante-editions" in err
