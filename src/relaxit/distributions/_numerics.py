"""Numerics shared by several classes: half-precision compute dtypes, a dtype-aware simplex,
and a log whose gradient cannot overflow."""

from __future__ import annotations

import torch
from torch.distributions import biject_to, constraints, transform_to

HALF_DTYPES = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float32 for float16/bfloat16 (whose CPU kernels for ``log_ndtr``, ``ndtri``, cholesky
    and triangular solves are missing, and whose rounding breaks densities), else ``dtype``."""
    return torch.promote_types(dtype, torch.float32)


def sum_tolerance(dtype: torch.dtype, n: int) -> float:
    """How far from its target a sum of ``n`` entries may be: torch's 1e-6 in float32/float64,
    ``n`` ulps of 1 in float16/bfloat16 (where a softmax's entries round independently)."""
    return max(1e-6, n * torch.finfo(dtype).eps) if dtype in HALF_DTYPES else 1e-6


class _Simplex(type(constraints.simplex)):
    """``constraints.simplex`` with a sum tolerance that fits float16/bfloat16 values."""

    def check(self, value: torch.Tensor) -> torch.Tensor:
        tol = sum_tolerance(value.dtype, value.shape[-1])
        return torch.all(value >= 0, dim=-1) & ((value.sum(-1) - 1).abs() < tol)


simplex = _Simplex()
"""The probability simplex (last dim), as ``constraints.simplex`` but dtype-aware."""
transform_to.register(_Simplex)(lambda c: transform_to(constraints.simplex))
biject_to.register(_Simplex)(lambda c: biject_to(constraints.simplex))


class _FlooredLog(torch.autograd.Function):
    """``log(max(x, tiny))`` whose backward ``g / x`` saturates instead of overflowing.

    A simplex coordinate that underflowed is stored as the dtype's smallest normal number
    ``tiny`` (~1e-38 in float32), where ``d log x / dx = 1/x`` (~1e38) times a log-density's
    slope exceeds the dtype's range: ``inf``, then ``nan`` in the softmax backward of the sample
    (a ``LogisticNormalSoftmax`` with ``|loc|`` near 45 in float32). Here the gradient is exact
    wherever it is representable and clamped to ``+-finfo.max / 16`` elsewhere, which only
    happens in coordinates at or near ``tiny``. Such a coordinate's forward value is already the
    clamp's, not the sample's, so the log-density and its gradient there are finite but only
    approximate (float64 represents these samples: use it where their accuracy matters).
    A coordinate at exactly 0 (the simplex is closed) is read as ``tiny``, so the log is finite.
    """

    @staticmethod
    def forward(x: torch.Tensor) -> torch.Tensor:
        return x.clamp_min(torch.finfo(x.dtype).tiny).log()

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        (x,) = inputs
        ctx.save_for_backward(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        finfo = torch.finfo(x.dtype)
        limit = finfo.max / 16
        out = grad / x.clamp_min(finfo.tiny)
        return out.nan_to_num_(0.0, limit, -limit).clamp_(-limit, limit)


def floored_log(x: torch.Tensor) -> torch.Tensor:
    """``log(max(x, tiny))`` with a gradient that stays finite (see `_FlooredLog`)."""
    return _FlooredLog.apply(x)
