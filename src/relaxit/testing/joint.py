"""Joint-law checks: independent batch elements and sample dims; straight-through coupling.

The marginal checks in `relaxit.testing.checks` look at one batch element of one sample dim at a
time, so a sampler that shares one noise draw between batch elements, or broadcasts one draw
along a second sample dim, passes them: every marginal is right. These checks look at pairs.

``check_independence`` draws ``rsample((n, 2, 2))`` and reduces every draw of one batch element
(its event flattened) to a scalar by a fixed random projection; the scalars of

* every pair of batch elements (same draw),
* the two positions along the second sample dim, and along the third,
* consecutive draws along the first sample dim (lag 1),

must be independent: Spearman's rank correlation ``r`` with ``sqrt(n) r`` against N(0, 1),
Bonferroni-corrected over the pairs, one elementary test at level ``ALPHA`` per example.
Dependence that leaves the rank correlation of these projections at 0 is not detected.

``check_straight_through`` (``law="straight_through"``) is exact, with no false alarms: per draw,
the hard value equals ``example.hard_map`` of the relaxed value it came with, and the gradient
that flows back through the hard value is the relaxed value's (Pyro's surrogate
``hard + soft - soft.detach()``).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from relaxit.testing.checks import _seed
from relaxit.testing.example import Example
from relaxit.testing.stats import ALPHA, check_pvalue, independence_pvalue, named_check

INDEPENDENCE_DRAWS = 5_000
"""Draws along the first sample dim of the independence check."""


def _scalar_summary(example: Example, event_numel: int, x: torch.Tensor, n_lead: int):
    """``x`` ``(*lead, *batch, *event)`` -> ``(*lead, B)``: a fixed random projection of each
    batch element's value (the relaxed value of a straight-through sample)."""
    if example.law == "straight_through":
        x = example.soft_sample(x)
    x = x.detach().to(torch.float64)
    flat = x.reshape(*x.shape[:n_lead], -1, event_numel)
    gen = torch.Generator().manual_seed(12)
    weights = 0.5 + torch.rand(event_numel, generator=gen, dtype=torch.float64)
    return flat @ weights


@named_check
def check_independence(example: Example) -> None:
    """Batch elements of one draw, and draws along every sample dim, are independent."""
    if not example.statistical:
        return
    _seed(example, "independence")
    dist = example.make(dtype=torch.float64)
    shape = torch.Size((INDEPENDENCE_DRAWS, 2, 2))
    with torch.no_grad():
        x = dist.rsample(shape) if dist.has_rsample else dist.sample(shape)
    s = _scalar_summary(example, math.prod(dist.event_shape), x, 3).numpy()  # (n, 2, 2, B)
    n_batch = s.shape[-1]
    pairs: list[tuple[str, np.ndarray, np.ndarray]] = []
    for b in range(n_batch):
        for c in range(b + 1, n_batch):
            pairs.append((f"batch elements {b} and {c}", s[:, 0, 0, b], s[:, 0, 0, c]))
    for b in range(n_batch):
        pairs.append((f"sample dim 1, positions 0 and 1 (batch element {b})", *s[:, :, 0, b].T))
        pairs.append((f"sample dim 2, positions 0 and 1 (batch element {b})", *s[:, 0, :, b].T))
        lag = f"consecutive draws along sample dim 0 (batch element {b})"
        pairs.append((lag, s[:-1, 0, 0, b], s[1:, 0, 0, b]))
    for what, a, c in pairs:
        pval = independence_pvalue(a, c)
        check_pvalue(
            pval,
            ALPHA / len(pairs),
            f"{example.name}: {what} are dependent (rank correlation "
            f"{np.corrcoef(a, c)[0, 1]:.3f}, p={pval:.2e}) (independence)",
            "independence",
        )


@named_check
def check_straight_through(example: Example) -> None:
    """Per draw, hard value == ``hard_map(soft value)``, and its gradient is the soft value's."""
    if example.law != "straight_through":
        return
    _seed(example, "straight-through")
    dist, leaves = example.make_with_leaves(dtype=torch.float64)
    x = dist.rsample((256,))
    soft = example.soft_sample(x)
    expected = example.hard_map(soft.detach())
    mismatch = (x.detach() != expected).reshape(x.shape[0], -1).any(-1)
    assert not bool(mismatch.any()), (
        f"{example.name}: the hard value is not hard_map(soft value) in "
        f"{float(mismatch.double().mean()):.1%} of the draws (straight-through coupling)"
    )
    names = [k for k in example.rsample_grad_params if k in leaves]
    if not names:
        return
    weights = torch.randn(x.shape, dtype=x.dtype)
    inputs = [leaves[k] for k in names]
    g_hard = torch.autograd.grad((x * weights).sum(), inputs, retain_graph=True, allow_unused=True)
    g_soft = torch.autograd.grad((soft * weights).sum(), inputs, allow_unused=True)
    for name, a, b in zip(names, g_hard, g_soft, strict=True):
        a = torch.zeros_like(leaves[name]) if a is None else a
        b = torch.zeros_like(leaves[name]) if b is None else b
        torch.testing.assert_close(
            a,
            b,
            msg=f"{example.name}: the gradient through the hard value w.r.t. {name} is not "
            "the relaxed value's (straight-through surrogate)",
        )
