"""Stochastic gates with atoms at 0 and 1: the clamped Gaussian and the Hard Concrete."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch.distributions import constraints
from torch.distributions.utils import lazy_property
from torch.special import log_ndtr, ndtr

from relaxit.distributions._binary_concrete import logistic_log_density_sum, logistic_noise
from relaxit.distributions._numerics import compute_dtype
from relaxit.distributions._params import (
    CheckedDistribution,
    broadcast_batch,
    finite,
    finite_positive,
    finite_real,
    float_params,
    resolve_alias,
)

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _atom_log_prob(
    value: torch.Tensor,
    log_mass_at_0: torch.Tensor,
    log_mass_at_1: torch.Tensor,
    interior: torch.Tensor,
) -> torch.Tensor:
    """Pick the atom's log mass at exactly 0 or 1 and the interior log-density elsewhere."""
    return torch.where(value == 0, log_mass_at_0, torch.where(value == 1, log_mass_at_1, interior))


class GaussianRelaxedBernoulli(CheckedDistribution):
    r"""Gaussian-based stochastic gate: a Gaussian clamped to [0, 1].

    Yamada, Lindenbaum, Negahban & Kluger (2020), "Feature Selection using Stochastic Gates"
    (ICML). The gate is

    $$
    z = \min(1, \max(0, \mu + \sigma \epsilon)), \qquad \epsilon \sim N(0, 1),
    $$

    so ``rsample`` is differentiable in ``loc`` and ``scale`` wherever the gate is not clamped
    (the paper's estimator). The law is mixed: atoms
    ``P(z = 0) = Phi(-mu/sigma)`` and ``P(z = 1) = Phi((mu - 1)/sigma)`` plus the Gaussian density
    ``N(z; mu, sigma^2)`` on (0, 1).

    ``log_prob`` is taken w.r.t. the base measure Lebesgue on (0, 1) + unit point masses at 0 and
    1: it returns the log *mass* at exactly 0 or 1 (computed with ``log_ndtr``, finite even for
    ``loc`` far outside [0, 1]) and the Gaussian log-density inside. ``mean`` and ``variance``
    are the closed forms of the clamped Gaussian. `prob_nonzero` is the paper's regularizer
    ``P(z > 0) = Phi(mu/sigma)``; the deterministic test-time gate is ``clamp(loc, 0, 1)``
    (`deterministic_gate`). The paper's formula is followed: its reference code (runopti/stg)
    clamps ``mu + 0.5 + sigma eps`` instead, i.e. its ``mu`` is this ``loc - 0.5``.

    Args:
        loc: gate mean ``mu`` (finite), any shape.
        scale: noise level ``sigma > 0`` (finite; the paper fixes 0.5), broadcast with ``loc``.

    Samples have shape ``sample_shape + broadcast(loc, scale).shape``; event_shape is ``()``.

    Examples:
        >>> import torch
        >>> gate = GaussianRelaxedBernoulli(torch.tensor([0.5, 2.0, 1.0]), 0.5)
        >>> gate.rsample((10,)).shape
        torch.Size([10, 3])
        >>> gate.log_prob(torch.tensor(1.0)).exp()  # P(z = 1) for each gate
        tensor([0.1587, 0.9772, 0.5000])
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "loc": finite_real,
        "scale": finite_positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(
        self,
        loc: torch.Tensor | float,
        scale: torch.Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        owner = type(self).__name__
        params = float_params(owner, loc=loc, scale=scale)
        batch_shape = broadcast_batch(owner, {k: v.shape for k, v in params.items()})
        self.loc, self.scale = (v.expand(batch_shape) for v in params.values())
        self._init_checked(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(GaussianRelaxedBernoulli, _instance)
        batch_shape = torch.Size(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        new._init_expanded(batch_shape, torch.Size(), self._validate_args)
        return new

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        eps = torch.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return torch.addcmul(self.loc, self.scale, eps).clamp(0.0, 1.0)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # float16/bfloat16 (no CPU log_ndtr kernel) are computed in float32 and rounded back.
        out_dtype = torch.promote_types(value.dtype, self.loc.dtype)
        dtype = compute_dtype(out_dtype)
        loc, scale, value = self.loc.to(dtype), self.scale.to(dtype), value.to(dtype)
        z = (value - loc) / scale
        interior = -0.5 * z * z - scale.log() - _HALF_LOG_2PI
        return _atom_log_prob(
            value, log_ndtr(-loc / scale), log_ndtr((loc - 1.0) / scale), interior
        ).to(out_dtype)

    def prob_nonzero(self) -> torch.Tensor:
        """``P(z != 0) = Phi(mu/sigma)``: the paper's expected-L0 regularizer, differentiable."""
        return ndtr(self.loc / self.scale)

    def deterministic_gate(self) -> torch.Tensor:
        """The paper's test-time gate ``clamp(loc, 0, 1)`` (the noise switched off)."""
        return self.loc.clamp(0.0, 1.0)

    @lazy_property
    def _truncation(self) -> tuple[torch.Tensor, ...]:
        """``a = -mu/sigma``, ``b = (1-mu)/sigma``, ``Phi(b) - Phi(a)``, ``phi(a)``, ``phi(b)``."""
        a = -self.loc / self.scale
        b = (1.0 - self.loc) / self.scale
        inside = ndtr(b) - ndtr(a)
        pdf_a = torch.exp(-0.5 * a * a - _HALF_LOG_2PI)
        pdf_b = torch.exp(-0.5 * b * b - _HALF_LOG_2PI)
        return a, b, inside, pdf_a, pdf_b

    @property
    def mean(self) -> torch.Tensor:
        """``E[z] = mu (Phi(b) - Phi(a)) + sigma (phi(a) - phi(b)) + Phi(-b)``."""
        _, b, inside, pdf_a, pdf_b = self._truncation
        return self.loc * inside + self.scale * (pdf_a - pdf_b) + ndtr(-b)

    @property
    def variance(self) -> torch.Tensor:
        """``E[z^2] - E[z]^2`` with ``E[z^2]`` the clamped Gaussian's second moment."""
        a, b, inside, pdf_a, pdf_b = self._truncation
        mu, s = self.loc, self.scale
        second = (
            mu * mu * inside
            + 2 * mu * s * (pdf_a - pdf_b)
            + s * s * (inside + a * pdf_a - b * pdf_b)
            + ndtr(-b)
        )
        return (second - self.mean**2).clamp(min=0.0)


class HardConcrete(CheckedDistribution):
    r"""Hard Concrete gate: a stretched Binary Concrete clamped to [0, 1].

    Louizos, Welling & Kingma (2018), "Learning Sparse Neural Networks through L0
    Regularization" (ICLR), eqs. 9-12. With ``u ~ Uniform(0, 1)``:

    $$
    s = \sigma\big((\log u - \log(1-u) + \log\alpha)/\beta\big), \quad
    z = \min(1, \max(0, s(\xi - \gamma) + \gamma)).
    $$

    ``alpha > 0`` is the location (``log alpha`` the gate's logit), ``beta > 0`` the
    temperature, ``gamma < 0 < 1 < xi`` the stretch interval (the paper's ``zeta`` is ``xi``;
    its defaults ``beta = 2/3, gamma = -0.1, xi = 1.1`` are used when omitted).

    The law is mixed. With ``y = log(z - gamma) - log(xi - z)`` (the logit of ``s``):

    * ``P(z = 0) = sigmoid(beta log(-gamma/xi) - log alpha)``,
    * ``P(z = 1) = sigmoid(log alpha - beta log((1 - gamma)/(xi - 1)))``,
    * on (0, 1) the density is the Binary Concrete density of ``s`` times the stretch Jacobian
      ``1/(xi - gamma)``:
      ``p(z) = beta sigmoid(t) sigmoid(-t) (xi - gamma) / ((z - gamma)(xi - z))``,
      ``t = beta y - log alpha``.

    ``log_prob`` is w.r.t. Lebesgue measure on (0, 1) + unit point masses at 0 and 1 (log mass
    at exactly 0 and 1, log density elsewhere). `prob_nonzero` is the closed-form, differentiable
    L0 penalty ``P(z != 0)`` (eq. 12); `deterministic_gate` is the paper's test-time gate
    ``clamp(sigmoid(log alpha)(xi - gamma) + gamma, 0, 1)`` (eq. 13). The mean has no closed form.

    Args:
        alpha: location ``alpha > 0`` (finite), any shape.
        beta: temperature ``beta > 0`` (finite), broadcast with ``alpha`` (number or tensor).
        xi: upper end of the stretch interval, ``xi > 1`` (finite).
        gamma: lower end of the stretch interval, ``gamma < 0`` (finite).
        temperature: keyword-only alias of ``beta`` (give one of the two).
        log_alpha: keyword-only, the location in logit space instead of ``alpha`` (give one of
            the two). Everything is computed from ``log alpha``, so a network's logits pass
            as they are: ``alpha = exp(logits)`` would overflow (or underflow to 0) for
            ``|logits| > 88`` in float32.

    Samples have shape ``sample_shape + batch_shape``; event_shape is ``()``.

    Examples:
        >>> import torch
        >>> alpha = torch.tensor([0.1, 1.0, 10.0])
        >>> gate = HardConcrete(alpha=alpha, beta=2 / 3, xi=1.1, gamma=-0.1)
        >>> gate.rsample((5,)).shape
        torch.Size([5, 3])
        >>> gate.prob_nonzero()  # sigmoid(log alpha - beta log(-gamma / xi))
        tensor([0.3309, 0.8318, 0.9802])
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "alpha": finite_positive,
        "log_alpha": finite_real,
        "beta": finite_positive,
        "xi": finite(constraints.greater_than(1.0)),
        "gamma": finite(constraints.less_than(0.0)),
        "temperature": finite_positive,  # alias of beta
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(
        self,
        alpha: torch.Tensor | float | None = None,
        beta: torch.Tensor | float | None = None,
        xi: torch.Tensor | float = 1.1,
        gamma: torch.Tensor | float = -0.1,
        validate_args: bool | None = None,
        *,
        temperature: torch.Tensor | float | None = None,
        log_alpha: torch.Tensor | float | None = None,
    ) -> None:
        owner = type(self).__name__
        if (alpha is None) == (log_alpha is None):
            raise ValueError(f"{owner}: pass exactly one of `alpha` or `log_alpha`")
        location = {"alpha": alpha} if alpha is not None else {"log_alpha": log_alpha}
        beta, beta_name = resolve_alias(
            owner, "beta", beta, "temperature", temperature, default=2.0 / 3.0
        )
        params = float_params(owner, **location, beta=beta, xi=xi, gamma=gamma)
        names = {"beta": beta_name}
        batch_shape = broadcast_batch(owner, {names.get(k, k): v.shape for k, v in params.items()})
        for name, value in params.items():  # alpha or log_alpha is stored, the other is lazy
            setattr(self, name, value.expand(batch_shape))
        self._init_checked(batch_shape, validate_args=validate_args, names=names)

    @property
    def temperature(self) -> torch.Tensor:
        """The Binary Concrete temperature ``beta`` (``temperature=`` is accepted for it)."""
        return self.beta

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(HardConcrete, _instance)
        batch_shape = torch.Size(batch_shape)
        for name in ("alpha", "log_alpha", "beta", "xi", "gamma"):
            if name in self.__dict__:  # the stored location; its counterpart stays lazy
                setattr(new, name, getattr(self, name).expand(batch_shape))
        new._init_expanded(batch_shape, torch.Size(), self._validate_args)
        return new

    @lazy_property
    def alpha(self) -> torch.Tensor:
        """``alpha = exp(log alpha)``, when the location was given as ``log_alpha``."""
        return self.log_alpha.exp()

    @lazy_property
    def log_alpha(self) -> torch.Tensor:
        """``log alpha``: the logit of the underlying Binary Concrete."""
        return self.alpha.log()

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        s = torch.sigmoid((logistic_noise(shape, self.beta) + self.log_alpha) / self.beta)
        return torch.addcmul(self.gamma, s, self.xi - self.gamma).clamp(0.0, 1.0)

    def _log_mass_at_0(self) -> torch.Tensor:
        return torch.nn.functional.logsigmoid(
            self.beta * (torch.log(-self.gamma) - self.xi.log()) - self.log_alpha
        )

    def _log_mass_at_1(self) -> torch.Tensor:
        return torch.nn.functional.logsigmoid(
            self.log_alpha - self.beta * (torch.log1p(-self.gamma) - torch.log(self.xi - 1.0))
        )

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_below = torch.log(value - self.gamma)  # log(z - gamma) > log(-gamma), finite
        log_above = torch.log(self.xi - value)  # log(xi - z) > log(xi - 1), finite
        t = self.beta * (log_below - log_above) - self.log_alpha
        interior = (
            self.beta.log()
            + logistic_log_density_sum(t)
            + torch.log(self.xi - self.gamma)
            - log_below
            - log_above
        )
        return _atom_log_prob(value, self._log_mass_at_0(), self._log_mass_at_1(), interior)

    def prob_nonzero(self) -> torch.Tensor:
        """``P(z != 0) = sigmoid(log alpha - beta log(-gamma/xi))``: the expected L0 norm.

        Louizos et al. (2018), eq. 12; differentiable in every parameter. Shape: batch_shape.
        """
        return torch.sigmoid(self.log_alpha - self.beta * (torch.log(-self.gamma) - self.xi.log()))

    def deterministic_gate(self) -> torch.Tensor:
        """The test-time gate ``clamp(sigmoid(log alpha)(xi - gamma) + gamma, 0, 1)`` (eq. 13)."""
        s = torch.sigmoid(self.log_alpha)
        return torch.addcmul(self.gamma, s, self.xi - self.gamma).clamp(0.0, 1.0)
