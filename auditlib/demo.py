"""`auditlib demo`: the workbench on the demo data shipped in `data/`."""

from __future__ import annotations

import argparse
from pathlib import Path

from auditlib.checkpoints import load_checkpoints
from auditlib.checkpoints_cli import format_summary
from auditlib.errors import AuditlibError

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEMO_WORKBOOK = "checkpoints_demo.xlsx"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo",
        help="run the workbench on the demo data in data/",
        description="Run the workbench on the demo data shipped in data/.",
    )
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="demo data folder")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    workbook = Path(args.data) / DEMO_WORKBOOK
    if not workbook.exists():
        raise AuditlibError(
            f"demo workbook {workbook} not found: run from a source checkout "
            "(pip install -e .) or pass --data DIR"
        )
    grid = load_checkpoints(workbook)
    print(format_summary(grid), end="")
    print("\nRequirements:")
    for req_id in grid.requirement_ids():
        req = grid.requirements[req_id]
        roles = ", ".join(a.value for a, yes in req.applicability.items() if yes) or "none"
        count = sum(1 for c in grid.controls if c.requirement_id == req_id)
        print(f"  {req_id:<18} {count} control(s)  applies to: {roles}")
    return 0
