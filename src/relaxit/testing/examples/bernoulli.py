"""Bernoulli-type relaxations: stochastic gates, straight-through variants, REBAR, correlated gates.

Statistical examples keep batches small (each batch element costs a few tests of the false-alarm
budget); large shapes are registered with ``statistical=False``. Extreme examples use logits
+-50 (``alpha = e^{+-50}``, ``loc`` 50 away from [0, 1]) and temperature 0.05.
"""

import math

import torch
from pyro.distributions import Bernoulli

from relaxit.distributions import (
    CorrelatedRelaxedBernoulli,
    GaussianRelaxedBernoulli,
    HardConcrete,
    RebarRelaxation,
    RelaxedBernoulliStraightThrough,
    StochasticTimesSmooth,
    StraightThroughBernoulli,
)
from relaxit.testing.example import Example

t = torch.tensor


def _sts_support(dist: StochasticTimesSmooth) -> torch.Tensor:
    """The two output values {0, sqrt(p)} of each batch element."""
    return torch.stack([torch.zeros_like(dist.sqrt_probs), dist.sqrt_probs])


def _hard_bernoulli(dist: RelaxedBernoulliStraightThrough) -> Bernoulli:
    return Bernoulli(logits=dist.logits)


def threshold_half(z: torch.Tensor) -> torch.Tensor:
    """The hard value of a relaxed Bernoulli sample: ``1[z > 1/2]``."""
    return (z > 0.5).to(z.dtype)


def _correlation(rho: float, d: int) -> torch.Tensor:
    """Equicorrelation matrix with off-diagonal ``rho``."""
    return (1 - rho) * torch.eye(d) + rho * torch.ones(d, d)


_R_NOT_PD = t([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
_R_NOT_UNIT = t([[2.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]])
_R_NOT_SYMMETRIC = t([[1.0, 0.5, 0.0], [0.2, 1.0, 0.0], [0.0, 0.0, 1.0]])

GAUSSIAN_GATES = (
    Example(
        "GaussianRelaxedBernoulli/batched",
        GaussianRelaxedBernoulli,
        {"loc": t([0.5, 0.1, 0.95]), "scale": t(0.5)},
        atoms=(0.0, 1.0),
        invalid_params=(("scale", t(-0.5)), ("scale", t([0.5, 0.0, 0.5]))),
        invalid_values=(1.5, -0.2),
    ),
    Example(
        "GaussianRelaxedBernoulli/loc_outside",
        GaussianRelaxedBernoulli,
        {"loc": t([[-1.5], [2.5]]), "scale": t([0.7, 2.0])},
        atoms=(0.0, 1.0),
    ),
    Example(
        "GaussianRelaxedBernoulli/extreme",
        GaussianRelaxedBernoulli,
        {"loc": t([-50.0, 50.0, 0.5, 0.5]), "scale": t([0.05, 0.05, 0.05, 50.0])},
        atoms=(0.0, 1.0),
        extreme=True,
        statistical=False,
    ),
)

HARD_CONCRETE = (
    Example(
        "HardConcrete/batched",
        HardConcrete,
        {"alpha": t([0.2, 1.0, 5.0]), "beta": t(2 / 3), "xi": t(1.1), "gamma": t(-0.1)},
        atoms=(0.0, 1.0),
        invalid_params=(
            ("alpha", t([0.2, -1.0, 5.0])),
            ("beta", t(0.0)),
            ("xi", t(0.9)),
            ("gamma", t(0.1)),
        ),
        invalid_values=(1.2, -0.1),
    ),
    Example(
        "HardConcrete/wide_stretch",
        HardConcrete,
        {
            "alpha": t([[0.5], [3.0]]),
            "beta": t([0.4, 1.5]),
            "xi": t(1.5),
            "gamma": t(-0.5),
        },
        atoms=(0.0, 1.0),
    ),
    Example(
        "HardConcrete/extreme",
        HardConcrete,
        {
            # e^-50 is tested in tests/test_bernoulli_gates.py: gradcheck's finite difference
            # (1e-6) would step alpha = e^-50 out of its support.
            "alpha": t([math.exp(-9), math.exp(50), 1.0]),
            "beta": t(0.05),
            "xi": t(1.1),
            "gamma": t(-0.1),
        },
        atoms=(0.0, 1.0),
        extreme=True,
        statistical=False,
    ),
    Example(
        "HardConcrete/log_alpha",
        HardConcrete,
        {"log_alpha": t([-1.5, 0.0, 1.6]), "beta": t(2 / 3), "xi": t(1.1), "gamma": t(-0.1)},
        atoms=(0.0, 1.0),
        invalid_params=(("log_alpha", t([0.0, math.nan, 1.0])),),
    ),
    Example(
        "HardConcrete/log_alpha-extreme",
        HardConcrete,
        # network logits beyond float32's exp range: alpha would be 0 or inf
        {"log_alpha": t([-150.0, 150.0, 0.0]), "beta": t(0.05), "xi": t(1.1), "gamma": t(-0.1)},
        atoms=(0.0, 1.0),
        extreme=True,
        statistical=False,
    ),
)

STRAIGHT_THROUGH = (
    Example(
        "StraightThroughBernoulli/probs",
        StraightThroughBernoulli,
        {"probs": t([0.2, 0.5, 0.9])},
        law="discrete",
        invalid_params=(("probs", t([0.2, 1.5, 0.9])),),
        invalid_values=(0.5, 2.0),
    ),
    Example(
        "StraightThroughBernoulli/logits",
        StraightThroughBernoulli,
        {"logits": t([[-1.0], [2.0]])},
        law="discrete",
    ),
    Example(
        "StraightThroughBernoulli/extreme",
        StraightThroughBernoulli,
        {"logits": t([-50.0, 50.0, 0.0])},
        law="discrete",
        extreme=True,
        statistical=False,
    ),
    Example(
        "StochasticTimesSmooth/probs",
        StochasticTimesSmooth,
        {"probs": t([0.1, 0.5, 0.95])},
        law="discrete",
        support_values=_sts_support,
        invalid_params=(("probs", t([0.1, -0.5, 0.95])),),
        invalid_values=(0.3, 1.5, -0.1),
    ),
    Example(
        "StochasticTimesSmooth/logits",
        StochasticTimesSmooth,
        {"logits": t([[-1.0], [2.0]])},
        law="discrete",
        support_values=_sts_support,
    ),
    Example(
        "StochasticTimesSmooth/extreme",
        StochasticTimesSmooth,
        {"logits": t([-50.0, 50.0, 0.0])},
        law="discrete",
        support_values=_sts_support,
        extreme=True,
        statistical=False,
    ),
    Example(
        "RelaxedBernoulliStraightThrough/batched_temperature",
        RelaxedBernoulliStraightThrough,
        {"temperature": t([0.5, 1.0, 2.0]), "logits": t([[0.3], [-1.0]])},
        law="straight_through",
        hard_view=_hard_bernoulli,
        hard_map=threshold_half,
        invalid_params=(("temperature", t([0.5, 0.0, 2.0])), ("logits", t([[0.3], [math.nan]]))),
        invalid_values=(1.5, -0.2),
    ),
    Example(
        "RelaxedBernoulliStraightThrough/probs",
        RelaxedBernoulliStraightThrough,
        {"temperature": t(0.7), "probs": t([0.25, 0.8])},
        law="straight_through",
        hard_view=_hard_bernoulli,
        hard_map=threshold_half,
        invalid_params=(("probs", t([0.25, 1.8])),),
    ),
    Example(
        "RelaxedBernoulliStraightThrough/extreme",
        RelaxedBernoulliStraightThrough,
        {"temperature": t(0.05), "logits": t([-50.0, 50.0, 0.0])},
        law="straight_through",
        hard_view=_hard_bernoulli,
        hard_map=threshold_half,
        extreme=True,
        statistical=False,
    ),
)

REBAR = (
    Example(
        "RebarRelaxation/batched",
        RebarRelaxation,
        {"theta": t([0.2, 0.7]), "lambd": t([[0.5], [1.5]])},
        invalid_params=(("theta", t([0.2, 1.7])), ("lambd", t([[0.5], [-1.0]]))),
        invalid_values=(1.5, -0.2),
    ),
    Example(
        "RebarRelaxation/scalar",
        RebarRelaxation,
        {"theta": t(0.4), "lambd": t(0.3)},
    ),
    Example(
        "RebarRelaxation/extreme",
        RebarRelaxation,
        # theta within 1e-4 of {0, 1}: gradcheck's finite difference (1e-6) stays in (0, 1);
        # sigmoid(+-50) is tested in tests/test_bernoulli_rebar.py.
        {"theta": t([1e-4, 1 - 1e-4, 0.5]), "lambd": t(0.05)},
        extreme=True,
        statistical=False,
    ),
)

CORRELATED = (
    Example(
        "CorrelatedRelaxedBernoulli/D2",
        CorrelatedRelaxedBernoulli,
        {"pi": t([0.3, 0.6]), "R": _correlation(0.7, 2), "tau": t(0.5)},
        invalid_params=(
            ("R", t([[1.0, 1.2], [1.2, 1.0]])),
            ("pi", t([0.3, 1.6])),
            ("tau", t(-0.5)),
        ),
        invalid_values=([0.5, 1.5],),
    ),
    Example(
        "CorrelatedRelaxedBernoulli/D3_batched",
        CorrelatedRelaxedBernoulli,
        {
            "pi": t([0.2, 0.5, 0.8]),
            "R": torch.stack([_correlation(-0.4, 3), _correlation(0.8, 3)]),
            "tau": t([0.3, 1.0]),
        },
        invalid_params=(("R", _R_NOT_PD), ("R", _R_NOT_UNIT), ("R", _R_NOT_SYMMETRIC)),
    ),
    Example(
        "CorrelatedRelaxedBernoulli/D64",
        CorrelatedRelaxedBernoulli,
        {
            "pi": torch.linspace(0.05, 0.95, 64).expand(3, 64),
            "R": _correlation(0.5, 64),
            "tau": t([0.2, 0.5, 1.0]),
        },
        statistical=False,
    ),
    Example(
        "CorrelatedRelaxedBernoulli/extreme",
        CorrelatedRelaxedBernoulli,
        {
            "pi": t([1e-4, 1 - 1e-4, 0.5, 0.99]),
            "R": _correlation(0.95, 4),
            "tau": t(0.05),
        },
        extreme=True,
        statistical=False,
    ),
)

EXAMPLES: tuple[Example, ...] = (
    *GAUSSIAN_GATES,
    *HARD_CONCRETE,
    *STRAIGHT_THROUGH,
    *REBAR,
    *CORRELATED,
)
