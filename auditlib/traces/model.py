"""Types shared by the trace loader, the supervision checks and the CLI.

The supervision profile (`profiles/supervision.yaml`) is data: thresholds, severities,
record schema and the EXI EDC PSC requirements each check evidences.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from auditlib.errors import TraceError, YamlInputError
from auditlib.requirements import normalise_requirement_id
from auditlib.severity import Severity
from auditlib.yamlio import parse_yaml_text


class TraceVerdict(StrEnum):
    CLEAN = "clean"
    """Every check passed."""
    FINDINGS = "findings"
    """At least one check found something: CLI exit 1."""
    UNUSABLE = "unusable"
    """Too little usable data to judge: CLI exit 2."""


# --- profile (data in) -----------------------------------------------------------------


DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_MAX_RECORDS = 5_000_000


class CheckSpec(BaseModel):
    """One check of the profile; extra keys are the check's thresholds."""

    model_config = ConfigDict(extra="allow", frozen=True)

    title: str
    severity: Severity
    requirements: tuple[str, ...] = ()
    enabled: bool = True

    @field_validator("requirements")
    @classmethod
    def _ids(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for item in value:
            ident = normalise_requirement_id(item, allow_bare_number=True)
            if ident is None:
                raise ValueError(f"not an EXI EDC PSC requirement id: {item!r}")
            out.append(ident)
        return tuple(out)

    @model_validator(mode="after")
    def _thresholds(self) -> CheckSpec:
        """Numeric thresholds must be finite and not negative (a date is not a threshold)."""
        for name, value in (self.model_extra or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                if isinstance(value, dt.date | dt.datetime):
                    raise ValueError(f"{name}: a date is not a threshold ({value!r})")
                continue
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
        return self

    def param(self, name: str, default: Any = None) -> Any:
        extra = self.model_extra or {}
        return extra.get(name, default)


class RecordSchema(BaseModel):
    """The record format: known types and the required-field matrix per type."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = "ans-proxy-esante"
    """Name of the format (shown in reports)."""
    types: tuple[str, ...]
    aliases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    required: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Type (or `*`) -> fields that must be present and not null/blank."""
    forbidden: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Type -> fields that must be absent or null (the reference allows `apiRequest` on SEND
    only)."""
    identity_fields: tuple[str, ...] = ("clientId", "IdRPPS", "proxy_id_session", "session_state")
    """Fields whose absence on a SEND is also the `send_identity` finding."""


class NotEvidenced(BaseModel):
    """A requirement the traces must never fail, and why (its object is not the proxy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requirement: str
    reason: str

    @field_validator("requirement")
    @classmethod
    def _id(cls, value: str) -> str:
        ident = normalise_requirement_id(value, allow_bare_number=True)
        if ident is None:
            raise ValueError(f"not an EXI EDC PSC requirement id: {value!r}")
        return ident


class SupervisionProfile(BaseModel):
    """The whole `supervision.yaml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = 2
    event_min_severity: Severity = Severity.MEDIUM
    sample_size: int = Field(default=5, ge=0, le=1000)
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, gt=0)
    """Exports larger than this are refused before being read (default 1 GiB)."""
    max_records: int = Field(default=DEFAULT_MAX_RECORDS, gt=0)
    """Exports with more records are refused while streaming (default 5,000,000)."""
    unusable_malformed_ratio: float = Field(default=0.5, ge=0.0, le=1.0)
    records: RecordSchema
    checks: dict[str, CheckSpec]
    not_evidenced: tuple[NotEvidenced, ...] = ()

    @model_validator(mode="after")
    def _no_forbidden_mapping(self) -> SupervisionProfile:
        barred = {n.requirement: n.reason for n in self.not_evidenced}
        for check_id, spec in self.checks.items():
            for requirement in spec.requirements:
                if requirement in barred:
                    raise ValueError(
                        f"checks.{check_id} maps to {requirement}, which the traces must not "
                        f"fail: {barred[requirement]}"
                    )
        return self

    def check(self, check_id: str) -> CheckSpec:
        try:
            return self.checks[check_id]
        except KeyError:
            raise TraceError(f"check {check_id!r} missing from the supervision profile") from None


DEFAULT_PROFILE = "supervision.yaml"
PROFILE_MAX_BYTES = 1 << 20


def load_supervision_profile(path: str | Path | None = None) -> SupervisionProfile:
    """Read a supervision profile (default: the packaged `profiles/supervision.yaml`)."""
    if path is None:
        raw = resources.files("auditlib").joinpath("profiles", DEFAULT_PROFILE).read_bytes()
        where = f"auditlib/profiles/{DEFAULT_PROFILE}"
    else:
        where = str(path)
        try:
            file = Path(path)
            if not file.is_file():
                raise TraceError("supervision profile is not a regular file", where)
            if file.stat().st_size > PROFILE_MAX_BYTES:
                raise TraceError(
                    f"supervision profile over the {PROFILE_MAX_BYTES}-byte limit", where
                )
            raw = file.read_bytes()
        except OSError as exc:
            raise TraceError(
                f"cannot read supervision profile: {exc.strerror or exc}", where
            ) from None
    try:
        data = parse_yaml_text(raw, where)
        return SupervisionProfile.model_validate(data)
    except YamlInputError as exc:
        raise TraceError(f"not valid YAML: {exc}", where) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise TraceError(f"invalid supervision profile: {problems}", where) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a date like 2026-02-30
        raise TraceError(f"not valid YAML: bad value ({str(exc)[:200]})", where) from None


# --- results (data out) ----------------------------------------------------------------


@dataclass(frozen=True)
class MalformedRecord:
    index: int
    """Position of the record in the exported JSON list (0-based)."""
    reason: str
    """Why it was set aside (French: shown in the report)."""


@dataclass(frozen=True, eq=False)
class TraceExport:
    """A parsed trace export: well-formed records as a DataFrame, malformed ones aside."""

    source: str
    """File path or URL the export came from."""
    sha256: str
    size_bytes: int
    total_records: int
    records: pd.DataFrame
    """Well-formed records, in file order: `index` (position in the list), `ts` (UTC),
    `port` (first port; -1 for `[]`), the reference fields `type, clientId, IdRPPS,
    ipAddress, proxy_id_session, session_state, dn` as categoricals, `ip` (the
    normalised `ipAddress`), `api` and `api_method` (`apiRequest.nomApiPsc`, `.methode`)."""
    malformed: pd.DataFrame
    """Columns `index`, `reason`, `type`, `identity_missing` (categoricals)."""
    start: dt.datetime | None = None
    """Requested window start (fetch parameters or command line), if known."""
    end: dt.datetime | None = None
    evidence_path: Path | None = None
    """Where the raw response was kept (live fetch), or the file read."""
    fetch: dict[str, Any] = field(default_factory=dict)
    """Fetch record (url, window, time, server certificate fingerprint) when fetched."""

    @property
    def malformed_count(self) -> int:
        return len(self.malformed)

    def malformed_sample(self, n: int = 5) -> tuple[MalformedRecord, ...]:
        head = self.malformed.head(n)
        return tuple(
            MalformedRecord(int(i), str(r))
            for i, r in zip(head["index"], head["reason"], strict=True)
        )


@dataclass(frozen=True)
class OffendingRecord:
    index: int
    """Position of the record in the exported JSON list (0-based)."""
    record: dict[str, Any]
    """The record's known fields as read (timestamp as ISO-8601 UTC)."""


@dataclass(frozen=True)
class TraceFinding:
    """One supervision check that found something."""

    check: str
    """Check id from the profile, e.g. `send_session`."""
    severity: Severity
    title: str
    """French title (profile)."""
    message: str
    """French sentence for the report."""
    count: int
    """Number of offending records."""
    samples: tuple[OffendingRecord, ...]
    requirements: tuple[str, ...]
    first_seen: dt.datetime | None = None
    """Timestamp (UTC) of the earliest offending record, when there is one."""
    details: dict[str, Any] = field(default_factory=dict)
    """Check-specific facts (gaps, client ids in bursts...)."""
    indexes: tuple[int, ...] = ()
    """Positions (0-based, in the exported list) of the deviating records, ascending,
    at most `INDEX_LIMIT` of them (`count` says how many there are)."""


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_EVALUATED = "not_evaluated"
    """The export lacks what the check needs (no window, no record): not a pass."""
    DISABLED = "disabled"
    """Switched off in the profile."""


@dataclass(frozen=True)
class TraceCheckResult:
    """Every check of the profile, found something or not: what the assessment maps to
    requirements (PENDANT phase)."""

    check: str
    title: str
    severity: Severity
    requirements: tuple[str, ...]
    status: CheckStatus
    note: str | None = None
    """French remark on a partial or missing evaluation."""
    finding: TraceFinding | None = None


@dataclass(frozen=True)
class SupervisionEvent:
    """A supervision finding as the audit plan reads it: a possible audit trigger."""

    provider: str
    date: dt.date
    event: str
    severity: Severity


EVENT_COLUMNS = ("provider", "date", "event", "severity")
