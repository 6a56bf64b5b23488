"""The Binary Concrete relaxation used by REBAR, with a log-density that matches its sampler."""

from __future__ import annotations

from numbers import Number
from typing import ClassVar

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints
from torch.distributions.utils import broadcast_all, lazy_property

from relaxit.distributions._binary_concrete import (
    binary_concrete_log_prob,
    logistic_noise,
    open_unit_sigmoid,
)


class RebarRelaxation(TorchDistribution):
    r"""REBAR's continuous relaxation of a Bernoulli(theta) variable.

    Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), "REBAR: Low-variance, unbiased
    gradient estimates for discrete latent variable models" (NeurIPS), section 2:

    $$
    z = \sigma\big((\log\tfrac{\theta}{1-\theta} + \log\tfrac{u}{1-u}) / \lambda\big),
    \qquad u \sim U(0, 1),
    $$

    so ``H(z - 1/2) ~ Bernoulli(theta)`` for every ``lambda``. Both the logit of ``theta`` and the
    noise are divided by ``lambda``, which makes ``z`` exactly a Binary Concrete variable
    (Maddison et al. 2017) with logits ``logit(theta)`` and temperature ``lambda``; ``log_prob``
    is that density w.r.t. Lebesgue measure on (0, 1):

    $$
    \log p(z) = \log\lambda + \log\sigma(t) + \log\sigma(-t) - \log z - \log(1-z),
    \qquad t = \lambda\,\mathrm{logit}(z) - \mathrm{logit}(\theta).
    $$

    (A widely used implementation scales the logit by ``1/lambda`` in the sampler but not in the
    density, so the two describe different laws; here both come from the formula above.)
    ``theta`` in {0, 1} is clamped to ``[eps, 1 - eps]`` as ``torch.distributions`` does.
    ``log_prob`` at exactly 0 or 1 (in the declared support ``[0, 1]``) is the finite density at
    the nearest point the sampler returns (``tiny``, ``1 - eps``), never NaN.

    Args:
        theta: Bernoulli probability, any shape.
        lambd: temperature ``lambda > 0``, broadcast with ``theta``.

    Samples have shape ``sample_shape + batch_shape`` with values in (0, 1).

    Examples:
        >>> import torch
        >>> z = RebarRelaxation(torch.tensor([0.3, 0.8]), 0.5).rsample((1000,))
        >>> z.shape
        torch.Size([1000, 2])
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "theta": constraints.unit_interval,
        "lambd": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(
        self,
        theta: torch.Tensor | float,
        lambd: torch.Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        self.theta, self.lambd = broadcast_all(theta, lambd)
        scalar = isinstance(theta, Number) and isinstance(lambd, Number)
        batch_shape = torch.Size() if scalar else self.theta.shape
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(RebarRelaxation, _instance)
        batch_shape = torch.Size(batch_shape)
        new.theta = self.theta.expand(batch_shape)
        new.lambd = self.lambd.expand(batch_shape)
        super(RebarRelaxation, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @lazy_property
    def logits(self) -> torch.Tensor:
        """``logit(theta)``, clamped at ``theta`` in {0, 1} like ``probs_to_logits``."""
        return torch.logit(self.theta, eps=torch.finfo(self.theta.dtype).eps)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        noise = logistic_noise(shape, self.theta)
        return open_unit_sigmoid((self.logits + noise) / self.lambd)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return binary_concrete_log_prob(value, self.logits, self.lambd)
