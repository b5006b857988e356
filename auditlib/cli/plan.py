"""`auditlib plan`: the audits due within a window, overdue first.

Exit codes: 0 plan made, nothing overdue; 1 plan made and at least one audit is
overdue; 2 error (registry, dates, events or scan file unusable), or a provider could not
be planned (its bundle is unusable: the plan of the others is printed, `problems` in JSON).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

from auditlib.cli.exitcodes import ExitCode
from auditlib.errors import PlanError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from auditlib.batch.plan import Plan, PlannedAudit, PlanProblem
    from auditlib.tls.scan import TlsObservation

PLAN_FORMAT = "auditlib.plan/1"
DEFAULT_REGISTRY = Path("data/registry.yaml")


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by `plan` and `batch` (what to plan)."""
    parser.add_argument(
        "--registry", type=Path, default=DEFAULT_REGISTRY, help="provider registry (YAML)"
    )
    parser.add_argument(
        "--within", default="90d", help="planning window: 90d, 12w, 3m (30-day months)"
    )
    parser.add_argument("--as-of", metavar="DATE", help="reference day (ISO date; default today)")
    parser.add_argument(
        "--events", type=Path, metavar="FILE", help="supervision events (CSV or YAML)"
    )
    parser.add_argument(
        "--min-severity",
        default="medium",
        choices=["info", "low", "medium", "high", "critical"],
        help="lowest supervision event severity that triggers an audit (default medium)",
    )
    parser.add_argument(
        "--event-delay",
        default="30d",
        help="a supervision-triggered audit is due this long after the event (default 30d)",
    )
    parser.add_argument(
        "--lead",
        default="60d",
        help="an audit opens this long before it is due (default 60d: the ANS renewal notice)",
    )
    parser.add_argument(
        "--group-window",
        default="30d",
        help="certificates of one habilitation expiring within this span are one audit "
        "(default 30d)",
    )
    parser.add_argument(
        "--history",
        type=Path,
        metavar="DIR",
        help="past audits (*/findings.json): a habilitation with none since it was issued "
        "gets an initial_entry audit",
    )


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "plan",
        help="list the audits due (certificate expiries, supervision events)",
        description=(
            "List the audits due by AS_OF + WITHIN: one per habilitation cycle whose "
            "IGC-Santé certificates (seen by a scan or filed in an evidence bundle) expire "
            "by then, one per habilitation expiry, renewal of commitments or candidature, "
            "and one per supervision event at or above --min-severity. Overdue audits come "
            "first; every other certificate is listed out of scope with its reason."
        ),
        epilog="Exit codes: 0 plan made, 1 an audit is overdue, 2 error.",
    )
    add_common_options(parser)
    parser.add_argument(
        "--scan-results",
        type=Path,
        metavar="FILE",
        help="saved TLS observations (auditlib scan --save-observations): certificates on the wire",
    )
    parser.add_argument(
        "--ca-dir",
        type=Path,
        metavar="DIR",
        help="trust anchors (CA files and anchors.yaml declaring production/test); "
        "without it IGC-Santé is recognised by policy OID and issuer (ancre non vérifiée)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=run)


def plan_from_args(
    args: argparse.Namespace,
    scan_results: Path | None = None,
    observations: Sequence[TlsObservation] | None = None,
    problems: list[PlanProblem] | None = None,
) -> tuple[list[PlannedAudit], dt.date, dt.timedelta]:
    """Parse the shared options and make the plan (with saved or fresh observations).

    `problems`: receives the providers that could not be planned (see `make_plan`)."""
    plan, as_of, within = full_plan_from_args(args, scan_results, observations, problems)
    return plan.audits, as_of, within


def full_plan_from_args(
    args: argparse.Namespace,
    scan_results: Path | None = None,
    observations: Sequence[TlsObservation] | None = None,
    problems: list[PlanProblem] | None = None,
) -> tuple[Plan, dt.date, dt.timedelta]:
    """The whole plan (audits, out-of-scope certificates, findings)."""
    from auditlib.batch.plan import make_plan, parse_date, parse_duration
    from auditlib.classify import Classifier, load_anchors
    from auditlib.registry import load_registry
    from auditlib.tls.scan import load_observations
    from auditlib.traces.events import load_supervision_events

    within = parse_duration(args.within)
    delay = parse_duration(args.event_delay)
    lead = parse_duration(getattr(args, "lead", "60d"))
    window = parse_duration(getattr(args, "group_window", "30d"))
    as_of = parse_date(args.as_of) if args.as_of else dt.datetime.now(dt.UTC).date()
    registry = load_registry(args.registry)
    ca_dir = getattr(args, "ca_dir", None)
    classifier = Classifier(load_anchors(ca_dir) if ca_dir is not None else None)
    if scan_results is not None:
        observations = load_observations(scan_results)
    events = load_supervision_events(args.events) if args.events else None
    plan = make_plan(
        registry,
        as_of,
        within,
        observations=observations,
        events=events,
        min_severity=args.min_severity,
        event_delay=delay,
        classifier=classifier,
        lead=lead,
        group_window=window,
        history=getattr(args, "history", None),
        problems=problems,
    )
    return plan, as_of, within


def run(args: argparse.Namespace) -> int:
    from auditlib.batch.plan import format_plan
    from auditlib.files import printable

    if args.scan_results is not None and not args.scan_results.is_file():
        raise PlanError(f"scan results {args.scan_results}: no such file")
    problems: list[PlanProblem] = []
    plan, as_of, within = full_plan_from_args(args, args.scan_results, problems=problems)
    audits = plan.audits
    if args.json:
        payload = {
            "format": PLAN_FORMAT,
            "as_of": as_of.isoformat(),
            "within_days": within.days,
            "audits": [a.to_dict() for a in audits],
            "out_of_scope": [o.to_dict() for o in plan.out_of_scope],
            "findings": [f.to_dict() for f in plan.findings],
            "problems": [p.to_dict() for p in problems],
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        text = format_plan(audits, as_of, within, plan=plan)
        if problems:
            text += f"{len(problems)} provider(s) not fully planned:\n" + "".join(
                f"  {p.provider_id}: {p.reason}\n" for p in problems
            )
        print(printable(text), end="")
    if problems:
        return ExitCode.ERROR
    return ExitCode.FINDINGS if any(a.overdue for a in audits) else ExitCode.OK
