"""Which certificate may seal an audit report: the seal policy (data, not code).

Chaining to a trusted CA proves who issued a certificate, not that it is a seal: the
IGC-Santé organisations CA also issues the audited providers' TLS server and client
certificates. A `SealPolicy` (read from `auditlib/profiles/seal-policy.yaml` or a file
of the same shape) says what a seal certificate must carry: its Key Usage, its Extended
Key Usage, a certificate policy, and optionally the one expected subject or fingerprint.

The library verifier applies a policy only when given one: without it, it judges
integrity and trust only (third-party documents, such as a PASSI's signed form).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from auditlib.certs import KEY_USAGE_FLAGS
from auditlib.errors import AuditlibError, YamlInputError
from auditlib.resources import profile_path
from auditlib.yamlio import load_yaml_file

DEFAULT_SEAL_POLICY = "seal-policy"
"""The shipped profile: `auditlib/profiles/seal-policy.yaml`."""

KEY_USAGES = KEY_USAGE_FLAGS
"""Key Usage bits by their `cryptography` names (`content_commitment` is nonRepudiation)."""
_KU_ALIASES = {"non_repudiation": "content_commitment"}
_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_EKU_NAMES = {
    "1.3.6.1.5.5.7.3.1": "serverAuth",
    "1.3.6.1.5.5.7.3.2": "clientAuth",
    "1.3.6.1.5.5.7.3.3": "codeSigning",
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.4.1.311.10.3.12": "documentSigning",
    "2.5.29.37.0": "anyExtendedKeyUsage",
}


class SealPolicyError(AuditlibError):
    """A seal policy file (or a pinned subject/fingerprint) cannot be used; says which key."""


def _eku_name(oid: str) -> str:
    return f"{_EKU_NAMES[oid]} ({oid})" if oid in _EKU_NAMES else oid


def _fingerprint(text: str, origin: str) -> str:
    digits = re.sub(r"[\s:]", "", text).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digits):
        raise SealPolicyError(
            f"{origin}: expected_fingerprint {text!r} is not a SHA-256 fingerprint "
            "(64 hexadecimal digits, colons allowed)"
        )
    return digits


def _subject(text: str, origin: str) -> x509.Name:
    try:
        return x509.Name.from_rfc4514_string(text)
    except ValueError as exc:
        raise SealPolicyError(
            f"{origin}: expected_subject {text!r} is not an RFC 4514 name: {exc}"
        ) from exc


@dataclass(frozen=True)
class SealPolicy:
    """What the certificate of an audit report's seal must be."""

    name: str
    key_usage_any_of: frozenset[str]
    key_usage_none_of: frozenset[str]
    eku_any_of: frozenset[str]
    eku_none_of: frozenset[str]
    seal_policies: frozenset[str]
    expected_subject: str | None = None
    """RFC 4514 subject the seal must have (compared as names, not as strings)."""
    expected_fingerprint: str | None = None
    """SHA-256 of the seal certificate (DER), lower-case hex without colons."""
    source: str = ""

    @classmethod
    def load(cls, name_or_path: str | os.PathLike[str] = DEFAULT_SEAL_POLICY) -> SealPolicy:
        """The shipped policy by name (`seal-policy`), or a YAML file of the same shape."""
        text = str(name_or_path)
        if text.endswith((".yaml", ".yml")) or os.sep in text or "/" in text:
            path = Path(text)
        else:
            try:
                path = profile_path(f"{text}.yaml")
            except AuditlibError as exc:
                raise SealPolicyError(f"no seal policy named {text!r}: {exc}") from exc
        try:
            raw = load_yaml_file(path)
        except YamlInputError as exc:
            raise SealPolicyError(f"seal policy {exc}") from exc
        return cls.from_mapping(raw, str(path))

    @classmethod
    def from_mapping(cls, raw: Any, origin: str) -> SealPolicy:
        if not isinstance(raw, dict):
            raise SealPolicyError(f"{origin}: a seal policy is a mapping of keys")
        known = {
            "name",
            "key_usage",
            "extended_key_usage",
            "seal_policies",
            "expected_subject",
            "expected_fingerprint",
        }
        unknown = sorted(str(k) for k in raw if k not in known)
        if unknown:
            raise SealPolicyError(f"{origin}: unknown key(s) {', '.join(unknown)}")

        def section(key: str) -> dict[str, Any]:
            value = raw.get(key)
            if not isinstance(value, dict) or set(value) - {"any_of", "none_of"}:
                raise SealPolicyError(f"{origin}: {key} must be a mapping with any_of / none_of")
            return value

        def strings(value: Any, where: str) -> list[str]:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SealPolicyError(f"{origin}: {where} must be a list of strings")
            return [v.strip() for v in value]

        def usages(value: Any, where: str) -> frozenset[str]:
            names = [_KU_ALIASES.get(v, v) for v in strings(value, where)]
            bad = [v for v in names if v not in KEY_USAGES]
            if bad:
                raise SealPolicyError(
                    f"{origin}: {where}: unknown key usage {bad[0]!r} "
                    f"(known: non_repudiation, {', '.join(KEY_USAGES)})"
                )
            return frozenset(names)

        def oids(value: Any, where: str, *, required: bool = False) -> frozenset[str]:
            found = strings(value, where)
            bad = [v for v in found if not _OID.match(v)]
            if bad:
                raise SealPolicyError(f"{origin}: {where}: {bad[0]!r} is not an OID")
            if required and not found:
                raise SealPolicyError(f"{origin}: {where} must name at least one policy OID")
            return frozenset(found)

        ku, eku = section("key_usage"), section("extended_key_usage")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SealPolicyError(f"{origin}: name must be a non-empty string")
        subject = raw.get("expected_subject")
        fingerprint = raw.get("expected_fingerprint")
        for key, value in (("expected_subject", subject), ("expected_fingerprint", fingerprint)):
            if value is not None and not isinstance(value, str):
                raise SealPolicyError(f"{origin}: {key} must be a string or null")
        if subject:
            _subject(subject, origin)
        return cls(
            name=name.strip(),
            key_usage_any_of=usages(ku.get("any_of", []), "key_usage.any_of"),
            key_usage_none_of=usages(ku.get("none_of", []), "key_usage.none_of"),
            eku_any_of=oids(eku.get("any_of", []), "extended_key_usage.any_of"),
            eku_none_of=oids(eku.get("none_of", []), "extended_key_usage.none_of"),
            seal_policies=oids(raw.get("seal_policies"), "seal_policies", required=True),
            expected_subject=subject or None,
            expected_fingerprint=_fingerprint(fingerprint, origin) if fingerprint else None,
            source=origin,
        )

    def pinned(self, *, subject: str | None = None, fingerprint: str | None = None) -> SealPolicy:
        """The same policy expecting this subject and/or fingerprint (command-line pins)."""
        from dataclasses import replace

        if subject:
            _subject(subject, "--seal-subject")
        return replace(
            self,
            expected_subject=subject or self.expected_subject,
            expected_fingerprint=_fingerprint(fingerprint, "--seal-fingerprint")
            if fingerprint
            else self.expected_fingerprint,
        )

    def check(self, cert: x509.Certificate) -> tuple[str, ...]:
        """Why `cert` may not seal an audit report under this policy (empty: it may)."""
        problems: list[str] = []
        try:
            ku: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            ku = None
        except ValueError as exc:  # malformed extensions
            return (f"certificate extensions cannot be read ({exc})",)
        if ku is None:
            problems.append("no Key Usage extension (a seal needs digitalSignature/nonRepudiation)")
        else:
            present = {name for name in KEY_USAGES if getattr(ku, name)}
            if self.key_usage_any_of and not present & self.key_usage_any_of:
                problems.append(f"Key Usage has none of {', '.join(sorted(self.key_usage_any_of))}")
            forbidden = present & self.key_usage_none_of
            if forbidden:
                problems.append(f"Key Usage has {', '.join(sorted(forbidden))} (a CA key)")
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            usages: set[str] | None = {oid.dotted_string for oid in eku}
        except x509.ExtensionNotFound:
            usages = None
        if usages is not None:
            forbidden = usages & self.eku_none_of
            if forbidden:
                problems.append(
                    "Extended Key Usage has "
                    + ", ".join(_eku_name(o) for o in sorted(forbidden))
                    + " (a TLS certificate, not a seal)"
                )
            if self.eku_any_of and not usages & self.eku_any_of:
                problems.append(
                    "Extended Key Usage has none of "
                    + ", ".join(_eku_name(o) for o in sorted(self.eku_any_of))
                )
        try:
            policies = {
                p.policy_identifier.dotted_string
                for p in cert.extensions.get_extension_for_class(x509.CertificatePolicies).value
            }
        except x509.ExtensionNotFound:
            policies = set()
        if not policies & self.seal_policies:
            shown = ", ".join(sorted(policies)) or "none"
            problems.append(
                f"certificate policy {shown} is not a seal policy of {self.name!r} "
                f"({', '.join(sorted(self.seal_policies))})"
            )
        if self.expected_subject and cert.subject != _subject(self.expected_subject, "policy"):
            problems.append(
                f"subject {cert.subject.rfc4514_string()!r} is not the expected seal "
                f"{self.expected_subject!r}"
            )
        if self.expected_fingerprint:
            actual = cert.fingerprint(hashes.SHA256()).hex()
            if actual != self.expected_fingerprint:
                problems.append(
                    f"SHA-256 fingerprint {actual} is not the expected seal's "
                    f"{self.expected_fingerprint}"
                )
        return tuple(problems)
