"""Every module directly under `relaxit` imports first, in a fresh interpreter. A circular import
between subpackages only shows when one of them is imported before the others, which a test
session that has imported them all already never sees (`import relaxit.structured` failed that
way while every other test passed)."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import relaxit

SRC = Path(__file__).resolve().parents[1] / "src"
TOP_LEVEL = sorted(f"relaxit.{m.name}" for m in pkgutil.iter_modules(relaxit.__path__))


def fresh_import_error(module: str, path: Path) -> str | None:
    """The last line of the error of ``import module`` in a new interpreter with ``path`` first
    on its module path (then the caller's), or None when it imports."""
    search = os.pathsep.join(p for p in (str(path), os.environ.get("PYTHONPATH")) if p)
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        env={**os.environ, "PYTHONPATH": search},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.stderr.strip().splitlines()[-1] if proc.returncode else None


def test_the_list_holds_the_subpackages():
    assert {"relaxit.distributions", "relaxit.estimators", "relaxit.structured"} <= set(TOP_LEVEL)


@pytest.mark.parametrize("module", TOP_LEVEL)
def test_imports_first_in_a_fresh_interpreter(module):
    assert fresh_import_error(module, SRC) is None


def test_a_circular_import_is_caught(tmp_path):
    """Planted: the cycle relaxit had (a subpackage imports a sibling's private module, whose
    package imports back a name the first has not defined yet)."""
    pkg = tmp_path / "cyclic"
    (pkg / "structured").mkdir(parents=True)
    (pkg / "distributions").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "structured" / "__init__.py").write_text("from cyclic.structured.trees import f\n")
    (pkg / "structured" / "trees.py").write_text(
        "from cyclic.distributions._noise import g\n\ndef f():\n    return g()\n"
    )
    (pkg / "distributions" / "__init__.py").write_text("from cyclic.structured.trees import f\n")
    (pkg / "distributions" / "_noise.py").write_text("def g():\n    return 0\n")
    error = fresh_import_error("cyclic.structured", tmp_path)
    assert error is not None and "circular import" in error
    assert fresh_import_error("cyclic.distributions", tmp_path) is None  # this order works
