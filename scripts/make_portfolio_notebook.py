"""Regenerate `notebooks/portfolio.ipynb`, the parameterised portfolio notebook.

Kept as a script so the notebook's source stays reviewable in diffs: every cell only calls
`auditlib.batch.portfolio` (the notebook has no logic of its own), the first code cell is
tagged `parameters` for papermill (no `=` in its comments, so `papermill --help-notebook`
lists every parameter), and no parameter is ever a secret.

    python scripts/make_portfolio_notebook.py
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PARAMETERS = """\
# Paramètres du portefeuille (papermill : -p NOM VALEUR).
audits_dir = "out/demo"  # dossier des dossiers d'audit, par exemple la sortie d'un lot
registry_path = None  # défaut : le registre de démonstration fourni avec auditlib
as_of = None  # date de référence du plan (AAAA-MM-JJ) ; défaut : aujourd'hui
within = "90d"  # fenêtre des audits dus : 90d, 12w, 3m
scan_results_path = None  # défaut : le dernier scans/scan-*.json du dossier des audits
events_path = None  # défaut : supervision/events.csv du dossier des audits, s'il existe
output_dir = None  # où écrire portfolio.html et portfolio.pdf ; défaut : le dossier des audits
pdf = True  # False : portfolio.html seulement"""

CELLS: list[tuple[str, str]] = [
    (
        "md",
        "# Portefeuille d'audits EDC PSC\n\n"
        "Tous les prestataires du registre : conclusion du dernier audit, non-conformités "
        "par exigence et sévérité, évolutions depuis l'audit précédent, plan (audits dus, "
        "expirations de certificats et d'habilitations), événements de supervision. "
        "En lot : `papermill notebooks/portfolio.ipynb OUT.ipynb -p audits_dir out/demo`.",
    ),
    ("parameters", PARAMETERS),
    (
        "code",
        "from auditlib.batch import plan, portfolio\n\n"
        "folio = portfolio.load_portfolio(\n"
        "    audits_dir,\n"
        "    registry_path,\n"
        "    as_of=as_of,\n"
        "    within=plan.parse_duration(within),\n"
        "    scan_results_path=scan_results_path,\n"
        "    events_path=events_path,\n"
        ")\n"
        'print(f"{len(folio.providers)} prestataires, {len(folio.latest())} avec un audit, "\n'
        '      f"{len(folio.due_audits)} audit(s) dû(s) au {folio.as_of.isoformat()}")',
    ),
    ("md", "## Prestataires et conclusion du dernier audit"),
    ("code", "folio.providers_table()"),
    ("code", "folio.nonconformities_chart()"),
    ("md", "## Non-conformités par exigence et sévérité (derniers audits)"),
    ("code", "folio.nonconformities_by_requirement()"),
    ("code", "folio.requirements_chart()"),
    ("code", "folio.nonconformities_list()"),
    (
        "md",
        "## Évolutions depuis l'audit précédent\n\n"
        "Pour chaque prestataire dont le dernier audit a été comparé au précédent "
        "(`changes_since_previous` de `findings.json`).",
    ),
    ("code", "folio.changes_table()"),
    ("md", "## Plan : audits dus dans la fenêtre"),
    ("code", "folio.plan_table()"),
    ("md", "## Calendrier : audits, expirations de certificats et d'habilitations, supervision"),
    ("code", "folio.timeline_chart()"),
    ("code", "folio.timeline_table()"),
    ("md", "## Supervision"),
    ("code", "folio.supervision_table()"),
    ("md", "## Dossiers illisibles ou hors registre"),
    ("code", "folio.problems_table()"),
    ("md", "## Sorties\n\n`portfolio.html` et `portfolio.pdf`."),
    ("code", "outputs = portfolio.write_portfolio(folio, output_dir, pdf=pdf)\noutputs"),
]


def build() -> nbformat.NotebookNode:
    cells = []
    for index, (kind, source) in enumerate(CELLS):
        if kind == "md":
            cell = new_markdown_cell(source)
        else:
            cell = new_code_cell(source)
            if kind == "parameters":
                cell.metadata["tags"] = ["parameters"]
        cell.id = f"portfolio-{index:02d}"  # stable ids: regenerating changes nothing
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
    target = Path(__file__).resolve().parent.parent / "notebooks" / "portfolio.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(build(), str(target))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
