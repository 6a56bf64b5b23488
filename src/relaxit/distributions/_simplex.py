"""Helpers of the distributions on the simplex (`InvertibleGaussian`, `LogisticNormalSoftmax`):
parameters whose last dim is the event dim, and a softmax that keeps underflowed coordinates at
the smallest normal number with a lean backward."""

from __future__ import annotations

import torch

from relaxit.distributions._params import broadcast_batch, float_params


def vector_params(owner: str, event: str, **params) -> dict[str, torch.Tensor]:
    """Floating tensors whose last dim is the event dim, broadcast together; ``ValueError``
    naming each parameter and its shape when they do not broadcast or have no last dim (whose
    expected size ``event`` describes, e.g. ``"K-1 >= 1"``)."""
    tensors = float_params(owner, **params)
    shape = broadcast_batch(owner, {k: v.shape for k, v in tensors.items()})
    if len(shape) < 1:
        names = " and ".join(f"`{k}`" for k in tensors)
        raise ValueError(f"{owner}: {names} need a last dimension of size {event}, got scalars")
    return {k: v.expand(shape) for k, v in tensors.items()}


class _TinyClampedSoftmax(torch.autograd.Function):
    """``softmax(x, -1)`` with coordinates that underflowed kept at the dtype's smallest normal
    number, with one saved tensor and one fused backward kernel.

    Autograd's ``softmax(x).clamp(min=tiny)`` adds a clamp forward and a ``ge`` + ``where`` mask
    in the backward pass (about a quarter of rsample + backward at 512 x 1024); here the clamp
    is in place and the backward is softmax's own (``_softmax_backward_data``) at the clamped
    output, which differs from the exact one only in coordinates below ``tiny``.
    """

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, -1).clamp_(min=torch.finfo(x.dtype).tiny)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch._softmax_backward_data(grad, y, -1, y.dtype)


def tiny_clamped_softmax(x: torch.Tensor) -> torch.Tensor:
    """``softmax(x, -1).clamp(min=tiny)`` with a lean backward (see `_TinyClampedSoftmax`)."""
    return _TinyClampedSoftmax.apply(x)
