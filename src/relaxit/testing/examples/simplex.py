"""Simplex-valued distributions: the invertible Gaussian and the softmax logistic-normal.

Densities are w.r.t. Lebesgue measure on the first K-1 coordinates; the kit integrates them by
quadrature for K = 2 and by importance sampling for K >= 3.
"""

import torch

from relaxit.distributions import InvertibleGaussian, LogisticNormalSoftmax
from relaxit.testing.example import Example

_NOT_SIMPLEX = ([0.5, 0.6, 0.1], [-0.1, 0.6, 0.5])

EXAMPLES = (
    Example(
        "InvertibleGaussian/K2",
        InvertibleGaussian,
        {
            "loc": torch.tensor([0.4]),
            "scale": torch.tensor([0.8]),
            "temperature": torch.tensor(0.7),
        },
        invalid_params=(("scale", torch.tensor([-0.5])), ("temperature", torch.tensor(0.0))),
        invalid_values=([0.5, 0.6], [1.2, -0.2]),
    ),
    Example(
        "InvertibleGaussian/K3",
        InvertibleGaussian,
        {
            "loc": torch.tensor([0.3, -0.5]),
            "scale": torch.tensor([0.7, 1.2]),
            "temperature": torch.tensor(0.5),
            "delta": torch.tensor(1.5),
        },
        invalid_params=(
            ("scale", torch.tensor([0.7, 0.0])),
            ("temperature", torch.tensor(-1.0)),
            ("delta", torch.tensor(0.0)),
            ("scale", torch.ones(3)),  # shape mismatch with loc
        ),
        invalid_values=_NOT_SIMPLEX,
    ),
    Example(
        "InvertibleGaussian/batched",
        InvertibleGaussian,
        {
            "loc": torch.tensor([[0.2, -0.3, 0.5], [1.0, 0.0, -1.0]]),
            "scale": torch.tensor([0.5, 1.0, 0.8]),
            "temperature": torch.tensor([1.0, 0.3]),
        },
        invalid_params=(("temperature", torch.tensor([1.0, -0.3])),),
        invalid_values=([0.2, 0.2, 0.2, 0.2],),
    ),
    Example(
        "InvertibleGaussian/extreme",
        InvertibleGaussian,
        {
            "loc": torch.tensor([[50.0, -50.0, 0.0], [0.0, 3.0, -3.0]]),
            "scale": torch.tensor([1.0, 2.0, 0.5]),
            "temperature": torch.tensor(0.05),
        },
        statistical=False,  # coordinates underflow to the clamp at 1e-308: a truncated law
        extreme=True,
    ),
    Example(
        "LogisticNormalSoftmax/K2",
        LogisticNormalSoftmax,
        {"loc": torch.tensor([0.3, -0.4]), "scale": torch.tensor([0.6, 1.1])},
        invalid_params=(("scale", torch.tensor([0.6, -1.0])), ("loc", torch.zeros(3))),
        invalid_values=([0.5, 0.6], [1.2, -0.2]),
    ),
    Example(
        "LogisticNormalSoftmax/K3",
        LogisticNormalSoftmax,
        {"loc": torch.tensor([0.5, -0.2, 0.1]), "scale": torch.tensor([0.4, 1.0, 0.7])},
        invalid_params=(("scale", torch.tensor([0.4, 0.0, 0.7])),),
        invalid_values=_NOT_SIMPLEX,
    ),
    Example(
        "LogisticNormalSoftmax/K4-batched",
        LogisticNormalSoftmax,
        {
            "loc": torch.tensor([[0.0, 1.0, -1.0, 0.5], [2.0, 0.0, 0.0, -2.0]]),
            "scale": torch.tensor([[1.0, 0.5, 0.8, 1.2], [0.3, 0.3, 2.0, 0.6]]),
        },
    ),
    Example(
        "LogisticNormalSoftmax/extreme",
        LogisticNormalSoftmax,
        {
            "loc": torch.tensor([[50.0, -50.0, 0.0], [-50.0, 0.0, 50.0]]),
            "scale": torch.tensor([0.05, 3.0, 1.0]),
        },
        statistical=False,  # coordinates underflow to the clamp at 1e-308: a truncated law
        extreme=True,
    ),
    Example(
        "LogisticNormalSoftmax/K12",
        LogisticNormalSoftmax,
        {"loc": torch.linspace(-2.0, 2.0, 12).expand(5, 12), "scale": torch.full((12,), 0.8)},
        statistical=False,  # large shapes: shapes, gradients, dtypes only
    ),
)
