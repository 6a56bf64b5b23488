"""Write the generated tables into the README and the docs: the estimator table of
`relaxit.estimators.registry` (README and gallery), and the side-by-side summary of the papers'
tables from ``benchmarks/results/paper-*.json`` (README and the VAE page).

Run after registering an estimator or after a `relaxit bench paper` run:
``PYTHONPATH=src python docs/scripts/update_tables.py``. Each target file holds a table between
its two marker comments; ``tests/test_registry_completeness.py`` and
``tests/test_vae_presets.py`` fail while a file's table differs from its source.
"""

from __future__ import annotations

import sys
from pathlib import Path

from relaxit.bench.paper import summary_markdown
from relaxit.estimators import registry

ROOT = Path(__file__).resolve().parents[2]
START = "<!-- estimators-table: generated from relaxit.estimators.registry -->"
END = "<!-- end of estimators-table -->"
TARGETS = {
    ROOT / "README.md": "docs/gallery/estimators/",
    ROOT / "docs" / "gallery" / "index.md": "estimators/",
}
"""File -> path from it to the gallery's estimator pages."""

PAPER_START = "<!-- paper-summary: generated from benchmarks/results/paper-*.json -->"
PAPER_END = "<!-- end of paper-summary -->"
RESULTS = ROOT / "benchmarks" / "results"
PAPER_TARGETS = {
    ROOT / "README.md": "benchmarks/results/",
    ROOT / "docs" / "getting-started" / "vae.md": None,
}
"""File -> link prefix from it to ``benchmarks/results/`` (None: outside the docs site, named
in code instead of linked)."""


def block(page_prefix: str) -> str:
    return f"{START}\n{registry.markdown_table(page_prefix)}{END}"


def paper_block(link: str | None) -> str:
    return f"{PAPER_START}\n{summary_markdown(RESULTS, link)}{PAPER_END}"


def current(text: str, start: str = START, end: str = END) -> str | None:
    """The generated block of ``text`` (markers included), or None when it has none."""
    if start not in text or end not in text:
        return None
    return text[text.index(start) : text.index(end) + len(end)]


def blocks() -> tuple:
    """(targets, start marker, end marker, maker of the block) of each generated table."""
    return (
        (TARGETS, START, END, block),
        (PAPER_TARGETS, PAPER_START, PAPER_END, paper_block),
    )


def stale() -> list[str]:
    """Files whose generated tables differ from their sources."""
    out = []
    for targets, start, end, make in blocks():
        for path, arg in targets.items():
            if current(path.read_text(), start, end) != make(arg):
                out.append(f"{path.relative_to(ROOT)} ({start})")
    return out


def main() -> int:
    for targets, start, end, make in blocks():
        for path, arg in targets.items():
            text = path.read_text()
            old = current(text, start, end)
            if old is None:
                print(f"{path}: no {start!r} ... {end!r} block", file=sys.stderr)
                return 1
            path.write_text(text.replace(old, make(arg)))
            print(f"{path}: {'unchanged' if old == make(arg) else 'updated'} ({start[5:25]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
