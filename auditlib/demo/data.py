"""Shared pieces of the demo data: its fixed date, server postures, and a bundle writer.

`scripts/make_demo_bundles.py` builds `data/` with these; tests build their bundles
with the same writer, and `auditlib demo` reuses `DEMO_DATE` so that the shipped
certificates are "close to expiry" on the demo's day whatever the real date.

The server postures are demo staging, not registry data: the registry says where a
provider's endpoints are (real-world data); `DEMO_POSTURES` says how the demo's local
stand-in for each endpoint behaves (TLS versions, suites, key, mTLS, down), so that
the reports contrast. The certificates in `data/pki` are generated to match.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml

from auditlib.classify import load_anchors
from auditlib.errors import AuditlibError
from auditlib.files import sha256_bytes, write_atomic
from auditlib.resources import demo_data_dir
from auditlib.testing.pki import IssuedCert, PrivateKey, TestPki

DATA_DIR = demo_data_dir()
"""The demo data shipped with the package (`data/` in the checkout)."""
DEMO_WORKBOOK = "checkpoints_demo.xlsx"
DEFAULT_OUTPUT = Path("out/demo")
SIGNED_SUFFIX = ".signed.pdf"
DEMO_DATE = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
"""The day the demo data describes (all demo dates are relative to it)."""

DEMO_CLIENT_KEY_PASS_ENV = "AUDITLIB_DEMO_CLIENT_KEY_PASS"
DEMO_CLIENT_KEY_PASS = "demo-only-passphrase"
"""Passphrase of the demo mTLS client key: demo material only, published on purpose."""

DEMO_SEAL_PASS_ENV = "AUDITLIB_DEMO_SEAL_PASS"
DEMO_SEAL_PASS = "demo-only-seal-passphrase"
"""Passphrase of the demo organisation seal (ORG SIGN PKCS#12): demo material only."""

PLAN_WINDOW_DAYS = 90
"""The demo plans the audits due within this many days of `DEMO_DATE`."""


class Posture(StrEnum):
    """How the demo's local stand-in for an endpoint behaves."""

    COMPLIANT = "compliant"
    """openssl s_server: TLS 1.2 + 1.3, ECDHE + AEAD only, ECDSA P-256 key, server suite
    order, OCSP response stapled."""
    LEGACY = "legacy"
    """Python ssl: TLS 1.0 to 1.2, CBC suites and static RSA key exchange (`@SECLEVEL=0`),
    client suite order, no HSTS."""
    WEAK_KEY = "weak_key"
    """Python ssl: TLS 1.2 + 1.3 ECDHE + AES-GCM, but an RSA-1024 certificate key."""
    MTLS = "mtls"
    """Python ssl: TLS 1.2 + 1.3, a client certificate from the demo CA required, and
    `GET /traces?start=&end=` answered with the provider's trace export (Proxy e-Santé)."""
    DOWN = "down"
    """Registered, but no server is started: the scan finds nothing listening."""


@dataclass(frozen=True)
class EndpointPosture:
    """One registry endpoint as the demo stages it."""

    provider_id: str
    port: int
    posture: Posture
    key: tuple[Literal["rsa", "ec"], int]
    """Key of the server certificate generated for it in `data/pki/<provider>/`."""
    cert_file: str
    """Stem of the certificate and key files in `data/pki/<provider>/`."""
    expected: str
    """What the audit should find (shown in the README and the demo's summary)."""
    traces: str | None = None
    """Trace export (relative to the data folder) served at `/traces` (MTLS only)."""


DEMO_POSTURES: tuple[EndpointPosture, ...] = (
    EndpointPosture(
        "proxisante-editions",
        18441,
        Posture.COMPLIANT,
        ("ec", 256),
        "server",
        "TLS conforme (écart documenté IGC-Santé sur la durée de vie)",
    ),
    EndpointPosture(
        "proxisante-editions",
        18448,
        Posture.COMPLIANT,
        ("ec", 256),
        "server",
        "le même certificat (et la même clé) qu'en 18441 : clé dupliquée, 116 non conforme",
    ),
    EndpointPosture(
        "medilogic",
        18442,
        Posture.DOWN,
        ("rsa", 2048),
        "server",
        "point d'accès injoignable : contrôles TLS (EXI EDC PSC 116) en erreur",
    ),
    EndpointPosture(
        "cloudproxy-sante",
        18443,
        Posture.COMPLIANT,
        ("ec", 256),
        "server",
        "API conforme",
    ),
    EndpointPosture(
        "cloudproxy-sante",
        18444,
        Posture.MTLS,
        ("ec", 256),
        "proxy",
        "TLS mutuel exigé ; /traces servi (export avec anomalies)",
        traces="bundles/cloudproxy-sante/supervision/traces-proxy.json",
    ),
    EndpointPosture(
        "medicab",
        18445,
        Posture.LEGACY,
        ("rsa", 2048),
        "server",
        "TLS 1.0, suites CBC et échange RSA statique : EXI EDC PSC 115 non conforme ; "
        "certificat révoqué par la CRL de l'AC de production : 116 non conforme",
    ),
    EndpointPosture(
        "santexpress",
        18446,
        Posture.WEAK_KEY,
        ("rsa", 1024),
        "server",
        "clé RSA 1024 bits : RGS B1 et R26 non conformes",
    ),
    EndpointPosture(
        "proxylink",
        18447,
        Posture.COMPLIANT,
        ("ec", 256),
        "server",
        "TLS conforme (écart documenté IGC-Santé sur la durée de vie)",
    ),
)

PARIS_WINTER = dt.timezone(dt.timedelta(hours=1))
TRACE_START = dt.datetime(2026, 11, 25, 8, 0, tzinfo=PARIS_WINTER)
TRACE_END = dt.datetime(2026, 11, 25, 20, 0, tzinfo=PARIS_WINTER)
"""The window the demo trace exports were requested for (one working day before
`DEMO_DATE`); `auditlib demo` fetches `/traces` live for the same window."""

CA_DIR = "pki/ca"
"""Trust anchors of the demo PKI (relative to the data folder)."""
CRL_DIR = "pki/crl"
"""CRLs of the demo issuing CAs (relative to the data folder): the production one revokes
medicab's server certificate."""
CRL_SOURCE = "crl-source.yaml"
"""The auditor's CRL source the demo passes to its audits (`auditlib.audit.revocation`)."""
CA_KEY_DIR = "pki/ca-private"
"""Private keys of the demo CAs: demo-only, published so `auditlib demo` can issue the
organisation seal certificate under the same chain the endpoints use."""


PRODUCTION_KEYS = ("root.key.pem", "issuing.key.pem")
TEST_KEYS = ("test-root.key.pem", "test-issuing.key.pem")
ANCHORS_HEADER = """\
# Which demo trust anchors are production and which are test (auditlib.classify): this is
# configuration, never guessed from names. Both chains are DEMO material: the "production"
# one is fictitiously named and was never issued by ANS.
"""


def write_demo_ca(pki: TestPki, data_dir: Path, test_pki: TestPki | None = None) -> None:
    """Write the demo CA certificates (trust anchors), `anchors.yaml` declaring `pki`
    production and `test_pki` test, and, apart, their demo-only keys."""
    folder = data_dir / CA_DIR
    pki.write_ca_dir(folder)
    anchors = [{"file": pki.root_file, "environment": "production"}]
    keys = data_dir / CA_KEY_DIR
    write_atomic(keys / PRODUCTION_KEYS[0], pki.root.key_pem())
    write_atomic(keys / PRODUCTION_KEYS[1], pki.issuing.key_pem())
    if test_pki is not None:
        test_pki.write_ca_dir(folder)
        anchors.append({"file": test_pki.root_file, "environment": "test"})
        write_atomic(keys / TEST_KEYS[0], test_pki.root.key_pem())
        write_atomic(keys / TEST_KEYS[1], test_pki.issuing.key_pem())
    body = yaml.safe_dump({"version": 1, "anchors": anchors}, sort_keys=False)
    write_atomic(folder / "anchors.yaml", ANCHORS_HEADER + body)


def has_demo_ca_keys(data_dir: Path) -> bool:
    """True in a checkout; False in an installed wheel, which leaves the demo CA's private
    keys out (the demo then generates its seal CA into its output folder)."""
    return (data_dir / CA_KEY_DIR / "issuing.key.pem").is_file()


def load_demo_pki(data_dir: Path, chain: Literal["production", "test"] = "production") -> TestPki:
    """The demo PKI written by `write_demo_ca` (the chain declared production, or the
    test one), able to issue more certificates."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    def pair(cert_path: Path, key_name: str) -> IssuedCert:
        key_path = data_dir / CA_KEY_DIR / key_name
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = load_pem_private_key(key_path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise AuditlibError(
                f"demo CA unusable ({cert_path} / {key_path}): {exc}; "
                "regenerate it with `python scripts/make_demo_bundles.py`"
            ) from None
        if not isinstance(key, PrivateKey):
            raise AuditlibError(f"{key_path}: unexpected key type {type(key).__name__}")
        return IssuedCert(cert, key)

    anchors = load_anchors(data_dir / CA_DIR)
    roots = [ca for ca in anchors.cas if ca.declared is not None and ca.declared.value == chain]
    if not roots:
        raise AuditlibError(f"{data_dir / CA_DIR}: anchors.yaml declares no {chain} root")
    root = roots[0]
    issuing = next(
        (
            ca
            for ca in anchors.cas
            if ca.info.issuer == root.info.subject and not ca.info.self_signed
        ),
        None,
    )
    if issuing is None:
        raise AuditlibError(f"{data_dir / CA_DIR}: no issuing CA under {root.info.subject}")
    names = PRODUCTION_KEYS if chain == "production" else TEST_KEYS
    return TestPki(
        root=pair(root.file, names[0]),
        issuing=pair(issuing.file, names[1]),
        now=dt.datetime.now(dt.UTC),
    )


def demo_ca_bundle(data_dir: Path) -> bytes:
    """Every demo CA certificate (both chains), PEM: what the demo mTLS server trusts."""
    folder = data_dir / CA_DIR
    return b"".join(p.read_bytes() for p in sorted(folder.glob("*.pem")))


def postures_for(provider_id: str) -> list[EndpointPosture]:
    return [p for p in DEMO_POSTURES if p.provider_id == provider_id]


def posture_at(port: int) -> EndpointPosture | None:
    return next((p for p in DEMO_POSTURES if p.port == port), None)


def manifest_entry(
    path: str,
    data: bytes,
    kind: str,
    requirements: Sequence[str | int],
    date: dt.date,
    **extra: Any,
) -> dict[str, Any]:
    """One manifest item for `data`, with its SHA-256 computed."""
    entry: dict[str, Any] = {
        "path": path,
        "kind": kind,
        "requirements": [str(r) if isinstance(r, int) else r for r in requirements],
        "date": date.isoformat(),
        "sha256": sha256_bytes(data),
    }
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def write_bundle(
    folder: Path,
    provider: str,
    files: Mapping[str, bytes],
    items: Sequence[Mapping[str, Any]],
    prepared_on: dt.date | None = None,
) -> Path:
    """Write `files` and a `manifest.yaml` listing `items` into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        write_atomic(folder / rel, data)
    manifest: dict[str, Any] = {"version": 1, "provider": provider}
    if prepared_on:
        manifest["prepared_on"] = prepared_on.isoformat()
    manifest["items"] = [dict(i) for i in items]
    text = yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False, width=100)
    write_atomic(folder / "manifest.yaml", text)
    return folder


def zip_folder(folder: Path, target: Path) -> Path:
    """Zip a bundle folder (members relative to it, fixed timestamps for reproducibility)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(file.relative_to(folder).as_posix(), (2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            archive.writestr(info, file.read_bytes())
    tmp.replace(target)
    return target
