"""Statistical building blocks of the conformance kit.

False alarms. Every elementary test below rejects at level ``T = TypeVar("T")

ALPHA = 1e-6`` (a correct
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

import functools
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch
from scipy import stats

T = TypeVar("T")

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


def t_pvalue(diffs: np.ndarray, tolerance: float = 0.0) -> float:
    """Two-sided one-sample t-test that i.i.d. ``diffs`` (M >= 2 group means) have mean 0.

    ``tolerance`` is added in quadrature to the standard error: the numerical error of a
    deterministic reference the diffs were taken against.
    """
    m = diffs.size
    mean = float(diffs.mean())
    se = math.hypot(float(diffs.std(ddof=1)) / math.sqrt(m), tolerance)
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * stats.t.sf(abs(mean) / se, m - 1))


def named_check(check: Callable[..., T]) -> Callable[..., T]:
    """Prefix every failure message of ``check`` with the check's name."""

    @functools.wraps(check)
    def wrapper(*args, **kwargs) -> T:
        try:
            return check(*args, **kwargs)
        except AssertionError as e:
            raise AssertionError(f"{check.__name__}: {e}") from None

    return wrapper


def independence_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided test that paired scalars ``a``, ``b`` are independent (Spearman's rank
    correlation ``r``; under independence ``sqrt(n) r`` is asymptotically N(0, 1))."""
    ra = stats.rankdata(a)
    rb = stats.rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return 1.0  # a constant is independent of anything
    r = float(np.corrcoef(ra, rb)[0, 1])
    return z_pvalue(r, 1.0 / np.sqrt(a.size))


_SEED_OFFSET = [0]
_RECORDER: list[list[tuple[str, float]]] = []


@contextmanager
def seed_offset(offset: int) -> Iterator[None]:
    """Run the checks with every seed shifted by ``offset`` (for false-alarm measurements)."""
    previous = _SEED_OFFSET[0]
    _SEED_OFFSET[0] = offset
    try:
        yield
    finally:
        _SEED_OFFSET[0] = previous


@contextmanager
def recording_pvalues() -> Iterator[list[tuple[str, float]]]:
    """Collect ``(test, p)`` for every elementary test run inside, ``p`` scaled to level ALPHA.

    Each entry is one elementary test (a family Bonferroni-corrected inside a check counts once
    with ``p = min_i p_i * m``): the test raises iff ``p < ALPHA``, and a correct implementation
    has ``P(p < a) <= a`` for every ``a``. The slow false-alarm test counts them.
    """
    out: list[tuple[str, float]] = []
    _RECORDER.append(out)
    try:
        yield out
    finally:
        _RECORDER.pop()


def check_pvalue(pvalue: float, level: float, message: str, test: str = "") -> None:
    """Fail with ``message`` if ``pvalue < level`` (a test at level ``level``); record it."""
    if _RECORDER:
        _RECORDER[-1].append((test or message.split(":")[0], pvalue * ALPHA / level))
    assert pvalue >= level, message


def seeded(seed: int) -> torch.Generator:
    """Seed torch's global generator (the distributions use it) and return a private one."""
    seed = (seed + 7919 * _SEED_OFFSET[0]) % 2**63
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)
