"""Gumbel top-k: K categories without replacement, and its relaxation by successive softmaxes."""

from __future__ import annotations

import itertools
from functools import cache
from typing import ClassVar

import torch
from torch.distributions import constraints

from relaxit.distributions._categorical import ProbsOrLogits, logits_from
from relaxit.distributions._gumbel import gumbel_like
from relaxit.distributions._numerics import simplex, sum_tolerance
from relaxit.distributions._params import (
    CheckedDistribution,
    broadcast_batch,
    finite_positive,
    finite_real_vector,
    float_params,
    resolve_alias,
)
from relaxit.distributions._topk_relaxation import relaxed_k_hot

_INT_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)

MAX_EXACT_K = 12
"""Largest subset size whose set probability `GumbelSoftmaxTopK.log_prob` computes exactly."""


class _KHot(constraints.Constraint):
    """Vectors with entries in {0, 1} (``hard``) or [0, 1] summing to ``k``."""

    event_dim = 1

    def __init__(self, k: int, hard: bool):
        self.k, self.hard = k, hard
        super().__init__()

    @property
    def is_discrete(self) -> bool:  # type: ignore[override]
        return self.hard

    def check(self, value: torch.Tensor) -> torch.Tensor:
        tol = max(1e-5 * max(self.k, 1), sum_tolerance(value.dtype, value.shape[-1]))
        if self.hard:
            entries = ((value == 0) | (value == 1)).all(-1)
        else:
            entries = ((value >= 0) & (value <= 1)).all(-1)
        return entries & ((value.sum(-1) - self.k).abs() <= tol)


@cache
def _subset_tables(k: int) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
    """Per subset size m=1..k: the subsets (bitmasks), their predecessors A minus one element
    (-1 where the element is absent), and the membership matrix of all 2^k subsets."""
    layers, preds = [], []
    for m in range(1, k + 1):
        subsets = [sum(1 << i for i in c) for c in itertools.combinations(range(k), m)]
        layers.append(torch.tensor(subsets))
        preds.append(
            torch.tensor([[a ^ (1 << i) if a >> i & 1 else -1 for i in range(k)] for a in subsets])
        )
    member = torch.tensor([[a >> i & 1 for i in range(k)] for a in range(1 << k)], dtype=torch.bool)
    return layers, preds, member


class GumbelSoftmaxTopK(ProbsOrLogits, CheckedDistribution):
    r"""K of n categories without replacement (Gumbel top-k) and its relaxed k-hot.

    Method: Kool, van Hoof & Welling (2019), "Stochastic Beams and Where to Find Them: The
    Gumbel-Top-k Trick": with ``s = log p + g``, ``g`` i.i.d. Gumbel(0, 1), the indices of the K
    largest ``s`` are K categories drawn without replacement with probabilities ``p``. The
    relaxation follows Xie & Ermon (2019), "Reparameterizable Subset Sampling via Continuous
    Relaxations": K successive Gumbel-Softmax steps with soft masking in log space,

    ``a_j = softmax((s + log r_{j-1}) / tau)``, ``r_j = r_{j-1} - a_j``, ``r_0 = 1``,

    where ``r`` is what is left of each category (one minus its cumulative weight, so the mask
    is not only the last step's weight). A step weight larger than what is left of a category
    (possible at large ``tau``) is capped at ``r`` and the excess spread over the other
    categories in proportion to their headroom, so every entry of ``y = sum_j a_j`` lies in
    [0, 1] and ``sum y = K`` exactly. ``hard=True`` returns the exact top-k of ``s`` forward
    (k-hot) with the gradient of ``y`` backward (straight-through). A used-up category
    (``r = 0``) has ``log r = -inf``: no weight. The K steps run as one ``autograd.Function``
    (`relaxit.distributions._topk_relaxation`) that saves only ``s`` (O(n), not O(K n)) and
    recomputes the steps in its hand-written backward; with ``hard=True`` the forward pass is
    the top-k alone.

    ``log_prob(value)`` is the exact log-probability of the unordered set of a k-hot value
    under sampling without replacement (base measure: counting measure on the C(n, K) k-hot
    vectors), the Plackett-Luce sum over the K! orders computed by dynamic programming over
    the 2^K subsets of the set (O(2^K K) per value):
    ``f(A) = sum_{i in A} f(A \ i) p_i / (1 - P(A \ i))``, ``f(empty) = 1``, ``P(set) = f(set)``.
    K above ``MAX_EXACT_K`` (12) raises ``ValueError``. With ``hard=False`` the samples are
    continuous but have no tractable density; ``log_prob`` then returns the log-probability of
    the set of the K largest entries of ``value`` (exact for a k-hot value), not a density.

    Args: ``probs`` or ``logits`` (finite), ``(*batch, n)``; ``K`` the subset size (int);
    ``temperature`` (or the paper's name ``tau``; default 0.1) finite and > 0, broadcast with
    ``batch``; ``hard``.

    Shapes: ``probs``/``logits`` ``(*batch, n)``; ``rsample(sample_shape)`` is
    ``sample_shape + batch + (n,)``; ``log_prob`` is ``sample_shape + batch``.

    Examples:
        >>> import torch
        >>> d = GumbelSoftmaxTopK(logits=torch.zeros(5), K=2)
        >>> x = d.rsample((3,))
        >>> x.shape, x.sum(-1).tolist()
        (torch.Size([3, 5]), [2.0, 2.0, 2.0])
        >>> round(d.log_prob(x[0]).exp().item(), 4)  # 1 / C(5, 2)
        0.1
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "probs": simplex,
        "logits": finite_real_vector,
        "temperature": finite_positive,
        "tau": finite_positive,  # the paper's name, an alias of temperature
    }
    has_rsample = True

    def __init__(
        self,
        probs=None,
        logits=None,
        K=1,
        tau=None,
        hard=True,
        validate_args=None,
        *,
        temperature=None,
    ):
        owner = type(self).__name__
        temperature, t_name = resolve_alias(
            owner, "temperature", temperature, "tau", tau, default=0.1
        )
        tensor, is_probs = logits_from(probs, logits, owner)
        n = tensor.shape[-1]
        if torch.is_tensor(K) and K.dim() == 0 and K.dtype in _INT_DTYPES:
            K = int(K)  # an integer 0-dim tensor, e.g. torch.tensor(5)
        if isinstance(K, bool) or not isinstance(K, int) or not 1 <= K <= n:
            raise ValueError(f"{owner}: `K` must be an int in [1, {n}], got {K!r}")
        temperature = float_params(owner, _=tensor, **{t_name: temperature})[t_name]
        which = "probs" if is_probs else "logits"
        batch_shape = broadcast_batch(
            owner, {f"{which}[..., :-1]": tensor.shape[:-1], t_name: temperature.shape}
        )
        if is_probs:
            self.probs = tensor.expand((*batch_shape, n))
        else:
            self.logits = tensor.expand((*batch_shape, n))
        self.temperature = temperature.expand(batch_shape)
        self.K, self.hard = K, bool(hard)
        self._init_checked(
            batch_shape, torch.Size((n,)), validate_args, names={"temperature": t_name}
        )

    @property
    def tau(self) -> torch.Tensor:
        """The paper's name for ``temperature``."""
        return self.temperature

    @property
    def support(self):
        return _KHot(self.K, self.hard)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(GumbelSoftmaxTopK, _instance)
        batch_shape = torch.Size(batch_shape)
        n = self.event_shape
        self._expand_probs_or_logits(new, batch_shape + n)
        new.temperature = self.temperature.expand(batch_shape)
        new.K, new.hard = self.K, self.hard
        new._init_expanded(batch_shape, n, self._validate_args)
        return new

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        # Top-k and the relaxation are invariant to shifting a row of logits: no normalization.
        logits = self.logits
        return relaxed_k_hot(logits, gumbel_like(logits, shape), self.tau, self.K, self.hard)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self.K > MAX_EXACT_K:
            raise ValueError(
                f"GumbelSoftmaxTopK: exact log_prob needs K <= {MAX_EXACT_K} "
                f"(O(2^K K) per value), got K={self.K}"
            )
        if self._validate_args:
            self._validate_sample(value)
        logits = self._normalized_logits()
        shape = torch.broadcast_shapes(value.shape[:-1], self.batch_shape)
        n = self.event_shape[0]
        value = value.expand((*shape, n))
        logits = logits.expand((*shape, n))
        chosen = value.detach().topk(self.K, -1).indices
        in_set = torch.zeros_like(value, dtype=torch.bool).scatter_(-1, chosen, True)
        # log P(not in the set), with a finite floor so that its gradient stays finite.
        log_rest = logits.masked_fill(in_set, torch.finfo(logits.dtype).min).logsumexp(-1)
        return _log_set_probability(logits.gather(-1, chosen), log_rest)


def _log_set_probability(log_p: torch.Tensor, log_rest: torch.Tensor) -> torch.Tensor:
    """log P(the K categories with log-probabilities ``log_p`` (..., K) are the first K draws
    without replacement); ``log_rest`` (...) is the log-mass of all other categories."""
    k = log_p.shape[-1]
    layers, preds, member = _subset_tables(k)
    dev = log_p.device
    # log(1 - P(B)) = log(P(rest) + sum of p over the set minus B), for every subset B.
    outside = ~member.to(dev)  # (2^K, K)
    terms = log_p.unsqueeze(-2).masked_fill(~outside, float("-inf"))  # (..., 2^K, K)
    log_left = torch.cat([terms, log_rest[..., None, None].expand(*terms.shape[:-1], 1)], -1)
    log_left = log_left.logsumexp(-1)  # (..., 2^K)
    f = torch.zeros_like(log_left)  # f[0] = log 1; other entries are filled layer by layer
    for subsets, pred in zip(layers, preds, strict=True):
        subsets, pred = subsets.to(dev), pred.to(dev)
        valid = pred >= 0
        safe = pred.clamp_min(0)
        step = f[..., safe] - log_left[..., safe] + log_p.unsqueeze(-2)  # (..., L, K)
        step = step.masked_fill(~valid, float("-inf"))
        f = f.index_copy(-1, subsets, step.logsumexp(-1))
    return f[..., -1]
