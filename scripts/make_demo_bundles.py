"""Regenerate the demo registry, evidence bundles, verdicts and test PKI under `data/`.

Six fictitious providers cover the four EDC roles, each with a bundle in a contrasting
state (clean, tampered, missing pentest, pentest done just before renewal, incomplete
document de conformité, zip delivery). The registry is format 2: habilitations as data
(one provider with two, one Éditeur Utilisateur with two proxy dossiers, one missing
dependency). Two demo chains: a fictitiously named one declared production in
`pki/ca/anchors.yaml` issues every certificate but one, planted on a production
endpoint from the IGC-Santé TEST chain. Every bundle files a small proof for each
requirement whose AVANT control expects one (for the provider's roles), so that only
the planted defects stand out. Server certificates follow the endpoint postures of
`auditlib.demo.data.DEMO_POSTURES`; the proxies file Proxy e-Santé trace exports (one
clean, one with anomalies). Dates are relative to `DEMO_DATE`; keys are new on every
run (so hashes change), everything else is stable. Demo material only.

    python scripts/make_demo_bundles.py [DATA_DIR]
    python scripts/make_demo_bundles.py --traces-only [DATA_DIR]   # trace exports only
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditlib.demo.data import (
    CRL_DIR,
    CRL_SOURCE,
    DEMO_CLIENT_KEY_PASS,
    DEMO_CLIENT_KEY_PASS_ENV,
    DEMO_DATE,
    TRACE_END,
    TRACE_START,
    Posture,
    manifest_entry,
    postures_for,
    write_bundle,
    write_demo_ca,
    zip_folder,
)
from auditlib.evidence import FindingCode, load_bundle
from auditlib.files import sha256_bytes, write_atomic
from auditlib.testing.pki import (
    DEMO_PRODUCTION_ISSUING_CN,
    DEMO_PRODUCTION_O,
    DEMO_PRODUCTION_OU,
    DEMO_PRODUCTION_ROOT_CN,
    IssuedCert,
    TestPki,
)
from auditlib.testing.traces import Anomaly, generate_traces

DATA = Path(__file__).resolve().parent.parent / "data"
TODAY = DEMO_DATE.date()
ALL_SECTIONS = ("Architecture", "Sécurité", "Mises à jour")


def days_ago(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


@dataclass
class DemoProvider:
    id: str
    name: str
    organisation: str
    habilitation: str
    roles: list[str]
    relies_on: list[str]
    port: int
    cert_age_days: int
    """How long ago the current server certificate started (3-year validity)."""
    state: str
    expected: set[FindingCode] = field(default_factory=set)
    conformite: str = "docx"
    pentest_age_days: int | None = 30
    missing_sections: tuple[str, ...] = ()
    empty_sections: tuple[str, ...] = ()
    tamper: str | None = None
    zipped: bool = False
    client_subject: str | None = None
    """Registered subject of the provider's mTLS client certificate (checked in traces)."""
    own_client_cert: bool = False
    """A proxy: file its own mTLS client certificate, with the registered subject."""
    anomalies: tuple[Anomaly, ...] | None = None
    """A proxy: file a trace export with these anomalies planted (() = clean)."""
    habilitations: list[dict[str, Any]] = field(default_factory=list)
    """Registry format 2 entries; empty: one active habilitation per role."""
    test_chain: bool = False
    """The server certificate comes from the IGC-Santé TEST chain (planted on production)."""
    previous_cert_days_left: int | None = None
    """Also file the previous server certificate, still valid this many more days."""
    revoked: bool = False
    """The server certificate is revoked by the production issuing CA's CRL (`pki/crl/`)."""

    @property
    def sni(self) -> str:
        return f"api.{self.id}.demo.esante.test"


PROVIDERS = [
    DemoProvider(
        id="proxisante-editions",
        name="ProxiSanté Éditions",
        organisation="PROXISANTE EDITIONS",
        habilitation="EDC-EP-2024-0001",
        roles=["editeur_proxy"],
        relies_on=[],
        port=18441,
        cert_age_days=3 * 365 - 40,  # expires in ~40 days
        pentest_age_days=60,
        state="complet et conforme (certificat proche de l'expiration) ; le même certificat "
        "sur deux points d'accès (clé dupliquée)",
        habilitations=[
            {
                "number": "EDC-EP-2024-0001",
                "role": "editeur_proxy",
                "environment": "BAS",
                "issued": "2025-03-01",
                "status": "active",
            }
        ],
    ),
    DemoProvider(
        id="medilogic",
        name="MédiLogic",
        organisation="MEDILOGIC",
        habilitation="EDC-EU-2024-0002",
        roles=["editeur_utilisateur"],
        relies_on=["EDC-EP-2024-0001"],
        port=18442,
        cert_age_days=3 * 365 - 85,  # expires in ~85 days
        pentest_age_days=400,
        conformite="md",
        tamper="bas/rapport-tests-bas.md",
        state="fichier altéré après constitution du dossier (empreinte SHA-256 différente) ; "
        "deux dossiers Proxy e-Santé (ProxiSanté, ProxyLink)",
        expected={FindingCode.HASH_MISMATCH},
        habilitations=[
            {
                "number": "EDC-EU-2024-0002",
                "role": "editeur_utilisateur",
                "environment": "BAS",
                "issued": "2024-05-01",
                "status": "active",
                "proxy": "EDC-EP-2024-0001",
            },
            {
                "number": "EDC-EU-2025-0012",
                "role": "editeur_utilisateur",
                "environment": "BAS",
                "issued": "2025-06-01",
                "status": "active",
                "proxy": "proxylink",
            },
        ],
    ),
    DemoProvider(
        id="cloudproxy-sante",
        name="CloudProxy Santé",
        organisation="CLOUDPROXY SANTE",
        habilitation="EDC-FP-2024-0003",
        roles=["fs_proxy"],
        relies_on=["EDC-EP-2024-0001"],
        port=18443,
        cert_age_days=10,  # renewed 10 days ago; the previous certificate ends in 30 days
        pentest_age_days=15,  # the pentest was done just before the renewal: conforme
        previous_cert_days_left=30,
        client_subject="CN=lps.cloudproxy-sante.demo.esante.test,O=CLOUDPROXY SANTE,C=FR",
        own_client_cert=True,
        anomalies=(
            Anomaly.SEND_WITHOUT_RPPS,
            Anomaly.SEND_FOREIGN_SESSION_STATE,
            Anomaly.SEND_AFTER_DISCONNECT,
            Anomaly.DN_CHANGES,
            Anomaly.FAILURE_BURST,
        ),
        state="test d'intrusion fait juste avant le renouvellement (conforme pour le cycle "
        "qui s'achève) ; traces avec anomalies",
        # the bundle loader still judges recency against the newest certificate; the audit
        # applies the per-cycle rule (auditlib.audit.checks.pentest_checks)
        expected={FindingCode.PENTEST_OUTDATED},
        habilitations=[
            {
                "number": "EDC-FP-2024-0003",
                "role": "fs_proxy",
                "environment": "production",
                "issued": "2024-04-01",
                "status": "active",
            }
        ],
    ),
    DemoProvider(
        id="medicab",
        name="MédiCab Services",
        organisation="MEDICAB SERVICES",
        habilitation="EDC-FU-2024-0004",
        roles=["fs_utilisateur"],
        relies_on=["EDC-EU-2024-0002", "EDC-FP-2024-0003"],
        port=18445,
        cert_age_days=3 * 365 - 25,  # expires in ~25 days
        pentest_age_days=None,
        conformite="md",
        client_subject="CN=medicab.demo.esante.test,O=MEDICAB SERVICES,C=FR",
        state="rapport de test d'intrusion absent (à évaluer : le certificat est encore "
        "valide) ; certificat serveur révoqué (CRL de l'AC de production)",
        expected={FindingCode.PENTEST_MISSING},
        revoked=True,
        habilitations=[
            {
                "number": "EDC-FU-2024-0004",
                "role": "fs_utilisateur",
                "environment": "production",
                "issued": "2024-03-15",
                "status": "active",
            }
        ],
    ),
    DemoProvider(
        id="santexpress",
        name="SantExpress",
        organisation="SANTEXPRESS",
        habilitation="EDC-FU-2024-0005",
        roles=["fs_utilisateur", "editeur_utilisateur"],
        relies_on=["EDC-EP-2024-0001"],  # no FS Proxy: the missing dependency
        port=18446,
        cert_age_days=3 * 365 - 60,  # expires in ~60 days
        pentest_age_days=90,
        missing_sections=("Mises à jour",),
        empty_sections=("Sécurité",),
        client_subject="CN=santexpress.demo.esante.test,O=SANTEXPRESS,C=FR",
        state="document de conformité incomplet ; certificat de la chaîne de TEST en "
        "production ; aucune habilitation FS Proxy (dépendance manquante) ; renouvellement "
        "des engagements",
        expected={FindingCode.CONFORMITE_SECTION_MISSING, FindingCode.CONFORMITE_SECTION_EMPTY},
        test_chain=True,
        habilitations=[
            {
                "number": "EDC-FU-2024-0005",
                "role": "fs_utilisateur",
                "environment": "production",
                "issued": "2024-07-01",
                "status": "active",
                "commitments_renewal": "2027-01-15",
            },
            {
                "number": "EDC-EU-2024-0015",
                "role": "editeur_utilisateur",
                "environment": "BAS",
                "issued": "2024-07-01",
                "status": "active",
                "proxy": "EDC-EP-2024-0001",
            },
        ],
    ),
    DemoProvider(
        id="proxylink",
        name="ProxyLink Santé",
        organisation="PROXYLINK SANTE",
        habilitation="EDC-FP-2024-0006",
        roles=["fs_proxy", "editeur_proxy"],
        relies_on=[],
        port=18447,
        cert_age_days=3 * 365 - 75,  # expires in ~75 days
        pentest_age_days=45,
        conformite="md",
        zipped=True,
        client_subject="CN=lps.proxylink.demo.esante.test,O=PROXYLINK SANTE,C=FR",
        own_client_cert=True,
        anomalies=(),
        state="livré en archive zip, complet et conforme ; traces sans anomalie ; "
        "deux habilitations (FS Proxy en production, Éditeur Proxy en BAS)",
        habilitations=[
            {
                "number": "EDC-FP-2024-0006",
                "role": "fs_proxy",
                "environment": "production",
                "issued": "2024-09-01",
                "status": "active",
                "relies_on": ["EDC-EP-2025-0016"],
            },
            {
                "number": "EDC-EP-2025-0016",
                "role": "editeur_proxy",
                "environment": "BAS",
                "issued": "2025-09-01",
                "status": "active",
            },
        ],
    ),
]


# --- documents -------------------------------------------------------------------------------

SECTION_TEXT = {
    "Architecture": (
        "Le service est hébergé chez un hébergeur certifié HDS. Les appels aux API Pro Santé "
        "Connectées passent par le Proxy e-Santé en TLS mutuel ; le schéma d'architecture "
        "conforme au CI-SIS figure en annexe."
    ),
    "Sécurité": (
        "TLS 1.2 et 1.3 uniquement, suites AEAD avec confidentialité persistante ; clés RSA "
        "2048 bits émises par l'IGC-Santé, renouvellement prévu en RSA 3072 ; secrets dans un "
        "coffre matériel."
    ),
    "Mises à jour": (
        "Analyse statique à chaque livraison, suivi de l'obsolescence des bibliothèques par "
        "un outil d'analyse de dépendances, correctifs de sécurité appliqués sous 15 jours."
    ),
}


def conformite_markdown(p: DemoProvider) -> bytes:
    lines = [f"# Document de conformité EDC PSC — {p.name}", "", f"Version 1.2, {TODAY:%d/%m/%Y}."]
    for number, title in enumerate(ALL_SECTIONS, start=1):
        if title in p.missing_sections:
            continue
        lines += ["", f"## {number}. {title}", ""]
        lines.append("À compléter" if title in p.empty_sections else SECTION_TEXT[title])
    return ("\n".join(lines) + "\n").encode("utf-8")


def conformite_docx(p: DemoProvider) -> bytes:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.author = p.name
    props.title = "Document de conformité EDC PSC"
    props.created = props.modified = DEMO_DATE.replace(tzinfo=None)
    document.add_heading(f"Document de conformité EDC PSC — {p.name}", level=0)
    document.add_paragraph(f"Version 1.2, {TODAY:%d/%m/%Y}.")
    for number, title in enumerate(ALL_SECTIONS, start=1):
        if title in p.missing_sections:
            continue
        document.add_heading(f"{number}. {title}", level=1)
        if title not in p.empty_sections:
            document.add_paragraph(SECTION_TEXT[title])
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def simple_pdf(title: str, lines: list[str]) -> bytes:
    """A tiny one-page PDF (Helvetica, WinAnsi) standing in for a real report."""

    def esc(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    content = "BT /F1 14 Tf 50 790 Td (" + esc(title) + ") Tj /F1 10 Tf"
    for line in lines:
        content += " 0 -16 Td (" + esc(line) + ") Tj"
    content += " ET"
    stream = content.encode("cp1252", errors="replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


# --- bundles ---------------------------------------------------------------------------------

# Requirement -> (path, kind, title, roles it is filed for, text). One small proof per
# requirement whose AVANT control expects one; the kinds with their own checks
# (conformité, pentest, certificates, BAS, CGU, architecture, traces) are built below.
FS = {"fs_utilisateur", "fs_proxy"}
EDITORS = {"editeur_utilisateur", "editeur_proxy"}
PROXIES = {"fs_proxy", "editeur_proxy"}
ALL_ROLES = FS | EDITORS
PLAIN_PROOFS: list[tuple[list[int], str, str, set[str], str]] = [
    (
        [104],
        "inventaire/inventaire-composants.md",
        "Inventaire des composants logiciels",
        ALL_ROLES,
        "| composant | version | fin de support |\n|---|---|---|\n| OpenJDK | 21.0.5 | 2029-09 |\n"
        "| Spring Boot | 3.3.6 | 2026-12 |\n| OpenSSL | 3.0.15 | 2026-09 |\n\nMis à jour à chaque livraison.",
    ),
    (
        [105],
        "versions/notes-de-version.md",
        "Notes de version",
        EDITORS,
        "## 4.2.1\n\nCorrectif de sécurité : mise à jour de la bibliothèque TLS.\n\n## 4.2.0\n\n"
        "Prise en charge de TLS 1.3 sur le Proxy e-Santé.",
    ),
    (
        [106],
        "habilitation/attestation-habilitation.md",
        "Attestation d'habilitation EDC",
        ALL_ROLES,
        "Habilitation {habilitation} délivrée par l'ANS, en cours de validité.",
    ),
    (
        [107],
        "habilitation/references-habilitations.md",
        "Références des habilitations sollicitées",
        {"fs_utilisateur"},
        "Le service s'appuie sur les habilitations : {relies_on}.",
    ),
    (
        [110],
        "pentest/plan-remediation.md",
        "Plan de remédiation du test d'intrusion",
        FS,
        "| vulnérabilité | criticité | correction |\n|---|---|---|\n"
        "| En-têtes HTTP de sécurité incomplets | faible | corrigé en version 4.2.1 |",
    ),
    (
        [111],
        "journaux/configuration-journaux.md",
        "Extrait de configuration des journaux",
        ALL_ROLES,
        "```\nlogging.mask.patterns=access_token,id_token,refresh_token\nlogging.level.psc=INFO\n```",
    ),
    (
        [113],
        "supervision/demonstration-acces-traces.md",
        "Démonstration de l'accès /traces",
        PROXIES,
        "Accès GET /traces?start=&end= en TLS mutuel démontré en bac à sable le {bas_day}.",
    ),
    (
        [118],
        "securite/stockage-cles.md",
        "Stockage des clés privées",
        FS,
        "Clés privées d'authentification générées et conservées dans un HSM certifié ; "
        "aucune exportation possible.",
    ),
    (
        [119],
        "securite/configuration-mtls.md",
        "Configuration TLS mutuel",
        FS,
        "Les API Pro Santé Connectées exigent un certificat client IGC-Santé (ssl_verify_client on).",
    ),
    (
        [123],
        "incidents/procedure-notification.md",
        "Procédure de notification des incidents",
        FS,
        "Tout incident de sécurité est notifié à l'ANS sous 24 heures (cert@esante.gouv.fr).",
    ),
    (
        [124],
        "continuite/plan-continuite.md",
        "Plan de continuité",
        FS,
        "Bascule sur le site secondaire en moins de 4 heures en cas d'indisponibilité du "
        "Proxy e-Santé ; exercice annuel.",
    ),
    (
        [126],
        "rgpd/registre-traitements.md",
        "Registre des traitements",
        EDITORS,
        "Flux de données personnelles documentés : identité du professionnel (RPPS), jetons "
        "PSC (non conservés), traces techniques (1 an).",
    ),
]
HDS_ROLES = FS
BAS_REQUIREMENTS = {102: ALL_ROLES, 108: EDITORS, 112: PROXIES, 114: PROXIES, 128: ALL_ROLES}
TRACE_REQUIREMENTS = [101, 112, 113, 114, 120, 121, 122]
"""What a trace export evidences: the requirements `profiles/supervision.yaml` maps."""


def for_roles(p: DemoProvider, roles: set[str]) -> bool:
    return bool(roles & set(p.roles))


def trace_export(p: DemoProvider) -> tuple[bytes, bytes]:
    """A small Proxy e-Santé export in the ANS reference format (and its fetch record) for
    the proxy providers; `dn` written as Java's X500Principal does (`CN=.., O=.., C=FR`)."""
    assert p.client_subject is not None and p.anomalies is not None
    sample = generate_traces(
        sessions=90,
        sends_per_session=2,
        start=TRACE_START,
        session_every=dt.timedelta(minutes=7),
        event_every=dt.timedelta(seconds=40),
        clients=3,
        users=25,
        client_dn=p.client_subject.replace(",", ", "),
        seed=sum(map(ord, p.id)),
        anomalies=p.anomalies,
    )
    body = (json.dumps(sample.records, ensure_ascii=False) + "\n").encode()
    record = {
        "url": f"https://proxy.{p.id}.demo.esante.test:8443/traces",
        "start": TRACE_START.isoformat(),
        "end": TRACE_END.isoformat(),
        "fetched_at": (TRACE_END + dt.timedelta(hours=13)).isoformat(),
        "http_status": 200,
        "content_type": "application/json",
        "sha256": sha256_bytes(body),
        "size_bytes": len(body),
        "file": "traces-proxy.json",
        "note": "export remis par le prestataire (données de démonstration)",
    }
    return body, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode()


def build_bundle(
    p: DemoProvider,
    pki: TestPki,
    certs: dict[str, IssuedCert],
    folder: Path,
    test_pki: TestPki | None = None,
) -> None:
    files: dict[str, bytes] = {}
    items: list[dict[str, Any]] = []

    def add(path: str, data: bytes, kind: str, reqs: list[int], day: dt.date, **extra: Any) -> None:
        files[path] = data
        items.append(manifest_entry(path, data, kind, reqs, day, **extra))

    doc_day = days_ago(15)
    conformite_reqs = [103] + ([127] if for_roles(p, EDITORS) else [])
    if p.conformite == "docx":
        add(
            "conformite/document-conformite.docx",
            conformite_docx(p),
            "document_conformite",
            conformite_reqs,
            doc_day,
            title="Document de conformité",
        )
    else:
        add(
            "conformite/document-conformite.md",
            conformite_markdown(p),
            "document_conformite",
            conformite_reqs,
            doc_day,
            title="Document de conformité",
        )
    add(
        f"architecture/architecture-{p.id}.md",
        (
            f"# Architecture du service {p.name}\n\nFlux : poste LPS → Proxy e-Santé (mTLS) → "
            "API Pro Santé Connectées.\nHébergement HDS, deux zones de disponibilité.\n"
        ).encode(),
        "architecture_document",
        [101],
        days_ago(40),
        title="Dossier d'architecture",
    )
    add(
        "cgu/engagement-cgu-psc.pdf",
        simple_pdf(
            "Engagement aux CGU Pro Santé Connect",
            [
                f"{p.name} s'engage à respecter les conditions générales d'utilisation de PSC.",
                f"Signé le {days_ago(100):%d/%m/%Y}.",
            ],
        ),
        "cgu_commitment",
        [102],
        days_ago(100),
    )
    if p.pentest_age_days is not None:
        report_day = days_ago(p.pentest_age_days)
        add(
            "pentest/rapport-test-intrusion.pdf",
            simple_pdf(
                f"Rapport de test d'intrusion EDC — {p.name}",
                [
                    "Prestataire : Audit Sécurité Démo (PASSI, fictif)",
                    f"Périmètre : {p.sni}, Proxy e-Santé",
                    f"Date du rapport : {report_day:%d/%m/%Y}",
                    "Synthèse : aucune vulnérabilité critique.",
                ],
            ),
            "pentest_report",
            [109, 115],
            report_day,
            pentest={
                "passi_firm": "Audit Sécurité Démo (PASSI, fictif)",
                "scope": f"{p.sni} et Proxy e-Santé",
                "report_date": report_day.isoformat(),
            },
        )
    server_pki = test_pki if p.test_chain and test_pki is not None else pki
    add(
        "certs/server.pem",
        server_pki.chain_pem(certs["server"]),
        "certificate",
        [115, 116, 117],
        days_ago(p.cert_age_days),
        certificate={"use": "tls_server"},
        title="Certificat serveur SERV SSL_SERV",
    )
    if "previous" in certs:
        add(
            "certs/server-precedent.pem",
            pki.chain_pem(certs["previous"]),
            "certificate",
            [115, 116, 117],
            days_ago(3 * 365 - (p.previous_cert_days_left or 0)),
            certificate={"use": "tls_server"},
            title="Certificat serveur précédent (cycle qui s'achève)",
        )
    if "proxy" in certs:
        add(
            "certs/proxy.pem",
            pki.chain_pem(certs["proxy"]),
            "certificate",
            [115, 116, 117],
            days_ago(p.cert_age_days),
            certificate={"use": "tls_server"},
            title="Certificat serveur du Proxy e-Santé",
        )
    if "client" in certs:
        add(
            "certs/client-auth.pem",
            pki.chain_pem(certs["client"]),
            "certificate",
            [116, 119],
            days_ago(200),
            certificate={"use": "mtls_client"},
            title="Certificat client ORG AUTH_CLI (TLS mutuel)",
        )
    bas_reqs = [r for r, roles in BAS_REQUIREMENTS.items() if for_roles(p, roles)]
    add(
        "bas/rapport-tests-bas.md",
        f"# Tests en bac à sable (BAS) — {p.name}\n\nParcours PSC complet validé le {days_ago(50):%d/%m/%Y}.\n".encode(),
        "bas_test_report",
        bas_reqs,
        days_ago(50),
    )
    if for_roles(p, HDS_ROLES):
        add(
            "hds/certificat-hds.pdf",
            simple_pdf(
                "Certificat de conformité HDS (démonstration)",
                [
                    f"Hébergeur de {p.name} : Hébergeur Démo (fictif)",
                    "Activités 1 à 6, valable jusqu'au 30/06/2028.",
                ],
            ),
            "other",
            [125],
            days_ago(120),
            title="Certificat HDS de l'hébergeur",
        )
    for reqs, path, title, roles, text in PLAIN_PROOFS:
        if not for_roles(p, roles):
            continue
        if 110 in reqs and p.pentest_age_days is None:
            continue  # no pentest, no remediation plan
        body = text.format(
            habilitation=p.habilitation,
            relies_on=", ".join(p.relies_on) or "aucune",
            bas_day=f"{days_ago(50):%d/%m/%Y}",
        )
        add(
            path,
            f"# {title} — {p.name}\n\n{body}\n".encode(),
            "other",
            reqs,
            days_ago(30),
            title=title,
        )
    if p.anomalies is not None:
        export, record = trace_export(p)
        add(
            "supervision/traces-proxy.json",
            export,
            "supervision_trace_export",
            TRACE_REQUIREMENTS,
            TRACE_END.date(),
            title="Export /traces du Proxy e-Santé",
        )
        add(
            "supervision/traces-proxy.json.fetch.json",
            record,
            "other",
            [113],
            TRACE_END.date(),
            title="Fenêtre et empreinte de l'export /traces",
        )
    write_bundle(folder, p.id, files, items, prepared_on=days_ago(2))
    if p.tamper:
        target = folder / p.tamper
        target.write_bytes(
            target.read_bytes() + "Flux supplémentaire ajouté après coup.\n".encode()
        )


# --- verdicts --------------------------------------------------------------------------------

AUDITOR = "Claire Dupont (auditrice, démonstration)"
VERDICTS: dict[str, list[dict[str, Any]]] = {
    "proxisante-editions": [
        {
            "control": "EXI EDC PSC 106/AVANT/1",
            "status": "conforme",
            "comment": "Habilitation EDC-EP-2024-0001 vérifiée au registre de l'ANS.",
        },
        {
            "control": "EXI EDC PSC 104/AVANT/1",
            "status": "conforme",
            "comment": "Inventaire à jour, versions cohérentes avec la production.",
        },
        {
            "control": "EXI EDC PSC 113/AVANT/1",
            "status": "conforme",
            "comment": "Accès /traces démontré en séance sur le bac à sable.",
        },
        {
            "control": "EXI EDC PSC 126/AVANT/1",
            "status": "partiellement conforme",
            "severity": "low",
            "comment": "Le registre n'indique pas la durée de conservation des traces.",
        },
    ],
    "medilogic": [
        {
            "control": "EXI EDC PSC 105/AVANT/1",
            "status": "conforme",
            "comment": "Notes de version publiées pour chaque correctif de sécurité.",
        },
        {
            # a conflict: the BAS report filed for 108 fails its integrity check
            "control": "EXI EDC PSC 108/AVANT/1",
            "status": "conforme",
            "comment": "Compte rendu BAS consulté directement sur le portail de l'ANS.",
        },
    ],
    "cloudproxy-sante": [
        {
            "control": "EXI EDC PSC 118/AVANT/1",
            "status": "conforme",
            "comment": "HSM vérifié sur site (attestation du fabricant).",
        },
    ],
}


def write_verdicts(data: Path) -> None:
    folder = data / "verdicts"
    shutil.rmtree(folder, ignore_errors=True)
    for provider, entries in VERDICTS.items():
        day = days_ago(1).isoformat()
        document = {
            "provider": provider,
            "auditor": AUDITOR,
            "verdicts": [{**e, "date": day} for e in entries],
        }
        text = "# Auditor verdicts for the demo (format: auditlib/verdicts.py).\n" + yaml.safe_dump(
            document, allow_unicode=True, sort_keys=False, width=100
        )
        write_atomic(folder / f"{provider}.yaml", text)


# --- PKI and registry ------------------------------------------------------------------------


def issue_certificates(
    p: DemoProvider, pki: TestPki, data: Path, test_pki: TestPki | None = None
) -> dict[str, IssuedCert]:
    """Server certificates per endpoint posture, plus the mTLS client certificate (and the
    previous server certificate, for a provider that has just renewed)."""
    start = DEMO_DATE - dt.timedelta(days=p.cert_age_days)
    pki_dir = data / "pki" / p.id
    certs: dict[str, IssuedCert] = {}
    for posture in postures_for(p.id):
        if posture.cert_file in certs:
            continue  # a second endpoint serving the same certificate and key (planted)
        mtls = posture.posture is Posture.MTLS
        name = f"proxy.{p.id}.demo.esante.test" if mtls else p.sni
        issuer = test_pki if (p.test_chain and not mtls and test_pki is not None) else pki
        cert = issuer.issue(
            name,
            "server",
            key=posture.key,
            not_before=start,
            days=3 * 365,
            dns_names=[name],
            # the live /traces fetch connects to 127.0.0.1 and checks the name it dialled
            ip_addresses=["127.0.0.1"] if mtls else [],
            organisation=p.organisation,
        )
        write_atomic(pki_dir / f"{posture.cert_file}.crt.pem", issuer.chain_pem(cert))
        write_atomic(pki_dir / f"{posture.cert_file}.key.pem", cert.key_pem())
        certs[posture.cert_file] = cert
    if p.previous_cert_days_left is not None:
        certs["previous"] = pki.issue(
            p.sni,
            "server",
            not_before=DEMO_DATE - dt.timedelta(days=3 * 365 - p.previous_cert_days_left),
            days=3 * 365,
            dns_names=[p.sni],
            organisation=p.organisation,
        )
    if p.own_client_cert and p.client_subject:
        cn = p.client_subject.split(",")[0].removeprefix("CN=")
        client = pki.issue(
            cn,
            "client",
            not_before=DEMO_DATE - dt.timedelta(days=200),
            organisation=p.organisation,
        )
        assert client.certificate.subject.rfc4514_string() == p.client_subject
        certs["client"] = client
        if any(x.posture is Posture.MTLS for x in postures_for(p.id)):
            # leaf only: sslyze's legacy (SSLv2/3) client cannot load a chain file
            write_atomic(pki_dir / "client.crt.pem", client.cert_pem())
            write_atomic(pki_dir / "client.key.pem", client.key_pem(DEMO_CLIENT_KEY_PASS.encode()))
    return certs


def endpoints_of(p: DemoProvider) -> list[dict[str, Any]]:
    endpoints: list[dict[str, Any]] = []
    apis = 0
    for posture in postures_for(p.id):
        if posture.posture is Posture.MTLS:
            endpoints.append(
                {
                    "host": "127.0.0.1",
                    "port": posture.port,
                    "sni": f"proxy.{p.id}.demo.esante.test",
                    "mtls": True,
                    "client_cert": f"pki/{p.id}/client.crt.pem",
                    "client_key": f"pki/{p.id}/client.key.pem",
                    "key_passphrase_env": DEMO_CLIENT_KEY_PASS_ENV,
                    "label": "Proxy e-Santé (mTLS)",
                    "habilitation": p.habilitation,
                }
            )
        else:
            apis += 1
            endpoints.append(
                {
                    "host": "127.0.0.1",
                    "port": posture.port,
                    "sni": p.sni,
                    "mtls": False,
                    "label": "API" if apis == 1 else f"API {apis}",
                    "habilitation": p.habilitation,
                }
            )
    return endpoints


TRACE_FILES = ("supervision/traces-proxy.json", "supervision/traces-proxy.json.fetch.json")


def refresh_traces(data: Path = DATA) -> int:
    """Rewrite only the proxies' trace exports (and fetch records) and their manifest
    hashes, keeping every key and certificate: `--traces-only`."""
    import tempfile

    for p in PROVIDERS:
        if p.anomalies is None:
            continue
        export, record = trace_export(p)
        if p.zipped:
            archive = data / "bundles" / f"{p.id}.zip"
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp) / p.id
                with zipfile.ZipFile(archive) as zipped:
                    zipped.extractall(folder)
                _rewrite_traces(folder, export, record)
                zip_folder(folder, archive)
        else:
            _rewrite_traces(data / "bundles" / p.id, export, record)
    return _verify(data)


def _rewrite_traces(folder: Path, export: bytes, record: bytes) -> None:
    contents = dict(zip(TRACE_FILES, (export, record), strict=True))
    manifest_path = folder / "manifest.yaml"
    manifest = yaml.safe_load(manifest_path.read_text("utf-8"))
    for item in manifest["items"]:
        if item["path"] in contents:
            item["sha256"] = sha256_bytes(contents[item["path"]])
    for rel, data in contents.items():
        write_atomic(folder / rel, data)
    text = yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False, width=100)
    write_atomic(manifest_path, text)


def main(data: Path = DATA) -> int:
    # RSA-4096 CAs, as IGC-Santé's: an RSA-2048 CA valid past 2030 would degrade every scan.
    # Two chains: a fictitiously named one the demo declares production, and the TEST one.
    pki = TestPki.create(
        now=DEMO_DATE,
        key=("rsa", 4096),
        root_cn=DEMO_PRODUCTION_ROOT_CN,
        issuing_cn=DEMO_PRODUCTION_ISSUING_CN,
        organisation=DEMO_PRODUCTION_O,
        unit=DEMO_PRODUCTION_OU,
    )
    test_pki = TestPki.create(now=DEMO_DATE, key=("rsa", 4096))
    for sub in ("bundles", "pki"):
        shutil.rmtree(data / sub, ignore_errors=True)
    write_demo_ca(pki, data, test_pki)
    write_atomic(data / "pki" / "README.md", PKI_README)
    providers: list[dict[str, Any]] = []
    revoked: list[IssuedCert] = []
    for p in PROVIDERS:
        certs = issue_certificates(p, pki, data, test_pki)
        if p.revoked:
            revoked.append(certs["server"])
        folder = data / "bundles" / p.id
        build_bundle(p, pki, certs, folder, test_pki)
        bundle_path = f"bundles/{p.id}"
        if p.zipped:
            zip_folder(folder, data / "bundles" / f"{p.id}.zip")
            shutil.rmtree(folder)
            bundle_path += ".zip"
        entry: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "habilitations": p.habilitations,
            "relies_on": p.relies_on,
            "endpoints": endpoints_of(p),
        }
        if p.client_subject:
            entry["client_certificate_subject"] = p.client_subject
        entry["evidence_bundle"] = bundle_path
        providers.append(entry)
    write_crls(data, pki, test_pki, revoked)
    write_verdicts(data)
    header = (
        "# Demo provider registry (fictitious providers): generated by scripts/make_demo_bundles.py.\n"
        f"# Demo date: {TODAY.isoformat()}. Bundle states:\n"
        + "".join(f"#   {p.id}: {p.state}\n" for p in PROVIDERS)
        + "# How `auditlib demo` stages each endpoint: auditlib/demo_data.py (DEMO_POSTURES).\n"
    )
    body = yaml.safe_dump(
        {"version": 2, "providers": providers}, allow_unicode=True, sort_keys=False, width=100
    )
    write_atomic(data / "registry.yaml", header + body)
    return _verify(data)


CRL_SOURCE_TEXT = f"""\
# The auditor's CRL source for the demo audits (auditlib.audit.revocation; `auditlib demo`
# passes it as crl_source): the demo issuing CAs' CRLs, kept as files. Their signatures are
# checked against the audit's trust anchors (data/pki/ca). Generated by
# scripts/make_demo_bundles.py.
folder: {CRL_DIR}/
offline: true
"""


def write_crls(
    data: Path, pki: TestPki, test_pki: TestPki | None, revoked: list[IssuedCert]
) -> None:
    """One CRL per demo issuing CA, issued the day before the demo date and valid 30 days:
    the production one revokes `revoked`, the TEST one nothing; and `crl-source.yaml`."""
    issued = DEMO_DATE - dt.timedelta(days=1)
    for chain, listed in ((pki, revoked), (test_pki, [])):
        if chain is None:
            continue
        stem = Path(chain.issuing_file).stem
        crl = chain.crl(listed, this_update=issued, next_update_days=30)
        write_atomic(data / CRL_DIR / f"{stem}.crl", crl)
    write_atomic(data / CRL_SOURCE, CRL_SOURCE_TEXT)


def _verify(data: Path) -> int:
    """Load every bundle and verdicts file back and check they show the intended states."""
    from auditlib.audit.verdicts import load_verdicts
    from auditlib.checkpoints.reader import load_checkpoints
    from auditlib.registry import load_registry

    registry = load_registry(data / "registry.yaml")
    grid = load_checkpoints(data / "checkpoints_demo.xlsx")
    bad = 0
    for p in PROVIDERS:
        provider = registry.get(p.id)
        bundle = load_bundle(
            provider.evidence_bundle,
            as_of=DEMO_DATE,
            provider_id=p.id,
            known_requirements=grid.requirements,
        )
        found = {f.code for f in bundle.findings}
        expected = p.expected
        required = {
            c.requirement_id
            for c in grid.controls
            if c.phase.value == "AVANT"
            and c.expected_format
            and any(
                grid.requirements[c.requirement_id].applicability.get(r) for r in provider.roles
            )
        }
        uncovered = bundle.requirements_without_evidence(sorted(required))
        allowed = {"EXI EDC PSC 109", "EXI EDC PSC 110"} if p.pentest_age_days is None else set()
        if p.tamper:  # the tampered BAS report leaves its requirements without intact proof
            allowed |= {f"EXI EDC PSC {r}" for r in BAS_REQUIREMENTS}
        status = (
            "ok"
            if found == expected and bundle.usable and set(uncovered) <= allowed
            else "UNEXPECTED"
        )
        bad += status != "ok"
        print(
            f"{p.id:<22} {bundle.bottom_line.value:<9} {sorted(found)} uncovered={uncovered} [{status}]"
        )
    for file in sorted((data / "verdicts").glob("*.yaml")):
        verdicts = load_verdicts(file, grid, file.stem)
        print(f"verdicts {file.name}: {len(verdicts)} control(s)")
    return 1 if bad else 0


PKI_README = f"""\
# Demo PKI: NOT FOR PRODUCTION

Generated by `scripts/make_demo_bundles.py` with `auditlib.testing.pki.TestPki`: two chains.
A fictitiously named one (`{DEMO_PRODUCTION_ROOT_CN}` / `{DEMO_PRODUCTION_ISSUING_CN}`) that the
demo DECLARES production in `ca/anchors.yaml`, and one named like the IGC-Santé *test* chain
(`TEST AC RACINE IGC-SANTE ELEMENTAIRE` / `TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS`),
declared test. Production or test is that declaration, never the name. Every key here is a
demo key, published on purpose; none was ever issued by ANS. Never trust these CAs anywhere.
Every demo certificate comes from the "production" chain except one planted on a production
endpoint from the TEST chain (`santexpress/server.crt.pem`).

- `crl/`: one CRL per issuing CA (DER, issued the day before the demo date, valid 30 days),
  read through `data/crl-source.yaml`. The production one revokes `medicab/server.crt.pem`;
  the TEST one revokes nothing.
- `proxisante-editions/server.crt.pem` is served on two endpoints (18441 and 18448): the
  planted duplicated key.

- `ca/`: the four CA certificates and `anchors.yaml` (the demo's trust anchors: scans,
  `/traces` fetch, signature verification and the plan's classification use this folder).
- `ca-private/`: the four CA private keys, **demo-only**. They are published so that
  `auditlib demo` can issue the organisation seal certificate (ORG SIGN) under the
  same chain as the endpoints, and signed demo reports verify with `--ca-dir data/pki/ca`
  on any machine. A real audit team's seal comes from IGC-Santé, never from here.
- `<provider>/server.crt.pem` (leaf + issuing CA) and `server.key.pem` (unencrypted):
  served by the demo TLS endpoints listed in `data/registry.yaml`, with the key each
  posture needs (`auditlib/demo_data.py`: ECDSA P-256, RSA-2048, RSA-1024...).
- `cloudproxy-sante/proxy.crt.pem` / `proxy.key.pem`: the Proxy e-Santé endpoint (mTLS,
  names `proxy.cloudproxy-sante.demo.esante.test` and 127.0.0.1).
- `cloudproxy-sante/client.crt.pem` / `client.key.pem`: the mTLS client certificate
  used to reach the Proxy e-Santé endpoint; the key is encrypted with the demo
  passphrase `{DEMO_CLIENT_KEY_PASS}`, read from the environment variable
  `{DEMO_CLIENT_KEY_PASS_ENV}` (never from a file or a notebook parameter).

Dates are relative to the demo date {TODAY.isoformat()}; several certificates expire
within 90 days of it.
"""


if __name__ == "__main__":
    args = sys.argv[1:]
    only_traces = "--traces-only" in args
    args = [a for a in args if a != "--traces-only"]
    target = Path(args[0]) if args else DATA
    sys.exit(refresh_traces(target) if only_traces else main(target))
