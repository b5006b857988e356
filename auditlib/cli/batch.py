"""`auditlib batch`: plan, scan every due endpoint once, run the audit notebook per due
audit in worker processes, optionally sign every report.

Exit codes: 0 every due audit has its report (made now or up to date); 2 at least one
audit failed (the summary says how many) or the batch could not start.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from auditlib.cli.exitcodes import ExitCode
from auditlib.cli.plan import add_common_options, plan_from_args
from auditlib.errors import BatchError

if TYPE_CHECKING:
    from auditlib.batch.cluster import ClusterSpec


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "batch",
        help="produce every due audit's report (plan, one scan, notebooks in N workers)",
        description=(
            "Scan the registry's endpoints once, plan the audits due (as `auditlib plan`), "
            "then execute the audit notebook once per due audit in N worker processes. "
            "Resumable: audits whose inputs and outputs match the ledger are skipped."
        ),
        epilog="Exit codes: 0 every audit done or up to date, 2 an audit failed or error.",
    )
    add_common_options(parser)
    parser.add_argument(
        "--checkpoints",
        type=Path,
        default=Path("data/checkpoints_demo.xlsx"),
        help="checkpoint workbook (xlsx)",
    )
    parser.add_argument(
        "--scan-results",
        type=Path,
        metavar="FILE",
        help="use these saved TLS observations instead of scanning",
    )
    parser.add_argument("--workers", type=int, help="notebooks at once (default: CPU count)")
    parser.add_argument(
        "--output", type=Path, default=Path("audits"), help="batch folder (default audits/)"
    )
    parser.add_argument("--force", action="store_true", help="redo audits that are up to date")
    parser.add_argument("--ca-dir", type=Path, metavar="DIR", help="trusted CA certificates")
    parser.add_argument(
        "--crl-source",
        type=Path,
        metavar="FILE",
        help="auditor's CRL source (YAML) for the revocation check of requirement 116",
    )
    parser.add_argument(
        "--verdicts-dir", type=Path, metavar="DIR", help="auditor verdicts: DIR/<provider>.yaml"
    )
    parser.add_argument("--auditor", help="auditor name shown in the reports")
    parser.add_argument("--notebook", type=Path, help="audit notebook (default: the shipped one)")
    parser.add_argument(
        "--timeout", type=int, default=900, help="seconds one notebook cell may run"
    )
    parser.add_argument(
        "--executor",
        choices=("fork", "kernel"),
        default="fork",
        help="fork: run each notebook in a fork of a warm worker, no kernel (default, "
        "fastest); kernel: papermill with a Jupyter kernel per notebook",
    )
    parser.add_argument(
        "--cold-kernels",
        action="store_true",
        help="with kernels: start every kernel from scratch instead of forking a "
        "pre-imported template (implies --executor kernel)",
    )
    dask = parser.add_argument_group(
        "Dask cluster (optional extra [dask]; outputs in a folder every worker sees)"
    )
    dask.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the notebooks on this Dask scheduler: tcp://127.0.0.1:PORT (loopback only) "
        "or tls://HOST:PORT with the three files below",
    )
    dask.add_argument("--dask-ca", type=Path, metavar="FILE", help="CA of the cluster (tls://)")
    dask.add_argument("--dask-cert", type=Path, metavar="FILE", help="client certificate (tls://)")
    dask.add_argument("--dask-key", type=Path, metavar="FILE", help="client key, PEM (tls://)")
    sign = parser.add_argument_group("signing (PAdES, auditlib.sign)")
    sign.add_argument("--sign", action="store_true", help="sign each report.pdf")
    key = sign.add_mutually_exclusive_group()
    key.add_argument("--p12", type=Path, help="PKCS#12 (.p12/.pfx) with key and certificate")
    key.add_argument("--key", type=Path, help="PEM private key (with --cert)")
    sign.add_argument("--cert", type=Path, help="PEM certificate of --key")
    sign.add_argument("--chain", type=Path, action="append", default=[], help="CA to embed")
    sign.add_argument("--pass-env", metavar="VAR", help="NAME of the variable with the passphrase")
    sign.add_argument("--signer", metavar="NAME", help="name shown (default: certificate CN)")
    sign.add_argument("--timestamp-url", metavar="URL", help="RFC 3161 server (PAdES B-T)")
    parser.add_argument("--json", action="store_true", help="machine-readable summary")
    parser.set_defaults(handler=run)


def _signing(args: argparse.Namespace) -> object | None:
    from auditlib.errors import BatchError

    given = [f for f, v in (("--p12", args.p12), ("--key", args.key), ("--cert", args.cert)) if v]
    if not args.sign:
        if given or args.pass_env:
            raise BatchError(f"{', '.join(given) or '--pass-env'} needs --sign")
        return None
    if not args.p12 and not (args.key and args.cert):
        raise BatchError("--sign needs --p12 FILE, or --key FILE --cert FILE")
    from auditlib.sign import SignerSpec, SigningSettings

    return SigningSettings(
        signer=SignerSpec(
            p12_path=args.p12,
            key_path=args.key,
            cert_path=args.cert,
            chain_paths=tuple(args.chain),
            pass_env=args.pass_env,
        ),
        signer_name=args.signer,
        timestamp_url=args.timestamp_url,
    )


def _cluster(args: argparse.Namespace) -> ClusterSpec | None:
    from auditlib.batch.cluster import ClusterSpec, check_spec

    if args.scheduler is None:
        if args.dask_ca or args.dask_cert or args.dask_key:
            raise BatchError("--dask-ca, --dask-cert and --dask-key go with --scheduler")
        return None
    spec = ClusterSpec(args.scheduler, args.dask_ca, args.dask_cert, args.dask_key)
    check_spec(spec)  # before any scan: a bad address fails at once
    return spec


def run(args: argparse.Namespace) -> int:
    from auditlib.batch.plan import parse_date, parse_duration
    from auditlib.batch.runner import (
        DEFAULT_NOTEBOOK,
        AuditStatus,
        BatchSettings,
        check_settings,
        run_batch,
        scan_due_endpoints,
    )
    from auditlib.errors import BatchError
    from auditlib.files import redact

    if args.timeout is not None and args.timeout <= 0:
        raise BatchError("--timeout must be a positive number of seconds")
    parse_duration(args.within)  # typos fail before any scan
    parse_duration(args.event_delay)
    if args.as_of:
        parse_date(args.as_of)
    settings = BatchSettings(
        output_dir=args.output,
        registry_path=args.registry,
        checkpoints_path=args.checkpoints,
        notebook_path=args.notebook or DEFAULT_NOTEBOOK,
        workers=args.workers,
        ca_dir=args.ca_dir,
        crl_source=args.crl_source,
        verdicts_dir=args.verdicts_dir,
        scan_results_path=args.scan_results,
        auditor=args.auditor,
        force=args.force,
        signing=_signing(args),
        execution_timeout=args.timeout,
        warm_kernels=not args.cold_kernels,
        executor=args.executor,
        cluster=_cluster(args),
    )
    check_settings(settings)
    observations = None
    if args.scan_results is None:
        # One scan of the registry's endpoints before planning, so that certificates seen
        # on the wire count in the plan; the batch reuses it (no second scan).
        from auditlib.registry import load_registry
        from auditlib.tls.scan import ScanSettings

        registry = load_registry(args.registry)
        count = sum(len(p.endpoints) for p in registry)
        print(f"batch: scanning {count} endpoint(s) once", file=sys.stderr)
        observations = scan_due_endpoints(list(registry), ScanSettings(ca_dir=args.ca_dir))
    from auditlib.batch.plan import PlanProblem

    problems: list[PlanProblem] = []
    audits, as_of, within = plan_from_args(args, args.scan_results, observations, problems)
    for problem in problems:
        print(f"batch: {problem.provider_id} not planned: {problem.reason}", file=sys.stderr)
    print(
        f"batch: {len(audits)} audit(s) due by {(as_of + within).isoformat()} "
        f"(as of {as_of.isoformat()})",
        file=sys.stderr,
    )
    result = run_batch(
        audits, settings, progress=sys.stderr, observations=observations, problems=problems
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        for outcome in result.outcomes:
            line = f"{outcome.status.value:<8} {outcome.job.folder}"
            if outcome.failure is not None:
                f = outcome.failure
                cell = f" in cell {f.cell_index}" if f.cell_index is not None else ""
                line += f": {f.error_name}{cell}: {f.message.splitlines()[0] if f.message else ''}"
                if f.notebook:
                    line += f" (notebook: {f.notebook})"
            elif outcome.signed:
                line += " (signed)"
            print(redact(line))
        print(
            f"{result.count(AuditStatus.DONE)} done, {result.count(AuditStatus.SKIPPED)} up to "
            f"date, {result.count(AuditStatus.FAILED)} failed in {result.seconds:.1f}s; "
            f"reports in {result.output_dir}, ledger {result.ledger_path.name}"
        )
    return ExitCode.ERROR if result.count(AuditStatus.FAILED) else ExitCode.OK
