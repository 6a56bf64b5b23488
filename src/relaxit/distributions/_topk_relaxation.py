"""The relaxed k-hot of `GumbelSoftmaxTopK`: K successive softmax steps, fused.

One step maps what is left of each category, ``r`` (1 at the start), to

    a = softmax(beta (s + log r))          # beta = 1 / tau, s = perturbed log-probabilities
    h = max(r - a, 0)                      # a step never takes more than what is left ...
    r' = h (1 - e / H),   e = 1 - sum min(a, r),   H = sum h
                                           # ... the excess e goes to the headroom h

and the relaxed k-hot after K steps is ``y = sum_j (r_{j-1} - r_j) = 1 - r_K``: entries in
[0, 1], ``sum y = K`` (``H >= e`` because ``sum r = n - j + 1 >= 1``, so ``r' >= 0``). A
used-up category (``r = 0``) has ``log r = -inf`` and gets no weight. Where no category of a row
caps (``a <= r``, most rows below temperature ~1) the step is ``r' = r - a``.

`relaxed_k_hot` runs this under a `torch.autograd.Function` that saves only ``s`` and ``beta``
(O(n) per row, not the O(K n) of the step-by-step autograd graph). Its hand-written backward
recomputes the K steps block of rows by block of rows (the K softmaxes of one block fit in
cache and the buffers are reused), then walks them backwards with ``g = dL/dr'``:

    uncapped rows:  dL/da = -g,                        direct dL/dr = g
    capped rows:    dL/da = -(g f + dH) [r > a],        direct dL/dr = (g f + dH) [r > a] + F / H
                    F = sum g h,   dH = F (e / H - 1) / H
    then            dL/dx = a (dL/da - sum a dL/da)   (x = beta (s + log r)),
                    dL/ds += beta dL/dx,   dL/dr += beta dL/dx / r,   dL/dbeta += sum dL/dx x / beta

recovering ``r`` on uncapped rows as ``r' + a`` instead of storing it. Under ``torch.compile``
the same recurrence runs as plain differentiable tensor code (`relaxed_k_hot_functional`), which
the compiler fuses itself.
"""

from __future__ import annotations

import torch

BLOCK_ELEMENTS = 1 << 17
"""Rows x categories per block of the backward pass (512 KiB of float32 per buffer)."""

_softmax_out = torch.ops.aten._softmax.out
_softmax_backward_out = torch.ops.aten._softmax_backward_data.out


def relaxed_k_hot_functional(scores: torch.Tensor, beta: torch.Tensor, k: int) -> torch.Tensor:
    """The K steps as plain differentiable tensor code (autograd saves every step).

    ``log r`` is clamped at the smallest normal number here (its gradient must stay finite at
    ``r = 0``); the weight it leaves a used-up category is below ``tiny ** beta``.

    Args:
        scores: ``(..., n)`` perturbed log-probabilities ``s``.
        beta: ``(..., 1)`` inverse temperatures.
        k: number of steps K.

    Returns:
        ``(..., n)`` relaxed k-hot ``1 - r_K``.
    """
    tiny = torch.finfo(scores.dtype).tiny
    left = torch.ones_like(scores)
    for _ in range(k):
        a = torch.softmax((scores + left.clamp_min(tiny).log()) * beta, -1)
        h = (left - a).clamp_min(0.0)
        excess = 1.0 - torch.minimum(a, left).sum(-1, keepdim=True)
        left = h * (1.0 - excess / h.sum(-1, keepdim=True).clamp_min(tiny))
    return 1.0 - left


def _dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Row-wise ``sum(u * v, -1, keepdim=True)``."""
    return torch.linalg.vecdot(u, v).unsqueeze(-1)


def _forward_steps(
    scaled: torch.Tensor,
    beta: float | torch.Tensor,
    k: int,
    left: torch.Tensor,
    softmaxes: list[torch.Tensor],
    record: list | None,
) -> torch.Tensor:
    """Run the K steps on 2-D ``scaled = beta s`` (rows x n) in place; returns ``left = r_K``.

    ``beta`` is a number (one temperature for every row) or a ``(rows, 1)`` tensor. ``left``
    is a buffer shaped like ``scaled``; ``softmaxes`` holds the buffers the softmax of each
    step is written to (one reused buffer, or K when recording). With ``record`` (a list), each
    step appends ``(rows, h, e, H, f, max(r, tiny))`` for the rows that capped, or None.
    """
    tiny = torch.finfo(scaled.dtype).tiny
    left.fill_(1.0)
    total_left = scaled.new_full((scaled.shape[0], 1), float(scaled.shape[-1]))  # sum r
    for j in range(k):
        a = softmaxes[j % len(softmaxes)]
        if j == 0:  # r = 1: log r = 0, and nothing caps
            _softmax_out(scaled, -1, False, out=a)
        else:
            torch.log(left, out=a)
            if isinstance(beta, float):
                torch.add(scaled, a, alpha=beta, out=a)  # beta (s + log r)
            else:
                torch.addcmul(scaled, a, beta, out=a)
            _softmax_out(a, -1, False, out=a)
        left.sub_(a)  # r - a
        total_left.sub_(1.0)
        rows = (left.amin(-1) < 0).nonzero().squeeze(-1) if j else left.new_empty(0)
        capped = None
        if rows.numel():  # some a > r: cap these rows
            h = left.index_select(0, rows)
            r_safe = None
            if record is not None:
                r_safe = torch.add(h, a.index_select(0, rows)).clamp_min_(tiny)
            h.clamp_min_(0.0)
            headroom = h.sum(-1, keepdim=True).clamp_min(tiny)  # H
            # e = 1 - sum min(a, r), >= 0 (and <= H) up to rounding
            excess = (headroom - total_left.index_select(0, rows)).clamp_(min=0.0)
            excess = torch.minimum(excess, headroom)
            f = 1.0 - excess / headroom
            left.index_copy_(0, rows, h * f)
            total_left.index_copy_(0, rows, f * headroom)
            capped = (rows, h, excess, headroom, f, r_safe)
        if record is not None:
            record.append(capped)
    return left


def _as_scalar(beta: torch.Tensor) -> float | torch.Tensor:
    return float(beta) if beta.numel() == 1 else beta


def _backward_block(
    scores: torch.Tensor,
    beta: float | torch.Tensor,
    k: int,
    grad_out: torch.Tensor,
    grad_s: torch.Tensor,
    grad_beta: torch.Tensor | None,
    work: dict[str, torch.Tensor],
) -> None:
    """Gradient of ``1 - r_K`` for one block of rows: writes ``grad_s`` (and ``grad_beta``)."""
    rows_in_block = scores.shape[0]
    tiny = torch.finfo(scores.dtype).tiny
    n = scores.shape[-1]
    left, g, sb = (work[name][:rows_in_block] for name in ("left", "g", "sb"))
    softmaxes = [buf[:rows_in_block] for buf in work["softmaxes"]]
    steps: list = []
    torch.mul(scores, beta, out=sb)  # beta s (sb is free until the first backward step)
    # r + tiny: the divisor of the gradient through log r (where r = 0, a = 0 and the numerator
    # vanishes); walked backwards as r_{j-1} = r_j + a_j on uncapped rows.
    r_tiny = _forward_steps(sb, beta, k, left, softmaxes, steps).add_(tiny)
    torch.neg(grad_out, out=g)  # dL/d r_K, as y = 1 - r_K
    grad_s.zero_()
    for a, capped in zip(reversed(softmaxes), reversed(steps), strict=True):
        r_tiny.add_(a)
        if capped is not None:
            rows, h, excess, headroom, f, r_safe = capped
            g_rows = g.index_select(0, rows)
            big_f = _dot(g_rows, h)
            g_rows.mul_(f).add_(big_f * (excess / headroom - 1.0) / headroom).mul_(torch.sign(h))
            g.index_copy_(0, rows, g_rows)
            r_tiny.index_copy_(0, rows, r_safe)
        _softmax_backward_out(g, a, -1, scores.dtype, grad_input=sb)  # -dL/dx
        if grad_beta is not None:  # x = beta (s + log r)
            d = _dot(sb, scores) + _dot(sb, r_tiny.log())
            grad_beta.sub_(d.sum() if grad_beta.numel() == 1 else d)
        if isinstance(beta, float):
            grad_s.sub_(sb, alpha=beta)
            g.addcdiv_(sb, r_tiny, value=-beta)  # + beta dL/dx / r
        else:
            sb.mul_(beta)
            grad_s.sub_(sb)
            g.addcdiv_(sb, r_tiny, value=-1.0)
        if capped is not None:
            g.index_add_(0, rows, (big_f / headroom).expand(-1, n))


class _RelaxedKHot(torch.autograd.Function):
    """``scores = logits + noise`` (2-D); forward: the k-hot of the top k of ``scores``
    (``hard``) or the relaxed k-hot; backward: the relaxed k-hot's, recomputing the K steps."""

    @staticmethod
    def forward(ctx, logits, noise, beta, k, hard):
        with torch.no_grad():
            scores = noise.add_(logits)  # the noise is ours: perturb it in place
            if hard:
                top = scores.topk(k, -1).indices
                out = torch.zeros_like(scores).scatter_(-1, top, 1.0)
            else:
                out = torch.empty_like(scores)
                scaled = scores * _as_scalar(beta)
                _forward_steps(scaled, _as_scalar(beta), k, out, [torch.empty_like(scores)], None)
                out.neg_().add_(1.0)
        ctx.save_for_backward(scores, beta)
        ctx.k = k
        return out

    @staticmethod
    def backward(ctx, grad_out):
        scores, beta_tensor = ctx.saved_tensors
        beta = _as_scalar(beta_tensor)
        n_rows, n = scores.shape
        block = max(1, min(n_rows, BLOCK_ELEMENTS // n))
        with torch.no_grad():
            grad_s = torch.empty_like(scores)
            grad_beta = torch.zeros_like(beta_tensor) if ctx.needs_input_grad[2] else None
            shape = (block, n)
            work = {name: scores.new_empty(shape) for name in ("left", "g", "sb")}
            work["softmaxes"] = list(scores.new_empty((ctx.k, *shape)).unbind(0))
            for start in range(0, n_rows, block):
                part = slice(start, start + block)
                _backward_block(
                    scores[part],
                    beta if isinstance(beta, float) else beta[part],
                    ctx.k,
                    grad_out[part],
                    grad_s[part],
                    grad_beta if grad_beta is None or grad_beta.numel() == 1 else grad_beta[part],
                    work,
                )
        return grad_s, None, grad_beta, None, None


def relaxed_k_hot(
    logits: torch.Tensor, noise: torch.Tensor, tau: torch.Tensor, k: int, hard: bool
) -> torch.Tensor:
    """The (relaxed) k-hot of ``logits + noise`` (see the module docstring).

    Args:
        logits: ``(..., n)``, broadcastable to ``noise``; the result is invariant to shifting a
            row, so they need not be normalized.
        noise: ``(..., n)`` Gumbel noise, a fresh tensor that this function may overwrite.
        tau: temperatures, broadcastable to ``noise.shape[:-1]``.
        k: number of steps K.
        hard: forward the exact k-hot of the top k (straight-through) instead of ``1 - r_K``.

    Returns:
        ``noise.shape``: entries in [0, 1] summing to K; the gradient is the relaxation's.
    """
    beta = tau.reciprocal().unsqueeze(-1)
    if torch.compiler.is_compiling():
        scores = logits + noise
        soft = relaxed_k_hot_functional(scores, beta, k)
        if not hard:
            return soft
        top = scores.detach().topk(k, -1).indices
        return torch.zeros_like(soft).scatter_(-1, top, 1.0) + (soft - soft.detach())
    n = noise.shape[-1]
    if beta.numel() != 1:
        beta = beta.expand((*noise.shape[:-1], 1)).reshape(-1, 1)
    flat = _RelaxedKHot.apply(
        logits.expand(noise.shape).reshape(-1, n), noise.reshape(-1, n), beta, k, hard
    )
    return flat.reshape(noise.shape)
