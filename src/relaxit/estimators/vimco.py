"""VIMCO: leave-one-out control variates for the multi-sample (importance-weighted) bound."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from relaxit.estimators._protocol import (
    BERNOULLI,
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
    right_pad,
)
from relaxit.estimators.registry import register_estimator

_BASELINES = ("geometric", "arithmetic", None)


@register_estimator
class VIMCO(Estimator):
    r"""VIMCO: the multi-sample bound's gradient with a per-sample leave-one-out baseline.

    Mnih & Rezende (2016), "Variational inference for Monte Carlo objectives", ICML, eqs. (6)-(10).
    Unlike the other estimators, ``f`` returns **log-weights** ``log w(b)`` and the loss is the
    multi-sample bound of each item,

    $$
    \hat L(b_{1:n}) = \log\frac1n\sum_{k=1}^n w(b_k),\qquad b_k \sim p_\phi
    \text{ independently},
    $$

    (with ``log w = log p(x, b) - log q(b | x)`` it is the IWAE bound, Burda et al. 2016). Its
    gradient w.r.t. the distribution's logits is estimated by

    $$
    \hat g = \sum_{j=1}^n \big(\hat L(b_{1:n}) - \hat L_{-j}\big)
    \nabla_\phi \log p_\phi(b_j),\qquad
    \hat L_{-j} = \log\frac1n\Big(\sum_{k\ne j} w(b_k) + \hat w_{-j}\Big),
    $$

    where ``w_{-j}`` stands in for ``w(b_j)`` using the other samples only: their geometric mean
    ``exp(mean_{k != j} log w(b_k))`` (``baseline="geometric"``, the paper's choice, eq. 10) or
    their arithmetic mean (``"arithmetic"``). ``baseline=None`` drops ``L_{-j}``: the plain
    REINFORCE estimator of the bound (its high-variance reference). The gradient w.r.t.
    parameters *inside* ``f`` (a decoder; also ``log q`` when ``f`` computes it from the same
    logits) is the pathwise one, $\sum_k \tilde w_k \nabla \log w(b_k)$ with normalised
    weights ``w~_k``, carried by the loss value through autograd.

    **Unbiased for the gradient of** $\mathbb E[\hat L]$ (``L_{-j}`` never depends on
    ``b_j``); this is not the gradient of ``log E[w]``. Note the sum over ``j``: the estimate is
    the gradient of the ``n``-sample bound, not an average over ``n`` single-sample estimates.
    **Cost**: one evaluation of ``f`` per sample (one call on all ``n_samples``), ``O(n^2)``
    arithmetic per item for the leave-one-out terms. Needs ``n_samples >= 2``. Class attribute
    ``objective = "log-mean-exp"`` tells consumers that ``f`` returns log-weights and the loss is
    the bound, not the mean of ``f``.

    Args:
        baseline: ``"geometric"`` (default), ``"arithmetic"`` or ``None``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> log_w = lambda b: -(b - 0.45).pow(2).sum(-1)
        >>> bound = VIMCO()(log_w, dist, n_samples=4)
        >>> bound.backward()
        >>> bound.shape, logits.grad.shape
        (torch.Size([]), torch.Size([3]))
    """

    name = "vimco"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = True
    evaluations_per_sample = 1
    paper = "Mnih & Rezende 2016"
    min_samples = 2
    objective = "log-mean-exp"

    def __init__(self, baseline: str | None = "geometric") -> None:
        super().__init__()
        if baseline not in _BASELINES:
            raise ValueError(
                f'baseline must be "geometric", "arithmetic" or None, got {baseline!r}'
            )
        self.baseline = baseline

    def _describe(self) -> str:
        return f"VIMCO(baseline={self.baseline!r})"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi
        b = problem.sample(n_samples)
        log_w, m = evaluate(f, b, problem)
        bound = torch.logsumexp(log_w, 0) - math.log(n_samples)
        signal = (bound.detach() - self._leave_one_out(log_w.detach())).expand_as(log_w)
        grad = (right_pad(signal, b.dim()) * problem.score(b, phi.detach())).sum(0)
        return attach(bound, grad, phi, m)

    def _leave_one_out(self, log_w: Tensor) -> Tensor | float:
        """``L_{-j}`` for every ``j``, shape of ``log_w``: ``(n,) + items``."""
        if self.baseline is None:
            return 0.0
        n = log_w.shape[0]
        eye = torch.eye(n, dtype=torch.bool, device=log_w.device)
        eye = eye.reshape((n, n) + (1,) * (log_w.dim() - 1))
        table = log_w.unsqueeze(0).expand((n, *log_w.shape))  # table[j, k] = log w_k
        if self.baseline == "arithmetic":  # log mean_{k != j} w_k
            stand_in = torch.logsumexp(table.masked_fill(eye, -math.inf), 1) - math.log(n - 1)
        else:  # mean_{k != j} log w_k
            stand_in = (log_w.sum(0) - log_w) / (n - 1)
        table = torch.where(eye, stand_in.unsqueeze(1), table)  # log w_j -> its stand-in
        return torch.logsumexp(table, 1) - math.log(n)


register_estimator(VIMCO, name="reinforce-bound", baseline=None)
