"""The exit codes every `auditlib` command uses."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """0 all good; 1 non-compliance found (or an audit overdue); 2 unusable input or error."""

    OK = 0
    FINDINGS = 1
    """Non-compliance found, a bundle or trace export with findings, an audit overdue."""
    ERROR = 2
    """Unusable input, incomplete result, or a failure of the tool itself."""
    INTERRUPTED = 130
    """Ctrl-C (128 + SIGINT), as shells report it."""
