"""Statistical building blocks of the conformance kit.

False alarms. Every elementary test below rejects at level ``ALPHA = 1e-6`` (a correct
implementation fails it with probability at most 1e-6 for a fresh seed). A full run of the
project's suite performs fewer than 1000 elementary tests (each example x batch element x check;
``tests/test_conformance.py`` asserts the count), so by the union bound a correct implementation
fails the whole statistical suite in fewer than 1 run in 1000. Seeds are fixed, so a given run is
reproducible; the bound is over seeds.

Power. With ``N_SAMPLES = 20000`` draws the KS test at this level rejects a CDF error of about
0.02, and the binomial / chi-square tests detect probability errors of about 0.017 on a cell of
mass 0.5: planted bugs (wrong parameter, off-by-constant log-density, missing Jacobian) are far
larger than that (see ``tests/test_kit_catches_bugs.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats

ALPHA = 1e-6
"""Per-test false-alarm probability of every statistical check."""
N_SAMPLES = 20_000
"""Draws per batch element in sample-law checks."""


def ks_pvalue(samples: np.ndarray, grid: np.ndarray, cdf: np.ndarray) -> float:
    """p-value of the one-sample KS test of ``samples`` against a CDF tabulated on ``grid``."""
    x = np.sort(samples)
    n = x.size
    f = np.interp(x, grid, cdf)
    d_plus = np.max(np.arange(1, n + 1) / n - f)
    d_minus = np.max(f - np.arange(0, n) / n)
    return float(stats.kstwo.sf(max(d_plus, d_minus), n))


def binomial_pvalue(k: int, n: int, p: float) -> float:
    """Two-sided exact binomial test of ``k`` successes in ``n`` trials at rate ``p``."""
    p = min(max(p, 0.0), 1.0)
    if p == 0.0:
        return 1.0 if k == 0 else 0.0
    if p == 1.0:
        return 1.0 if k == n else 0.0
    return float(stats.binomtest(k, n, p).pvalue)


def chisquare_pvalue(counts: np.ndarray, probs: np.ndarray) -> float:
    """Chi-square goodness of fit; cells with expected count < 5 are pooled into one cell.

    A sample landing in a cell of zero probability gives p-value 0.
    """
    n = counts.sum()
    if np.any((probs <= 0) & (counts > 0)):
        return 0.0
    expected = probs * n
    small = expected < 5
    if small.any():
        counts = np.append(counts[~small], counts[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
        if expected[-1] == 0:
            counts, expected = counts[:-1], expected[:-1]
    if counts.size < 2:
        return 1.0
    expected = expected * (n / expected.sum())
    stat = float(((counts - expected) ** 2 / expected).sum())
    return float(stats.chi2.sf(stat, counts.size - 1))


def z_pvalue(diff: float, se: float) -> float:
    """Two-sided p-value of a difference with standard error ``se``."""
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    return float(2 * stats.norm.sf(abs(diff) / se))


def trapezoid_cumulative(y: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """Cumulative trapezoid integral of ``f`` over grid ``y`` along the last dim (starts at 0)."""
    steps = 0.5 * (f[..., 1:] + f[..., :-1]) * (y[..., 1:] - y[..., :-1])
    return torch.cat([torch.zeros_like(f[..., :1]), steps.cumsum(-1)], dim=-1)


def seeded(seed: int) -> torch.Generator:
    """Seed torch's global generator (the distributions use it) and return a private one."""
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
