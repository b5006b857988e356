"""Regenerate `data/checkpoints_demo.xlsx`, the demo checkpoint workbook (ANS v0.1 layout).

Requirements 101, 102, 103, 115 and 116 carry the text the ANS concertation document
(June 2024) shows; every other requirement is illustrative, written for the demo and
marked as such in the "Source de l'exigence" column and in the sheet title.

    python scripts/make_demo_workbook.py [OUTPUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

from auditlib.testing.workbooks import RequirementRows, write_workbook

SOURCE = "ANS, concertation EDC PSC, juin 2024"
SOURCE_PARTIAL = "ANS, juin 2024 (colonnes E à N) ; autres colonnes illustratives"
ILLUSTRATIVE = "Illustratif (démo, non ANS)"
N1 = "N1 - Document de Conformité ou preuve Ségur"
N2 = "N2 - BAS PSC opérationnel"
CH_DOC = "2.1 Documentation et conformité (illustratif)"
CH_CRYPTO = "2.8 Chiffrement et sécurisation des canaux d'échanges"
ALL = ("OUI", "OUI", "OUI", "OUI")


def req(
    number: str,
    chapter: str,
    text: str,
    actors: tuple[str, str, str, str],
    rows: list[dict[str, object]],
    source: str = ILLUSTRATIVE,
) -> RequirementRows:
    fs_u, ed_u, fs_p, ed_p = actors
    return RequirementRows(
        values={
            "requirement_id": f"EXI EDC PSC {number}",
            "chapter": chapter,
            "requirement_text": text,
            "source_note": source,
            "fs_utilisateur": fs_u,
            "editeur_utilisateur": ed_u,
            "fs_proxy": fs_p,
            "editeur_proxy": ed_p,
        },
        rows=rows,
    )


def demo_requirements() -> list[RequirementRows]:
    reqs = [
        req(
            "101",
            CH_DOC,
            "Le Fournisseur de Service fournit une documentation d'architecture conforme au CI-SIS.",
            ("NON", "NON", "OUI", "NON"),
            [
                {
                    "avant": "Le Fournisseur de Service est en mesure de fournir une documentation "
                    "d'architecture conforme au CI-SIS dans le Document de conformité section "
                    '"Architecture" ou dans un autre document identifié par l\'audité comme étant',
                    "avant_level": N1,
                    "avant_format": "Documentation d'architecture fournie conforme au CI-SIS",
                    "pendant": "PSC et le service cible doivent être en mesure de couper toute "
                    "connexion faisant état d'un message au regard du CI-SIS",
                    "pendant_format": "Traces de supervision du Proxy e-Santé (illustratif)",
                    "apres": "L'auditeur vérifie que l'architecture déployée correspond à la "
                    "documentation fournie (illustratif)",
                    "apres_level": "N3",
                    "apres_format": "Rapport d'audit",
                }
            ],
            SOURCE_PARTIAL,
        ),
        req(
            "102",
            CH_DOC,
            "Le Fournisseur de Service s'engage à respecter les CGU PSC.",
            ("OUI", "OUI", "OUI", "OUI"),
            [
                {
                    # One cell, two controls, one level per line: as the source shows it.
                    "avant": "Le Fournisseur de Service s'engage à respecter les CGU PSC\n"
                    "L'auditeur doit vérifier que l'ensemble des points de contrôles du "
                    "document sont validés (type de vérification dépendant des exigences)",
                    "avant_level": f"{N2}\n{N2}",
                    "avant_format": "Engagement contractualisé\nCompte rendu tests conformité BAS",
                }
            ],
            SOURCE_PARTIAL,
        ),
        req(
            "103",
            CH_DOC,
            'Un Document de conformité existe, toutes ses sections sont renseignées et sa section "Mises à jour" décrit l\'outillage qualité, sécurité et obsolescence.',
            ("OUI", "OUI", "OUI", "OUI"),
            [
                {
                    "avant": "L'auditeur doit vérifier qu'un Document de conformité a été fourni "
                    "lors de la création du système et/ou l'implémentation de nouvelles "
                    "fonctionnalités",
                    "avant_level": N1,
                    "avant_format": "Document de conformité ou autre document équivalent fourni "
                    "et section \"Mises à jour\" complétée s'il ne s'agit pas d'une première "
                    "version",
                },
                {
                    "avant": "L'auditeur doit vérifier que l'ensemble des sections du Document "
                    "de conformité sont bien renseignées",
                    "avant_level": N1,
                    "avant_format": "Document de conformité entièrement rempli",
                },
                {
                    "avant": "L'auditeur doit vérifier qu'il y a une description des outils mis "
                    "en place permettant d'assurer la qualité, la sécurité du code et la gestion "
                    "de l'obsolescence des bibliothèques dans le Document de conformité section",
                    "avant_level": N1,
                    "avant_format": 'Document de conformité section "Mise à jour" complétée ou '
                    "autre document équivalent fourni",
                },
            ],
            SOURCE_PARTIAL,
        ),
    ]
    illustrative = [
        (
            "104",
            CH_DOC,
            "Le Fournisseur de Service tient à jour l'inventaire des composants logiciels et de leurs versions.",
            ALL,
            N1,
            "Inventaire des composants",
            None,
            "N3",
        ),
        (
            "105",
            CH_DOC,
            "L'éditeur publie les notes de version de chaque mise à jour de sécurité.",
            ("NON", "OUI", "NON", "OUI"),
            N1,
            "Notes de version",
            None,
            None,
        ),
        (
            "106",
            "2.2 Habilitations (illustratif)",
            "Le Fournisseur de Service dispose d'une habilitation EDC en cours de validité.",
            ALL,
            N2,
            "Numéro d'habilitation",
            "Contrôle de la validité de l'habilitation",
            "N4",
        ),
        (
            "107",
            "2.2 Habilitations (illustratif)",
            "Le Fournisseur de Service Utilisateur s'appuie sur des habilitations valides de l'éditeur et du FS Proxy e-Santé.",
            ("OUI", "NON", "NON", "NON"),
            N1,
            "Références des habilitations",
            None,
            None,
        ),
        (
            "108",
            "2.3 Bac à sable (illustratif)",
            "L'éditeur a passé les tests de conformité du bac à sable PSC.",
            ("NON", "OUI", "NON", "OUI"),
            N2,
            "Compte rendu tests conformité BAS",
            None,
            None,
        ),
        (
            "109",
            "2.4 Test d'intrusion (illustratif)",
            "Un test d'intrusion EDC est réalisé par un prestataire PASSI et renouvelé avant chaque expiration des certificats.",
            ("OUI", "NON", "OUI", "NON"),
            N1,
            "Rapport de test d'intrusion PASSI",
            None,
            "N3",
        ),
        (
            "110",
            "2.4 Test d'intrusion (illustratif)",
            "Les vulnérabilités relevées par le test d'intrusion sont corrigées selon un plan daté.",
            ("OUI", "NON", "OUI", "NON"),
            N1,
            "Plan de remédiation",
            None,
            "N4",
        ),
        (
            "111",
            "2.5 Jetons et sessions (illustratif)",
            "Les jetons PSC ne sont jamais journalisés en clair.",
            ALL,
            N2,
            "Extrait de configuration des journaux",
            "Absence de jeton dans les traces",
            None,
        ),
        (
            "112",
            "2.5 Jetons et sessions (illustratif)",
            "Le Proxy e-Santé ferme la session à la déconnexion de l'utilisateur.",
            ("NON", "NON", "OUI", "OUI"),
            N2,
            "Démonstration BAS",
            "Session fermée par DISCONNECT",
            "N3",
        ),
        (
            "113",
            "2.6 Supervision (illustratif)",
            "Le Proxy e-Santé expose ses traces au processus de contrôle de conformité.",
            ("NON", "NON", "OUI", "OUI"),
            N2,
            "Accès /traces démontré",
            "Export de traces horodatées",
            "N3",
        ),
        (
            "114",
            "2.6 Supervision (illustratif)",
            "Chaque appel relayé porte l'identifiant de session, l'identifiant RPPS et l'identifiant client.",
            ("NON", "NON", "OUI", "OUI"),
            N2,
            "Démonstration BAS",
            "Traces SEND complètes",
            None,
        ),
        (
            "117",
            CH_CRYPTO,
            "Les certificats IGC-Santé sont renouvelés avant leur expiration.",
            ("OUI", "NON", "OUI", "NON"),
            N1,
            "Certificats en cours de validité",
            "Alerte d'expiration",
            "N3",
        ),
        (
            "118",
            CH_CRYPTO,
            "Les clés privées d'authentification sont protégées (HSM ou magasin chiffré).",
            ("OUI", "NON", "OUI", "NON"),
            N1,
            "Description du stockage des clés",
            None,
            "N4",
        ),
        (
            "119",
            CH_CRYPTO,
            "L'authentification mutuelle TLS est exigée sur les API Pro Santé Connectées.",
            ("OUI", "NON", "OUI", "NON"),
            N2,
            "Scan TLS",
            "Connexions sans certificat client refusées",
            None,
        ),
        (
            "120",
            "2.6 Supervision (illustratif)",
            "Les échecs de connexion répétés d'un même client sont détectés et traités.",
            ("NON", "NON", "OUI", "OUI"),
            None,
            None,
            "Alerte sur rafales de CONNECT_FAILURE",
            None,
        ),
        (
            "121",
            "2.6 Supervision (illustratif)",
            "Le sujet du certificat client mTLS est contrôlé à chaque connexion.",
            ("NON", "NON", "OUI", "NON"),
            None,
            None,
            "Sujet (dn) présent et conforme dans les traces",
            "N3",
        ),
        (
            "122",
            "2.6 Supervision (illustratif)",
            "Les traces sont continues et horodatées dans l'ordre.",
            ("NON", "NON", "OUI", "OUI"),
            None,
            None,
            "Absence de trou de traces",
            None,
        ),
        (
            "123",
            "2.7 Gestion des incidents (illustratif)",
            "Le Fournisseur de Service notifie à l'ANS tout incident de sécurité.",
            ("OUI", "NON", "OUI", "NON"),
            N1,
            "Procédure de notification",
            "Incidents notifiés",
            "N3",
        ),
        (
            "124",
            "2.7 Gestion des incidents (illustratif)",
            "Un plan de continuité couvre l'indisponibilité du Proxy e-Santé.",
            ("OUI", "NON", "OUI", "NON"),
            N1,
            "Plan de continuité",
            None,
            "N4",
        ),
        (
            "125",
            "2.9 Données de santé (illustratif)",
            "L'hébergement des données de santé est certifié HDS.",
            ("OUI", "NON", "OUI", "NON"),
            N1,
            "Certificat HDS",
            None,
            "N3",
        ),
        (
            "126",
            "2.9 Données de santé (illustratif)",
            "L'éditeur documente les flux de données personnelles.",
            ("NON", "OUI", "NON", "OUI"),
            N1,
            "Registre des traitements",
            None,
            None,
        ),
        (
            "127",
            "2.10 Cycle de vie (illustratif)",
            "L'éditeur corrige les vulnérabilités critiques des bibliothèques dans un délai documenté.",
            ("NON", "OUI", "NON", "OUI"),
            N1,
            'Document de conformité section "Mises à jour"',
            "Versions des bibliothèques",
            "N3",
        ),
        (
            "128",
            "2.10 Cycle de vie (illustratif)",
            "Les versions déployées en production sont celles qualifiées en bac à sable.",
            ("OUI", "OUI", "OUI", "OUI"),
            N2,
            "Compte rendu BAS",
            "Version déclarée dans les traces",
            "N4",
        ),
    ]
    for number, chapter, text, actors, level, fmt, pendant, apres_level in illustrative:
        row: dict[str, object] = {}
        if level:
            row.update(
                avant=f"L'auditeur vérifie : {text[0].lower()}{text[1:]}",
                avant_level=level,
                avant_format=fmt,
            )
        if pendant:
            row.update(pendant=f"Supervision : {pendant.lower()}", pendant_format=pendant)
        if apres_level:
            row.update(
                apres=f"Audit approfondi de l'exigence {number}",
                apres_level=apres_level,
                apres_format="Rapport d'audit EDC",
            )
        reqs.append(req(number, chapter, text, actors, [row]))
    reqs.insert(
        len([r for r in reqs if str(r.values["requirement_id"]) < "EXI EDC PSC 115"]),
        req(
            "115",
            CH_CRYPTO,
            "Le Fournisseur de Service DOIT maintenir à jour les mécanismes cryptographiques "
            "utilisés et les tailles de clés correspondantes conformément aux recommandations "
            "de l'ANSSI",
            ("OUI", "NON", "OUI", "NON"),
            [
                {
                    "avant": "L'auditeur vérifie la configuration TLS des points d'accès au regard "
                    "du guide TLS de l'ANSSI (illustratif)",
                    "avant_level": N1,
                    "avant_format": "Scan TLS et configuration documentée",
                    "pendant": "Supervision de la configuration TLS exposée (illustratif)",
                    "pendant_format": "Scan TLS périodique",
                    "apres": "Scan TLS des points d'accès au regard du guide TLS de l'ANSSI et "
                    "du RGS B1 (illustratif)",
                    "apres_level": "N3",
                    "apres_format": "Rapport de scan TLS",
                },
                {
                    "avant": "L'auditeur vérifie les tailles de clés et les algorithmes des "
                    "certificats (RGS annexe B1) (illustratif)",
                    "avant_level": N1,
                    "avant_format": "Certificats fournis",
                },
            ],
            SOURCE_PARTIAL,
        ),
    )
    reqs.insert(
        len([r for r in reqs if str(r.values["requirement_id"]) < "EXI EDC PSC 116"]),
        req(
            "116",
            CH_CRYPTO,
            "Le Fournisseur de Service DOIT appliquer la politique de gestion des clés "
            "cryptographiques de l'IGC-Santé publiée par l'Agence du Numérique en Santé",
            ALL,
            [
                {
                    "avant": "L'auditeur vérifie que les certificats d'authentification sont "
                    "émis par l'IGC-Santé (illustratif)",
                    "avant_level": N1,
                    "avant_format": "Certificats IGC-Santé fournis",
                    "apres": "L'auditeur vérifie la chaîne de certification et les dates "
                    "d'expiration des certificats (illustratif)",
                    "apres_level": "N3",
                    "apres_format": "Rapport de scan et certificats",
                }
            ],
            SOURCE_PARTIAL,
        ),
    )
    return reqs


def main(argv: list[str]) -> int:
    output = (
        Path(argv[1])
        if len(argv) > 1
        else Path(__file__).parent.parent / "data" / "checkpoints_demo.xlsx"
    )
    path = write_workbook(
        output,
        demo_requirements(),
        title_rows=[
            "ANS — PSC EDC — Fichier points de contrôles (mise en page v0.1) — DÉMO",
            "Exigences 101, 102, 103, 115, 116 : texte du document ANS de juin 2024. "
            "Toutes les autres exigences sont illustratives (colonne « Source de l'exigence »).",
        ],
        extra_sheets={
            "Lisez-moi": [
                ["Classeur de démonstration de l'atelier d'audit EDC PSC."],
                ["Le classeur officiel de l'ANS n'est pas public : ceci n'en est pas une copie."],
            ]
        },
        extra_sheets_first=True,
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
