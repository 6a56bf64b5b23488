"""The docs' build checks: offline math (docs/scripts/check_site.py) and the docstring markup
extension (docs/scripts/griffe_markup.py).

check_site.py runs after `make docs` on the real site; here it runs on tiny hand-made sites, a
correct one and broken variants it must reject (a page with formulas but no KaTeX, a CDN script,
a missing font, a missing file).
"""

import ast
import importlib.util
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
        (HEAD + "<p>.. math:: x</p>", "", "reStructuredText math"),
        (HEAD + "<blockquote>\n<blockquote>\n<blockquote>\n<p>import torch", "", "doctest"),
    ],
    ids=["no-katex", "cdn-script", "missing-font", "cdn-font", "missing-file", "rst", "doctest"],
)
def test_broken_sites_are_rejected(tmp_path, head, css, expected):
    problems = check_site.check_site(make_site(tmp_path, head, css))
    assert any(expected in p for p in problems), problems


MARKUP = ROOT / "docs/scripts/griffe_markup.py"
spec = importlib.util.spec_from_file_location("griffe_markup", MARKUP)
griffe_markup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(griffe_markup)


def sections(doc: str) -> list:
    """How mkdocstrings parses a docstring (Google style)."""
    import griffe

    return griffe.parse_google(griffe.Docstring(doc, lineno=1))


def test_a_bare_doctest_renders_as_examples():
    doc = "Summary.\n\nArgs:\n    x: a number.\n\n>>> 1 + 1\n2\n"
    # The planted failure: without the extension the doctest is prose inside Args.
    assert not any(s.kind.value == "examples" for s in sections(doc))
    fixed = sections(griffe_markup.normalize(doc))
    (examples,) = [s for s in fixed if s.kind.value == "examples"]
    assert examples.value[0][1] == ">>> 1 + 1\n2"
    # ``Example:`` (singular) is an admonition to griffe; its doctest gets a real section too.
    singular = griffe_markup.normalize("Example:\n    >>> 1\n    1\n")
    assert any(s.kind.value == "examples" for s in sections(singular))


def test_rst_math_and_roles_become_markdown():
    doc = "See :class:`REBAR` and :math:`\\tau`.\n\n.. math:: a = b\n    + c\n\nEnd.\n"
    out = griffe_markup.normalize(doc)
    assert out == "See `REBAR` and $\\tau$.\n\n$$\na = b\n+ c\n$$\n\nEnd.\n"
    block = ".. math::\n\n    x^2\n    + y\n"
    assert griffe_markup.normalize(block) == "$$\nx^2\n+ y\n$$\n"


def test_normalizing_the_package_docstrings_is_idempotent():
    """On every docstring of the package (Google style, most already Markdown), a second pass
    changes nothing: an Examples section is never wrapped twice, math never re-fenced."""
    docs = []
    for path in sorted((ROOT / "src/relaxit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            is_documentable = isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
            if is_documentable and (doc := ast.get_docstring(node)):
                docs.append(doc)
    assert len(docs) > 100
    for doc in docs:
        once = griffe_markup.normalize(doc)
        assert griffe_markup.normalize(once) == once
        assert ".. math::" not in once and ":math:`" not in once
