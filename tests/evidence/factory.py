"""Builders for evidence bundles used by the evidence, registry and CLI tests."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from auditlib.demo.data import manifest_entry, write_bundle
from auditlib.testing.pki import IssuedCert, TestPki

AS_OF = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)
CERT_START = AS_OF - dt.timedelta(days=400)
PENTEST_DATE = (CERT_START + dt.timedelta(days=30)).date()

SECTIONS = ("Architecture", "Sécurité", "Mises à jour")


def conformite_markdown(
    sections: Iterable[str] = SECTIONS, empty: Iterable[str] = (), placeholder: str = ""
) -> bytes:
    empty = set(empty)
    parts = ["# Document de conformité EDC PSC\n", "Fournisseur : ACME Santé.\n"]
    for number, title in enumerate(sections, start=1):
        parts.append(f"\n## {number}. {title}\n")
        if title not in empty:
            parts.append(f"Contenu détaillé de la section {title}.\n")
        elif placeholder:
            parts.append(f"{placeholder}\n")
    return "".join(parts).encode("utf-8")


def conformite_docx(sections: Iterable[str] = SECTIONS, empty: Iterable[str] = ()) -> bytes:
    import docx

    empty = set(empty)
    document = docx.Document()
    document.add_heading("Document de conformité EDC PSC", level=0)
    for title in sections:
        document.add_heading(title, level=1)
        if title not in empty:
            document.add_paragraph(f"Description de la section {title}.")
        else:
            document.add_paragraph("")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Version"
    table.rows[0].cells[1].text = "1.0"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def server_cert(
    pki: TestPki, not_before: dt.datetime = CERT_START, days: int = 3 * 365
) -> IssuedCert:
    return pki.issue(
        "api.acme.demo.esante.test",
        "server",
        key=("ec", 256),
        not_before=not_before,
        days=days,
        dns_names=["api.acme.demo.esante.test"],
    )


def clean_files(
    pki: TestPki, cert: IssuedCert | None = None
) -> tuple[dict[str, bytes], list[dict[str, Any]]]:
    """Files and manifest items of a complete, clean bundle."""
    cert = cert or server_cert(pki)
    files = {
        "conformite/document-conformite.md": conformite_markdown(),
        "architecture/architecture.md": b"# Architecture\n\nSchema CI-SIS.\n",
        "cgu/engagement-cgu.txt": b"Nous nous engageons a respecter les CGU PSC.\n",
        "pentest/rapport-test-intrusion.pdf": b"%PDF-1.4\n% fake pentest report\n",
        "certs/server.pem": pki.chain_pem(cert),
    }
    day = (AS_OF - dt.timedelta(days=10)).date()
    items = [
        manifest_entry(
            "conformite/document-conformite.md",
            files["conformite/document-conformite.md"],
            "document_conformite",
            [103],
            day,
        ),
        manifest_entry(
            "architecture/architecture.md",
            files["architecture/architecture.md"],
            "architecture_document",
            ["EXI EDC PSC 101"],
            day,
        ),
        manifest_entry(
            "cgu/engagement-cgu.txt", files["cgu/engagement-cgu.txt"], "cgu_commitment", [102], day
        ),
        manifest_entry(
            "pentest/rapport-test-intrusion.pdf",
            files["pentest/rapport-test-intrusion.pdf"],
            "pentest_report",
            [115],
            PENTEST_DATE,
            pentest={
                "passi_firm": "Audit PASSI Demo",
                "scope": "API et proxy",
                "report_date": PENTEST_DATE.isoformat(),
            },
        ),
        manifest_entry(
            "certs/server.pem",
            files["certs/server.pem"],
            "certificate",
            [115, 116],
            day,
            certificate={"use": "tls_server"},
        ),
    ]
    return files, items


def make_bundle(
    folder: Path,
    pki: TestPki,
    *,
    files: dict[str, bytes] | None = None,
    items: list[dict[str, Any]] | None = None,
    provider: str = "acme",
) -> Path:
    if files is None or items is None:
        base_files, base_items = clean_files(pki)
        files = base_files if files is None else files
        items = base_items if items is None else items
    return write_bundle(folder, provider, files, items)


def write_manifest(folder: Path, manifest: Any) -> None:
    (folder / "manifest.yaml").write_text(
        yaml.safe_dump(manifest, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
