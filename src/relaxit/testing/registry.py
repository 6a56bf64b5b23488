"""Every registered `Example`, gathered from the family modules in `relaxit.testing.examples`."""

from relaxit.testing.example import Example
from relaxit.testing.examples import (
    bernoulli,
    categorical,
    gaussian,
    simplex,
    structured,
    torch_builtin,
)

EXAMPLES: tuple[Example, ...] = (
    *torch_builtin.EXAMPLES,
    *bernoulli.EXAMPLES,
    *categorical.EXAMPLES,
    *simplex.EXAMPLES,
    *gaussian.EXAMPLES,
    *structured.EXAMPLES,
)
"""All examples the conformance tests run over."""
