"""`auditlib checkpoints WORKBOOK --check-mapping [--mapping FILE]`: every automated check,
its requirements and the controls of the workbook it reaches; exit 1 when one reaches none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from auditlib.checkpoints.reader import load_checkpoints
from auditlib.cli import main
from auditlib.resources import profile_path
from auditlib.testing.workbooks import renumbered, rows_from_grid, write_workbook

DEMO = Path(__file__).resolve().parents[2] / "data" / "checkpoints_demo.xlsx"


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workbook numbered otherwise (101 -> 201, ...), as the real ANS one may be."""
    rows = renumbered(rows_from_grid(load_checkpoints(DEMO)), offset=100)
    return write_workbook(tmp_path_factory.mktemp("wb") / "numbered-otherwise.xlsx", rows)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["checkpoints", *args])
    out, err = capsys.readouterr()
    return code, out, err


def realigned_mapping(folder: Path, offset: int = 100) -> Path:
    """A copy of the packaged assessment profile with every requirement number shifted."""
    raw = yaml.safe_load(profile_path("assessment.yaml").read_text(encoding="utf-8"))
    supervision = yaml.safe_load(profile_path("supervision.yaml").read_text(encoding="utf-8"))

    def shift(ids: list[str]) -> list[str]:
        return [f"EXI EDC PSC {int(i.split()[-1]) + offset}" for i in ids]

    for spec in raw["checks"].values():
        if spec and "requirements" in spec:
            spec["requirements"] = shift(spec["requirements"])
    raw["rule_requirements"] = {
        "R3": ["EXI EDC PSC 215"],
        **{k: shift(v) for k, v in raw["rule_requirements"].items()},
    }
    from auditlib.tls.rules import load_profile

    for rule in load_profile().rules:
        if rule.requirement and rule.id not in raw["rule_requirements"]:
            raw["rule_requirements"][rule.id] = shift([rule.requirement])
    raw["supervision_requirements"] = {
        name: shift(spec.get("requirements", [])) for name, spec in supervision["checks"].items()
    }
    path = folder / "mapping-ans.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_every_check_reaches_a_control_of_the_demo_workbook(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, str(DEMO), "--check-mapping", "--format", "json")
    assert code == 0, err
    record = json.loads(out)
    assert record["unreached"] == 0
    checks = {c["check"]: c for c in record["checks"]}
    # TLS hygiene is ANSSI (115); the IGC-Santé key policy (116) keeps its own checks
    assert checks["tls/R27"]["requirements"] == ["EXI EDC PSC 115"]
    assert checks["tls/R35"]["requirements"] == ["EXI EDC PSC 115"]
    assert checks["tls/IGC-ANCRE"]["requirements"] == ["EXI EDC PSC 116"]
    assert checks["key_policy"]["requirements"] == ["EXI EDC PSC 116"]
    assert "EXI EDC PSC 115/APRES/1" in checks["tls/R4"]["controls"]
    # a proxy-side anomaly never fails 101 (its PENDANT object is a capability of PSC and
    # of the target service: profiles/supervision.yaml `not_evidenced`)
    # and a trace export examined at audit time is APRÈS evidence too (assessment.yaml)
    assert checks["supervision/send_session"]["controls"] == [
        "EXI EDC PSC 112/PENDANT/1",
        "EXI EDC PSC 112/APRES/1",
    ]
    assert checks["tls/HSTS"]["state"] == "informative"
    assert checks["evidence_missing"]["state"] == "dynamic"
    for c in record["checks"]:
        assert c["state"] in ("ok", "informative", "dynamic")


def test_a_workbook_numbered_otherwise_exits_1_naming_each_check(
    capsys: pytest.CaptureFixture[str], other: Path
) -> None:
    code, out, err = run(capsys, str(other), "--check-mapping")
    assert code == 1
    assert "tls/R4 " in out and "UNREACHED" in out
    assert "supervision/trace_gap" in err and "pentest" in err and "--mapping FILE" in err
    # HSTS is informative: never listed among the failures
    assert "HSTS" not in err
    assert "tls/HSTS" in out and "informative" in out


def test_a_realigned_mapping_file_makes_it_pass(
    capsys: pytest.CaptureFixture[str], other: Path, tmp_path: Path
) -> None:
    mapping = realigned_mapping(tmp_path)
    code, out, err = run(capsys, str(other), "--check-mapping", "--mapping", str(mapping))
    assert code == 0, err
    assert "EXI EDC PSC 215" not in out  # numbers shown short
    assert "215/APRES/1" in out
    assert str(mapping) in out


def test_mapping_only_goes_with_check_mapping(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(DEMO), "--mapping", "x.yaml")
    assert code == 2 and "--check-mapping" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("not: [a, mapping", "cannot be used"),
        ("checks: {}\nremediation_days: {}\n", "default_severity"),
        (
            "checks: {pentest: {requirements: [nonsense]}}\ndefault_severity: medium\n",
            "checks.pentest.requirements",
        ),
        (
            "checks: {tls: {}}\ndefault_severity: medium\nrule_requirements: {R4: [x1]}\n",
            "rule_requirements.R4",
        ),
        ("- a list\n", "not a YAML mapping"),
    ],
)
def test_a_broken_mapping_file_is_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    code, _, err = run(capsys, str(DEMO), "--check-mapping", "--mapping", str(path))
    assert code == 2
    assert str(path) in err and expected in err
    assert "Traceback" not in err


def test_a_missing_mapping_file_names_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, str(DEMO), "--check-mapping", "--mapping", str(tmp_path / "no.yaml"))
    assert code == 2 and "no.yaml" in err


def test_filters_narrow_the_controls_a_check_may_reach(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, str(DEMO), "--check-mapping", "--phase", "PENDANT", "--format", "json"
    )
    checks = {c["check"]: c for c in json.loads(out)["checks"]}
    assert code == 1  # AVANT/APRÈS-only checks reach nothing in PENDANT alone
    assert checks["pentest"]["state"] == "UNREACHED"
    # a scan at audit time is AVANT/APRÈS evidence, never continuous supervision (PENDANT)
    assert checks["tls/R4"]["controls"] == []
    assert checks["tls/R4"]["state"] == "UNREACHED"
