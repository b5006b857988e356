"""auditlib.classify: IGC-Santé or not, production or test (declared), product and use."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from auditlib.certs import CertificateInfo, describe_certificate
from auditlib.classify import (
    ChainEnvironment,
    Classifier,
    ClassifyError,
    classify,
    load_anchors,
    load_igc_profile,
)
from auditlib.testing.pki import (
    DEMO_PRODUCTION_ISSUING_CN,
    DEMO_PRODUCTION_O,
    DEMO_PRODUCTION_OU,
    DEMO_PRODUCTION_ROOT_CN,
    IssuedCert,
    TestPki,
)

NOW = dt.datetime(2026, 11, 28, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def chains() -> tuple[TestPki, TestPki, TestPki]:
    production = TestPki.create(
        now=NOW,
        key=("ec", 256),
        root_cn=DEMO_PRODUCTION_ROOT_CN,
        issuing_cn=DEMO_PRODUCTION_ISSUING_CN,
        organisation=DEMO_PRODUCTION_O,
        unit=DEMO_PRODUCTION_OU,
    )
    test = TestPki.create(now=NOW, key=("ec", 256))
    public = TestPki.create(
        now=NOW,
        key=("ec", 256),
        root_cn="Public Root CA",
        issuing_cn="Public Web CA",
        organisation="Public CA Inc",
        unit=None,
    )
    return production, test, public


def info(cert: IssuedCert) -> CertificateInfo:
    return describe_certificate(cert.certificate)


def ca_dir(folder: Path, production: TestPki, test: TestPki, anchors: str | None) -> Path:
    production.write_ca_dir(folder)
    test.write_ca_dir(folder)
    if anchors is not None:
        (folder / "anchors.yaml").write_text(anchors, "utf-8")
    return folder


def declared(production: TestPki, test: TestPki) -> str:
    return (
        "version: 1\nanchors:\n"
        f"  - {{file: {production.root_file}, environment: production}}\n"
        f"  - {{file: {test.root_file}, environment: test}}\n"
    )


def test_products_come_from_the_policy_table(chains) -> None:  # type: ignore[no-untyped-def]
    production, _, _ = chains
    profile = load_igc_profile()
    assert "démonstration" in profile.source  # the shipped OIDs are the demo's own
    for kind, product in (
        ("server", "SERV SSL_SERV"),
        ("client", "ORG AUTH_CLI"),
        ("sign", "ORG SIGN"),
    ):
        c = classify(info(production.issue(f"{kind}.example", kind)))  # type: ignore[arg-type]
        assert c.product == product and c.use


def test_without_anchors_policy_and_issuer_make_igc_sante_unverified(chains) -> None:  # type: ignore[no-untyped-def]
    production, test, public = chains
    for pki in (production, test):
        c = classify(info(pki.issue("a.example", "server")))
        assert c.igc_sante and not c.anchor_verified
        assert c.environment is ChainEnvironment.UNKNOWN  # never guessed from "TEST" in a name
        assert "ancre non vérifiée" in c.label
    other = classify(info(public.issue("www.example", "server")))
    assert not other.igc_sante and "émetteur IGC-Santé" in other.reason


def test_anchors_declare_production_and_test(chains, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    production, test, public = chains
    anchors = load_anchors(ca_dir(tmp_path, production, test, declared(production, test)))
    classifier = Classifier(anchors)
    prod = classifier.classify(info(production.issue("a.example", "server")))
    assert prod.igc_sante and prod.anchor_verified
    assert prod.environment is ChainEnvironment.PRODUCTION and not prod.is_test
    assert prod.anchor == production.root.certificate.subject.rfc4514_string()
    assert len(prod.chain) == 2  # issuing CA, then the root
    tst = classifier.classify(info(test.issue("b.example", "client")))
    assert tst.is_test and tst.product == "ORG AUTH_CLI"
    foreign = classifier.classify(info(public.issue("www.example", "server")))
    assert not foreign.igc_sante and "aucune des autorités" in foreign.reason


def test_names_do_not_decide_the_environment(chains, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    production, test, _ = chains
    swapped = (
        "version: 1\nanchors:\n"
        f"  - {{file: {production.root_file}, environment: test}}\n"
        f"  - {{file: {test.root_file}, environment: production}}\n"
    )
    classifier = Classifier(load_anchors(ca_dir(tmp_path, production, test, swapped)))
    assert (
        classifier.classify(info(test.issue("x", "server"))).environment
        is ChainEnvironment.PRODUCTION
    )
    undeclared = Classifier(load_anchors(ca_dir(tmp_path / "u", production, test, None)))
    c = undeclared.classify(info(test.issue("y", "server")))
    assert c.igc_sante and c.environment is ChainEnvironment.UNKNOWN


def test_a_certificate_without_igc_policy_under_a_known_anchor_is_out(
    chains, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    production, test, _ = chains
    classifier = Classifier(
        load_anchors(ca_dir(tmp_path, production, test, declared(production, test)))
    )
    plain = info(production.issue("p", "server"))
    stripped = CertificateInfo(**{**plain.__dict__, "policy_oids": ("2.23.140.1.2.2",)})
    c = classifier.classify(stripped)
    assert not c.igc_sante and "politique" in c.reason


@pytest.mark.parametrize(
    ("anchors", "message"),
    [
        ("version: 1\nanchors:\n  - {file: nope.pem, environment: production}\n", "not a CA file"),
        (
            "version: 1\nanchors:\n  - {file: ROOT, environment: prod}\n",
            "must be `production` or `test`",
        ),
        ("version: 1\nanchors: {}\n", "expected `anchors:`"),
        (
            "version: 1\nanchors:\n  - {file: ROOT, environment: test, colour: red}\n",
            "expected keys",
        ),
        (
            "version: 1\nanchors:\n  - {file: ROOT, environment: test}\n"
            "  - {file: ROOT, environment: test}\n",
            "declared twice",
        ),
        ("anchors: [\n", "anchors.yaml"),
    ],
)
def test_bad_anchor_declarations_are_clear_errors(
    chains, tmp_path: Path, anchors: str, message: str
) -> None:  # type: ignore[no-untyped-def]
    production, test, _ = chains
    folder = ca_dir(tmp_path, production, test, anchors.replace("ROOT", production.root_file))
    with pytest.raises(ClassifyError, match="anchors") as info_:
        load_anchors(folder)
    assert message in str(info_.value)


def test_missing_folder_and_garbage_ca_files(tmp_path: Path) -> None:
    with pytest.raises(ClassifyError, match="no such folder"):
        load_anchors(tmp_path / "absent")
    (tmp_path / "junk.pem").write_bytes(
        b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"
    )
    with pytest.raises(ClassifyError, match=r"junk\.pem"):
        load_anchors(tmp_path)


def test_demo_anchors_declare_every_demo_root() -> None:
    folder = Path(__file__).resolve().parents[1] / "data" / "pki" / "ca"
    anchors = load_anchors(folder)
    roots = {ca.file.name: ca.declared for ca in anchors.cas if ca.info.self_signed}
    assert set(roots.values()) == {ChainEnvironment.PRODUCTION, ChainEnvironment.TEST}
    names = [ca.info.subject for ca in anchors.cas]
    assert any("(fictive)" in n for n in names)
    assert not any(n.startswith("CN=AC RACINE IGC-SANTE") for n in names)  # no real ANS name
    assert all(isinstance(ca.info, CertificateInfo) for ca in anchors.cas)
