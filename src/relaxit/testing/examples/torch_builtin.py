"""PyTorch's own relaxed distributions (through Pyro's wrappers): the kit must pass them.

PyTorch's relaxed classes take their batch shape from ``probs``/``logits`` alone and do not
broadcast a batched ``temperature`` against them (the kit's broadcasting check finds this), so
these examples keep the temperature a scalar; relaxit's own classes broadcast every parameter.
"""

import torch
from pyro.distributions import RelaxedBernoulli, RelaxedOneHotCategorical

from relaxit.testing.example import Example

EXAMPLES = (
    Example(
        "torch.RelaxedBernoulli/batched",
        RelaxedBernoulli,
        {"temperature": torch.tensor(0.5), "probs": torch.tensor([0.25, 0.6, 0.9])},
        invalid_params=(("probs", torch.tensor([0.2, 1.3, 0.5])),),
        invalid_values=(1.5, -0.2),
    ),
    Example(
        "torch.RelaxedBernoulli/probs",
        RelaxedBernoulli,
        {"temperature": torch.tensor(0.7), "probs": torch.tensor([[0.2], [0.9]])},
        invalid_params=(("probs", torch.tensor([[0.2], [1.5]])),),
    ),
    Example(
        "torch.RelaxedOneHotCategorical/K3",
        RelaxedOneHotCategorical,
        {"temperature": torch.tensor(0.8), "probs": torch.tensor([[0.2, 0.3, 0.5]])},
        invalid_params=(("probs", torch.tensor([[0.2, -0.1, 0.9]])),),
        invalid_values=([0.5, 0.6, 0.1],),
    ),
    Example(
        "torch.RelaxedOneHotCategorical/K2",
        RelaxedOneHotCategorical,
        {"temperature": torch.tensor(1.5), "probs": torch.tensor([0.3, 0.7])},
    ),
)
