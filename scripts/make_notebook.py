"""Regenerate `notebooks/audit_report.ipynb`, the parameterised audit notebook.

Kept as a script so the notebook's source stays reviewable in diffs: every cell
only calls `auditlib` (the notebook has no logic of its own), the first code cell is
tagged `parameters` for papermill, and no parameter is ever a secret.

    python scripts/make_notebook.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PARAMETERS = '''\
# Paramètres de l'audit (papermill : -p NOM VALEUR). Aucun secret ici : les phrases
# secrètes des clés viennent de variables d'environnement nommées dans le registre.
provider_id = "proxisante-editions"
audit_date = "2026-11-28"
trigger = "certificate_expiry"  # certificate_expiry | supervision_event | initial_entry
trigger_reference = None  # ex. certificat « CN ORG AUTH_CLI », n° 1A2B, expire le 2027-01-05
registry_path = None  # défaut : data/registry.yaml du dépôt
checkpoints_path = None  # défaut : data/checkpoints_demo.xlsx
scan_results_path = None  # absent : le notebook scanne les points d'accès en direct
verdicts_path = None  # appréciations de l'auditeur (verdicts.yaml)
ca_dir = None  # ancres de confiance IGC-Santé (dossier de certificats CA)
output_dir = None  # défaut : out/<prestataire>_<déclencheur>_<date>
previous_findings = None  # findings.json de l'audit précédent ; défaut : le dernier à côté de output_dir
auditor = None
language = "fr"'''

CELLS: list[tuple[str, str]] = [
    (
        "md",
        "# Rapport d'audit EDC PSC\n\n"
        "Audit d'un prestataire de l'Espace de Confiance Pro Santé Connect : grille de "
        "points de contrôle, dossier de preuves, analyse TLS au regard du guide ANSSI et des "
        "règles IGC-Santé, supervision, appréciations de l'auditeur. Exécuter de haut en bas "
        "(JupyterLab) ou en lot : `papermill notebooks/audit_report.ipynb OUT.ipynb -p "
        "provider_id ID`.",
    ),
    ("parameters", PARAMETERS),
    (
        "code",
        "from auditlib import audit, report\n\n"
        "run = audit.run_audit(\n"
        "    audit.AuditSettings.from_parameters(\n"
        "        provider_id=provider_id,\n"
        "        audit_date=audit_date,\n"
        "        trigger=trigger,\n"
        "        trigger_reference=trigger_reference,\n"
        "        registry_path=registry_path,\n"
        "        checkpoints_path=checkpoints_path,\n"
        "        scan_results_path=scan_results_path,\n"
        "        verdicts_path=verdicts_path,\n"
        "        ca_dir=ca_dir,\n"
        "        auditor=auditor,\n"
        "        language=language,\n"
        "    )\n"
        ")\n"
        "run.provider_table()",
    ),
    ("md", "## Déclaration d'applicabilité"),
    ("code", "run.applicability_table()"),
    ("md", "## Synthèse\n\nNombre de contrôles par statut, puis les non-conformités."),
    ("code", "run.summary_table()"),
    ("code", "run.nonconformities_table()"),
    (
        "md",
        "## Évolutions depuis l'audit précédent\n\n"
        "Non-conformités nouvelles, levées et persistantes (par référence de contrôle) et "
        "changements de statut, par rapport au `findings.json` de l'audit précédent du même "
        "prestataire (paramètre `previous_findings`, sinon le dernier audit antérieur trouvé "
        "à côté du dossier de sortie).",
    ),
    (
        "code",
        "previous = report.previous_audit(run, previous_findings, output_dir)\n"
        "changes = report.changes_for(run, previous)\n"
        'print(f"Audit précédent : {previous.path}" if previous else "Aucun audit précédent.")\n'
        "report.changes_table(changes)",
    ),
    ("md", "Appréciations de l'auditeur contraires à une vérification automatique, à revoir :"),
    ("code", "run.conflicts_table()"),
    (
        "md",
        "## Constats par contrôle\n\n"
        'Filtrer : `run.findings_table(status="non conforme")`, '
        '`run.findings_table(requirement="115")`, `run.findings_table(phase="APRES")`.',
    ),
    ("code", "run.findings_table()"),
    (
        "md",
        "## Graphiques\n\nLes mêmes images que dans le rapport (`report.chart(run, nom, langue)`).",
    ),
    ("code", 'report.chart(run, "status_by_chapter")'),
    ("code", 'report.chart(run, "tls_matrix")'),
    ("code", 'report.chart(run, "certificate_timeline")'),
    ("md", "## TLS : points d'accès et règles ANSSI"),
    ("code", "run.tls_summary()"),
    ("code", "run.tls_table()"),
    ("md", "## Inventaire des preuves (empreintes SHA-256)"),
    ("code", "run.evidence_table()"),
    ("md", "## Supervision (traces du Proxy e-Santé)"),
    ("code", "run.supervision_table()"),
    (
        "md",
        "## Sorties\n\n`report.html`, `report.pdf`, `grille.xlsx`, `findings.json` dans le "
        "dossier de l'audit.",
    ),
    ("code", "outputs = report.write_outputs(run, output_dir, previous=previous)\noutputs"),
]


def build() -> nbformat.NotebookNode:
    cells = []
    for kind, source in CELLS:
        if kind == "md":
            cells.append(new_markdown_cell(source))
        else:
            cell = new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
            cells.append(cell)
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def main() -> None:
    target = Path(__file__).resolve().parent.parent / "notebooks" / "audit_report.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build(), str(target))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
