"""Straight-through Bernoulli variables: hard values forward, a documented surrogate backward."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from pyro.distributions import Bernoulli
from torch.distributions import constraints
from torch.distributions.utils import lazy_property

from relaxit.distributions._bernoulli import BernoulliProbsOrLogits
from relaxit.distributions._binary_concrete import BinaryConcreteCore
from relaxit.distributions._params import (
    CheckedDistribution,
    finite_real,
    float_params,
    probs_or_logits,
)


class StraightThroughBernoulli(Bernoulli):
    r"""Bernoulli variable with the straight-through gradient ``d b / d p = 1``.

    Bengio, Léonard & Courville (2013), "Estimating or Propagating Gradients Through Stochastic
    Neurons for Conditional Computation" (the straight-through estimator). Forward:
    ``b ~ Bernoulli(p)``, exactly 0 or 1. Backward: the sample is treated as if it were ``p``,
    i.e. ``b + (p - stop_gradient(p))``; the term in brackets is exactly zero, so the value is
    exact. With ``logits`` given, the gradient continues to them through ``p = sigmoid(logits)``.

    ``log_prob`` is the Bernoulli log-mass (base measure: counting measure on {0, 1}).

    Constructed as ``torch.distributions.Bernoulli(probs=None, logits=None, validate_args=None)``:
    exactly one of ``probs`` (in [0, 1]) and ``logits`` (log-odds), any shape.

    Examples:
        >>> import torch
        >>> p = torch.tensor([0.2, 0.9], requires_grad=True)
        >>> b = StraightThroughBernoulli(probs=p).rsample((4,))
        >>> b.shape, bool(((b == 0) | (b == 1)).all())
        (torch.Size([4, 2]), True)
        >>> b.sum().backward(); p.grad
        tensor([4., 4.])
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "probs": constraints.unit_interval,
        "logits": finite_real,
    }
    has_rsample = True

    def __init__(
        self,
        probs: torch.Tensor | float | None = None,
        logits: torch.Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        which, param = probs_or_logits(type(self).__name__, probs, logits)
        (param,) = float_params(type(self).__name__, **{which: param}).values()
        super().__init__(**{which: param}, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(StraightThroughBernoulli, _instance)
        return super().expand(batch_shape, _instance=new)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        p = self.probs
        # 1[u < p] is a Bernoulli(p) draw; torch.bernoulli's CPU kernel is ~4x slower than a
        # uniform draw and a comparison (profile in benchmarks/speed-changes.md).
        u = torch.rand(shape, dtype=p.dtype, device=p.device)
        b = (u < p.detach()).to(p.dtype)
        return b + (p - p.detach())


class _TinyClampedSqrt(torch.autograd.Function):
    """``sqrt(max(p, tiny))`` whose backward is the sqrt's own ``g / (2 sqrt)``: autograd's
    ``p.clamp_min(tiny).sqrt()`` adds the clamp's mask and ``where`` in the backward pass (about
    a quarter of StochasticTimesSmooth's rsample + backward). Where the clamp is active
    (``p < tiny``) the gradient is ``g / (2 sqrt(tiny))`` instead of 0; in ``b * sqrt(p)`` the
    incoming ``g`` is 0 there, as ``b = 0`` when ``p = 0``."""

    @staticmethod
    def forward(p: torch.Tensor) -> torch.Tensor:
        return p.clamp_min(torch.finfo(p.dtype).tiny).sqrt_()

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (s,) = ctx.saved_tensors
        return grad / (2.0 * s)


class StochasticTimesSmooth(BernoulliProbsOrLogits, CheckedDistribution):
    r"""Stochastic-times-smooth unit: ``b sqrt(p)`` with ``b ~ Bernoulli(sqrt(p))``.

    Bengio, Léonard & Courville (2013), "Estimating or Propagating Gradients Through Stochastic
    Neurons for Conditional Computation", section 4 (the product of a smooth part
    ``sqrt(p)`` and a stochastic binary part, so ``E[output] = p``). The gradient flows through
    the smooth factor only: ``d output / d p = b / (2 sqrt(p))``; ``b`` is drawn as
    ``u^2 < p`` with one uniform ``u`` (the same event as ``u < sqrt(p)``). ``sample`` and
    ``rsample`` draw the same law.

    The output takes two values, so ``log_prob`` is a log-mass (counting measure on
    ``{0, sqrt(p)}``): ``log(1 - sqrt(p))`` at 0 and ``log(sqrt(p))`` at ``sqrt(p)``, computed
    in logit space. When ``p = 0`` the two values coincide and 0 has mass 1. The support depends
    on ``p``: a nonzero value is recognised as ``sqrt(p)`` within a relative tolerance
    `SQRT_PROBS_RTOL` (so a sample stays valid after a float32/float64 round trip of ``p``, and
    ``log_prob`` of a sample is differentiable in ``p``); with validation on, any other value
    raises ``ValueError``; without validation it gets log-mass ``-inf``.
    ``mean = p`` and ``variance = p^{3/2} - p^2``.

    Args:
        probs: ``p`` in [0, 1], any shape.
        logits: log-odds of ``p``; give exactly one of ``probs`` and ``logits``.

    Examples:
        >>> import torch
        >>> d = StochasticTimesSmooth(probs=torch.tensor([0.25, 0.81]))
        >>> d.rsample((3,)).shape
        torch.Size([3, 2])
        >>> d.log_prob(torch.tensor([0.5, 0.0])).exp()  # P(out = sqrt p), P(out = 0)
        tensor([0.5000, 0.1000])
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "probs": constraints.unit_interval,
        "logits": finite_real,
    }
    has_rsample = True

    def __init__(
        self,
        probs: torch.Tensor | float | None = None,
        logits: torch.Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        which, param = probs_or_logits(type(self).__name__, probs, logits)
        (tensor,) = float_params(type(self).__name__, **{which: param}).values()
        self._store_probs_or_logits(which, tensor)
        self._init_checked(tensor.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(StochasticTimesSmooth, _instance)
        batch_shape = torch.Size(batch_shape)
        self._expand_probs_or_logits(new, batch_shape)
        new._init_expanded(batch_shape, torch.Size(), self._validate_args)
        return new

    @lazy_property
    def sqrt_probs(self) -> torch.Tensor:
        """``sqrt(p)``: the nonzero value of the output (and ``P(output != 0)``)."""
        return self.probs.sqrt()

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self) -> constraints.Constraint:
        return _ZeroOr(self.sqrt_probs)

    @property
    def mean(self) -> torch.Tensor:
        return self.probs

    @property
    def variance(self) -> torch.Tensor:
        p = self.probs
        return p * self.sqrt_probs - p * p

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        p = self.probs
        u = torch.rand(shape, dtype=p.dtype, device=p.device)
        b = (u * u < p.detach()).to(p.dtype)
        # b * sqrt(p): no `where` on the random mask (branchy, ~1 ms at 4096 x 64) and no sqrt of
        # zeros (~7x slower than of p). The clamp keeps the sqrt's backward finite at p = 0,
        # where b = 0 (u * u < 0 never holds), so the value and gradient there are exactly 0.
        return b * _TinyClampedSqrt.apply(p)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        if self._given == "logits":
            log_sqrt_p = 0.5 * F.logsigmoid(self.logits)
            # 1 - sqrt(p) = (1 - p) / (1 + sqrt(p)): stable as p -> 1
            log_zero = F.logsigmoid(-self.logits) - torch.log1p(log_sqrt_p.exp())
        else:
            # At p in {0, 1} one branch is -inf; clamped copies keep its backward free of NaN.
            p = self.probs
            tiny = torch.finfo(p.dtype).tiny
            below_one = p < 1
            p_safe = torch.where(below_one, p, 0.0).clamp(min=tiny)
            log_sqrt_p = 0.5 * p.clamp(min=tiny).log()
            log_zero = torch.where(below_one, torch.log1p(-p_safe.sqrt()), -torch.inf)
        minus_inf = torch.full((), -torch.inf, dtype=log_zero.dtype, device=log_zero.device)
        log_one = torch.where(_is_sqrt_probs(value, self.sqrt_probs), log_sqrt_p, minus_inf)
        return torch.where(value == 0, log_zero, log_one)


SQRT_PROBS_RTOL = 1e-4
"""Relative tolerance within which `StochasticTimesSmooth` recognises a value as ``sqrt(p)``."""


def _is_sqrt_probs(value: torch.Tensor, sqrt_probs: torch.Tensor) -> torch.Tensor:
    return torch.isclose(value, sqrt_probs.to(value.dtype), rtol=SQRT_PROBS_RTOL, atol=0.0)


class _ZeroOr(constraints.Constraint):
    """The two-point set ``{0, v}`` (``v`` per batch element)."""

    is_discrete = True
    event_dim = 0

    def __init__(self, v: torch.Tensor) -> None:
        self.v = v
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        return (value == 0) | _is_sqrt_probs(value, self.v)


class RelaxedBernoulliStraightThrough(BinaryConcreteCore):
    r"""Straight-through Binary Concrete: hard 0/1 forward, relaxed gradient backward.

    Maddison, Mnih & Teh (2017), "The Concrete Distribution"; Jang, Gu & Poole (2017),
    "Categorical Reparameterization with Gumbel-Softmax" (the straight-through variant); the
    semantics are Pyro's ``RelaxedBernoulliStraightThrough``. ``rsample`` draws the relaxed
    sample

    $$
    y = (\text{logits} + \log u - \log(1-u)) / \tau, \qquad z = \sigma(y),
    $$

    and returns the hard value ``b = 1[y > 0]`` (so ``b ~ Bernoulli(sigmoid(logits))`` exactly)
    whose backward pass is that of ``z`` (``b + (z - stop_gradient(z))``, exact forward value).
    The returned tensor carries the relaxed sample as ``x._unquantize`` (Pyro's convention), and
    ``log_prob(x)`` is the Binary Concrete log-density (Lebesgue on (0, 1)) of
    ``getattr(x, "_unquantize", x)``:
    ``log tau + logsigmoid(t) + logsigmoid(-t) - log z - log(1-z)``, ``t = tau logit(z) - logits``.
    Unlike PyTorch's and Pyro's classes, ``temperature`` broadcasts with ``probs``/``logits``.
    A copy of a sample (``detach``, ``clone``, indexing, arithmetic, pickling) loses
    ``_unquantize`` and holds the hard value 0 or 1: its ``log_prob`` is the finite density at
    the nearest point the sampler returns (``tiny``, ``1 - eps``), never NaN, not that of the
    relaxed value. A thin parametrization of `BinaryConcreteCore`.

    Args:
        temperature: ``tau > 0`` (finite), broadcast with the probabilities.
        probs: success probabilities in [0, 1].
        logits: finite log-odds; give exactly one of ``probs`` and ``logits``.

    Examples:
        >>> import torch
        >>> d = RelaxedBernoulliStraightThrough(torch.tensor([0.5, 1.0]), logits=torch.zeros(3, 1))
        >>> x = d.rsample()
        >>> x.shape, bool(((x == 0) | (x == 1)).all()), d.log_prob(x).shape
        (torch.Size([3, 2]), True, torch.Size([3, 2]))
    """

    def __init__(
        self,
        temperature: torch.Tensor | float,
        probs: torch.Tensor | float | None = None,
        logits: torch.Tensor | float | None = None,
        validate_args: bool | None = None,
    ) -> None:
        which, param = probs_or_logits(type(self).__name__, probs, logits)
        self._init_core(temperature, which, param, validate_args)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        y, soft = self._relaxed(torch.Size(sample_shape))
        hard = (y > 0).to(soft.dtype) + (soft - soft.detach())
        hard._unquantize = soft
        return hard

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return super().log_prob(getattr(value, "_unquantize", value))
