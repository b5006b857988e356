"""The `auditlib` command: one entry point, one subcommand per job.

Exit codes everywhere: 0 all good, 1 non-compliance found, 2 error or incomplete.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from auditlib import __version__
from auditlib.errors import AuditlibError

Handler = Callable[[argparse.Namespace], int]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def _add_scan(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from auditlib import scan_cli

    scan_cli.add_parser(sub)


# Each entry adds one subcommand; modules are imported lazily so `auditlib --help`
# stays fast and a broken optional stack (e.g. pango for WeasyPrint) only hurts
# the commands that need it.
SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    _add_scan,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditlib",
        description="EDC PSC audit workbench (Agence du Numérique en Santé trust space).",
        epilog="Exit codes: 0 all good, 1 non-compliance found, 2 error or incomplete.",
    )
    parser.add_argument("--version", action="version", version=f"auditlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AuditlibError as exc:
        print(f"auditlib {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"auditlib {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
