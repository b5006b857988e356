"""Rule functions on hand-built observations and certificates (fast: no network)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import cache
from typing import Any

import pytest

from auditlib.certs import CertificateInfo, describe_certificate
from auditlib.testing.pki import TestPki
from auditlib.tls import (
    Profile,
    ProfileError,
    RuleStatus,
    Verdict,
    evaluate,
    evaluate_certificate,
    load_profile,
    split_suite,
)
from auditlib.tls.scan import (
    Hsts,
    OcspFacts,
    PathValidation,
    ProtocolResult,
    ScanStatus,
    Suite,
    TlsObservation,
)

P, F, D, NA, INC, NT = (
    RuleStatus.PASS,
    RuleStatus.FAIL,
    RuleStatus.DEGRADED,
    RuleStatus.NOT_APPLICABLE,
    RuleStatus.INCOMPLETE,
    RuleStatus.NOT_TESTED,
)
NAME = "api.fournisseur-demo.test"
NOW = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


@cache
def pki() -> TestPki:
    return TestPki.create(now=NOW, key=("ec", 256))


@cache
def rsa_pki() -> TestPki:
    return TestPki.create(now=NOW)


@cache
def profile() -> Profile:
    return load_profile()


def ec_leaf(**kw: Any) -> CertificateInfo:
    kw.setdefault("dns_names", [NAME])
    kw.setdefault("key", ("ec", 256))
    kw.setdefault("days", 825)
    return describe_certificate(pki().issue(NAME, **kw).certificate)


def issuing() -> CertificateInfo:
    return describe_certificate(pki().issuing.certificate)


def suite(
    name: str, kx: str | None = "ECDH", group: str | None = "secp256r1", size: int = 256
) -> Suite:
    return Suite(name=name, kx_type=kx, kx_group=group, kx_size=size if kx else None)


GOOD12 = (
    suite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
)
GOOD13 = (suite("TLS_AES_128_GCM_SHA256", group="X25519", size=253),)


def observation(**over: Any) -> TlsObservation:
    """A compliant observation; keyword arguments replace fields."""
    leaf = over.pop("leaf", None) or ec_leaf()
    tls12 = over.pop("tls12", GOOD12)
    tls13 = over.pop("tls13", GOOD13)
    versions = over.pop("versions", {})
    protocols = []
    for version in ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"):
        suites = {"TLSv1.2": tls12, "TLSv1.3": tls13}.get(version, ())
        suites = versions.get(version, suites)
        accepted = None if suites is None else bool(suites)
        protocols.append(ProtocolResult(version=version, accepted=accepted, suites=suites or ()))
    root = describe_certificate(pki().root.certificate)
    data: dict[str, Any] = {
        "label": "unit",
        "host": "127.0.0.1",
        "port": 443,
        "sni": NAME,
        "scanned_at": NOW,
        "status": ScanStatus.OK,
        "client_auth": "DISABLED",
        "protocols": tuple(protocols),
        "groups": ("secp256r1", "secp384r1", "X25519"),
        "chain": (leaf, issuing()),
        "chain_in_order": True,
        "server_cipher_order": True,
        "path_validation": PathValidation(
            anchors_configured=True,
            trusted=True,
            verified_chain=(leaf, issuing(), root),
            anchor_subject=root.subject,
            anchor_roots=(root.subject,),
        ),
        "compression": False,
        "secure_renegotiation": True,
        "client_renegotiation_dos": False,
        "fallback_scsv": True,
        "heartbleed": False,
        "robot": "NOT_VULNERABLE_RSA_NOT_SUPPORTED",
        "early_data": False,
        "early_data_probe": False,
        "early_data_detail": "données 0-RTT rejetées",
        "ocsp_stapling": True,
        "ocsp_status": "SUCCESSFUL",
        "ocsp": OcspFacts(
            response_status="SUCCESSFUL",
            cert_status="GOOD",
            serial=leaf.serial,
            for_leaf=True,
            signature_valid=True,
            responder=issuing().subject,
            this_update=NOW - dt.timedelta(hours=1),
            next_update=NOW + dt.timedelta(days=6),
        ),
        "hsts": Hsts(max_age=31536000, include_subdomains=True),
        "http_observed": True,
    }
    data.update(over)
    return TlsObservation(**data)


def status(obs: TlsObservation, rule: str, prof: Profile | None = None) -> RuleStatus:
    return evaluate(obs, prof or profile(), NOW).result(rule).status


def test_baseline_is_compliant() -> None:
    ev = evaluate(observation(), profile(), NOW)
    bad = {r.rule_id: (r.status, r.reason) for r in ev.results if r.status not in (P, NA)}
    assert bad == {}
    assert ev.bottom_line == Verdict.COMPLIANT
    assert [r.requirement for r in ev.requirements] == ["EXI EDC PSC 115", "EXI EDC PSC 116"]


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", ("ECDHE", "RSA", "AES", "GCM", "SHA256")),
        ("TLS_RSA_WITH_AES_128_CBC_SHA", ("RSA", "RSA", "AES", "CBC", "SHA")),
        ("TLS_DH_anon_WITH_AES_128_CBC_SHA", ("DHE", "anon", "AES", "CBC", "SHA")),
        ("TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", ("ECDHE", "ECDSA", "AES", "CCM_8", "SHA256")),
        ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", ("RSA", "RSA", "3DES", "CBC", "SHA")),
        ("TLS_RSA_WITH_RC4_128_MD5", ("RSA", "RSA", "RC4", "STREAM", "MD5")),
        (
            "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            ("DHE", "RSA", "CHACHA20", "POLY1305", "SHA256"),
        ),
        ("TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", ("ECDH", "ECDSA", "AES", "GCM", "SHA256")),
        ("TLS_RSA_WITH_NULL_SHA256", ("RSA", "RSA", "NULL", "NONE", "SHA256")),
        (
            "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
            ("ECDHE", "RSA", "CAMELLIA", "CBC", "SHA256"),
        ),
        ("TLS_AES_256_GCM_SHA384", ("ECDHE", "ECDSA", "AES", "GCM", "SHA384")),
    ],
)
def test_suite_classification(name: str, parts: tuple[str, ...]) -> None:
    got = split_suite(suite(name), ec_leaf())
    assert (got.kx, got.auth, got.cipher, got.mode, got.hash) == parts


def test_every_classified_value_is_in_the_profile_table() -> None:
    table = profile().suite_classification
    for value in ("ECDHE", "DHE", "RSA", "ECDH"):
        assert value in table.key_exchange
    for value in ("AES", "CHACHA20", "3DES", "RC4", "NULL", "CAMELLIA"):
        assert value in table.cipher


def test_r4_names_old_versions_and_is_incomplete_when_unprobed() -> None:
    obs = observation(versions={"TLSv1.0": (suite("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),)})
    ev = evaluate(obs, profile(), NOW)
    assert ev.result("R4").status == F
    assert "TLSv1.0" in ev.result("R4").reason
    assert status(observation(versions={"SSLv3": None}), "R4") == INC


def test_r5_anonymous_suite() -> None:
    obs = observation(tls12=(suite("TLS_ECDH_anon_WITH_AES_128_GCM_SHA256"),))
    ev = evaluate(obs, profile(), NOW)
    assert ev.result("R5").status == F
    assert "TLS_ECDH_anon_WITH_AES_128_GCM_SHA256" in ev.result("R5").reason


def test_r6_static_rsa_and_dhe() -> None:
    rsa = observation(tls12=(suite("TLS_RSA_WITH_AES_128_GCM_SHA256", kx=None),))
    assert status(rsa, "R6") == F
    dhe = observation(
        tls12=(suite("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", kx="DH", group=None, size=2048),)
    )
    assert status(dhe, "R6") == D


def test_r7_groups_and_r7_minus_dhe_sizes() -> None:
    assert status(observation(groups=("secp256r1", "sect163k1")), "R7") == F
    assert status(observation(groups=None), "R7") == INC
    small = observation(
        tls12=(suite("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", kx="DH", group=None, size=1024),)
    )
    assert status(small, "R7-") == F
    ok = observation(
        tls12=(suite("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", kx="DH", group=None, size=2048),)
    )
    ev = evaluate(ok, profile(), NOW)
    assert ev.result("R7-").status == D
    assert "2030" in ev.result("R7-").reason
    assert status(observation(), "R7-") == NA


def rsa_leaf(bits: int = 2048) -> CertificateInfo:
    issued = rsa_pki().issue(NAME, key=("rsa", bits), dns_names=[NAME], days=825)
    return describe_certificate(issued.certificate)


ECDHE_RSA_GCM = (
    suite("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    suite("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    suite("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
)

# R8 server authentication: (leaf key, TLS 1.2 suites) -> expected status
R8_CASES = [
    ("ec256", GOOD12, P),
    ("rsa2048", ECDHE_RSA_GCM, P),
    ("rsa1024", ECDHE_RSA_GCM, F),
    ("ec256", (suite("TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", kx="DH", size=2048),), F),
    ("ec256", (suite("TLS_ECDH_anon_WITH_AES_128_GCM_SHA256"),), F),
]


@pytest.mark.parametrize(("key", "suites", "expected"), R8_CASES)
def test_r8_server_authentication(
    key: str, suites: tuple[Suite, ...], expected: RuleStatus
) -> None:
    leaf = {"ec256": ec_leaf, "rsa2048": rsa_leaf, "rsa1024": lambda: rsa_leaf(1024)}[key]()
    assert status(observation(leaf=leaf, tls12=suites), "R8") == expected


def test_rsa_2048_with_annex_a1_suites_is_not_degraded_by_r8() -> None:
    """Issue 14's "done when": an RSA-2048 ECDHE-RSA AES-GCM server at the recommended
    level is compliant (R8 and R12 pass, no suite "tolerated by R8")."""
    strict = profile().model_copy(update={"level": "recommended"})
    leaf, issuer = rsa_leaf(), describe_certificate(rsa_pki().issuing.certificate)
    obs = observation(leaf=leaf, chain=(leaf, issuer), tls12=ECDHE_RSA_GCM)
    ev = evaluate(obs, strict, NOW)
    assert ev.result("R8").status == P and ev.result("R12").status == P
    assert all(v.status == P and v.tolerated_by == () for v in ev.suites)
    # the only rule below PASS is RGS B1 on the test issuing CA (RSA-2048 valid past 2030)
    below = {r.rule_id for r in ev.results if r.status not in (P, NA)}
    assert below == {"RGS-B1-CLES"}
    assert "TEST AC IGC-SANTE" in ev.result("RGS-B1-CLES").reason


# R12 from the per-suite classification: TLS 1.2 suites -> expected status
R12_CASES = [
    (GOOD12, P),
    (ECDHE_RSA_GCM, P),
    ((*GOOD12, suite("TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256")), D),
    ((suite("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", kx="DH", group=None, size=3072),), D),
    ((*GOOD12, suite("TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA")), F),
    ((suite("TLS_RSA_WITH_AES_128_GCM_SHA256", kx=None),), F),
]


@pytest.mark.parametrize(("suites", "expected"), R12_CASES)
def test_r12_judged_from_the_suite_classification(
    suites: tuple[Suite, ...], expected: RuleStatus
) -> None:
    ev = evaluate(observation(leaf=rsa_leaf(), tls12=suites), profile(), NOW)
    assert ev.result("R12").status == expected
    if expected != P:
        assert any(name in ev.result("R12").reason for name in (s.name for s in suites))


def test_r12_incomplete_when_a_version_timed_out() -> None:
    timed = ProtocolResult(
        version="TLSv1.2",
        accepted=True,
        suites=GOOD12,
        timed_out=("TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",),
    )
    obs = observation()
    protocols = tuple(timed if p.version == "TLSv1.2" else p for p in obs.protocols)
    ev = evaluate(obs.model_copy(update={"protocols": protocols}), profile(), NOW)
    for rule in ("R9", "R11", "R12"):
        assert ev.result(rule).status == INC, rule
        assert "délai dépassé" in ev.result(rule).reason


def test_a_timed_out_version_is_unknown_never_refused() -> None:
    """Issue 13 point 4: TLS 1.1 probes that timed out twice are not "refused"."""
    obs = observation(versions={"TLSv1.1": None})
    assert status(obs, "R4") == INC
    only12 = observation(versions={"TLSv1.3": None})
    assert status(only12, "R3") == INC
    neither = observation(versions={"TLSv1.3": (), "TLSv1.2": None})
    assert status(neither, "R3") == INC


def with_usage(info: CertificateInfo, **changes: Any) -> CertificateInfo:
    return dataclasses.replace(info, **changes)


# R27 Key Usage, whole set: (key usage, critical) -> expected status
R27_CASES = [
    (("digital_signature",), True, P),
    (("digital_signature", "key_cert_sign"), True, F),
    (("digital_signature", "crl_sign"), True, F),
    (("key_agreement",), True, F),
    (("digital_signature",), False, F),
    (("digital_signature", "content_commitment"), True, F),
    ((), None, F),
]


@pytest.mark.parametrize(("usage", "critical", "expected"), R27_CASES)
def test_r27_checks_the_whole_key_usage_set(
    usage: tuple[str, ...], critical: bool | None, expected: RuleStatus
) -> None:
    info = with_usage(ec_leaf(), key_usage=usage, key_usage_critical=critical)
    results = {r.rule_id: r for r in evaluate_certificate(info, "server", profile(), NOW)}
    assert results["R27"].status == expected, results["R27"].reason


def test_r27_rsa_key_encipherment_is_a_tls_usage() -> None:
    info = with_usage(rsa_leaf(), key_usage=("digital_signature", "key_encipherment"))
    results = {r.rule_id: r for r in evaluate_certificate(info, "server", profile(), NOW)}
    assert results["R27"].status == P


# R28 Extended Key Usage, whole set: (usage, ekus) -> expected status
R28_CASES = [
    ("server", ("serverAuth",), P),
    ("server", ("serverAuth", "clientAuth"), P),
    ("server", ("serverAuth", "codeSigning"), F),
    ("server", ("serverAuth", "2.5.29.37.0"), F),
    ("server", ("clientAuth",), F),
    ("client", ("clientAuth",), P),
    ("client", ("clientAuth", "emailProtection"), F),
    ("server", (), F),
]


@pytest.mark.parametrize(("usage", "ekus", "expected"), R28_CASES)
def test_r28_checks_the_whole_eku_set(
    usage: Any, ekus: tuple[str, ...], expected: RuleStatus
) -> None:
    info = with_usage(ec_leaf(), extended_key_usage=ekus)
    results = {r.rule_id: r for r in evaluate_certificate(info, usage, profile(), NOW)}
    assert results["R28"].status == expected, results["R28"].reason


# R7- every finite-field group: suite -> expected status
R7M_CASES = [
    (suite("TLS_DH_anon_WITH_AES_128_GCM_SHA256", kx="DH", group=None, size=1024), F),
    (suite("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", kx="DH", group=None, size=1024), F),
    (suite("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", kx="DH", group=None, size=3072), D),
]


@pytest.mark.parametrize(("offered", "expected"), R7M_CASES)
def test_r7_minus_covers_every_finite_field_group(offered: Suite, expected: RuleStatus) -> None:
    obs = observation(leaf=rsa_leaf(), tls12=(*ECDHE_RSA_GCM, offered))
    assert status(obs, "R7-") == expected


def test_r7_minus_tls13_ffdhe_group() -> None:
    ffdhe = suite("TLS_AES_128_GCM_SHA256", kx="DH", group=None, size=1024)
    assert status(observation(tls13=(ffdhe,)), "R7-") == F


# client-initiated renegotiation, beside R22: observation changes -> expected status
RENEG_CASES = [
    ({"client_renegotiation_dos": False}, P),
    ({"client_renegotiation_dos": True}, F),
    ({"client_renegotiation_dos": None}, INC),
    ({"versions": {"TLSv1.2": ()}}, NA),
]


@pytest.mark.parametrize(("over", "expected"), RENEG_CASES)
def test_client_initiated_renegotiation(over: dict[str, Any], expected: RuleStatus) -> None:
    assert status(observation(**over), "RENEGOCIATION-CLIENT") == expected


# R23 0-RTT: (sslyze's answer, our probe's answer) -> expected status
R23_CASES = [
    (False, False, P),
    (False, True, F),
    (True, None, F),
    (False, None, NT),  # sslyze's "not supported" alone proves nothing
    (None, None, NT),
]


@pytest.mark.parametrize(("sslyze", "probe", "expected"), R23_CASES)
def test_r23_zero_rtt_never_passes_untested(
    sslyze: bool | None, probe: bool | None, expected: RuleStatus
) -> None:
    obs = observation(early_data=sslyze, early_data_probe=probe, early_data_detail=None)
    assert status(obs, "R23") == expected


def ocsp(**over: Any) -> OcspFacts:
    data: dict[str, Any] = {
        "response_status": "SUCCESSFUL",
        "cert_status": "GOOD",
        "serial": "1234",
        "for_leaf": True,
        "signature_valid": True,
        "responder": "CN=x",
        "this_update": NOW - dt.timedelta(hours=1),
        "next_update": NOW + dt.timedelta(days=6),
    }
    data.update(over)
    return OcspFacts(**data)


# R35 / IGC-REVOCATION: observation changes -> (R35, IGC-REVOCATION, words in R35's reason)
OCSP_CASES = [
    ({}, P, P, ""),
    (
        {"ocsp": ocsp(cert_status="REVOKED", revocation_time=NOW, revocation_reason="key")},
        F,
        F,
        "révoqué",
    ),
    ({"ocsp": ocsp(for_leaf=False, serial="BEEF")}, F, NT, "autre certificat"),
    ({"ocsp": ocsp(for_leaf=False, cert_status="REVOKED")}, F, NT, "autre certificat"),
    ({"ocsp": ocsp(signature_valid=False, signature_error="x")}, F, NT, "signature"),
    ({"ocsp": ocsp(signature_valid=None)}, INC, NT, "non vérifiée"),
    ({"ocsp": ocsp(for_leaf=None)}, INC, NT, "émetteur inconnu"),
    ({"ocsp": ocsp(next_update=NOW - dt.timedelta(minutes=1))}, F, NT, "périmée"),
    ({"ocsp": ocsp(this_update=NOW - dt.timedelta(days=8))}, F, NT, "trop ancienne"),
    ({"ocsp": ocsp(this_update=NOW - dt.timedelta(days=6), next_update=None)}, P, P, ""),
    ({"ocsp": ocsp(cert_status="UNKNOWN")}, F, NT, "UNKNOWN"),
    ({"ocsp": OcspFacts(response_status="TRY_LATER")}, F, NT, "TRY_LATER"),
    ({"ocsp_stapling": False, "ocsp": None}, F, NT, "aucune"),
    ({"ocsp": None}, INC, NT, "non analysée"),
    ({"ocsp_stapling": None, "ocsp": None}, INC, INC, ""),
]


@pytest.mark.parametrize(("over", "r35", "revocation", "words"), OCSP_CASES)
def test_ocsp_stapled_response_is_judged(
    over: dict[str, Any], r35: RuleStatus, revocation: RuleStatus, words: str
) -> None:
    ev = evaluate(observation(**over), profile(), NOW)
    assert (ev.result("R35").status, ev.result("IGC-REVOCATION").status) == (r35, revocation)
    assert words in ev.result("R35").reason
    assert ev.result("IGC-REVOCATION").requirement == "EXI EDC PSC 116"


def test_ocsp_max_age_is_a_profile_value() -> None:
    lenient = profile().model_copy(update={"ocsp_max_age_days": 10})
    old = observation(ocsp=ocsp(this_update=NOW - dt.timedelta(days=8), next_update=None))
    assert status(old, "R35", lenient) == P
    assert status(old, "R35") == F


def test_not_tested_is_never_compliant() -> None:
    """Issue 13 point 2: one recommended rule NOT_TESTED -> at best DEGRADED, at both
    levels; the requirement verdict lists it; the assessment sees "incomplete"."""
    from auditlib.audit.assess import CheckOutcome
    from auditlib.audit.checks import RULE_OUTCOMES

    obs = observation(early_data_probe=None, early_data_detail="aucun ticket")
    for level in ("tolerated", "recommended"):
        prof = profile().model_copy(update={"level": level})
        ev = evaluate(obs, prof, NOW)
        assert ev.result("R23").status == NT
        assert ev.bottom_line == Verdict.DEGRADED
        by_req = {r.requirement: r for r in ev.requirements}
        assert by_req["EXI EDC PSC 115"].not_tested == ("R23",)
        assert by_req["EXI EDC PSC 115"].bottom_line == Verdict.DEGRADED
    assert set(RULE_OUTCOMES) == {s.value for s in RuleStatus}
    assert RULE_OUTCOMES["NOT_TESTED"] is CheckOutcome.INCOMPLETE


def test_client_certificate_required_is_incomplete_for_every_rule() -> None:
    obs = observation(
        status=ScanStatus.ERROR,
        error="certificat client exigé: ...",
        client_auth="REQUIRED",
        protocols=(),
    )
    ev = evaluate(obs, profile(), NOW)
    assert ev.bottom_line == Verdict.INCOMPLETE
    assert {r.status for r in ev.results} == {INC}
    assert "certificat client exigé" in ev.result("R4").reason
    # even when a (partial) scan went through, nothing is judged from it
    partial = observation(status=ScanStatus.ERROR, error="x", client_auth="REQUIRED")
    assert evaluate(partial, profile(), NOW).bottom_line == Verdict.INCOMPLETE


def test_every_rule_says_whether_it_is_verified() -> None:
    prof = profile()
    assert {"R12", "RENEGOCIATION-CLIENT", "IGC-REVOCATION"} <= {r.id for r in prof.rules}
    ev = evaluate(observation(), prof, NOW)
    assert all(isinstance(r.verified, bool) for r in ev.results)
    assert {row["verified"] for row in ev.rows()} == {r.verified for r in prof.rules}


def test_r9_r10_r11_ciphers_modes_hashes() -> None:
    assert status(observation(tls12=(suite("TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA"),)), "R9") == F
    camellia = observation(tls12=(suite("TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"),))
    assert status(camellia, "R9") == D
    assert status(observation(tls12=(suite("TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),)), "R10") == F
    cbc = observation(
        tls12=(suite("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),), encrypt_then_mac=None
    )
    assert status(cbc, "R10") == D
    assert status(cbc, "R10-") == INC
    assert status(cbc.model_copy(update={"encrypt_then_mac": False}), "R10-") == F
    assert status(cbc.model_copy(update={"encrypt_then_mac": True}), "R10-") == D
    assert status(observation(tls12=(suite("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),)), "R11") == F


def test_r13_server_order() -> None:
    assert status(observation(server_cipher_order=False), "R13") == F
    assert status(observation(server_cipher_order=None), "R13") == INC
    one = observation(tls12=GOOD12[:1], server_cipher_order=None)
    assert status(one, "R13") == NA


def test_flags_r19_r22_r23_vulnerabilities() -> None:
    assert status(observation(compression=True), "R19") == F
    assert status(observation(secure_renegotiation=False), "R22") == F
    assert status(observation(tls12=(), secure_renegotiation=None), "R22") == NA
    assert status(observation(early_data=True), "R23") == F
    assert status(observation(heartbleed=True), "VULN-HEARTBLEED") == F
    assert status(observation(robot="VULNERABLE_STRONG_ORACLE"), "VULN-ROBOT") == F
    assert status(observation(fallback_scsv=False), "FALLBACK-SCSV") == F
    assert status(observation(ocsp_stapling=False), "R35") == F


def test_a_failed_command_is_incomplete_not_fail() -> None:
    obs = observation(compression=None, missing={"tls_compression": "CONNECTIVITY_ISSUE"})
    ev = evaluate(obs, profile(), NOW)
    assert ev.result("R19").status == INC
    assert "tls_compression" in ev.result("R19").reason
    assert ev.bottom_line == Verdict.INCOMPLETE


def test_hsts_is_reported_but_never_counts() -> None:
    ev = evaluate(observation(hsts=None), profile(), NOW)
    assert ev.result("HSTS").status == F
    assert ev.hsts is not None and ev.hsts.status == F
    assert ev.bottom_line == Verdict.COMPLIANT


def test_level_decides_what_degraded_means() -> None:
    obs = observation(tls13=(), versions={"TLSv1.3": ()})
    tolerated = evaluate(obs, profile(), NOW)
    assert tolerated.result("R3").status == D
    assert tolerated.bottom_line == Verdict.DEGRADED
    strict = profile().model_copy(update={"level": "recommended"})
    assert evaluate(obs, strict, NOW).bottom_line == Verdict.NON_COMPLIANT


def test_r25_igc_sante_three_year_deviation_is_configurable() -> None:
    leaf = ec_leaf(days=365 * 3)
    ev = evaluate(observation(leaf=leaf), profile(), NOW)
    r25 = ev.result("R25")
    assert r25.status == D and r25.deviation and "IGC-Santé" in r25.deviation
    strict = profile().model_copy(update={"level": "recommended"})
    # a documented deviation is accepted even at the strict level, and stays visible
    assert evaluate(observation(leaf=leaf), strict, NOW).bottom_line == Verdict.DEGRADED
    off = profile().model_copy(
        update={"igc_sante": profile().igc_sante.model_copy(update={"lifetime_exception": False})}
    )
    assert evaluate(observation(leaf=leaf), off, NOW).result("R25").status == F


def test_certificate_rules_on_weak_certificates() -> None:
    sha1 = describe_certificate(rsa_pki().issue(NAME, dns_names=[NAME], sha="sha1").certificate)
    results = {r.rule_id: r for r in evaluate_certificate(sha1, "server", profile(), NOW)}
    assert results["R24"].status == F
    assert results["RGS-B1-HACHAGE"].status == F
    weak_e = describe_certificate(
        rsa_pki().issue(NAME, dns_names=[NAME], public_exponent=3).certificate
    )
    assert {r.rule_id: r.status for r in evaluate_certificate(weak_e, "server", profile(), NOW)}[
        "R26"
    ] == F
    loose = ec_leaf(
        key_usage_critical=False, with_eku=False, with_crl_and_aia=False, with_aki=False
    )
    got = {r.rule_id: r.status for r in evaluate_certificate(loose, "server", profile(), NOW)}
    assert got["R27"] == F and got["R28"] == F and got["R33"] == F and got["R32"] == F
    nosan = ec_leaf(with_san=False)
    assert {r.rule_id: r.status for r in evaluate_certificate(nosan, "server", profile(), NOW)}[
        "R29"
    ] == F


def test_r29_name_matching() -> None:
    wild = ec_leaf(dns_names=["*.fournisseur-demo.test"])
    by_id = lambda name: {  # noqa: E731
        r.rule_id: r.status
        for r in evaluate_certificate(wild, "server", profile(), NOW, expected_name=name)
    }["R29"]
    assert by_id(NAME) == P
    assert by_id("a.b.fournisseur-demo.test") == F
    assert by_id("autre.test") == F


def test_r32_compares_with_the_issuer() -> None:
    leaf = ec_leaf()
    other = describe_certificate(TestPki.create(now=NOW, key=("ec", 256)).issuing.certificate)
    get = lambda issuer: {  # noqa: E731
        r.rule_id: r.status
        for r in evaluate_certificate(leaf, "server", profile(), NOW, issuer=issuer)
    }["R32"]
    assert get(issuing()) == P
    assert get(other) == F
    assert get(None) == INC


def test_client_certificate_usage() -> None:
    client = describe_certificate(pki().issue("CLIENT", profile="client", days=825).certificate)
    as_client = {
        r.rule_id: r.status for r in evaluate_certificate(client, "client", profile(), NOW)
    }
    assert as_client["R28"] == P and as_client["R29"] == NA
    server = ec_leaf()
    assert {r.rule_id: r.status for r in evaluate_certificate(server, "client", profile(), NOW)}[
        "R28"
    ] == F
    with pytest.raises(ValueError, match="usage"):
        evaluate_certificate(server, "proxy", profile(), NOW)  # type: ignore[arg-type]


def test_rgs_b1_2030_horizon() -> None:
    long_rsa = describe_certificate(
        rsa_pki().issue(NAME, dns_names=[NAME], days=365 * 6).certificate
    )
    res = {r.rule_id: r for r in evaluate_certificate(long_rsa, "server", profile(), NOW)}
    assert res["RGS-B1-CLES"].status == D
    assert "acceptable aujourd'hui, plus après 2030" in res["RGS-B1-CLES"].reason
    later = dt.datetime(2031, 6, 1, tzinfo=dt.UTC)
    res = {r.rule_id: r for r in evaluate_certificate(long_rsa, "server", profile(), later)}
    assert res["RGS-B1-CLES"].status == F


def test_igc_checks() -> None:
    expired = ec_leaf(not_before=NOW - dt.timedelta(days=900), days=825)
    got = {r.rule_id: r for r in evaluate_certificate(expired, "server", profile(), NOW)}
    assert got["IGC-EXPIRATION"].status == F
    foreign = describe_certificate(
        TestPki.create(now=NOW, key=("ec", 256), issuing_cn="AUTRE AC", root_cn="AUTRE RACINE")
        .issue(NAME, key=("ec", 256), dns_names=[NAME])
        .certificate
    )
    got = {r.rule_id: r for r in evaluate_certificate(foreign, "server", profile(), NOW)}
    assert got["IGC-EMETTEUR"].status == F
    no_anchor = observation(
        path_validation=PathValidation(anchors_configured=False, trusted=False, error="none")
    )
    assert status(no_anchor, "IGC-ANCRE") == INC
    other_anchor = observation(
        path_validation=PathValidation(
            anchors_configured=True, trusted=True, anchor_subject="CN=Other Root"
        )
    )
    assert status(other_anchor, "IGC-ANCRE") == F


def test_r34_chain_order_and_completeness() -> None:
    leaf = ec_leaf()
    assert status(observation(leaf=leaf, chain=(leaf,)), "R34") == F
    assert status(observation(leaf=leaf, chain=(issuing(), leaf)), "R34") == F


def test_profile_errors(tmp_path: Any) -> None:
    with pytest.raises(ProfileError, match="not a known name"):
        load_profile(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(ProfileError, match="not valid YAML"):
        load_profile(bad)
    bad.write_text("id: x\n")
    with pytest.raises(ProfileError, match="key"):
        load_profile(bad)
    import yaml

    from auditlib.tls import PROFILES

    data = yaml.safe_load(
        (
            __import__("importlib.resources").resources.files("auditlib")
            / "profiles"
            / PROFILES["anssi"]
        ).read_text()
    )
    data["rules"] = [r for r in data["rules"] if r["id"] != "R4"]
    bad.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(ProfileError, match="R4"):
        load_profile(bad)


def test_tls13_without_a_certificate_cannot_judge_authentication() -> None:
    obs = observation(chain=(), tls12=())
    ev = evaluate(obs, profile(), NOW)
    assert ev.result("R8").status == INC
    assert ev.result("R6").status == P  # TLS 1.3 is always ephemeral
    assert ev.result("R24").status == INC


def test_rows_and_bottom_line_of_a_bare_certificate() -> None:
    from auditlib.tls.evaluate import bottom_line_of

    ev = evaluate(observation(), profile(), NOW)
    rows = ev.rows()
    assert len(rows) == len(profile().rules)
    assert {"endpoint", "rule", "status", "reason", "requirement"} <= set(rows[0])
    client = describe_certificate(pki().issue("CLIENT", profile="client", days=825).certificate)
    results = evaluate_certificate(client, "client", profile(), NOW, issuer=issuing())
    assert bottom_line_of(results, profile()) == Verdict.COMPLIANT
    weak = describe_certificate(rsa_pki().issue("CLIENT", profile="client", sha="sha1").certificate)
    assert bottom_line_of(evaluate_certificate(weak, "client", profile(), NOW), profile()) == (
        Verdict.NON_COMPLIANT
    )


def test_scan_json_keeps_rule_id_and_status_with_the_new_status(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from auditlib.cli import main
    from auditlib.tls.scan import save_observations

    path = tmp_path / "obs.json"
    save_observations(path, [observation(early_data_probe=None, early_data_detail="x")])
    # a rule not tested: the result is incomplete, exit 2 (never "all good")
    assert main(["scan", "--from-observations", str(path), "--json", "-"]) == 2
    report = json.loads(capsys.readouterr().out)
    (evaluation,) = report["evaluations"]
    statuses = {r["rule_id"]: r["status"] for r in evaluation["results"]}
    assert statuses["R23"] == "NOT_TESTED" and statuses["R4"] == "PASS"
    assert all(r["verified"] is False for r in evaluation["results"])
    assert evaluation["bottom_line"] == "DEGRADED"
    assert main(["scan", "--from-observations", str(path)]) == 2
    text = capsys.readouterr().out
    assert "(not tested: R23)" in text and "not verified" in text


def test_a_retry_that_never_returns_is_abandoned_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """sslyze's scanner may wait for ever for a connectivity test whose thread is gone:
    the retry of timed-out probes has a deadline, and the suites stay unknown."""
    import threading

    from auditlib.tls import scan as scan_module
    from auditlib.tls.scan import ScanSettings, ScanSpec

    never = threading.Event()

    def hangs(*args: Any) -> TlsObservation:
        never.wait()
        raise AssertionError("unreachable")

    monkeypatch.setattr(scan_module, "_retry_timeouts", hangs)
    monkeypatch.setattr(scan_module, "RETRY_BUDGET", 1)
    monkeypatch.setattr(scan_module, "RETRY_GRACE", 0)
    timed = ProtocolResult(
        version="TLSv1.2", accepted=True, suites=GOOD12, timed_out=("TLS_RSA_WITH_RC4_128_SHA",)
    )
    obs = observation()
    obs = obs.model_copy(
        update={"protocols": tuple(timed if p.version == "TLSv1.2" else p for p in obs.protocols)}
    )
    try:
        out = scan_module._retry_timeouts_bounded(
            ScanSpec(host="127.0.0.1", port=9), obs, ScanSettings(timeout=1)
        )
    finally:
        never.set()
    assert out.protocols == obs.protocols
    assert any("the retry did not finish within 1 s" in why for why in out.missing.values())
    assert status(out, "R12") == INC


def test_a_failed_tls_shutdown_still_closes_the_socket() -> None:
    """nassl leaves the socket open when SSL_shutdown raises an error it does not expect;
    a one-client-at-a-time server then waits for ever. The scan closes it anyway."""
    import socket

    from nassl._nassl import OpenSSLError
    from nassl.ssl_client import SslClient

    from auditlib.tls.scan import close_sockets_on_shutdown

    close_sockets_on_shutdown()
    close_sockets_on_shutdown()  # idempotent
    left, right = socket.socketpair()
    client = SslClient(underlying_socket=left)

    class Failing:
        def shutdown(self) -> None:
            raise OpenSSLError("SSL_shutdown: something unexpected")

    client._ssl = Failing()  # type: ignore[assignment]
    client._flush_ssl_engine = lambda: None  # type: ignore[method-assign]
    with pytest.raises(OpenSSLError):
        client.shutdown()
    assert left.fileno() == -1  # closed
    assert right.recv(1) == b""  # the peer sees the connection end
    right.close()
