"""Distinguished names compared across RFC 4514 and OpenSSL forms."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from auditlib.dn import parse_dn, same_dn

RFC = "CN=lps.fournisseur-demo.fr,O=FOURNISSEUR DEMO,C=FR"


@pytest.mark.parametrize(
    "other",
    [
        "/C=FR/O=FOURNISSEUR DEMO/CN=lps.fournisseur-demo.fr",
        "C = FR, O = FOURNISSEUR DEMO, CN = lps.fournisseur-demo.fr",
        "cn=LPS.Fournisseur-Demo.FR, o=Fournisseur  Demo, c=fr",
        "O=FOURNISSEUR DEMO;CN=lps.fournisseur-demo.fr;C=FR",
        "2.5.4.3=lps.fournisseur-demo.fr,OID.2.5.4.10=FOURNISSEUR DEMO,countryName=FR",
        '  CN="lps.fournisseur-demo.fr", O=FOURNISSEUR DEMO, C=FR  ',
    ],
)
def test_same_subject_in_other_forms(other: str) -> None:
    assert same_dn(RFC, other)


@pytest.mark.parametrize(
    "other",
    [
        "CN=lps.fournisseur-demo.fr,O=AUTRE,C=FR",
        "CN=lps.fournisseur-demo.fr,O=FOURNISSEUR DEMO",
        "CN=lps.fournisseur-demo.fr,O=FOURNISSEUR DEMO,OU=X,C=FR",
        "lps.fournisseur-demo.fr",
        "",
    ],
)
def test_different_subjects(other: str) -> None:
    assert not same_dn(RFC, other)


def test_escapes_and_commas_inside_values() -> None:
    assert parse_dn(r"CN=Dupont\, Jean,O=Foo, Inc.,C=FR") == (
        ("C", "fr"),
        ("CN", "dupont, jean"),
        ("O", "foo, inc."),
    )
    assert same_dn(r"CN=H\C3\B4pital,C=FR", "/C=FR/CN=Hôpital")


def test_matches_what_cryptography_writes() -> None:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Clinique Saint-Éloi, SA"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "NTRFR-123456789"),
            x509.NameAttribute(NameOID.COMMON_NAME, "lps.example.fr"),
        ]
    )
    written = name.rfc4514_string()
    assert same_dn(
        written,
        "/C=FR/O=Clinique Saint-Éloi, SA/organizationIdentifier=NTRFR-123456789/CN=lps.example.fr",
    )


def test_not_a_dn() -> None:
    assert parse_dn("garbage") is None
    assert parse_dn(None) is None  # type: ignore[arg-type]
    assert not same_dn(None, RFC)
