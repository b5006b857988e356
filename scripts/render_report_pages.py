"""Render pages of a report PDF to PNG (poppler's pdftoppm), to look at the layout.

Usage: python scripts/render_report_pages.py report.pdf OUT_PREFIX [--pages 1,2,5] [--dpi 70]
Prints the path of each PNG written (`OUT_PREFIX-<page>.png`). Default: every page.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path


def page_count(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise ValueError(f"pdfinfo gave no page count for {pdf}")


def render_pages(
    pdf: Path, prefix: Path, pages: list[int] | None = None, dpi: int = 70
) -> list[Path]:
    """Write `<prefix>-<n>.png` for each page `n` asked (all by default); return the paths."""
    if shutil.which("pdftoppm") is None:
        raise FileNotFoundError("pdftoppm not found: install poppler-utils")
    wanted = pages or list(range(1, page_count(pdf) + 1))
    written = []
    for number in wanted:
        target = prefix.with_name(f"{prefix.name}-{number}")
        cmd = [
            "pdftoppm",
            "-png",
            "-singlefile",
            "-r",
            str(dpi),
            "-f",
            str(number),
            "-l",
            str(number),
        ]
        subprocess.run([*cmd, str(pdf), str(target)], check=True, capture_output=True)
        written.append(target.with_name(target.name + ".png"))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("prefix", type=Path)
    parser.add_argument("--pages", help="comma-separated page numbers (default: all)")
    parser.add_argument("--dpi", type=int, default=70)
    args = parser.parse_args(argv)
    pages = [int(p) for p in args.pages.split(",")] if args.pages else None
    for path in render_pages(args.pdf, args.prefix, pages, args.dpi):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
