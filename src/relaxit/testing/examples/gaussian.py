"""Batched OMT/AVF multivariate normals: for samples and ``log_prob`` they are ordinary MVNs."""

import torch

from relaxit.distributions import AVFMultivariateNormal, OMTMultivariateNormal
from relaxit.testing.example import Example

_TRIL_2 = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
_TRIL_4 = torch.tensor(
    [
        [1.0, 0.0, 0.0, 0.0],
        [0.5, 0.9, 0.0, 0.0],
        [-0.3, 0.4, 0.8, 0.0],
        [0.7, -0.2, 0.3, 0.5],
    ]
)
_BAD_TRIL_2 = torch.tensor([[1.0, 0.0], [0.6, -0.8]])

EXAMPLES = (
    Example(
        "OMTMultivariateNormal/D2",
        OMTMultivariateNormal,
        {"loc": torch.tensor([0.5, -1.0]), "scale_tril": _TRIL_2},
        invalid_params=(("scale_tril", _BAD_TRIL_2), ("scale_tril", torch.eye(3))),
    ),
    Example(
        "OMTMultivariateNormal/D1-batched",
        OMTMultivariateNormal,
        {"loc": torch.tensor([[0.5], [-2.0]]), "scale_tril": torch.tensor([[[0.7]], [[1.5]]])},
    ),
    Example(
        "OMTMultivariateNormal/D4-dense",
        OMTMultivariateNormal,
        # every pair of coordinates correlated, (0, 3) the most: the all-pairs statistics and
        # the random-feature MMD of the sample-law check see a real dependence structure
        {"loc": torch.tensor([0.0, 1.0, -1.0, 0.5]), "scale_tril": _TRIL_4},
    ),
    Example(
        "OMTMultivariateNormal/D6-batched",
        OMTMultivariateNormal,
        {
            "loc": torch.randn(4, 6, generator=torch.Generator().manual_seed(0)),
            "scale_tril": torch.eye(6) + 0.3 * torch.ones(6, 6).tril(-1),
        },
        statistical=False,  # large shapes: shapes, gradients, dtypes only
    ),
    Example(
        "AVFMultivariateNormal/D2-batched",
        AVFMultivariateNormal,
        {
            "loc": torch.tensor([[0.5, -1.0], [0.0, 2.0]]),
            "scale_tril": _TRIL_2,
            "control_var": torch.full((2, 3, 2), 0.1),
        },
        pathwise_exclude=("control_var",),  # its gradient trains the control variate
        invalid_params=(
            ("scale_tril", _BAD_TRIL_2),
            ("control_var", torch.zeros(3, 1, 2)),
            ("control_var", torch.zeros(2, 1, 3)),
        ),
    ),
)
