"""Issues 13 and 14 postures on real loopback servers, expected verdicts written as data.

`openssl s_server` staples responses made by `openssl ocsp` (`-status_file`), demands a
client certificate (`-Verify 1`, single-threaded: it stalls a scanner that has none) and
accepts 0-RTT (`-early_data`, which s_server cannot combine with `-www`: no HTTP answer).
Every posture is scanned in ONE `scan_endpoints` call.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditlib.files import write_atomic
from auditlib.testing.pki import TestPki
from auditlib.testing.servers import (
    HOST_NAME,
    OpenSslServerSpec,
    TestServerSpec,
    ocsp_good_response,
    openssl_server,
    stalling_proxy,
    tls_server,
)
from auditlib.tls import EndpointEvaluation, RuleStatus, Verdict, evaluate, load_profile
from auditlib.tls.scan import ScanSettings, ScanSpec, TlsObservation, scan_endpoints

pytestmark = [
    pytest.mark.loopback,
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]

P, F, D, NA, INC, NT = (
    RuleStatus.PASS,
    RuleStatus.FAIL,
    RuleStatus.DEGRADED,
    RuleStatus.NOT_APPLICABLE,
    RuleStatus.INCOMPLETE,
    RuleStatus.NOT_TESTED,
)

MODERN = (
    "-no_ssl3",
    "-no_tls1",
    "-no_tls1_1",
    "-serverpref",
    "-cipher",
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384",
    "-groups",
    "P-256:P-384",
)

# posture -> (expected rule statuses, expected bottom line, words expected in a reason)
EXPECTED: dict[str, tuple[dict[str, RuleStatus], Verdict, dict[str, str]]] = {
    "ocsp_good": ({"R35": P, "IGC-REVOCATION": P, "R23": P}, Verdict.COMPLIANT, {}),
    "ocsp_revoked": (
        {"R35": F, "IGC-REVOCATION": F},
        Verdict.NON_COMPLIANT,
        {"R35": "révoqué", "IGC-REVOCATION": "key_compromise"},
    ),
    "ocsp_other_certificate": (
        {"R35": F, "IGC-REVOCATION": NT},
        Verdict.NON_COMPLIANT,
        {"R35": "autre certificat"},
    ),
    "ocsp_bad_signature": (
        {"R35": F, "IGC-REVOCATION": NT},
        Verdict.NON_COMPLIANT,
        {"R35": "signature"},
    ),
    "ocsp_stale": (
        {"R35": F, "IGC-REVOCATION": NT},
        Verdict.NON_COMPLIANT,
        {"R35": "trop ancienne"},
    ),
    "zero_rtt_no_http": (
        {"R23": F, "R4": P, "R3": P},
        Verdict.NON_COMPLIANT,
        {"R23": "0-RTT acceptées"},
    ),
    "mtls_no_client_cert": (
        {"R3": INC, "R4": INC, "R23": INC, "R35": INC},
        Verdict.INCOMPLETE,
        {"R4": "certificat client exigé"},
    ),
    # the backend accepts a SHA-1 CBC suite (R11 FAIL when scanned directly) ...
    "suite_probe_direct": ({"R11": F, "R4": P}, Verdict.NON_COMPLIANT, {"R11": "SHA"}),
    # ... behind a proxy that never answers that suite's probe: unknown, not "refused"
    "suite_probe_timeout": (
        {"R9": INC, "R10": INC, "R11": INC, "R12": INC, "R4": P, "R3": P},
        Verdict.INCOMPLETE,
        {"R11": "délai dépassé"},
    ),
    # the Python server staples nothing: R35 fails, revocation is not tested
    "mtls_chain_file": (
        {"R4": P, "R3": P, "R22": P, "HSTS": P, "R35": F, "IGC-REVOCATION": NT},
        Verdict.NON_COMPLIANT,
        {},
    ),
    "mtls_leaf_file": (
        {"R4": P, "R3": P, "R22": P, "HSTS": P, "R35": F, "IGC-REVOCATION": NT},
        Verdict.NON_COMPLIANT,
        {},
    ),
}


@pytest.fixture(scope="module")
def postures(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[TlsObservation, EndpointEvaluation]]]:
    folder = tmp_path_factory.mktemp("postures")
    pki = TestPki.create(key=("ec", 256))
    rsa_pki = TestPki.create()
    forger = TestPki.create(key=("ec", 256))  # same names, other keys
    anchors = pki.write_ca_dir(folder / "anchors")
    write_atomic(anchors / "rsa-root.pem", rsa_pki.root.cert_pem())
    write_atomic(anchors / "rsa-issuing.pem", rsa_pki.issuing.cert_pem())
    now = dt.datetime.now(dt.UTC)

    def leaf() -> Any:
        return pki.issue(HOST_NAME, key=("ec", 256), dns_names=[HOST_NAME], days=825)

    def stapling(cert: Any, response: bytes, *extra: str, www: bool = True) -> OpenSslServerSpec:
        return OpenSslServerSpec(
            cert_pem=cert.cert_pem(),
            key_pem=cert.key_pem(),
            chain_pem=pki.issuing.cert_pem(),
            ocsp_response_der=response,
            extra_args=(*MODERN, *extra),
            www=www,
        )

    good, revoked, other, served, forged, stale = (leaf() for _ in range(6))
    zero = leaf()
    servers: dict[str, OpenSslServerSpec] = {
        "ocsp_good": stapling(good, pki.ocsp_response(good)),
        "ocsp_revoked": stapling(revoked, pki.ocsp_response(revoked, revoked=True)),
        "ocsp_other_certificate": stapling(served, pki.ocsp_response(other)),
        "ocsp_bad_signature": stapling(forged, pki.ocsp_response(forged, signer=forger.issuing)),
        "ocsp_stale": stapling(
            stale,
            ocsp_good_response(
                pki,
                stale,
                this_update=now - dt.timedelta(days=10),
                next_update=now + dt.timedelta(days=1),
            ),
        ),
        "zero_rtt_no_http": stapling(zero, pki.ocsp_response(zero), "-early_data", www=False),
    }
    mtls_openssl = leaf()
    servers["mtls_no_client_cert"] = OpenSslServerSpec(
        cert_pem=mtls_openssl.cert_pem(),
        key_pem=mtls_openssl.key_pem(),
        chain_pem=pki.issuing.cert_pem(),
        client_ca_pem=rsa_pki.ca_bundle_pem(),
        extra_args=MODERN,
    )
    # client credentials: the same certificate as a chain file and as a leaf-only file
    client = rsa_pki.issue("FOURNISSEUR DEMO AUTH_CLI", profile="client")
    chain_file = write_atomic(folder / "client-chain.pem", rsa_pki.chain_pem(client))
    leaf_file = write_atomic(folder / "client-leaf.pem", client.cert_pem())
    key_file = write_atomic(folder / "client.key.pem", client.key_pem())
    mtls_cert = rsa_pki.issue(HOST_NAME, dns_names=[HOST_NAME], days=825)
    sha1_cbc = rsa_pki.issue(HOST_NAME, dns_names=[HOST_NAME], days=825)
    backend = OpenSslServerSpec(
        cert_pem=sha1_cbc.cert_pem(),
        key_pem=sha1_cbc.key_pem(),
        chain_pem=rsa_pki.issuing.cert_pem(),
        ocsp_response_der=rsa_pki.ocsp_response(sha1_cbc),
        extra_args=(
            "-no_ssl3",
            "-no_tls1",
            "-no_tls1_1",
            "-serverpref",
            "-cipher",
            "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA",
        ),
    )

    with contextlib.ExitStack() as stack:
        specs = []
        for name, spec in servers.items():
            running = stack.enter_context(openssl_server(spec))
            specs.append(ScanSpec(running.host, running.port, sni=HOST_NAME, label=name))
        direct = stack.enter_context(openssl_server(backend))
        specs.append(ScanSpec(direct.host, direct.port, sni=HOST_NAME, label="suite_probe_direct"))
        # TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA (0xC013) probed alone with TLS 1.2: no answer
        proxy = stack.enter_context(stalling_proxy(direct, stall_suite=0xC013))
        stalled = [ScanSpec(proxy.host, proxy.port, sni=HOST_NAME, label="suite_probe_timeout")]
        python_mtls = stack.enter_context(
            tls_server(
                TestServerSpec(
                    cert_chain_pem=rsa_pki.chain_pem(mtls_cert),
                    key_pem=mtls_cert.key_pem(),
                    ciphers="ECDHE+AESGCM",
                    client_ca_pem=rsa_pki.ca_bundle_pem(),
                )
            )
        )
        for name, cert_file in (("mtls_chain_file", chain_file), ("mtls_leaf_file", leaf_file)):
            specs.append(
                ScanSpec(
                    python_mtls.host,
                    python_mtls.port,
                    sni=HOST_NAME,
                    label=name,
                    client_cert=Path(cert_file),
                    client_key=Path(key_file),
                )
            )
        # A generous time-out for the servers that answer (a loaded CI machine must not turn
        # a slow answer into INCOMPLETE), a short one where the probe is meant to time out.
        observations = scan_endpoints(specs, ScanSettings(ca_dir=anchors, timeout=6))
        observations += scan_endpoints(stalled, ScanSettings(ca_dir=anchors, timeout=3))
    profile = load_profile()
    yield {o.label: (o, evaluate(o, profile)) for o in observations}


@pytest.mark.parametrize("posture", sorted(EXPECTED))
def test_posture_verdicts(
    postures: dict[str, tuple[TlsObservation, EndpointEvaluation]], posture: str
) -> None:
    rules, bottom_line, words = EXPECTED[posture]
    _, ev = postures[posture]
    got = {rule: ev.result(rule).status for rule in rules}
    assert got == rules, {r: ev.result(r).reason for r in rules}
    for rule, text in words.items():
        assert text in ev.result(rule).reason, ev.result(rule).reason
    assert ev.bottom_line == bottom_line, [
        (r.rule_id, r.status.value, r.reason) for r in ev.results if r.status not in (P, NA)
    ]


def test_nothing_untested_is_passed(
    postures: dict[str, tuple[TlsObservation, EndpointEvaluation]],
) -> None:
    """Issue 13's "done when": no posture is compliant with a rule left untested."""
    for name, (_, ev) in postures.items():
        untested = [r.rule_id for r in ev.results if r.status in (NT, INC) and r.counts]
        if untested:
            assert ev.bottom_line != Verdict.COMPLIANT, name


def test_chain_file_gives_the_same_verdicts_as_leaf_file(
    postures: dict[str, tuple[TlsObservation, EndpointEvaluation]],
) -> None:
    """Issue 13 point 4: SSLv2/SSLv3 probed without client credentials, everything else
    with the chain; same observation facts, same verdicts."""
    chain_obs, chain_ev = postures["mtls_chain_file"]
    leaf_obs, leaf_ev = postures["mtls_leaf_file"]
    assert chain_obs.missing == {} and leaf_obs.missing == {}
    assert chain_obs.protocol("SSLv2") is not None
    assert chain_obs.protocol("SSLv2").accepted is False  # type: ignore[union-attr]
    assert chain_obs.protocol("SSLv3").accepted is False  # type: ignore[union-attr]
    statuses = {r.rule_id: r.status for r in chain_ev.results}
    assert statuses == {r.rule_id: r.status for r in leaf_ev.results}
    assert chain_ev.bottom_line == leaf_ev.bottom_line


def test_the_stapled_response_is_kept_in_the_observation(
    postures: dict[str, tuple[TlsObservation, EndpointEvaluation]],
) -> None:
    obs, _ = postures["ocsp_revoked"]
    assert obs.ocsp is not None
    assert obs.ocsp.cert_status == "REVOKED" and obs.ocsp.for_leaf is True
    assert obs.ocsp.signature_valid is True
    assert obs.ocsp.revocation_reason == "key_compromise"
    other, _ = postures["ocsp_other_certificate"]
    assert other.ocsp is not None and other.ocsp.for_leaf is False
    assert other.leaf is not None and other.ocsp.serial != other.leaf.serial


def test_a_time_out_is_retried_once_then_left_unknown(
    postures: dict[str, tuple[TlsObservation, EndpointEvaluation]],
) -> None:
    obs, _ = postures["suite_probe_timeout"]
    tls12 = obs.protocol("TLSv1.2")
    assert tls12 is not None and tls12.accepted is True
    assert tls12.timed_out == ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",)
    assert "retried once" in obs.missing["tls_1_2_cipher_suites"]
    direct, _ = postures["suite_probe_direct"]
    direct12 = direct.protocol("TLSv1.2")
    assert direct12 is not None and direct12.timed_out == ()
    names = {s.name for s in direct12.suites}
    assert "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" in names
