"""Shared formulas of the Binary Concrete (relaxed Bernoulli) law, in logit space.

Binary Concrete (Maddison et al. 2017, "The Concrete Distribution: A Continuous Relaxation of
Discrete Random Variables"; Jang et al. 2017) with location ``logits`` and temperature ``tau``:
``z = sigmoid((logits + logit(u)) / tau)``, ``u ~ Uniform(0, 1)``. Its density w.r.t. Lebesgue
measure on (0, 1), with ``t = tau * logit(z) - logits``, is

    log p(z) = log tau + logsigmoid(t) + logsigmoid(-t) - log z - log(1 - z).

`BinaryConcreteCore` holds the parameters (``temperature`` and ``probs`` or ``logits``), the
sampler and the density; `RebarRelaxation` and `RelaxedBernoulliStraightThrough` are thin
parametrizations of it. The helpers below are also used by `HardConcrete` and
`CorrelatedRelaxedBernoulli`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch.distributions import constraints

from relaxit._sampling import logistic_noise as logistic_noise  # the shared sampling core
from relaxit.distributions._bernoulli import BernoulliProbsOrLogits
from relaxit.distributions._params import (
    CheckedDistribution,
    broadcast_batch,
    finite_positive,
    finite_real,
    float_params,
)


def clamp_open_unit(z: torch.Tensor) -> torch.Tensor:
    """Keep a relaxed sample inside the open interval (0, 1) of its density's support.

    ``sigmoid`` rounds to exactly 0 or 1 at low temperature; like ``torch``'s ``clamp_probs``
    the value is moved to the nearest representable interior point (``tiny`` at the bottom,
    ``1 - eps`` at the top).
    """
    finfo = torch.finfo(z.dtype)
    return z.clamp(min=finfo.tiny, max=1.0 - finfo.eps)


class _OpenUnitSigmoid(torch.autograd.Function):
    """``clamp_open_unit(sigmoid(y))`` in one saved tensor and one fused backward kernel.

    Autograd's ``sigmoid(y).clamp(...)`` saves the sigmoid output plus the clamp's two bound
    masks and runs three extra kernels (``ge``, ``le``, ``where``) in the backward pass; here the
    clamp is done in place on the output and the backward is ``sigmoid_backward(g, z)`` =
    ``g * z * (1 - z)`` at the clamped ``z``. Where the clamp is active (``|y|`` beyond ~16 in
    float32) this gives the sigmoid's own tiny slope instead of exactly 0.
    """

    @staticmethod
    def forward(y: torch.Tensor) -> torch.Tensor:
        finfo = torch.finfo(y.dtype)
        return torch.sigmoid(y).clamp_(min=finfo.tiny, max=1.0 - finfo.eps)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (z,) = ctx.saved_tensors
        return torch.ops.aten.sigmoid_backward(grad, z)


def open_unit_sigmoid(y: torch.Tensor) -> torch.Tensor:
    """``clamp_open_unit(torch.sigmoid(y))`` with a lean backward (see `_OpenUnitSigmoid`)."""
    return _OpenUnitSigmoid.apply(y)


def logistic_log_density_sum(t: torch.Tensor) -> torch.Tensor:
    """``logsigmoid(t) + logsigmoid(-t)``, the log-density of the standard logistic at ``t``."""
    a = t.abs()
    return -a - 2.0 * F.softplus(-a)


def binary_concrete_log_prob(
    value: torch.Tensor, logits: torch.Tensor, temperature: torch.Tensor
) -> torch.Tensor:
    """Log-density of Binary Concrete(logits, temperature) at ``value`` in [0, 1] (Lebesgue).

    At exactly 0 or 1 (a hard straight-through value, say) the density's limit is ``+inf`` for
    ``temperature < 1``, ``0`` for ``temperature > 1``; the value is first moved to the nearest
    point the sampler can return (`clamp_open_unit`: ``tiny``, ``1 - eps``), so the result is the
    finite density there, as torch's ``clamp_probs`` does, never NaN.
    """
    value = clamp_open_unit(value)
    log_z = value.log()
    log_1mz = torch.log1p(-value)
    t = temperature * (log_z - log_1mz) - logits
    return temperature.log() + logistic_log_density_sum(t) - log_z - log_1mz


class BinaryConcreteCore(BernoulliProbsOrLogits, CheckedDistribution):
    """Binary Concrete(``logits``, ``temperature``): parameters, relaxed sampler and density.

    Subclasses choose what ``rsample`` returns (the relaxed value, or a straight-through hard
    value) and the names of their constructor arguments; `_relaxed` draws
    ``y = (logits + logit u) / temperature`` and ``z = sigmoid(y)`` (kept in (0, 1)), and
    ``log_prob`` is `binary_concrete_log_prob`. ``temperature`` broadcasts with the
    probabilities; ``batch_shape`` is their broadcast shape.
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "temperature": finite_positive,
        "probs": constraints.unit_interval,
        "logits": finite_real,
    }
    support = constraints.unit_interval
    has_rsample = True

    def _init_core(
        self,
        temperature,
        which: str,
        param,
        validate_args: bool | None,
        names: dict[str, str] | None = None,
    ) -> None:
        """Store ``temperature`` and ``which`` (``"probs"``/``"logits"``) = ``param``, broadcast.

        ``names`` maps the stored names to those the user passed (for error messages).
        """
        names = names or {}
        owner = type(self).__name__
        shown_t, shown_p = names.get("temperature", "temperature"), names.get(which, which)
        tensors = float_params(owner, **{shown_p: param, shown_t: temperature})
        p, t = tensors[shown_p], tensors[shown_t]
        batch_shape = broadcast_batch(owner, {shown_p: p.shape, shown_t: t.shape})
        self.temperature = t.expand(batch_shape)
        self._store_probs_or_logits(which, p.expand(batch_shape))
        self._init_checked(batch_shape, validate_args=validate_args, names=names)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        new.temperature = self.temperature.expand(batch_shape)
        self._expand_probs_or_logits(new, batch_shape)
        new._init_expanded(batch_shape, torch.Size(), self._validate_args)
        return new

    def _relaxed(self, sample_shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, z)``: the logit ``y`` of the relaxed sample and ``z = sigmoid(y)`` in (0, 1)."""
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        y = (logits + logistic_noise(shape, logits)) / self.temperature
        return y, open_unit_sigmoid(y)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return binary_concrete_log_prob(value, self.logits, self.temperature)
