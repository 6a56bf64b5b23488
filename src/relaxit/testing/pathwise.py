"""Gradient correctness of ``rsample``: the pathwise gradient against references from ``log_prob``.

``check_gradients`` asks that ``rsample`` back-propagates at all; a sampler with the right values
but a wrong gradient (a flipped sign, a doubled temperature derivative) passes it. Here, for two
smooth test functions of the value,

    g1(x) = sum_e w1_e x_e,        g2(x) = sum_e sin(2 w2_e x_e + 1/2)

(per batch element, fixed random weights ``w``), the pathwise estimate of ``d E[g(x)] / d theta``
(the mean of ``d g(rsample) / d theta``) is compared, for every entry of every floating-point
parameter (the temperature included; ``Example.pathwise_exclude`` lists deliberate exceptions),
with references computed from ``log_prob`` alone:

* the score-function estimate ``mean (g(x) - c) d log p(x) / d theta`` on the same draws
  (detached; ``c`` a baseline from independent draws) — a paired difference;
* for one free coordinate (scalar events, the 2-simplex), the derivative of the quadrature
  ``sum_grid g(x) p(x) dx + sum_atoms g(a) P(a)`` on the normalization check's grid (the samples'
  range plus the fixed wide grid), differentiated by autograd: no Monte-Carlo error.

For a straight-through class the value is the relaxed sample (``Example.soft_sample``): the
gradient of the returned tensor is checked to be exactly the relaxed value's by
``check_straight_through``. Discrete laws (``rsample`` a biased surrogate of a hard value) and
``law="none"`` are skipped.

Statistics: ``PATHWISE_GROUPS`` groups of ``PATHWISE_GROUP_SIZE`` draws give i.i.d. group
estimates; each comparison is a t-test with ``PATHWISE_GROUPS - 1`` degrees of freedom, the
comparisons of an example Bonferroni-corrected into one elementary test at level ``ALPHA``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.distributions import Distribution, biject_to

from relaxit.testing.checks import _seed, quadrature_grid
from relaxit.testing.example import Example
from relaxit.testing.stats import ALPHA, check_pvalue, named_check, t_pvalue

PATHWISE_GROUPS = 100
PATHWISE_GROUP_SIZE = 200
QUADRATURE_TOLERANCE = 1e-5
"""Relative numerical error allowed to the quadrature reference (added to the standard error)."""


def _test_functions(event_numel: int, n_batch: int, dtype: torch.dtype):
    gen = torch.Generator().manual_seed(2024)
    w1 = torch.randn(n_batch, event_numel, generator=gen, dtype=dtype)
    w2 = torch.randn(n_batch, event_numel, generator=gen, dtype=dtype)

    def g(x: torch.Tensor, lead: int) -> torch.Tensor:
        """``(*lead, *batch, *event)`` -> ``(*lead, B, 2)``."""
        flat = x.reshape(*x.shape[:lead], n_batch, event_numel)
        g1 = (flat * w1).sum(-1)
        g2 = torch.sin(2 * flat * w2 + 0.5).sum(-1)
        return torch.stack([g1, g2], -1)

    return g


def _flat_grad(outputs: torch.Tensor, leaves: list[torch.Tensor]) -> torch.Tensor:
    grads = torch.autograd.grad(outputs, leaves, retain_graph=True, allow_unused=True)
    return torch.cat(
        [
            (torch.zeros_like(leaf) if g is None else g).reshape(-1)
            for g, leaf in zip(grads, leaves, strict=True)
        ]
    )


def _value(example: Example, x: torch.Tensor) -> torch.Tensor:
    return example.soft_sample(x) if example.law == "straight_through" else x


def _quadrature_gradient(
    example: Example, dist: Distribution, leaves: list[torch.Tensor], g, v: torch.Tensor
) -> torch.Tensor | None:
    """``d/d theta`` of ``sum_b v_b E[g_j(x_b)]`` by quadrature, ``(2, P)``.

    None when the law has more than one free coordinate.
    """
    batch, event = dist.batch_shape, dist.event_shape
    transform = biject_to(dist.support)
    free_shape = transform.inverse_shape(event)
    if math.prod(free_shape) != 1:
        return None
    atoms = torch.tensor(example.atoms, dtype=torch.float64)
    with torch.no_grad():
        pilot = _value(example, dist.rsample((4000,)))
        y = transform.inv(pilot).reshape(pilot.shape[0], *batch)
        interior = torch.ones_like(y, dtype=torch.bool)
        if len(atoms):  # scalar events
            interior = ~(pilot.unsqueeze(-1) == atoms).any(-1)
        y_in = torch.where(interior & torch.isfinite(y), y, torch.nan)
        lo = torch.nan_to_num(y_in, nan=math.inf).amin(0)
        hi = torch.nan_to_num(y_in, nan=-math.inf).amax(0)
        std = torch.nan_to_num((hi - lo) / 4, nan=1.0).clamp(min=1e-3)
        lo = torch.where(torch.isfinite(lo), lo - 4 * std, -50.0)
        hi = torch.where(torch.isfinite(hi), hi + 4 * std, 50.0)
    grid = quadrature_grid(lo, hi, transform, free_shape).reshape(-1, *batch, *free_shape)
    with torch.no_grad():  # keep the points where the density is finite for every element
        x = transform(grid)
        ok = torch.isfinite(dist.log_prob(x) + transform.log_abs_det_jacobian(grid, x))
        grid = grid[ok.reshape(grid.shape[0], -1).all(-1)]
    x = transform(grid)
    dens = (dist.log_prob(x) + transform.log_abs_det_jacobian(grid, x)).exp()  # (G, *batch)
    gx = g(x, 1)  # (G, B, 2)
    yy = grid.reshape(grid.shape[0], -1)  # (G, B)
    f = dens.reshape(dens.shape[0], -1).unsqueeze(-1) * gx  # (G, B, 2)
    integral = (0.5 * (f[1:] + f[:-1]) * (yy[1:] - yy[:-1]).unsqueeze(-1)).sum(0)  # (B, 2)
    if len(atoms):
        at = atoms.reshape(-1, *[1] * len(batch)).expand(-1, *batch)
        integral = integral + (
            dist.log_prob(at).exp().reshape(len(atoms), -1).unsqueeze(-1) * g(at, 1)
        ).sum(0)
    total = v @ integral  # (2,)
    return torch.stack([_flat_grad(total[j], leaves) for j in range(2)])


@named_check
def check_pathwise_gradient(example: Example) -> None:
    """The mean ``rsample`` gradient of smooth ``E[g(x)]`` matches references from ``log_prob``."""
    if not example.statistical or example.law not in ("continuous", "straight_through"):
        return
    names = example.pathwise_params
    if not names:
        return
    _seed(example, "pathwise")
    base = example.build_params(dtype=torch.float64)
    leaf_map = {k: base[k].clone().requires_grad_(True) for k in names}
    dist = example.dist_class(**{**base, **leaf_map})
    leaves = list(leaf_map.values())
    n_batch, event_numel = math.prod(dist.batch_shape), math.prod(dist.event_shape)
    g = _test_functions(event_numel, n_batch, torch.float64)
    v = torch.randn(n_batch, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        baseline = g(_value(example, dist.rsample((4000,))), 1).mean(0)  # (B, 2)

    path, score = [], []
    for _ in range(PATHWISE_GROUPS):
        value = _value(example, dist.rsample((PATHWISE_GROUP_SIZE,)))
        gx = g(value, 1)  # (m, B, 2)
        log_p = dist.log_prob(value.detach()).reshape(PATHWISE_GROUP_SIZE, n_batch)
        path.append(torch.stack([_flat_grad(gx[..., j].mean(0) @ v, leaves) for j in range(2)]))
        weight = (gx.detach() - baseline) * v.unsqueeze(-1)  # (m, B, 2)
        score.append(
            torch.stack(
                [_flat_grad((weight[..., j] * log_p).sum(-1).mean(0), leaves) for j in range(2)]
            )
        )
    path_np = torch.stack(path).numpy()  # (groups, 2, P)
    score_np = torch.stack(score).numpy()
    quad = _quadrature_gradient(example, dist, leaves, g, v)

    labels = [f"{k}[{i}]" for k, leaf in leaf_map.items() for i in range(leaf.numel())]
    comparisons: list[tuple[str, float, float, float]] = []  # what, path mean, ref, p-value
    for j in range(2):
        for p, label in enumerate(labels):
            diffs = path_np[:, j, p] - score_np[:, j, p]
            comparisons.append(
                (
                    f"d E[g{j + 1}] / d {label} vs the score-function estimate",
                    float(path_np[:, j, p].mean()),
                    float(score_np[:, j, p].mean()),
                    t_pvalue(diffs),
                )
            )
            if quad is not None:
                ref = float(quad[j, p])
                tol = QUADRATURE_TOLERANCE * (1 + abs(ref))
                comparisons.append(
                    (
                        f"d E[g{j + 1}] / d {label} vs the quadrature derivative",
                        float(path_np[:, j, p].mean()),
                        ref,
                        t_pvalue(path_np[:, j, p] - ref, tol),
                    )
                )
    level = ALPHA / len(comparisons)
    failing = sorted((c for c in comparisons if c[3] < level), key=lambda c: c[3])
    worst = failing or [min(comparisons, key=lambda c: c[3])]
    details = "; ".join(
        f"{what}: {mean_path:.5g} vs {ref:.5g} (p={pval:.2e})"
        for what, mean_path, ref, pval in worst[:4]
    )
    check_pvalue(
        worst[0][3] * len(comparisons),
        ALPHA,
        f"{example.name}: the rsample (pathwise) gradient disagrees with log_prob's: {details} "
        f"({len(failing)} of {len(comparisons)} comparisons fail) (pathwise gradient)",
        "pathwise gradient",
    )
    assert bool(np.isfinite(path_np).all()), f"{example.name}: non-finite pathwise gradient"
