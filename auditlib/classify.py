"""Certificates classified once: IGC-Santé or not, production or test, product and use.

The plan (which certificate makes an audit due), the audit (a TEST-chain certificate on a
production endpoint) and the requirement-116 checks all ask the same questions of a
certificate; they ask them here.

- **Product and use** come from the certificate policy OID, looked up in the data file
  `profiles/igc-sante.yaml` (its shipped values are the demo's own: the file says so).
- **Production or test** is configuration, never guessed from a name: `anchors.yaml`
  beside the CA files (`--ca-dir`) declares each trust anchor `production` or `test`.
  A certificate is linked to the CA files by issuer name and key identifier (AKI/SKI),
  up to a declared anchor.
- **Without CA files**, a certificate whose policy OID is under the IGC-Santé arc *and*
  whose issuer name carries an IGC-Santé marker counts as IGC-Santé, environment unknown,
  with the note "ancre non vérifiée".

API (docs/guide/plan.md, "Which certificates count"):

    anchors = load_anchors(ca_dir)            # or None: no CA files given
    classifier = Classifier(anchors)          # profile defaults to profiles/igc-sante.yaml
    c = classifier.classify(info)             # info: auditlib.certs.CertificateInfo
    c.igc_sante, c.environment, c.product, c.use, c.anchor, c.anchor_verified, c.reason

Anchors file (`<ca-dir>/anchors.yaml`):

    version: 1
    anchors:
      - file: demo-ac-racine-igc-sante-fictive.pem
        environment: production
      - file: test-ac-racine-igc-sante-elementaire.pem
        environment: test
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from pathlib import Path

from cryptography import x509

from auditlib.certs import CertificateInfo, describe_certificate
from auditlib.errors import AuditlibError, YamlInputError
from auditlib.resources import profile_path
from auditlib.yamlio import load_yaml_file

IGC_PROFILE = profile_path("igc-sante.yaml")
ANCHORS_FILE = "anchors.yaml"
CA_SUFFIXES = (".pem", ".crt", ".cer", ".der")
UNVERIFIED = "ancre non vérifiée"
MAX_CHAIN = 8


class ClassifyError(AuditlibError):
    """The IGC-Santé profile or the anchors declaration cannot be used."""


class ChainEnvironment(StrEnum):
    """Which chain a certificate belongs to, as the anchors declaration says."""

    PRODUCTION = "production"
    TEST = "test"
    UNKNOWN = "inconnue"


@dataclass(frozen=True)
class ProductSpec:
    oid: str
    product: str
    """`ORG SIGN`, `ORG AUTH_CLI`, `SERV SSL_SERV`."""
    use: str
    """French, report-ready."""


@dataclass(frozen=True)
class IgcProfile:
    """The data half of the classification (`profiles/igc-sante.yaml`)."""

    policy_arc: str
    issuer_markers: tuple[str, ...]
    products: tuple[ProductSpec, ...]
    source: str
    path: Path | None = None

    def product_of(self, cert: CertificateInfo) -> ProductSpec | None:
        by_oid = {p.oid: p for p in self.products}
        return next((by_oid[o] for o in cert.policy_oids if o in by_oid), None)

    def has_igc_policy(self, cert: CertificateInfo) -> bool:
        arc = self.policy_arc.rstrip(".") + "."
        return any(o.startswith(arc) for o in cert.policy_oids)

    def igc_issuer(self, cert: CertificateInfo) -> bool:
        upper = cert.issuer.upper()
        return any(m.upper() in upper for m in self.issuer_markers)


def load_igc_profile(path: Path = IGC_PROFILE) -> IgcProfile:
    return _load_profile(Path(path))


@cache
def _load_profile(path: Path) -> IgcProfile:
    try:
        raw = load_yaml_file(path)
    except YamlInputError as exc:
        raise ClassifyError(f"IGC-Santé profile {path} is unusable: {exc}") from None
    try:
        if not isinstance(raw, dict):
            raise TypeError("expected a mapping")
        products = tuple(
            ProductSpec(oid=str(p["oid"]), product=str(p["product"]), use=str(p["use"]))
            for p in raw["products"]
        )
        return IgcProfile(
            policy_arc=str(raw["policy_arc"]),
            issuer_markers=tuple(str(m) for m in raw["issuer_markers"]),
            products=products,
            source=str(raw.get("source", "")),
            path=path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClassifyError(
            f"IGC-Santé profile {path}: expected `policy_arc`, `issuer_markers` and "
            f"`products` (oid, product, use): {exc!r}"
        ) from None


@dataclass(frozen=True)
class CaCertificate:
    """One CA file of `--ca-dir`, with the environment `anchors.yaml` declares for it."""

    file: Path
    info: CertificateInfo
    declared: ChainEnvironment | None
    """None when `anchors.yaml` does not name this file."""


@dataclass(frozen=True)
class TrustAnchors:
    """The CA files of a `--ca-dir` and their declared environments."""

    folder: Path
    cas: tuple[CaCertificate, ...]
    declared: bool
    """False when the folder has no `anchors.yaml` (every environment is then unknown)."""

    def issuers_of(self, cert: CertificateInfo) -> list[CaCertificate]:
        return [
            ca
            for ca in self.cas
            if ca.info.subject == cert.issuer
            and (
                cert.authority_key_id is None
                or ca.info.subject_key_id is None
                or cert.authority_key_id == ca.info.subject_key_id
            )
        ]


def load_anchors(ca_dir: str | Path) -> TrustAnchors:
    """Read every CA file of `ca_dir` and its `anchors.yaml` (if any).

    Raises `ClassifyError` naming the file and the entry for: a folder that does not
    exist, an unreadable CA file, an `anchors.yaml` entry naming no CA file of the folder,
    an environment other than production/test, a file declared twice.
    """
    folder = Path(ca_dir)
    if not folder.is_dir():
        raise ClassifyError(f"CA folder {folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in CA_SUFFIXES)
    infos: dict[str, list[CertificateInfo]] = {}
    problems: list[str] = []
    for file in files:
        try:
            infos[file.name] = [describe_certificate(c) for c in _read_certificates(file)]
        except ValueError as exc:
            problems.append(f"{file}: not a certificate file ({exc})")
    declarations = _read_declarations(folder / ANCHORS_FILE, set(infos), problems)
    if problems:
        raise ClassifyError(f"CA folder {folder} is unusable: " + "; ".join(problems))
    cas = tuple(
        CaCertificate(file=folder / name, info=info, declared=declarations.get(name))
        for name in sorted(infos)
        for info in infos[name]
    )
    return TrustAnchors(folder=folder, cas=cas, declared=(folder / ANCHORS_FILE).is_file())


def _read_certificates(file: Path) -> list[x509.Certificate]:
    data = file.read_bytes()
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def _read_declarations(
    path: Path, known: set[str], problems: list[str]
) -> dict[str, ChainEnvironment]:
    if not path.is_file():
        return {}
    try:
        raw = load_yaml_file(path)
    except YamlInputError as exc:
        problems.append(f"{path}: {exc}")
        return {}
    entries = raw.get("anchors") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        problems.append(f"{path}: expected `anchors:` a list of {{file, environment}}")
        return {}
    declared: dict[str, ChainEnvironment] = {}
    for index, entry in enumerate(entries):
        where = f"{path}: anchors[{index}]"
        if not isinstance(entry, dict) or set(entry) - {"file", "environment", "note"}:
            problems.append(f"{where}: expected keys `file`, `environment` (and `note`)")
            continue
        name, env = entry.get("file"), entry.get("environment")
        if not isinstance(name, str) or name not in known:
            problems.append(
                f"{where}.file: {name!r} is not a CA file of this folder "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
            continue
        if env not in (ChainEnvironment.PRODUCTION.value, ChainEnvironment.TEST.value):
            problems.append(f"{where}.environment: must be `production` or `test` (got {env!r})")
            continue
        if name in declared:
            problems.append(f"{where}.file: {name} is declared twice")
            continue
        declared[name] = ChainEnvironment(env)
    return declared


@dataclass(frozen=True)
class Classification:
    """What the workbench needs to know about one certificate, decided once."""

    igc_sante: bool
    environment: ChainEnvironment
    product: str | None
    """`ORG SIGN`, `ORG AUTH_CLI`, `SERV SSL_SERV`, or None (policy OID not in the table)."""
    use: str | None
    anchor: str | None
    """Subject of the anchor the certificate was linked to, if any."""
    anchor_verified: bool
    """True when linked to a CA file of `--ca-dir`; False without CA files."""
    reason: str
    """French, report-ready: why this classification."""
    chain: tuple[str, ...] = field(default=())
    """Subjects from the issuer up to the anchor."""

    @property
    def is_test(self) -> bool:
        return self.environment is ChainEnvironment.TEST

    @property
    def label(self) -> str:
        """Short French label: `IGC-Santé production, SERV SSL_SERV`, `hors IGC-Santé`."""
        if not self.igc_sante:
            return "hors IGC-Santé"
        text = "IGC-Santé"
        if self.environment is not ChainEnvironment.UNKNOWN:
            text += f" {self.environment.value}"
        if self.product:
            text += f", {self.product}"
        if not self.anchor_verified:
            text += f" ({UNVERIFIED})"
        return text


@dataclass
class Classifier:
    """Classify certificates against one set of anchors (None: no `--ca-dir`)."""

    anchors: TrustAnchors | None = None
    profile: IgcProfile = field(default_factory=load_igc_profile)

    def classify(self, cert: CertificateInfo) -> Classification:
        product = self.profile.product_of(cert)
        name, use = (product.product, product.use) if product else (None, None)
        policy = self.profile.has_igc_policy(cert)
        if self.anchors is None:
            issuer = self.profile.igc_issuer(cert)
            if policy and issuer:
                return Classification(
                    igc_sante=True,
                    environment=ChainEnvironment.UNKNOWN,
                    product=name,
                    use=use,
                    anchor=None,
                    anchor_verified=False,
                    reason=(
                        "politique de certification IGC-Santé et émetteur IGC-Santé "
                        f"({UNVERIFIED} : aucun dossier d'autorités fourni)"
                    ),
                )
            missing = [
                what
                for what, ok in (
                    (f"politique sous {self.profile.policy_arc}", policy),
                    ("émetteur IGC-Santé", issuer),
                )
                if not ok
            ]
            return Classification(
                igc_sante=False,
                environment=ChainEnvironment.UNKNOWN,
                product=name,
                use=use,
                anchor=None,
                anchor_verified=False,
                reason="hors IGC-Santé : " + ", ".join(missing) + " absent(s)",
            )
        chain, env = self._walk(cert)
        if not chain:
            return Classification(
                igc_sante=False,
                environment=ChainEnvironment.UNKNOWN,
                product=name,
                use=use,
                anchor=None,
                anchor_verified=False,
                reason=(
                    f"hors IGC-Santé : l'émetteur « {cert.issuer} » n'est aucune des autorités "
                    f"de {self.anchors.folder}"
                ),
            )
        if not policy:
            return Classification(
                igc_sante=False,
                environment=env,
                product=None,
                use=None,
                anchor=chain[-1],
                anchor_verified=True,
                chain=tuple(chain),
                reason=(
                    "hors IGC-Santé : émis sous une autorité connue mais sans politique de "
                    f"certification sous {self.profile.policy_arc}"
                ),
            )
        where = (
            f"chaîne {env.value} déclarée dans {ANCHORS_FILE}"
            if env is not ChainEnvironment.UNKNOWN
            else f"environnement non déclaré ({ANCHORS_FILE} ne nomme pas cette ancre)"
        )
        return Classification(
            igc_sante=True,
            environment=env,
            product=name,
            use=use,
            anchor=chain[-1],
            anchor_verified=True,
            chain=tuple(chain),
            reason=f"IGC-Santé : rattaché à « {chain[-1]} » ; {where}",
        )

    def classify_all(self, certs: Iterable[CertificateInfo]) -> list[Classification]:
        return [self.classify(c) for c in certs]

    def _walk(self, cert: CertificateInfo) -> tuple[list[str], ChainEnvironment]:
        """Subjects from the issuer up to the top CA found, and the first declared
        environment on the way (an intermediate inherits its root's)."""
        assert self.anchors is not None
        chain: list[str] = []
        env = ChainEnvironment.UNKNOWN
        current = cert
        for _ in range(MAX_CHAIN):
            issuers = self.anchors.issuers_of(current)
            if not issuers:
                break
            ca = issuers[0]
            if ca.info.subject in chain:
                break
            chain.append(ca.info.subject)
            if ca.declared is not None and env is ChainEnvironment.UNKNOWN:
                env = ca.declared
            if ca.info.self_signed:
                break
            current = ca.info
        return chain, env


def classify(
    cert: CertificateInfo,
    anchors: TrustAnchors | None = None,
    profile: IgcProfile | None = None,
) -> Classification:
    """One certificate (see `Classifier` to classify many against the same anchors)."""
    return Classifier(anchors, profile or load_igc_profile()).classify(cert)


__all__ = [
    "CaCertificate",
    "ChainEnvironment",
    "Classification",
    "Classifier",
    "ClassifyError",
    "IgcProfile",
    "ProductSpec",
    "TrustAnchors",
    "classify",
    "load_anchors",
    "load_igc_profile",
]
