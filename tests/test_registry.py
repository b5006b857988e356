"""Provider registry: valid files load; every broken or ugly one gives an error naming where."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from auditlib.errors import RegistryError
from auditlib.registry import load_registry
from auditlib.requirements import Actor

GOOD = """\
version: 1
providers:
  - id: editeur-proxy
    name: Proxy Soft
    habilitation: "EDC-EP-0001"
    roles: [editeur_proxy]
    evidence_bundle: bundles/editeur-proxy
  - id: medicalis
    name: Medicalis SAS
    habilitation: 42
    roles: [fs_utilisateur, editeur_utilisateur]
    relies_on: [editeur-proxy, EDC-EXTERNAL-9]
    client_certificate_subject: "CN=client.medicalis,O=MEDICALIS,C=FR"
    evidence_bundle: bundles/medicalis.zip
    endpoints:
      - host: 127.0.0.1
        port: 18441
        sni: api.medicalis.demo.esante.test
        label: API
      - host: 127.0.0.1
        port: 18442
        mtls: true
        client_cert: pki/client.crt.pem
        client_key: pki/client.key.pem
        key_passphrase_env: MEDICALIS_KEY_PASS
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "bundles" / "editeur-proxy").mkdir(parents=True)
    (tmp_path / "bundles" / "medicalis.zip").write_bytes(b"PK")
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "client.crt.pem").write_text("cert")
    (tmp_path / "pki" / "client.key.pem").write_text("key")
    return tmp_path


def write(folder: Path, text: str | bytes) -> Path:
    path = folder / "registry.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems(folder: Path, text: str | bytes) -> str:
    with pytest.raises(RegistryError) as info:
        load_registry(write(folder, text))
    return str(info.value)


def test_good_registry(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = load_registry(write(workdir, GOOD))
    assert registry.ids == ["editeur-proxy", "medicalis"]
    med = registry.get("medicalis")
    assert med.habilitation == "42"
    assert med.roles == (Actor.FS_UTILISATEUR, Actor.EDITEUR_UTILISATEUR)
    assert med.evidence_bundle == (workdir / "bundles" / "medicalis.zip").resolve()
    api, mtls = med.endpoints
    assert (api.port, api.sni, api.mtls, api.server_name) == (
        18441,
        "api.medicalis.demo.esante.test",
        False,
        "api.medicalis.demo.esante.test",
    )
    assert mtls.mtls and mtls.client_key == (workdir / "pki" / "client.key.pem").resolve()
    assert [p.id for p in registry.relied_on(med)] == ["editeur-proxy"]
    assert registry.find("EDC-EP-0001") is registry.get("editeur-proxy")
    assert [p.id for p in registry.with_role(Actor.EDITEUR_PROXY)] == ["editeur-proxy"]
    assert len(registry) == 2
    monkeypatch.setenv("MEDICALIS_KEY_PASS", "pw")
    assert mtls.key_passphrase() == b"pw"
    monkeypatch.delenv("MEDICALIS_KEY_PASS")
    with pytest.raises(RegistryError, match="MEDICALIS_KEY_PASS"):
        mtls.key_passphrase()
    assert api.key_passphrase() is None


def test_unknown_provider_lists_known_ids(workdir: Path) -> None:
    registry = load_registry(write(workdir, GOOD))
    with pytest.raises(RegistryError, match="known ids: editeur-proxy, medicalis"):
        registry.get("nobody")


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "roles: [editeur_proxy]",
            "roles: [editeur_prox]",
            "'editeur-proxy' (providers[0]): roles[0]",
        ),
        ("port: 18441", "port: 70000", "'medicalis' (providers[1]): endpoints[0].port"),
        ("port: 18441", "port: 0", "endpoints[0].port"),
        ("port: 18441", 'port: "443"', "endpoints[0].port"),
        ("mtls: true", "mtls: maybe", "endpoints[1].mtls"),
        ("roles: [editeur_proxy]", "roles: editeur_proxy", "providers[0]): roles"),
        ("roles: [editeur_proxy]", "roles: []", "providers[0]): roles"),
        ("    label: API", "    label: API\n        colour: red", "endpoints[0].colour"),
        (
            "key_passphrase_env: MEDICALIS_KEY_PASS",
            "key_passphrase: hunter2",
            "must not be written in the registry",
        ),
        ("key_passphrase_env: MEDICALIS_KEY_PASS", "key_passphrase_env: 'not a name'", "NAME"),
        ("        client_key: pki/client.key.pem\n", "", "go together"),
        ("id: medicalis", "id: Medicalis Cloud", "providers[1]): id"),
        ("sni: api.medicalis.demo.esante.test", "sni: 'api medicalis'", "endpoints[0].sni"),
        ('"CN=client.medicalis,O=MEDICALIS,C=FR"', "not a name", "client_certificate_subject"),
        ("    name: Medicalis SAS\n", "", "providers[1]): name: Field required"),
    ],
)
def test_invalid_entries_name_provider_and_key(
    workdir: Path, old: str, new: str, expected: str
) -> None:
    assert old in GOOD
    message = problems(workdir, GOOD.replace(old, new))
    assert expected in message


def test_duplicate_id_and_habilitation(workdir: Path) -> None:
    text = GOOD.replace("id: medicalis", "id: editeur-proxy").replace(
        "habilitation: 42", "habilitation: EDC-EP-0001"
    )
    message = problems(workdir, text)
    assert "provider 'editeur-proxy' (providers[1]): id: duplicate of providers[0]" in message
    assert "habilitation" in message


def test_missing_bundle_and_client_files(workdir: Path) -> None:
    (workdir / "bundles" / "medicalis.zip").unlink()
    (workdir / "pki" / "client.key.pem").unlink()
    message = problems(workdir, GOOD)
    assert "provider 'medicalis' (providers[1]): evidence_bundle:" in message
    assert "endpoints[1].client_key" in message


def test_self_reliance(workdir: Path) -> None:
    message = problems(
        workdir, GOOD.replace("relies_on: [editeur-proxy,", "relies_on: [medicalis,")
    )
    assert "relies_on: a provider cannot rely on itself" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("# only a comment\n", "no data"),
        ("providers:\n\t- id: x\n", "line 2"),
        ("providers: [\n", "YAML error at line"),
        (b"\x00\x01\x02\xff binary", "NUL"),
        (b"\xff\xfe\xfa garbage", "not UTF-8"),
        ("- a\n- b\n", "expected a mapping"),
        ("providers: 3\n", "providers: Input should be a valid list"),
        ("providers: []\n", "providers"),
        ("a: &x [1, 2]\nb: *x\n", "aliases are not allowed"),
        ("providers: []\nproviders: []\n", "duplicate key 'providers'"),
        ("version: 2\nproviders: []\n", "version"),
    ],
)
def test_ugly_yaml(workdir: Path, text: str | bytes, expected: str) -> None:
    message = problems(workdir, text)
    assert expected in message
    assert "Traceback" not in message


def test_alias_bomb_is_refused_quickly(workdir: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 30)]
    assert "aliases are not allowed" in problems(workdir, "\n".join(lines) + "\n")


def test_huge_file_is_refused(workdir: Path) -> None:
    text = "providers:\n" + "# padding\n" * 600_000
    assert "more than" in problems(workdir, text)


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RegistryError, match=r"nope\.yaml: no such file"):
        load_registry(tmp_path / "nope.yaml")
    monkeypatch.chdir(tmp_path)  # a relative path names where it was looked for
    with pytest.raises(RegistryError, match=f"looked for {tmp_path}/data/registry.yaml"):
        load_registry(Path("data/registry.yaml"))


def test_error_lists_all_problems_at_once(workdir: Path) -> None:
    text = textwrap.dedent(
        """\
        providers:
          - id: a
            name: A
            habilitation: "1"
            roles: [nope]
            evidence_bundle: bundles/editeur-proxy
            endpoints: [{host: h, port: -1}]
        """
    )
    message = problems(workdir, text)
    assert "roles[0]" in message and "endpoints[0].port" in message


def test_habilitation_dependencies(workdir: Path) -> None:
    registry = load_registry(write(workdir, GOOD))
    med = registry.get("medicalis")
    # fs_utilisateur needs editeur_utilisateur (held itself) and fs_proxy (nobody)
    assert registry.missing_dependencies(med) == [Actor.FS_PROXY]
    assert registry.unresolved_reliances(med) == ["EDC-EXTERNAL-9"]
    assert registry.missing_dependencies(registry.get("editeur-proxy")) == []


def test_demo_registry_dependencies_are_complete() -> None:
    registry = load_registry(Path(__file__).resolve().parent.parent / "data" / "registry.yaml")
    for provider in registry:
        # santexpress is the demo's planted missing dependency: no FS Proxy to rely on
        missing = [Actor.FS_PROXY] if provider.id == "santexpress" else []
        assert registry.missing_dependencies(provider) == missing, provider.id
        assert registry.unresolved_reliances(provider) == [], provider.id
