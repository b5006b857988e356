"""Our ANSSI verdicts beside sslyze's Mozilla checker, on the loopback test corpus.

    python scripts/compare_mozilla.py [intermediate|modern|old]

Starts the fixture servers (`auditlib.testing.servers.start_fixture_servers`) and a few
postures of issues 13/14 (anonymous DH with a 1024-bit group, RSA-2048 with ECDHE-RSA
AES-GCM, a stapled REVOKED response), scans them once with our scanner, keeps sslyze's own
result of each endpoint, and prints, per endpoint, our bottom line with the rules below
PASS next to the Mozilla checker's verdict and issues. The differences and their reasons
are written up in docs/guide/tls-mozilla.md. Loopback only; takes about half a minute.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from auditlib.testing.pki import TestPki
from auditlib.testing.servers import (
    DEMO_CLIENT_KEY_PASS,
    DEMO_CLIENT_KEY_PASS_ENV,
    HOST_NAME,
    OpenSslServerSpec,
    TestServerSpec,
    openssl_server,
    start_fixture_servers,
    tls_server,
)
from auditlib.tls import evaluate, load_profile
from auditlib.tls import scan as tls_scan
from auditlib.tls.profile import RuleStatus


def extra_postures(stack: contextlib.ExitStack, folder: Path, fx: Any) -> dict[str, Any]:
    pki: TestPki = fx.pki
    servers: dict[str, Any] = {}
    # anonymous DH, 1024-bit group (TLS 1.2 only)
    dh = folder / "dh1024.pem"
    subprocess.run(
        [shutil.which("openssl") or "openssl", "dhparam", "-out", str(dh), "1024"],
        check=True,
        capture_output=True,
    )
    anon_leaf = pki.issue(HOST_NAME, dns_names=[HOST_NAME], days=825)
    servers["anon_dh_1024"] = stack.enter_context(
        openssl_server(
            OpenSslServerSpec(
                cert_pem=anon_leaf.cert_pem(),
                key_pem=anon_leaf.key_pem(),
                chain_pem=pki.issuing.cert_pem(),
                extra_args=(
                    "-tls1_2",
                    "-cipher",
                    "ECDHE-RSA-AES128-GCM-SHA256:ADH-AES128-GCM-SHA256:@SECLEVEL=0",
                    "-dhparam",
                    str(dh),
                ),
            )
        )
    )
    # RSA-2048 with the Annex A.1 ECDHE-RSA suites, OCSP stapled
    rsa = pki.issue(HOST_NAME, dns_names=[HOST_NAME], days=398)
    servers["rsa2048_ecdhe_rsa_gcm"] = stack.enter_context(
        openssl_server(
            OpenSslServerSpec(
                cert_pem=rsa.cert_pem(),
                key_pem=rsa.key_pem(),
                chain_pem=pki.issuing.cert_pem(),
                ocsp_response_der=pki.ocsp_response(rsa),
                extra_args=(
                    "-no_ssl3",
                    "-no_tls1",
                    "-no_tls1_1",
                    "-serverpref",
                    "-cipher",
                    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:"
                    "ECDHE-RSA-CHACHA20-POLY1305",
                ),
            )
        )
    )
    revoked = pki.issue(HOST_NAME, dns_names=[HOST_NAME], days=398)
    servers["ocsp_revoked"] = stack.enter_context(
        openssl_server(
            OpenSslServerSpec(
                cert_pem=revoked.cert_pem(),
                key_pem=revoked.key_pem(),
                chain_pem=pki.issuing.cert_pem(),
                ocsp_response_der=pki.ocsp_response(revoked, revoked=True),
                extra_args=("-no_ssl3", "-no_tls1", "-no_tls1_1"),
            )
        )
    )
    servers["python_tls12_13"] = stack.enter_context(
        tls_server(TestServerSpec(cert_chain_pem=pki.chain_pem(rsa), key_pem=rsa.key_pem()))
    )
    return servers


def main(argv: list[str]) -> int:
    from sslyze.mozilla_tls_profile.tls_config_checker import (
        MozillaTlsConfiguration,
        ServerNotCompliantWithTlsConfiguration,
        ServerScanResultIncomplete,
        TlsConfigurationEnum,
        check_server_against_tls_configuration,
    )

    level = argv[0] if argv else "intermediate"
    config = MozillaTlsConfiguration.get(TlsConfigurationEnum(level))
    raw: dict[str, Any] = {}
    original = tls_scan._safe_observe

    def keep(spec: Any, settings: Any, result: Any, *rest: Any) -> Any:
        raw[spec.name] = result
        return original(spec, settings, result, *rest)

    tls_scan._safe_observe = keep  # type: ignore[assignment]
    import os

    os.environ[DEMO_CLIENT_KEY_PASS_ENV] = DEMO_CLIENT_KEY_PASS
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        folder = Path(tmp)
        fx = start_fixture_servers(stack, folder)
        for name, server in extra_postures(stack, folder, fx).items():
            fx.specs[name] = tls_scan.ScanSpec(server.host, server.port, sni=HOST_NAME, label=name)
        observations = tls_scan.scan_endpoints(
            list(fx.specs.values()),
            tls_scan.ScanSettings(
                ca_dir=fx.ca_dir,
                timeout=5,
                # the two commands the Mozilla checker needs beyond ours
                commands=(
                    *tls_scan.DEFAULT_COMMANDS,
                    "openssl_ccs_injection",
                    "tls_extended_master_secret",
                ),
            ),
        )
    profile = load_profile()
    print(f"endpoint | ours (ANSSI, level {profile.level}) | Mozilla {level}")
    for obs in observations:
        ev = evaluate(obs, profile)
        below = [
            f"{r.rule_id}={r.status.value}"
            for r in ev.results
            if r.counts and r.status not in (RuleStatus.PASS, RuleStatus.NOT_APPLICABLE)
        ]
        result = raw.get(obs.label)
        if result is None:
            mozilla = "not scanned by sslyze"
        else:
            try:
                check_server_against_tls_configuration(result, config)
                mozilla = "compliant"
            except ServerNotCompliantWithTlsConfiguration as exc:
                mozilla = "NOT compliant: " + "; ".join(
                    f"{k}: {v}" for k, v in sorted(exc.issues.items())
                )
            except ServerScanResultIncomplete as exc:
                mozilla = f"incomplete: {exc}"
        ours = ev.bottom_line.value + (f" ({', '.join(below)})" if below else "")
        print(f"{obs.label} | {ours} | {mozilla}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
