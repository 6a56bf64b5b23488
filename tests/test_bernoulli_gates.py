"""GaussianRelaxedBernoulli and HardConcrete: atoms, closed forms, the L0 penalty, extremes.

Statistical tests use fixed seeds and reject at two-sided p < 1e-6 (a correct implementation
fails each with probability below 1e-6 over seeds; fewer than 20 such tests here).
"""

import math

import pytest
import torch
from scipy import stats

from relaxit.distributions import GaussianRelaxedBernoulli, HardConcrete

P_MIN = 1e-6  # two-sided false-alarm probability of each statistical test


def _z_pvalue(diff: torch.Tensor, se: torch.Tensor) -> float:
    return float(2 * stats.norm.sf((diff.abs() / se).max().item()))


# ------------------------------------------------------------------ GaussianRelaxedBernoulli


@pytest.mark.parametrize("loc", [[0.5, 0.1, -0.3, 1.4, 4.0, -7.0]])
def test_gaussian_gate_atom_masses_match_scipy(loc):
    loc = torch.tensor(loc, dtype=torch.float64)
    d = GaussianRelaxedBernoulli(loc, 0.8)
    expected_0 = stats.norm.logcdf(-loc.numpy() / 0.8)
    expected_1 = stats.norm.logcdf((loc.numpy() - 1) / 0.8)
    torch.testing.assert_close(d.log_prob(torch.tensor(0.0)), torch.tensor(expected_0))
    torch.testing.assert_close(d.log_prob(torch.tensor(1.0)), torch.tensor(expected_1))
    inside = torch.tensor(0.37, dtype=torch.float64)
    expected = stats.norm.logpdf(0.37, loc.numpy(), 0.8)
    torch.testing.assert_close(d.log_prob(inside), torch.tensor(expected))


def test_gaussian_gate_prob_nonzero_is_one_minus_atom_at_zero():
    loc = torch.tensor([-2.0, 0.0, 0.3, 3.0], dtype=torch.float64)
    d = GaussianRelaxedBernoulli(loc, 0.5)
    torch.testing.assert_close(
        d.prob_nonzero(), torch.from_numpy(stats.norm.cdf(loc.numpy() / 0.5))
    )
    torch.testing.assert_close(d.prob_nonzero(), 1 - d.log_prob(torch.tensor(0.0)).exp())


def test_gaussian_gate_far_outside_stays_finite():
    loc = torch.tensor([-60.0, 60.0], requires_grad=True)
    d = GaussianRelaxedBernoulli(loc, torch.tensor(0.05))
    lp = d.log_prob(torch.tensor([[0.0], [1.0], [0.5]]))
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert torch.isfinite(loc.grad).all()


def test_gaussian_gate_mean_variance_match_monte_carlo():
    torch.manual_seed(0)
    loc = torch.tensor([0.5, 0.1, -0.4, 1.3, 0.9], dtype=torch.float64)
    scale = torch.tensor([0.5, 0.3, 0.6, 1.0, 2.0], dtype=torch.float64)
    d = GaussianRelaxedBernoulli(loc, scale)
    n = 400_000
    z = d.sample((n,))
    mean_se = z.std(0) / math.sqrt(n)
    assert _z_pvalue(z.mean(0) - d.mean, mean_se) > P_MIN
    sq = (z - d.mean) ** 2
    assert _z_pvalue(sq.mean(0) - d.variance, sq.std(0) / math.sqrt(n)) > P_MIN


def test_gaussian_gate_rsample_gradient_is_the_pathwise_one():
    torch.manual_seed(1)
    loc = torch.tensor([0.5, -0.2], requires_grad=True)
    scale = torch.tensor([0.5, 0.5], requires_grad=True)
    z = GaussianRelaxedBernoulli(loc, scale).rsample((1000,))
    z.sum().backward()
    inside = ((z > 0) & (z < 1)).float()
    torch.testing.assert_close(loc.grad, inside.sum(0))
    eps = (z.detach() - loc.detach()) / scale.detach()
    torch.testing.assert_close(scale.grad, (inside * eps).sum(0), rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------------------- HardConcrete


def _hard_concrete_cdf(c, alpha, beta, xi, gamma):
    """P(z <= c) for 0 < c < 1, from the sampler: z <= c iff L <= beta*logit(s_c) - log alpha."""
    s = (c - gamma) / (xi - gamma)
    return torch.sigmoid(beta * torch.logit(s) - math.log(alpha))


@pytest.mark.parametrize(
    ("alpha", "beta", "xi", "gamma"), [(0.3, 2 / 3, 1.1, -0.1), (4.0, 1.5, 1.5, -0.5)]
)
def test_hard_concrete_density_is_derivative_of_sampler_cdf(alpha, beta, xi, gamma):
    d = HardConcrete(*(torch.tensor(v, dtype=torch.float64) for v in (alpha, beta, xi, gamma)))
    c = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)
    h = 1e-6
    numeric = (
        _hard_concrete_cdf(c + h, alpha, beta, xi, gamma)
        - _hard_concrete_cdf(c - h, alpha, beta, xi, gamma)
    ) / (2 * h)
    torch.testing.assert_close(d.log_prob(c).exp(), numeric, rtol=1e-6, atol=1e-8)
    zero = torch.tensor(0.0, dtype=torch.float64)
    torch.testing.assert_close(
        d.log_prob(zero).exp(), _hard_concrete_cdf(zero, alpha, beta, xi, gamma)
    )
    one = torch.tensor(1.0, dtype=torch.float64)
    torch.testing.assert_close(
        d.log_prob(one).exp(), 1 - _hard_concrete_cdf(one, alpha, beta, xi, gamma)
    )


def test_prob_nonzero_matches_paper_formula_and_monte_carlo():
    torch.manual_seed(2)
    alpha = torch.tensor([0.05, 0.5, 1.0, 8.0], dtype=torch.float64)
    d = HardConcrete(alpha, 2 / 3, 1.1, -0.1)
    # Louizos et al. (2018), eq. 12
    expected = torch.sigmoid(alpha.log() - 2 / 3 * math.log(0.1 / 1.1))
    torch.testing.assert_close(d.prob_nonzero(), expected)
    torch.testing.assert_close(d.prob_nonzero(), 1 - d.log_prob(torch.tensor(0.0)).exp())
    n = 100_000
    freq = (d.sample((n,)) != 0).double().mean(0)
    se = (expected * (1 - expected) / n).sqrt()
    assert _z_pvalue(freq - expected, se) > P_MIN


def test_prob_nonzero_is_differentiable():
    params = tuple(
        torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for v in ([0.4, 3.0], 0.7, 1.2, -0.2)
    )
    assert torch.autograd.gradcheck(lambda *p: HardConcrete(*p).prob_nonzero(), params)


def test_deterministic_gate_is_eq_13():
    alpha = torch.tensor([1e-3, 1.0, 2.0, 1e3])
    gate = HardConcrete(alpha, 2 / 3, 1.1, -0.1).deterministic_gate()
    expected = (torch.sigmoid(alpha.log()) * 1.2 - 0.1).clamp(0, 1)
    torch.testing.assert_close(gate, expected)
    assert gate[0] == 0 and gate[-1] == 1


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_hard_concrete_log_alpha_50_is_finite(dtype):
    """alpha = e^{+-50} (logits +-50) with temperature 0.05: samples, log_prob, grads finite."""
    torch.manual_seed(3)
    alpha = torch.tensor([math.exp(-50), math.exp(50)], dtype=dtype, requires_grad=True)
    beta = torch.tensor(0.05, dtype=dtype, requires_grad=True)
    d = HardConcrete(alpha, beta, 1.1, -0.1)
    z = d.rsample((256,))
    assert torch.isfinite(z).all()
    assert (z[:, 0] == 0).all() and (z[:, 1] == 1).all()
    values = torch.tensor([[0.0], [0.5], [1.0]], dtype=dtype)
    lp = d.log_prob(values)
    assert torch.isfinite(lp).all()
    (lp.sum() + z.sum() + d.prob_nonzero().sum()).backward()
    assert torch.isfinite(alpha.grad).all() and torch.isfinite(beta.grad)


def test_hard_concrete_rejects_bad_stretch():
    with pytest.raises(ValueError, match="xi"):
        HardConcrete(1.0, 0.5, torch.tensor(0.5), -0.1, validate_args=True)
    with pytest.raises(ValueError, match="gamma"):
        HardConcrete(1.0, 0.5, 1.1, torch.tensor(0.2), validate_args=True)
