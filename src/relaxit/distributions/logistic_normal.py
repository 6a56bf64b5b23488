"""The logistic-normal distribution in the softmax (additive-logistic, symmetric) basis."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch.distributions import constraints
from torch.distributions.utils import _standard_normal

from relaxit.distributions._numerics import floored_log, simplex
from relaxit.distributions._params import (
    CheckedDistribution,
    finite_positive_vector,
    finite_real_vector,
)
from relaxit.distributions._simplex import tiny_clamped_softmax, vector_params

_LOG_2PI = math.log(2 * math.pi)


class LogisticNormalSoftmax(CheckedDistribution):
    r"""Softmax of a diagonal Gaussian in $\mathbb{R}^K$: a logistic-normal on the K-simplex.

    $z \sim \mathcal N(\mu, \mathrm{diag}(\sigma^2))$, $x = \mathrm{softmax}(z)$. This
    is the softmax basis used by the Laplace bridge of Hobbhahn, Kristiadi & Hennig (2020),
    "Fast Predictive Uncertainty for Classification with Bayesian Deep Networks" (Aitchison &
    Shen 1980 for the logistic normal), *not* torch's stick-breaking ``LogisticNormal``.

    Softmax is invariant to shifts $z \mapsto z + t\mathbf 1$, so it is not a bijection;
    ``log_prob`` integrates the shift direction out. The log-ratios
    $r_k = \log x_k - \log x_K = z_k - z_K$ (k < K) are Gaussian with covariance
    $\mathrm{diag}(\sigma^2_{1:K-1}) + \sigma_K^2 \mathbf 1\mathbf 1^\top$, and the map
    $x_{1:K-1} \mapsto r$ has Jacobian determinant $1/\prod_{k=1}^K x_k$. Written
    symmetrically (the quadratic form of a marginal is the minimum of the joint one along the
    fibre $\log x + t\mathbf 1$; the determinant by the matrix determinant lemma), with
    $a = \log x - \mu$, $w_k = \sigma_k^{-2}$, $W = \sum_k w_k$,
    $\bar a = \sum_k w_k a_k / W$:

    $$
    \log p(x) = -\tfrac12 \sum_k w_k (a_k - \bar a)^2 - \tfrac{K-1}{2}\log 2\pi
                - \sum_k \log\sigma_k - \tfrac12\log W - \sum_{k=1}^K \log x_k .
    $$

    The base measure is Lebesgue measure on the first K-1 coordinates (as torch's
    ``Dirichlet``). Coordinates that underflow to 0 in ``rsample`` are clamped to the dtype's
    smallest normal number; ``log_prob`` reads a coordinate at exactly 0 as that number too, and
    its gradient through such a coordinate saturates instead of overflowing (see
    `floored_log`), so ``log_prob(rsample())`` has finite gradients for ``|loc|`` up to 50 and
    beyond. Mean and variance have no closed form.

    Args:
        loc: $\mu$, shape ``(..., K)`` with K >= 2.
        scale: $\sigma > 0$, shape ``(..., K)``.

    Shapes: ``batch_shape`` is the broadcast of ``loc.shape[:-1]`` and ``scale.shape[:-1]``;
    ``event_shape`` is ``(K,)``.

    Examples:
        >>> d = LogisticNormalSoftmax(torch.zeros(2, 3), torch.ones(2, 3))
        >>> x = d.rsample((5,))
        >>> x.shape, d.log_prob(x).shape
        (torch.Size([5, 2, 3]), torch.Size([5, 2]))
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "loc": finite_real_vector,
        "scale": finite_positive_vector,
    }
    support = simplex
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        loc, scale = vector_params(type(self).__name__, "K >= 2", loc=loc, scale=scale).values()
        if loc.shape[-1] < 2:
            raise ValueError(
                f"{type(self).__name__}: loc and scale need a last dimension of size K >= 2, "
                f"got shape {tuple(loc.shape)}"
            )
        self.loc, self.scale = loc, scale
        self._init_checked(loc.shape[:-1], loc.shape[-1:], validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(LogisticNormalSoftmax, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape + self.event_shape)
        new.scale = self.scale.expand(batch_shape + self.event_shape)
        new._init_expanded(batch_shape, self.event_shape, self._validate_args)
        return new

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        eps = _standard_normal(shape, self.loc.dtype, self.loc.device)
        return tiny_clamped_softmax(torch.addcmul(self.loc, self.scale, eps))

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_x = floored_log(value)
        a = log_x - self.loc
        log_scale = self.scale.log()
        w = self.scale.square().reciprocal()
        w_sum = w.sum(-1)
        a_bar = (w * a).sum(-1, keepdim=True) / w_sum.unsqueeze(-1)
        quad = (w * (a - a_bar).square()).sum(-1)
        k = self.loc.shape[-1]
        return (
            -0.5 * quad
            - 0.5 * (k - 1) * _LOG_2PI
            - log_scale.sum(-1)
            - 0.5 * w_sum.log()
            - log_x.sum(-1)
        )
