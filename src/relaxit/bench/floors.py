"""Floors: the least work each relaxation's formula needs, as plain tensor code.

A floor draws one uniform (or normal) number per random variable, applies the formula's few
elementwise ops (and the softmax / argmax / matmul where the method needs one) and nothing else:
no parameter checks, no clamping, no distribution object. `relaxit.bench.speed` times every class
(the cases are in `relaxit.bench.speed_cases`)
against its floor in the same run, forward and forward + backward, so that a ratio near 1 means
the class adds no overhead to the method itself. Every floor takes the same parameters as the
class (e.g. ``alpha`` rather than ``log alpha`` for Hard Concrete), so the parameter transforms
that the formula needs are counted in the floor too.
"""

from __future__ import annotations

import torch
from torch import Tensor


def logistic(like: Tensor) -> Tensor:
    """Standard logistic noise ``logit(u)``, one uniform per element."""
    return torch.logit(torch.rand_like(like))


def gumbel(like: Tensor) -> Tensor:
    """Standard Gumbel noise ``-log(-log u)``, one uniform per element.

    (``-log(Exp(1))`` via ``exponential_`` is the same law in fewer ops but about twice as slow
    on CPU in torch 2.x, so it is not the floor.)"""
    return -torch.log(-torch.log(torch.rand_like(like)))


def binary_concrete(logits: Tensor, tau: Tensor) -> Tensor:
    """Binary Concrete: ``sigmoid((logits + logit u) / tau)``."""
    return torch.sigmoid((logits + logistic(logits)) / tau)


def rebar_relaxation(theta: Tensor, lambd: Tensor) -> Tensor:
    """REBAR's relaxation from probabilities: ``sigmoid((logit theta + logit u) / lambd)``."""
    return torch.sigmoid((torch.logit(theta) + logistic(theta)) / lambd)


def gaussian_gate(loc: Tensor, scale: Tensor) -> Tensor:
    """Stochastic gate: ``clamp(loc + scale * eps, 0, 1)``."""
    return torch.addcmul(loc, scale, torch.randn_like(loc)).clamp(0.0, 1.0)


def hard_concrete(alpha: Tensor, beta: Tensor, xi: Tensor, gamma: Tensor) -> Tensor:
    """Hard Concrete: stretched Binary Concrete ``s`` clamped to [0, 1]."""
    s = torch.sigmoid((alpha.log() + logistic(alpha)) / beta)
    return (s * (xi - gamma) + gamma).clamp(0.0, 1.0)


def straight_through_bernoulli(probs: Tensor) -> Tensor:
    """Hard ``b ~ Bernoulli(p)`` forward, identity gradient to ``p``."""
    b = (torch.rand_like(probs) < probs).to(probs.dtype)
    return b + (probs - probs.detach())


def stochastic_times_smooth(probs: Tensor) -> Tensor:
    """``b * sqrt(p)`` with ``b ~ Bernoulli(sqrt(p))``, gradient through ``sqrt(p)``."""
    s = probs.sqrt()
    return (torch.rand_like(probs) < s).to(s.dtype) * s  # a mask product: `where` is slower


def binary_concrete_straight_through(logits: Tensor, tau: Tensor) -> Tensor:
    """Hard ``1[y > 0]`` forward, Binary Concrete gradient backward."""
    y = (logits + logistic(logits)) / tau
    soft = torch.sigmoid(y)
    return (y > 0).to(soft.dtype) + (soft - soft.detach())


def gumbel_softmax(logits: Tensor, tau: Tensor) -> Tensor:
    """Gumbel-Softmax / Concrete: ``softmax((logits + g) / tau)`` over the last dim."""
    return torch.softmax((logits + gumbel(logits)) / tau, -1)


def gumbel_softmax_straight_through(logits: Tensor, tau: Tensor) -> Tensor:
    """One-hot argmax forward (one scatter), Gumbel-Softmax gradient backward."""
    y = (logits + gumbel(logits)) / tau
    soft = torch.softmax(y, -1)
    hard = torch.zeros_like(soft).scatter_(-1, y.argmax(-1, keepdim=True), 1.0)
    return hard + (soft - soft.detach())


def poisson_gumbel_softmax(rate: Tensor, values: Tensor, tau: Tensor) -> Tensor:
    """Gumbel-Softmax over Poisson(rate)'s masses at ``values`` (rate shape ``(..., 1)``)."""
    logits = values * rate.log() - rate - torch.lgamma(values + 1.0)
    return gumbel_softmax(logits, tau)


def correlated_gates(logits: Tensor, scale_tril: Tensor, tau: Tensor) -> Tensor:
    """Gaussian-copula gates: ``u = Phi(L eps)`` (one matmul), Binary Concrete of ``u``."""
    x = torch.randn_like(logits) @ scale_tril.mT
    return torch.sigmoid((logits + torch.logit(torch.special.ndtr(x))) / tau)


def logistic_normal_softmax(loc: Tensor, scale: Tensor) -> Tensor:
    """``softmax(loc + scale * eps)``."""
    return torch.softmax(torch.addcmul(loc, scale, torch.randn_like(loc)), -1)


def invertible_gaussian(loc: Tensor, scale: Tensor, tau: Tensor, log_delta: Tensor) -> Tensor:
    """``softmax([(loc + scale * eps) / tau, log delta])``: K-1 normals onto the K-simplex."""
    y = torch.addcmul(loc, scale, torch.randn_like(loc)) / tau
    return torch.softmax(torch.cat([y, log_delta.expand(*y.shape[:-1], 1)], -1), -1)


def multivariate_normal(loc: Tensor, scale_tril: Tensor, n: int) -> Tensor:
    """``loc + eps @ L^T`` for ``n`` draws: one matmul."""
    eps = torch.randn(n, loc.shape[-1], dtype=loc.dtype, device=loc.device)
    return loc + eps @ scale_tril.mT
