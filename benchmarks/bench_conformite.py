"""Hostile documents de conformité: the Markdown parser of `auditlib.evidence.conformite`
vs the regexes it replaced (`^ {0,3}(#{1,6})(?:[ \\t]+(.*?))?(?:[ \\t]+#+)?[ \\t]*$` for ATX
headings, `<!--.*?-->` with DOTALL for comments), side by side on the same documents.

The baseline is quadratic, so it runs on a smaller document (`--baseline-kb`); ours runs on
that size and on the issue's 65 KB, and the ratio is printed at the baseline's size.

Usage: python benchmarks/bench_conformite.py [--kb 65] [--baseline-kb 16]
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable

from auditlib.evidence.conformite import check_sections, load_document_profile, markdown_blocks

OLD_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
OLD_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def baseline(text: str) -> int:
    """What the old parser spent on each line: the comment regex, then the ATX regex."""
    text = OLD_COMMENT.sub("", text)
    return sum(1 for line in text.splitlines() if OLD_ATX.match(line))


def ours(text: str) -> int:
    blocks = markdown_blocks(text)
    check_sections(blocks, load_document_profile())
    return len(blocks)


def documents(size: int) -> dict[str, str]:
    return {
        "heading with a run of blanks": "# a" + " " * size + "x\n",
        "unclosed comments": "<!--" * (size // 4),
    }


def timed(function: Callable[[str], int], text: str) -> float:
    started = time.perf_counter()
    function(text)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=int, default=65)
    parser.add_argument("--baseline-kb", type=int, default=16)
    args = parser.parse_args()
    small, full = args.baseline_kb * 1000, args.kb * 1000
    for name, text in documents(small).items():
        old = timed(baseline, text)
        new = timed(ours, text)
        print(
            f"{name}, {args.baseline_kb} KB: old regexes {old:.3f} s, ours {new:.4f} s, "
            f"ratio {old / max(new, 1e-9):.0f}x"
        )
    for name, text in documents(full).items():
        print(f"{name}, {args.kb} KB: ours {timed(ours, text):.4f} s")


if __name__ == "__main__":
    main()
