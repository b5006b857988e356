"""`auditlib checkpoints`: read a checkpoint workbook, filter it, show or export it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from auditlib.checkpoints.reader import ControlGrid, load_checkpoints
from auditlib.cli.exitcodes import ExitCode
from auditlib.errors import ChecklistError
from auditlib.requirements import Actor


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "checkpoints",
        help="read the ANS checkpoint workbook into a control grid",
        description="Read a checkpoint workbook (fichier points de contrôles), filter it and "
        "print or export the control grid. Exit 2 with every problem listed when the workbook "
        "cannot be used.",
    )
    parser.add_argument("file", help="checkpoint workbook (.xlsx)")
    parser.add_argument(
        "--sheet", help="sheet to read (default: the first with a checkpoint header)"
    )
    parser.add_argument(
        "--profile", default="checkpoints-ans-v0.1", help="layout profile name or YAML path"
    )
    parser.add_argument(
        "--actor",
        action="append",
        choices=[a.value for a in Actor],
        help="keep controls applicable to this actor (repeatable)",
    )
    parser.add_argument("--phase", choices=["AVANT", "PENDANT", "APRES"], type=str.upper)
    parser.add_argument("--level", help="keep controls of this level (N1..N4)")
    parser.add_argument(
        "--requirement", help="keep one requirement (e.g. 'EXI EDC PSC 103' or 103)"
    )
    parser.add_argument(
        "--format", choices=["table", "summary", "csv", "json", "xlsx"], default="table"
    )
    parser.add_argument(
        "--output", "-o", help="write to this file instead of standard output ('-': stdout)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from auditlib.files import check_output_file

    if args.output == "-":
        args.output = None
    if args.output:
        check_output_file(args.output)  # before the workbook is read
    grid = load_checkpoints(args.file, sheet=args.sheet, profile=args.profile)
    grid = grid.filter(
        actor=args.actor, phase=args.phase, level=args.level, requirement=args.requirement
    )
    for warning in grid.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.format in ("csv", "json", "xlsx") and args.output:
        path = grid.export(args.output, args.format)
        print(f"wrote {len(grid)} controls to {path}", file=sys.stderr)
        return ExitCode.OK
    if args.format == "xlsx":
        raise ChecklistError("--format xlsx needs --output FILE")
    if args.format == "csv":
        text = grid.to_dataframe().to_csv(index=False)
    elif args.format == "json":
        text = json.dumps(grid.to_json_record(), ensure_ascii=False, indent=2) + "\n"
    elif args.format == "summary":
        text = format_summary(grid)
    else:
        text = format_summary(grid) + "\n" + format_table(grid)
    if args.output:
        from auditlib.files import write_atomic

        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def format_summary(grid: ControlGrid) -> str:
    summary: dict[str, Any] = grid.summary()
    lines = [
        f"Checkpoint grid: {summary['source']} "
        f"(sheet {summary['sheet']!r}, layout {summary['profile']})",
        f"  {summary['requirements']} requirements, {summary['controls']} controls",
        "  by phase: " + ", ".join(f"{k} {v}" for k, v in summary["by_phase"].items()),
        "  by level: " + ", ".join(f"{k} {v}" for k, v in summary["by_level"].items()),
        "  requirements per actor: "
        + ", ".join(f"{k} {v}" for k, v in summary["requirements_by_actor"].items()),
    ]
    return "\n".join(lines) + "\n"


def format_table(grid: ControlGrid, width: int = 70) -> str:
    lines = [f"{'control':<26} {'level':<5} {'source cell':<24} control text"]
    for control in grid.controls:
        text = control.text if len(control.text) <= width else control.text[: width - 1] + "…"
        level = control.level.code if control.level else "-"
        lines.append(f"{control.ref:<26} {level:<5} {control.cell:<24} {text}")
    return "\n".join(lines) + "\n"
