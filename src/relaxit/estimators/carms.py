"""CARMS: antithetic multi-sample REINFORCE for categorical variables (Dimitriev & Zhou 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from relaxit.estimators._copula import diagonal_ratio, log_uniforms
from relaxit.estimators._protocol import (
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
    right_pad,
)
from relaxit.estimators.registry import register_estimator


@register_estimator
class CARMS(Estimator):
    r"""Categorical-Antithetic-REINFORCE-Multi-Sample estimator.

    Dimitriev & Zhou (2021), "CARMS: Categorical-Antithetic-REINFORCE multi-sample gradient
    estimator", NeurIPS. ``n`` samples of each categorical are drawn jointly antithetic (each one
    exactly ``Categorical(q)``, ``q = softmax(phi)``, but two of them rarely equal), and
    leave-one-out REINFORCE is kept unbiased by importance weights, the ratio of the
    independent to the antithetic pair probability:

    $$
    \hat g_\phi = \frac{1}{n(n-1)} \sum_{i \ne j}
    w(z_i, z_j)\,\big(f(z_i) - f(z_j)\big)\,(e_{z_i} - q),\qquad
    w(a, b) = \frac{q_a q_b}{P(z_i = a, z_j = b)}\ (a \ne b).
    $$

    Its mean is ``sum_{a, b} q_a q_b (f(a) - f(b)) (e_a - q) = grad E[f]``: pairs with
    ``z_i = z_j`` cancel between ``(i, j)`` and ``(j, i)``, so only ``a != b`` needs
    ``P(a, b) > 0``. For several categoricals in the joint variable (batch dims beyond the
    ``m`` item dims) the weight of variable ``d`` uses that variable's pair only, which stays
    unbiased because the variables are drawn independently of each other (supported).

    **Antithetic sampler**: the stick-breaking construction the paper's code offers
    (``sbcarms``), chosen here because its pair probability has a closed form: categories are
    sorted by increasing probability, ``pi_k = q_(k) / sum_{l >= k} q_(l)``, and the sample stops
    at the first ``k`` with ``u_k < pi_k``, where the ``n`` uniforms ``u_k`` of stick ``k`` come
    from the Dirichlet copula of ARMS (independent sticks). With ``C_k = C(pi_k, pi_k)`` that
    copula's diagonal, the weight of a pair whose smaller sorted position is ``r`` is

    $$
    w_r = \prod_{k<r} \frac{(1-\pi_k)^2}{1 - 2\pi_k + C_k}\cdot
    \frac{\pi_r(1-\pi_r)}{\pi_r - C_r},
    $$

    so for two categories CARMS is exactly ARMS. The authors' code (github.com/alekdimi/carms)
    defaults to an inverse-CDF sampler whose pair probability is averaged over orderings of the
    categories, and clips the weights to ``[0.01, 10]``; clipping would bias the estimator, so
    relaxit follows the unclipped formula with the stick-breaking sampler.

    **Unbiased.** **Cost**: one evaluation of ``f`` per sample (``f`` called once on the
    ``n_samples`` rows), ``n_samples >= 2``; the weights need a sort per variable and ``n^2``
    work per variable. Categorical only (``TypeError`` otherwise); no hyper-parameters. The
    loss value is the mean of ``f`` over the ``n_samples`` discrete samples, shape
    ``batch_shape[:m]``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(2, 4, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b @ torch.arange(4.0) - 1.2).pow(2)
        >>> CARMS()(f, dist, n_samples=4).sum().backward()
        >>> logits.grad.shape
        torch.Size([2, 4])
    """

    name = "carms"
    families = (CATEGORICAL,)
    unbiased = True
    evaluations_per_sample = 1
    paper = "Dimitriev & Zhou 2021"
    min_samples = 2
    objective = "mean"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi.detach()
        n, k = n_samples, phi.shape[-1]
        log_q = torch.log_softmax(phi, -1)
        order = log_q.argsort(-1)  # increasing probability
        log_q_sorted = log_q.gather(-1, order)
        log_pi = log_q_sorted - torch.logcumsumexp(log_q_sorted.flip(-1), -1).flip(-1)
        log_pi = log_pi[..., :-1]  # the last stick always stops
        stops = log_uniforms(n, tuple(log_pi.shape), phi) < log_pi
        stops = torch.cat([stops, stops.new_ones((*stops.shape[:-1], 1))], -1)
        rank = stops.to(torch.uint8).argmax(-1)  # first stick that stops, (n,) + batch
        category = order.expand(n, *order.shape).gather(-1, rank.unsqueeze(-1)).squeeze(-1)
        b = F.one_hot(category, k).to(phi.dtype)
        fb, m = evaluate(f, b, problem)

        pi = log_pi.exp()
        ratio = diagonal_ratio(log_pi, n)  # C(pi, pi) / pi
        both_continue = torch.log1p(pi * (ratio - 2))  # log P(u, u' >= pi) = log(1 - 2pi + C)
        step = 2 * torch.log1p(-pi) - both_continue
        # exclusive cumulative sum by shifting (a step of +inf, where two samples cannot both
        # pass a stick, must not reach the sticks before it as inf - inf)
        before = torch.cat([torch.zeros_like(step[..., :1]), step[..., :-1].cumsum(-1)], -1)
        log_w = before + torch.log1p(-pi) - torch.log1p(-ratio)
        log_w = torch.cat([log_w, torch.zeros_like(log_w[..., :1])], -1)  # index k-1: unused

        low = torch.minimum(rank.unsqueeze(1), rank.unsqueeze(0))  # (n, n) + batch
        w = log_w.expand(n, n, *log_w.shape).gather(-1, low.unsqueeze(-1)).squeeze(-1).exp()
        w = torch.where(rank.unsqueeze(1) == rank.unsqueeze(0), 0.0, w)
        fp = right_pad(fb.detach(), rank.dim())
        paired = (w * (fp.unsqueeze(1) - fp.unsqueeze(0))).sum(1)  # (n,) + batch
        score = b - log_q.exp()
        grad = (paired.unsqueeze(-1) * score).sum(0) / (n * (n - 1))
        return attach(fb.mean(0), grad, problem.phi, m)
