"""Scan TLS endpoints with sslyze and keep a compact, JSON-serialisable observation of each.

One sslyze `Scanner` run covers every endpoint concurrently. What each endpoint showed
(versions, suites with their key exchange, groups, certificate chain, path validation
against the user's trust anchors, compression, renegotiation, fallback SCSV, Heartbleed,
ROBOT, early data, OCSP stapling, HSTS) becomes one `TlsObservation`. An endpoint that
cannot be reached is an observation with status ERROR and the reason, never an exception;
a scan command that fails is listed in `missing`, so the rules can say "incomplete" rather
than guess. Judging observations is `auditlib.tls.evaluate`'s job.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from auditlib.certs import CertificateInfo, describe_certificate
from auditlib.errors import AuditlibError, TlsObservationFileError, TlsScanError
from auditlib.files import sha256_bytes, write_atomic

OBSERVATIONS_FORMAT = "auditlib.tls-observations/1"


class ScanStatus(StrEnum):
    OK = "OK"
    ERROR = "ERROR"


# Versions in wire order, with the sslyze command that probes each.
TLS_VERSIONS: tuple[tuple[str, str], ...] = (
    ("SSLv2", "ssl_2_0_cipher_suites"),
    ("SSLv3", "ssl_3_0_cipher_suites"),
    ("TLSv1.0", "tls_1_0_cipher_suites"),
    ("TLSv1.1", "tls_1_1_cipher_suites"),
    ("TLSv1.2", "tls_1_2_cipher_suites"),
    ("TLSv1.3", "tls_1_3_cipher_suites"),
)

DEFAULT_COMMANDS: tuple[str, ...] = (
    *(cmd for _, cmd in TLS_VERSIONS),
    "certificate_info",
    "elliptic_curves",
    "tls_compression",
    "session_renegotiation",
    "tls_fallback_scsv",
    "heartbleed",
    "robot",
    "tls_1_3_early_data",
    "http_headers",
)


@dataclass(frozen=True)
class ScanSpec:
    """One endpoint to scan. Secrets never live here: only the name of the variable holding them."""

    host: str
    """Address to connect to (name or IP)."""
    port: int = 443
    sni: str | None = None
    """Server name sent in SNI and checked against the certificate; defaults to `host`."""
    client_cert: Path | None = None
    """PEM client certificate (chain) for mutual TLS."""
    client_key: Path | None = None
    key_pass_env: str | None = None
    """Name of the environment variable that holds the client key passphrase (never the value)."""
    label: str | None = None
    """Short name for reports, e.g. the provider endpoint id."""

    @property
    def name(self) -> str:
        return self.label or f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ScanSettings:
    """How to scan: trust anchors, time limit, which sslyze commands."""

    ca_dir: Path | None = None
    """Folder of trusted CA certificates (PEM). None: nothing is trusted, and that is reported."""
    timeout: int = 5
    """Per-connection network timeout in seconds (sslyze retries once on timeout)."""
    max_retries: int = 1
    commands: tuple[str, ...] = DEFAULT_COMMANDS
    concurrent_connections_per_server: int = 5
    extra_probes: bool = True
    """Also probe the server's suite order (R13), encrypt_then_mac (R10-) and 0-RTT (R23)
    ourselves, and retry suite probes that timed out. Off: time-outs stay unknown and
    R23 is NOT_TESTED unless sslyze saw early data accepted."""


class Suite(BaseModel):
    """An accepted cipher suite and the key exchange the server chose with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    """IANA name, e.g. `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`."""
    openssl_name: str = ""
    anonymous: bool = False
    key_size: int = 0
    """Symmetric key size in bits."""
    kx_type: str | None = None
    """`ECDH`, `DH` or None (static RSA or unknown)."""
    kx_group: str | None = None
    """Curve name for ECDHE (`secp256r1`, `X25519`...)."""
    kx_size: int | None = None
    """Ephemeral key size in bits (DH modulus or curve size)."""


class ProtocolResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str
    accepted: bool | None
    """None when the version could not be probed (command failed or not run)."""
    suites: tuple[Suite, ...] = ()
    timed_out: tuple[str, ...] = ()
    """Suites whose probe timed out even after one retry: neither accepted nor refused."""


class OcspFacts(BaseModel):
    """The stapled OCSP response, parsed: what it says and whether it can be believed.

    `None` in a check means "could not be checked" (e.g. the issuer certificate was not
    available to verify the signature), never "checked and fine"."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    response_status: str
    """`SUCCESSFUL`, `TRY_LATER`, `UNAUTHORIZED`..."""
    cert_status: str | None = None
    """`GOOD`, `REVOKED` or `UNKNOWN` for the served certificate (or the first response)."""
    serial: str | None = None
    """Serial number (upper-case hex) of the certificate the response is about."""
    for_leaf: bool | None = None
    """True when serial number and issuer hashes match the served certificate."""
    signature_valid: bool | None = None
    signature_error: str | None = None
    responder: str | None = None
    """Who signed it: the issuing CA itself or a delegated OCSP responder (its subject)."""
    produced_at: dt.datetime | None = None
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    revocation_time: dt.datetime | None = None
    revocation_reason: str | None = None


class PathValidation(BaseModel):
    """Path validation of the received chain against the user's trust anchors only."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    anchors_configured: bool
    trusted: bool
    error: str | None = None
    verified_chain: tuple[CertificateInfo, ...] = ()
    """Verified chain, leaf first, the trust anchor it ends at last."""
    anchor_subject: str | None = None
    anchor_roots: tuple[str, ...] = ()
    """Subjects of the self-signed (root) certificates among the configured anchors."""


class Hsts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    max_age: int | None = None
    include_subdomains: bool = False
    preload: bool = False


class TlsObservation(BaseModel):
    """What one endpoint showed on the wire. `None` in a field means "not observed"."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    label: str
    host: str
    port: int
    sni: str
    client_cert: str | None = None
    scanned_at: dt.datetime
    status: ScanStatus
    error: str | None = None
    """Why the endpoint could not be scanned (unreachable, refused, client cert needed)."""
    client_auth: str | None = None
    """`DISABLED`, `OPTIONAL` or `REQUIRED` as probed."""
    protocols: tuple[ProtocolResult, ...] = ()
    groups: tuple[str, ...] | None = None
    chain: tuple[CertificateInfo, ...] = ()
    """Received chain, leaf first."""
    chain_in_order: bool | None = None
    server_cipher_order: bool | None = None
    """True when the server imposes its own suite order (R13); None when not tested."""
    encrypt_then_mac: bool | None = None
    """True when the server negotiated encrypt_then_mac with a CBC suite; None if not tested."""
    path_validation: PathValidation | None = None
    compression: bool | None = None
    secure_renegotiation: bool | None = None
    client_renegotiation_dos: bool | None = None
    fallback_scsv: bool | None = None
    heartbleed: bool | None = None
    robot: str | None = None
    early_data: bool | None = None
    """sslyze's answer; its probe needs an HTTP reply, so False may mean "no answer"."""
    early_data_probe: bool | None = None
    """Our own 0-RTT probe (`openssl s_client -early_data`, no HTTP): True accepted,
    False refused (refused at resumption, or tickets allow no early data), None not tested."""
    early_data_detail: str | None = None
    """What the 0-RTT probe saw, or why it could not conclude."""
    ocsp_stapling: bool | None = None
    ocsp_status: str | None = None
    ocsp: OcspFacts | None = None
    hsts: Hsts | None = None
    http_observed: bool = False
    """True when the HTTP headers command ran, so `hsts=None` means "no HSTS header"."""
    missing: dict[str, str] = Field(default_factory=dict)
    """sslyze command -> why it produced nothing."""
    raw_sslyze_file: str | None = None
    """Sidecar file (relative to the observations file) holding sslyze's own JSON."""
    raw_sslyze_sha256: str | None = None
    raw_sslyze: str | None = Field(default=None, exclude=True, repr=False)
    """sslyze's JSON for this endpoint, in memory only; `save_observations` writes it aside."""

    def protocol(self, version: str) -> ProtocolResult | None:
        for proto in self.protocols:
            if proto.version == version:
                return proto
        return None

    @property
    def accepted_versions(self) -> tuple[str, ...]:
        return tuple(p.version for p in self.protocols if p.accepted)

    @property
    def leaf(self) -> CertificateInfo | None:
        return self.chain[0] if self.chain else None


_OBSERVATIONS = TypeAdapter(list[TlsObservation])


# --------------------------------------------------------------------------- scanning


def parse_endpoint(text: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `host` (port 443) -> (host, port)."""
    match = re.fullmatch(
        r"\[(?P<h6>[0-9A-Fa-f:.]+)\](?::(?P<p6>\d+))?|(?P<h>[^:\s]+)(?::(?P<p>\d+))?", text
    )
    if not match:
        raise TlsScanError(f"endpoint {text!r} is not HOST:PORT")
    host = match.group("h6") or match.group("h")
    port = int(match.group("p6") or match.group("p") or 443)
    if not 0 < port < 65536:
        raise TlsScanError(f"endpoint {text!r}: port {port} is out of range")
    return host, port


def _key_password(spec: ScanSpec) -> str:
    """The client key passphrase, read from the named environment variable at the last moment."""
    if not spec.key_pass_env:
        return ""
    value = os.environ.get(spec.key_pass_env)
    if value is None:
        raise TlsScanError(
            f"{spec.name}: environment variable {spec.key_pass_env} (client key passphrase) "
            "is not set"
        )
    return value


def _credentials(spec: ScanSpec) -> Any:
    from sslyze.server_setting import ClientAuthenticationCredentials

    if spec.client_cert is None and spec.client_key is None:
        return None
    if spec.client_cert is None or spec.client_key is None:
        raise TlsScanError(f"{spec.name}: mutual TLS needs both a client certificate and a key")
    for what, path in (("client certificate", spec.client_cert), ("client key", spec.client_key)):
        if not Path(path).is_file() or not os.access(path, os.R_OK):
            raise TlsScanError(f"{spec.name}: cannot read the {what} file {path}")
    password = _key_password(spec)
    try:
        return ClientAuthenticationCredentials(
            certificate_chain_path=Path(spec.client_cert),
            key_path=Path(spec.client_key),
            key_password=password,
        )
    except Exception as exc:  # nassl raises plain OpenSSL errors; never echo the passphrase
        raise TlsScanError(
            f"{spec.name}: cannot load the client certificate {spec.client_cert} with key "
            f"{spec.client_key} (wrong passphrase or not a matching PEM pair): "
            f"{type(exc).__name__}"
        ) from None


@dataclass(frozen=True)
class _Anchors:
    bundle: Path
    roots: tuple[str, ...]


@contextlib.contextmanager
def _anchor_file(ca_dir: Path | None) -> Iterator[_Anchors | None]:
    """Concatenate the folder's certificates into one temporary PEM file for sslyze."""
    if ca_dir is None:
        yield None
        return
    folder = Path(ca_dir)
    if not folder.is_dir():
        raise TlsScanError(f"trust anchor folder {folder} does not exist or is not a folder")
    certs: list[bytes] = []
    roots: list[str] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in (".pem", ".crt", ".cer"):
            continue
        data = path.read_bytes()
        try:
            loaded = x509.load_pem_x509_certificates(data)
        except ValueError:
            try:
                loaded = [x509.load_der_x509_certificate(data)]
            except ValueError:
                raise TlsScanError(
                    f"trust anchor file {path} is neither a PEM nor a DER certificate"
                ) from None
        from cryptography.hazmat.primitives.serialization import Encoding

        certs += [c.public_bytes(Encoding.PEM) for c in loaded]
        roots += [c.subject.rfc4514_string() for c in loaded if c.subject == c.issuer]
    if not certs:
        raise TlsScanError(f"trust anchor folder {folder} holds no certificate (.pem/.crt/.cer)")
    with tempfile.TemporaryDirectory(prefix="auditlib-anchors-") as tmp:
        bundle = Path(tmp) / "anchors.pem"
        bundle.write_bytes(b"".join(certs))
        yield _Anchors(bundle, tuple(roots))


LEGACY_COMMANDS = ("ssl_2_0_cipher_suites", "ssl_3_0_cipher_suites")
"""SSLv2/SSLv3 probes: sslyze's legacy client cannot present a certificate chain, and a
protocol refusal does not depend on the client certificate, so with client credentials
they run in a second request without them."""


def _requests(
    spec: ScanSpec, settings: ScanSettings, anchors: _Anchors | None
) -> tuple[Any, Any | None]:
    """The main sslyze request, and the credential-less SSLv2/SSLv3 one when needed."""
    has_credentials = spec.client_cert is not None or spec.client_key is not None
    legacy = tuple(c for c in settings.commands if c in LEGACY_COMMANDS)
    if not has_credentials or not legacy:
        return _request(spec, settings, anchors), None
    main = replace(settings, commands=tuple(c for c in settings.commands if c not in legacy))
    bare = replace(spec, client_cert=None, client_key=None, key_pass_env=None)
    return (
        _request(spec, main, anchors),
        _request(bare, replace(settings, commands=legacy), None),
    )


def _request(spec: ScanSpec, settings: ScanSettings, anchors: _Anchors | None) -> Any:
    from sslyze.plugins.certificate_info.implementation import CertificateInfoExtraArgument
    from sslyze.plugins.scan_commands import ScanCommand
    from sslyze.scanner.models import ScanCommandsExtraArguments, ServerScanRequest
    from sslyze.server_setting import ServerNetworkConfiguration, ServerNetworkLocation

    try:
        commands = {ScanCommand(c) for c in settings.commands}
    except ValueError as exc:
        raise TlsScanError(f"unknown sslyze scan command: {exc}") from None
    sni = spec.sni or spec.host
    credentials = _credentials(spec)
    # Connect to `host`, but present and check `sni`: sslyze would resolve the SNI name.
    location = ServerNetworkLocation(hostname=sni, port=spec.port, ip_address=_resolve(spec.host))
    config = ServerNetworkConfiguration(
        tls_server_name_indication=sni,
        tls_client_auth_credentials=credentials,
        network_timeout=settings.timeout,
        network_max_retries=settings.max_retries,
    )
    extra = ScanCommandsExtraArguments()
    if anchors is not None and ScanCommand.CERTIFICATE_INFO in commands:
        extra = ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=anchors.bundle)
        )
    return ServerScanRequest(
        server_location=location,
        network_configuration=config,
        scan_commands=commands,
        scan_commands_extra_arguments=extra,
    )


class _UnresolvableError(AuditlibError):
    """The endpoint's host name does not resolve (recorded as an ERROR observation)."""


def _resolve(host: str) -> str:
    if _is_ip(host):
        return host
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise _UnresolvableError(host) from None
    return str(infos[0][4][0])


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def close_sockets_on_shutdown() -> None:
    """Make nassl close a connection's socket whatever OpenSSL's shutdown says.

    `nassl.ssl_client.BaseSslClient.shutdown` closes its socket only after `SSL_shutdown`
    returned or raised one of two errors it expects; any other error leaves the TCP
    connection open until the object is garbage-collected. A server that serves one
    client at a time (OpenSSL's `s_server`, some appliances) then waits for ever on that
    idle connection while sslyze's other probes queue behind it: seen in our posture tests
    as a scan that never ends. Idempotent."""
    from nassl.ssl_client import BaseSslClient

    original = BaseSslClient.shutdown
    if getattr(original, "closes_its_socket", False):
        return

    def shutdown(self: Any) -> None:
        try:
            original(self)
        finally:
            sock = getattr(self, "_sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.close()

    shutdown.closes_its_socket = True  # type: ignore[attr-defined]
    BaseSslClient.shutdown = shutdown  # type: ignore[method-assign]


def scan_endpoints(
    specs: Sequence[ScanSpec], settings: ScanSettings | None = None
) -> list[TlsObservation]:
    """Scan every endpoint in one concurrent sslyze run; results come back in `specs` order.

    Raises `TlsScanError` only for set-up mistakes (bad credentials, bad anchor folder,
    unresolvable name); anything the servers do is recorded in the observations.
    """
    from sslyze.errors import ServerHostnameCouldNotBeResolved
    from sslyze.scanner.scanner import Scanner

    close_sockets_on_shutdown()

    settings = settings or ScanSettings()
    if not specs:
        return []
    scanned_at = dt.datetime.now(dt.UTC)
    with _anchor_file(settings.ca_dir) as anchors:
        roots = anchors.roots if anchors else ()
        # Set-up mistakes (credentials, commands) raise here, before any traffic.
        requests: list[tuple[Any, Any | None] | None] = []
        for spec in specs:
            try:
                requests.append(_requests(spec, settings, anchors))
            except (ServerHostnameCouldNotBeResolved, _UnresolvableError):
                requests.append(None)
        done: dict[int, TlsObservation | Future[TlsObservation]] = {}
        with ThreadPoolExecutor(max_workers=max(1, min(16, len(specs)))) as pool:
            # A quick reachability check first: sslyze would otherwise spend its retries
            # (many seconds) on a silent or closed port before calling it unreachable;
            # then, without client credentials, whether the server demands a certificate
            # (scanning such a server would only collect time-outs and refusals).
            checks = list(
                pool.map(
                    lambda spec, req: (
                        (f"host name {spec.host} does not resolve", None)
                        if req is None
                        else _precheck(spec, req[0], settings.timeout)
                    ),
                    specs,
                    requests,
                )
            )
            live = []
            for index, (spec, request, (problem, client_auth)) in enumerate(
                zip(specs, requests, checks, strict=True)
            ):
                if problem is None and request is not None:
                    live.append((index, spec, request))
                else:
                    done[index] = _error_observation(
                        spec, problem or "not scanned", scanned_at, client_auth
                    )
            if live:
                scanner = Scanner(
                    per_server_concurrent_connections_limit=settings.concurrent_connections_per_server,
                    concurrent_server_scans_limit=max(1, 2 * len(live)),
                )
                queued = [r for _, _, pair in live for r in pair if r is not None]
                scanner.queue_scans(queued)
                by_uuid: dict[Any, tuple[int, ScanSpec, str]] = {}
                expected: dict[int, int] = {}
                for index, spec, (main, legacy) in live:
                    by_uuid[main.uuid] = (index, spec, "main")
                    if legacy is not None:
                        by_uuid[legacy.uuid] = (index, spec, "legacy")
                    expected[index] = 1 if legacy is None else 2
                parts: dict[int, dict[str, Any]] = {}
                # Each endpoint becomes an observation (and its own probes start) as soon
                # as sslyze is done with it, so the probes overlap the scans still running.
                for result in scanner.get_results():
                    index, spec, kind = by_uuid[result.uuid]
                    parts.setdefault(index, {})[kind] = result
                    if len(parts[index]) < expected[index]:
                        continue
                    got = parts.pop(index)
                    obs = _safe_observe(
                        spec, settings, got["main"], scanned_at, roots, got.get("legacy")
                    )
                    done[index] = (
                        pool.submit(_probe_extras, spec, obs, settings)
                        if settings.extra_probes
                        else obs
                    )
            observations = []
            for index, spec in enumerate(specs):
                item = done.get(index)
                if item is None:
                    observations.append(_observe(spec, settings, None, scanned_at, roots))
                else:
                    observations.append(item.result() if isinstance(item, Future) else item)
    return observations


def _safe_observe(
    spec: ScanSpec,
    settings: ScanSettings,
    result: Any,
    scanned_at: dt.datetime,
    roots: tuple[str, ...],
    legacy: Any = None,
) -> TlsObservation:
    """`_observe`, but a server that sends something we cannot interpret is a result too."""
    try:
        return _observe(spec, settings, result, scanned_at, roots, legacy)
    except Exception as exc:  # hostile or broken server data must not sink the batch
        obs = _error_observation(
            spec, f"could not interpret the scan result: {type(exc).__name__}: {exc}", scanned_at
        )
        return obs.model_copy(update={"raw_sslyze": _raw_json(result)})


def _error_observation(
    spec: ScanSpec, reason: str, scanned_at: dt.datetime, client_auth: str | None = None
) -> TlsObservation:
    return TlsObservation(
        client_auth=client_auth,
        label=spec.name,
        host=spec.host,
        port=spec.port,
        sni=spec.sni or spec.host,
        client_cert=str(spec.client_cert) if spec.client_cert else None,
        scanned_at=scanned_at,
        status=ScanStatus.ERROR,
        error=reason,
    )


CLIENT_CERT_REQUIRED = (
    "certificat client exigé: the server requires a client certificate (mutual TLS) and "
    "none was supplied (--client-cert/--client-key); nothing was scanned beyond the "
    "handshake that showed it"
)


def _precheck(spec: ScanSpec, request: Any, timeout: int) -> tuple[str | None, str | None]:
    """(why the endpoint is not scanned, client authentication seen) before sslyze runs.

    Without client credentials, sslyze's connectivity handshake tells at once whether the
    server demands a certificate: such an endpoint is not scanned (every probe would end
    in a refusal or a time-out on a single-threaded server) and is reported incomplete.
    """
    problem = _preflight(spec, timeout)
    if problem is not None or spec.client_cert is not None:
        return problem, None
    from sslyze.server_connectivity import check_connectivity_to_server

    try:
        probe = check_connectivity_to_server(request.server_location, request.network_configuration)
    except Exception:  # sslyze's own run will record the connectivity error with detail
        return None, None
    if probe.client_auth_requirement.value == "REQUIRED":
        return CLIENT_CERT_REQUIRED, "REQUIRED"
    return None, None


def _preflight(spec: ScanSpec, timeout: int) -> str | None:
    """Why the endpoint is unreachable (refused, silent, timed out), or None to scan it.

    Only network-level failures stop here; any TLS-level answer, even an alert, goes on
    to sslyze, which knows far more protocol versions than Python's `ssl`.
    """
    try:
        raw = socket.create_connection((spec.host, spec.port), timeout=timeout)
    except TimeoutError:
        return f"timed out after {timeout} s (TCP connection not established)"
    except ConnectionRefusedError:
        return "connection refused (nothing listening on the port)"
    except OSError as exc:
        return f"cannot connect: {exc.strerror or exc}"
    with raw:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with contextlib.suppress(ssl.SSLError):
            ctx.set_ciphers("ALL:@SECLEVEL=0")
        try:
            with ctx.wrap_socket(raw, server_hostname=spec.sni or spec.host):
                return None
        except TimeoutError:
            return f"timed out after {timeout} s: TCP port open but no TLS handshake answer"
        except (ssl.SSLError, OSError, ValueError):
            return None


# --------------------------------------------------------------------------- extra probes
# sslyze 6 does not report the server's suite preference (R13) nor encrypt_then_mac (R10-):
# two small probes of our own, started for each endpoint as soon as sslyze is done with it.


def _probe_extras(spec: ScanSpec, obs: TlsObservation, settings: ScanSettings) -> TlsObservation:
    """Add R13 / R10- facts; a probe that breaks leaves them unobserved (None), nothing more."""
    try:
        return _run_probes(spec, obs, settings)
    except Exception:
        return obs


def _run_probes(spec: ScanSpec, obs: TlsObservation, settings: ScanSettings) -> TlsObservation:
    if obs.status != ScanStatus.OK:
        return obs
    obs = _retry_timeouts_bounded(spec, obs, settings)
    update: dict[str, Any] = {}
    tls13 = obs.protocol("TLSv1.3")
    if obs.early_data:  # sslyze saw early data accepted: nothing more to learn
        update["early_data_detail"] = "données 0-RTT acceptées (sonde sslyze)"
    elif tls13 is not None and tls13.accepted:
        groups = [s.kx_group for s in tls13.suites if s.kx_group]
        update["early_data_probe"], update["early_data_detail"] = _zero_rtt(
            spec, settings.timeout, groups[0] if groups else None
        )
    tls12 = obs.protocol("TLSv1.2")
    if tls12 is not None and len(tls12.suites) >= 2:
        update["server_cipher_order"] = _server_cipher_order(spec, tls12.suites, settings.timeout)
    cbc = [
        (proto.version, suite)
        for proto in obs.protocols
        if proto.version in ("TLSv1.0", "TLSv1.1", "TLSv1.2")
        for suite in proto.suites
        if "_CBC_" in suite.name
    ]
    if cbc:
        version, suite = cbc[-1]
        update["encrypt_then_mac"] = _encrypt_then_mac(spec, version, suite, settings.timeout)
    return obs.model_copy(update=update) if update else obs


RETRY_BUDGET = 6
RETRY_GRACE = 10
"""The retry of timed-out suite probes gets this many network timeouts (+10 s) in all."""


def _retry_timeouts_bounded(
    spec: ScanSpec, obs: TlsObservation, settings: ScanSettings
) -> TlsObservation:
    """`_retry_timeouts` within a deadline. sslyze's scanner can wait for ever for a
    connectivity test whose thread is gone (seen once on a loaded machine); the scan must
    end: past the deadline the retry is abandoned (its daemon thread left behind) and the
    timed-out suites stay unknown, with the reason."""
    if not any(p.timed_out for p in obs.protocols):
        return obs
    outcome: list[TlsObservation | BaseException] = []

    def retry() -> None:
        try:
            outcome.append(_retry_timeouts(spec, obs, settings))
        except BaseException as exc:  # handed to the caller, below
            outcome.append(exc)

    budget = settings.timeout * RETRY_BUDGET + RETRY_GRACE
    worker = threading.Thread(target=retry, name=f"retry-{spec.host}:{spec.port}", daemon=True)
    worker.start()
    worker.join(budget)
    if outcome:
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]
    missing = dict(obs.missing)
    for proto, (_, command) in zip(obs.protocols, TLS_VERSIONS, strict=False):
        if proto.timed_out:
            missing[command] = (
                f"{len(proto.timed_out)} suite probe(s) timed out; "
                f"the retry did not finish within {budget} s"
            )
    return obs.model_copy(update={"missing": missing})


def _retry_timeouts(spec: ScanSpec, obs: TlsObservation, settings: ScanSettings) -> TlsObservation:
    """Probe once more every version where a suite probe timed out; what still times out
    stays unknown (the rules say INCOMPLETE), never "refused"."""
    from sslyze.scanner.models import ServerConnectivityStatusEnum
    from sslyze.scanner.scanner import Scanner

    versions = {p.version for p in obs.protocols if p.timed_out}
    if not versions:
        return obs
    commands = tuple(cmd for version, cmd in TLS_VERSIONS if version in versions)
    main, legacy = _requests(spec, replace(settings, commands=commands), None)
    scanner = Scanner(
        per_server_concurrent_connections_limit=settings.concurrent_connections_per_server,
        concurrent_server_scans_limit=2,
    )
    scanner.queue_scans([r for r in (main, legacy) if r is not None])
    retried: dict[str, ProtocolResult] = {}
    for result in scanner.get_results():
        if result.connectivity_status != ServerConnectivityStatusEnum.COMPLETED:
            continue
        for version, command in TLS_VERSIONS:
            attempt = getattr(result.scan_result, command, None) if version in versions else None
            if attempt is not None and attempt.result is not None:
                retried[version] = _protocol(version, attempt.result)
    protocols, missing = [], dict(obs.missing)
    for proto, (_, command) in zip(obs.protocols, TLS_VERSIONS, strict=False):
        again = retried.get(proto.version)
        if again is None or not proto.timed_out:
            protocols.append(proto)
            if proto.timed_out:
                missing[command] = f"{len(proto.timed_out)} suite probe(s) timed out, retry failed"
            continue
        suites = {s.name: s for s in (*proto.suites, *again.suites)}
        still = tuple(n for n in proto.timed_out if n in set(again.timed_out) and n not in suites)
        accepted: bool | None = True if suites else (None if still else False)
        protocols.append(
            ProtocolResult(
                version=proto.version,
                accepted=accepted,
                suites=tuple(suites.values()),
                timed_out=still,
            )
        )
        if still:
            missing[command] = f"{len(still)} suite probe(s) timed out twice (retried once)"
        else:
            missing.pop(command, None)
    return obs.model_copy(update={"protocols": tuple(protocols), "missing": missing})


def _openssl_client_args(spec: ScanSpec) -> list[str]:
    host = f"[{spec.host}]" if ":" in spec.host else spec.host
    args = ["s_client", "-connect", f"{host}:{spec.port}", "-servername", spec.sni or spec.host]
    if spec.client_cert and spec.client_key:
        args += ["-cert", str(spec.client_cert), "-key", str(spec.client_key)]
        if spec.key_pass_env:
            args += ["-pass", f"env:{spec.key_pass_env}"]  # the name, never the value
    return args


def _zero_rtt(spec: ScanSpec, timeout: int, group: str | None = None) -> tuple[bool | None, str]:
    """Does the server accept TLS 1.3 early data? Our own probe, with no HTTP exchange:
    take a session ticket, then resume with early data and read OpenSSL's verdict.

    `group` is the key-exchange group the server chose with TLS 1.3 (sslyze saw it): the
    key share is offered in it, since a HelloRetryRequest would reject early data anyway.
    Returns (True accepted / False refused / None not tested, what was seen)."""
    binary = shutil.which("openssl")
    if binary is None:
        return None, "commande openssl absente : sonde 0-RTT impossible"
    env = {**os.environ, "OPENSSL_CONF": os.devnull}
    base = [binary, *_openssl_client_args(spec), "-tls1_3"]
    if group and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", group):
        base += ["-groups", group]
    with tempfile.TemporaryDirectory(prefix="auditlib-0rtt-") as tmp:
        session = Path(tmp) / "session.pem"
        # a busy (single-threaded) server may not answer in time: one retry, as for suites
        for _attempt in range(2):
            problem = _take_ticket([*base, "-sess_out", str(session)], session, timeout, env)
            if problem is None:
                break
        if problem is not None:
            return None, problem
        try:
            text = subprocess.run(
                [binary, "sess_id", "-in", str(session), "-noout", "-text"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                env=env,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            text = ""
        found = re.search(r"Max Early Data:\s*(\d+)", text)
        if found and int(found.group(1)) == 0:
            return False, "les tickets de session du serveur n'autorisent aucune donnée 0-RTT"
        early = Path(tmp) / "early.txt"
        early.write_bytes(b"HEAD / HTTP/1.0\r\n\r\n")
        try:
            done = subprocess.run(
                [*base, "-sess_in", str(session), "-early_data", str(early)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout + 2,
                check=False,
                env=env,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None, "reprise de session avec données 0-RTT sans réponse"
    out = done.stdout + done.stderr
    if "Early data was accepted" in out:
        return True, "données 0-RTT acceptées à la reprise de session (sonde openssl)"
    if "Early data was rejected" in out:
        return False, "données 0-RTT rejetées à la reprise de session (sonde openssl)"
    return None, "la reprise de session avec données 0-RTT n'a pas abouti"


def _take_ticket(cmd: list[str], session: Path, timeout: int, env: dict[str, str]) -> str | None:
    """Run `s_client -sess_out` until a TLS 1.3 session ticket is saved; None when it is,
    else why not (French, for the rule's reason)."""
    try:
        client = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    except OSError as exc:
        return f"sonde 0-RTT impossible ({exc.strerror or exc})"
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and client.poll() is None:
            if session.exists() and session.stat().st_size > 0:
                break
            time.sleep(0.05)
        # End of input: s_client closes with close_notify. A connection cut short
        # makes OpenSSL servers drop the session, and refuse its early data.
        time.sleep(0.1)
        client.communicate(timeout=2)
    except subprocess.TimeoutExpired:
        client.kill()
        client.communicate()
    if session.exists() and session.stat().st_size > 0:
        return None
    return f"aucun ticket de session TLS 1.3 reçu en {timeout} s (deux essais)"


def _client_context(spec: ScanSpec) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we only look at what is negotiated
    if spec.client_cert and spec.client_key:
        ctx.load_cert_chain(spec.client_cert, spec.client_key, _key_password(spec) or None)
    return ctx


def _server_cipher_order(spec: ScanSpec, suites: Sequence[Suite], timeout: int) -> bool | None:
    """Offer two accepted TLS 1.2 suites in both orders: same pick twice = server order."""
    first, last = suites[0].openssl_name, suites[-1].openssl_name
    picks = []
    for order in ((first, last), (last, first)):
        try:
            ctx = _client_context(spec)
            ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            ctx.set_ciphers(":".join(order) + ":@SECLEVEL=0")
            with (
                socket.create_connection((spec.host, spec.port), timeout=timeout) as raw,
                ctx.wrap_socket(raw, server_hostname=spec.sni or spec.host) as tls,
            ):
                cipher = tls.cipher()
                picks.append(cipher[0] if cipher else None)
        except (OSError, ssl.SSLError, ValueError):
            return None
    return picks[0] == picks[1] if None not in picks else None


_OPENSSL_VERSION_FLAGS = {"TLSv1.0": "-tls1", "TLSv1.1": "-tls1_1", "TLSv1.2": "-tls1_2"}


def _encrypt_then_mac(spec: ScanSpec, version: str, suite: Suite, timeout: int) -> bool | None:
    """Ask `openssl s_client -tlsextdebug` whether the server agrees to encrypt_then_mac."""
    binary = shutil.which("openssl")
    if binary is None:
        return None
    cmd = [binary, *_openssl_client_args(spec), "-tlsextdebug", _OPENSSL_VERSION_FLAGS[version]]
    cmd += ["-cipher", f"{suite.openssl_name}:@SECLEVEL=0"]
    try:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout + 2,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout + done.stderr
    if "Cipher is (NONE)" in out or "Cipher    : 0000" in out or "CONNECTED" not in out:
        return None
    return "encrypt-then-mac" in out


# --------------------------------------------------------------------------- observation


def _raw_json(result: Any) -> str | None:
    from sslyze.json.json_output import ServerScanResultAsJson

    try:
        return str(ServerScanResultAsJson.model_validate(result).model_dump_json(indent=2))
    except Exception as exc:  # raw JSON is evidence, but its absence must not lose the scan
        return json.dumps({"auditlib_error": f"sslyze JSON export failed: {type(exc).__name__}"})


def _error_reason(result: Any) -> str:
    trace = result.connectivity_error_trace
    if trace is None:
        return "connection failed (no detail from sslyze)"
    message = "".join(trace.format_exception_only()).strip()
    name = trace.exc_type.__name__ if trace.exc_type else "error"
    text = message.split(": ", 1)[1] if ": " in message else message
    nice = {
        "ConnectionToServerTimedOut": "timed out",
        "ServerRejectedConnection": "connection refused (nothing listening or filtered)",
        "ServerRejectedTlsHandshake": "TLS handshake refused by the server",
        "ServerTlsConfigurationNotSupported": (
            "TLS handshake refused with every version and suite tried "
            "(not a TLS server, or nothing in common)"
        ),
    }.get(name, name)
    lowered = text.lower()
    if "certificate" in lowered and ("client" in lowered or "required" in lowered):
        nice = "the server requires a client certificate we do not hold or that it refused"
    return f"{nice}: {text}"


def _observe(
    spec: ScanSpec,
    settings: ScanSettings,
    result: Any,
    scanned_at: dt.datetime,
    roots: tuple[str, ...] = (),
    legacy: Any = None,
) -> TlsObservation:
    """One endpoint's observation from sslyze's result (and, with client credentials,
    the credential-less SSLv2/SSLv3 result `legacy`)."""
    from sslyze.scanner.models import ServerConnectivityStatusEnum

    base: dict[str, Any] = {
        "label": spec.name,
        "host": spec.host,
        "port": spec.port,
        "sni": spec.sni or spec.host,
        "client_cert": str(spec.client_cert) if spec.client_cert else None,
        "scanned_at": scanned_at,
    }
    if result is None:
        return TlsObservation(**base, status=ScanStatus.ERROR, error="sslyze returned no result")
    raw = _raw_json(result)
    if result.connectivity_status != ServerConnectivityStatusEnum.COMPLETED:
        return TlsObservation(
            **base, status=ScanStatus.ERROR, error=_error_reason(result), raw_sslyze=raw
        )
    probe = result.connectivity_result
    attempts = result.scan_result
    missing: dict[str, str] = {}
    values: dict[str, Any] = {}

    legacy_ok = (
        legacy is not None and legacy.connectivity_status == ServerConnectivityStatusEnum.COMPLETED
    )

    def get(command: str) -> Any:
        if command not in settings.commands:
            missing[command] = "not run"
            return None
        source = attempts
        if legacy is not None and command in LEGACY_COMMANDS:
            if not legacy_ok:
                missing[command] = "not run: " + _error_reason(legacy)
                return None
            source = legacy.scan_result
        attempt = getattr(source, command, None)
        if attempt is None:
            missing[command] = "not run"
            return None
        if attempt.result is None:
            reason = attempt.error_reason.value if attempt.error_reason else attempt.status.value
            if attempt.error_trace is not None:
                detail = "".join(attempt.error_trace.format_exception_only()).strip()
                reason += f" ({detail[:200]})"
            missing[command] = reason
            return None
        return attempt.result

    protocols = []
    for version, command in TLS_VERSIONS:
        res = get(command)
        if res is None:
            protocols.append(ProtocolResult(version=version, accepted=None))
            continue
        protocols.append(_protocol(version, res))
        if protocols[-1].timed_out:
            missing[command] = f"{len(protocols[-1].timed_out)} suite probe(s) timed out"
    values["protocols"] = tuple(protocols)

    curves = get("elliptic_curves")
    if curves is not None:
        values["groups"] = tuple(c.name for c in curves.supported_curves or ())

    cert_info = get("certificate_info")
    if cert_info is not None and cert_info.certificate_deployments:
        deployment = cert_info.certificate_deployments[0]
        values["chain"] = tuple(
            describe_certificate(c) for c in deployment.received_certificate_chain
        )
        values["chain_in_order"] = deployment.received_chain_has_valid_order
        values["path_validation"] = _path_validation(deployment, settings.ca_dir is not None, roots)
        values["ocsp_stapling"] = deployment.ocsp_response is not None
        if deployment.ocsp_response is not None:
            values["ocsp_status"] = str(deployment.ocsp_response.response_status.name)
            verified = [
                c
                for result in deployment.path_validation_results
                for c in (result.verified_certificate_chain or [])
            ]
            values["ocsp"] = _ocsp_facts(
                deployment.ocsp_response, deployment.received_certificate_chain, verified
            )

    simple = (
        ("tls_compression", "compression", "supports_compression"),
        ("tls_fallback_scsv", "fallback_scsv", "supports_fallback_scsv"),
        ("heartbleed", "heartbleed", "is_vulnerable_to_heartbleed"),
        ("tls_1_3_early_data", "early_data", "supports_early_data"),
    )
    for command, key, attr in simple:
        res = get(command)
        if res is not None:
            values[key] = bool(getattr(res, attr))
    reneg = get("session_renegotiation")
    if reneg is not None:
        values["secure_renegotiation"] = reneg.supports_secure_renegotiation
        values["client_renegotiation_dos"] = reneg.is_vulnerable_to_client_renegotiation_dos
    robot = get("robot")
    if robot is not None:
        values["robot"] = robot.robot_result.value
    http = get("http_headers")
    if http is not None:
        if http.http_error_trace is not None:
            missing["http_headers"] = (
                "HTTP request failed: "
                + "".join(http.http_error_trace.format_exception_only()).strip()[:200]
            )
        else:
            values["http_observed"] = True
            header = http.strict_transport_security_header
            if header is not None:
                values["hsts"] = Hsts(
                    max_age=header.max_age,
                    include_subdomains=header.include_subdomains,
                    preload=header.preload,
                )
    client_auth = probe.client_auth_requirement.value if probe else None
    status, error = ScanStatus.OK, None
    if client_auth == "REQUIRED" and spec.client_cert is None:
        status = ScanStatus.ERROR
        error = CLIENT_CERT_REQUIRED
    return TlsObservation(
        **base,
        status=status,
        error=error,
        client_auth=client_auth,
        missing=missing,
        raw_sslyze=raw,
        **values,
    )


def _ocsp_facts(
    response: ocsp.OCSPResponse,
    chain: Sequence[x509.Certificate],
    extra_issuers: Sequence[x509.Certificate] = (),
) -> OcspFacts:
    """Parse a stapled OCSP response: status, the certificate it is about, who signed it
    and whether the signature holds, and its validity window."""
    status = response.response_status.name
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        return OcspFacts(response_status=status)
    leaf = chain[0] if chain else None
    issuer = _find_issuer(leaf, [*chain[1:], *extra_issuers]) if leaf is not None else None
    singles = list(response.responses)
    match = None
    for single in singles:
        if (
            leaf is not None
            and single.serial_number == leaf.serial_number
            and (issuer is None or _same_issuer(single, leaf, issuer))
        ):
            match = single
            break
    chosen = match or (singles[0] if singles else None)
    for_leaf: bool | None = match is not None
    if match is not None and issuer is None:
        for_leaf = None  # serial matches, issuer hashes could not be compared
    if leaf is None:
        for_leaf = None
    valid, error, responder = _ocsp_signature(response, issuer)
    return OcspFacts(
        response_status=status,
        cert_status=chosen.certificate_status.name if chosen else None,
        serial=format(chosen.serial_number, "X") if chosen else None,
        for_leaf=for_leaf,
        signature_valid=valid,
        signature_error=error,
        responder=responder,
        produced_at=response.produced_at_utc,
        this_update=chosen.this_update_utc if chosen else None,
        next_update=chosen.next_update_utc if chosen else None,
        revocation_time=chosen.revocation_time_utc if chosen else None,
        revocation_reason=(
            chosen.revocation_reason.name if chosen and chosen.revocation_reason else None
        ),
    )


def _find_issuer(
    cert: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> x509.Certificate | None:
    for cand in candidates:
        if cand.subject == cert.issuer and cand != cert:
            return cand
    return None


def _same_issuer(single: Any, leaf: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Do the response's issuer name and key hashes designate the leaf's issuer?"""
    try:
        request = (
            ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, single.hash_algorithm).build()
        )
    except (ValueError, TypeError):
        return False
    return bool(
        request.issuer_key_hash == single.issuer_key_hash
        and request.issuer_name_hash == single.issuer_name_hash
    )


def _ocsp_signature(
    response: ocsp.OCSPResponse, issuer: x509.Certificate | None
) -> tuple[bool | None, str | None, str | None]:
    """(signature valid?, why not, responder). The signer is the issuing CA itself, or a
    responder certificate carried in the response, issued by that CA, with OCSPSigning."""
    if issuer is None:
        return None, "certificat de l'émetteur non disponible pour vérifier la signature", None
    signer: x509.Certificate | None = None
    if _designates(response, issuer):
        signer = issuer
    else:
        for cert in response.certificates:
            if not _designates(response, cert):
                continue
            try:
                cert.verify_directly_issued_by(issuer)
                eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
                return False, "répondeur délégué non émis par l'AC ou sans usage OCSPSigning", None
            if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
                return False, "répondeur délégué sans usage OCSPSigning", None
            signer = cert
            break
    if signer is None:
        return (
            False,
            "signée par un répondeur qui n'est ni l'AC émettrice ni délégué par elle",
            None,
        )
    who = signer.subject.rfc4514_string()
    key = signer.public_key()
    data, signature = response.tbs_response_bytes, response.signature
    algorithm = response.signature_hash_algorithm
    try:
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(signature, data)
        else:
            return None, f"type de clé du répondeur non pris en charge ({type(key).__name__})", who
    except InvalidSignature:
        return False, "signature de la réponse OCSP invalide", who
    return True, None, who


def _designates(response: ocsp.OCSPResponse, cert: x509.Certificate) -> bool:
    """Does the response's responder id name this certificate (by name or key hash)?"""
    if response.responder_name is not None:
        return bool(response.responder_name == cert.subject)
    if response.responder_key_hash is not None:
        ski = x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
        return bool(ski.digest == response.responder_key_hash)
    return False


def _timed_out(rejected: Any) -> bool:
    return "timed out" in (getattr(rejected, "error_message", "") or "").lower()


def _protocol(version: str, res: Any) -> ProtocolResult:
    """A version's accepted suites; a suite whose probe timed out is neither accepted nor
    refused (sslyze files time-outs under "rejected"), so a version with nothing accepted
    and time-outs is unknown, not refused."""
    suites = tuple(_suite(s) for s in res.accepted_cipher_suites)
    timed_out = tuple(r.cipher_suite.name for r in res.rejected_cipher_suites if _timed_out(r))
    accepted: bool | None = True if suites else (None if timed_out else False)
    return ProtocolResult(version=version, accepted=accepted, suites=suites, timed_out=timed_out)


def _suite(accepted: Any) -> Suite:
    cipher = accepted.cipher_suite
    key = accepted.ephemeral_key
    kx_type = kx_group = None
    kx_size = None
    if key is not None:
        kx_type = str(key.type_name)
        kx_group = getattr(key, "curve_name", None)
        kx_size = int(key.size)
    return Suite(
        name=cipher.name,
        openssl_name=cipher.openssl_name,
        anonymous=bool(cipher.is_anonymous),
        key_size=int(cipher.key_size),
        kx_type=kx_type,
        kx_group=kx_group,
        kx_size=kx_size,
    )


def _path_validation(
    deployment: Any, anchors_configured: bool, roots: tuple[str, ...]
) -> PathValidation:
    if not anchors_configured:
        return PathValidation(
            anchors_configured=False,
            trusted=False,
            error="no trust anchor configured (use a folder of IGC-Santé CA certificates)",
        )
    for result in deployment.path_validation_results:
        if result.trust_store.name != "Supplied CA file":
            continue  # sslyze's bundled public stores are not ours to judge with
        chain = result.verified_certificate_chain or []
        return PathValidation(
            anchors_configured=True,
            trusted=bool(chain),
            error=result.validation_error,
            verified_chain=tuple(describe_certificate(c) for c in chain),
            anchor_subject=chain[-1].subject.rfc4514_string() if chain else None,
            anchor_roots=roots,
        )
    return PathValidation(
        anchors_configured=True, trusted=False, error="validation did not run", anchor_roots=roots
    )


# --------------------------------------------------------------------------- files


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "endpoint"


def save_observations(path: str | os.PathLike[str], observations: Sequence[TlsObservation]) -> Path:
    """Write observations as JSON, each endpoint's raw sslyze JSON in a sidecar file beside it.

    Sidecars are named `<stem>.<n>-<label>.sslyze.json`; the record keeps their name and SHA-256.
    """
    target = Path(path)
    records = []
    for index, obs in enumerate(observations, start=1):
        if obs.raw_sslyze is not None:
            name = f"{target.stem}.{index}-{_slug(obs.label)}.sslyze.json"
            write_atomic(target.parent / name, obs.raw_sslyze)
            obs = obs.model_copy(
                update={
                    "raw_sslyze_file": name,
                    "raw_sslyze_sha256": sha256_bytes(obs.raw_sslyze.encode("utf-8")),
                }
            )
        records.append(obs.model_dump(mode="json"))
    payload = {"format": OBSERVATIONS_FORMAT, "observations": records}
    return write_atomic(target, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def load_observations(path: str | os.PathLike[str]) -> list[TlsObservation]:
    """Read an observations file written by `save_observations`; any damage is a clear error."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TlsObservationFileError(f"{source}: cannot read ({exc})") from None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TlsObservationFileError(f"{source}: not JSON ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != OBSERVATIONS_FORMAT:
        raise TlsObservationFileError(
            f"{source}: not a TLS observations file (expected format {OBSERVATIONS_FORMAT!r})"
        )
    try:
        return _OBSERVATIONS.validate_python(payload.get("observations"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise TlsObservationFileError(
            f"{source}: observations{'.' + where if where else ''}: {first['msg']} "
            f"({exc.error_count()} problem(s))"
        ) from None


def read_raw_sslyze(
    observations_path: str | os.PathLike[str], observation: TlsObservation
) -> dict[str, Any]:
    """sslyze's own JSON for one observation, checked against the SHA-256 in the record.

    The sidecar must be a plain file name beside the observations file (no folder part),
    so a tampered record cannot make us read elsewhere.
    """
    source = Path(observations_path)
    name = observation.raw_sslyze_file
    if not name:
        raise TlsObservationFileError(f"{source}: {observation.label}: no raw sslyze JSON kept")
    if Path(name).name != name or name in (".", ".."):
        raise TlsObservationFileError(
            f"{source}: {observation.label}: raw_sslyze_file {name!r} is not a plain file name"
        )
    sidecar = source.parent / name
    try:
        data = sidecar.read_bytes()
    except OSError as exc:
        raise TlsObservationFileError(f"{sidecar}: cannot read ({exc.strerror or exc})") from None
    if observation.raw_sslyze_sha256 and sha256_bytes(data) != observation.raw_sslyze_sha256:
        raise TlsObservationFileError(
            f"{sidecar}: SHA-256 differs from the one recorded in {source}"
        )
    try:
        parsed = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TlsObservationFileError(f"{sidecar}: not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise TlsObservationFileError(f"{sidecar}: not a JSON object")
    return parsed
