"""ARMS: antithetic multi-sample REINFORCE for Bernoulli variables (Dimitriev & Zhou 2021)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from relaxit.estimators._copula import diagonal_ratio, log_uniforms
from relaxit.estimators._protocol import (
    BERNOULLI,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
    right_pad,
)
from relaxit.estimators.registry import register_estimator


@register_estimator
class ARMS(Estimator):
    r"""Antithetic-REINFORCE-Multi-Sample estimator for Bernoulli variables.

    Dimitriev & Zhou (2021), "ARMS: Antithetic-REINFORCE-Multi-Sample gradient for binary
    variables", ICML, with the Dirichlet copula (the paper also has a Gaussian one). Per
    variable, with ``p = sigmoid(phi)`` and ``q = min(p, 1 - p) = sigmoid(-|phi|)`` (the rarer
    value), ``n`` uniforms ``u_1..u_n`` come from the Dirichlet copula (``u_i = (1 - d_i)^(n-1)``,
    ``d ~ Dirichlet(1_n)``), which makes them mutually antithetic; the rarer value is taken
    where ``u_i < q``, so each ``b_i`` is exactly Bernoulli(p) but two samples rarely share it.
    The estimator is leave-one-out REINFORCE corrected for the correlation ``rho`` of two
    samples:

    $$
    \hat g_\phi = \frac{1}{(n-1)(1-\rho)} \sum_{i=1}^n
    \Big(f(b_i) - \frac1n\sum_{j} f(b_j)\Big)(b_i - p),\qquad
    \frac{1}{1-\rho} = \frac{p(1-p)}{q - C(q, q)} = \frac{\sigma(|\phi|)}{1 - C(q,q)/q},
    $$

    with ``C(q, q) = max(2 q^(1/(n-1)) - 1, 0)^(n-1)`` the probability that two of the uniforms
    fall below ``q``. It is unbiased because ``E[b_i - p | b_j] = rho (b_j - p)`` for a binary
    pair, so ``E[(f(b_i) - f(b_j))(b_i - p)] = (1 - rho) grad``; other variables are
    independent, so this holds per variable for any ``f`` of all of them. With ``n = 2`` it is
    exactly DisARM (``C = 0``, weight ``sigma(|phi|)``); with independent samples (``rho = 0``)
    it would be leave-one-out REINFORCE.

    **Unbiased.** **Cost**: one evaluation of ``f`` per sample, ``f`` called once on the
    ``n_samples`` rows; ``n_samples >= 2``. Bernoulli only (``TypeError`` otherwise); no
    hyper-parameters. The loss value is the mean of ``f`` over the ``n_samples`` discrete
    samples (each exactly Bernoulli(sigmoid(phi))), shape ``batch_shape[:m]``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> ARMS()(lambda b: (b - 0.45).pow(2).sum(-1), dist, n_samples=4).backward()
        >>> logits.grad.shape
        torch.Size([3])
    """

    name = "arms"
    families = (BERNOULLI,)
    unbiased = True
    evaluations_per_sample = 1
    paper = "Dimitriev & Zhou 2021"
    min_samples = 2
    objective = "mean"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi.detach()
        log_q = F.logsigmoid(-phi.abs())  # log of the rarer value's probability
        rare = log_uniforms(n_samples, tuple(phi.shape), phi) < log_q
        b = torch.where(phi < 0, rare, ~rare).to(phi.dtype)
        fb, m = evaluate(f, b, problem)
        centred = right_pad((fb - fb.mean(0)).detach(), b.dim())
        weight = torch.sigmoid(phi.abs()) / (1 - diagonal_ratio(log_q, n_samples))
        grad = (centred * (b - torch.sigmoid(phi))).sum(0) * weight / (n_samples - 1)
        return attach(fb.mean(0), grad, problem.phi, m)
