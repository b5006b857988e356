"""The `auditlib` command: one entry point, one subcommand per job.

Exit codes everywhere: 0 all good, 1 non-compliance found, 2 error or incomplete.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from auditlib import __version__
from auditlib.cli.exitcodes import ExitCode
from auditlib.errors import AuditlibError

Handler = Callable[[argparse.Namespace], int]


# One module per subcommand, each exposing `add_parser(sub)`. They are imported only
# when the parser is built, one by one, so a broken optional stack (e.g. pango for
# WeasyPrint) only hurts the commands that need it.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "auditlib.cli.demo",
    "auditlib.cli.checkpoints",
    "auditlib.cli.traces",
    "auditlib.cli.sign",
    "auditlib.cli.evidence",
    "auditlib.cli.scan",
    "auditlib.cli.plan",
    "auditlib.cli.batch",
    "auditlib.cli.verdicts",
    "auditlib.cli.new_audit",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditlib",
        description="EDC PSC audit workbench (Agence du Numérique en Santé trust space).",
        epilog="Exit codes: 0 all good, 1 non-compliance found, 2 error or incomplete.",
    )
    parser.add_argument("--version", action="version", version=f"auditlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except AuditlibError as exc:
        print(f"auditlib {args.command}: error: {exc}", file=sys.stderr)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        print(f"auditlib {args.command}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        sys.stderr.close()
        return ExitCode.OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
