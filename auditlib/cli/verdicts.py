"""`auditlib verdicts`: the auditor's verdicts file, prepared or read back from Excel.

- `auditlib verdicts template PROVIDER`: a verdicts file with every control still
  "à évaluer" ready to fill (each entry a placeholder that records nothing until its
  status is changed);
- `auditlib verdicts from-grille GRILLE.xlsx --output verdicts.yaml [--merge]`: the
  "Appréciation auditeur" / "Commentaire auditeur" columns of a grille's `Constats` sheet.

Exit codes: 0 written; 2 unusable input (a bad cell is named, `Constats!F12`), nothing
written. Format: docs/formats/verdicts.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

from auditlib.cli.exitcodes import ExitCode
from auditlib.errors import AuditlibError

DEFAULT_REGISTRY = Path("data/registry.yaml")
DEFAULT_CHECKPOINTS = Path("data/checkpoints_demo.xlsx")
TRIGGERS = ("certificate_expiry", "supervision_event", "initial_entry")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "verdicts",
        help="prepare a verdicts file, or read the auditor's verdicts back from grille.xlsx",
        description="The auditor's verdicts file (docs/formats/verdicts.md).",
        epilog="Exit codes: 0 written, 2 unusable input (nothing written).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    template = actions.add_parser(
        "template",
        help="a verdicts file with every 'à évaluer' control ready to fill",
        description=(
            "Assess PROVIDER with the saved scan results (or none: the endpoints' controls "
            "are then 'erreur', never 'à évaluer') and write one placeholder entry per "
            "control no automated check can judge. A placeholder records nothing until its "
            "status is changed."
        ),
    )
    template.add_argument("provider", metavar="PROVIDER", help="provider id in the registry")
    template.add_argument("--registry", type=Path, default=DEFAULT_REGISTRY)
    template.add_argument("--checkpoints", type=Path, default=DEFAULT_CHECKPOINTS)
    template.add_argument("--trigger", choices=TRIGGERS, default="certificate_expiry")
    template.add_argument("--date", metavar="DATE", help="audit date (ISO; default today)")
    template.add_argument(
        "--scan-results", type=Path, metavar="FILE", help="saved TLS observations (no scan)"
    )
    template.add_argument(
        "--verdicts", type=Path, metavar="FILE", help="verdicts already recorded (kept)"
    )
    template.add_argument("--auditor", help="auditor's name written in the file")
    template.add_argument(
        "--output", "-o", type=Path, help="file to write (default: print on standard output)"
    )
    template.add_argument("--force", action="store_true", help="replace an existing --output")
    template.set_defaults(handler=run_template)

    grille = actions.add_parser(
        "from-grille",
        help="read the auditor columns of grille.xlsx into a verdicts file",
        description=(
            "Read the 'Appréciation auditeur' and 'Commentaire auditeur' columns of the "
            "Constats sheet of a grille.xlsx written by the audit. Every bad cell is named "
            "(Constats!F12) and nothing is written."
        ),
    )
    grille.add_argument("grille", type=Path, metavar="GRILLE.xlsx")
    grille.add_argument("--output", "-o", type=Path, required=True, metavar="verdicts.yaml")
    grille.add_argument(
        "--merge",
        action="store_true",
        help="merge into an existing --output (same control: the grille's verdict wins; "
        "verdicts unchanged in the grille keep their recorded author and date)",
    )
    grille.add_argument("--auditor", help="who recorded these verdicts (default: the grille's)")
    grille.add_argument("--date", metavar="DATE", help="verdict date (ISO; default today)")
    grille.set_defaults(handler=run_from_grille)


def _date(text: str | None) -> dt.date:
    if not text:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise AuditlibError(f"--date {text!r} is not an ISO date (YYYY-MM-DD)") from None


def run_from_grille(args: argparse.Namespace) -> int:
    from auditlib.audit.verdicts import load_verdicts, save_verdicts
    from auditlib.report.grille import read_grille_verdicts

    read = read_grille_verdicts(args.grille, auditor=args.auditor, date=_date(args.date))
    output: Path = args.output
    entries = list(read.entries)
    unchanged = 0
    if output.exists():
        if not args.merge:
            print(
                f"auditlib verdicts: error: {output} exists: give --merge to merge into it "
                "(nothing written)",
                file=sys.stderr,
            )
            return ExitCode.ERROR
        recorded = {
            v.control_ref: v
            for v in load_verdicts(output, read.grid, read.provider_id, audit=read.audit)
        }
        kept = []
        for entry in entries:
            before = recorded.get(entry.control)
            if (
                before is not None
                and before.status is entry.status
                and (before.comment or None) == (entry.comment or None)
            ):
                unchanged += 1  # keep who recorded it and when
                continue
            kept.append(entry)
        entries = kept
    verdicts = save_verdicts(
        output,
        read.grid,
        entries,
        provider_id=read.provider_id,
        audit=read.audit,
        auditor=read.auditor,
        merge=args.merge,
    )
    print(
        f"{args.grille}: {len(read.entries)} appreciation(s) read, {len(entries)} recorded"
        + (f", {unchanged} unchanged" if unchanged else "")
        + f"; {output} now holds {len(verdicts)} verdict(s) for {read.provider_id}"
    )
    return ExitCode.OK


def run_template(args: argparse.Namespace) -> int:
    from auditlib.audit.assess import AuditTrigger, ControlStatus
    from auditlib.audit.run import AuditSettings, run_audit
    from auditlib.audit.verdicts import read_document, render_document
    from auditlib.files import write_atomic
    from auditlib.tls.scan import save_observations

    if args.output is not None and args.output.exists() and not args.force:
        print(
            f"auditlib verdicts: error: {args.output} exists (--force to replace it)",
            file=sys.stderr,
        )
        return ExitCode.ERROR
    with tempfile.TemporaryDirectory(prefix="auditlib-template-") as tmp:
        scans = args.scan_results or save_observations(Path(tmp) / "no-scan.json", [])
        settings = AuditSettings(
            provider_id=args.provider,
            audit_date=_date(args.date),
            trigger=AuditTrigger(args.trigger),
            registry_path=args.registry,
            checkpoints_path=args.checkpoints,
            scan_results_path=scans,
            verdicts_path=args.verdicts,
            auditor=args.auditor,
        )
        run = run_audit(settings)
    kept = list((read_document(args.verdicts).get("verdicts") or []) if args.verdicts else [])
    pending = [c for c in run.assessment.controls if c.status is ControlStatus.A_EVALUER]
    entries = kept + [
        {"control": c.ref, "status": ControlStatus.A_EVALUER.value, "comment": ""} for c in pending
    ]
    notes = {c.ref: c.control.text for c in pending}
    text = render_document(
        run.provider.id, run.spec.folder_name, args.auditor or run.spec.auditor, entries, notes
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_atomic(args.output, text)
        print(
            f"{args.output}: {len(pending)} control(s) to assess for {run.provider.id} "
            f"(audit {run.spec.folder_name})",
            file=sys.stderr,
        )
    return ExitCode.OK
