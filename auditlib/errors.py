"""Exception hierarchy: one root, subclasses that say what was wrong and where."""

from __future__ import annotations

from collections.abc import Sequence


class AuditlibError(Exception):
    """Root of every error the workbench raises on purpose."""


class SignError(AuditlibError):
    """A report PDF could not be signed (key material, passphrase, timestamp server...)."""


class PassphraseError(SignError):
    """The signing key's passphrase is missing or wrong; the message never contains it."""


class KeyMaterialError(SignError):
    """A PKCS#12, PEM key, certificate or chain file is unreadable, corrupt or unusable."""


class PdfInputError(AuditlibError):
    """A file given as a PDF cannot be read: missing, not a PDF, encrypted or broken."""


class ProblemListError(AuditlibError):
    """An input with several problems: the message, then one indented line per problem."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        text = message
        if self.problems:
            text += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(text)
        self.message = message


class ChecklistError(ProblemListError):
    """A checkpoint workbook cannot be used; `problems` lists every cause with its location."""


class TraceError(AuditlibError):
    """A Proxy e-Santé trace export cannot be used (file, fetch or profile); says where."""

    def __init__(self, message: str, source: str | None = None) -> None:
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}" if source else message)


class YamlInputError(AuditlibError):
    """A YAML file cannot be read safely: syntax (with line), encoding, size, aliases, emptiness."""


class RegistryError(ProblemListError):
    """The provider registry is unusable; `problems` names each provider and key at fault."""


class EvidenceError(AuditlibError):
    """An evidence bundle cannot even be opened (path missing, not a folder or a .zip).

    Problems *inside* a bundle are findings on the `EvidenceBundle`, not exceptions.
    """


class TlsScanError(AuditlibError):
    """A TLS scan cannot be set up: bad endpoint, credentials, passphrase variable, anchors."""


class TlsObservationFileError(AuditlibError):
    """A TLS observations file cannot be read; says which file and which field is wrong."""


class ProfileError(AuditlibError):
    """A TLS profile file cannot be used; says which file and which key is wrong."""


class TestServerError(AuditlibError):
    """A local TLS test server (Python ssl or openssl s_server) could not be started."""

    __test__ = False


class PlanError(AuditlibError):
    """The audit plan cannot be made: bad duration or date, unusable events or scan file."""


class BatchError(AuditlibError):
    """A batch cannot start or go on: notebook missing, output folder locked, bad settings."""


class DemoError(AuditlibError):
    """`auditlib demo` cannot run (a staged port is taken, the registry and the demo
    postures disagree); findings in the demo reports are expected, not errors."""


class OutputPathError(AuditlibError):
    """An output path cannot be written safely: its last component exists and is not a
    regular file (device, FIFO, symlink, folder), or a folder on its way is a file."""
