"""Rankings: the Plackett-Luce distribution over permutations."""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

from relaxit.distributions._gumbel import gumbel_like
from relaxit.distributions._params import finite_real_vector

MAX_ENUMERATED_PERMUTATIONS = 40_320
"""Largest support (n! rankings, n = 8) that `PlackettLuce.enumerate_support` builds."""


class _Permutation(constraints.Constraint):
    """Vectors of length n holding each of the item indices 0..n-1 exactly once."""

    is_discrete = True
    event_dim = 1

    def __init__(self, n: int):
        self.n = n
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        if value.shape[-1:] != (self.n,):
            return torch.zeros(value.shape[:-1], dtype=torch.bool, device=value.device)
        items = torch.arange(self.n, device=value.device, dtype=value.dtype)
        return (value.sort(-1).values == items).all(-1)


class PlackettLuce(TorchDistribution):
    r"""Rankings of n items, best first (Plackett 1975; Luce 1959).

    The ranking ``pi`` (a permutation of the item indices) is built best first: each next item
    is drawn among those not ranked yet with probability proportional to ``exp(logits_i)``,

    ``log p(pi) = sum_{j=1}^{n} (logits_{pi_j} - log sum_{m >= j} exp(logits_{pi_m}))``,

    computed for a whole batch with one reversed ``logcumsumexp``. Base measure: counting
    measure on the n! permutations. Sampling uses the Gumbel perturbation of Yellott (1977) /
    Kool et al. (2019): sorting ``logits + g``, ``g`` i.i.d. Gumbel(0, 1), in decreasing order
    gives an exact Plackett-Luce ranking. There is no ``rsample`` (a ranking is discrete); for
    relaxed permutation matrices see `relaxit.structured.neural_sort` and
    `relaxit.structured.gumbel_sinkhorn`.

    Shapes: ``logits`` ``(*batch, n)``; ``sample(sample_shape)`` is ``sample_shape + batch +
    (n,)`` of ``torch.long`` item indices; ``log_prob`` is ``sample_shape + batch`` in the
    logits' dtype.

    Args:
        logits: ``(*batch, n)`` real item scores; shifting a row leaves the law unchanged.
        validate_args: as in ``torch.distributions``; ``log_prob`` then rejects values that are
            not permutations of ``0..n-1``.

    Examples:
        >>> import torch
        >>> d = PlackettLuce(torch.tensor([2.0, 0.0, 1.0]))
        >>> d.sample((4,)).shape
        torch.Size([4, 3])
        >>> p = d.log_prob(torch.tensor([0, 2, 1])).exp()  # e^2/(e^2+1+e) * e/(e+1)
        >>> round(p.item(), 4)
        0.4863
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {"logits": finite_real_vector}
    has_enumerate_support = True

    def __init__(self, logits, validate_args=None):
        if not torch.is_tensor(logits):
            logits = torch.as_tensor(logits, dtype=torch.get_default_dtype())
        if logits.dim() < 1:
            raise ValueError("PlackettLuce: `logits` must have at least one dimension (the items)")
        if not logits.is_floating_point():
            logits = logits.to(torch.get_default_dtype())
        self.logits = logits
        super().__init__(logits.shape[:-1], logits.shape[-1:], validate_args=validate_args)

    @property
    def support(self) -> constraints.Constraint:
        return _Permutation(self.event_shape[0])

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(PlackettLuce, _instance)
        batch_shape = torch.Size(batch_shape)
        new.logits = self.logits.expand(batch_shape + self.event_shape)
        super(PlackettLuce, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            logits = self.logits.expand(shape)
            return (logits + gumbel_like(logits, shape)).argsort(-1, descending=True)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape) + self.event_shape
        ranked = self.logits.expand(shape).gather(-1, value.long().expand(shape))
        # log of the mass still unranked before each position: logsumexp of ranked[j:].
        remaining = ranked.flip(-1).logcumsumexp(-1).flip(-1)
        return (ranked - remaining).sum(-1)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        n = self.event_shape[0]
        count = math.factorial(n)
        if count > MAX_ENUMERATED_PERMUTATIONS:
            raise ValueError(
                f"PlackettLuce: enumerate_support would build {n}! = {count} rankings "
                f"(limit {MAX_ENUMERATED_PERMUTATIONS})"
            )
        rows = torch.tensor(list(itertools.permutations(range(n))), device=self.logits.device)
        rows = rows.reshape(count, *(1,) * len(self.batch_shape), n)
        return rows.expand(count, *self.batch_shape, n) if expand else rows
