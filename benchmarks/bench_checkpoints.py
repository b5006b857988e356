"""Checkpoint parsing speed: `load_checkpoints` vs `pandas.read_excel(header=[0, 1])`.

Generates a 20,000-control workbook in the ANS v0.1 layout (three controls per
requirement, merged requirement cells), then times both readers on the same file in
the same run. Target: ratio <= 1.5 (we do more work than pandas' plain read).

Formulas (issue 15): the reader takes formula texts from a scan of the sheet's XML
(every workbook pays it: one decompression and one regex search); the scan is timed
alone, and a copy of the workbook holding a formula (a control text) is timed too.

    python benchmarks/bench_checkpoints.py [--controls N] [--repeat K]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd

from auditlib.checkpoints.reader import _formulas_in_xml, load_checkpoints
from auditlib.testing.workbooks import RequirementRows, write_workbook


def synthetic_requirements(controls: int) -> list[RequirementRows]:
    reqs = []
    per_req = 3
    for n in range(controls // per_req + (1 if controls % per_req else 0)):
        count = min(per_req, controls - n * per_req)
        reqs.append(
            RequirementRows(
                {
                    "requirement_id": f"EXI EDC PSC {1000 + n}",
                    "chapter": f"Chapitre {n // 50}",
                    "requirement_text": f"Exigence synthétique numéro {n} pour la mesure",
                    "fs_utilisateur": "OUI",
                    "editeur_utilisateur": "NON" if n % 2 else "Oui",
                    "fs_proxy": "OUI",
                    "editeur_proxy": "non ",
                },
                [
                    {
                        "avant": f"Contrôle {i} de l'exigence {n} : l'auditeur vérifie la preuve",
                        "avant_level": "N1 - Document de Conformité ou preuve Ségur",
                        "avant_format": "Document de conformité",
                        "pendant": f"Supervision {i} de l'exigence {n}" if i == 0 else None,
                    }
                    for i in range(count)
                ],
            )
        )
    return reqs


def best_of(repeat: int, func: object) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--controls", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.xlsx"
        write_workbook(path, synthetic_requirements(args.controls), styled=False)
        grid = load_checkpoints(path)
        avant = len(grid.filter(phase="AVANT"))
        assert avant == args.controls, (avant, args.controls)
        with_formula = Path(tmp) / "bench-formula.xlsx"
        reqs = synthetic_requirements(args.controls)
        reqs[0].rows[0]["avant"] = '=HYPERLINK("http://example.invalid","x")'
        write_workbook(with_formula, reqs, styled=False)
        assert any("formula" in w for w in load_checkpoints(with_formula).warnings)
        ours = best_of(args.repeat, lambda: load_checkpoints(path))
        with zipfile.ZipFile(path) as archive:
            scan = best_of(
                args.repeat,
                lambda: _formulas_in_xml(archive.read("xl/worksheets/sheet1.xml")),
            )
        ours_formula = best_of(args.repeat, lambda: load_checkpoints(with_formula))
        theirs = best_of(args.repeat, lambda: pd.read_excel(path, header=[0, 1]))
    print(f"workbook: {args.controls} AVANT controls ({len(grid)} controls in all)")
    print(f"load_checkpoints                  : {ours:7.3f} s (best of {args.repeat})")
    print(f"  of which the formula scan       : {scan:7.3f} s ({100 * scan / ours:.1f} %)")
    print(f"load_checkpoints, one formula     : {ours_formula:7.3f} s (best of {args.repeat})")
    print(f"pandas.read_excel(header=[0, 1])  : {theirs:7.3f} s (best of {args.repeat})")
    print(f"ratio ours / pandas               : {ours / theirs:7.2f}  (target <= 1.5)")
    print(f"ratio ours (formula) / pandas     : {ours_formula / theirs:7.2f}")
    print(f"ratio formula / no formula        : {ours_formula / ours:7.2f}")


if __name__ == "__main__":
    main()
