"""The conformance kit: reusable checks that every relaxit distribution class must pass.

In the spirit of ``pyro.distributions.testing``: register an `Example` of your class (constructor
arguments plus what the kit must know about its law) and run `check_all` on it, or the single
checks. Each check raises ``AssertionError`` with a message saying what broke. Requires SciPy.

Examples:
    >>> import torch
    >>> from pyro.distributions import RelaxedBernoulli
    >>> from relaxit.testing import Example, check_shapes
    >>> check_shapes(Example("demo", RelaxedBernoulli,
    ...                      {"temperature": torch.tensor(0.5), "logits": torch.zeros(3)}))
"""

from relaxit.testing.checks import (
    check_dtype_device,
    check_extremes,
    check_gradients,
    check_normalization,
    check_pyro,
    check_sample_law,
    check_shapes,
    check_validation,
)
from relaxit.testing.example import Example
from relaxit.testing.joint import check_independence, check_straight_through
from relaxit.testing.pathwise import check_pathwise_gradient
from relaxit.testing.stats import ALPHA, N_SAMPLES
from relaxit.testing.suite import ALL_CHECKS, check_all

__all__ = [
    "ALL_CHECKS",
    "ALPHA",
    "N_SAMPLES",
    "Example",
    "check_all",
    "check_dtype_device",
    "check_extremes",
    "check_gradients",
    "check_independence",
    "check_normalization",
    "check_pathwise_gradient",
    "check_pyro",
    "check_sample_law",
    "check_shapes",
    "check_straight_through",
    "check_validation",
]
