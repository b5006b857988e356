"""Render the last page of a PDF to PNG (poppler's pdftoppm) to look at the signature stamp.

Usage: python scripts/render_last_page.py SIGNED.pdf [OUT_PREFIX] [--dpi 60]
Prints the path of the PNG written.
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


def render_last_page(pdf: Path, prefix: Path, dpi: int = 60) -> Path:
    """Write `<prefix>.png` with the last page of `pdf` and return its path."""
    if shutil.which("pdftoppm") is None:
        raise FileNotFoundError("pdftoppm not found: install poppler-utils")
    last = page_count(pdf)
    cmd = ["pdftoppm", "-png", "-singlefile", "-r", str(dpi), "-f", str(last), "-l", str(last)]
    subprocess.run([*cmd, str(pdf), str(prefix)], check=True, capture_output=True)
    return prefix.with_name(prefix.name + ".png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf", type=Path)
    parser.add_argument("prefix", type=Path, nargs="?")
    parser.add_argument("--dpi", type=int, default=60)
    args = parser.parse_args(argv)
    prefix = args.prefix or args.pdf.with_name(args.pdf.stem + "-last-page")
    try:
        print(render_last_page(args.pdf, prefix, args.dpi))
    except (OSError, ValueError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        print(f"render_last_page: error: {exc} {detail}".strip(), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
