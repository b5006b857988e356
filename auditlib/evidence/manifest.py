"""The evidence manifest (`manifest.yaml`): what the provider declares it filed.

Parsed with the strict YAML reader and validated with pydantic. Any problem here makes
the bundle unusable: a manifest that lies about its own paths cannot be half-trusted.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from auditlib.errors import YamlInputError
from auditlib.evidence.archive import Refusal, clean_member_path, unsafe_path_rule
from auditlib.evidence.model import CertificateUse, FindingCode, ItemKind
from auditlib.requirements import normalise_requirement_id
from auditlib.yamlio import parse_yaml_text

MANIFEST_NAME = "manifest.yaml"
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class PentestSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    passi_firm: str | None = None
    scope: str | None = None
    report_date: dt.date | None = None
    """Defaults to the item's `date`."""


class CertificateSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    use: CertificateUse = CertificateUse.OTHER
    passphrase_env: str | None = None
    """PKCS#12 only: NAME of the environment variable holding the passphrase."""

    @field_validator("passphrase_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME_RE.fullmatch(value):
            raise ValueError("must be the NAME of an environment variable")
        return value


class ActionSpec(BaseModel):
    """One action of a corrective plan: what, by when, for which controls or requirements."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Annotated[str, Field(min_length=1)]
    due: dt.date
    targets: Annotated[list[str], Field(min_length=1)]
    """Control refs (`EXI EDC PSC 115/APRES/1`) or requirement ids (`115`)."""
    owner: str | None = None

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("targets")
    @classmethod
    def _normalised(cls, value: list[str]) -> list[str]:
        out = []
        for target in value:
            head, sep, tail = target.partition("/")
            ident = normalise_requirement_id(head, allow_bare_number=True)
            if ident is None:
                raise ValueError(f"{target!r} is neither a control ref nor a requirement id")
            out.append(ident + sep + tail.strip().upper())
        return out

    @field_validator("due", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        return value.date() if isinstance(value, dt.datetime) else value


class CorrectivePlanSpec(BaseModel):
    """Manifest `corrective_plan` of an item of kind `corrective_plan`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    actions: Annotated[list[ActionSpec], Field(min_length=1)]


class ItemSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Annotated[str, Field(min_length=1)]
    kind: ItemKind
    requirements: list[str] = []
    date: dt.date
    sha256: Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{64}$")]
    title: str | None = None
    pentest: PentestSpec | None = None
    certificate: CertificateSpec | None = None
    corrective_plan: CorrectivePlanSpec | None = None

    @model_validator(mode="after")
    def _plan_with_its_kind(self) -> ItemSpec:
        if self.kind is ItemKind.CORRECTIVE_PLAN and self.corrective_plan is None:
            raise ValueError("kind corrective_plan needs corrective_plan.actions")
        if self.corrective_plan is not None and self.kind is not ItemKind.CORRECTIVE_PLAN:
            raise ValueError("corrective_plan is only for an item of kind corrective_plan")
        return self

    @field_validator("requirements", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("date", mode="before")
    @classmethod
    def _date_only(cls, value: Any) -> Any:
        return value.date() if isinstance(value, dt.datetime) else value


class ManifestSpec(BaseModel):
    """`manifest.yaml`: who filed the bundle and one entry per file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[int, Field(ge=1, le=1)] = 1
    provider: Annotated[str, Field(min_length=1)]
    prepared_on: dt.date | None = None
    items: list[ItemSpec]


def parse_manifest(data: bytes) -> tuple[ManifestSpec | None, list[Refusal]]:
    try:
        raw = parse_yaml_text(data, MANIFEST_NAME)
    except YamlInputError as exc:
        return None, [Refusal(FindingCode.MANIFEST_INVALID, MANIFEST_NAME, str(exc))]
    raw_items = raw.get("items") if isinstance(raw, dict) else None
    if isinstance(raw_items, list):
        for index, entry in enumerate(raw_items):
            cert = entry.get("certificate") if isinstance(entry, dict) else None
            if isinstance(cert, dict) and {"passphrase", "password"} & set(cert):
                return None, [
                    Refusal(
                        FindingCode.MANIFEST_INVALID,
                        MANIFEST_NAME,
                        f"items[{index}].certificate : un mot de passe ne doit jamais figurer "
                        "dans le manifeste (indiquer le nom d'une variable d'environnement "
                        "dans passphrase_env)",
                    )
                ]
    try:
        manifest = ManifestSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:20]:
            loc = ".".join(str(p) for p in err["loc"]) or "(racine)"
            problems.append(
                Refusal(FindingCode.MANIFEST_INVALID, MANIFEST_NAME, f"{loc} : {err['msg']}")
            )
        return None, problems
    refusals: list[Refusal] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(manifest.items):
        unsafe = unsafe_path_rule(spec.path)
        if unsafe:
            refusals.append(
                Refusal(unsafe.rule, spec.path, f"items[{index}].path : {unsafe.detail}")
            )
            continue
        rel = clean_member_path(spec.path)
        if rel == MANIFEST_NAME:
            refusals.append(
                Refusal(
                    FindingCode.MANIFEST_INVALID,
                    spec.path,
                    f"items[{index}].path : le manifeste ne peut pas se déclarer lui-même",
                )
            )
        elif rel in seen:
            refusals.append(
                Refusal(
                    FindingCode.MANIFEST_INVALID,
                    spec.path,
                    f"items[{index}].path : déjà déclaré en items[{seen[rel]}]",
                )
            )
        seen.setdefault(rel, index)
    return (None, refusals) if refusals else (manifest, [])
