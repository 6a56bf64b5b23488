"""Check a built site for offline math: ``python docs/scripts/check_site.py site``.

Fails (exit 1, one line per problem) when

* a page has a formula (an ``arithmatex`` element) but does not load KaTeX and its renderer
  script, or loads a file that is not in the site;
* any page loads a script, stylesheet or font from the network (``http(s)://`` or ``//``):
  the site must render with no connection;
* a font that KaTeX's stylesheet names is missing from the site;
* a page shows reStructuredText math literally (``.. math::``, ``:math:``) or a doctest rendered
  as nested blockquotes (``>>>`` outside an ``Examples:`` section).

Links (``<a href>``) may point anywhere; only what the browser loads by itself is checked.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from urllib.parse import urljoin, urlparse

REQUIRED = ("assets/katex/katex.min.js", "assets/katex/contrib/auto-render.min.js")
STYLESHEET = "assets/katex/katex.min.css"
LOADS = re.compile(
    r"<(?:script[^>]*\ssrc|link[^>]*rel=\"(?:stylesheet|icon|preload)\"[^>]*\shref|img[^>]*\ssrc)"
    r"=\"([^\"]+)\"",
    re.I,
)
CSS_URL = re.compile(r"url\(([^)]+)\)")


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


def _local_target(site: Path, page: Path, url: str) -> Path:
    """The file a page-relative or site-absolute URL names (the 404 page uses absolute ones,
    rooted at site_url's path, e.g. ``/relaxit/assets/...``)."""
    path = urlparse(urljoin(page.relative_to(site).as_posix(), url)).path
    if not path.startswith("/"):
        return site / path
    parts = path.lstrip("/").split("/")
    for skip in range(len(parts)):
        if (site / "/".join(parts[skip:])).exists():
            return site / "/".join(parts[skip:])
    return site / path.lstrip("/")


def check_page(site: Path, page: Path) -> list[str]:
    html = page.read_text(encoding="utf-8")
    name = page.relative_to(site).as_posix()
    problems = []
    loaded = []
    for url in LOADS.findall(html):
        if _is_remote(url):
            problems.append(f"{name}: loads {url} from the network")
            continue
        target = _local_target(site, page, url)
        loaded.append(target.relative_to(site).as_posix() if target.is_relative_to(site) else url)
        if not target.is_file():
            problems.append(f"{name}: loads {url}, which is not in the site")
    if ".. math::" in html or ":math:`" in html:
        problems.append(f"{name}: shows reStructuredText math as text")
    if "<blockquote>\n<blockquote>\n<blockquote>" in html:
        problems.append(f"{name}: a doctest rendered as nested blockquotes")
    if 'class="arithmatex"' in html:
        for required in (*REQUIRED, STYLESHEET):
            if required not in loaded:
                problems.append(f"{name}: has formulas but does not load {required}")
    return problems


def check_stylesheet(site: Path) -> list[str]:
    css = site / STYLESHEET
    if not css.is_file():
        return [f"{STYLESHEET} is not in the site (run `make docs-assets`)"]
    problems = []
    for raw in CSS_URL.findall(css.read_text(encoding="utf-8")):
        url = raw.strip("'\"")
        if _is_remote(url):
            problems.append(f"{STYLESHEET}: loads {url} from the network")
        elif not (css.parent / urlparse(url).path).is_file():
            problems.append(f"{STYLESHEET}: font {url} is not in the site")
    return problems


def check_site(site: Path) -> list[str]:
    pages = sorted(site.rglob("*.html"))
    if not pages:
        return [f"{site}: no HTML pages (build the site first)"]
    problems = check_stylesheet(site)
    for page in pages:
        problems += check_page(site, page)
    if not any('class="arithmatex"' in p.read_text(encoding="utf-8") for p in pages):
        problems.append(f"{site}: no page has a formula (is pymdownx.arithmatex configured?)")
    return problems


def main(argv: list[str]) -> int:
    site = Path(argv[1] if len(argv) > 1 else "site")
    problems = check_site(site)
    for line in problems:
        print(line, file=sys.stderr)
    pages = site.rglob("*.html")
    n_math = sum('class="arithmatex"' in p.read_text(encoding="utf-8") for p in pages)
    if not problems:
        print(f"{site}: {n_math} pages with formulas load the site's own KaTeX; nothing remote")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
