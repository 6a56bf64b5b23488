"""Shared formulas of the Binary Concrete (relaxed Bernoulli) law, in logit space.

Binary Concrete (Maddison et al. 2017, "The Concrete Distribution: A Continuous Relaxation of
Discrete Random Variables"; Jang et al. 2017) with location ``logits`` and temperature ``tau``:
``z = sigmoid((logits + logit(u)) / tau)``, ``u ~ Uniform(0, 1)``. Its density w.r.t. Lebesgue
measure on (0, 1), with ``t = tau * logit(z) - logits``, is

    log p(z) = log tau + logsigmoid(t) + logsigmoid(-t) - log z - log(1 - z).

These helpers are used by `RelaxedBernoulliStraightThrough`, `RebarRelaxation` and `HardConcrete`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logistic_noise(shape: torch.Size, like: torch.Tensor) -> torch.Tensor:
    """``logit(u)`` for ``u ~ Uniform(0, 1)``: standard logistic noise, one uniform draw.

    ``u`` is clamped to ``[tiny, 1)`` inside ``torch.logit`` (one fused op), so the noise is
    finite: ``torch.rand`` returns exactly 0 with probability ``2**-24`` per float32 element.
    """
    u = torch.rand(shape, dtype=like.dtype, device=like.device)
    return torch.logit(u, eps=torch.finfo(like.dtype).tiny)


def clamp_open_unit(z: torch.Tensor) -> torch.Tensor:
    """Keep a relaxed sample inside the open interval (0, 1) of its density's support.

    ``sigmoid`` rounds to exactly 0 or 1 at low temperature; like ``torch``'s ``clamp_probs``
    the value is moved to the nearest representable interior point (``tiny`` at the bottom,
    ``1 - eps`` at the top).
    """
    finfo = torch.finfo(z.dtype)
    return z.clamp(min=finfo.tiny, max=1.0 - finfo.eps)


def logistic_log_density_sum(t: torch.Tensor) -> torch.Tensor:
    """``logsigmoid(t) + logsigmoid(-t)``, the log-density of the standard logistic at ``t``."""
    a = t.abs()
    return -a - 2.0 * F.softplus(-a)


def binary_concrete_log_prob(
    value: torch.Tensor, logits: torch.Tensor, temperature: torch.Tensor
) -> torch.Tensor:
    """Log-density of Binary Concrete(logits, temperature) at ``value`` in (0, 1) (Lebesgue)."""
    log_z = value.log()
    log_1mz = torch.log1p(-value)
    t = temperature * (log_z - log_1mz) - logits
    return temperature.log() + logistic_log_density_sum(t) - log_z - log_1mz
