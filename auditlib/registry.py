"""The provider registry: who is audited, in which roles, on which endpoints, with which proofs.

A YAML file (demo: `data/registry.yaml`) validated with pydantic on load. Every problem
names the provider and the key, so the person who maintains the file can fix it without
reading a traceback. Relative paths resolve against the registry file's folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
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

    _reject_secrets = model_validator(mode="before")(_no_secret)

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
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("relies_on", mode="before")
    @classmethod
    def _relies_on_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value


class RegistrySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Annotated[StrictInt, Field(ge=1, le=1)] = 1
    providers: Annotated[list[ProviderSpec], Field(min_length=1)]


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
    clients: tuple[Client, ...] = ()
    """The proxy's client software (`clientId` of the traces) with their certificates."""


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
        return None

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
    """Load and validate a registry file; raises `RegistryError` listing every problem found."""
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
    try:
        spec = RegistrySpec.model_validate(raw)
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
        if p.habilitation in seen_habilitations:
            problems.append(
                f"{who}: habilitation: {p.habilitation!r} is also provider "
                f"{seen_habilitations[p.habilitation]!r}'s"
            )
        seen_habilitations.setdefault(p.habilitation, p.id)
        if len(set(p.roles)) != len(p.roles):
            problems.append(f"{who}: roles: a role is listed twice")
        if p.id in p.relies_on or p.habilitation in p.relies_on:
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
                )
            )
        providers.append(
            Provider(
                id=p.id,
                name=p.name,
                habilitation=p.habilitation,
                roles=tuple(p.roles),
                relies_on=tuple(p.relies_on),
                endpoints=tuple(endpoints),
                client_certificate_subject=p.client_certificate_subject,
                evidence_bundle=bundle,
                clients=tuple(Client(c.client_id, c.subject, c.sha256) for c in p.clients),
            )
        )
    if problems:
        raise RegistryError(f"registry {registry_path} is invalid", problems)
    return Registry(path=registry_path.resolve(), providers=tuple(providers))


def _short(err: Any) -> bool:
    """Echo the offending value only when it is small (never dump a whole provider entry)."""
    value = err.get("input")
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 60
