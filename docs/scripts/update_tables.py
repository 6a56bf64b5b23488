"""Write the estimator table of `relaxit.estimators.registry` into the README and the gallery.

Run after registering an estimator: ``PYTHONPATH=src python docs/scripts/update_tables.py``.
Each target file holds the table between the two marker comments below; the test
``tests/test_registry_completeness.py`` fails while a file's table differs from the registry.
"""

from __future__ import annotations

import sys
from pathlib import Path

from relaxit.estimators import registry

ROOT = Path(__file__).resolve().parents[2]
START = "<!-- estimators-table: generated from relaxit.estimators.registry -->"
END = "<!-- end of estimators-table -->"
TARGETS = {
    ROOT / "README.md": "docs/gallery/estimators/",
    ROOT / "docs" / "gallery" / "index.md": "estimators/",
}
"""File -> path from it to the gallery's estimator pages."""


def block(page_prefix: str) -> str:
    return f"{START}\n{registry.markdown_table(page_prefix)}{END}"


def current(text: str) -> str | None:
    """The generated block of ``text`` (markers included), or None when it has none."""
    if START not in text or END not in text:
        return None
    return text[text.index(START) : text.index(END) + len(END)]


def main() -> int:
    for path, prefix in TARGETS.items():
        text = path.read_text()
        old = current(text)
        if old is None:
            print(f"{path}: no {START!r} ... {END!r} block", file=sys.stderr)
            return 1
        path.write_text(text.replace(old, block(prefix)))
        print(f"{path}: {'unchanged' if old == block(prefix) else 'updated'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
