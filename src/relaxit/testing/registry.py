"""Every registered `Example`, gathered from the family modules in `relaxit.testing.examples`."""

from relaxit.testing.example import Example
from relaxit.testing.examples import categorical, torch_builtin

EXAMPLES: tuple[Example, ...] = (*torch_builtin.EXAMPLES, *categorical.EXAMPLES)
"""All examples the conformance tests run over."""
