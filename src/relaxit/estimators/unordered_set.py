"""The unordered set estimator: distinct categories drawn without replacement (Kool et al.)."""

from __future__ import annotations

import math
from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor

from relaxit.estimators._protocol import (
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
    uniform,
)
from relaxit.estimators.registry import register_estimator

MAX_SAMPLES = 16
"""Largest set size: the set probabilities enumerate all ``2^k`` subsets of the drawn set."""


@cache
def _subsets(k: int) -> tuple[Tensor, list[tuple[Tensor, Tensor, Tensor]]]:
    """Subsets of ``range(k)`` as bit masks ``0 .. 2^k - 1``: ``outside`` ``(2^k, k)`` says
    whether element ``t`` is not in subset ``V``; ``levels`` lists, from size ``k - 1`` down to
    0, the subsets ``V`` of that size, ``V | 2^t`` ``(|level|, k)`` and whether ``t`` is outside
    ``V``."""
    masks = torch.arange(2**k)
    outside = (masks.unsqueeze(-1) >> torch.arange(k)) & 1 == 0
    size = (~outside).sum(-1)
    levels = []
    for level in range(k - 1, -1, -1):
        subsets = masks[size == level]
        grown = subsets.unsqueeze(-1) | (1 << torch.arange(k))
        levels.append((subsets, grown, outside[subsets]))
    return outside, levels


def _log_set_probabilities(log_q: Tensor, members: Tensor) -> Tensor:
    """``J[..., V]`` for every subset ``V`` of the drawn set ``S`` (``members``, shape
    ``batch + (k,)``): the log-probability that, with ``V`` removed from the categories first,
    sampling without replacement then draws the rest of ``S`` first (in any order). So
    ``J[0] = log p(S)``, ``J[{s}] = log p^{D minus s}(S minus s)``, and so on (Kool et al. 2020,
    the leave-one-out set probabilities). Backward recursion over subsets, ``O(2^k k)``:

    ``J(S) = 0``, ``J(V) = log sum_{t in S minus V} q_t exp J(V + t) - log(q_R + q_{S minus V})``,
    with ``q_R`` the mass outside ``S``; sums stay in log space."""
    k = members.shape[-1]
    outside, levels = (_subsets(k)[0].to(log_q.device), _subsets(k)[1])
    log_qs = log_q.gather(-1, members)  # (…, k)
    rest = log_q.scatter(-1, members, float("-inf")).logsumexp(-1, keepdim=True)
    not_removed = torch.where(outside, log_qs.unsqueeze(-2), float("-inf"))
    log_remaining = torch.logaddexp(rest, not_removed.logsumexp(-1))  # (…, 2^k)
    j = torch.full_like(log_remaining, float("-inf"))
    j[..., -1] = 0.0
    for subsets, grown, valid in levels:
        subsets, grown, valid = (t.to(log_q.device) for t in (subsets, grown, valid))
        terms = torch.where(valid, log_qs.unsqueeze(-2) + j[..., grown], float("-inf"))
        j[..., subsets] = terms.logsumexp(-1) - log_remaining[..., subsets]
    return j


@register_estimator
class UnorderedSet(Estimator):
    r"""The unordered set estimator with its built-in baseline, for categorical variables.

    Kool, van Hoof & Welling (2020), "Estimating gradients for discrete random variables by
    sampling without replacement", ICLR, the estimator with the built-in baseline (their
    eq. (16)). ``S`` is a set of ``k = n_samples`` distinct categories drawn without
    replacement (Gumbel top-k), ``p(S)`` its probability as an unordered set and
    ``p^{D\s}(S\s)`` that of ``S`` without ``s`` when ``s`` is removed from the categories:

    $$
    \hat g_\phi = \sum_{s\in S} q_s R(S, s)\Big(f(s) - \sum_{s'\in S} q_{s'}
    R^{D\setminus s}(S, s') f(s')\Big)(e_s - q),
    $$

    $$
    R(S, s) = \frac{p^{D\setminus s}(S\setminus s)}{p(S)},\qquad
    R^{D\setminus s}(S, s') = \frac{p^{D\setminus\{s, s'\}}(S\setminus\{s, s'\})}
    {p^{D\setminus s}(S\setminus s)}\ (R^{D\setminus s}(S, s) = 1),
    $$

    with ``q = softmax(phi)`` and ``e_s - q`` the gradient of ``log q_s`` w.r.t. the logits.
    The set probabilities are computed exactly by a recursion over the ``2^k`` subsets of ``S``
    in log space (the paper's code enumerates the ``k!`` orderings; same numbers). The
    baseline needs a second element, so ``n_samples >= 2``; and ``n_samples <= K`` (distinct
    categories) and ``<= 16`` (the ``2^k`` subsets), else ``ValueError``. With ``k = K`` the
    estimator is the exact gradient.

    **Joint variables are refused**: ``f`` must keep every batch dim but dims of size 1 (one
    categorical per item); drawing distinct values of a joint variable of several
    categoricals needs stochastic beam search over the product space, which is not
    implemented (``ValueError`` after ``f``'s first call).

    **Unbiased.** **Cost**: one evaluation of ``f`` per sample (``f`` called once on the ``k``
    distinct categories) plus ``O(2^k k)`` work per variable. The loss value is the unordered
    set estimate of ``E[f]``, ``sum_s q_s R(S, s) f(s)`` (unbiased; the plain mean of ``f``
    over samples without replacement is not), shape ``batch_shape``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(2, 5, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b @ torch.arange(5.0) - 1.2).pow(2)
        >>> UnorderedSet()(f, dist, n_samples=3).sum().backward()
        >>> logits.grad.shape
        torch.Size([2, 5])
    """

    name = "unordered-set"
    families = (CATEGORICAL,)
    unbiased = True
    evaluations_per_sample = 1
    paper = "Kool, van Hoof & Welling 2020"
    min_samples = 2
    objective = "mean"
    joint_variables = False

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi.detach()
        k = phi.shape[-1]
        if n_samples > min(k, MAX_SAMPLES):
            raise ValueError(
                f"n_samples must be <= the number of categories ({k}) and <= {MAX_SAMPLES} for "
                f"UnorderedSet (distinct categories; 2^n_samples subsets), got {n_samples}"
            )
        log_q = torch.log_softmax(phi, -1)
        u = uniform(tuple(phi.shape), phi)
        members = (log_q - torch.log(-u.log())).topk(n_samples, -1).indices  # Gumbel top-k
        b = F.one_hot(members.movedim(-1, 0), k).to(phi.dtype)
        fb, m = evaluate(f, b, problem)
        if math.prod(problem.batch_shape[m:]) != 1:
            raise ValueError(
                "UnorderedSet supports one categorical per item: f must return shape "
                f"(n_samples,) + dist.batch_shape = {(n_samples, *problem.batch_shape)}, got "
                f"{tuple(fb.shape)} (a joint variable of several categoricals is not supported)"
            )
        f_all = fb.reshape(n_samples, *problem.batch_shape)  # joint dims of size 1, if any
        fs = f_all.detach().movedim(0, -1)  # (…, k)
        j = _log_set_probabilities(log_q, members)
        single = 1 << torch.arange(n_samples, device=phi.device)
        log_r1 = j[..., single] - j[..., :1]
        pair = single.unsqueeze(-1) | single
        log_r2 = j[..., pair] - j[..., single].unsqueeze(-1)
        log_r2 = torch.where(torch.eye(n_samples, dtype=torch.bool, device=phi.device), 0, log_r2)
        log_qs = log_q.gather(-1, members)
        baseline = (torch.exp(log_qs.unsqueeze(-2) + log_r2) * fs.unsqueeze(-2)).sum(-1)
        weight = torch.exp(log_qs + log_r1)  # q_s R(S, s)
        score = b.movedim(0, -2) - log_q.exp().unsqueeze(-2)  # (…, k, K)
        grad = ((weight * (fs - baseline)).unsqueeze(-1) * score).sum(-2)
        value = (weight * f_all.movedim(0, -1)).sum(-1).reshape(fb.shape[1:])
        return attach(value, grad, problem.phi, m)
