"""A throw-away PKI named like the IGC-Santé test chain, for tests, demo data and the demo.

Nothing here is production material: keys are generated in memory, names follow the
public test chain (`TEST AC RACINE IGC-SANTE ELEMENTAIRE` over
`TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS`) so that reports read like real ones.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from auditlib.errors import TestServerError
from auditlib.files import write_atomic

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
Profile = Literal["server", "client", "sign", "server_client"]
KeySpec = tuple[Literal["rsa", "ec", "ed25519"], int]

ROOT_CN = "TEST AC RACINE IGC-SANTE ELEMENTAIRE"
ISSUING_CN = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
PKI_OU = "IGC-SANTE TEST"
PKI_O = "ASIP-SANTE"
POLICY_OID_PREFIX = "1.2.250.1.213.1.7."
CRL_URL = "http://igc-sante.esante.gouv.fr/CRL/ACI-EL-ORG.crl"
OCSP_URL = "http://ocsp.esante.gouv.fr"
CA_ISSUERS_URL = "http://igc-sante.esante.gouv.fr/AC/ACI-EL-ORG.cer"
POLICY_BY_PROFILE = {"server": "3.1", "client": "2.1", "sign": "1.1", "server_client": "3.1"}

SignHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512

_HASHES: dict[str, SignHash] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}


def generate_key(spec: KeySpec = ("rsa", 2048), public_exponent: int = 65537) -> PrivateKey:
    """Make a key: ("rsa", bits), ("ec", 256|384|521) or ("ed25519", 0)."""
    kind, size = spec
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=public_exponent, key_size=size)
    if kind == "ec":
        curves: dict[int, ec.EllipticCurve] = {
            256: ec.SECP256R1(),
            384: ec.SECP384R1(),
            521: ec.SECP521R1(),
        }
        return ec.generate_private_key(curves[size])
    return ed25519.Ed25519PrivateKey.generate()


DEMO_PRODUCTION_ROOT_CN = "DEMO AC RACINE IGC-SANTE (fictive)"
DEMO_PRODUCTION_ISSUING_CN = "DEMO AC IGC-SANTE ORGANISATIONS (fictive)"
DEMO_PRODUCTION_OU = "IGC-SANTE DEMO (fictive)"
DEMO_PRODUCTION_O = "AUTORITE DEMO (fictive)"
"""A second, fictitiously named chain that the demo DECLARES production (anchors.yaml):
never a real ANS name; production or test is configuration, not a name."""


def ca_file_name(common_name: str) -> str:
    """`TEST AC RACINE IGC-SANTE ELEMENTAIRE` -> `test-ac-racine-igc-sante-elementaire.pem`."""
    slug = "".join(ch if ch.isalnum() else "-" for ch in common_name.lower())
    return "-".join(part for part in slug.split("-") if part) + ".pem"


def _name(common_name: str, organisation: str = PKI_O, unit: str | None = PKI_OU) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR")]
    parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    if unit:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(parts)


@dataclass(frozen=True)
class IssuedCert:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def cert_der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def pkcs12(self, passphrase: bytes, chain: Sequence[x509.Certificate] = ()) -> bytes:
        return pkcs12.serialize_key_and_certificates(
            b"auditlib",
            self.key,
            self.certificate,
            list(chain) or None,
            serialization.BestAvailableEncryption(passphrase),
        )

    def write(self, folder: Path, stem: str, passphrase: bytes | None = None) -> tuple[Path, Path]:
        """Write `<stem>.crt.pem` and `<stem>.key.pem`; returns both paths."""
        cert_path = write_atomic(folder / f"{stem}.crt.pem", self.cert_pem())
        key_path = write_atomic(folder / f"{stem}.key.pem", self.key_pem(passphrase))
        key_path.chmod(0o600)
        return cert_path, key_path


def _sign_hash(key: PrivateKey, sha: str) -> SignHash | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else _HASHES[sha]


def _ski(cert_or_key: PrivateKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(cert_or_key.public_key())


@dataclass
class TestPki:
    """Root and issuing CA named like the IGC-Santé test chain; issues leaf certificates."""

    __test__ = False  # not a pytest test class

    root: IssuedCert
    issuing: IssuedCert
    now: dt.datetime
    issued: list[IssuedCert] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        now: dt.datetime | None = None,
        key: KeySpec = ("rsa", 2048),
        root_cn: str = ROOT_CN,
        issuing_cn: str = ISSUING_CN,
        organisation: str = PKI_O,
        unit: str | None = PKI_OU,
    ) -> TestPki:
        """A root and an issuing CA. The defaults name the IGC-Santé test chain; the demo's
        second chain uses `DEMO_PRODUCTION_*` (fictitious names)."""
        now = now or dt.datetime.now(dt.UTC)
        root_key = generate_key(key)
        root_name = _name(root_cn, organisation, unit)
        root_cert = (
            x509.CertificateBuilder()
            .subject_name(root_name)
            .issuer_name(root_name)
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=365 * 5))
            .not_valid_after(now + dt.timedelta(days=365 * 15))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(_ski(root_key), critical=False)
            .sign(root_key, _sign_hash(root_key, "sha256"))
        )
        root = IssuedCert(root_cert, root_key)
        issuing_key = generate_key(key)
        issuing_cert = (
            x509.CertificateBuilder()
            .subject_name(_name(issuing_cn, organisation, unit))
            .issuer_name(root_name)
            .public_key(issuing_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=365 * 4))
            .not_valid_after(now + dt.timedelta(days=365 * 10))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_ca_key_usage(), critical=True)
            .add_extension(_ski(issuing_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, _sign_hash(root_key, "sha256"))
        )
        return cls(root=root, issuing=IssuedCert(issuing_cert, issuing_key), now=now)

    def issue(
        self,
        common_name: str,
        profile: Profile = "server",
        *,
        key: KeySpec = ("rsa", 2048),
        public_exponent: int = 65537,
        not_before: dt.datetime | None = None,
        days: int = 365 * 3,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        sha: str = "sha256",
        organisation: str = "FOURNISSEUR DEMO",
        key_usage_critical: bool = True,
        with_aki: bool = True,
        with_crl_and_aia: bool = True,
        with_eku: bool = True,
        with_san: bool = True,
        self_signed: bool = False,
        private_key: PrivateKey | None = None,
    ) -> IssuedCert:
        """Issue a leaf certificate (3-year validity by default, as IGC-Santé does).

        The keyword switches exist to build deliberately non-compliant certificates
        for tests: weak keys, SHA-1, missing extensions, self-signed.
        """
        leaf_key = private_key or generate_key(key, public_exponent)
        start = not_before or (self.now - dt.timedelta(days=1))
        subject = _name(common_name, organisation=organisation, unit=None)
        issuer = self.issuing
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject if self_signed else issuer.certificate.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_key_usage(profile, leaf_key), critical=key_usage_critical)
            .add_extension(_ski(leaf_key), critical=False)
            .add_extension(
                x509.CertificatePolicies(
                    [
                        x509.PolicyInformation(
                            x509.ObjectIdentifier(POLICY_OID_PREFIX + POLICY_BY_PROFILE[profile]),
                            None,
                        )
                    ]
                ),
                critical=False,
            )
        )
        if with_eku:
            builder = builder.add_extension(_eku(profile), critical=False)
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        names += [x509.IPAddress(ip_address(a)) for a in ip_addresses]
        if with_san and names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        if with_aki and not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                critical=False,
            )
        if with_crl_and_aia and not self_signed:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(CRL_URL)], None, None, None
                        )
                    ]
                ),
                critical=False,
            ).add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(OCSP_URL),
                        ),
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(CA_ISSUERS_URL),
                        ),
                    ]
                ),
                critical=False,
            )
        signer = leaf_key if self_signed else issuer.key
        if sha == "sha1":
            cert = _resign_sha1(builder.sign(signer, hashes.SHA256()), signer)
        else:
            cert = builder.sign(signer, _sign_hash(signer, sha))
        issued = IssuedCert(cert, leaf_key)
        self.issued.append(issued)
        return issued

    def crl(
        self,
        revoked: Sequence[IssuedCert | int] = (),
        *,
        this_update: dt.datetime | None = None,
        next_update_days: int = 7,
        signer: IssuedCert | None = None,
    ) -> bytes:
        """A DER CRL of the issuing CA revoking `revoked` (certificates or serial numbers,
        revoked a day before `this_update`); `signer` another key to forge a bad signature."""
        when = this_update or self.now
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.issuing.certificate.subject)
            .last_update(when)
            .next_update(when + dt.timedelta(days=next_update_days))
        )
        for cert in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(cert if isinstance(cert, int) else cert.certificate.serial_number)
                .revocation_date(when - dt.timedelta(days=1))
                .build()
            )
        key = (signer or self.issuing).key
        crl = builder.sign(key, _sign_hash(key, "sha256"))
        return crl.public_bytes(serialization.Encoding.DER)

    def chain_pem(self, leaf: IssuedCert, include_issuing: bool = True) -> bytes:
        """Leaf then issuing CA, as a server should send it (the root is not sent)."""
        pem = leaf.cert_pem()
        if include_issuing:
            pem += self.issuing.cert_pem()
        return pem

    def write_ca_dir(self, folder: Path) -> Path:
        """Write the trust anchors (root and issuing CA) as a folder of PEM files."""
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / self.root_file, self.root.cert_pem())
        write_atomic(folder / self.issuing_file, self.issuing.cert_pem())
        return folder

    @property
    def root_file(self) -> str:
        """File name of the root in `write_ca_dir` (from its common name)."""
        return ca_file_name(_common_name(self.root.certificate))

    @property
    def issuing_file(self) -> str:
        return ca_file_name(_common_name(self.issuing.certificate))

    def ca_bundle_pem(self) -> bytes:
        return self.root.cert_pem() + self.issuing.cert_pem()

    def ocsp_response(
        self,
        leaf: IssuedCert,
        *,
        revoked: bool = False,
        signer: IssuedCert | None = None,
        days: int = 7,
    ) -> bytes:
        """A DER OCSP response about `leaf` made by `openssl ocsp` acting as the issuing
        CA's responder (for `openssl s_server -status_file`).

        `revoked` marks the certificate revoked (keyCompromise, the day before); `signer`
        signs with another certificate and key (a forged or foreign responder)."""
        binary = shutil.which("openssl")
        if binary is None:
            raise TestServerError("the `openssl` command is not installed (needed for ocsp)")
        sign_with = signer or self.issuing
        cert = leaf.certificate
        stamp = "%y%m%d%H%M%SZ"
        serial = format(cert.serial_number, "X")
        serial = serial if len(serial) % 2 == 0 else "0" + serial
        revocation = ""
        if revoked:
            revocation = (self.now - dt.timedelta(days=1)).strftime(stamp) + ",keyCompromise"
        subject = "/" + "/".join(
            f"{a.rfc4514_attribute_name}={a.value}" for a in reversed(list(cert.subject))
        )
        line = "\t".join(
            [
                "R" if revoked else "V",
                cert.not_valid_after_utc.strftime(stamp),
                revocation,
                serial,
                "unknown",
                subject,
            ]
        )
        with tempfile.TemporaryDirectory(prefix="auditlib-ocsp-") as tmp:
            folder = Path(tmp)
            write_atomic(folder / "index.txt", line + "\n")
            write_atomic(folder / "index.txt.attr", "unique_subject = no\n")
            issuing = write_atomic(folder / "issuing.pem", self.issuing.cert_pem())
            about = write_atomic(folder / "leaf.pem", leaf.cert_pem())
            rsigner = write_atomic(folder / "signer.pem", sign_with.cert_pem())
            rkey = write_atomic(folder / "signer.key", sign_with.key_pem())
            out = folder / "response.der"
            cmd = [binary, "ocsp", "-index", str(folder / "index.txt")]
            cmd += ["-CA", str(issuing), "-issuer", str(issuing), "-cert", str(about)]
            cmd += ["-rsigner", str(rsigner), "-rkey", str(rkey), "-no_nonce"]
            cmd += ["-ndays", str(days), "-respout", str(out)]
            done = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
                env={**os.environ, "OPENSSL_CONF": os.devnull},
            )
            if done.returncode != 0 or not out.is_file():
                raise TestServerError(f"openssl ocsp failed: {done.stderr.strip()[-300:]}")
            return out.read_bytes()


def _common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else "ca"


def _resign_sha1(cert: x509.Certificate, signer: PrivateKey) -> x509.Certificate:
    """Re-sign with SHA-1, which `cryptography` refuses to do for certificates.

    Only tests need this (to prove that a SHA-1 signed certificate is caught).
    """
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.asymmetric import padding

    parsed = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    tbs = parsed["tbs_certificate"]
    if isinstance(signer, rsa.RSAPrivateKey):
        algorithm = "sha1_rsa"
        tbs["signature"] = {"algorithm": algorithm, "parameters": None}
        signature = signer.sign(tbs.dump(force=True), padding.PKCS1v15(), hashes.SHA1())
    elif isinstance(signer, ec.EllipticCurvePrivateKey):
        algorithm = "sha1_ecdsa"
        tbs["signature"] = {"algorithm": algorithm}
        signature = signer.sign(tbs.dump(force=True), ec.ECDSA(hashes.SHA1()))
    else:
        raise ValueError("SHA-1 signatures need an RSA or EC issuer key")
    parsed["signature_algorithm"] = tbs["signature"].copy()
    parsed["signature_value"] = signature
    return x509.load_der_x509_certificate(parsed.dump(force=True))


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_key_usage(profile: Profile, key: PrivateKey) -> x509.KeyUsage:
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    signing = profile == "sign"
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=signing,
        key_encipherment=is_rsa and not signing,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _eku(profile: Profile) -> x509.ExtendedKeyUsage:
    usages = {
        "server": [ExtendedKeyUsageOID.SERVER_AUTH],
        "client": [ExtendedKeyUsageOID.CLIENT_AUTH],
        "server_client": [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        "sign": [
            x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"),
            ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ],
    }
    return x509.ExtendedKeyUsage(usages[profile])
