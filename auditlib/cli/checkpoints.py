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
    parser.add_argument(
        "--check-mapping",
        action="store_true",
        help="list every automated check, the requirement(s) it is mapped to and the controls "
        "of this workbook it reaches; exit 1 when a check reaches none",
    )
    parser.add_argument(
        "--mapping",
        metavar="FILE",
        help="assessment profile mapping checks to requirements (default: the packaged "
        "profiles/assessment.yaml); with --check-mapping",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from auditlib.files import check_output_file

    if args.output == "-":
        args.output = None
    if args.output:
        check_output_file(args.output)  # before the workbook is read
    if args.mapping and not args.check_mapping:
        raise ChecklistError("--mapping FILE goes with --check-mapping")
    if args.check_mapping:
        return run_check_mapping(args)
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


def run_check_mapping(args: argparse.Namespace) -> int:
    """`--check-mapping`: the mapping of every automated check onto this workbook."""
    from auditlib.audit.mapping import check_mapping, mapping_settings

    if args.format not in ("table", "json"):
        raise ChecklistError("--check-mapping prints a table or --format json")
    grid = load_checkpoints(args.file, sheet=args.sheet, profile=args.profile)
    grid = grid.filter(
        actor=args.actor, phase=args.phase, level=args.level, requirement=args.requirement
    )
    for warning in grid.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    settings = mapping_settings(args.mapping)
    rows = check_mapping(grid, settings)
    unreached = [r for r in rows if r.unreached]
    if args.format == "json":
        record = {
            "workbook": str(grid.source) if grid.source else args.file,
            "mapping": str(settings.source) if settings.source else None,
            "unreached": len(unreached),
            "checks": [
                {
                    "check": r.check,
                    "title": r.title,
                    "requirements": list(r.requirements),
                    "phases": [p.value for p in r.phases],
                    "controls": list(r.reached),
                    "state": r.state,
                    "note": r.dynamic,
                }
                for r in rows
            ],
        }
        text = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
    else:
        text = format_mapping(rows, str(settings.source or "assessment.yaml"))
    if args.output:
        from auditlib.files import write_atomic

        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    if unreached:
        print(
            f"{len(unreached)} check(s) reach no control of this workbook: "
            + ", ".join(r.check for r in unreached)
            + " (align the requirement numbers in a copy of the assessment profile and pass "
            "it with --mapping FILE)",
            file=sys.stderr,
        )
        return ExitCode.FINDINGS
    return ExitCode.OK


def format_mapping(rows: list[Any], mapping: str) -> str:
    lines = [
        f"Check mapping ({mapping}): {len(rows)} checks, "
        f"{sum(1 for r in rows if r.unreached)} reaching no control",
        f"{'check':<34} {'state':<11} {'requirements':<34} controls reached",
    ]
    for r in rows:
        requirements = ", ".join(x.replace("EXI EDC PSC ", "") for x in r.requirements) or "-"
        if r.dynamic:
            reached = r.dynamic
        elif r.informative:
            reached = "reported apart, never counted"
        else:
            reached = ", ".join(x.replace("EXI EDC PSC ", "") for x in r.reached) or "NONE"
        lines.append(f"{r.check:<34} {r.state:<11} {requirements:<34} {reached}")
    return "\n".join(lines) + "\n"
