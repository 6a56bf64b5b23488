"""The docs' build checks: offline math (docs/scripts/check_site.py) and docstring markup.

check_site.py runs after `make docs` on the real site; here it runs on tiny hand-made sites, a
correct one and broken variants it must reject (a page with formulas but no KaTeX, a CDN script,
a missing font, a missing file).
"""

import ast
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_site", ROOT / "docs/scripts/check_site.py")
check_site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_site)

HEAD = (
    '<link rel="stylesheet" href="../assets/katex/katex.min.css">'
    '<script src="../assets/katex/katex.min.js"></script>'
    '<script src="../assets/katex/contrib/auto-render.min.js"></script>'
)
MATH = '<div class="arithmatex">\\[ z = \\sigma(x) \\]</div>'


def make_site(tmp_path: Path, head: str = HEAD, css: str = "src:url(fonts/K.woff2)") -> Path:
    site = tmp_path / "site"
    (site / "assets/katex/contrib").mkdir(parents=True)
    (site / "assets/katex/fonts").mkdir()
    for name in ("katex.min.js", "contrib/auto-render.min.js", "fonts/K.woff2"):
        (site / "assets/katex" / name).write_text("x")
    (site / "assets/katex/katex.min.css").write_text(css)
    (site / "page").mkdir()
    (site / "page/index.html").write_text(f"<html><head>{head}</head><body>{MATH}</body></html>")
    (site / "index.html").write_text('<html><a href="https://example.org">link</a></html>')
    return site


def test_a_correct_site_passes(tmp_path):
    assert check_site.check_site(make_site(tmp_path)) == []


@pytest.mark.parametrize(
    ("head", "css", "expected"),
    [
        ("", "src:url(fonts/K.woff2)", "does not load assets/katex/katex.min.js"),
        (
            HEAD + '<script src="https://cdn.example/katex.js"></script>',
            "src:url(fonts/K.woff2)",
            "from the network",
        ),
        (HEAD, "src:url(fonts/Missing.woff2)", "font fonts/Missing.woff2 is not in the site"),
        (HEAD, "src:url(https://cdn.example/K.woff2)", "from the network"),
        (HEAD + '<script src="../assets/gone.js"></script>', "", "not in the site"),
    ],
    ids=["no-katex", "cdn-script", "missing-font", "cdn-font", "missing-file"],
)
def test_broken_sites_are_rejected(tmp_path, head, css, expected):
    problems = check_site.check_site(make_site(tmp_path, head, css))
    assert any(expected in p for p in problems), problems


def docstrings():
    for path in sorted((ROOT / "src/relaxit").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node, clean=False)
                if doc:
                    yield f"{path.relative_to(ROOT)}:{getattr(node, 'name', '<module>')}", doc


def markup_problems(doc: str) -> list[str]:
    """Google-style docstrings rendered as Markdown: RST math shows as literal text, and a doctest
    outside an ``Examples:`` section renders as nested blockquotes (``Example:``, singular, is an
    admonition to griffe, not an examples section)."""
    problems = []
    if ".. math::" in doc or ":math:`" in doc:
        problems.append("RST math (use $...$ or a $$ block)")
    section = None
    for line in doc.splitlines():
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if re.match(r"(Examples?|Args|Returns|Raises|Attributes|Note|Yields):\s*$", stripped):
            section = (stripped.rstrip(":"), indent)
        elif section and stripped and indent <= section[1]:
            section = None
        if stripped.startswith(">>>") and not (section and section[0] == "Examples"):
            problems.append("doctest outside an Examples: section")
            break
    return problems


def test_docstrings_use_markdown_math_and_example_sections():
    bad = {where: p for where, doc in docstrings() if (p := markup_problems(doc))}
    assert not bad, bad


def test_the_markup_check_catches_rst_math_and_orphan_doctests():
    assert markup_problems("Text.\n\n.. math:: x^2\n")
    assert markup_problems("Uses :math:`x`.")
    assert markup_problems("Text.\n\n>>> 1 + 1\n2\n")
    assert markup_problems("Args:\n    x: a.\n\n>>> 1\n1\n")
    assert markup_problems("Example:\n    >>> 1\n    1\n")
    assert not markup_problems("Text $x$.\n\nExamples:\n    >>> 1 + 1\n    2\n")
