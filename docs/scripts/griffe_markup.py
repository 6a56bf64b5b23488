"""A griffe extension (mkdocs.yml loads it) that makes any docstring render as Google style.

The docstrings are Google style with Markdown math. This keeps a docstring that slips back to
reStructuredText habits rendering correctly in the API reference instead of failing the build:

* ``.. math::`` blocks become ``$$`` blocks and ``:math:`x``` becomes ``$x$`` (arithmatex, then
  KaTeX, render them); ``:class:`X```-style roles become ```X```;
* a doctest (``>>>``) outside an ``Examples:`` section gets one, indented under it, so that it
  renders as highlighted code (a bare ``>>>`` is a Markdown blockquote).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

SECTION = re.compile(r"^\s*(Examples?|Args|Arguments|Returns|Raises|Attributes|Note|Yields):\s*$")
ROLE = re.compile(r":(?:class|meth|func|attr|mod|obj|data):`~?([^`]+)`")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _math_blocks(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)\.\. math::\s*(.*)$", lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, rest = m.groups()
        body = [rest.strip()] if rest.strip() else []
        i += 1
        while i < len(lines) and not body and not lines[i].strip():
            i += 1  # the blank line between ``.. math::`` and its indented body
        block = []
        while i < len(lines) and lines[i].strip() and _indent(lines[i]) > len(indent):
            block.append(lines[i])
            i += 1
        strip = min((_indent(b) for b in block), default=0)
        body += [b[strip:] for b in block]
        out += [indent + "$$", *(indent + b for b in body), indent + "$$"]
    return out


def _doctest_sections(lines: list[str]) -> list[str]:
    out: list[str] = []
    examples_indent = None  # indentation of the enclosing Examples: header, if any
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if SECTION.match(line):
            examples_indent = _indent(line) if stripped.startswith("Examples:") else None
        elif examples_indent is not None and stripped and _indent(line) <= examples_indent:
            examples_indent = None
        if stripped.startswith(">>>") and examples_indent is None:
            indent = " " * _indent(line)
            if out and out[-1].strip():
                out.append("")
            out.append(indent + "Examples:")
            while i < len(lines) and lines[i].strip():
                out.append("    " + lines[i])
                i += 1
            continue
        out.append(line)
        i += 1
    return out


def normalize(doc: str) -> str:
    """The docstring with RST math, RST roles and orphan doctests rewritten (see module doc)."""
    lines = _math_blocks(doc.split("\n"))
    text = "\n".join(lines)
    text = re.sub(r":math:`([^`]*)`", lambda m: "$" + m.group(1).strip() + "$", text)
    text = ROLE.sub(r"`\1`", text)
    return "\n".join(_doctest_sections(text.split("\n")))


class GoogleMarkdownDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = normalize(obj.docstring.value)
