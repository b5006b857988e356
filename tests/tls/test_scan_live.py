"""Real scans of loopback servers, judged rule by rule against the ANSSI profile.

All fixture endpoints are scanned in ONE `scan_endpoints` call (module-scoped), so the
suite pays for the handshakes once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlib.certs import describe_certificate
from auditlib.testing.servers import (
    DEMO_CLIENT_KEY_PASS,
    DEMO_CLIENT_KEY_PASS_ENV,
    start_fixture_servers,
)
from auditlib.testing.servers import FixtureServers as Fixtures
from auditlib.tls import EndpointEvaluation, RuleStatus, Verdict, evaluate, load_profile
from auditlib.tls.scan import (
    ScanSettings,
    ScanStatus,
    TlsObservation,
    load_observations,
    read_raw_sslyze,
    save_observations,
    scan_endpoints,
)

pytestmark = [
    pytest.mark.loopback,
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]

P, F, D, NA, INC = (
    RuleStatus.PASS,
    RuleStatus.FAIL,
    RuleStatus.DEGRADED,
    RuleStatus.NOT_APPLICABLE,
    RuleStatus.INCOMPLETE,
)


@pytest.fixture(scope="module")
def scanned(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Fixtures, dict[str, TlsObservation], Path]]:
    folder = tmp_path_factory.mktemp("tls")
    mp = pytest.MonkeyPatch()
    mp.setenv(DEMO_CLIENT_KEY_PASS_ENV, DEMO_CLIENT_KEY_PASS)
    with contextlib.ExitStack() as stack:
        fx = start_fixture_servers(stack, folder)
        # generous per-connection timeout: a loaded CI machine must not turn facts into gaps
        settings = ScanSettings(ca_dir=fx.ca_dir, timeout=10)
        observations = scan_endpoints(list(fx.specs.values()), settings)
        yield fx, {o.label: o for o in observations}, folder
    mp.undo()


@pytest.fixture(scope="module")
def evaluations(
    scanned: tuple[Fixtures, dict[str, TlsObservation], Path],
) -> dict[str, EndpointEvaluation]:
    _, observations, _ = scanned
    profile = load_profile()
    return {name: evaluate(obs, profile) for name, obs in observations.items()}


def statuses(evaluation: EndpointEvaluation, *rule_ids: str) -> dict[str, RuleStatus]:
    return {rule: evaluation.result(rule).status for rule in rule_ids}


def test_every_endpoint_comes_back_in_order(
    scanned: tuple[Fixtures, dict[str, TlsObservation], Path],
) -> None:
    fx, observations, _ = scanned
    assert list(observations) == list(fx.specs)


def test_compliant_openssl_server(evaluations: dict[str, EndpointEvaluation]) -> None:
    ev = evaluations["compliant"]
    assert ev.scan_status == ScanStatus.OK
    failing = {r.rule_id: r.reason for r in ev.results if r.status in (F, INC) and r.counts}
    assert failing == {}
    assert statuses(ev, "R3", "R4", "R5", "R6", "R7", "R9", "R10", "R11", "R13") == dict.fromkeys(
        ["R3", "R4", "R5", "R6", "R7", "R9", "R10", "R11", "R13"], P
    )
    assert statuses(
        ev, "R19", "R22", "R23", "R24", "R25", "R26", "R27", "R28", "R29"
    ) == dict.fromkeys(["R19", "R22", "R23", "R24", "R25", "R26", "R27", "R28", "R29"], P)
    assert statuses(
        ev, "R32", "R33", "R34", "R35", "RGS-B1-CLES", "RGS-B1-HACHAGE"
    ) == dict.fromkeys(["R32", "R33", "R34", "R35", "RGS-B1-CLES", "RGS-B1-HACHAGE"], P)
    assert statuses(ev, "IGC-ANCRE", "IGC-EMETTEUR", "IGC-EXPIRATION") == dict.fromkeys(
        ["IGC-ANCRE", "IGC-EMETTEUR", "IGC-EXPIRATION"], P
    )
    assert statuses(ev, "R7-", "R10-") == {"R7-": NA, "R10-": NA}
    assert ev.result("R8").status == P  # ECDSA
    # openssl s_server -www sends no HSTS header: reported, but not part of the verdict
    assert ev.result("HSTS").status == F
    assert ev.bottom_line == Verdict.COMPLIANT
    assert all(r.bottom_line == Verdict.COMPLIANT for r in ev.requirements)
    assert ev.days_until_expiry is not None and 820 <= ev.days_until_expiry <= 825


def test_legacy_server_names_the_offending_items(
    evaluations: dict[str, EndpointEvaluation],
) -> None:
    ev = evaluations["legacy"]
    r4 = ev.result("R4")
    assert r4.status == F
    assert "TLSv1.0" in r4.reason and "TLSv1.1" in r4.reason
    r6 = ev.result("R6")
    assert r6.status == F
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in r6.reason
    assert "confidentialité persistante" in r6.reason
    assert ev.result("R11").status == F  # HMAC-SHA1 suites
    assert ev.result("R10").status == D  # CBC: tolerated by R10- only
    assert ev.result("R3").status == D  # TLS 1.2 without TLS 1.3
    assert ev.result("R13").status == F  # client order
    assert ev.result("R8").status == P  # RSA-2048: Annex A.1 lists ECDHE-RSA suites
    assert ev.result("R10-").status in (P, D, F)  # encrypt_then_mac probed, not guessed
    assert ev.result("R10-").status != INC
    assert ev.result("HSTS").status == F
    assert ev.bottom_line == Verdict.NON_COMPLIANT
    by_req = {r.requirement: r for r in ev.requirements}
    assert by_req["EXI EDC PSC 115"].bottom_line == Verdict.NON_COMPLIANT
    assert {"R4", "R6", "R11", "R13"} <= set(by_req["EXI EDC PSC 115"].failed)


def test_rsa_1024_fails_key_rules(evaluations: dict[str, EndpointEvaluation]) -> None:
    ev = evaluations["rsa1024"]
    assert ev.result("R26").status == F
    assert "1024" in ev.result("R26").reason
    assert ev.result("RGS-B1-CLES").status == F
    assert ev.bottom_line == Verdict.NON_COMPLIANT


def test_rsa_2048_past_2030_warns(evaluations: dict[str, EndpointEvaluation]) -> None:
    ev = evaluations["rsa2048_2031"]
    b1 = ev.result("RGS-B1-CLES")
    assert b1.status == D
    assert "plus après 2030" in b1.reason
    assert ev.result("R26").status == P
    assert ev.result("R25").status == F  # 5 years: beyond even the IGC-Santé exception


def test_expired_certificate(evaluations: dict[str, EndpointEvaluation]) -> None:
    ev = evaluations["expired"]
    assert ev.result("IGC-EXPIRATION").status == F
    assert "expiré" in ev.result("IGC-EXPIRATION").reason
    assert ev.result("IGC-ANCRE").status == F
    assert ev.days_until_expiry is not None and ev.days_until_expiry < 0
    assert ev.bottom_line == Verdict.NON_COMPLIANT


def test_self_signed_certificate(evaluations: dict[str, EndpointEvaluation]) -> None:
    ev = evaluations["selfsigned"]
    assert ev.result("IGC-EMETTEUR").status == F
    assert ev.result("IGC-ANCRE").status == F
    assert ev.result("R32").status == NA
    assert ev.bottom_line == Verdict.NON_COMPLIANT


def test_incomplete_chain(evaluations: dict[str, EndpointEvaluation]) -> None:
    ev = evaluations["incomplete_chain"]
    assert ev.result("R34").status == F
    assert "intermédiaire manquant" in ev.result("R34").reason
    assert ev.result("IGC-EMETTEUR").status == P
    assert ev.bottom_line == Verdict.NON_COMPLIANT


def test_rsa_server_with_igc_three_year_certificate_is_a_documented_deviation(
    evaluations: dict[str, EndpointEvaluation],
) -> None:
    r25 = evaluations["mtls_with_cert"].result("R25")
    assert r25.status == D
    assert r25.deviation is not None and "IGC-Santé" in r25.deviation


def test_mtls_without_credentials_is_incomplete_at_once(
    evaluations: dict[str, EndpointEvaluation],
    scanned: tuple[Fixtures, dict[str, TlsObservation], Path],
) -> None:
    """Issue 13 point 3: detected in the first handshake, nothing judged from refusals."""
    _, observations, _ = scanned
    obs = observations["mtls"]
    assert obs.status == ScanStatus.ERROR
    assert obs.client_auth == "REQUIRED"
    assert obs.error is not None and "certificat client exigé" in obs.error
    assert obs.protocols == ()  # not scanned: every probe would end in a refusal
    ev = evaluations["mtls"]
    assert {r.status for r in ev.results} == {INC}
    assert "certificat client exigé" in ev.result("R4").reason
    assert ev.bottom_line == Verdict.INCOMPLETE


def test_mtls_with_credentials_is_scanned_fully(
    evaluations: dict[str, EndpointEvaluation],
    scanned: tuple[Fixtures, dict[str, TlsObservation], Path],
) -> None:
    _, observations, _ = scanned
    obs = observations["mtls_with_cert"]
    assert obs.status == ScanStatus.OK
    assert obs.missing == {}
    assert obs.hsts is not None and obs.hsts.max_age == 31536000
    ev = evaluations["mtls_with_cert"]
    assert ev.result("HSTS").status == P
    assert ev.result("R22").status == P
    assert ev.result("IGC-ANCRE").status == P


def test_closed_port_is_an_error_not_a_failure(evaluations: dict[str, EndpointEvaluation]) -> None:
    ev = evaluations["closed"]
    assert ev.scan_status == ScanStatus.ERROR
    assert ev.scan_error is not None and "refused" in ev.scan_error
    assert all(r.status == INC for r in ev.results)
    assert ev.bottom_line == Verdict.ERROR


def test_client_certificate_rules_on_a_bare_certificate(
    scanned: tuple[Fixtures, dict[str, TlsObservation], Path],
) -> None:
    from auditlib.tls.evaluate import evaluate_certificate

    fx, _, _ = scanned
    assert fx.client is not None
    info = describe_certificate(fx.client.certificate)
    issuer = describe_certificate(fx.pki.issuing.certificate)
    results = {r.rule_id: r for r in evaluate_certificate(info, "client", issuer=issuer)}
    assert results["R28"].status == P
    assert results["R29"].status == NA
    assert results["R32"].status == P
    assert results["IGC-EMETTEUR"].status == P


def test_observations_round_trip_with_raw_sslyze_sidecars(
    scanned: tuple[Fixtures, dict[str, TlsObservation], Path],
) -> None:
    _, observations, folder = scanned
    target = folder / "out" / "observations.json"
    save_observations(target, list(observations.values()))
    back = load_observations(target)
    assert [o.label for o in back] == list(observations)
    first = back[0]
    assert first.raw_sslyze_file is not None
    raw = read_raw_sslyze(target, first)
    assert raw["server_location"]["port"] == first.port
    assert "key_password" not in json.dumps(raw)
    assert back[0].chain == observations["compliant"].chain
    again = evaluate(back[1])
    assert again.bottom_line == Verdict.NON_COMPLIANT
    # no secret in anything we wrote
    for path in target.parent.iterdir():
        assert DEMO_CLIENT_KEY_PASS not in path.read_text()


def test_cli_exit_codes_from_saved_observations(
    scanned: tuple[Fixtures, dict[str, TlsObservation], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from auditlib.cli import main

    _, observations, folder = scanned
    compliant = folder / "cli" / "compliant.json"
    save_observations(compliant, [observations["compliant"]])
    assert main(["scan", "--from-observations", str(compliant)]) == 0
    out = capsys.readouterr().out
    assert "bottom line: COMPLIANT" in out and "R35" in out
    mixed = folder / "cli" / "mixed.json"
    save_observations(mixed, list(observations.values()))
    assert main(["scan", "--from-observations", str(mixed), "--json", "-"]) == 1
    report = json.loads(capsys.readouterr().out)
    verdicts = {e["label"]: e["bottom_line"] for e in report["evaluations"]}
    assert verdicts["compliant"] == "COMPLIANT"
    assert verdicts["legacy"] == "NON_COMPLIANT"
    assert verdicts["closed"] == "ERROR"
    # strict level: the documented IGC-Santé deviation stays accepted
    assert main(["scan", "--from-observations", str(compliant), "--level", "recommended"]) == 0


def test_suite_table_says_which_rules_each_suite_breaks(
    evaluations: dict[str, EndpointEvaluation],
) -> None:
    table = {(v.version, v.name): v for v in evaluations["legacy"].suites}
    rsa_cbc = table[("TLSv1.0", "TLS_RSA_WITH_AES_128_CBC_SHA")]
    assert rsa_cbc.status == F
    assert set(rsa_cbc.breaks) == {"R4", "R6", "R11"}
    assert set(rsa_cbc.tolerated_by) == {"R10"}
    gcm = table[("TLSv1.2", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")]
    assert gcm.status == P and gcm.breaks == () and gcm.tolerated_by == ()
    assert all(v.status == P for v in evaluations["compliant"].suites)


def test_cbc_without_encrypt_then_mac(evaluations: dict[str, EndpointEvaluation]) -> None:
    ev = evaluations["cbc_no_etm"]
    r10m = ev.result("R10-")
    assert r10m.status == F
    assert "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256" in r10m.reason
    assert "encrypt_then_mac" in r10m.reason
    assert ev.result("R10").status == D
    assert ev.result("R3").status == D
    assert ev.result("R13").status == P
    assert ev.bottom_line == Verdict.NON_COMPLIANT


def test_raw_sslyze_sidecar_is_checked(
    scanned: tuple[Fixtures, dict[str, TlsObservation], Path],
) -> None:
    from auditlib.errors import TlsObservationFileError

    _, observations, folder = scanned
    target = folder / "tamper" / "observations.json"
    save_observations(target, [observations["compliant"]])
    (obs,) = load_observations(target)
    assert obs.raw_sslyze_file is not None
    sidecar = target.parent / obs.raw_sslyze_file
    sidecar.write_text(sidecar.read_text().replace("127.0.0.1", "10.9.9.9"))
    with pytest.raises(TlsObservationFileError, match="SHA-256 differs"):
        read_raw_sslyze(target, obs)
    hostile = obs.model_copy(update={"raw_sslyze_file": "../../etc/passwd"})
    with pytest.raises(TlsObservationFileError, match="not a plain file name"):
        read_raw_sslyze(target, hostile)
