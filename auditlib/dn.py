"""Compare X.509 distinguished names written in different ways.

Traces, registries and tools write the same subject as RFC 4514
(`CN=lps.example.fr,O=EDITEUR,C=FR`), OpenSSL's legacy one-line form
(`/C=FR/O=EDITEUR/CN=lps.example.fr`) or OpenSSL's default display
(`C = FR, O = EDITEUR, CN = lps.example.fr`), in any order, case and spacing.
A DN is reduced to a sorted tuple of (attribute, folded value) pairs; two DNs
match when those tuples are equal.
"""

from __future__ import annotations

import re

from auditlib.requirements import fold

# Attribute names seen in the wild -> one canonical short name.
ATTRIBUTE_ALIASES: dict[str, str] = {
    "cn": "CN",
    "commonname": "CN",
    "2.5.4.3": "CN",
    "o": "O",
    "organizationname": "O",
    "2.5.4.10": "O",
    "ou": "OU",
    "organizationalunitname": "OU",
    "2.5.4.11": "OU",
    "c": "C",
    "countryname": "C",
    "2.5.4.6": "C",
    "l": "L",
    "localityname": "L",
    "2.5.4.7": "L",
    "st": "ST",
    "s": "ST",
    "stateorprovincename": "ST",
    "2.5.4.8": "ST",
    "serialnumber": "SERIALNUMBER",
    "2.5.4.5": "SERIALNUMBER",
    "organizationidentifier": "ORGANIZATIONIDENTIFIER",
    "2.5.4.97": "ORGANIZATIONIDENTIFIER",
    "e": "EMAILADDRESS",
    "email": "EMAILADDRESS",
    "emailaddress": "EMAILADDRESS",
    "1.2.840.113549.1.9.1": "EMAILADDRESS",
    "uid": "UID",
    "userid": "UID",
    "0.9.2342.19200300.100.1.1": "UID",
    "dc": "DC",
    "domaincomponent": "DC",
    "0.9.2342.19200300.100.1.25": "DC",
    "sn": "SN",
    "surname": "SN",
    "2.5.4.4": "SN",
    "gn": "GIVENNAME",
    "givenname": "GIVENNAME",
    "2.5.4.42": "GIVENNAME",
    "title": "TITLE",
    "2.5.4.12": "TITLE",
}

_KEY = r"[A-Za-z][A-Za-z0-9-]*|(?:OID\.)?\d+(?:\.\d+)+"
# A separator is an unescaped `,` `;` `+` or `/` followed by `KEY=`: a comma inside a
# value that is not followed by an attribute (`O=Foo, Inc.`) stays in the value.
_SPLIT = re.compile(rf"(?<!\\)[,;+/]\s*(?=(?:{_KEY})\s*=)")
_PAIR = re.compile(rf"^\s*({_KEY})\s*=(.*)$", re.DOTALL)
_HEX_ESCAPES = re.compile(r"(?:\\[0-9A-Fa-f]{2})+")

DnKey = tuple[tuple[str, str], ...]


def _unescape(value: str) -> str:
    """RFC 4514 escapes: `\\,` -> `,`; runs of `\\C3\\A9` -> UTF-8 `é`."""

    def hex_run(match: re.Match[str]) -> str:
        raw = bytes.fromhex(match.group(0).replace("\\", ""))
        return raw.decode("utf-8", errors="replace")

    value = _HEX_ESCAPES.sub(hex_run, value)
    return re.sub(r"\\(.)", r"\1", value)


def parse_dn(text: str) -> DnKey | None:
    """Parse a DN in any of the usual forms; None when it is not a DN at all."""
    if not isinstance(text, str):
        return None
    body = text.strip()
    if body.startswith("/"):
        body = body[1:]
    if not body:
        return None
    pairs: list[tuple[str, str]] = []
    for part in _SPLIT.split(body):
        match = _PAIR.match(part)
        if not match:
            return None
        key = match.group(1)
        if key.upper().startswith("OID."):
            key = key[4:]
        name = ATTRIBUTE_ALIASES.get(key.casefold(), key.upper())
        value = _unescape(match.group(2).strip().strip('"'))
        pairs.append((name, fold(value)))
    return tuple(sorted(pairs))


def same_dn(left: str | None, right: str | None) -> bool:
    """True when both parse and name the same subject (order, case, spacing ignored)."""
    if left is None or right is None:
        return False
    a, b = parse_dn(left), parse_dn(right)
    return a is not None and a == b
