"""Shared Gumbel-Softmax (Concrete) helpers for the categorical-type relaxations."""

from __future__ import annotations

import math

import torch

from relaxit._sampling import gumbel_like

__all__ = ["concrete_log_density", "gumbel_like"]


def concrete_log_density(
    logits: torch.Tensor, temperature: torch.Tensor, value: torch.Tensor
) -> torch.Tensor:
    """Log-density of the Concrete law (Maddison et al. 2017) at a point of the K-simplex.

    Base measure: Lebesgue measure on the first K-1 coordinates.
    ``log p(x) = lgamma(K) + (K-1) log T + sum_k (l_k - (T+1) log x_k)
    - K logsumexp_k(l_k - T log x_k)`` with ``l`` normalized logits.
    """
    k = value.shape[-1]
    t = temperature.unsqueeze(-1)
    # Entries that underflowed to 0 (tiny temperatures, extreme logits) are read as the
    # smallest normal number so that the density stays finite.
    log_x = value.clamp_min(torch.finfo(value.dtype).tiny).log()
    score = logits - t * log_x
    return (
        math.lgamma(k)
        + (k - 1) * temperature.log()
        + (score - log_x).sum(-1)
        - k * score.logsumexp(-1)
    )
