"""Regenerate the demo registry, evidence bundles and test PKI under `data/`.

Six fictitious providers cover the four EDC roles, each with a bundle in a contrasting
state (clean, tampered, missing pentest, pentest older than the certificate, incomplete
document de conformité, zip delivery). Dates are relative to `DEMO_DATE`; keys are new
on every run (so hashes change), everything else is stable. Demo material only.

    python scripts/make_demo_bundles.py [DATA_DIR]
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from auditlib.demo_data import (
    DEMO_CLIENT_KEY_PASS,
    DEMO_CLIENT_KEY_PASS_ENV,
    DEMO_DATE,
    manifest_entry,
    write_bundle,
    zip_folder,
)
from auditlib.evidence import FindingCode, load_bundle
from auditlib.files import write_atomic
from auditlib.pki import IssuedCert, TestPki

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
    mtls_port: int | None = None
    client_subject: str | None = None

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
        state="complet et conforme (certificat proche de l'expiration)",
    ),
    DemoProvider(
        id="medilogic",
        name="MédiLogic",
        organisation="MEDILOGIC",
        habilitation="EDC-EU-2024-0002",
        roles=["editeur_utilisateur"],
        relies_on=["EDC-EP-2024-0001"],
        port=18442,
        cert_age_days=500,
        pentest_age_days=400,
        conformite="md",
        tamper="architecture/architecture-medilogic.md",
        state="fichier altéré après constitution du dossier (empreinte SHA-256 différente)",
        expected={FindingCode.HASH_MISMATCH},
    ),
    DemoProvider(
        id="cloudproxy-sante",
        name="CloudProxy Santé",
        organisation="CLOUDPROXY SANTE",
        habilitation="EDC-FP-2024-0003",
        roles=["fs_proxy"],
        relies_on=["EDC-EP-2024-0001"],
        port=18443,
        mtls_port=18444,
        cert_age_days=20,  # renewed 20 days ago...
        pentest_age_days=300,  # ...but the pentest predates the renewal
        state="test d'intrusion antérieur au certificat actuel",
        expected={FindingCode.PENTEST_OUTDATED},
    ),
    DemoProvider(
        id="medicab",
        name="MédiCab Services",
        organisation="MEDICAB SERVICES",
        habilitation="EDC-FU-2024-0004",
        roles=["fs_utilisateur"],
        relies_on=["EDC-EU-2024-0002", "EDC-FP-2024-0003"],
        port=18445,
        cert_age_days=700,
        pentest_age_days=None,
        conformite="md",
        client_subject="CN=medicab.demo.esante.test,O=MEDICAB SERVICES,C=FR",
        state="rapport de test d'intrusion absent",
        expected={FindingCode.PENTEST_MISSING},
    ),
    DemoProvider(
        id="santexpress",
        name="SantExpress",
        organisation="SANTEXPRESS",
        habilitation="EDC-FU-2024-0005",
        roles=["fs_utilisateur", "editeur_utilisateur"],
        relies_on=["EDC-EP-2024-0001", "EDC-FP-2024-0003"],
        port=18446,
        cert_age_days=3 * 365 - 60,  # expires in ~60 days
        pentest_age_days=90,
        missing_sections=("Mises à jour",),
        empty_sections=("Sécurité",),
        client_subject="CN=santexpress.demo.esante.test,O=SANTEXPRESS,C=FR",
        state="document de conformité incomplet",
        expected={FindingCode.CONFORMITE_SECTION_MISSING, FindingCode.CONFORMITE_SECTION_EMPTY},
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
        state="livré en archive zip, complet et conforme",
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


def build_bundle(p: DemoProvider, pki: TestPki, server: IssuedCert, folder: Path) -> None:
    files: dict[str, bytes] = {}
    items: list[dict[str, Any]] = []

    def add(path: str, data: bytes, kind: str, reqs: list[int], day: dt.date, **extra: Any) -> None:
        files[path] = data
        items.append(manifest_entry(path, data, kind, reqs, day, **extra))

    doc_day = days_ago(15)
    if p.conformite == "docx":
        add(
            "conformite/document-conformite.docx",
            conformite_docx(p),
            "document_conformite",
            [103],
            doc_day,
            title="Document de conformité",
        )
    else:
        add(
            "conformite/document-conformite.md",
            conformite_markdown(p),
            "document_conformite",
            [103],
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
            [115],
            report_day,
            pentest={
                "passi_firm": "Audit Sécurité Démo (PASSI, fictif)",
                "scope": f"{p.sni} et Proxy e-Santé",
                "report_date": report_day.isoformat(),
            },
        )
    add(
        "certs/server.pem",
        pki.chain_pem(server),
        "certificate",
        [115, 116],
        days_ago(p.cert_age_days),
        certificate={"use": "tls_server"},
        title="Certificat serveur SERV SSL_SERV",
    )
    if "editeur_utilisateur" in p.roles or "editeur_proxy" in p.roles:
        add(
            "bas/rapport-tests-bas.md",
            f"# Tests en bac à sable (BAS) — {p.name}\n\nParcours PSC complet validé le {days_ago(50):%d/%m/%Y}.\n".encode(),
            "bas_test_report",
            [103],
            days_ago(50),
        )
    if "fs_proxy" in p.roles:
        traces = [
            {
                "type": "CONNECT_SUCCESS",
                "clientId": "medicab",
                "timestamp": f"{days_ago(3)}T08:00:00Z",
                "dn": "CN=medicab.demo.esante.test,O=MEDICAB SERVICES,C=FR",
            },
            {
                "type": "SEND",
                "clientId": "medicab",
                "timestamp": f"{days_ago(3)}T08:00:02Z",
                "request": {"methode": "GET", "path": "/send/dmp"},
            },
            {"type": "DISCONNECT", "clientId": "medicab", "timestamp": f"{days_ago(3)}T08:05:00Z"},
        ]
        add(
            "supervision/traces.json",
            (json.dumps(traces, indent=2, ensure_ascii=False) + "\n").encode(),
            "supervision_trace_export",
            [116],
            days_ago(2),
        )
    write_bundle(folder, p.id, files, items, prepared_on=days_ago(10))
    if p.tamper:
        target = folder / p.tamper
        target.write_bytes(
            target.read_bytes() + "Flux supplémentaire ajouté après coup.\n".encode()
        )


# --- PKI and registry ------------------------------------------------------------------------


def main(data: Path = DATA) -> int:
    pki = TestPki.create(now=DEMO_DATE)
    for sub in ("bundles", "pki"):
        shutil.rmtree(data / sub, ignore_errors=True)
    pki.write_ca_dir(data / "pki" / "ca")
    write_atomic(data / "pki" / "README.md", PKI_README)
    providers: list[dict[str, Any]] = []
    for p in PROVIDERS:
        start = DEMO_DATE - dt.timedelta(days=p.cert_age_days)
        names = [p.sni] + ([f"proxy.{p.id}.demo.esante.test"] if p.mtls_port else [])
        server = pki.issue(
            p.sni,
            "server",
            not_before=start,
            days=3 * 365,
            dns_names=names,
            organisation=p.organisation,
        )
        pki_dir = data / "pki" / p.id
        write_atomic(pki_dir / "server.crt.pem", pki.chain_pem(server))
        write_atomic(pki_dir / "server.key.pem", server.key_pem())
        endpoints: list[dict[str, Any]] = [
            {"host": "127.0.0.1", "port": p.port, "sni": p.sni, "mtls": False, "label": "API"}
        ]
        if p.mtls_port:
            client = pki.issue(
                "medicab.demo.esante.test",
                "client",
                not_before=DEMO_DATE - dt.timedelta(days=200),
                organisation="MEDICAB SERVICES",
            )
            write_atomic(pki_dir / "client.crt.pem", pki.chain_pem(client))
            write_atomic(pki_dir / "client.key.pem", client.key_pem(DEMO_CLIENT_KEY_PASS.encode()))
            endpoints.append(
                {
                    "host": "127.0.0.1",
                    "port": p.mtls_port,
                    "sni": f"proxy.{p.id}.demo.esante.test",
                    "mtls": True,
                    "client_cert": f"pki/{p.id}/client.crt.pem",
                    "client_key": f"pki/{p.id}/client.key.pem",
                    "key_passphrase_env": DEMO_CLIENT_KEY_PASS_ENV,
                    "label": "Proxy e-Santé (mTLS)",
                }
            )
        folder = data / "bundles" / p.id
        build_bundle(p, pki, server, folder)
        bundle_path = f"bundles/{p.id}"
        if p.zipped:
            zip_folder(folder, data / "bundles" / f"{p.id}.zip")
            shutil.rmtree(folder)
            bundle_path += ".zip"
        entry: dict[str, Any] = {
            "id": p.id,
            "name": p.name,
            "habilitation": p.habilitation,
            "roles": p.roles,
            "relies_on": p.relies_on,
            "endpoints": endpoints,
        }
        if p.client_subject:
            entry["client_certificate_subject"] = p.client_subject
        entry["evidence_bundle"] = bundle_path
        providers.append(entry)
    header = (
        "# Demo provider registry (fictitious providers): generated by scripts/make_demo_bundles.py.\n"
        f"# Demo date: {TODAY.isoformat()}. Bundle states:\n"
        + "".join(f"#   {p.id}: {p.state}\n" for p in PROVIDERS)
    )
    body = yaml.safe_dump(
        {"version": 1, "providers": providers}, allow_unicode=True, sort_keys=False, width=100
    )
    write_atomic(data / "registry.yaml", header + body)
    return _verify(data)


def _verify(data: Path) -> int:
    """Load every bundle back and check it shows exactly the intended findings."""
    from auditlib.registry import load_registry

    registry = load_registry(data / "registry.yaml")
    bad = 0
    for p in PROVIDERS:
        bundle = load_bundle(registry.get(p.id).evidence_bundle, as_of=DEMO_DATE, provider_id=p.id)
        found = {f.code for f in bundle.findings}
        status = "ok" if found == p.expected and bundle.usable else "UNEXPECTED"
        bad += status != "ok"
        print(f"{p.id:<22} {bundle.bottom_line.value:<9} {sorted(found)} [{status}]")
    return 1 if bad else 0


PKI_README = f"""\
# Demo PKI: NOT FOR PRODUCTION

Generated by `scripts/make_demo_bundles.py` with `auditlib.pki.TestPki`, named like
the IGC-Santé *test* chain (`TEST AC RACINE IGC-SANTE ELEMENTAIRE` /
`TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS`). Every key here is a demo key,
published on purpose; none was ever issued by ANS.

- `ca/`: the two CA certificates (trust anchors for the demo).
- `<provider>/server.crt.pem` (leaf + issuing CA) and `server.key.pem` (unencrypted):
  served by the demo TLS endpoints listed in `data/registry.yaml`.
- `cloudproxy-sante/client.crt.pem` / `client.key.pem`: the mTLS client certificate
  used to reach the Proxy e-Santé endpoint; the key is encrypted with the demo
  passphrase `{DEMO_CLIENT_KEY_PASS}`, read from the environment variable
  `{DEMO_CLIENT_KEY_PASS_ENV}` (never from a file or a notebook parameter).

Dates are relative to the demo date {TODAY.isoformat()}; several certificates expire
within 90 days of it.
"""


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA))
