"""The exact k-subset distribution (conditional Bernoulli) and SIMPLE's gradient."""

from __future__ import annotations

import itertools
import math
from typing import ClassVar

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from relaxit.distributions._params import finite_real_vector
from relaxit.distributions.topk import _KHot

MAX_ENUMERATED_SUBSETS = 100_000
"""Largest support (number of k-subsets) that `KSubset.enumerate_support` builds."""


def subset_size(k, n: int, name: str) -> int:
    """``k`` as a Python int in [1, n]; an int or an integer 0-dim tensor, else ``ValueError``."""
    if torch.is_tensor(k) and k.dim() == 0 and not k.is_floating_point() and k.dtype != torch.bool:
        k = int(k)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"{name}: `k` must be an int in [1, {n}] (the subset size), got {k!r}")
    return k


def log_elementary_symmetric(logits: torch.Tensor, k: int) -> list[torch.Tensor]:
    """Log elementary symmetric polynomials of ``exp(logits)`` over every prefix.

    Entry ``j`` (j = 0..k) has shape ``(..., n + 1 - j)``; its element ``i - j`` is
    ``log e_j(x_1, ..., x_i)`` for the prefix of length ``i = j..n``, ``x = exp(logits)``.
    Recursion (one ``logcumsumexp`` over the items per ``j``, O(n k) work):
    ``e_j(x_1..x_i) = sum_{i' <= i} e_{j-1}(x_1..x_{i'-1}) x_{i'}``.
    Prefixes shorter than ``j`` (where ``e_j = 0``) are left out rather than stored as
    ``-inf``, so the gradient stays finite.
    """
    n = logits.shape[-1]
    tables = [logits.new_zeros((*logits.shape[:-1], n + 1))]
    for j in range(1, k + 1):
        tables.append(torch.logcumsumexp(tables[-1][..., :-1] + logits[..., j - 1 :], -1))
    return tables


def log_partition(logits: torch.Tensor, k: int) -> torch.Tensor:
    """``log sum_{|S| = k} exp(sum_{i in S} logits_i) = log e_k(exp(logits))``, shape ``(...)``."""
    return log_elementary_symmetric(logits, k)[k][..., -1]


def log_marginals(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Log inclusion probabilities ``log P(i in S)`` of the k-subset law, shape of ``logits``.

    ``P(i in S) = x_i sum_{j=0}^{k-1} e_j(items before i) e_{k-1-j}(items after i) / e_k(x)``
    with the prefix tables of `log_elementary_symmetric` and the same tables of the reversed
    items (suffixes). Differentiable (SIMPLE back-propagates through it).
    """
    n = logits.shape[-1]
    prefix = log_elementary_symmetric(logits, k)
    suffix = log_elementary_symmetric(logits.flip(-1), k - 1)
    log_z = prefix[k][..., -1:]

    def padded(table: torch.Tensor, j: int) -> torch.Tensor:
        # Length n + 1 over prefix lengths 0..n, with e_j = 0 (log -inf) below length j.
        pad = table.new_full((*table.shape[:-1], j), float("-inf"))
        return torch.cat([pad, table], -1)

    # before[j][t] = log e_j(items 0..t-1); after[m][t] = log e_m(items t+1..n-1).
    before = torch.stack([padded(prefix[j], j)[..., :n] for j in range(k)])
    after = torch.stack([padded(suffix[m], m)[..., :n].flip(-1) for m in range(k)])
    pairs = (before + after.flip(0)).logsumexp(0)  # sum over j of e_j(before) e_{k-1-j}(after)
    return logits + pairs - log_z


class KSubset(TorchDistribution):
    r"""The exact k-subset distribution over k-hot vectors (conditional Bernoulli).

    ``p(S) = exp(sum_{i in S} logits_i) / Z`` for every subset ``S`` of the n items with
    ``|S| = k``, ``Z = e_k(exp(logits))`` the k-th elementary symmetric polynomial. It is the law
    of independent ``Bernoulli(sigmoid(logits_i))`` conditioned on exactly k successes.

    * ``log_prob(value) = <value, logits> - log Z`` for a k-hot ``value``; base measure:
      counting measure on the C(n, k) k-hot vectors. ``log Z`` by dynamic programming in log
      space over prefixes (`log_elementary_symmetric`, O(n k)).
    * ``marginals``: the exact inclusion probabilities ``P(i in S) = d log Z / d logits_i``,
      from prefix and suffix tables (O(n k)); they are also ``mean``.
    * ``sample``: exact, by the sequential conditional-Bernoulli sampler (Chen, Dempster & Liu
      1994): from the last item to the first, with ``r`` items still to pick among items
      ``1..i``, take item ``i`` with probability ``x_i e_{r-1}(x_1..x_{i-1}) / e_r(x_1..x_i)``
      (read off the prefix table); one O(n k) table, then n vectorized steps.
    * ``rsample`` (SIMPLE, Ahmed, Zeng, Niepert & Van den Broeck 2023, "SIMPLE: A Gradient
      Estimator for k-Subset Sampling", ICLR): the forward value is an exact k-hot sample ``z``,
      the backward is that of the exact marginals, ``z + mu - stop_gradient(mu)``, i.e.
      ``d loss / d logits = (d mu / d logits)^T d loss / d z``.

    Shapes: ``logits`` ``(*batch, n)``; ``sample(sample_shape)`` is ``sample_shape + batch +
    (n,)`` (floating 0/1 in the logits' dtype); ``log_prob`` is ``sample_shape + batch``.

    Args:
        logits: ``(*batch, n)`` real; shifting all logits of a row leaves the law unchanged.
        k: subset size, an int (or integer 0-dim tensor) in [1, n].
        validate_args: as in ``torch.distributions``.

    Examples:
        >>> import torch
        >>> d = KSubset(torch.zeros(4), k=2)
        >>> d.marginals
        tensor([0.5000, 0.5000, 0.5000, 0.5000])
        >>> round(d.log_prob(torch.tensor([1.0, 0.0, 1.0, 0.0])).exp().item(), 4)  # 1 / C(4, 2)
        0.1667
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {"logits": finite_real_vector}
    has_rsample = True
    has_enumerate_support = True

    def __init__(self, logits, k, validate_args=None):
        if not torch.is_tensor(logits):
            logits = torch.as_tensor(logits, dtype=torch.get_default_dtype())
        if logits.dim() < 1:
            raise ValueError("KSubset: `logits` must have at least one dimension (the items)")
        if not logits.is_floating_point():
            logits = logits.to(torch.get_default_dtype())
        n = logits.shape[-1]
        self.k = subset_size(k, n, "KSubset")
        self.logits = logits
        super().__init__(logits.shape[:-1], logits.shape[-1:], validate_args=validate_args)

    @property
    def support(self) -> constraints.Constraint:
        return _KHot(self.k, hard=True)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(KSubset, _instance)
        batch_shape = torch.Size(batch_shape)
        new.logits = self.logits.expand(batch_shape + self.event_shape)
        new.k = self.k
        super(KSubset, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def log_normalizer(self) -> torch.Tensor:
        """``log Z = log e_k(exp(logits))``, shape ``batch``."""
        return log_partition(self.logits, self.k)

    @lazy_property
    def marginals(self) -> torch.Tensor:
        """Exact inclusion probabilities ``P(i in S)``, ``(*batch, n)``; they sum to k."""
        return log_marginals(self.logits, self.k).exp()

    @property
    def mean(self) -> torch.Tensor:
        return self.marginals

    @property
    def variance(self) -> torch.Tensor:
        return self.marginals * (1 - self.marginals)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        value = value.to(self.logits.dtype)
        return (value * self.logits).sum(-1) - self.log_normalizer

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        n, k = shape[-1], self.k
        with torch.no_grad():
            logits = self.logits.expand(shape)
            # prefix[..., i, j] = log e_j(items 0..i-1), -inf where i < j
            tables = log_elementary_symmetric(logits, k)
            prefix = torch.stack(
                [
                    torch.cat([t.new_full((*t.shape[:-1], j), float("-inf")), t], -1)
                    for j, t in enumerate(tables)
                ],
                -1,
            )
            u = torch.rand(shape, dtype=logits.dtype, device=logits.device)
            left = torch.full(shape[:-1], k, dtype=torch.long, device=logits.device)
            chosen = torch.zeros(shape, dtype=torch.bool, device=logits.device)
            for i in range(n, 0, -1):  # item i-1 is in S with prob x e_{r-1}(before) / e_r(to i)
                now = prefix[..., i, :].gather(-1, left.unsqueeze(-1)).squeeze(-1)
                before = prefix[..., i - 1, :].gather(-1, (left - 1).clamp_min(0).unsqueeze(-1))
                p = (logits[..., i - 1] + before.squeeze(-1) - now).exp()
                take = (u[..., i - 1] < p) & (left > 0) | (left >= i)
                chosen[..., i - 1] = take
                left = left - take.long()
            return chosen.to(logits.dtype)

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        hard = self.sample(sample_shape)
        mu = self.marginals
        return hard + (mu - mu.detach())

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        n, k = self.event_shape[0], self.k
        count = math.comb(n, k)
        if count > MAX_ENUMERATED_SUBSETS:
            raise ValueError(
                f"KSubset: enumerate_support would build C({n}, {k}) = {count} k-hot vectors "
                f"(limit {MAX_ENUMERATED_SUBSETS})"
            )
        rows = torch.tensor(list(itertools.combinations(range(n), k)), device=self.logits.device)
        values = self.logits.new_zeros((count, n)).scatter_(-1, rows, 1.0)
        values = values.reshape(count, *(1,) * len(self.batch_shape), n)
        return values.expand(count, *self.batch_shape, n) if expand else values
