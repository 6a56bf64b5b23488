"""Variance orderings at equal numbers of f evaluations, and variance tuning of REBAR/RELAX.

Problem: the toy of Tucker et al. 2017 (also Grathwohl et al. 2018, fig. 1), f(b) = (b - t)^2 with
t = 0.45 and 0.499, at logit 0, and its 200-dimensional version f(b) = mean_d (b_d - t)^2.
Variance = sum over parameters of the variance of the gradient over independent runs (fixed
seeds). Only orderings with large margins are asserted: the measured ratios sit well under the
asserted bounds (the largest, DisARM/ARM in 200 dims, is 0.748-0.751 over seeds 0-2 against a
bound of 0.8; LOO/REINFORCE at D = 1, t = 0.45 is 0.078 = 0.000625 / 0.00801 as derived by hand,
bound 0.2; the others are below 0.6, most below 0.01), while the noise of each variance estimate
is a few percent. The benchmark (``relaxit bench estimators``) reports the numbers.

Equal f evaluations: REINFORCE and RELAX spend one per sample, ARM and DisARM two, REBAR three.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli

from relaxit.estimators import ARM, REBAR, REINFORCE, RELAX, DisARM, gradient_samples

DTYPE = torch.float64
TOYS = [(1, 0.45), (1, 0.499), (200, 0.45), (200, 0.499)]


def make_dist(x: torch.Tensor) -> Bernoulli:
    return Bernoulli(logits=x)


def toy(t: float):
    return lambda b: (b - t).pow(2).mean(-1)


def variance(est, dim: int, t: float, n_samples: int, seed: int = 0) -> float:
    torch.manual_seed(seed)
    n_runs = 20_000 if dim == 1 else 2_000
    logits = torch.zeros(dim, dtype=DTYPE)
    grads = gradient_samples(est, toy(t), make_dist, logits, n_samples, n_runs)
    return grads.var(0).sum().item()


class MLPControl(nn.Module):
    def __init__(self, dim: int, hidden: int = 16):
        super().__init__()
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, 1)).to(DTYPE)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(-1)


def tune(est, dim: int, t: float, steps: int, lr: float = 1e-2, items: int = 64) -> None:
    """Grathwohl et al. 2018: descend the variance surrogate w.r.t. the estimator's parameters
    (``items`` copies of the problem per step, for a less noisy surrogate)."""
    torch.manual_seed(2)
    opt = torch.optim.Adam(est.parameters(), lr=lr)
    logits = torch.zeros(items, dim, dtype=DTYPE, requires_grad=True)
    for _ in range(steps):
        _, var = est.loss_and_variance(toy(t), make_dist(logits), 1)
        opt.zero_grad()
        var.backward(inputs=list(est.parameters()))
        opt.step()


@pytest.mark.parametrize(("dim", "t"), TOYS)
def test_disarm_not_above_arm(dim, t):
    assert variance(DisARM(), dim, t, 1) <= 0.8 * variance(ARM(), dim, t, 1)


@pytest.mark.parametrize(("dim", "t"), TOYS)
def test_leave_one_out_baseline_below_plain_reinforce(dim, t):
    assert variance(REINFORCE("loo"), dim, t, 2) < 0.2 * variance(REINFORCE(), dim, t, 2)


@pytest.mark.parametrize("t", [0.45, 0.499])
def test_rebar_below_reinforce_in_200_dims(t):
    """Default REBAR (lambda 0.5, eta 1), one sample = 3 evaluations, vs REINFORCE with 3.

    (On the one-dimensional toy at logit 0 REBAR does not beat REINFORCE per evaluation for any
    eta, lambda: the relaxed f at sigma(z / lambda) is a poor baseline for f(0), f(1) unless
    lambda is small, and then the reparameterised terms are noisy.)"""
    assert variance(REBAR(), 200, t, 1) < 0.75 * variance(REINFORCE(), 200, t, 3)


@pytest.mark.parametrize(("dim", "t"), TOYS)
def test_tuned_relax_below_reinforce(dim, t):
    """RELAX with a small MLP control tuned for 300 steps, vs REINFORCE, one f evaluation each."""
    est = RELAX(MLPControl(dim))
    tune(est, dim, t, steps=300)
    assert variance(est, dim, t, 1) < 0.1 * variance(REINFORCE(), dim, t, 1)


def test_tuning_lowers_relax_variance():
    est = RELAX(MLPControl(200))
    before = variance(est, 200, 0.45, 1)
    tune(est, 200, 0.45, steps=200)
    assert variance(est, 200, 0.45, 1) < 0.5 * before


def test_tuning_lowers_rebar_variance():
    """From a poor start (eta 0.2, lambda 1) tuning eta and log-temperature lowers the variance."""
    est = REBAR(temperature=1.0, eta=0.2)
    before = variance(est, 200, 0.45, 1)
    tune(est, 200, 0.45, steps=200, lr=5e-2)
    assert variance(est, 200, 0.45, 1) < 0.5 * before
    assert est.eta.item() != pytest.approx(0.2)
