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

LANGUAGE_VERSION = "3.11.7"
"""`language_info.version`: the project's Python (the CI image's). JupyterLab writes its
kernel's exact version when it opens a notebook: any other value marks it modified."""

PARAMETERS = '''\
# Paramètres de l'audit (papermill : -p NOM VALEUR). Aucun secret ici : les phrases
# secrètes des clés viennent de variables d'environnement nommées dans le registre.
provider_id = "proxisante-editions"
audit_date = "2026-11-28"
trigger = "certificate_expiry"  # certificate_expiry | supervision_event | initial_entry
trigger_reference = None  # ex. certificat « CN ORG AUTH_CLI », n° 1A2B, expire le 2027-01-05
registry_path = None  # chemin absolu ; défaut : data/registry.yaml du dépôt
checkpoints_path = None  # chemin absolu ; défaut : data/checkpoints_demo.xlsx
scan_results_path = None  # absent : le notebook scanne les points d'accès en direct
verdicts_path = None  # appréciations de l'auditeur (verdicts.yaml de l'audit)
ca_dir = None  # ancres de confiance IGC-Santé (dossier de certificats CA)
crl_source = None  # source de CRL de l'auditeur (YAML) ; absent : révocation non vérifiée
output_dir = None  # défaut : out/<prestataire>_<déclencheur>_<date> sous le dossier courant
previous_findings = None  # findings.json de l'audit précédent ; défaut : le dernier à côté de output_dir
auditor = None
language = "fr"'''

CALL = (
    "desk = Desk.open(\n"
    "    provider_id=provider_id,\n"
    "    audit_date=audit_date,\n"
    "    trigger=trigger,\n"
    "    trigger_reference=trigger_reference,\n"
    "    registry_path=registry_path,\n"
    "    checkpoints_path=checkpoints_path,\n"
    "    scan_results_path=scan_results_path,\n"
    "    verdicts_path=verdicts_path,\n"
    "    ca_dir=ca_dir,\n"
    "    crl_source=crl_source,\n"
    "    auditor=auditor,\n"
    "    language=language,\n"
    ")\n"
)

CELLS: list[tuple[str, str]] = [
    (
        "md",
        "# Rapport d'audit EDC PSC\n\n"
        "Audit d'un prestataire de l'Espace de Confiance Pro Santé Connect : grille de "
        "points de contrôle, dossier de preuves, analyse TLS au regard du guide ANSSI et des "
        "règles IGC-Santé, supervision, appréciations de l'auditeur.\n\n"
        "**Ne pas travailler dans ce modèle** : `auditlib new-audit PRESTATAIRE` crée le "
        "dossier de l'audit (`work/<prestataire>_<déclencheur>_<date>/audit.ipynb`, paramètres "
        "remplis, chemins absolus) et son fichier d'appréciations. Exécuter ensuite toutes les "
        "cellules (Run All). En lot : `auditlib batch`, ou `papermill "
        "notebooks/audit_report.ipynb OUT.ipynb -p provider_id ID`.",
    ),
    ("parameters", PARAMETERS),
    (
        "code",
        "from auditlib.report.desk import Desk\n\n"
        + CALL
        + "run = desk.run  # l'audit tel qu'il est évalué (mis à jour par chaque appréciation : desk.run)\n"
        'desk.show("provider")',
    ),
    ("md", "## Déclaration d'applicabilité"),
    ("code", 'desk.show("applicability")'),
    ("md", "## Synthèse\n\nNombre de contrôles par statut, puis les non-conformités."),
    ("code", 'desk.show("summary")\ndesk.show("nonconformities")'),
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
        "from auditlib import report\n\n"
        "previous = report.previous_audit(desk.run, previous_findings, output_dir)\n"
        "changes = report.changes_for(desk.run, previous)\n"
        'print(f"Audit précédent : {previous.path}" if previous else "Aucun audit précédent.")\n'
        "report.changes_table(changes)",
    ),
    ("md", "Appréciations de l'auditeur contraires à une vérification automatique, à revoir :"),
    ("code", 'desk.show("conflicts")'),
    (
        "md",
        "## Appréciations de l'auditeur\n\n"
        "Les contrôles qu'aucune vérification automatique ne peut juger attendent "
        "l'appréciation de l'auditeur. Le formulaire l'enregistre dans le fichier "
        "d'appréciations de l'audit (`verdicts_path`) et recalcule les tableaux de ce "
        "notebook sur place. Les appréciations du cycle précédent sont proposées, jamais "
        "appliquées d'office. Autres voies : la feuille *Constats* de `grille.xlsx` "
        "(`auditlib verdicts from-grille`), ou le fichier YAML lui-même.",
    ),
    ("code", "desk.show_pending()"),
    ("code", "desk.form()"),
    (
        "md",
        "## Constats par contrôle\n\n"
        'Filtrer : `desk.show("findings", status="non conforme")`, '
        '`desk.show("findings", requirement="115")`, `desk.show("findings", phase="APRES")`.',
    ),
    ("code", 'desk.show("findings")'),
    (
        "md",
        "## Graphiques\n\nLes mêmes images que dans le rapport.",
    ),
    ("code", 'desk.show_chart("status_by_chapter")'),
    ("code", 'desk.show_chart("tls_matrix")'),
    ("code", 'desk.show_chart("certificate_timeline")'),
    ("md", "## TLS : points d'accès et règles ANSSI"),
    ("code", 'desk.show("tls_summary")'),
    ("code", 'desk.show("tls")'),
    ("md", "## Inventaire des preuves (empreintes SHA-256)"),
    ("code", 'desk.show("evidence")'),
    ("md", "## Supervision (traces du Proxy e-Santé)"),
    ("code", 'desk.show("supervision")'),
    (
        "md",
        "## Sorties\n\n`report.html`, `report.pdf`, `grille.xlsx`, `findings.json` dans le "
        "dossier de l'audit (`output_dir`), avec la suite à donner.",
    ),
    ("code", "desk.write_outputs(output_dir, previous=previous)"),
]


def build() -> nbformat.NotebookNode:
    cells = []
    for index, (kind, source) in enumerate(CELLS):
        # Fixed cell ids and empty outputs: regenerating gives the same file, byte for byte.
        if kind == "md":
            cell = new_markdown_cell(source, id=f"cell-{index:02d}")
        else:
            cell = new_code_cell(source, id=f"cell-{index:02d}")
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        cells.append(cell)
    notebook = new_notebook(cells=cells)
    # Complete metadata, as JupyterLab writes it, so that the notebook does not open modified.
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {
        "codemirror_mode": {"name": "ipython", "version": 3},
        "file_extension": ".py",
        "mimetype": "text/x-python",
        "name": "python",
        "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3",
        "version": LANGUAGE_VERSION,
    }
    return notebook


def main() -> None:
    target = Path(__file__).resolve().parent.parent / "notebooks" / "audit_report.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build(), str(target))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
