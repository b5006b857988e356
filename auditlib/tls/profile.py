"""The ANSSI TLS profile as data: loading and validating `auditlib/profiles/*.yaml`.

The YAML holds the rules (id, French title, level, EXI requirement, severity), the
parameters (groups, key sizes, lifetimes, the 2030 horizon) and the suite classification
table. The rule functions that use it live in `auditlib.tls.rules`.
"""

from __future__ import annotations

import datetime as dt
import os
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditlib.errors import ProfileError, YamlInputError
from auditlib.yamlio import parse_yaml_text


class RuleStatus(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    DEGRADED = "DEGRADED"
    """Meets only the tolerated (Rn-) level, or a documented deviation."""
    NOT_APPLICABLE = "NOT_APPLICABLE"
    INCOMPLETE = "INCOMPLETE"
    """The scan could not observe what the rule needs: not a FAIL."""
    NOT_TESTED = "NOT_TESTED"
    """The rule's question got no usable answer (no stapled OCSP response to judge
    revocation by, a 0-RTT probe that could not run): never a PASS, never counted as
    compliant. The endpoint is at best DEGRADED while a counted rule is not tested."""


class Verdict(StrEnum):
    COMPLIANT = "COMPLIANT"
    DEGRADED = "DEGRADED"
    """Compliant at the tolerated level only (or with documented deviations)."""
    NON_COMPLIANT = "NON_COMPLIANT"
    INCOMPLETE = "INCOMPLETE"
    ERROR = "ERROR"
    """The endpoint could not be scanned (unreachable, refused, handshake refused). An
    endpoint that demands a client certificate none was given for is INCOMPLETE."""


# --------------------------------------------------------------------------- profile


class _KeyExchange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    forward_secrecy: bool
    status: str


class _Classification(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key_exchange: dict[str, _KeyExchange]
    authentication: dict[str, str]
    cipher: dict[str, str]
    mode: dict[str, str]
    hash: dict[str, str]


class _Groups(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preferred: list[str]
    acceptable: list[str]


class KeyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rsa_min_bits: int
    rsa_min_bits_after_horizon: int
    rsa_min_exponent: int
    ec_min_bits: int
    dh_min_bits: int
    dh_min_bits_after_horizon: int
    named_curves: list[str]


class _Certificates(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_lifetime_days: int
    signature_hashes: list[str]


class _IgcSante(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lifetime_exception: bool
    lifetime_exception_max_days: int
    expiry_warning_days: int


class RuleSpec(BaseModel):
    """One rule of the profile, as written in the YAML file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    title: str
    level: Literal["recommended", "tolerated"]
    requirement: str | None
    severity: Literal["high", "medium", "low"]
    counts: bool = True
    """False for rules reported separately (HSTS): never part of a bottom line."""
    verified: bool = False
    """True only when the rule's number and title were checked against the public text
    cited in `docs/guide/tls-rules.md`; the report marks the others "(numéro non vérifié)"."""


class Profile(BaseModel):
    """The ANSSI TLS profile: parameters, suite classification table and rules."""

    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    level: Literal["recommended", "tolerated"]
    horizon_year: int
    igc_sante: _IgcSante
    suite_classification: _Classification
    groups: _Groups
    keys: KeyParams
    certificates: _Certificates
    ocsp_max_age_days: int = Field(default=7, ge=1)
    """A stapled OCSP response whose thisUpdate is older than this is stale (our own
    value: neither the guide nor the IGC-Santé policy text at hand states one)."""
    rules: list[RuleSpec]

    def rule(self, rule_id: str) -> RuleSpec:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise ProfileError(f"profile {self.id}: no rule {rule_id!r}")

    @property
    def horizon_end(self) -> dt.datetime:
        return dt.datetime(self.horizon_year, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


PROFILES = {"anssi": "anssi-tls-v1.2.yaml", "anssi-tls-v1.2": "anssi-tls-v1.2.yaml"}


def read_profile(name_or_path: str | os.PathLike[str] = "anssi") -> tuple[Profile, str]:
    """Read a bundled profile by name (`anssi`) or a YAML file by path; returns it with the
    name of its source. `auditlib.tls.rules.load_profile` also checks its rule ids."""
    key = str(name_or_path)
    if key in PROFILES:
        source = str(resources.files("auditlib") / "profiles" / PROFILES[key])
        text = (resources.files("auditlib") / "profiles" / PROFILES[key]).read_text("utf-8")
    else:
        path = Path(key)
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            known = ", ".join(sorted(PROFILES))
            raise ProfileError(
                f"profile {key}: not a known name ({known}) nor a readable file ({exc})"
            ) from None
    try:
        data = parse_yaml_text(text.encode("utf-8"), source)  # strict: no aliases
    except YamlInputError as exc:
        raise ProfileError(f"profile {source}: not valid YAML ({exc})") from None
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProfileError(f"profile {source}: key {where}: {first['msg']}") from None
    return profile, source
