"""The provider registry: who is audited, in which roles, on which endpoints, with which proofs.

A YAML file (demo: `data/registry.yaml`) validated with pydantic on load. Every problem
names the provider and the key, so the person who maintains the file can fix it without
reading a traceback. Relative paths resolve against the registry file's folder.

Format version 2 lists each provider's habilitations as data (number, role, environment,
issue and expiry dates, status, and for an Éditeur Utilisateur the Proxy e-Santé dossier it
belongs to); version 1 files (one `habilitation` string and a `roles` list) are converted on
load: one active habilitation per role, dates unknown (docs/formats/registry.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from auditlib.errors import RegistryError, YamlInputError
from auditlib.files import sha256_bytes
from auditlib.requirements import HABILITATION_DEPENDS_ON, Actor
from auditlib.yamlio import load_yaml_file

PROVIDER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
HOST_RE = re.compile(r"^[A-Za-z0-9_.:\-\[\]]{1,253}$")
_SECRET_KEYS = {"key_passphrase", "passphrase", "password", "key_password"}


# --- input models (what the YAML may say) -------------------------------------------------


def _no_secret(data: Any) -> Any:
    if isinstance(data, dict):
        for key in _SECRET_KEYS & set(data):
            raise ValueError(
                f"`{key}` must not be written in the registry: name an environment variable "
                "in `key_passphrase_env` instead"
            )
    return data


class EndpointSpec(BaseModel):
    """One endpoint to scan, as written in the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: Annotated[str, Field(min_length=1, max_length=253)]
    port: Annotated[StrictInt, Field(ge=1, le=65535)]
    sni: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    mtls: StrictBool = False
    client_cert: str | None = None
    client_key: str | None = None
    key_passphrase_env: str | None = None
    label: str | None = None
    habilitation: str | None = None
    """Format 2: number of the provider's habilitation this endpoint serves (optional)."""

    _reject_secrets = model_validator(mode="before")(_no_secret)

    @field_validator("habilitation", mode="before")
    @classmethod
    def _habilitation_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator("key_passphrase_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not ENV_NAME_RE.fullmatch(value):
            raise ValueError("must be the NAME of an environment variable, e.g. MY_KEY_PASS")
        return value

    @field_validator("host", "sni")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        if value is not None and not HOST_RE.fullmatch(value):
            raise ValueError(
                "must be a host name or an IP address (letters, digits, '.', '-', ':')"
            )
        return value

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> EndpointSpec:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together: give both or neither")
        if self.client_cert is not None and not self.mtls:
            raise ValueError("client_cert is given but mtls is false")
        return self


class HabilitationStatus(StrEnum):
    """Where a habilitation stands (as the auditor records it from the ANS)."""

    CANDIDATE = "candidate"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return {
            "candidate": "candidature en cours",
            "active": "active",
            "suspended": "suspendue",
            "expired": "expirée",
        }[self.value]


class Environment(StrEnum):
    """Where a habilitation is exercised: éditeurs in the sandbox (BAS), FS in production
    (docs/domain.md, public ANS material)."""

    BAS = "BAS"
    PRODUCTION = "production"


HABILITATION_VALIDITY_YEARS = 3
"""docs/domain.md (seed): every actor and every authentication means is valid 3 years."""
DEFAULT_ENVIRONMENT: dict[Actor, Environment] = {
    Actor.EDITEUR_UTILISATEUR: Environment.BAS,
    Actor.EDITEUR_PROXY: Environment.BAS,
    Actor.FS_UTILISATEUR: Environment.PRODUCTION,
    Actor.FS_PROXY: Environment.PRODUCTION,
}


def add_years(day: dt.date, years: int) -> dt.date:
    """`day` plus whole years (29 February falls back to 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _text(value: Any) -> Any:
    """A number written without quotes in YAML (`number: 2024`) read as the text it names."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _text_list(value: Any) -> Any:
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value


class HabilitationSpec(BaseModel):
    """One habilitation, as written in a version 2 registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: Annotated[str, Field(min_length=1, max_length=100)]
    role: Actor
    environment: Environment | None = None
    """Default: BAS for an éditeur, production for an FS."""
    issued: dt.date | None = None
    """Required unless the status is `candidate`."""
    expires: dt.date | None = None
    """Default: `issued` + 3 years."""
    status: HabilitationStatus = HabilitationStatus.ACTIVE
    proxy: str | None = None
    """Éditeur Utilisateur only (required): the Proxy e-Santé this dossier is for (its
    Éditeur Proxy habilitation number or provider id)."""
    relies_on: list[str] = []
    commitments_renewal: dt.date | None = None
    """Date the provider's commitments ("renouvellement des engagements") are due."""

    @field_validator("number", "proxy", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator("relies_on", mode="before")
    @classmethod
    def _relies_on_text(cls, value: Any) -> Any:
        return _text_list(value)

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_case(cls, value: Any) -> Any:
        if isinstance(value, str):
            folded = value.strip().lower()
            aliases = {"bas": "BAS", "sandbox": "BAS", "prod": "production"}
            return aliases.get(folded, folded)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HabilitationSpec:
        if self.issued is None and self.status is not HabilitationStatus.CANDIDATE:
            raise ValueError(
                "issued: required (the habilitation's issue date) unless status is candidate"
            )
        if self.issued is not None and self.expires is not None and self.expires <= self.issued:
            raise ValueError("expires: must be after `issued`")
        if self.role is Actor.EDITEUR_UTILISATEUR and not self.proxy:
            raise ValueError(
                "proxy: an Éditeur Utilisateur habilitation is one dossier per Proxy e-Santé: "
                "name that proxy's habilitation number or provider id"
            )
        if self.role is not Actor.EDITEUR_UTILISATEUR and self.proxy:
            raise ValueError(
                "proxy: only an editeur_utilisateur habilitation names a proxy dossier"
            )
        return self


SHA256_RE = re.compile(r"^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$|^[0-9A-Fa-f]{64}$")


def _check_subject(value: str | None) -> str | None:
    if value is None:
        return None
    from cryptography import x509

    try:
        x509.Name.from_rfc4514_string(value)  # validated, kept as written
    except ValueError:
        raise ValueError(
            "must be an RFC 4514 name, e.g. `CN=client.example.fr,O=EXAMPLE,C=FR`"
        ) from None
    return value


class ClientSpec(BaseModel):
    """One client software of a provider's Proxy e-Santé (its `clientId` in the traces) and
    the certificate the proxy presents for it: its subject, or its SHA-256 fingerprint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    client_id: Annotated[str, Field(min_length=1, max_length=256)]
    subject: str | None = None
    sha256: str | None = None

    @field_validator("subject")
    @classmethod
    def _subject_format(cls, value: str | None) -> str | None:
        return _check_subject(value)

    @field_validator("sha256")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not SHA256_RE.match(value.strip()):
            raise ValueError("must be a SHA-256 fingerprint: 64 hex digits (colons allowed)")
        return value.strip().replace(":", "").lower()

    @model_validator(mode="after")
    def _one_of(self) -> ClientSpec:
        if self.subject is None and self.sha256 is None:
            raise ValueError("give the client certificate's `subject` or its `sha256`")
        return self


class ProviderSpec(BaseModel):
    """One provider, as written in the registry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: Annotated[str, Field(min_length=1)]
    habilitation: str
    roles: Annotated[list[Actor], Field(min_length=1)]
    relies_on: list[str] = []
    endpoints: list[EndpointSpec] = []
    client_certificate_subject: str | None = None
    clients: list[ClientSpec] = []
    evidence_bundle: Annotated[str, Field(min_length=1)]

    @field_validator("id")
    @classmethod
    def _id_format(cls, value: str) -> str:
        if not PROVIDER_ID_RE.fullmatch(value):
            raise ValueError(
                "must be lower-case letters, digits, '-' or '_' (max 64), e.g. `medicalis`"
            )
        return value

    @field_validator("client_certificate_subject")
    @classmethod
    def _subject_format(cls, value: str | None) -> str | None:
        return _check_subject(value)

    @field_validator("clients")
    @classmethod
    def _unique_clients(cls, value: list[ClientSpec]) -> list[ClientSpec]:
        seen: set[str] = set()
        for client in value:
            if client.client_id in seen:
                raise ValueError(f"client_id {client.client_id!r} is listed twice")
            seen.add(client.client_id)
        return value

    @field_validator("habilitation", mode="before")
    @classmethod
    def _habilitation_text(cls, value: Any) -> Any:
        return _text(value)

    @field_validator("relies_on", mode="before")
    @classmethod
    def _relies_on_text(cls, value: Any) -> Any:
        return _text_list(value)


class ProviderSpecV2(ProviderSpec):
    """One provider in a version 2 registry: habilitations as a list (the id, subject and
    endpoint rules are those of version 1)."""

    habilitation: None = None  # type: ignore[assignment]
    roles: None = None  # type: ignore[assignment]
    habilitations: Annotated[list[HabilitationSpec], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _v1_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("habilitation", "roles"):
                if key in data:
                    raise ValueError(
                        f"`{key}` is a version 1 key: in version 2 each habilitation is an "
                        "entry of `habilitations` (number, role, environment, issued, status)"
                    )
        return data


class RegistrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[StrictInt, Field(ge=1, le=1)] = 1
    providers: Annotated[list[ProviderSpec], Field(min_length=1)]


class RegistrySpecV2(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[StrictInt, Field(ge=2, le=2)]
    providers: Annotated[list[ProviderSpecV2], Field(min_length=1)]


# --- domain objects (what the rest of the workbench uses) ----------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A TLS endpoint of a provider, to be scanned (and only those: docs/design.md,
    security rules)."""

    host: str
    port: int
    sni: str | None
    """Server name sent in the TLS handshake; defaults to the host for scanners."""
    mtls: bool
    """True when the endpoint requires a client certificate (mutual TLS)."""
    client_cert: Path | None
    client_key: Path | None
    key_passphrase_env: str | None
    """Name of the environment variable that holds the client key passphrase (never the value)."""
    label: str | None
    habilitation: str | None = None
    """The provider's habilitation this endpoint serves (format 2, optional)."""

    @property
    def server_name(self) -> str:
        return self.sni or self.host

    @property
    def display(self) -> str:
        return f"{self.host}:{self.port}" + (f" ({self.sni})" if self.sni else "")

    def key_passphrase(self) -> bytes | None:
        """The client key passphrase from the environment, or None when none is configured.

        Raises `RegistryError` when the variable is named but not set, so a scan does not
        silently run without its client certificate.
        """
        if self.key_passphrase_env is None:
            return None
        value = os.environ.get(self.key_passphrase_env)
        if value is None:
            raise RegistryError(
                f"endpoint {self.display}: environment variable {self.key_passphrase_env} "
                "(key_passphrase_env) is not set"
            )
        return value.encode("utf-8")


@dataclass(frozen=True)
class Client:
    """A client software served by a provider's proxy, and its registered certificate."""

    client_id: str
    subject: str | None
    """Registered subject of the proxy's outgoing client certificate for this clientId."""
    sha256: str | None
    """Or its SHA-256 fingerprint (64 lower-case hex digits)."""


@dataclass(frozen=True)
class Habilitation:
    """One EDC habilitation of a provider: a role, exercised in one environment, 3 years."""

    number: str
    """As written by ANS (kept as text)."""
    role: Actor
    environment: Environment
    issued: dt.date | None
    """None when unknown (converted from a version 1 registry, or a candidature)."""
    expires: dt.date | None
    status: HabilitationStatus
    proxy: str | None = None
    """Éditeur Utilisateur: the Proxy e-Santé (habilitation number or provider id) this
    dossier is for."""
    relies_on: tuple[str, ...] = ()
    commitments_renewal: dt.date | None = None
    """When the provider's commitments must be renewed ("renouvellement des engagements")."""

    def status_on(self, day: dt.date) -> HabilitationStatus:
        """The status on `day`: an active habilitation past its expiry is expired."""
        if (
            self.status is HabilitationStatus.ACTIVE
            and self.expires is not None
            and self.expires < day
        ):
            return HabilitationStatus.EXPIRED
        return self.status

    def valid_on(self, day: dt.date) -> bool:
        return self.status_on(day) is HabilitationStatus.ACTIVE

    @property
    def label(self) -> str:
        text = f"{self.number} ({self.role.label}, {self.environment.value}"
        if self.proxy:
            text += f", dossier Proxy e-Santé {self.proxy}"
        return text + ")"


class DependencyProblem(StrEnum):
    MISSING = "missing"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    CANDIDATE = "candidate"
    EXPIRES_FIRST = "expires_first"
    UNVERIFIABLE = "unverifiable"


@dataclass(frozen=True)
class DependencyIssue:
    """A habilitation the audited one relies on that is missing, not valid, or shorter."""

    habilitation: str
    """Number of the audited habilitation."""
    needed: Actor
    problem: DependencyProblem
    relied_on: str | None
    """Number of the relied-on habilitation found, if any."""
    message: str
    """French, report-ready."""


@dataclass(frozen=True)
class Provider:
    """An audited party of the EDC PSC."""

    id: str
    name: str
    habilitation: str
    """EDC habilitation number, as written by ANS (kept as text)."""
    roles: tuple[Actor, ...]
    relies_on: tuple[str, ...]
    """Habilitation numbers or provider ids this provider's habilitation relies on."""
    endpoints: tuple[Endpoint, ...]
    client_certificate_subject: str | None
    """Registered subject of the provider's mTLS client certificate (checked against traces)."""
    evidence_bundle: Path
    """Absolute path of the evidence bundle (a folder or a .zip)."""
    habilitations: tuple[Habilitation, ...] = ()
    """Every habilitation, in file order (version 1: one per role, dates unknown)."""
    clients: tuple[Client, ...] = ()
    """The proxy's client software (`clientId` of the traces) with their certificates."""

    def habilitation_by_number(self, number: str) -> Habilitation | None:
        return next((h for h in self.habilitations if h.number == number), None)


def provider_digest(provider: Provider) -> str:
    """SHA-256 of one provider's entry as loaded (paths resolved, defaults applied): all an
    audit of that provider reads from the registry, so editing another provider's entry,
    a comment or the layout of the file does not change it. An entry without `clients`
    keeps the digest it had before that key existed."""
    data = dataclasses.asdict(provider)
    if not data["clients"]:
        del data["clients"]
    text = json.dumps(data, sort_keys=True, default=str)
    return sha256_bytes(text.encode("utf-8"))


@dataclass(frozen=True)
class Registry:
    """Every provider of a registry file, in file order."""

    path: Path
    providers: tuple[Provider, ...]

    def __iter__(self) -> Iterator[Provider]:
        return iter(self.providers)

    def __len__(self) -> int:
        return len(self.providers)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.providers]

    def get(self, provider_id: str) -> Provider:
        for provider in self.providers:
            if provider.id == provider_id:
                return provider
        raise RegistryError(
            f"{self.path}: no provider {provider_id!r}; known ids: {', '.join(self.ids)}"
        )

    def find(self, reference: str) -> Provider | None:
        """The provider with this id or this habilitation number, if the registry has it."""
        for provider in self.providers:
            if reference in (provider.id, provider.habilitation):
                return provider
            if any(h.number == reference for h in provider.habilitations):
                return provider
        return None

    def habilitations_for(self, reference: str) -> list[Habilitation]:
        """The habilitations a reference names: one habilitation number, or every
        habilitation of the provider with that id."""
        found: list[Habilitation] = []
        for provider in self.providers:
            if provider.id == reference:
                found.extend(provider.habilitations)
            else:
                found.extend(h for h in provider.habilitations if h.number == reference)
        return found

    def relied_on(self, provider: Provider) -> list[Provider]:
        """Providers of this registry whose habilitation `provider` relies on."""
        found = (self.find(ref) for ref in provider.relies_on)
        return [p for p in found if p is not None]

    def with_role(self, role: Actor) -> list[Provider]:
        return [p for p in self.providers if role in p.roles]

    def unresolved_reliances(self, provider: Provider) -> list[str]:
        """`relies_on` entries naming no provider of this registry (external habilitations)."""
        return [ref for ref in provider.relies_on if self.find(ref) is None]

    def missing_dependencies(self, provider: Provider) -> list[Actor]:
        """Roles the provider's habilitations must rely on that no relied-on provider holds.

        docs/domain.md: an Éditeur Utilisateur's and an FS Proxy's habilitation rely on an
        Éditeur Proxy's; an FS Utilisateur's on an Éditeur Utilisateur's and an FS Proxy's.
        A role the provider holds itself counts as covered. References outside the
        registry cannot be checked: see `unresolved_reliances`.
        """
        held = set(provider.roles)
        for other in self.relied_on(provider):
            held.update(other.roles)
        needed = {dep for role in provider.roles for dep in HABILITATION_DEPENDS_ON[role]}
        return [role for role in Actor if role in needed and role not in held]

    def dependency_issues(
        self, provider: Provider, habilitation: Habilitation, day: dt.date
    ) -> list[DependencyIssue]:
        """What is wrong, on `day`, with the habilitations `habilitation` relies on.

        docs/domain.md: ELU -> EP, FP -> EP, FU -> ELU + FP. For each role needed, the
        candidates are the provider's own habilitations of that role, and those named by
        the habilitation's `relies_on`, its `proxy` dossier (ELU) and the provider's
        `relies_on` (a habilitation number, or a provider id for all its habilitations).
        A finding when none is found, when none is valid on `day` (suspended, expired, a
        mere candidature), or when the best valid one expires before the audited one.
        A need left unmet while some reference points outside the registry cannot be
        judged: `unverifiable`.
        """
        refs = list(habilitation.relies_on) + list(provider.relies_on)
        if habilitation.proxy:
            refs.insert(0, habilitation.proxy)
        pool: list[Habilitation] = [h for h in provider.habilitations if h is not habilitation]
        unresolved: list[str] = []
        for ref in refs:
            named = self.habilitations_for(ref)
            if not named:
                unresolved.append(ref)
            pool.extend(h for h in named if h not in pool)
        issues: list[DependencyIssue] = []
        number = habilitation.number
        for role in HABILITATION_DEPENDS_ON[habilitation.role]:
            if habilitation.role is Actor.EDITEUR_UTILISATEUR and habilitation.proxy:
                # the dossier is for one proxy: only that proxy's habilitations count
                candidates = [
                    h for h in self.habilitations_for(habilitation.proxy) if h.role is role
                ]
            else:
                candidates = [h for h in pool if h.role is role]
            valid = [h for h in candidates if h.valid_on(day)]

            def issue(
                problem: DependencyProblem,
                found: str | None,
                text: str,
                role: Actor = role,
            ) -> None:
                issues.append(DependencyIssue(number, role, problem, found, text))

            if not candidates:
                if unresolved:
                    issue(
                        DependencyProblem.UNVERIFIABLE,
                        None,
                        f"Habilitation {number} : la dépendance « {role.label} » n'est pas au "
                        f"registre ; référence(s) externe(s) à vérifier : {', '.join(unresolved)}",
                    )
                else:
                    issue(
                        DependencyProblem.MISSING,
                        None,
                        f"Habilitation {number} ({habilitation.role.label}) : aucune habilitation "
                        f"« {role.label} » sur laquelle s'appuyer",
                    )
                continue
            if not valid:
                worst = candidates[0]
                state = worst.status_on(day)
                problem = {
                    HabilitationStatus.SUSPENDED: DependencyProblem.SUSPENDED,
                    HabilitationStatus.EXPIRED: DependencyProblem.EXPIRED,
                }.get(state, DependencyProblem.CANDIDATE)
                states = ", ".join(f"{h.number} ({h.status_on(day).label})" for h in candidates)
                issue(
                    problem,
                    worst.number,
                    f"Habilitation {number} : aucune habilitation « {role.label} » valide "
                    f"au {day:%d/%m/%Y} sur laquelle s'appuyer : {states}",
                )
                continue
            dated = [h for h in valid if h.expires is not None]
            if habilitation.expires is not None and dated and len(dated) == len(valid):
                best = max(dated, key=lambda h: h.expires or day)
                if best.expires is not None and best.expires < habilitation.expires:
                    issue(
                        DependencyProblem.EXPIRES_FIRST,
                        best.number,
                        f"Habilitation {number} (expire le {habilitation.expires:%d/%m/%Y}) : "
                        f"l'habilitation « {role.label} » {best.number} dont elle dépend "
                        f"expire avant, le {best.expires:%d/%m/%Y}",
                    )
        return issues


# --- loading ---------------------------------------------------------------------------------


def _describe_loc(raw: Any, loc: tuple[int | str, ...]) -> str:
    """`('providers', 2, 'port')` -> `provider 'x' (providers[2]): port`.

    Naming the provider by its id lets the maintainer find the entry without counting.
    """
    if len(loc) >= 2 and loc[0] == "providers" and isinstance(loc[1], int):
        index = loc[1]
        ident = None
        providers = raw.get("providers") if isinstance(raw, dict) else None
        if isinstance(providers, list) and index < len(providers):
            entry = providers[index]
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                ident = entry["id"]
        who = f"provider {ident!r} (providers[{index}])" if ident else f"providers[{index}]"
        rest = loc[2:]
    else:
        who, rest = "registry", loc
    key = ""
    for part in rest:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return f"{who}: {key or '(entry)'}"


def _resolve(base: Path, value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def load_registry(path: str | os.PathLike[str]) -> Registry:
    """Load and validate a registry file (format 1 or 2); raises `RegistryError` listing
    every problem found."""
    registry_path = Path(path)
    try:
        raw = load_yaml_file(registry_path)
    except YamlInputError as exc:
        raise RegistryError(f"registry {registry_path} is unusable: {exc}") from None
    if not isinstance(raw, dict):
        raise RegistryError(
            f"registry {registry_path}: expected a mapping with a `providers` list, "
            f"found {type(raw).__name__}"
        )
    version = raw.get("version", 1)
    model: type[RegistrySpec] | type[RegistrySpecV2] = (
        RegistrySpecV2 if version == 2 and not isinstance(version, bool) else RegistrySpec
    )
    if version not in (1, 2) or isinstance(version, bool):
        raise RegistryError(
            f"registry {registry_path} is invalid",
            [f"registry: version: must be 1 or 2 (got {version!r})"],
        )
    try:
        spec = model.model_validate(raw)
    except ValidationError as exc:
        errors = [
            f"{_describe_loc(raw, tuple(err['loc']))}: {err['msg']}"
            + (f" (got {err['input']!r})" if err["type"] != "missing" and _short(err) else "")
            for err in exc.errors()
        ]
        raise RegistryError(f"registry {registry_path} is invalid", errors) from None

    base = registry_path.resolve().parent
    problems: list[str] = []
    providers: list[Provider] = []
    seen_ids: dict[str, int] = {}
    seen_habilitations: dict[str, str] = {}
    for index, p in enumerate(spec.providers):
        who = f"provider {p.id!r} (providers[{index}])"
        if p.id in seen_ids:
            problems.append(f"{who}: id: duplicate of providers[{seen_ids[p.id]}]")
        seen_ids.setdefault(p.id, index)
        habilitations = _habilitations(p, who, problems)
        numbers = list(dict.fromkeys(h.number for h in habilitations))
        for number in numbers:
            if number in seen_habilitations:
                problems.append(
                    f"{who}: habilitation: {number!r} is also provider "
                    f"{seen_habilitations[number]!r}'s"
                )
            seen_habilitations.setdefault(number, p.id)
        roles = tuple(dict.fromkeys(h.role for h in habilitations))
        if (
            not isinstance(p, ProviderSpecV2)
            and p.roles is not None
            and len(set(p.roles)) != len(p.roles)
        ):
            problems.append(f"{who}: roles: a role is listed twice")
        if p.id in p.relies_on or any(n in p.relies_on for n in numbers):
            problems.append(f"{who}: relies_on: a provider cannot rely on itself")
        bundle = _resolve(base, p.evidence_bundle)
        if not bundle.exists():
            problems.append(f"{who}: evidence_bundle: {bundle} does not exist")
        endpoints: list[Endpoint] = []
        for e_index, e in enumerate(p.endpoints):
            cert = _resolve(base, e.client_cert) if e.client_cert else None
            key = _resolve(base, e.client_key) if e.client_key else None
            for name, file in (("client_cert", cert), ("client_key", key)):
                if file is not None and not file.is_file():
                    problems.append(f"{who}: endpoints[{e_index}].{name}: {file} does not exist")
            if e.habilitation is not None and e.habilitation not in numbers:
                problems.append(
                    f"{who}: endpoints[{e_index}].habilitation: {e.habilitation!r} is not one "
                    f"of this provider's habilitations ({', '.join(numbers)})"
                )
            endpoints.append(
                Endpoint(
                    host=e.host,
                    port=e.port,
                    sni=e.sni,
                    mtls=e.mtls,
                    client_cert=cert,
                    client_key=key,
                    key_passphrase_env=e.key_passphrase_env,
                    label=e.label,
                    habilitation=e.habilitation,
                )
            )
        providers.append(
            Provider(
                id=p.id,
                name=p.name,
                habilitation=numbers[0] if numbers else "",
                roles=roles,
                relies_on=tuple(p.relies_on),
                endpoints=tuple(endpoints),
                client_certificate_subject=p.client_certificate_subject,
                evidence_bundle=bundle,
                habilitations=tuple(habilitations),
                clients=tuple(Client(c.client_id, c.subject, c.sha256) for c in p.clients),
            )
        )
    if problems:
        raise RegistryError(f"registry {registry_path} is invalid", problems)
    return Registry(path=registry_path.resolve(), providers=tuple(providers))


def _habilitations(
    p: ProviderSpec | ProviderSpecV2, who: str, problems: list[str]
) -> list[Habilitation]:
    """Version 2 habilitations as written (defaults applied), or the version 1 conversion:
    one active habilitation per role, with the provider's single number, dates unknown."""
    if not isinstance(p, ProviderSpecV2):
        return [
            Habilitation(
                number=p.habilitation or "",
                role=role,
                environment=DEFAULT_ENVIRONMENT[role],
                issued=None,
                expires=None,
                status=HabilitationStatus.ACTIVE,
            )
            for role in dict.fromkeys(p.roles or ())
        ]
    found: list[Habilitation] = []
    seen: dict[str, int] = {}
    for h_index, h in enumerate(p.habilitations):
        if h.number in seen:
            problems.append(
                f"{who}: habilitations[{h_index}].number: {h.number!r} duplicates "
                f"habilitations[{seen[h.number]}]"
            )
        seen.setdefault(h.number, h_index)
        if h.number in h.relies_on or (h.proxy is not None and h.proxy in (h.number, p.id)):
            problems.append(
                f"{who}: habilitations[{h_index}]: a habilitation cannot rely on itself"
            )
        expires = h.expires
        if expires is None and h.issued is not None:
            expires = add_years(h.issued, HABILITATION_VALIDITY_YEARS)
        found.append(
            Habilitation(
                number=h.number,
                role=h.role,
                environment=h.environment or DEFAULT_ENVIRONMENT[h.role],
                issued=h.issued,
                expires=expires,
                status=h.status,
                proxy=h.proxy,
                relies_on=tuple(h.relies_on),
                commitments_renewal=h.commitments_renewal,
            )
        )
    return found


def _short(err: Any) -> bool:
    """Echo the offending value only when it is small (never dump a whole provider entry)."""
    value = err.get("input")
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 60
