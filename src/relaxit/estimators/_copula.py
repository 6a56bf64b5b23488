r"""The Dirichlet copula of ARMS/CARMS: ``n`` mutually antithetic U(0, 1) variables.

Dimitriev & Zhou (2021), "ARMS: Antithetic-REINFORCE-Multi-Sample gradient for binary
variables", ICML, section 3: with ``d ~ Dirichlet(1, ..., 1)`` over ``n`` coordinates,
``u_i = (1 - d_i)^(n - 1)`` is U(0, 1) for each ``i`` (``1 - d_i ~ Beta(n - 1, 1)``), and the
``u_i`` are negatively dependent: two of them fall below ``x`` together with probability

$$
C(x, x) = \max\big(2 x^{1/(n-1)} - 1,\ 0\big)^{n-1},
$$

the bivariate copula of any pair (zero for ``x < 2^{-(n-1)}``: small events never co-occur).
"""

from __future__ import annotations

import torch
from torch import Tensor

from relaxit.estimators._protocol import uniform


def log_uniforms(n: int, shape: tuple[int, ...], like: Tensor) -> Tensor:
    """``log u`` of shape ``(n,) + shape``: ``n`` antithetic U(0, 1) (dim 0) per entry of ``shape``.

    ``1 - d_i`` is computed as ``sum_{j != i} E_j / sum_j E_j`` from exclusive prefix and suffix
    sums of the exponentials ``E``, so that ``u_i`` keeps its relative precision when it is tiny
    (the events of small probability that ARMS relies on).
    """
    e = -uniform((n, *shape), like).log()  # Exp(1)
    zero = torch.zeros_like(e[:1])
    before = torch.cat([zero, e.cumsum(0)[:-1]])
    after = torch.cat([e.flip(0).cumsum(0)[:-1].flip(0), zero])
    return (n - 1) * ((before + after).log() - e.sum(0).log())


def diagonal_ratio(log_x: Tensor, n: int) -> Tensor:
    """``C(x, x) / x`` for the Dirichlet copula of ``n`` samples (0 where ``C`` is 0), in [0, 1)
    for ``0 < x <= 1/2``; computed from ``log x`` so that ``x -> 0`` gives exactly 0."""
    t = 2 * torch.exp(log_x / (n - 1)) - 1
    positive = t > 0
    ratio = torch.exp((n - 1) * torch.log(torch.where(positive, t, 1.0)) - log_x)
    return torch.where(positive, ratio, 0.0)
