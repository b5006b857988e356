"""The PDF report through Typst: the report's HTML, turned into Typst markup.

The HTML report (`templates/report.html.j2`) is the one source of the report's content.
WeasyPrint prints it as a browser would; this module is the faster engine (issue 22,
`docs/performance.md`): it reads the same HTML, and writes each element as a call to a
function of the Typst stylesheet `templates/report.typ` (`#el-p(cls: "small")[...]`),
which gives each class its look, as `report.css` does for the browser. Every text is
passed as a Typst string literal, never as markup: no character of the data can be
read as Typst syntax. Images (`data:` URIs) become files of the compilation.

Only what the report's templates use is known: block and inline elements, tables
(header rows repeat on each page), lists, links to anchors (page numbers in `<nav>`),
`<img>`. An element this module does not know is laid out as its content.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import typst

from auditlib import resources
from auditlib.errors import AuditlibError

STYLESHEET = "report.typ"

VOID = frozenset({"meta", "br", "img", "link", "hr", "input", "col", "source", "wbr"})
SKIPPED = frozenset({"head", "style", "script", "title", "template"})
BLOCKS = frozenset(
    {
        "html",
        "body",
        "section",
        "article",
        "nav",
        "div",
        "header",
        "footer",
        "main",
        "aside",
        "p",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "ul",
        "ol",
        "li",
        "figure",
        "figcaption",
        "blockquote",
        "pre",
        "hr",
        "dl",
        "dt",
        "dd",
    }
)
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
CONTAINERS = frozenset({"section", "article", "nav"})
"""Containers with a function of their own in report.typ; every other block is a div."""
BREAK_AFTER = 24
"""A word longer than this gets break opportunities (hashes, paths, DNs), as the
stylesheet's `overflow-wrap: anywhere` gives them in the browser."""
BREAK_EVERY = 8
LONG_WORD = re.compile(rf"\S{{{BREAK_AFTER + 1},}}")
LABEL = re.compile(r"[^A-Za-z0-9_-]+")


class TypesetError(AuditlibError):
    """The report's HTML cannot be turned into a PDF by Typst."""


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def classes(self) -> str:
        return " ".join(self.attrs.get("class", "").split())


class _TreeBuilder(HTMLParser):
    """The HTML as a tree of `Node`s; tolerant as browsers are (unclosed `<p>`, `<li>`...)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root")
        self.stack = [self.root]
        self.title = ""
        self.meta: dict[str, str] = {}
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: (v or "") for k, v in attrs}
        if tag == "meta" and values.get("name"):
            self.meta[values["name"]] = values.get("content", "")
        if tag == "title":
            self._in_title = True
        # browsers close an open <p>/<li>/<tr>/<td> when the same element starts again
        if tag in ("p", "li", "tr", "td", "th"):
            for depth in range(len(self.stack) - 1, 0, -1):
                open_tag = self.stack[depth].tag
                if open_tag == tag:
                    del self.stack[depth:]
                    break
                if open_tag in ("table", "ul", "ol", "tbody", "thead", "div", "section"):
                    break
        node = Node(tag, values)
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID and self.stack[-1].tag == tag:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        self.stack[-1].children.append(data)


def parse_html(html: str) -> _TreeBuilder:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    return builder


def string(text: str) -> str:
    """A Typst string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def chunks(word: str) -> list[str]:
    """A long word cut where a line may break: after a separator where there is one,
    else every few characters."""
    out: list[str] = []
    current = ""
    for char in word:
        current += char
        if char in "/\\.,=_-:@" or len(current) >= BREAK_EVERY:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


def text_markup(text: str) -> str:
    """Text as Typst string literals; a long word (hash, path, DN) as a row of boxes, so
    a line may break between them as `overflow-wrap: anywhere` lets the browser do, with
    no character added to the PDF's text."""
    out: list[str] = []
    position = 0
    for match in LONG_WORD.finditer(text):
        if match.start() > position:
            out.append(f"#{string(text[position : match.start()])};")
        out.append("".join(f"#box({string(piece)})" for piece in chunks(match.group(0))))
        position = match.end()
    if position < len(text):
        out.append(f"#{string(text[position:])};")
    return "".join(out)


def _label(anchor: str) -> str:
    return "a-" + LABEL.sub("-", anchor)


@dataclass
class _Emitter:
    files: dict[str, bytes] = field(default_factory=dict)
    labels: dict[int, str] = field(default_factory=dict)
    """id(heading node) -> the label it carries (the anchor of it or of its section)."""
    targets: set[str] = field(default_factory=set)
    item_classes: str = ""
    """Classes of the list item being written (a badge may take its colour from them)."""

    # ---------------------------------------------------------------- anchors

    def find_anchors(self, node: Node) -> None:
        for child in node.children:
            if not isinstance(child, Node):
                continue
            anchor = child.attrs.get("id")
            if anchor:
                heading = (
                    child if child.tag in HEADINGS else _first(child, lambda n: n.tag in HEADINGS)
                )
                if heading is not None and id(heading) not in self.labels:
                    self.labels[id(heading)] = _label(anchor)
                    self.targets.add(anchor)
            self.find_anchors(child)

    # ---------------------------------------------------------------- blocks

    def blocks(self, node: Node, nav: int) -> str:
        """A container's children: block elements as they are, runs of inline content
        (text, spans...) as paragraphs."""
        out: list[str] = []
        run: list[Node | str] = []

        def flush() -> None:
            if run:
                inline = self.inline_run(run, nav)
                if inline:
                    out.append(f"#el-run(pcls: {string(node.classes)})[{inline}]")
                run.clear()

        for child in node.children:
            if isinstance(child, Node) and child.tag in SKIPPED:
                continue
            if isinstance(child, Node) and child.tag in BLOCKS:
                flush()
                out.append(self.block(child, nav))
            else:
                run.append(child)
        flush()
        return "".join(out)

    def block(self, node: Node, nav: int) -> str:
        tag, cls = node.tag, string(node.classes)
        if tag == "nav":
            nav = max(nav, 1)
        if tag in HEADINGS:
            label = self.labels.get(id(node))
            body = self.inline(node, nav)
            call = f"#el-h({HEADINGS[tag]}, cls: {cls})[{body}]"
            return call + (f" <{label}>" if label else "") + "\n"
        if tag == "table":
            return self.table(node, nav)
        if tag in ("ul", "ol"):
            depth = nav + 1 if nav else 0
            items = []
            outer = self.item_classes
            for child in node.children:
                if isinstance(child, Node) and child.tag == "li":
                    self.item_classes = child.classes
                    items.append(f"[{self.blocks(child, depth)}]")
            self.item_classes = outer
            ordered = "true" if tag == "ol" else "false"
            listed = "".join(f"{item}, " for item in items)
            return f"#el-list(cls: {cls}, ordered: {ordered}, nav: {nav}, {listed})\n"
        if tag == "p":
            return f"#el-p(cls: {cls})[{self.inline(node, nav)}]\n"
        if tag == "figure":
            return f"#el-figure(cls: {cls})[{self.blocks(node, nav)}]\n"
        if tag == "hr":
            return "#el-hr()\n"
        name = tag if tag in CONTAINERS else "div"
        return f"#el-{name}(cls: {cls})[{self.blocks(node, nav)}]\n"

    # ---------------------------------------------------------------- inline

    def inline_run(self, items: list[Node | str], nav: int) -> str:
        state = _Space()
        parts = [self.inline_item(item, nav, state) for item in items]
        text = "".join(parts)
        return text if state.seen_text else ""

    def inline(self, node: Node, nav: int) -> str:
        state = _Space()
        return "".join(self.inline_item(child, nav, state) for child in node.children)

    def inline_item(self, item: Node | str, nav: int, state: _Space) -> str:
        if isinstance(item, str):
            text = state.collapse(item)
            return text_markup(text)
        tag = item.tag
        if tag in SKIPPED:
            return ""
        if tag == "br":
            state.last_space = True
            return "#linebreak();"
        if tag == "img":
            state.seen_text = True
            return self.image(item)
        if tag in BLOCKS:
            state.last_space = True
            return f"#block[{self.block(item, nav)}]"
        inner = "".join(self.inline_item(child, nav, state) for child in item.children)
        cls = string(item.classes)
        if tag == "a":
            href = item.attrs.get("href", "")
            if href.startswith("#") and href[1:] in self.targets:
                # in <nav>: the depth of the list holding the link (page numbers)
                depth = max(nav - 1, 0)
                return f"#el-link(<{_label(href[1:])}>, nav: {depth})[{inner}]"
            if href.startswith(("https://", "http://", "mailto:")):
                return f"#link({string(href)})[{inner}]"
            return f"#el-span(cls: {cls})[{inner}]"
        if tag in ("b", "strong"):
            return f"#strong[{inner}]"
        if tag in ("i", "em"):
            return f"#emph[{inner}]"
        if tag == "code":
            return f"#el-span(cls: {string(('mono ' + item.classes).strip())})[{inner}]"
        if "outcome" in item.classes.split():
            return f"#el-span(cls: {cls}, up: {string(self.item_classes)})[{inner}]"
        return f"#el-span(cls: {cls})[{inner}]"

    def image(self, node: Node) -> str:
        source = node.attrs.get("src", "")
        match = re.match(r"data:image/(png|svg\+xml|jpeg|gif);base64,(.*)$", source, re.S)
        if not match:
            alt = node.attrs.get("alt", "")
            return f'#el-span(cls: "muted")[#{string("[" + alt + "]")};]'
        extension = {"svg+xml": "svg", "jpeg": "jpg"}.get(match.group(1), match.group(1))
        try:
            data = base64.b64decode(match.group(2), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise TypesetError(f"an image of the report is not valid base64: {exc}") from exc
        name = f"image-{len(self.files) + 1}.{extension}"
        self.files[name] = data
        return f"#el-img({string(name)}, alt: {string(node.attrs.get('alt', ''))})"

    # ---------------------------------------------------------------- tables

    def table(self, node: Node, nav: int) -> str:
        header: list[str] = []
        body: list[str] = []
        columns: list[str] = []
        count = 0
        for section in node.children:
            if not isinstance(section, Node):
                continue
            rows = (
                [section]
                if section.tag == "tr"
                else [r for r in section.children if isinstance(r, Node) and r.tag == "tr"]
            )
            for row in rows:
                cells = [c for c in row.children if isinstance(c, Node) and c.tag in ("td", "th")]
                count = max(count, sum(_span(c) for c in cells))
                if not columns or section.tag == "thead":
                    columns = [c.classes for c in cells]  # the header's, else the first row's
                rendered = [self.cell(c, row, nav, i == 0) for i, c in enumerate(cells)]
                (header if section.tag == "thead" else body).extend(rendered)
        cols = ", ".join(string(c) for c in columns)
        return (
            f"#el-table(cls: {string(node.classes)}, count: {max(count, 1)}, "
            f"ccls: ({cols}{',' if columns else ''}), "
            f"header: ({', '.join(header)}{',' if header else ''}), "
            f"body: ({', '.join(body)}{',' if body else ''}))\n"
        )

    def cell(self, cell: Node, row: Node, nav: int, first: bool) -> str:
        has_blocks = any(isinstance(c, Node) and c.tag in BLOCKS for c in cell.children)
        content = self.blocks(cell, nav) if has_blocks else self.inline(cell, nav)
        return (
            f"(th: {_bool(cell.tag == 'th')}, cls: {string(cell.classes)}, "
            f"rcls: {string(row.classes)}, span: {_span(cell)}, first: {_bool(first)}, "
            f"body: [{content}])"
        )


@dataclass
class _Space:
    """HTML's white-space collapsing across the text nodes of one run of inline content."""

    last_space: bool = True
    seen_text: bool = False

    def collapse(self, text: str) -> str:
        text = re.sub(r"[ \t\r\n\f]+", " ", text)
        if self.last_space:
            text = text.lstrip(" ")
        if text:
            self.last_space = text.endswith(" ")
            if text.strip():
                self.seen_text = True
        return text


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _span(cell: Node) -> int:
    try:
        return max(1, int(cell.attrs.get("colspan", "1")))
    except ValueError:
        return 1


def _first(node: Node, wanted: Callable[[Node], bool]) -> Node | None:
    """The first element below `node`, in document order, that is `wanted`."""
    for child in node.children:
        if isinstance(child, Node):
            if wanted(child):
                return child
            found = _first(child, wanted)
            if found is not None:
                return found
    return None


def typst_source(html: str) -> tuple[str, dict[str, bytes]]:
    """The Typst document for `html` (after the stylesheet's import) and its image files."""
    parsed = parse_html(html)
    body = _first(parsed.root, lambda n: n.tag == "body") or parsed.root
    emitter = _Emitter()
    emitter.find_anchors(body)
    meta = parsed.meta
    running = {
        key: body.attrs.get(f"data-{key}", "")
        for key in ("header-left", "header-right", "footer-left", "page-label")
    }
    lang = (_first(parsed.root, lambda n: n.tag == "html") or Node("html")).attrs.get("lang", "fr")[
        :2
    ] or "fr"
    preamble = (
        '#import "report.typ": *\n'
        f"#show: report.with(title: {string(' '.join(parsed.title.split()))}, "
        f"author: {string(meta.get('author', ''))}, "
        f"description: {string(meta.get('description', ''))}, lang: {string(lang)}, "
        + ", ".join(f"{key.replace('-', '_')}: {string(v)}" for key, v in running.items())
        + ")\n"
    )
    return preamble + emitter.blocks(body, 0), emitter.files


_compiled_in = 0
"""The process that last laid out a PDF (Typst then runs a thread pool in it)."""


def has_compiled() -> bool:
    """True once this very process has laid out a PDF: it holds Typst's thread pool, which
    a `fork()` does not carry (a child laying out a PDF would wait for ever)."""
    return _compiled_in == os.getpid()


def pdf_bytes(html: str) -> bytes:
    """The report's HTML printed to PDF by Typst, with `templates/report.typ`."""
    global _compiled_in
    _compiled_in = os.getpid()
    source, files = typst_source(html)
    try:
        stylesheet = resources.templates_dir() / STYLESHEET
        style = stylesheet.read_bytes()
    except (resources.ResourceError, OSError) as exc:
        raise TypesetError(f"Typst stylesheet not found: {exc} (a broken install)") from exc
    # the binding reads binary files only from disk: one private folder per compilation
    with tempfile.TemporaryDirectory(prefix="auditlib-typst-") as folder:
        root = Path(folder)
        (root / "main.typ").write_text(source, encoding="utf-8")
        (root / STYLESHEET).write_bytes(style)
        for name, data in files.items():
            (root / name).write_bytes(data)
        try:
            pdf: bytes = typst.compile(
                str(root / "main.typ"), root=str(root), format="pdf", font_paths=[]
            )
        except typst.TypstError as exc:
            raise TypesetError(f"Typst could not lay out the report: {exc}") from exc
    return pdf
