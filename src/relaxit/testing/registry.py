"""Every registered `Example`, gathered from the family modules in `relaxit.testing.examples`."""

from relaxit.testing.example import Example
from relaxit.testing.examples import gaussian, simplex, torch_builtin

EXAMPLES: tuple[Example, ...] = (*torch_builtin.EXAMPLES, *simplex.EXAMPLES, *gaussian.EXAMPLES)
"""All examples the conformance tests run over."""
