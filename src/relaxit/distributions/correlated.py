"""Correlated relaxed Bernoulli gates through a Gaussian copula."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from pyro.distributions import constraints as pyro_constraints
from torch.distributions import biject_to, constraints, transform_to
from torch.distributions.multivariate_normal import _batch_mahalanobis
from torch.special import ndtri

from relaxit.distributions._bernoulli import BernoulliProbsOrLogits
from relaxit.distributions._binary_concrete import binary_concrete_log_prob, clamp_open_unit
from relaxit.distributions._numerics import compute_dtype
from relaxit.distributions._params import (
    CheckedDistribution,
    broadcast_batch,
    finite_positive,
    finite_real_vector,
    float_params,
    probs_or_logits,
    resolve_alias,
)

_SQRT_HALF = math.sqrt(0.5)
CORRELATION_TOL = 1e-5
"""Absolute tolerance of the symmetry and unit-diagonal checks of ``R``."""


class _CorrelationMatrix(type(pyro_constraints.corr_matrix)):
    """Symmetric, unit diagonal (within `CORRELATION_TOL`) and positive definite."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        symmetric = ((value - value.mT).abs() <= CORRELATION_TOL).flatten(-2).all(-1)
        unit_diagonal = ((value.diagonal(dim1=-2, dim2=-1) - 1).abs() <= CORRELATION_TOL).all(-1)
        value = value.to(compute_dtype(value.dtype))
        positive_definite = torch.linalg.cholesky_ex(value).info == 0
        return symmetric & unit_diagonal & positive_definite


correlation_matrix = _CorrelationMatrix()
# Learnable in Pyro like Pyro's own ``corr_matrix`` (same unconstraining transform).
transform_to.register(_CorrelationMatrix)(lambda c: transform_to(pyro_constraints.corr_matrix))
biject_to.register(_CorrelationMatrix)(lambda c: biject_to(pyro_constraints.corr_matrix))


def _logit_ndtr(x: torch.Tensor) -> torch.Tensor:
    """``logit(Phi(x))`` from the upper tail ``q = 2 Phi(-|x|) = erfc(|x|/sqrt 2)``.

    ``log(2 - q) - log(q)`` is ``logit(Phi(|x|))`` without rounding ``Phi`` to 1, and one
    ``erfc`` is about twice as fast as two ``log_ndtr``. ``q`` is clamped at ``tiny`` (reached
    only for ``|x| > 13`` in float32, probability below 1e-38 for a standard normal).
    """
    q = torch.special.erfc(x.abs() * _SQRT_HALF).clamp(min=torch.finfo(x.dtype).tiny)
    return torch.copysign(torch.log(2.0 - q) - q.log(), x)


class CorrelatedRelaxedBernoulli(BernoulliProbsOrLogits, CheckedDistribution):
    r"""Relaxed Bernoulli gates correlated through a Gaussian copula.

    Lee, Imrie & van der Schaar (2022), "Self-Supervision Enhanced Feature Selection with
    Correlated Gates" (ICLR), section 3 (the multivariate Bernoulli relaxation). With
    ``L = cholesky(R)`` and ``eps ~ N(0, I_D)``:

    $$
    u = \Phi(L \epsilon), \qquad
    z_k = \sigma\big((\mathrm{logit}\,\pi_k + \mathrm{logit}\,u_k) / \tau\big).
    $$

    Each ``u_k`` is uniform, so each ``z_k`` is Binary Concrete(``logit pi_k``, ``tau``) and
    ``P(z_k > 1/2) = pi_k`` for every ``tau``; the dependence between gates is the Gaussian
    copula of ``R``. ``logit u`` is computed from the tail of ``Phi`` (no rounding of ``u`` to 0
    or 1).

    ``log_prob`` is the exact density w.r.t. Lebesgue measure on ``(0, 1)^D``: the Gaussian copula
    density at ``x = Phi^{-1}(u)`` times the change of variables ``u -> z`` of each coordinate,

    $$
    \log p(z) = -\tfrac12 \log|R| - \tfrac12 x^\top (R^{-1} - I) x
    + \sum_k \log \mathrm{BinConcrete}(z_k; \mathrm{logit}\,\pi_k, \tau),
    $$

    with ``logit u_k = tau logit z_k - logit pi_k`` and ``x_k = Phi^{-1}(u_k)`` computed on the
    side of 1/2 where it is accurate (``Phi^{-1}(sigmoid(y)) = -Phi^{-1}(sigmoid(-y))``).
    Coordinates at exactly 0 or 1 are evaluated at the nearest point the sampler returns
    (``tiny``, ``1 - eps``): a finite value, never NaN.

    Args:
        pi: gate probabilities, shape ``(..., D)`` (the paper's name for ``probs``); ``pi`` in
            {0, 1} is clamped to ``[eps, 1 - eps]`` like ``torch.distributions``'
            ``probs_to_logits``.
        R: correlation matrix, shape ``(..., D, D)``: symmetric, unit diagonal, positive
            definite (a ``ValueError`` naming ``R`` otherwise; positive definiteness is always
            checked, the rest when validating). Its symmetric part ``(R + R^T)/2`` is used, so
            gradients w.r.t. ``R`` are symmetric.
        tau: temperature ``> 0`` (finite), one per gate vector: a number or shape
            ``batch_shape`` (the paper's name for ``temperature``).
        temperature: same as ``tau`` (give one of the two).
        probs: same as ``pi``; or give ``logits`` (``logit(pi)``, finite) instead.

    ``batch_shape`` broadcasts ``pi.shape[:-1]``, ``R.shape[:-2]`` and ``tau.shape``;
    ``event_shape`` is ``(D,)``.

    Examples:
        >>> import torch
        >>> R = torch.tensor([[1.0, 0.8], [0.8, 1.0]])
        >>> d = CorrelatedRelaxedBernoulli(torch.tensor([0.3, 0.6]), R, tau=0.5)
        >>> z = d.rsample((7,))
        >>> z.shape, d.log_prob(z).shape
        (torch.Size([7, 2]), torch.Size([7]))
        >>> CorrelatedRelaxedBernoulli(logits=torch.zeros(2), R=R, temperature=0.5).batch_shape
        torch.Size([])
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "probs": constraints.independent(constraints.unit_interval, 1),
        "logits": finite_real_vector,
        "R": correlation_matrix,
        "temperature": finite_positive,
        # the paper's names, as aliases (checked under the name the user passed)
        "pi": constraints.independent(constraints.unit_interval, 1),
        "tau": finite_positive,
    }
    support = constraints.independent(constraints.unit_interval, 1)
    has_rsample = True

    def __init__(
        self,
        pi: torch.Tensor | None = None,
        R: torch.Tensor | None = None,
        tau: torch.Tensor | float | None = None,
        validate_args: bool | None = None,
        *,
        temperature: torch.Tensor | float | None = None,
        probs: torch.Tensor | None = None,
        logits: torch.Tensor | None = None,
    ) -> None:
        owner = type(self).__name__
        temperature, t_name = resolve_alias(owner, "temperature", temperature, "tau", tau)
        probs, p_name = resolve_alias(owner, "probs", probs, "pi", pi, default=None)
        which, param = probs_or_logits(owner, probs, logits)
        if R is None:
            raise ValueError(f"{owner}: the correlation matrix `R` is required")
        shown = p_name if which == "probs" else "logits"
        params = float_params(owner, **{shown: param, "R": R, t_name: temperature})
        p, t = params[shown], params[t_name]
        R = params["R"].to(dtype=p.dtype)
        if p.dim() < 1 or R.dim() < 2 or R.shape[-1] != R.shape[-2] or R.shape[-1] != p.shape[-1]:
            raise ValueError(
                f"{owner}: `R` must have shape (..., D, D) and `{shown}` shape (..., D) with the "
                f"same D; got {shown} {tuple(p.shape)} and R {tuple(R.shape)}"
            )
        d = p.shape[-1]
        batch_shape = broadcast_batch(
            owner,
            {f"{shown}[..., :-1]": p.shape[:-1], "R[..., :-2]": R.shape[:-2], t_name: t.shape},
        )
        self._store_probs_or_logits(which, p.expand((*batch_shape, d)))
        self.R = R  # not expanded: validation and cholesky see each distinct R once
        self.temperature = t.expand(batch_shape)
        names = {"temperature": t_name, "probs": p_name}
        self._init_checked(batch_shape, torch.Size([d]), validate_args=validate_args, names=names)
        # The symmetric part (equal to R when R is valid) makes the gradient w.r.t. R symmetric.
        symmetric = 0.5 * (R + R.mT)
        scale_tril, info = torch.linalg.cholesky_ex(symmetric.to(compute_dtype(R.dtype)))
        if bool((info != 0).any()):
            raise ValueError("R must be a positive-definite correlation matrix (cholesky failed)")
        self._scale_tril = scale_tril  # R's own batch shape: broadcasts, never copied

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(CorrelatedRelaxedBernoulli, _instance)
        batch_shape = torch.Size(batch_shape)
        d = self.event_shape
        self._expand_probs_or_logits(new, batch_shape + d)
        new.R = self.R
        new.temperature = self.temperature.expand(batch_shape)
        new._scale_tril = self._scale_tril
        new._init_expanded(batch_shape, d, self._validate_args)
        return new

    @property
    def pi(self) -> torch.Tensor:
        """The paper's name for ``probs``, shape ``batch_shape + (D,)``."""
        return self.probs

    @property
    def tau(self) -> torch.Tensor:
        """The paper's name for ``temperature``, shape ``batch_shape``."""
        return self.temperature

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        dtype = self._param.dtype
        scale_tril = self._scale_tril
        eps = torch.randn(shape, dtype=scale_tril.dtype, device=scale_tril.device)
        if scale_tril.dim() == 2:  # one R for the whole batch: a single matrix product
            x = eps @ scale_tril.mT
        else:
            x = (scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
        logit_u = _logit_ndtr(x).to(dtype)
        z = torch.sigmoid((self.logits + logit_u) / self.temperature.unsqueeze(-1))
        return clamp_open_unit(z)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        # float16/bfloat16 (no CPU ndtri kernel) are computed in float32 and rounded back.
        out_dtype = torch.promote_types(value.dtype, self.logits.dtype)
        dtype = compute_dtype(out_dtype)
        tau = self.temperature.unsqueeze(-1).to(dtype)
        logits = self.logits.to(dtype)
        value = clamp_open_unit(value.to(dtype))  # exactly 0 or 1: the density at tiny / 1 - eps
        marginals = binary_concrete_log_prob(value, logits, tau).sum(-1)
        logit_u = tau * (value.log() - torch.log1p(-value)) - logits
        # x = Phi^{-1}(sigmoid(y)) from the lower tail, where sigmoid is accurate; the clamp
        # keeps x finite for |y| beyond the dtype's range (~ +-87 in float32).
        tail = ndtri(torch.sigmoid(-logit_u.abs()).clamp(min=torch.finfo(value.dtype).tiny))
        x = torch.where(logit_u > 0, -tail, tail)
        scale_tril = self._scale_tril.to(x.dtype)
        mahalanobis = _batch_mahalanobis(scale_tril, x)  # x^T R^{-1} x, L broadcast, not copied
        half_log_det = scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        copula = -half_log_det - 0.5 * (mahalanobis - x.square().sum(-1))
        return (marginals + copula).to(out_dtype)
