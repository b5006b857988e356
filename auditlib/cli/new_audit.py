"""`auditlib new-audit PROVIDER`: one audit, one working notebook.

Creates `work/<provider>_<trigger>_<date>/` holding `audit.ipynb` (the template
`notebooks/audit_report.ipynb` parameterised by papermill, every path absolute, not
executed), the audit's own `verdicts.yaml` (empty, stamped with the provider and the
audit) and, when an earlier verdicts file of the provider exists, a copy of it as
`previous_verdicts.yaml`: offered in the notebook, never applied by itself. The outputs
are written beside the notebook. The template itself is never modified, and `batch`
never replaces a folder holding an `audit.ipynb`.

Exit codes: 0 created; 2 error (unknown provider, the folder already holds a notebook).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from pathlib import Path

from auditlib.cli.exitcodes import ExitCode
from auditlib.errors import AuditlibError

WORKING_NOTEBOOK = "audit.ipynb"
VERDICTS_NAME = "verdicts.yaml"
PREVIOUS_NAME = "previous_verdicts.yaml"
TRIGGERS = ("certificate_expiry", "supervision_event", "initial_entry")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "new-audit",
        help="create an audit's working folder: its notebook, verdicts file and outputs",
        description=(
            "Create WORK/<provider>_<trigger>_<date>/audit.ipynb from the audit notebook "
            "template with the parameters filled in (absolute paths; papermill's "
            "parameterisation, nothing executed) and the audit's own verdicts.yaml beside it. "
            "Open it in JupyterLab and run all cells."
        ),
        epilog="Exit codes: 0 created, 2 error.",
    )
    parser.add_argument("provider", metavar="PROVIDER", help="provider id in the registry")
    parser.add_argument("--trigger", choices=TRIGGERS, default="certificate_expiry")
    parser.add_argument("--reference", help="what triggered it (certificate, event)")
    parser.add_argument("--date", metavar="DATE", help="audit date (ISO; default today)")
    parser.add_argument("--registry", type=Path, default=Path("data/registry.yaml"))
    parser.add_argument("--checkpoints", type=Path, default=Path("data/checkpoints_demo.xlsx"))
    parser.add_argument(
        "--scan-results",
        type=Path,
        metavar="FILE",
        help="saved TLS observations (default: the notebook scans the endpoints live)",
    )
    parser.add_argument("--ca-dir", type=Path, help="IGC-Santé trust anchors for live scans")
    parser.add_argument(
        "--crl-source",
        type=Path,
        metavar="FILE",
        help="auditor's CRL source (YAML) for the revocation check of requirement 116",
    )
    parser.add_argument(
        "--previous-verdicts",
        type=Path,
        metavar="FILE",
        help="last cycle's verdicts to offer (default: the latest WORK/<provider>_*/"
        "verdicts.yaml, else data/verdicts/<provider>.yaml)",
    )
    parser.add_argument("--auditor", help="auditor's name")
    parser.add_argument("--language", choices=("fr", "en"), default="fr")
    parser.add_argument(
        "--work", type=Path, default=Path("work"), help="folder of the working audits (work)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from auditlib.audit.assess import AuditSpec, AuditTrigger
    from auditlib.audit.verdicts import render_document
    from auditlib.files import write_atomic
    from auditlib.registry import load_registry
    from auditlib.resources import audit_notebook

    try:
        date = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    except ValueError:
        raise AuditlibError(f"--date {args.date!r} is not an ISO date (YYYY-MM-DD)") from None
    for name, path in (("--registry", args.registry), ("--checkpoints", args.checkpoints)):
        if not path.is_file():
            raise AuditlibError(f"{name}: {path.absolute()} not found")
    for name, optional in (
        ("--scan-results", args.scan_results),
        ("--ca-dir", args.ca_dir),
        ("--crl-source", args.crl_source),
    ):
        if optional is not None and not optional.exists():
            raise AuditlibError(f"{name}: {optional.absolute()} not found")
    provider = load_registry(args.registry).get(args.provider)
    spec = AuditSpec(provider_id=provider.id, trigger=AuditTrigger(args.trigger), date=date)
    work = args.work.absolute()
    folder = work / spec.folder_name
    notebook_path = folder / WORKING_NOTEBOOK
    if notebook_path.exists():
        print(
            f"auditlib new-audit: error: {notebook_path} already exists: it is the auditor's "
            "working notebook, never replaced (open it, or remove the folder yourself)",
            file=sys.stderr,
        )
        return ExitCode.ERROR
    previous = args.previous_verdicts or _previous_verdicts(work, provider.id, spec.folder_name)
    if args.previous_verdicts is not None and not args.previous_verdicts.is_file():
        raise AuditlibError(f"--previous-verdicts: {args.previous_verdicts.absolute()} not found")

    def absolute(path: Path | None) -> str | None:
        return None if path is None else str(path.resolve())

    parameters = {
        "provider_id": provider.id,
        "audit_date": date.isoformat(),
        "trigger": spec.trigger.value,
        "trigger_reference": args.reference,
        "registry_path": absolute(args.registry),
        "checkpoints_path": absolute(args.checkpoints),
        "scan_results_path": absolute(args.scan_results),
        "verdicts_path": str(folder / VERDICTS_NAME),
        "ca_dir": absolute(args.ca_dir),
        "crl_source": absolute(args.crl_source),
        "output_dir": str(folder),
        "auditor": args.auditor,
        "language": args.language,
    }
    template = load_notebook_node(str(audit_notebook()))
    notebook = parameterize_notebook(template, parameters)
    notebook.metadata.pop("papermill", None)  # nothing was executed
    for cell in notebook.cells:  # papermill's per-cell bookkeeping, empty before a run
        cell.metadata.pop("papermill", None)
        if not cell.metadata.get("tags", True):
            cell.metadata.pop("tags")
    folder.mkdir(parents=True, exist_ok=True)
    verdicts = folder / VERDICTS_NAME
    if not verdicts.exists():
        write_atomic(verdicts, render_document(provider.id, spec.folder_name, args.auditor, []))
    if previous is not None:
        write_atomic(folder / PREVIOUS_NAME, previous.read_bytes())
    write_atomic(notebook_path, nbformat.writes(notebook) + "\n")
    print(f"created {notebook_path}")
    print(f"  verdicts: {verdicts}")
    if previous is not None:
        print(f"  last cycle's verdicts offered (not applied): {folder / PREVIOUS_NAME}")
    print(f"open it: jupyter lab {notebook_path}")
    return ExitCode.OK


def _previous_verdicts(work: Path, provider_id: str, current: str) -> Path | None:
    """The latest earlier audit's verdicts in WORK, else the provider's file in data/verdicts."""
    pattern = re.compile(rf"^{re.escape(provider_id)}_[a-z_]+_(\d{{4}}-\d{{2}}-\d{{2}})$")
    earlier = []
    if work.is_dir():
        for child in work.iterdir():
            match = pattern.match(child.name)
            if match and child.name != current and (child / VERDICTS_NAME).is_file():
                earlier.append((match.group(1), child.name, child / VERDICTS_NAME))
    if earlier:
        return max(earlier)[2]
    fallback = Path("data/verdicts") / f"{provider_id}.yaml"
    return fallback.resolve() if fallback.is_file() else None
