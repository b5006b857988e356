"""`auditlib demo`: the whole workbench on the demo data shipped in `data/`, in one command.

Exit codes: 0 the demo ran (findings in the demo reports are expected: the providers are
staged to have them), 2 the demo machinery failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from auditlib.checkpoints.reader import load_checkpoints
from auditlib.cli.checkpoints import format_summary
from auditlib.cli.exitcodes import ExitCode
from auditlib.demo.data import (
    DATA_DIR,
    DEFAULT_OUTPUT,
    DEMO_DATE,
    DEMO_WORKBOOK,
    SIGNED_SUFFIX,
)
from auditlib.errors import AuditlibError, DemoError

if TYPE_CHECKING:
    from auditlib.demo.run import DemoResult

# ------------------------------------------------------------------------------ output


def format_summary_table(result: DemoResult) -> str:
    """The table the demo ends with (plain text, fixed-width)."""
    header = (
        "provider",
        "trigger",
        "due",
        "bottom line",
        "NC",
        "signed+verified",
        "report",
    )
    rows = [header]
    for row in result.rows:
        if row.signed is None:
            sealed = "no"
        else:
            sealed = "yes" if row.signed.verified else "NO (see problems)"
        rows.append(
            (
                row.provider,
                row.trigger,
                row.due_date,
                row.bottom_line,
                "-" if row.nonconformities is None else str(row.nonconformities),
                sealed,
                _relative(row.signed.signed if row.signed else row.report, result.output)
                + (f"  ({row.note})" if row.note else ""),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, r[-1]]).rstrip())
    lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
    return "\n".join(lines)


def _relative(path: Path | None, base: Path) -> str:
    if path is None:
        return "-"
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------- CLI


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the whole workbench on the demo data in data/",
        description=(
            "Run the whole workbench on the demo data shipped in data/: start local TLS "
            "endpoints with contrasting postures, fetch supervision traces over mTLS, plan "
            f"the audits due as of {DEMO_DATE.date().isoformat()}, run the batch, seal and "
            "verify every report PDF, then stop every server it started."
        ),
        epilog="Exit codes: 0 the demo ran (findings in demo reports are expected), "
        "2 the demo machinery failed.",
    )
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="demo data folder")
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="DIR",
        help=f"output folder (default: {DEFAULT_OUTPUT})",
    )
    parser.add_argument("--workers", type=int, help="batch worker processes (default: CPUs)")
    parser.add_argument(
        "--force", action="store_true", help="redo every audit, even unchanged ones"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # Imported here, not at the top: the demo run pulls in the batch, the audit and
    # WeasyPrint (0.35 s measured), and `auditlib --help` builds this module's parser.
    from auditlib.demo.run import DemoSettings, run_demo
    from auditlib.files import check_output_dir

    check_output_dir(args.output)
    data_dir = Path(args.data)
    workbook = data_dir / DEMO_WORKBOOK
    if not workbook.exists():
        raise DemoError(
            f"demo workbook {workbook} not found: run from a source checkout "
            "(pip install -e .) or pass --data DIR"
        )
    grid = load_checkpoints(workbook)
    print("== Checkpoint grid (demo workbook) ==")
    print(format_summary(grid), end="")
    print()
    settings = DemoSettings(
        data_dir=data_dir, output=Path(args.output), workers=args.workers, force=args.force
    )
    try:
        result = run_demo(settings)
    except KeyboardInterrupt:
        print("auditlib demo: interrupted; every demo server was stopped", file=sys.stderr)
        return ExitCode.ERROR
    except AuditlibError:
        raise  # cli.main prints it as one line, exit 2
    except Exception as exc:  # the machinery failed: say what, exit 2 (servers are stopped)
        print(f"auditlib demo: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    print("\n== Demo summary ==")
    print(format_summary_table(result))
    print(f"\nReports and evidence: {result.output}")
    if result.seal is not None:
        print(
            f"Verify a sealed report yourself: auditlib verify <report>{SIGNED_SUFFIX} "
            f"--ca-dir {result.trust_dir}"
        )
    print(f"Done in {result.elapsed_seconds:.1f} s; every demo server stopped.")
    for problem in result.problems:
        print(f"auditlib demo: problem: {problem}", file=sys.stderr)
    return ExitCode.OK if result.bottom_line else ExitCode.ERROR
