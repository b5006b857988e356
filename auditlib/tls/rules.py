"""One small function per ANSSI / RGS B1 / IGC-Santé rule.

Endpoint rules take a `EndpointContext` (observation, profile, classified suites); certificate
rules a `CertificateContext` (one certificate with its chain or issuer). Each returns
`(status, French reason naming the offending items[, documented deviation])`.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import ipaddress
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from auditlib.certs import CertificateInfo, is_igc_sante_name
from auditlib.errors import ProfileError
from auditlib.tls.profile import KeyParams, Profile, RuleStatus, read_profile
from auditlib.tls.scan import Suite, TlsObservation

Usage = Literal["server", "client"]


# --------------------------------------------------------------------------- suites


@dataclass(frozen=True)
class SuiteParts:
    """A suite split into the parts R5–R11 judge."""

    name: str
    kx: str | None
    auth: str | None
    cipher: str | None
    mode: str | None
    hash: str | None


@dataclass(frozen=True)
class SuiteVerdict:
    """One accepted suite, its parts and the rules it breaks (for the report's suite table)."""

    version: str
    name: str
    parts: SuiteParts
    status: RuleStatus
    """FAIL if any part is forbidden, DEGRADED if only tolerated, INCOMPLETE if unknown."""
    breaks: tuple[str, ...]
    """Rules broken outright, e.g. `("R6", "R11")`."""
    tolerated_by: tuple[str, ...]
    """Rules met only at their tolerated level, e.g. `("R8", "R10")`."""


def classify_suites(
    suites: Iterable[tuple[str, Suite, SuiteParts]], profile: Profile
) -> tuple[SuiteVerdict, ...]:
    """Say, for every accepted suite, which of R4, R5, R6, R8, R9, R10, R11 it breaks."""
    table = profile.suite_classification
    verdicts = []
    for version, suite, parts in suites:
        breaks: list[str] = []
        tolerated: list[str] = []
        unknown = False
        if version in OLD_VERSIONS:
            breaks.append("R4")
        if suite.anonymous or parts.auth == "anon":
            breaks.append("R5")
        kx = table.key_exchange.get(parts.kx or "")
        if kx is None or not kx.forward_secrecy:
            breaks.append("R6")
        elif kx.status == "tolerated":
            tolerated.append("R6")
        for rule, value, mapping in (
            ("R8", parts.auth, table.authentication),
            ("R9", parts.cipher, table.cipher),
            ("R10", parts.mode, table.mode),
            ("R11", parts.hash, table.hash),
        ):
            if value is None:
                unknown = True
                continue
            level = mapping.get(value, "forbidden")
            if level == "forbidden" and rule not in breaks:
                breaks.append(rule)
            elif level == "tolerated":
                tolerated.append(rule)
        status = (
            RuleStatus.FAIL
            if breaks
            else RuleStatus.INCOMPLETE
            if unknown
            else RuleStatus.DEGRADED
            if tolerated
            else RuleStatus.PASS
        )
        verdicts.append(
            SuiteVerdict(version, suite.name, parts, status, tuple(breaks), tuple(tolerated))
        )
    return tuple(verdicts)


_HASHES = ("SHA", "SHA256", "SHA384", "SHA512", "MD5")
OLD_VERSIONS = ("SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1")


def split_suite(suite: Suite, leaf: CertificateInfo | None = None) -> SuiteParts:
    """Read key exchange, authentication, cipher, mode and hash off an IANA suite name.

    TLS 1.3 names carry neither key exchange nor authentication: those come from the
    observed ephemeral key and the certificate.
    """
    name = suite.name
    if name.startswith("SSL_CK_"):  # SSLv2: RSA key transport, MD5
        tokens = name[len("SSL_CK_") :].replace("_WITH_", "_").split("_")
        return SuiteParts(name, "RSA", "RSA", _cipher(tokens), _mode(tokens), "MD5")
    body = name[4:] if name.startswith(("TLS_", "SSL_")) else name
    if "_WITH_" in body:
        left, right = body.split("_WITH_", 1)
        ltokens = [t for t in left.split("_") if t not in ("EXPORT", "EXPORT1024")]
        kx: str | None = ltokens[0] if ltokens else None
        auth: str | None = ltokens[1] if len(ltokens) > 1 else kx
        if kx == "SRP":
            kx, auth = "SRP_SHA", (ltokens[2] if len(ltokens) > 2 else "SRP")
        if kx == "RSA" and auth == "PSK":
            kx = "RSA_PSK"
        if auth == "anon":  # anonymous DH is ephemeral but unauthenticated
            kx = {"DH": "DHE", "ECDH": "ECDHE"}.get(kx or "", kx)
        tokens = right.split("_")
    else:
        tokens = body.split("_")
        # TLS 1.3: always ephemeral (EC)DH; the certificate says how the server signs
        kx = "DHE" if suite.kx_type == "DH" else "ECDHE"
        auth = _leaf_auth(leaf)
    digest = tokens[-1] if tokens and tokens[-1] in _HASHES else None
    mode = _mode(tokens)
    if digest is None and mode in ("CCM", "CCM_8"):
        digest = "SHA256"  # CCM suites use the SHA-256 PRF
    return SuiteParts(name, kx, auth, _cipher(tokens), mode, digest)


def _leaf_auth(leaf: CertificateInfo | None) -> str | None:
    if leaf is None:
        return None
    return {"EC": "ECDSA", "RSA": "RSA", "DSA": "DSA"}.get(leaf.key_type, leaf.key_type)


def _cipher(tokens: Sequence[str]) -> str | None:
    if not tokens:
        return None
    head = tokens[0]
    if head in ("DES", "DES40") and len(tokens) > 1 and tokens[1] == "192":
        return "3DES"
    return head


def _mode(tokens: Sequence[str]) -> str | None:
    if "GCM" in tokens:
        return "GCM"
    if "CCM" in tokens:
        idx = tokens.index("CCM")
        return "CCM_8" if idx + 1 < len(tokens) and tokens[idx + 1] == "8" else "CCM"
    if "POLY1305" in tokens:
        return "POLY1305"
    if "CBC" in tokens or "CBC3" in tokens or "EDE" in tokens:
        return "CBC"
    if tokens and tokens[0] in ("RC4",):
        return "STREAM"
    if tokens and tokens[0] == "NULL":
        return "NONE"
    return None


# --------------------------------------------------------------------------- context


@dataclass(frozen=True)
class EndpointContext:
    obs: TlsObservation
    profile: Profile
    as_of: dt.datetime
    suites: tuple[tuple[str, Suite, SuiteParts], ...]
    """(version, suite, parts) for every accepted suite."""


Outcome = tuple[RuleStatus, str] | tuple[RuleStatus, str, str | None]
EndpointRule = Callable[[EndpointContext], Outcome]

_P, _F, _D, _NA, _INC, _NT = (
    RuleStatus.PASS,
    RuleStatus.FAIL,
    RuleStatus.DEGRADED,
    RuleStatus.NOT_APPLICABLE,
    RuleStatus.INCOMPLETE,
    RuleStatus.NOT_TESTED,
)


def _join(items: Iterable[str], limit: int = 6) -> str:
    seen = list(dict.fromkeys(items))
    text = ", ".join(seen[:limit])
    if len(seen) > limit:
        text += f" (+{len(seen) - limit} autres)"
    return text


def missing_reason(ctx: EndpointContext, *commands: str) -> str | None:
    gaps = [f"{c} ({ctx.obs.missing[c]})" for c in commands if c in ctx.obs.missing]
    return "non observé : " + "; ".join(gaps) if gaps else None


def _versions_missing(ctx: EndpointContext) -> str | None:
    """Why the accepted-suite list may be incomplete: versions not probed, or suite
    probes that timed out twice (a time-out is never read as a refusal)."""
    if not ctx.obs.protocols:
        return "versions de protocole non observées"
    gaps = [p.version for p in ctx.obs.protocols if p.accepted is None]
    slow = [f"{p.version} ({len(p.timed_out)})" for p in ctx.obs.protocols if p.timed_out]
    parts = []
    if gaps:
        parts.append("versions non sondées : " + ", ".join(gaps))
    if slow:
        parts.append(
            "sondes de suites sans réponse (délai dépassé, réessayées) : " + ", ".join(slow)
        )
    return " ; ".join(parts) if parts else None


def _suite_rule(
    ctx: EndpointContext, part: str, table: dict[str, str], what: str, rule: str
) -> Outcome:
    """Judge one part of every accepted suite from the classification table.

    The reason groups suites by the offending value: "chiffrement 3DES :
    TLS_RSA_WITH_3DES_EDE_CBC_SHA accepté(s), contraire à R9".
    """
    if not ctx.suites:
        return _INC, _versions_missing(ctx) or "aucune suite acceptée observée"
    by_verdict: dict[str, dict[str, list[str]]] = {"forbidden": {}, "tolerated": {}}
    unknown: list[str] = []
    for _version, suite, parts in ctx.suites:
        value = getattr(parts, part)
        if value is None:  # unparsed name, or TLS 1.3 with no certificate observed
            unknown.append(suite.name)
            continue
        verdict = table.get(value, "forbidden")
        if verdict in by_verdict:
            by_verdict[verdict].setdefault(value, []).append(suite.name)

    def grouped(groups: dict[str, list[str]]) -> str:
        return " ; ".join(f"{what} {value} : {_join(names, 4)}" for value, names in groups.items())

    gap = _versions_missing(ctx)
    if by_verdict["forbidden"]:
        return _F, f"{grouped(by_verdict['forbidden'])} accepté(s), contraire à {rule}"
    if unknown:
        return _INC, f"{what} non déterminé pour {_join(unknown)}"
    if gap:
        return _INC, gap
    if by_verdict["tolerated"]:
        return _D, f"{grouped(by_verdict['tolerated'])} : toléré seulement (niveau dégradé)"
    return _P, f"toutes les suites acceptées respectent {rule}"


# --------------------------------------------------------------------------- protocol rules


def r3(ctx: EndpointContext) -> Outcome:
    tls13, tls12 = ctx.obs.protocol("TLSv1.3"), ctx.obs.protocol("TLSv1.2")
    if tls13 and tls13.accepted:
        return _P, "TLS 1.3 accepté"
    if tls13 is None or tls13.accepted is None:
        return _INC, "TLS 1.3 non sondé"
    if tls12 and tls12.accepted:
        return _D, "TLS 1.2 seul accepté : TLS 1.3 est à privilégier"
    if tls12 is None or tls12.accepted is None:
        return _INC, "TLS 1.3 refusé, TLS 1.2 non sondé"
    return _F, "ni TLS 1.3 ni TLS 1.2 acceptés"


def r4(ctx: EndpointContext) -> Outcome:
    accepted = [p.version for p in ctx.obs.protocols if p.version in OLD_VERSIONS and p.accepted]
    unknown = [v for v in OLD_VERSIONS if (p := ctx.obs.protocol(v)) is None or p.accepted is None]
    if accepted:
        return _F, f"{_join(accepted)} accepté(s)"
    if unknown:
        return _INC, "versions non sondées : " + ", ".join(unknown)
    return _P, "SSLv2, SSLv3, TLS 1.0 et TLS 1.1 refusés"


def r5(ctx: EndpointContext) -> Outcome:
    if not ctx.suites:
        return _INC, _versions_missing(ctx) or "aucune suite acceptée observée"
    anon = [s.name for _, s, p in ctx.suites if s.anonymous or p.auth == "anon"]
    if anon:
        return _F, f"{_join(anon)} accepté(s) sans authentification du serveur"
    gap = _versions_missing(ctx)
    return (_INC, gap) if gap else (_P, "aucune suite anonyme acceptée")


def r6(ctx: EndpointContext) -> Outcome:
    if not ctx.suites:
        return _INC, _versions_missing(ctx) or "aucune suite acceptée observée"
    table = ctx.profile.suite_classification.key_exchange
    no_fs, dhe = [], []
    for _, suite, parts in ctx.suites:
        kx = table.get(parts.kx or "")
        if kx is None or not kx.forward_secrecy:
            no_fs.append(suite.name)
        elif kx.status == "tolerated":
            dhe.append(suite.name)
    if no_fs:
        return _F, f"{_join(no_fs)} accepté(s) sans confidentialité persistante"
    gap = _versions_missing(ctx)
    if gap:
        return _INC, gap
    if dhe:
        return _D, f"{_join(dhe)} : DHE accepté (ECDHE à privilégier)"
    return _P, "échange de clés ECDHE pour toutes les suites"


def r7(ctx: EndpointContext) -> Outcome:
    ecdhe = [s for _, s, p in ctx.suites if p.kx == "ECDHE"]
    groups = ctx.obs.groups
    if groups is None:
        if not ecdhe and ctx.suites:
            return _NA, "aucune suite ECDHE acceptée"
        return _INC, missing_reason(ctx, "elliptic_curves") or "groupes non observés"
    seen = list(dict.fromkeys([*groups, *(s.kx_group for s in ecdhe if s.kx_group)]))
    if not seen:
        return _NA, "aucun groupe ECDHE accepté"
    ok = set(ctx.profile.groups.preferred) | set(ctx.profile.groups.acceptable)
    bad = [g for g in seen if g not in ok]
    if bad:
        return _F, f"groupe(s) {_join(bad)} accepté(s), hors liste R7"
    return _P, f"groupes acceptés : {_join(seen)}"


def r7_minus(ctx: EndpointContext) -> Outcome:
    # every finite-field group offered: DHE, anonymous DH, and TLS 1.3 ffdhe groups
    dhe = [(s.name, s.kx_size) for _, s, p in ctx.suites if p.kx == "DHE" or s.kx_type == "DH"]
    if not dhe:
        return _NA, "aucune suite DHE (groupe à corps fini) acceptée"
    keys = ctx.profile.keys
    small = [f"{n} ({size or '?'} bits)" for n, size in dhe if (size or 0) < keys.dh_min_bits]
    if small:
        return _F, f"{_join(small)} : groupe DHE inférieur à {keys.dh_min_bits} bits"
    below_future = [
        f"{n} ({size} bits)" for n, size in dhe if (size or 0) < keys.dh_min_bits_after_horizon
    ]
    text = f"DHE accepté (niveau toléré) : {_join(n for n, _ in dhe)}"
    if below_future:
        text += (
            f" ; groupe de moins de {keys.dh_min_bits_after_horizon} bits, insuffisant pour "
            f"des données protégées au-delà de {ctx.profile.horizon_year}"
        )
    return _D, text


def r8(ctx: EndpointContext) -> Outcome:
    """Server authentication: the suites' authentication part (no DSS, no anonymous)
    and the server key behind it: ECDSA >= 256 bits or RSA >= 2048 bits, both found in
    the guide's Annex A.1 recommended suites (ECDHE-ECDSA and ECDHE-RSA)."""
    status, reason, *_ = _suite_rule(
        ctx, "auth", ctx.profile.suite_classification.authentication, "authentification", "R8"
    )
    if status in (_F, _INC):
        return status, reason
    leaf = ctx.obs.leaf
    if leaf is None:
        return _INC, missing_reason(ctx, "certificate_info") or "certificat serveur non observé"
    keys = ctx.profile.keys
    if leaf.key_type == "RSA" and leaf.key_size < keys.rsa_min_bits:
        return (
            _F,
            f"authentification RSA avec une clé de {leaf.key_size} bits (< {keys.rsa_min_bits})",
        )
    if leaf.key_type == "EC" and leaf.key_size < keys.ec_min_bits:
        return (
            _F,
            f"authentification ECDSA avec une clé de {leaf.key_size} bits (< {keys.ec_min_bits})",
        )
    if leaf.key_type not in ("RSA", "EC", "Ed25519", "Ed448"):
        return _F, f"authentification par clé {leaf.key_type}, hors annexe A.1"
    kind = {"EC": "ECDSA", "RSA": "RSA"}.get(leaf.key_type, leaf.key_type)
    if status == _D:
        return status, reason
    return _P, f"authentification {kind} {leaf.key_size} bits (suites de l'annexe A.1)"


def r9(ctx: EndpointContext) -> Outcome:
    return _suite_rule(ctx, "cipher", ctx.profile.suite_classification.cipher, "chiffrement", "R9")


def r10(ctx: EndpointContext) -> Outcome:
    status, reason, *_ = _suite_rule(
        ctx, "mode", ctx.profile.suite_classification.mode, "mode", "R10"
    )
    if status == _D:
        reason += " ; CBC toléré par R10- uniquement avec encrypt_then_mac"
    return status, reason


def r10_minus(ctx: EndpointContext) -> Outcome:
    cbc = [s.name for _, s, p in ctx.suites if p.mode == "CBC"]
    if not cbc:
        return _NA, "aucune suite CBC acceptée"
    etm = ctx.obs.encrypt_then_mac
    if etm is None:
        return _INC, (
            f"{_join(cbc)} accepté(s) : l'usage d'encrypt_then_mac n'a pas pu être observé, "
            "à vérifier dans la configuration du serveur"
        )
    if not etm:
        return _F, f"{_join(cbc)} accepté(s) sans l'extension encrypt_then_mac"
    return _D, f"{_join(cbc)} accepté(s) avec encrypt_then_mac (niveau toléré)"


def r11(ctx: EndpointContext) -> Outcome:
    return _suite_rule(ctx, "hash", ctx.profile.suite_classification.hash, "hachage", "R11")


def r12(ctx: EndpointContext) -> Outcome:
    """Suites: recommended (PASS) when every accepted suite is recommended by its parts,
    DEGRADED when some are only tolerated, FAIL when one breaks a rule (no annex copied by
    hand: the per-suite classification that R5–R11 derive is reused)."""
    if not ctx.suites:
        return _INC, _versions_missing(ctx) or "aucune suite acceptée observée"
    verdicts = classify_suites(ctx.suites, ctx.profile)
    bad = [f"{v.name} ({', '.join(v.breaks)})" for v in verdicts if v.status == _F]
    unknown = [v.name for v in verdicts if v.status == _INC]
    tolerated = [f"{v.name} ({', '.join(v.tolerated_by)})" for v in verdicts if v.status == _D]
    if bad:
        return _F, f"suite(s) ni recommandée(s) ni tolérée(s) : {_join(bad, 4)}"
    if unknown:
        return _INC, f"suite(s) non classée(s) : {_join(unknown)}"
    gap = _versions_missing(ctx)
    if gap:
        return _INC, gap
    if tolerated:
        return _D, f"suite(s) seulement tolérée(s) : {_join(tolerated, 4)}"
    return _P, f"les {len(verdicts)} suites acceptées sont des suites recommandées"


def r13(ctx: EndpointContext) -> Outcome:
    order = ctx.obs.server_cipher_order
    tls12 = ctx.obs.protocol("TLSv1.2")
    if order is None:
        if tls12 is not None and tls12.accepted is not None and len(tls12.suites) < 2:
            return _NA, "moins de deux suites TLS 1.2 acceptées : pas d'ordre à imposer"
        return _INC, "ordre de préférence des suites non testé"
    if order:
        return _P, "le serveur impose son ordre de préférence des suites"
    return _F, "le serveur suit l'ordre de préférence du client"


def _flag(
    ctx: EndpointContext, value: bool | None, command: str, good: bool, ok: str, bad: str
) -> Outcome:
    if value is None:
        return _INC, missing_reason(ctx, command) or "non observé"
    return (_P, ok) if value == good else (_F, bad)


def r19(ctx: EndpointContext) -> Outcome:
    return _flag(
        ctx,
        ctx.obs.compression,
        "tls_compression",
        False,
        "compression TLS désactivée",
        "compression TLS acceptée",
    )


def _pre13_accepted(ctx: EndpointContext) -> bool | None:
    olds = [ctx.obs.protocol(v) for v in ("SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2")]
    if any(p is not None and p.accepted for p in olds):
        return True
    if any(p is None or p.accepted is None for p in olds):
        return None
    return False


def r22(ctx: EndpointContext) -> Outcome:
    if _pre13_accepted(ctx) is False:
        return _NA, "TLS 1.3 seul : pas de renégociation"
    return _flag(
        ctx,
        ctx.obs.secure_renegotiation,
        "session_renegotiation",
        True,
        "renégociation sécurisée (renegotiation_info) prise en charge",
        "renégociation sécurisée (renegotiation_info) non prise en charge",
    )


def client_renegotiation(ctx: EndpointContext) -> Outcome:
    """Client-initiated renegotiation refused (judged beside R22, from sslyze's attempt
    to renegotiate from the client side)."""
    if _pre13_accepted(ctx) is False:
        return _NA, "TLS 1.3 seul : pas de renégociation"
    return _flag(
        ctx,
        ctx.obs.client_renegotiation_dos,
        "session_renegotiation",
        False,
        "renégociation à l'initiative du client refusée",
        "renégociation à l'initiative du client acceptée (déni de service possible)",
    )


def r23(ctx: EndpointContext) -> Outcome:
    """0-RTT: FAIL when either probe saw early data accepted; PASS only when our own probe
    saw it refused; otherwise NOT_TESTED (sslyze's "not supported" may only mean that the
    server did not answer its HTTP request)."""
    tls13 = ctx.obs.protocol("TLSv1.3")
    if tls13 is not None and tls13.accepted is False:
        return _NA, "TLS 1.3 non accepté : pas de 0-RTT"
    if tls13 is None or tls13.accepted is None:
        return _INC, "TLS 1.3 non sondé"
    detail = ctx.obs.early_data_detail
    if ctx.obs.early_data_probe or ctx.obs.early_data:
        return _F, "données précoces 0-RTT acceptées" + (f" ({detail})" if detail else "")
    if ctx.obs.early_data_probe is False:
        return _P, f"données 0-RTT refusées : {detail or 'sonde openssl'}"
    why = detail or "sonde 0-RTT non exécutée"
    return _NT, f"0-RTT non testé : {why}"


def heartbleed(ctx: EndpointContext) -> Outcome:
    return _flag(
        ctx,
        ctx.obs.heartbleed,
        "heartbleed",
        False,
        "non vulnérable à Heartbleed",
        "vulnérable à Heartbleed",
    )


def robot(ctx: EndpointContext) -> Outcome:
    value = ctx.obs.robot
    if value is None:
        return _INC, missing_reason(ctx, "robot") or "non observé"
    if value.startswith("VULNERABLE"):
        return _F, f"vulnérable à ROBOT ({value})"
    if value.startswith("UNKNOWN"):
        return _INC, f"résultat ROBOT incohérent ({value})"
    return _P, "non vulnérable à ROBOT"


def fallback_scsv(ctx: EndpointContext) -> Outcome:
    if len(ctx.obs.accepted_versions) < 2 and all(
        p.accepted is not None for p in ctx.obs.protocols
    ):
        return _NA, "une seule version acceptée : pas de repli possible"
    return _flag(
        ctx,
        ctx.obs.fallback_scsv,
        "tls_fallback_scsv",
        True,
        "TLS_FALLBACK_SCSV pris en charge",
        "TLS_FALLBACK_SCSV non pris en charge",
    )


def r34(ctx: EndpointContext) -> Outcome:
    chain = ctx.obs.chain
    if not chain:
        return _INC, missing_reason(ctx, "certificate_info") or "chaîne non observée"
    problems = []
    if ctx.obs.chain_in_order is False or any(
        chain[i].issuer != chain[i + 1].subject for i in range(len(chain) - 1)
    ):
        problems.append("chaîne envoyée dans le désordre")
    last = chain[-1]
    pv = ctx.obs.path_validation
    roots = pv.anchor_roots if pv else ()
    if not last.self_signed:
        if roots and last.issuer not in roots:
            problems.append(f"certificat intermédiaire manquant après « {last.subject} »")
        elif not roots and not last.is_ca:
            problems.append("seul le certificat final est envoyé (intermédiaire manquant)")
    if problems:
        return _F, "; ".join(problems)
    return _P, f"chaîne complète et ordonnée ({len(chain)} certificat(s))"


def _ocsp_problems(ctx: EndpointContext) -> tuple[list[str], list[str]]:
    """(why the stapled response cannot vouch for the served certificate, what could not
    be checked about it); both empty: it vouches."""
    facts = ctx.obs.ocsp
    assert facts is not None
    if facts.response_status != "SUCCESSFUL":
        return [f"réponse OCSP en erreur ({facts.response_status})"], []
    problems: list[str] = []
    doubts: list[str] = []
    leaf = ctx.obs.leaf
    if facts.for_leaf is False:
        expected = f", certificat servi : {leaf.serial}" if leaf else ""
        problems.append(
            f"réponse OCSP pour un autre certificat (numéro de série {facts.serial}{expected})"
        )
    elif facts.for_leaf is None:
        doubts.append("réponse OCSP non rattachée au certificat servi (émetteur inconnu)")
    if facts.signature_valid is False:
        problems.append(f"signature OCSP non valide ({facts.signature_error or 'raison inconnue'})")
    elif facts.signature_valid is None:
        doubts.append(f"signature OCSP non vérifiée ({facts.signature_error or 'émetteur absent'})")
    max_age = dt.timedelta(days=ctx.profile.ocsp_max_age_days)
    if facts.next_update is not None and facts.next_update < ctx.as_of:
        problems.append(f"réponse OCSP périmée (nextUpdate {facts.next_update:%Y-%m-%d %H:%M} UTC)")
    elif facts.this_update is not None and ctx.as_of - facts.this_update > max_age:
        problems.append(
            f"réponse OCSP trop ancienne (thisUpdate {facts.this_update:%Y-%m-%d}, plus de "
            f"{ctx.profile.ocsp_max_age_days} jours)"
        )
    elif facts.this_update is None:
        problems.append("réponse OCSP sans date thisUpdate")
    return problems, doubts


def _revocation_text(ctx: EndpointContext) -> str:
    facts = ctx.obs.ocsp
    assert facts is not None
    when = f" le {facts.revocation_time:%Y-%m-%d}" if facts.revocation_time else ""
    why = f" ({facts.revocation_reason})" if facts.revocation_reason else ""
    return f"certificat révoqué{when}{why} selon la réponse OCSP agrafée"


def r35(ctx: EndpointContext) -> Outcome:
    """OCSP stapling: a response is stapled AND it vouches for the served certificate:
    successful, about this certificate, signed by its CA (or a delegated responder),
    fresh, and not REVOKED/UNKNOWN."""
    value = ctx.obs.ocsp_stapling
    if value is None:
        return _INC, missing_reason(ctx, "certificate_info") or "non observé"
    if not value:
        return _F, "aucune réponse OCSP agrafée"
    facts = ctx.obs.ocsp
    if facts is None:
        return _INC, "réponse OCSP agrafée mais non analysée (observation antérieure)"
    problems, doubts = _ocsp_problems(ctx)
    if facts.for_leaf is not False and facts.cert_status == "REVOKED":
        problems.insert(0, _revocation_text(ctx))
    elif facts.for_leaf is not False and facts.cert_status not in (None, "GOOD"):
        problems.insert(0, f"statut OCSP {facts.cert_status}")
    if problems:
        return _F, "; ".join(problems + doubts)
    if doubts:  # unverifiable is not "bad", and never PASS
        return _INC, "; ".join(doubts)
    return _P, (
        f"réponse OCSP agrafée : GOOD, signée par « {facts.responder} », "
        f"thisUpdate {facts.this_update:%Y-%m-%d}"
        if facts.this_update
        else "réponse OCSP agrafée : GOOD"
    )


def igc_revocation(ctx: EndpointContext) -> Outcome:
    """The served certificate is not revoked. Judged from the stapled OCSP response only
    (no network query to the IGC-Santé responder or CRL): a certificate the response says
    is REVOKED fails; without a usable GOOD answer the rule is NOT_TESTED, never PASS."""
    if ctx.obs.ocsp_stapling is None:
        return _INC, missing_reason(ctx, "certificate_info") or "non observé"
    facts = ctx.obs.ocsp
    if facts is None:
        return _NT, (
            "révocation non vérifiée : aucune réponse OCSP agrafée exploitable "
            "(ni OCSP ni CRL interrogés par l'outil)"
        )
    if facts.for_leaf is not False and facts.cert_status == "REVOKED":
        signed = "" if facts.signature_valid else " (signature de la réponse non validée)"
        return _F, _revocation_text(ctx) + signed
    problems, doubts = _ocsp_problems(ctx)
    if problems or doubts:
        return _NT, "révocation non vérifiée : " + "; ".join(problems + doubts)
    if facts.cert_status == "GOOD":
        return _P, "non révoqué : réponse OCSP agrafée GOOD, valide et à jour"
    return _NT, f"révocation non vérifiée : statut OCSP {facts.cert_status or 'absent'}"


def igc_anchor(ctx: EndpointContext) -> Outcome:
    pv = ctx.obs.path_validation
    if pv is None:
        return _INC, missing_reason(ctx, "certificate_info") or "validation de chemin non observée"
    if not pv.anchors_configured:
        return _INC, "aucune ancre de confiance configurée (--ca-dir) : confiance non établie"
    if not pv.trusted:
        return (
            _F,
            f"chaîne non validée par les ancres configurées ({pv.error or 'raison inconnue'})",
        )
    anchor = pv.anchor_subject or ""
    if not is_igc_sante_name(_cn(anchor)):
        return _F, f"chaîne validée jusqu'à « {anchor} », qui n'est pas une AC IGC-Santé"
    return _P, f"chaîne validée jusqu'à l'ancre IGC-Santé « {anchor} »"


def hsts(ctx: EndpointContext) -> Outcome:
    if not ctx.obs.http_observed:
        return _INC, missing_reason(ctx, "http_headers") or "réponse HTTP non observée"
    header = ctx.obs.hsts
    if header is None:
        return _F, "aucun en-tête Strict-Transport-Security"
    age = header.max_age or 0
    if age < 15768000:
        return _D, f"Strict-Transport-Security max-age={age} (moins de 6 mois)"
    sub = " ; includeSubDomains" if header.include_subdomains else ""
    return _P, f"Strict-Transport-Security max-age={age}{sub}"


# --------------------------------------------------------------------------- certificate rules


@dataclass(frozen=True)
class CertificateContext:
    info: CertificateInfo
    usage: Usage
    profile: Profile
    as_of: dt.datetime
    issuer: CertificateInfo | None
    expected_name: str | None
    chain: tuple[CertificateInfo, ...]
    """The whole chain the certificate came with (leaf first); just the certificate if bare."""


CertRule = Callable[[CertificateContext], Outcome]


def _cn(dn: str) -> str:
    """The CN of an RFC 4514 name (the whole name when it has none)."""
    for part in dn.split(","):
        if part.strip().upper().startswith("CN="):
            return part.strip()[3:]
    return dn


def _who(info: CertificateInfo) -> str:
    return f"« {info.common_name} »"


def r24(c: CertificateContext) -> Outcome:
    allowed = set(c.profile.certificates.signature_hashes)
    bad = []
    for cert in c.chain:
        if cert.self_signed and cert.is_ca:
            continue  # a root's own signature is not checked by anyone
        if cert.signature_hash is None and cert.key_type in ("Ed25519", "Ed448"):
            continue
        if (cert.signature_hash or "") not in allowed:
            bad.append(f"{_who(cert)} signé en {cert.signature_algorithm}")
    if bad:
        return _F, _join(bad)
    return _P, "signatures SHA-2"


def r25(c: CertificateContext) -> Outcome:
    days = c.info.lifetime_days
    limit = c.profile.certificates.max_lifetime_days
    if days <= limit:
        return _P, f"durée de vie {days} jours (<= {limit})"
    igc = c.profile.igc_sante
    if is_igc_sante_name(_cn(c.info.issuer)):
        if igc.lifetime_exception and days <= igc.lifetime_exception_max_days:
            deviation = (
                f"Écart documenté IGC-Santé : durée de vie {days} jours, au-delà des {limit} jours "
                "recommandés par l'ANSSI (R25) ; la politique de certification IGC-Santé délivre "
                "des certificats de 3 ans (exception activée dans le profil)."
            )
            return _D, deviation, deviation
        scope = (
            f"limitée à {igc.lifetime_exception_max_days} jours"
            if igc.lifetime_exception
            else "désactivée dans le profil"
        )
        return _F, (
            f"durée de vie {days} jours > {limit} jours (certificat IGC-Santé ; exception {scope})"
        )
    return _F, f"durée de vie {days} jours > {limit} jours"


def _key_problem(cert: CertificateInfo, keys: KeyParams) -> str | None:
    if cert.key_type == "RSA":
        if cert.key_size < keys.rsa_min_bits:
            return f"{_who(cert)} : clé RSA {cert.key_size} bits"
        if (cert.rsa_exponent or 0) < keys.rsa_min_exponent:
            return f"{_who(cert)} : exposant RSA {cert.rsa_exponent}"
        return None
    if cert.key_type == "EC":
        if cert.key_size < keys.ec_min_bits or (cert.curve or "") not in keys.named_curves:
            return f"{_who(cert)} : clé EC {cert.key_size} bits ({cert.curve})"
        return None
    if cert.key_type in ("Ed25519", "Ed448"):
        return None
    return f"{_who(cert)} : type de clé {cert.key_type} non admis"


def r26(c: CertificateContext) -> Outcome:
    bad = [p for cert in c.chain if (p := _key_problem(cert, c.profile.keys))]
    if bad:
        return _F, _join(bad)
    leaf = c.info
    return _P, f"clé {leaf.key_type} {leaf.key_size} bits" + (
        f" (e={leaf.rsa_exponent})" if leaf.rsa_exponent else ""
    )


KU_FORBIDDEN_ON_LEAF = ("key_cert_sign", "crl_sign")
"""Key Usage bits reserved to certification authorities: never on a TLS leaf."""
KU_ALLOWED = {
    "RSA": {"digital_signature", "key_encipherment"},
    "EC": {"digital_signature", "key_agreement"},
    "Ed25519": {"digital_signature"},
    "Ed448": {"digital_signature"},
}
"""What a TLS server or client key may be used for, by key type (RFC 5246/8446 usages)."""
EKU_FORBIDDEN = {
    "codeSigning",
    "emailProtection",
    "timeStamping",
    "OCSPSigning",
    "documentSigning",
    "2.5.29.37.0",  # anyExtendedKeyUsage
}
"""Extended key usages that have nothing to do on a TLS authentication certificate."""


def r27(c: CertificateContext) -> Outcome:
    """Key Usage present, critical, with digitalSignature, and nothing beyond what a TLS
    key of this type needs (never keyCertSign / cRLSign on a leaf)."""
    info = c.info
    if info.key_usage_critical is None:
        return _F, f"{_who(info)} sans extension Key Usage"
    problems = []
    if not info.key_usage_critical:
        problems.append("Key Usage non critique")
    usages = set(info.key_usage)
    if "digital_signature" not in usages:
        problems.append("digitalSignature absent")
    ca_bits = [u for u in KU_FORBIDDEN_ON_LEAF if u in usages]
    if ca_bits:
        problems.append(f"{', '.join(ca_bits)} présent(s) (réservé(s) aux AC)")
    allowed = KU_ALLOWED.get(info.key_type, {"digital_signature"})
    extra = sorted(usages - allowed - set(KU_FORBIDDEN_ON_LEAF))
    if extra:
        problems.append(f"usage(s) hors TLS pour une clé {info.key_type} : {', '.join(extra)}")
    if problems:
        return _F, f"{_who(info)} : " + " ; ".join(problems)
    return _P, f"Key Usage critique ({', '.join(info.key_usage)})"


def r28(c: CertificateContext) -> Outcome:
    """EKU present with serverAuth (server) or clientAuth (client), and no usage foreign
    to TLS authentication (codeSigning, emailProtection, anyExtendedKeyUsage...)."""
    wanted = "serverAuth" if c.usage == "server" else "clientAuth"
    ekus = c.info.extended_key_usage
    if not ekus:
        return _F, f"{_who(c.info)} sans extension Extended Key Usage ({wanted} attendu)"
    problems = []
    if wanted not in ekus:
        problems.append(f"EKU {', '.join(ekus)} sans {wanted}")
    foreign = [e for e in ekus if e in EKU_FORBIDDEN]
    if foreign:
        names = ["anyExtendedKeyUsage" if e == "2.5.29.37.0" else e for e in foreign]
        problems.append(f"usage(s) étranger(s) à TLS : {', '.join(names)}")
    if problems:
        return _F, f"{_who(c.info)} : " + " ; ".join(problems)
    return _P, f"EKU {', '.join(ekus)}"


def _name_matches(name: str, patterns: Iterable[str]) -> bool:
    lowered = name.lower().rstrip(".")
    for pattern in patterns:
        pat = pattern.lower().rstrip(".")
        if pat == lowered:
            return True
        if pat.startswith("*.") and "." in lowered:
            head, _, rest = lowered.partition(".")
            if fnmatch.fnmatchcase(f"x.{rest}", f"x.{pat[2:]}") and head:
                return True
    return False


def r29(c: CertificateContext) -> Outcome:
    if c.usage == "client":
        return _NA, "certificat client : pas de nom DNS de service à vérifier"
    info = c.info
    if not info.san_dns and not info.san_ip:
        return _F, f"{_who(info)} sans extension Subject Alternative Name"
    name = c.expected_name
    if not name:
        return _P, f"SAN présent ({_join(info.san_dns or info.san_ip)})"
    try:
        ipaddress.ip_address(name)
        ok = name in info.san_ip
    except ValueError:
        ok = _name_matches(name, info.san_dns)
    if ok:
        return _P, f"SAN contient {name}"
    return _F, f"SAN ({_join(info.san_dns + info.san_ip)}) ne contient pas {name}"


def r32(c: CertificateContext) -> Outcome:
    info = c.info
    if info.self_signed:
        return _NA, f"{_who(info)} auto-signé : pas d'émetteur distinct"
    if info.authority_key_id is None:
        return _F, f"{_who(info)} sans Authority Key Identifier"
    if c.issuer is None:
        return _INC, f"certificat de l'émetteur « {info.issuer} » non disponible pour comparer"
    if c.issuer.subject_key_id is None:
        return _F, f"l'émetteur {_who(c.issuer)} n'a pas de Subject Key Identifier"
    if c.issuer.subject_key_id != info.authority_key_id:
        return _F, f"AKI de {_who(info)} différent du SKI de l'émetteur {_who(c.issuer)}"
    return _P, "AKI égal au SKI de l'émetteur"


def r33(c: CertificateContext) -> Outcome:
    info = c.info
    if info.crl_urls or info.ocsp_urls:
        found = [*(f"CRL {u}" for u in info.crl_urls), *(f"OCSP {u}" for u in info.ocsp_urls)]
        return _P, _join(found, 3)
    return _F, f"{_who(info)} sans point de distribution de CRL ni accès OCSP"


def b1_keys(c: CertificateContext) -> Outcome:
    keys = c.profile.keys
    horizon = c.profile.horizon_end
    after = c.as_of > horizon
    bad, warn = [], []
    for cert in c.chain:
        if cert.key_type == "RSA":
            floor = keys.rsa_min_bits_after_horizon if after else keys.rsa_min_bits
            if cert.key_size < floor:
                bad.append(f"{_who(cert)} : RSA {cert.key_size} bits < {floor}")
            elif cert.key_size < keys.rsa_min_bits_after_horizon and cert.not_after > horizon:
                warn.append(
                    f"{_who(cert)} : RSA {cert.key_size} bits valable jusqu'au "
                    f"{cert.not_after.date().isoformat()}"
                )
        elif cert.key_type == "EC" and cert.key_size < keys.ec_min_bits:
            bad.append(f"{_who(cert)} : EC {cert.key_size} bits < {keys.ec_min_bits}")
        elif cert.key_type == "DSA":
            bad.append(f"{_who(cert)} : DSA")
    if bad:
        return _F, _join(bad)
    if warn:
        return _D, (
            f"acceptable aujourd'hui, plus après {c.profile.horizon_year} : {_join(warn)} "
            f"(RGS B1 : {keys.rsa_min_bits_after_horizon} bits après {c.profile.horizon_year})"
        )
    return _P, "tailles de clés conformes au RGS B1"


def b1_hash(c: CertificateContext) -> Outcome:
    bad = [
        f"{_who(cert)} ({cert.signature_algorithm})"
        for cert in c.chain
        if not (cert.self_signed and cert.is_ca) and cert.signature_hash in ("sha1", "md5")
    ]
    if bad:
        return _F, f"SHA-1/MD5 non conforme : {_join(bad)}"
    return _P, "aucune signature SHA-1 ni MD5"


def igc_issuer(c: CertificateContext) -> Outcome:
    info = c.info
    if info.self_signed:
        return _F, f"{_who(info)} auto-signé, pas émis par une AC IGC-Santé"
    if is_igc_sante_name(_cn(info.issuer)):
        return _P, f"émis par « {info.issuer} »"
    return _F, f"émis par « {info.issuer} », qui n'est pas une AC IGC-Santé"


def igc_expiry(c: CertificateContext) -> Outcome:
    info = c.info
    days = info.days_until_expiry(c.as_of)
    date = info.not_after.date().isoformat()
    if c.as_of < info.not_before:
        return (
            _F,
            f"{_who(info)} pas encore valide (à partir du {info.not_before.date().isoformat()})",
        )
    if days < 0 or c.as_of > info.not_after:
        return _F, f"{_who(info)} expiré le {date}"
    text = f"expire le {date} (dans {days} jours)"
    if days <= c.profile.igc_sante.expiry_warning_days:
        text += " : renouvellement et audit à planifier"
    return _P, text


CERT_RULES: dict[str, CertRule] = {
    "R24": r24,
    "R25": r25,
    "R26": r26,
    "R27": r27,
    "R28": r28,
    "R29": r29,
    "R32": r32,
    "R33": r33,
    "RGS-B1-CLES": b1_keys,
    "RGS-B1-HACHAGE": b1_hash,
    "IGC-EMETTEUR": igc_issuer,
    "IGC-EXPIRATION": igc_expiry,
}

ENDPOINT_RULES: dict[str, EndpointRule] = {
    "R3": r3,
    "R4": r4,
    "R5": r5,
    "R6": r6,
    "R7": r7,
    "R7-": r7_minus,
    "R8": r8,
    "R9": r9,
    "R10": r10,
    "R10-": r10_minus,
    "R11": r11,
    "R12": r12,
    "R13": r13,
    "R19": r19,
    "R22": r22,
    "RENEGOCIATION-CLIENT": client_renegotiation,
    "R23": r23,
    "R34": r34,
    "R35": r35,
    "IGC-REVOCATION": igc_revocation,
    "VULN-HEARTBLEED": heartbleed,
    "VULN-ROBOT": robot,
    "FALLBACK-SCSV": fallback_scsv,
    "IGC-ANCRE": igc_anchor,
    "HSTS": hsts,
}

RULES: frozenset[str] = frozenset(CERT_RULES) | frozenset(ENDPOINT_RULES)


def load_profile(name_or_path: str | os.PathLike[str] = "anssi") -> Profile:
    """Load a bundled profile by name (`anssi`) or a YAML file by path, and check that it
    lists exactly the rules implemented here."""
    profile, source = read_profile(name_or_path)
    missing = sorted(set(RULES) - {r.id for r in profile.rules})
    if missing:
        raise ProfileError(f"profile {source}: rules missing: {', '.join(missing)}")
    unknown = sorted({r.id for r in profile.rules} - set(RULES))
    if unknown:
        raise ProfileError(
            f"profile {source}: rules without an implementation: {', '.join(unknown)}"
        )
    return profile
