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

from relaxit._sampling import logistic_noise as logistic_noise  # the shared sampling core


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
