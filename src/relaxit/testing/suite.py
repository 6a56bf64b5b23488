"""The ordered list of every conformance check, and `check_all`."""

from __future__ import annotations

from collections.abc import Callable

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

ALL_CHECKS: tuple[Callable[[Example], object], ...] = (
    check_shapes,
    check_normalization,
    check_sample_law,
    check_independence,
    check_gradients,
    check_pathwise_gradient,
    check_straight_through,
    check_dtype_device,
    check_validation,
    check_extremes,
    check_pyro,
)
"""Every conformance check, in the order `check_all` runs them."""


def check_all(example: Example) -> None:
    """Run every conformance check on ``example``."""
    for check in ALL_CHECKS:
        check(example)
