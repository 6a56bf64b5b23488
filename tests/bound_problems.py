"""Small estimator problems shared by the MuProp/NVIL, GST/ZGR and VIMCO tests.

Logits have shape ``items + joint (+ (K,))``; ``f`` reduces only the trailing joint dims, so it
also accepts the extra leading run dim of ``gradient_samples`` (an item dim).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Bernoulli, OneHotCategorical

DTYPE = torch.float64


def z_test_bound(count: int, z: float) -> float:
    """Probability that ``count`` two-sided z-tests at ``z`` raise a false alarm (union bound)."""
    return count * math.erfc(z / math.sqrt(2))


@dataclass(frozen=True)
class Problem:
    name: str
    family: str
    items: tuple[int, ...]
    joint: tuple[int, ...]
    k: int = 0  # classes, categorical only
    quadratic: bool = False  # f without the sine term: degree <= 2 in every variable

    @property
    def shape(self) -> tuple[int, ...]:
        return self.items + self.joint + ((self.k,) if self.k else ())

    @property
    def n_trailing(self) -> int:
        """Dims of one item's joint variable in ``b``."""
        return len(self.joint) + (1 if self.k else 0)

    def logits(self, scale: float = 1.0) -> torch.Tensor:
        g = torch.Generator().manual_seed(sum(map(ord, self.name)))
        return scale * 1.5 * torch.randn(self.shape, generator=g, dtype=DTYPE)

    def make_dist(self, x: torch.Tensor):
        return Bernoulli(logits=x) if self.family == "bernoulli" else OneHotCategorical(logits=x)

    def values(self, b: torch.Tensor) -> torch.Tensor:
        """``s``: one number per variable (0/1, or the class's value), joint dims flattened."""
        if self.k:
            b = b @ torch.linspace(-1.0, 2.0, self.k, dtype=b.dtype)
        return b.reshape((*b.shape[: b.dim() - len(self.joint)], -1))

    def f(self, b: torch.Tensor) -> torch.Tensor:
        """``(sum_j w_j s_j - 0.45)^2 + 1.5 s_first s_last (+ sin(2 sum_j s_j))``: couples every
        variable; without the sine it is a polynomial of degree <= 2 in each variable (also in
        each one-hot vector, since ``s`` is linear in it)."""
        s = self.values(b)
        w = torch.linspace(1.0, -0.7, s.shape[-1], dtype=b.dtype)
        out = ((s * w).sum(-1) - 0.45) ** 2 + 1.5 * s[..., 0] * s[..., -1]
        return out if self.quadratic else out + (2 * s.sum(-1)).sin()


PROBLEMS = [
    Problem("bernoulli D=3", "bernoulli", (), (3,)),
    Problem("bernoulli items 3 x D=2", "bernoulli", (3,), (2,)),
    Problem("categorical K=4", "categorical", (), (), 4),
    Problem("categorical items 2 x K=3", "categorical", (2,), (), 3),
    Problem("categorical 2 joint variables K=3", "categorical", (), (2,), 3),
]
