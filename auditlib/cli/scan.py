"""`auditlib scan`: scan TLS endpoints and judge them against the ANSSI profile."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from auditlib.cli.exitcodes import ExitCode
from auditlib.errors import AuditlibError
from auditlib.files import check_output_file, printable, write_atomic

REPORT_FORMAT = "auditlib.tls-evaluations/1"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "scan",
        help="scan TLS endpoints (sslyze) and judge them against the ANSSI TLS profile",
        description=(
            "Scan HOST:PORT endpoints concurrently and judge each against the ANSSI TLS "
            "profile (EXI EDC PSC 115/116). Exit 0 compliant, 1 non-compliant, "
            "2 incomplete (a rule not tested included) or error."
        ),
    )
    parser.add_argument("endpoints", nargs="*", metavar="HOST:PORT", help="endpoints to scan")
    parser.add_argument("--sni", help="server name for SNI and certificate checks (default: HOST)")
    parser.add_argument(
        "--client-cert",
        type=Path,
        help="PEM client certificate for mutual TLS: the leaf, optionally followed by its "
        "intermediate CAs (a chain file); the key goes in --client-key",
    )
    parser.add_argument("--client-key", type=Path, help="PEM client private key for mutual TLS")
    parser.add_argument(
        "--key-pass-env",
        metavar="VAR",
        help="name of the environment variable holding the client key passphrase",
    )
    parser.add_argument(
        "--ca-dir",
        type=Path,
        help="folder of trusted CA certificates (IGC-Santé roots); default: nothing trusted",
    )
    parser.add_argument(
        "--profile", default="anssi", help="profile name or YAML file (default: anssi)"
    )
    parser.add_argument(
        "--level",
        choices=("recommended", "tolerated"),
        help="override the profile level: does DEGRADED count as compliant (tolerated)?",
    )
    parser.add_argument("--timeout", type=int, default=5, help="network timeout in seconds")
    parser.add_argument("--json", metavar="OUT", help="write evaluations as JSON ('-': stdout)")
    parser.add_argument(
        "--save-observations",
        metavar="FILE",
        type=Path,
        help="write the observations (and raw sslyze JSON sidecars) to FILE",
    )
    parser.add_argument(
        "--from-observations",
        metavar="FILE",
        type=Path,
        help="evaluate a saved observations file instead of scanning",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from auditlib.tls import Verdict, evaluate_all, load_profile
    from auditlib.tls.scan import (
        ScanSettings,
        ScanSpec,
        load_observations,
        parse_endpoint,
        save_observations,
        scan_endpoints,
    )

    # Output paths checked before any scan: never a device, FIFO, link or folder.
    if args.json and args.json != "-":
        check_output_file(args.json)
    if args.save_observations:
        check_output_file(args.save_observations)
    profile = load_profile(args.profile)
    if args.level:
        profile = profile.model_copy(update={"level": args.level})
    if args.from_observations:
        scan_only = [
            flag
            for flag, value in (
                ("HOST:PORT", args.endpoints),
                ("--sni", args.sni),
                ("--client-cert", args.client_cert),
                ("--client-key", args.client_key),
                ("--key-pass-env", args.key_pass_env),
                ("--ca-dir", args.ca_dir),
            )
            if value
        ]
        if scan_only:
            raise AuditlibError(
                f"{', '.join(scan_only)} only apply when scanning, not with --from-observations"
            )
        observations = load_observations(args.from_observations)
    else:
        if not args.endpoints:
            raise AuditlibError("no endpoint given (HOST:PORT ...)")
        if args.timeout <= 0:
            raise AuditlibError("--timeout must be a positive number of seconds")
        specs = []
        for text in args.endpoints:
            host, port = parse_endpoint(text)
            specs.append(
                ScanSpec(
                    host=host,
                    port=port,
                    sni=args.sni,
                    client_cert=args.client_cert,
                    client_key=args.client_key,
                    key_pass_env=args.key_pass_env,
                    label=text,
                )
            )
        settings = ScanSettings(ca_dir=args.ca_dir, timeout=args.timeout)
        observations = scan_endpoints(specs, settings)
    if args.save_observations:
        save_observations(args.save_observations, observations)
    evaluations = evaluate_all(observations, profile)

    if args.json:
        payload: dict[str, Any] = {
            "format": REPORT_FORMAT,
            "profile": profile.id,
            "level": profile.level,
            "evaluations": [e.to_dict() for e in evaluations],
        }
        text = json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_atomic(args.json, text)
    if args.json != "-":
        for evaluation in evaluations:
            print(printable(format_evaluation(evaluation)))

    verdicts = {e.bottom_line for e in evaluations}
    if Verdict.NON_COMPLIANT in verdicts:
        return ExitCode.FINDINGS
    if verdicts & {Verdict.ERROR, Verdict.INCOMPLETE}:
        return ExitCode.ERROR
    # a counted rule never tested leaves the result incomplete: not "all good"
    if any(r.not_tested for e in evaluations for r in e.requirements):
        return ExitCode.ERROR
    return ExitCode.OK


def format_evaluation(evaluation: Any) -> str:
    """A readable table: one line per rule (id, status, reason), then the verdicts."""
    address = f"{evaluation.host}:{evaluation.port}"
    where = evaluation.label if evaluation.label == address else f"{evaluation.label} ({address})"
    lines = [f"== {where} - profile {evaluation.profile_id}, level {evaluation.level}"]
    if evaluation.scan_error:
        lines.append(f"   scan error: {evaluation.scan_error}")
    width = max((len(r.rule_id) for r in evaluation.results), default=4)
    not_scanned = evaluation.scan_error and all(
        r.status.value == "INCOMPLETE" for r in evaluation.results
    )
    if not_scanned:
        lines.append(f"   all {len(evaluation.results)} rules INCOMPLETE: endpoint not scanned")
    for result in () if not_scanned else evaluation.results:
        marker = "" if result.counts else " (reported separately)"
        lines.append(
            f"   {result.rule_id:<{width}}  {result.status.value:<14}  {result.reason}{marker}"
        )
    flagged = [v for v in evaluation.suites if v.status.value != "PASS"]
    if flagged:
        lines.append("   suites not at the recommended level:")
        for verdict in flagged:
            notes = []
            if verdict.breaks:
                notes.append("breaks " + ", ".join(verdict.breaks))
            if verdict.tolerated_by:
                notes.append("tolerated by " + ", ".join(verdict.tolerated_by))
            lines.append(
                f"     {verdict.version:<8} {verdict.name:<45} {verdict.status.value:<10} "
                + "; ".join(notes)
            )
    for req in evaluation.requirements:
        untested = f" (not tested: {', '.join(req.not_tested)})" if req.not_tested else ""
        lines.append(f"   {req.requirement}: {req.bottom_line.value}{untested}")
    if evaluation.days_until_expiry is not None:
        lines.append(f"   certificate expires in {evaluation.days_until_expiry} days")
    unverified = [r.rule_id for r in evaluation.results if not r.verified]
    if unverified and not not_scanned:
        lines.append(
            f"   rule numbers/titles not verified against the guide's text: "
            f"{len(unverified)} of {len(evaluation.results)} (docs/guide/tls-rules.md)"
        )
    lines.append(f"   bottom line: {evaluation.bottom_line.value}")
    return "\n".join(lines)
