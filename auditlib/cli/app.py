"""The `auditlib` command: one entry point, one subcommand per job.

Exit codes everywhere: 0 all good, 1 non-compliance found, 2 error or incomplete.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Callable, Sequence

from auditlib import __version__
from auditlib.cli.exitcodes import ExitCode
from auditlib.errors import AuditlibError
from auditlib.files import redact

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
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditlib",
        description="EDC PSC audit workbench (Agence du Numérique en Santé trust space).",
        epilog="Exit codes: 0 all good, 1 non-compliance found, 2 error or incomplete.",
    )
    parser.add_argument("--version", action="version", version=f"auditlib {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="on an error, print the Python traceback after the one-line message",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(module).add_parser(sub)
    return parser


def error_line(command: str, exc: BaseException) -> str:
    """The one line an error is reported with: the project's own message, or the
    exception's type and first line (anything unexpected is still exit 2, never a traceback
    without `--debug`)."""
    message = str(exc).strip()
    if not isinstance(exc, AuditlibError):
        first = message.splitlines()[0] if message else ""
        message = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        if isinstance(exc, OSError) and exc.filename is not None:
            message = f"{exc.filename}: {exc.strerror or first or type(exc).__name__}"
    return redact(f"auditlib {command}: error: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    debug = bool(getattr(args, "debug", False))
    try:
        return handler(args)
    except KeyboardInterrupt:
        print(f"auditlib {args.command}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        sys.stderr.close()
        return ExitCode.OK
    except Exception as exc:  # every failure is exit 2 with one line (--debug: traceback)
        if debug:
            traceback.print_exc(file=sys.stderr)
        print(error_line(args.command, exc), file=sys.stderr)
        return ExitCode.ERROR


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
