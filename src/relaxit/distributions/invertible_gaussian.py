"""The invertible Gaussian reparameterization of Potapczynski et al. (2020)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch.distributions import constraints, register_kl
from torch.distributions.utils import _standard_normal

from relaxit.distributions._numerics import floored_log, simplex
from relaxit.distributions._params import (
    CheckedDistribution,
    broadcast_batch,
    finite_positive,
    finite_positive_vector,
    finite_real_vector,
    float_params,
)
from relaxit.distributions._simplex import tiny_clamped_softmax, vector_params

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class InvertibleGaussian(CheckedDistribution):
    r"""Invertible Gaussian reparameterization (IGR) on the probability simplex.

    Potapczynski, Loaiza-Ganem & Cunningham (2020), "Invertible Gaussian Reparameterization:
    Revisiting the Gumbel-Softmax". A Gaussian in $\mathbb{R}^{K-1}$ is pushed through the
    invertible softmax++ map:

    $$
    y = \mu + \sigma \odot \varepsilon,\quad \varepsilon \sim \mathcal N(0, I_{K-1}),\qquad
    x_k = \frac{e^{y_k/\tau}}{\sum_{j<K} e^{y_j/\tau} + \delta}\ (k < K),\qquad
    x_K = 1 - \sum_{k<K} x_k = \frac{\delta}{\sum_{j<K} e^{y_j/\tau} + \delta}.
    $$

    ``rsample`` computes this as ``softmax([y/tau, log delta])`` (one stable pass in logit space).

    ``log_prob`` is the exact density of the first K-1 coordinates w.r.t. Lebesgue measure (the
    base measure of torch's ``Dirichlet``). The inverse is
    $y_k = \tau(\log x_k - \log x_K + \log\delta)$ and the Jacobian of
    $y \mapsto x_{1:K-1}$ is $(\mathrm{diag}(x) - x x^\top)/\tau$, whose determinant
    is $\tau^{-(K-1)}\prod_{k=1}^{K} x_k$ (matrix determinant lemma), so

    $$
    \log p(x) = \sum_{k<K} \log \mathcal N(y_k;\mu_k,\sigma_k^2)
                - \sum_{k=1}^{K}\log x_k + (K-1)\log\tau.
    $$

    Coordinates that underflow to 0 (e.g. temperature 0.05 with large ``loc`` in float32) are
    clamped to the dtype's smallest normal number, so samples and their log-densities stay finite;
    ``log_prob`` reads a coordinate at exactly 0 as that number too, and its gradient through
    such a coordinate saturates instead of overflowing (see `floored_log`).
    ``kl_divergence(InvertibleGaussian, InvertibleGaussian)`` is registered and exact: the map to
    the log-ratios $\log x_k - \log x_K = y_k/\tau - \log\delta$ is a bijection that does
    not depend on the parameters, so the KL is that of the two Gaussians of the log-ratios.

    Args:
        loc: $\mu$, shape ``(..., K-1)``.
        scale: $\sigma > 0$, shape ``(..., K-1)``.
        temperature: $\tau > 0$, batch-shaped (broadcasts with ``loc.shape[:-1]``).
        delta: $\delta > 0$, batch-shaped; the paper's softmax++ constant (default 1).

    Shapes: ``batch_shape`` is the broadcast of ``loc.shape[:-1]``, ``scale.shape[:-1]``,
    ``temperature.shape`` and ``delta.shape``; ``event_shape`` is ``(K,)``.

    Examples:
        >>> d = InvertibleGaussian(torch.zeros(2, 3), torch.ones(2, 3), temperature=0.5)
        >>> x = d.rsample((4,))
        >>> x.shape, d.log_prob(x).shape
        (torch.Size([4, 2, 4]), torch.Size([4, 2]))
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "loc": finite_real_vector,
        "scale": finite_positive_vector,
        "temperature": finite_positive,
        "delta": finite_positive,
    }
    support = simplex
    has_rsample = True

    def __init__(self, loc, scale, temperature, delta=1.0, validate_args=None):
        owner = type(self).__name__
        vectors = vector_params(owner, "K-1 >= 1", loc=loc, scale=scale)
        loc, scale = vectors["loc"], vectors["scale"]
        if loc.shape[-1] < 1:
            raise ValueError(
                f"{owner}: loc and scale need a last dimension of size K-1 >= 1, "
                f"got shape {tuple(loc.shape)}"
            )
        batch = float_params(owner, _=loc, temperature=temperature, delta=delta)
        temperature, delta = batch["temperature"], batch["delta"]
        batch_shape = broadcast_batch(
            owner,
            {
                "loc/scale[..., :-1]": loc.shape[:-1],
                "temperature": temperature.shape,
                "delta": delta.shape,
            },
        )
        k1 = loc.shape[-1]
        self.loc = loc.expand((*batch_shape, k1))
        self.scale = scale.expand((*batch_shape, k1))
        self.temperature = temperature.expand(batch_shape)
        self.delta = delta.expand(batch_shape)
        self._init_checked(batch_shape, torch.Size((k1 + 1,)), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(InvertibleGaussian, _instance)
        batch_shape = torch.Size(batch_shape)
        k1 = self.loc.shape[-1]
        new.loc = self.loc.expand((*batch_shape, k1))
        new.scale = self.scale.expand((*batch_shape, k1))
        new.temperature = self.temperature.expand(batch_shape)
        new.delta = self.delta.expand(batch_shape)
        new._init_expanded(batch_shape, self.event_shape, self._validate_args)
        return new

    def _log_ratio_gaussian(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and scale of the Gaussian of ``log x_k - log x_K`` (k < K)."""
        tau = self.temperature.unsqueeze(-1)
        return self.loc / tau - self.delta.log().unsqueeze(-1), self.scale / tau

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        eps = _standard_normal((*shape[:-1], shape[-1] - 1), self.loc.dtype, self.loc.device)
        u = torch.addcmul(self.loc, self.scale, eps) / self.temperature.unsqueeze(-1)
        last = self.delta.log().unsqueeze(-1).expand((*u.shape[:-1], 1))
        return tiny_clamped_softmax(torch.cat([u, last], dim=-1))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_x = floored_log(value)
        tau = self.temperature.unsqueeze(-1)
        y = tau * (log_x[..., :-1] - log_x[..., -1:] + self.delta.log().unsqueeze(-1))
        z = (y - self.loc) / self.scale
        log_gauss = (-0.5 * z.square() - self.scale.log() - _HALF_LOG_2PI).sum(-1)
        k1 = self.loc.shape[-1]
        return log_gauss - log_x.sum(-1) + k1 * self.temperature.log()


@register_kl(InvertibleGaussian, InvertibleGaussian)
def _kl_invertible_gaussian(p: InvertibleGaussian, q: InvertibleGaussian) -> torch.Tensor:
    """Exact KL: both laws are images of Gaussians under the same parameter-free bijection."""
    m_p, s_p = p._log_ratio_gaussian()
    m_q, s_q = q._log_ratio_gaussian()
    var_ratio = (s_p / s_q).square()
    t = ((m_p - m_q) / s_q).square()
    return (0.5 * (var_ratio + t - 1 - var_ratio.log())).sum(-1)
