"""The Typst engine: the report's HTML turned into Typst markup and laid out (issue 22)."""

from __future__ import annotations

import base64
import re

import pytest
from pypdf import PdfReader

from auditlib.report import typeset
from auditlib.report.typeset import TypesetError, chunks, text_markup, typst_source
from auditlib.report.writer import PDF_ENGINE_ENV, ReportError, pdf_bytes, pdf_engine


def page(body: str, **data: str) -> str:
    attributes = " ".join(f'data-{k}="{v}"' for k, v in data.items())
    return (
        '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Essai</title>'
        '<meta name="author" content="Ada"><style>p { color: red }</style></head>'
        f"<body {attributes}>{body}</body></html>"
    )


def text_of(pdf: bytes, tmp_path: object = None) -> str:
    import io

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)


def squashed(text: str) -> str:
    return re.sub(r"\s+", "", text)


HOSTILE = (
    '#set page(width: 1pt) #panic("boom") $x^2$ *gras* _sous_ <label> @ref '
    '\\ " ] [ // commentaire /* bloc */ `raw` = titre - liste + enum ~ https://exemple.test'
)


def test_hostile_text_is_laid_out_as_text_never_as_typst() -> None:
    pdf = typeset.pdf_bytes(page(f"<p>{HOSTILE.replace('<', '&lt;')}</p>"))
    found = squashed(text_of(pdf))
    assert squashed(HOSTILE) in found


def test_long_words_may_break_without_a_character_added() -> None:
    digest = "ab12" * 16
    path = "preuves/architecture/schema-general-de-l-architecture-du-service.pdf"
    pdf = typeset.pdf_bytes(
        page(
            '<table class="grid"><thead><tr><th class="w-ref">Fichier</th><th>SHA-256</th>'
            f'</tr></thead><tbody><tr><td class="path">{path}</td><td class="hash">{digest}'
            "</td></tr></tbody></table>"
        )
    )
    text = text_of(pdf)
    assert "\u200b" not in text
    assert digest in squashed(text)
    assert squashed(path) in squashed(text).replace("-", "") or path in squashed(text)
    # the pieces are the word, cut after separators or every 8 characters
    assert "".join(chunks(path)) == path
    assert all(len(piece) <= typeset.BREAK_EVERY for piece in chunks(digest))


def test_text_markup_quotes_every_character() -> None:
    markup = text_markup('a "b" \\ c')
    assert markup == '#"a \\"b\\" \\\\ c";'


def test_running_header_title_and_author_come_from_the_html() -> None:
    source, _ = typst_source(
        page("<h2>Un</h2>", **{"header-left": "Prestataire X", "page-label": "Page"})
    )
    assert 'title: "Essai"' in source and 'author: "Ada"' in source
    assert 'header_left: "Prestataire X"' in source
    pdf = typeset.pdf_bytes(page("<h2>Un</h2>", **{"footer-left": "Pied de page"}))
    reader = PdfReader(__import__("io").BytesIO(pdf))
    assert reader.metadata is not None and reader.metadata.title == "Essai"
    assert "Pied de page" in text_of(pdf)


def test_anchors_become_links_with_page_numbers_and_missing_ones_plain_text() -> None:
    html = page(
        '<nav class="toc"><ol><li><a href="#s1">Synthèse</a></li>'
        '<li><a href="#nowhere">Ailleurs</a></li></ol></nav>'
        '<section id="s1" class="chapter"><h2>1. Synthèse</h2><p>Texte.</p></section>'
    )
    source, _ = typst_source(html)
    assert "<a-s1>" in source and "nowhere" not in source
    text = text_of(typeset.pdf_bytes(html))
    assert "Ailleurs" in text and "Synthèse" in text
    assert re.search(r"Synthèse\.*\s*2", text), text  # the chapter's page, after the dots


def test_unknown_elements_are_laid_out_as_their_content() -> None:
    pdf = typeset.pdf_bytes(page("<marquee>défilant</marquee><details><b>plié</b></details>"))
    assert "défilant" in text_of(pdf) and "plié" in text_of(pdf)


def test_images_from_data_uris_are_files_of_the_compilation() -> None:
    svg = (
        b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">'
        b'<rect width="40" height="20"/></svg>'
    )
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    source, files = typst_source(page(f'<figure class="chart"><img src="{uri}" alt="g"></figure>'))
    assert files == {"image-1.svg": svg}
    assert 'el-img("image-1.svg"' in source
    assert typeset.pdf_bytes(page(f'<figure><img src="{uri}" alt="g"></figure>')).startswith(
        b"%PDF"
    )


def test_a_broken_image_is_a_clear_error() -> None:
    uri = "data:image/png;base64," + base64.b64encode(b"not a png").decode()
    with pytest.raises(TypesetError, match="Typst could not lay out the report"):
        typeset.pdf_bytes(page(f'<img src="{uri}" alt="g">'))


def test_an_image_that_is_not_a_data_uri_is_named_not_fetched() -> None:
    pdf = typeset.pdf_bytes(page('<p><img src="https://exemple.test/x.png" alt="logo"></p>'))
    assert "[logo]" in text_of(pdf)


def test_the_engine_is_chosen_by_argument_then_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PDF_ENGINE_ENV, raising=False)
    assert pdf_engine() == "typst"
    monkeypatch.setenv(PDF_ENGINE_ENV, "WeasyPrint")
    assert pdf_engine() == "weasyprint"
    assert pdf_engine("typst") == "typst"
    monkeypatch.setenv(PDF_ENGINE_ENV, "latex")
    with pytest.raises(ReportError, match=f"unknown PDF engine 'latex'.*{PDF_ENGINE_ENV}"):
        pdf_bytes(page("<p>x</p>"))


def test_both_engines_print_the_same_text(monkeypatch: pytest.MonkeyPatch) -> None:
    html = page(
        "<h2>Titre</h2><p class='small muted'>Un <b>deux</b> <span class='status conforme'>"
        "conforme</span></p><ul><li>premier</li><li>second</li></ul>"
        "<table class='kv'><tr><th>Clé</th><td>valeur</td></tr></table>"
    )
    typst_words = text_of(pdf_bytes(html, "typst")).split()
    weasy_words = text_of(pdf_bytes(html, "weasyprint")).split()
    assert sorted(typst_words) == sorted(weasy_words)
