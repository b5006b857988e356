"""Registry format 2: habilitations as data, v1 converted on load, dependency issues."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from auditlib.errors import RegistryError
from auditlib.registry import (
    DependencyProblem,
    Environment,
    HabilitationStatus,
    Registry,
    load_registry,
)
from auditlib.requirements import Actor

V2 = """\
version: 2
providers:
  - id: ep
    name: Proxy Soft
    habilitations:
      - {number: EDC-EP-1, role: editeur_proxy, issued: 2025-01-01}
    evidence_bundle: b
  - id: fp
    name: Proxy Ops
    relies_on: [EDC-EP-1]
    habilitations:
      - {number: EDC-FP-1, role: fs_proxy, issued: 2024-06-01, environment: production}
    evidence_bundle: b
  - id: elu
    name: Logiciel
    habilitations:
      - {number: EDC-EU-1, role: editeur_utilisateur, issued: 2024-01-01, proxy: EDC-EP-1}
      - {number: EDC-EU-2, role: editeur_utilisateur, issued: 2024-01-01, proxy: fp,
         status: candidate}
    evidence_bundle: b
  - id: fu
    name: Cabinet
    relies_on: [elu, fp]
    clients:
      - {client_id: lps-1, subject: "CN=lps,O=X,C=FR"}
      - {client_id: lps-2, sha256: "AB" }
    habilitations:
      - number: EDC-FU-1
        role: fs_utilisateur
        issued: 2024-03-01
        expires: 2028-01-01
        commitments_renewal: 2027-01-15
    endpoints:
      - {host: 127.0.0.1, port: 443, habilitation: EDC-FU-1}
    evidence_bundle: b
"""


def write(folder: Path, text: str) -> Path:
    (folder / "b").mkdir(exist_ok=True)
    path = folder / "registry.yaml"
    path.write_text(text, "utf-8")
    return path


def good(folder: Path) -> Registry:
    return load_registry(write(folder, V2.replace('sha256: "AB"', 'sha256: "' + "AB" * 32 + '"')))


def test_v2_loads_habilitations_with_defaults(tmp_path: Path) -> None:
    registry = good(tmp_path)
    ep = registry.get("ep")
    (hab,) = ep.habilitations
    assert hab.environment is Environment.BAS  # an éditeur works in the sandbox
    assert hab.expires == dt.date(2028, 1, 1)  # 3 years by default
    assert hab.status is HabilitationStatus.ACTIVE
    assert ep.roles == (Actor.EDITEUR_PROXY,) and ep.habilitation == "EDC-EP-1"
    elu = registry.get("elu")
    assert [h.proxy for h in elu.habilitations] == ["EDC-EP-1", "fp"]  # two proxy dossiers
    assert elu.roles == (Actor.EDITEUR_UTILISATEUR,)
    fu = registry.get("fu")
    assert fu.habilitations[0].environment is Environment.PRODUCTION
    assert fu.habilitations[0].expires == dt.date(2028, 1, 1)
    assert fu.endpoints[0].habilitation == "EDC-FU-1"
    assert fu.clients is not None and fu.clients[1].sha256 == "ab" * 32
    assert registry.find("EDC-EU-2") is elu


def test_v1_files_are_converted_on_load(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    path = tmp_path / "r.yaml"
    path.write_text(
        "version: 1\nproviders:\n  - {id: x, name: X, habilitation: 7, "
        "roles: [fs_utilisateur, editeur_utilisateur], evidence_bundle: b}\n",
        "utf-8",
    )
    (x,) = load_registry(path)
    assert [(h.number, h.role, h.environment) for h in x.habilitations] == [
        ("7", Actor.FS_UTILISATEUR, Environment.PRODUCTION),
        ("7", Actor.EDITEUR_UTILISATEUR, Environment.BAS),
    ]
    assert all(h.issued is None and h.expires is None for h in x.habilitations)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("proxy: EDC-EP-1}", "}"), "habilitations[0]: Value error, proxy: an Éditeur Utilisateur"),
        (
            ("issued: 2025-01-01}", "}"),
            "(providers[0]): habilitations[0]: Value error, issued: required",
        ),
        (("role: fs_proxy", "role: fs_proxie"), "habilitations[0].role"),
        (("environment: production", "environment: prod-ish"), "habilitations[0].environment"),
        (("status: candidate", "status: retired"), "habilitations[1].status"),
        (("expires: 2028-01-01", "expires: 2020-01-01"), "expires: must be after"),
        (("habilitation: EDC-FU-1}", "habilitation: EDC-NOPE}"), "endpoints[0].habilitation"),
        (('{client_id: lps-1, subject: "CN=lps,O=X,C=FR"}', "{client_id: lps-1}"), "clients[0]"),
        (("number: EDC-EU-2", "number: EDC-EU-1"), "duplicates habilitations[0]"),
        (("number: EDC-FP-1", "number: EDC-EP-1"), "is also provider 'ep'"),
        (
            (
                "    habilitations:\n      - {number: EDC-EP-1",
                "    habilitation: X\n    habilitations:\n      - {number: EDC-EP-1",
            ),
            "version 1 key",
        ),
        (("version: 2", "version: 3"), "version: must be 1 or 2"),
    ],
)
def test_v2_problems_name_their_place(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    text = V2.replace('sha256: "AB"', 'sha256: "' + "AB" * 32 + '"')
    assert change[0] in text, change
    with pytest.raises(RegistryError) as info:
        load_registry(write(tmp_path, text.replace(change[0], change[1], 1)))
    assert message in str(info.value)


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = V2.replace("role: fs_proxy", "role: nope").replace("port: 443", "port: 0")
    with pytest.raises(RegistryError) as info:
        load_registry(write(tmp_path, text))
    assert "provider 'fp' (providers[1])" in str(info.value)
    assert "provider 'fu' (providers[3])" in str(info.value)


def test_dependency_issues(tmp_path: Path) -> None:
    registry = good(tmp_path)
    day = dt.date(2026, 11, 28)
    fp = registry.get("fp")
    assert registry.dependency_issues(fp, fp.habilitations[0], day) == []
    elu = registry.get("elu")
    # the second dossier names the FS Proxy provider: it has no Éditeur Proxy habilitation
    issues = registry.dependency_issues(elu, elu.habilitations[1], day)
    assert [(i.problem, i.needed) for i in issues] == [
        (DependencyProblem.MISSING, Actor.EDITEUR_PROXY)
    ]
    fu = registry.get("fu")
    issues = registry.dependency_issues(fu, fu.habilitations[0], day)
    # EDC-EU-1 and EDC-FP-1 expire (2027-01-01, 2027-06-01) before EDC-FU-1 (2028-01-01)
    assert {(i.problem, i.relied_on) for i in issues} == {
        (DependencyProblem.EXPIRES_FIRST, "EDC-EU-1"),
        (DependencyProblem.EXPIRES_FIRST, "EDC-FP-1"),
    }
    later = dt.date(2027, 2, 1)  # EDC-EU-1 has expired by then
    issues = registry.dependency_issues(fu, fu.habilitations[0], later)
    assert (DependencyProblem.EXPIRED, "EDC-EU-1") in {(i.problem, i.relied_on) for i in issues}
    assert all("EDC-FU-1" in i.message for i in issues)


def test_suspended_and_external_dependencies(tmp_path: Path) -> None:
    text = V2.replace(
        "{number: EDC-EP-1, role: editeur_proxy, issued: 2025-01-01}",
        "{number: EDC-EP-1, role: editeur_proxy, issued: 2025-01-01, status: suspended}",
    ).replace("relies_on: [EDC-EP-1]", "relies_on: [EDC-EP-EXTERNAL]")
    registry = load_registry(write(tmp_path, text.replace('"AB"', '"' + "AB" * 32 + '"')))
    fp = registry.get("fp")
    (issue,) = registry.dependency_issues(fp, fp.habilitations[0], dt.date(2026, 1, 1))
    assert issue.problem is DependencyProblem.UNVERIFIABLE and "EDC-EP-EXTERNAL" in issue.message
    elu = registry.get("elu")
    (issue,) = registry.dependency_issues(elu, elu.habilitations[0], dt.date(2026, 1, 1))
    assert issue.problem is DependencyProblem.SUSPENDED and "suspendue" in issue.message
