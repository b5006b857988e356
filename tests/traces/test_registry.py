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


DATA = ROOT / "data"
CLOUDPROXY_SUBJECT = "CN=lps.cloudproxy-sante.demo.esante.test,O=CLOUDPROXY SANTE,C=FR"


def _registry_with(tmp_path: Path, clients_yaml: str) -> Path:
    """The demo registry, paths made absolute, with `clients` added to cloudproxy-sante."""
    text = REGISTRY.read_text("utf-8")
    text = text.replace("evidence_bundle: bundles/", f"evidence_bundle: {DATA}/bundles/")
    text = text.replace("client_cert: pki/", f"client_cert: {DATA}/pki/")
    text = text.replace("client_key: pki/", f"client_key: {DATA}/pki/")
    anchor = f"  client_certificate_subject: {CLOUDPROXY_SUBJECT}\n"
    assert anchor in text
    text = text.replace(anchor, anchor + clients_yaml)
    path = tmp_path / "registry.yaml"
    path.write_text(text, "utf-8")
    return path


def _fingerprint(path: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_pem_x509_certificates(path.read_bytes())[0]
    return cert.fingerprint(hashes.SHA256()).hex()


def test_registry_without_clients_stays_valid_and_keeps_its_digests() -> None:
    from auditlib.registry import load_registry, provider_digest

    registry = load_registry(REGISTRY)
    provider = registry.get("cloudproxy-sante")
    assert provider.clients == ()
    # The digest of an entry without `clients` does not mention the new key.
    import dataclasses

    data = dataclasses.asdict(provider)
    del data["clients"]
    text = json.dumps(data, sort_keys=True, default=str)
    from auditlib.files import sha256_bytes

    assert provider_digest(provider) == sha256_bytes(text.encode("utf-8"))


def test_per_client_subjects_from_the_registry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditlib.registry import load_registry
    from auditlib.traces.clients import settings_for_provider

    fingerprint = _fingerprint(DATA / "pki" / "cloudproxy-sante" / "client.crt.pem")
    colons = ":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    registry = _registry_with(
        tmp_path,
        "  clients:\n"
        "  - client_id: lps-client-00\n"
        "    subject: CN=lps-a.example.fr,O=EDITEUR A,C=FR\n"
        f"  - client_id: lps-client-01\n    sha256: '{colons}'\n"
        f"  - client_id: lps-client-02\n    sha256: '{'ab' * 32}'\n",
    )
    provider = load_registry(registry).get("cloudproxy-sante")
    assert [c.client_id for c in provider.clients] == [
        "lps-client-00",
        "lps-client-01",
        "lps-client-02",
    ]
    assert provider.clients[1].sha256 == fingerprint
    settings = settings_for_provider(provider)
    assert settings.expected_subjects == {
        "lps-client-00": "CN=lps-a.example.fr,O=EDITEUR A,C=FR",
        "lps-client-01": CLOUDPROXY_SUBJECT,
    }
    assert settings.unresolved_clients == ("lps-client-02",)
    # Traces: client 00 with its own subject, 01 and the others with the proxy's.
    export = tmp_path / "traces.json"
    generate_traces(
        30,
        client_dn="CN=lps.cloudproxy-sante.demo.esante.test, O=CLOUDPROXY SANTE, C=FR",
        client_subjects={"lps-client-00": "CN=lps-a.example.fr, O=EDITEUR A, C=FR"},
    ).write(export)
    args = ["traces", str(export), "--provider", "cloudproxy-sante", "--registry", str(registry)]
    assert main([*args, "--json"]) == 0, capsys.readouterr()
    data = json.loads(capsys.readouterr().out)
    assert data["findings"] == []
    note = next(c["note"] for c in data["checks"] if c["check"] == "client_dn")
    assert "lps-client-02" in note
    # Client 00 presenting the proxy's subject deviates from its registered one.
    generate_traces(
        30, client_dn="CN=lps.cloudproxy-sante.demo.esante.test, O=CLOUDPROXY SANTE, C=FR"
    ).write(export)
    assert main([*args, "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    (finding,) = found["findings"]
    assert finding["check"] == "client_dn"
    assert finding["details"]["clients"][0]["clientId"] == "lps-client-00"


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ("  - client_id: x\n", "subject"),
        ("  - client_id: x\n    sha256: 'zz'\n", "SHA-256"),
        ("  - client_id: x\n    subject: not a dn\n", "RFC 4514"),
        ("  - client_id: x\n    subject: CN=a\n  - client_id: x\n    subject: CN=b\n", "twice"),
        ("  - client_id: x\n    subject: CN=a\n    password: p\n", "password"),
    ],
)
def test_bad_clients_are_clear_registry_errors(tmp_path: Path, entry: str, words: str) -> None:
    from auditlib.errors import RegistryError
    from auditlib.registry import load_registry

    registry = _registry_with(tmp_path, "  clients:\n" + entry)
    with pytest.raises(RegistryError) as caught:
        load_registry(registry)
    text = str(caught.value) + " ".join(getattr(caught.value, "problems", []))
    assert words in text and "cloudproxy-sante" in text
