"""Revocation of the provider's certificates (116, IGC-Santé key policy), from CRLs the
auditor chose.

The CRLs come only from a source the auditor configures (a YAML file, `AuditSettings.
crl_source`): a folder of CRL files, and/or a map from CRL distribution-point URL (as
certificates write it) to a local file or to a URL on an allow-listed host (loopback in the
demo). A URL written in a certificate by the audited party is only a key into that map: it
is never fetched unless the map lists it, and its target host is on `allowed_hosts`. A
download is limited in size and time. Every CRL's signature is checked against a CA
certificate of the `issuers` folder (default: the audit's trust anchors) and its
`nextUpdate` against the audit date; without a usable CRL the certificate is "non
vérifié", never presumed valid.

```yaml
folder: crls/                        # CRL files, DER or PEM (optional)
urls:                                # optional
  "http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG.crl": crls/aci-el-org.crl
  "http://crl.demo.esante.test/ac.crl": "http://127.0.0.1:18480/ac.crl"
allowed_hosts: [127.0.0.1]           # hosts a URL target may name
issuers: anchors/                    # CA certificates that sign the CRLs
max_bytes: 10485760                  # per CRL
timeout_seconds: 5                   # per download
offline: false                       # true: no download at all (files only)
```
Paths inside the file resolve against the file's folder (docs/design.md, "Paths").
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from cryptography import x509

from auditlib.audit.assess import AssessmentSettings, CheckOutcome, CheckResult
from auditlib.certs import CertificateInfo
from auditlib.errors import AuditlibError
from auditlib.yamlio import load_yaml_file

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_TIMEOUT = 5.0
CRL_SUFFIXES = (".crl", ".pem", ".der")


class RevocationSourceError(AuditlibError):
    """The CRL source file cannot be used (names the file and the key)."""


@dataclass(frozen=True)
class CrlSource:
    """Where the auditor allows CRLs to come from."""

    folder: Path | None = None
    urls: dict[str, str] = field(default_factory=dict)
    """Distribution-point URL -> local path (absolute) or URL on an allowed host."""
    allowed_hosts: frozenset[str] = frozenset()
    issuers: Path | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    timeout: float = DEFAULT_TIMEOUT
    offline: bool = False
    origin: str = "source CRL"

    @classmethod
    def load(cls, path: str | Path, default_issuers: Path | None = None) -> CrlSource:
        source = Path(path)
        raw = load_yaml_file(source)
        where = str(source)
        if not isinstance(raw, dict):
            raise RevocationSourceError(f"{where}: expected a mapping")
        known = {
            "folder",
            "urls",
            "allowed_hosts",
            "issuers",
            "max_bytes",
            "timeout_seconds",
            "offline",
        }
        unknown = sorted(set(raw) - known)
        if unknown:
            raise RevocationSourceError(f"{where}: unknown key(s) {', '.join(unknown)}")
        base = source.parent

        def local(value: Any, key: str) -> Path:
            if not isinstance(value, str) or not value:
                raise RevocationSourceError(f"{where}: {key} must be a path")
            p = Path(value)
            return p if p.is_absolute() else base / p

        urls_raw = raw.get("urls") or {}
        if not isinstance(urls_raw, dict):
            raise RevocationSourceError(f"{where}: urls must map a URL to a file or a URL")
        urls: dict[str, str] = {}
        for key, target in urls_raw.items():
            if not isinstance(key, str) or not isinstance(target, str) or not target:
                raise RevocationSourceError(f"{where}: urls.{key}: expected a file or a URL")
            if _is_url(target):
                urls[key] = target
            else:
                urls[key] = str(local(target, f"urls.{key}"))
        hosts = raw.get("allowed_hosts") or []
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise RevocationSourceError(f"{where}: allowed_hosts must be a list of host names")
        for key, target in urls.items():
            if _is_url(target):
                host = urllib.parse.urlsplit(target).hostname or ""
                if host not in hosts:
                    raise RevocationSourceError(
                        f"{where}: urls.{key}: host {host!r} is not in allowed_hosts"
                    )
        try:
            max_bytes = int(raw.get("max_bytes", DEFAULT_MAX_BYTES))
            timeout = float(raw.get("timeout_seconds", DEFAULT_TIMEOUT))
        except (TypeError, ValueError) as exc:
            raise RevocationSourceError(f"{where}: max_bytes / timeout_seconds: {exc}") from None
        if max_bytes <= 0 or timeout <= 0:
            raise RevocationSourceError(f"{where}: max_bytes and timeout_seconds must be > 0")
        offline = raw.get("offline", False)
        if not isinstance(offline, bool):
            raise RevocationSourceError(f"{where}: offline must be true or false")
        return cls(
            folder=local(raw["folder"], "folder") if raw.get("folder") else None,
            urls=urls,
            allowed_hosts=frozenset(hosts),
            issuers=local(raw["issuers"], "issuers") if raw.get("issuers") else default_issuers,
            max_bytes=max_bytes,
            timeout=timeout,
            offline=offline,
            origin=where,
        )


def _is_url(text: str) -> bool:
    return urllib.parse.urlsplit(text).scheme in ("http", "https")


@dataclass
class _Crl:
    crl: x509.CertificateRevocationList | None
    """None when it could not be obtained (then `problem` says why)."""
    where: str
    problem: str | None = None
    """Why it cannot be relied on (unreadable, signature, expired); None when usable."""

    def issued_by(self, issuer: str) -> bool:
        return self.crl is not None and self.crl.issuer.rfc4514_string() == issuer


def _parse_crl(data: bytes, where: str) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise AuditlibError(f"{where}: not a CRL ({exc})") from None


def _read_file(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise AuditlibError(f"{path}: {size} bytes, over the {limit}-byte limit")
        return path.read_bytes()
    except OSError as exc:
        raise AuditlibError(f"{path}: cannot be read ({exc.strerror or exc})") from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect could lead off the allow-list: refused."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _download(url: str, source: CrlSource) -> bytes:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in source.allowed_hosts:  # checked at load; kept as the last guard
        raise AuditlibError(f"{url}: host {host!r} not allowed")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    try:
        with opener.open(url, timeout=source.timeout) as response:
            data: bytes = response.read(source.max_bytes + 1)
    except (OSError, ValueError) as exc:
        raise AuditlibError(f"{url}: download failed ({exc})") from None
    if len(data) > source.max_bytes:
        raise AuditlibError(f"{url}: over the {source.max_bytes}-byte limit")
    return data


def _issuers(folder: Path | None) -> list[x509.Certificate]:
    if folder is None or not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.stat().st_size > 1_000_000:
            continue
        data = path.read_bytes()
        try:
            if b"-----BEGIN CERTIFICATE" in data:
                found += x509.load_pem_x509_certificates(data)
            elif path.suffix.lower() in (".der", ".cer", ".crt"):
                found.append(x509.load_der_x509_certificate(data))
        except ValueError:
            continue
    return found


class CrlStore:
    """The CRLs the auditor's source yields, checked once each, looked up by issuer."""

    def __init__(self, source: CrlSource, as_of: dt.datetime) -> None:
        self.source = source
        self.as_of = as_of
        self.problems: list[str] = []
        self._issuers = _issuers(source.issuers)
        self._by_url: dict[str, _Crl | None] = {}
        self._folder: list[_Crl] = []
        if source.folder is not None:
            if not source.folder.is_dir():
                self.problems.append(f"{source.origin}: folder {source.folder} not found")
            else:
                for path in sorted(source.folder.iterdir()):
                    if path.is_file() and path.suffix.lower() in CRL_SUFFIXES:
                        read = partial(_read_file, path, source.max_bytes)
                        self._folder.append(self._load(read, path.name))

    def _load(self, read: Callable[[], bytes], where: str) -> _Crl:
        try:
            crl = _parse_crl(read(), where)
        except AuditlibError as exc:
            self.problems.append(str(exc))
            return _Crl(None, where, str(exc))
        return _Crl(crl, where, self._judge(crl))

    def _judge(self, crl: x509.CertificateRevocationList) -> str | None:
        signers = [c for c in self._issuers if c.subject == crl.issuer]
        if not signers:
            issuer = crl.issuer.rfc4514_string()
            return f"aucun certificat d'AC pour vérifier la signature de la CRL de {issuer}"
        if not any(_signed_by(crl, c) for c in signers):
            return "signature de la CRL invalide"
        next_update = crl.next_update_utc
        if next_update is not None and next_update < self.as_of:
            return f"CRL périmée (prochaine mise à jour prévue le {next_update.date().isoformat()})"
        return None

    def for_url(self, url: str) -> _Crl | None:
        if url not in self.source.urls:
            return None
        if url not in self._by_url:
            target = self.source.urls[url]
            if _is_url(target):
                if self.source.offline:
                    self._by_url[url] = None
                    return None
                loaded = self._load(partial(_download, target, self.source), target)
            else:
                path = Path(target)
                loaded = self._load(partial(_read_file, path, self.source.max_bytes), path.name)
            self._by_url[url] = loaded
        return self._by_url[url]

    def candidates(self, cert: CertificateInfo) -> list[_Crl]:
        """CRLs for `cert`: its distribution points through the map (failures included, to
        say why), then the folder's CRLs of its issuer."""
        found = [c for c in (self.for_url(u) for u in cert.crl_urls) if c is not None]
        found = [c for c in found if c.crl is None or c.issued_by(cert.issuer)]
        return found + [c for c in self._folder if c.issued_by(cert.issuer)]


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def revocation_checks(
    certificates: Sequence[tuple[str, CertificateInfo]],
    source: CrlSource | None,
    settings: AssessmentSettings,
    as_of: dt.datetime,
) -> list[CheckResult]:
    """One result per end-entity certificate: revoked (FAIL), not revoked per a valid CRL
    (PASS), or "non vérifié" (INCOMPLETE: no source, offline, no CRL, CRL unusable)."""
    if "revocation" not in settings.check_phases:
        return []
    requirements = settings.check_requirements.get("revocation", ())
    phases = settings.check_phases["revocation"]
    store = CrlStore(source, as_of) if source is not None else None
    results: list[CheckResult] = []
    done: set[str] = set()
    for where, cert in certificates:
        if cert.is_ca or cert.sha256_fingerprint in done:
            continue
        done.add(cert.sha256_fingerprint)
        label = f"Certificat « {cert.common_name} » n° {cert.serial} ({where})"
        outcome, message = _judge_certificate(cert, store, as_of)
        results.append(
            CheckResult(
                check="revocation",
                name=f"révocation {cert.serial} ({where})",
                outcome=outcome,
                message=f"{label} : {message}",
                requirements=requirements,
                phases=phases,
                severity="critical" if outcome is CheckOutcome.FAIL else "high",
                source=where,
            )
        )
    return results


def _judge_certificate(
    cert: CertificateInfo, store: CrlStore | None, as_of: dt.datetime
) -> tuple[CheckOutcome, str]:
    if store is None:
        return CheckOutcome.INCOMPLETE, "révocation non vérifiée (aucune source de CRL configurée)"
    candidates = store.candidates(cert)
    usable = [c for c in candidates if c.problem is None]
    if not usable:
        if candidates:
            why = "; ".join(f"{c.where} : {c.problem}" for c in candidates)
        elif cert.crl_urls and store.source.offline:
            why = "hors ligne"
        elif cert.crl_urls:
            why = (
                "point de distribution non listé dans la source de CRL ("
                + ", ".join(cert.crl_urls)
                + ")"
            )
        else:
            why = "aucune CRL de l'émetteur dans la source configurée"
        return CheckOutcome.INCOMPLETE, f"révocation non vérifiée ({why})"
    serial = int(cert.serial, 16)
    for c in usable:
        assert c.crl is not None  # usable: obtained and checked
        entry = c.crl.get_revoked_certificate_by_serial_number(serial)
        if entry is not None:
            when = entry.revocation_date_utc.date().isoformat()
            return CheckOutcome.FAIL, f"RÉVOQUÉ le {when} (CRL {c.where})"
    first = usable[0]
    assert first.crl is not None
    return (
        CheckOutcome.PASS,
        f"non révoqué (CRL {first.where} du {first.crl.last_update_utc.date().isoformat()}, "
        "signature vérifiée)",
    )
