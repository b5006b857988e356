"""The `auditlib` command: one module per subcommand, one `ExitCode` for all."""

from auditlib.cli.app import build_parser, main
from auditlib.cli.exitcodes import ExitCode

__all__ = ["ExitCode", "build_parser", "main"]
