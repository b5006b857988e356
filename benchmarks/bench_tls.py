"""Benchmark: our scan + ANSSI evaluation vs a raw sslyze Scanner run, on 8 loopback endpoints.

Prints, side by side in one run:
1. raw sslyze `Scanner` (same scan commands, same trust anchors) vs `scan_endpoints` +
   `evaluate` for all endpoints; target ratio <= 1.15;
2. 8 endpoints in one concurrent run vs one after another; target <= 0.5x.

The servers are `openssl s_server` processes, so the scanner's process does only the
client side. Usage: python benchmarks/bench_tls.py [--endpoints 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditlib.testing.pki import TestPki
from auditlib.testing.servers import OpenSslServerSpec, RunningServer, openssl_server
from auditlib.tls import evaluate, load_profile
from auditlib.tls.scan import DEFAULT_COMMANDS, ScanSettings, ScanSpec, scan_endpoints

NAME = "api.fournisseur-demo.test"


def start_servers(
    stack: contextlib.ExitStack, count: int, folder: Path
) -> tuple[list[RunningServer], Path]:
    pki = TestPki.create(key=("ec", 256))
    ca_dir = pki.write_ca_dir(folder / "anchors")
    servers = []
    for index in range(count):
        leaf = pki.issue(NAME, key=("ec", 256), dns_names=[NAME], days=825)
        extra: tuple[str, ...] = ("-serverpref",)
        if index % 2:  # half of them legacy-ish, so both code paths are exercised
            extra += ("-cipher", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256")
        servers.append(
            stack.enter_context(
                openssl_server(
                    OpenSslServerSpec(
                        cert_pem=leaf.cert_pem(),
                        key_pem=leaf.key_pem(),
                        chain_pem=pki.issuing.cert_pem(),
                        extra_args=extra,
                    )
                )
            )
        )
    return servers, ca_dir


def raw_sslyze(servers: list[RunningServer], ca_dir: Path) -> None:
    """The baseline: sslyze's Scanner with the same commands and anchors, nothing else."""
    from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument
    from sslyze.plugins.scan_commands import ScanCommand
    from sslyze.scanner.models import ScanCommandsExtraArguments, ServerScanRequest
    from sslyze.scanner.scanner import Scanner
    from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

    bundle = ca_dir.parent / "bundle.pem"
    bundle.write_bytes(b"".join(p.read_bytes() for p in sorted(ca_dir.glob("*.pem"))))
    requests = [
        ServerScanRequest(
            server_location=ServerNetworkLocation(hostname=NAME, port=s.port, ip_address=s.host),
            network_configuration=ServerNetworkConfiguration(
                tls_server_name_indication=NAME, network_timeout=5, network_max_retries=1
            ),
            scan_commands={ScanCommand(c) for c in DEFAULT_COMMANDS},
            scan_commands_extra_arguments=ScanCommandsExtraArguments(
                certificate_info=CertificateInfoExtraArgument(custom_ca_file=bundle)
            ),
        )
        for s in servers
    ]
    scanner = Scanner(concurrent_server_scans_limit=max(1, len(requests)))
    scanner.queue_scans(requests)
    results = list(scanner.get_results())
    assert len(results) == len(servers)


def ours(servers: list[RunningServer], ca_dir: Path, extra_probes: bool = True) -> None:
    profile = load_profile()
    specs = [ScanSpec(host=s.host, port=s.port, sni=NAME) for s in servers]
    observations = scan_endpoints(specs, ScanSettings(ca_dir=ca_dir, extra_probes=extra_probes))
    evaluations = [evaluate(o, profile) for o in observations]
    assert all(o.status.value == "OK" for o in observations), [o.error for o in observations]
    assert len(evaluations) == len(servers)


def timed(func: Callable[[], None], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoints", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        servers, ca_dir = start_servers(stack, args.endpoints, Path(tmp))
        ours(servers[:1], ca_dir)  # warm-up: imports, trust store parsing
        n = len(servers)
        raw = timed(lambda: raw_sslyze(servers, ca_dir), args.rounds)
        full = timed(lambda: ours(servers, ca_dir), args.rounds)
        core = timed(lambda: ours(servers, ca_dir, extra_probes=False), args.rounds)
        one_by_one = timed(lambda: [ours([s], ca_dir) for s in servers] and None, args.rounds)
    print(f"endpoints: {n} (openssl s_server on 127.0.0.1), median of {args.rounds} rounds")
    rows = [
        ("raw sslyze Scanner (same commands)", raw, ""),
        ("auditlib scan+evaluate, sslyze pass only", core, f"ratio {core / raw:.2f}"),
        ("auditlib scan+evaluate, + R13/R10- probes", full, f"ratio {full / raw:.2f}"),
        (f"auditlib, {n} endpoints one after another", one_by_one, ""),
    ]
    for label, seconds, note in rows:
        print(f"{label:<44} {seconds:6.2f} s  {note}")
    print(
        f"ratio target <= 1.15; concurrent / sequential = {full / one_by_one:.2f}x (target <= 0.5x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
