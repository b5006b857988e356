"""The checkpoint parser against workbooks built in code: clean, ugly and broken."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from auditlib.checkpoints.reader import ChecklistError, Phase, load_checkpoints
from auditlib.cli import main
from auditlib.requirements import Actor
from auditlib.testing.workbooks import ANS_V01_COLUMNS, Column, RequirementRows, write_workbook

N1 = "N1 - Document de Conformité ou preuve Ségur"
N2 = "N2 - BAS PSC opérationnel"
DEMO = Path(__file__).resolve().parents[2] / "data" / "checkpoints_demo.xlsx"


def small_requirements() -> list[RequirementRows]:
    """Three requirements: one with three controls, one with controls in every phase."""
    return [
        RequirementRows(
            {
                "requirement_id": "EXI EDC PSC 102",
                "fs_utilisateur": "OUI",
                "editeur_utilisateur": "OUI",
                "fs_proxy": "NON",
                "editeur_proxy": "NON",
                "chapter": "2.1 Documentation",
                "requirement_text": "Engagement CGU",
            },
            [{"avant": "Le FS s'engage à respecter les CGU PSC", "avant_level": N2}],
        ),
        RequirementRows(
            {
                "requirement_id": "EXI EDC PSC 103",
                "fs_utilisateur": "OUI",
                "editeur_utilisateur": "OUI",
                "fs_proxy": "OUI",
                "editeur_proxy": "NON",
            },
            [
                {"avant": "Document fourni", "avant_level": N1, "avant_format": "Document"},
                {"avant": "Sections renseignées", "avant_level": N1},
                {"avant": "Outils décrits", "avant_level": N1, "avant_format": "Section MAJ"},
            ],
        ),
        RequirementRows(
            {
                "requirement_id": "EXI EDC PSC 115",
                "fs_utilisateur": "OUI",
                "editeur_utilisateur": "NON",
                "fs_proxy": "OUI",
                "editeur_proxy": "NON",
            },
            [
                {
                    "avant": "Configuration TLS vérifiée",
                    "avant_level": "N1",
                    "pendant": "Scan périodique",
                    "apres": "Scan TLS",
                    "apres_level": "N3",
                }
            ],
        ),
    ]


def comparable(grid: object) -> list[tuple[object, ...]]:
    """Records without the source cells, to compare layouts that move columns around."""
    frame = grid.to_dataframe().drop(columns=["cell"])  # type: ignore[attr-defined]
    return [tuple(r) for r in frame.astype(str).itertuples(index=False)]


@pytest.fixture
def reference(tmp_path: Path) -> list[tuple[object, ...]]:
    return comparable(load_checkpoints(write_workbook(tmp_path / "ref.xlsx", small_requirements())))


# ------------------------------------------------------------------ demo workbook


def test_demo_workbook_has_the_source_requirements() -> None:
    grid = load_checkpoints(DEMO)
    assert len(grid.requirements) >= 25
    for number in ("101", "102", "103", "115", "116"):
        assert f"EXI EDC PSC {number}" in grid.requirements
    avant_103 = grid.filter(requirement="103", phase="AVANT").controls
    assert [c.index for c in avant_103] == [1, 2, 3]
    assert avant_103[1].expected_format == "Document de conformité entièrement rempli"
    assert avant_103[0].level is not None and avant_103[0].level.label == N1
    assert avant_103[0].cell.startswith("Points de contrôle!K")
    # 102's AVANT cell holds two controls, one per line, with one level per line.
    avant_102 = grid.filter(requirement="EXI-EDC-PSC-102", phase="AVANT").controls
    assert len(avant_102) == 2
    assert avant_102[1].expected_format == "Compte rendu tests conformité BAS"
    assert avant_102[0].cell == avant_102[1].cell
    assert grid.requirements["EXI EDC PSC 101"].applicability[Actor.FS_UTILISATEUR] is False
    assert set(grid.actors) == set(Actor)
    assert {c.phase for c in grid.controls} == set(Phase)
    assert {c.level.code for c in grid.controls if c.level} == {"N1", "N2", "N3", "N4"}
    assert "illustrati" in (grid.requirements["EXI EDC PSC 120"].source_note or "").lower()
    assert grid.warnings == ()


def test_source_cells_point_at_the_control_text() -> None:
    grid = load_checkpoints(DEMO)
    sheet = load_workbook(DEMO)[grid.sheet or ""]
    for control in grid.controls:
        ref = control.cell.split("!")[1]
        assert control.text.split()[0] in " ".join(str(sheet[ref].value).split())


# ------------------------------------------------------------------ ugly layouts


def test_merged_and_unmerged_requirement_cells_give_the_same_grid(
    tmp_path: Path, reference: list[tuple[object, ...]]
) -> None:
    path = write_workbook(tmp_path / "u.xlsx", small_requirements(), merge_requirement_cells=False)
    assert comparable(load_checkpoints(path)) == reference


def test_reordered_and_hidden_columns(tmp_path: Path, reference: list[tuple[object, ...]]) -> None:
    columns = list(ANS_V01_COLUMNS)
    avant = columns[10:13]
    shuffled = [*avant, *columns[6:10][::-1], *columns[13:], *columns[:6]]
    path = write_workbook(
        tmp_path / "r.xlsx",
        small_requirements(),
        columns=shuffled,
        hidden_keys=("fs_proxy", "requirement_text"),
    )
    grid = load_checkpoints(path)
    assert sorted(comparable(grid)) == sorted(reference)
    assert grid.filter(requirement="103").controls[0].cell == "Points de contrôle!A4"


def test_title_rows_blank_lines_and_irrelevant_sheet(
    tmp_path: Path, reference: list[tuple[object, ...]]
) -> None:
    path = write_workbook(
        tmp_path / "t.xlsx",
        small_requirements(),
        title_rows=["Fichier points de contrôles", "version 0.1", "", "diffusion restreinte"],
        blank_rows_between=2,
        extra_sheets={"Historique": [["Version", "Date"], ["0.1", "2024-06-24"]]},
        extra_sheets_first=True,
    )
    grid = load_checkpoints(path)
    assert grid.sheet == "Points de contrôle"
    assert comparable(grid) == reference


def test_messy_cell_values(tmp_path: Path) -> None:
    reqs = small_requirements()
    reqs[0].values.update(
        requirement_id="  exi-edc-psc-102  ", fs_utilisateur=" Oui", editeur_utilisateur="non "
    )
    reqs[1].values.update(requirement_id="EXI EDC PSC 103", fs_utilisateur="OUI\n", fs_proxy="oui")
    reqs[1].rows[0]["avant"] = "  Document\n   fourni  "
    reqs[2].values["requirement_id"] = "EXI EDC PSC 102 - 6"
    grid = load_checkpoints(write_workbook(tmp_path / "m.xlsx", reqs))
    assert grid.requirement_ids() == ["EXI EDC PSC 102", "EXI EDC PSC 102-6", "EXI EDC PSC 103"]
    assert grid.requirements["EXI EDC PSC 102"].applicability[Actor.FS_UTILISATEUR] is True
    assert grid.requirements["EXI EDC PSC 102"].applicability[Actor.EDITEUR_UTILISATEUR] is False
    assert grid.filter(requirement="103").controls[0].text == "Document fourni"


def test_one_row_header_and_accentless_headers(tmp_path: Path) -> None:
    columns = [
        Column("requirement_id", "Numero exigences referentiel EDC"),
        Column("fs_utilisateur", "fs utilisateur"),
        Column("avant", "Controles AVANT"),
        Column("avant_level", "Niveau AVANT"),
        Column("avant_format", "Format avant"),
        Column("pendant", "CONTROLES PENDANT (supervision)"),
    ]
    grid = load_checkpoints(
        write_workbook(
            tmp_path / "f.xlsx", small_requirements(), columns=columns, two_row_header=False
        )
    )
    assert grid.actors == (Actor.FS_UTILISATEUR,)
    assert len(grid.filter(phase="AVANT")) == 5
    assert grid.filter(requirement="115", phase="PENDANT").controls[0].text == "Scan périodique"
    assert grid.filter(requirement="103").controls[0].expected_format == "Document"


def test_unknown_columns_are_kept_and_reported(tmp_path: Path) -> None:
    columns = [*ANS_V01_COLUMNS, Column("remark", "Observations internes")]
    reqs = small_requirements()
    reqs[1].rows[0]["remark"] = "à revoir"
    grid = load_checkpoints(write_workbook(tmp_path / "x.xlsx", reqs, columns=columns))
    assert any("Observations internes" in w for w in grid.warnings)
    frame = grid.to_dataframe()
    assert frame.loc[frame["ref"] == "EXI EDC PSC 103/AVANT/1", "Observations internes"].item() == (
        "à revoir"
    )


# ------------------------------------------------------------------ filters and exports


def test_filters(tmp_path: Path) -> None:
    grid = load_checkpoints(write_workbook(tmp_path / "g.xlsx", small_requirements()))
    assert len(grid) == 7
    assert {c.requirement_id for c in grid.filter(actor="fs_proxy")} == {
        "EXI EDC PSC 103",
        "EXI EDC PSC 115",
    }
    assert len(grid.filter(actor=["editeur_utilisateur", "fs_proxy"])) == 7
    assert [c.ref for c in grid.filter(phase="apres")] == ["EXI EDC PSC 115/APRES/1"]
    assert len(grid.filter(level="n1")) == 4
    assert grid.requirement_ids(Actor.EDITEUR_UTILISATEUR) == ["EXI EDC PSC 102", "EXI EDC PSC 103"]
    with pytest.raises(ChecklistError, match="unknown actor"):
        grid.filter(actor="auditeur")
    with pytest.raises(ChecklistError, match="unknown phase"):
        grid.filter(phase="PLUS TARD")


def test_filter_on_an_actor_the_workbook_lacks(tmp_path: Path) -> None:
    columns = [c for c in ANS_V01_COLUMNS if c.key not in ("fs_proxy", "editeur_proxy")]
    grid = load_checkpoints(
        write_workbook(tmp_path / "a.xlsx", small_requirements(), columns=columns)
    )
    assert grid.actors == (Actor.FS_UTILISATEUR, Actor.EDITEUR_UTILISATEUR)
    with pytest.raises(ChecklistError, match="no applicability column for fs_proxy"):
        grid.filter(actor="fs_proxy")


def test_exports_round_trip(tmp_path: Path) -> None:
    grid = load_checkpoints(write_workbook(tmp_path / "e.xlsx", small_requirements()))
    csv_frame = pd.read_csv(grid.export(tmp_path / "out.csv"))
    assert list(csv_frame["ref"]) == [c.ref for c in grid.controls]
    record = json.loads(grid.export(tmp_path / "out.json").read_text(encoding="utf-8"))
    assert record["schema_version"] == "1.0"
    assert record["source_sha256"] == grid.source_sha256
    assert [c["cell"] for c in record["controls"]] == [c.cell for c in grid.controls]
    xlsx_frame = pd.read_excel(grid.export(tmp_path / "out.xlsx"))
    assert list(xlsx_frame["control"]) == [c.text for c in grid.controls]
    with pytest.raises(ChecklistError, match="unknown export format"):
        grid.export(tmp_path / "out.pdf")
    assert not list(tmp_path.glob(".out*"))  # no temporary file left behind


# ------------------------------------------------------------------ errors


def test_every_problem_is_listed_with_its_cell(tmp_path: Path) -> None:
    reqs = small_requirements()
    reqs[0].values["fs_utilisateur"] = "Peut-être"
    reqs[1].rows[1]["avant_level"] = "Niveau élevé"
    reqs[1].rows[2]["avant"] = "Document fourni"  # same text as row one: a duplicate
    reqs[2].values["requirement_id"] = "Exigence 115"
    orphan = RequirementRows({}, [{"avant": "Contrôle orphelin", "avant_level": N1}])
    path = write_workbook(tmp_path / "bad.xlsx", [orphan, *reqs], merge_requirement_cells=False)
    with pytest.raises(ChecklistError) as caught:
        load_checkpoints(path)
    problems = "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 5, problems
    assert "Points de contrôle!K3: control without a requirement" in problems
    assert "Points de contrôle!G4: 'Peut-être' is not OUI or NON" in problems
    assert "Points de contrôle!L6: unknown level 'Niveau élevé'" in problems
    assert "Points de contrôle!K7: duplicated control of EXI EDC PSC 103" in problems
    assert "Points de contrôle!E8: 'Exigence 115' is not a requirement id" in problems


def test_missing_required_column_and_no_controls(tmp_path: Path) -> None:
    no_id = [c for c in ANS_V01_COLUMNS if c.key != "requirement_id"]
    with pytest.raises(ChecklistError, match="no sheet has a checkpoint header") as caught:
        load_checkpoints(write_workbook(tmp_path / "n.xlsx", small_requirements(), columns=no_id))
    assert any("Points de contrôle: no header row" in p for p in caught.value.problems)
    only_ids = [c for c in ANS_V01_COLUMNS if c.key in ("requirement_id", "fs_utilisateur")]
    with pytest.raises(ChecklistError, match="unusable header") as caught:
        load_checkpoints(
            write_workbook(tmp_path / "c.xlsx", small_requirements(), columns=only_ids)
        )
    assert any("no control column" in p for p in caught.value.problems)


def test_duplicate_header_column(tmp_path: Path) -> None:
    columns = [*ANS_V01_COLUMNS, Column("fs_utilisateur", "FS Utilisateur")]
    with pytest.raises(ChecklistError) as caught:
        load_checkpoints(write_workbook(tmp_path / "d.xlsx", small_requirements(), columns=columns))
    assert any("duplicates the column G" in p for p in caught.value.problems)


def test_named_sheet_missing_or_empty(tmp_path: Path) -> None:
    path = write_workbook(
        tmp_path / "s.xlsx",
        small_requirements(),
        extra_sheets={"Vide": []},
        extra_sheets_first=True,
    )
    with pytest.raises(ChecklistError, match=r"no sheet named 'Grille'.*Vide, Points de contrôle"):
        load_checkpoints(path, sheet="Grille")
    with pytest.raises(ChecklistError, match="sheet 'Vide' cannot be used") as caught:
        load_checkpoints(path, sheet="Vide")
    assert caught.value.problems == ["Vide: the sheet is empty"]


def test_header_without_rows(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError, match="no requirement rows"):
        load_checkpoints(write_workbook(tmp_path / "h.xlsx", []))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"requirement;control\n103;x\n", "not an .xlsx workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "password-protected"),
        (b"PK\x03\x04 truncated zip", "corrupted"),
    ],
)
def test_unusable_files_give_one_sentence(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "book.xlsx"
    path.write_bytes(content)
    with pytest.raises(ChecklistError, match=message) as caught:
        load_checkpoints(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_zip_that_is_not_a_workbook_and_damaged_workbook(tmp_path: Path) -> None:
    other = tmp_path / "other.xlsx"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("word/document.xml", "<w/>")
    with pytest.raises(ChecklistError, match=r"no xl/workbook\.xml"):
        load_checkpoints(other)
    good = write_workbook(tmp_path / "good.xlsx", small_requirements())
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/workbook.xml":
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    with pytest.raises(ChecklistError, match="corrupted"):
        load_checkpoints(damaged)


def test_missing_path_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ChecklistError, match="no such file"):
        load_checkpoints(tmp_path / "absent.xlsx")
    with pytest.raises(ChecklistError, match="is a folder"):
        load_checkpoints(tmp_path)


def test_workbook_with_only_empty_sheets(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    Workbook().save(path)
    with pytest.raises(ChecklistError, match="no sheet has a checkpoint header") as caught:
        load_checkpoints(path)
    assert caught.value.problems == ["Sheet: the sheet is empty"]


# ------------------------------------------------------------------ CLI


def test_cli_table_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["checkpoints", str(DEMO), "--phase", "apres", "--actor", "fs_utilisateur"]) == 0
    out = capsys.readouterr().out
    assert "EXI EDC PSC 115/APRES/1" in out and "/AVANT/" not in out
    assert main(["checkpoints", str(DEMO), "--format", "json", "--requirement", "103"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert len(record["controls"]) == 3
    out_file = tmp_path / "grid.xlsx"
    assert main(["checkpoints", str(DEMO), "--format", "xlsx", "--output", str(out_file)]) == 0
    assert out_file.exists()
    assert main(["checkpoints", str(DEMO), "--format", "xlsx"]) == 2
    assert "needs --output" in capsys.readouterr().err
    bad = tmp_path / "bad.xlsx"
    reqs = small_requirements()
    reqs[0].values["fs_utilisateur"] = "peut-être"
    reqs[1].rows[0]["avant_level"] = "N9"
    write_workbook(bad, reqs)
    assert main(["checkpoints", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "G3: 'peut-être' is not OUI or NON" in err and "L4: unknown level 'N9'" in err
    assert "Traceback" not in err


def test_demo_command_without_its_data_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the whole demo (servers, batch, seals) is tested end to end in tests/test_demo.py
    assert main(["demo", "--data", str(tmp_path)]) == 2
    assert "demo workbook" in capsys.readouterr().err
