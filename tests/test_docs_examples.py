"""Every code example of the docs runs: doctests of every relaxit module, ```python blocks of docs/.

Blocks of one page run in order in one namespace (a page may build on its earlier blocks). Blocks
tagged otherwise (```text, ```bash) are not executed; pages without a python block are listed by
`test_docs_have_examples`.
"""

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pyro
import pytest
import torch

import relaxit

DOCS = Path(__file__).resolve().parents[1] / "docs"
MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(relaxit.__path__, "relaxit.")
    if m.name != "relaxit.__main__"
)


def python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M)


PAGES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    torch.manual_seed(0)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_docs_page_examples(page):
    torch.manual_seed(0)
    pyro.clear_param_store()
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(python_blocks(page)):
        exec(compile(block, f"{page}#block{i}", "exec"), namespace)


def test_docs_have_examples():
    """Every gallery page has an example, and the runner finds them (guards against a regex that
    silently matches nothing)."""
    gallery = sorted((DOCS / "gallery").rglob("*.md"))
    without = [str(p.relative_to(DOCS)) for p in gallery if p.name != "index.md" and p not in PAGES]
    assert not without, f"gallery pages without a ```python example: {without}"
    assert len(PAGES) >= len(gallery) - 2
