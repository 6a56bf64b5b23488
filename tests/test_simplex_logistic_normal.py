"""LogisticNormalSoftmax: its shift-integrated density, checked by two independent routes."""

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from relaxit.distributions import LogisticNormalSoftmax


def _params(k: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    loc = torch.randn(k, generator=gen, dtype=torch.float64)
    scale = torch.rand(k, generator=gen, dtype=torch.float64) + 0.3
    return loc, scale


@pytest.mark.parametrize("k", [2, 3, 6])
def test_log_prob_equals_the_log_ratio_gaussian_density(k):
    """r = log x_{<K} - log x_K ~ N(loc_{<K} - loc_K, diag(s_{<K}^2) + s_K^2 11^T), and the map
    x_{1:K-1} -> r has |det| = 1 / prod_k x_k."""
    loc, scale = _params(k, k)
    d = LogisticNormalSoftmax(loc, scale)
    x = d.sample((50,))
    cov = torch.diag(scale[:-1].square()) + scale[-1].square()
    r_law = MultivariateNormal(loc[:-1] - loc[-1], cov)
    r = x[..., :-1].log() - x[..., -1:].log()
    torch.testing.assert_close(d.log_prob(x), r_law.log_prob(r) - x.log().sum(-1))


def test_log_prob_equals_quadrature_over_the_shift():
    """K = 3: p_r(r) = int N(t + r_1) N(t + r_2) N(t) dt over the last logit t, by the
    trapezoid rule on a fine grid (error far below the tolerance)."""
    loc, scale = _params(3, 11)
    d = LogisticNormalSoftmax(loc, scale)
    x = d.sample((20,))
    r = x[:, :2].log() - x[:, 2:].log()  # (20, 2)
    t = torch.linspace(-15, 15, 60001, dtype=torch.float64).unsqueeze(-1)  # (T, 1)
    normals = [Normal(loc[i], scale[i]) for i in range(3)]
    integrand = (
        normals[0].log_prob(t + r[:, 0]) + normals[1].log_prob(t + r[:, 1]) + normals[2].log_prob(t)
    ).exp()  # (T, 20)
    p_r = torch.trapezoid(integrand, t.squeeze(-1), dim=0)
    torch.testing.assert_close(d.log_prob(x), p_r.log() - x.log().sum(-1))


def test_rsample_is_softmax_of_the_gaussian_draw():
    loc, scale = _params(4, 3)
    d = LogisticNormalSoftmax(loc, scale)
    torch.manual_seed(5)
    x = d.rsample((7,))
    torch.manual_seed(5)
    expected = torch.softmax(loc + scale * torch.randn(7, 4, dtype=torch.float64), -1)
    torch.testing.assert_close(x, expected)


def test_log_prob_is_invariant_to_a_common_shift_of_loc():
    loc, scale = _params(4, 8)
    d = LogisticNormalSoftmax(loc, scale)
    x = d.sample((10,))
    torch.testing.assert_close(d.log_prob(x), LogisticNormalSoftmax(loc + 3.0, scale).log_prob(x))


def test_density_integrates_to_one_for_k2_on_a_fine_grid():
    """K = 2: integrate exp(log_prob) over x_1 in (0, 1) with the substitution x_1 = sigmoid(u)."""
    loc, scale = (
        torch.tensor([0.7, -0.2], dtype=torch.float64),
        torch.tensor([0.5, 1.5], dtype=torch.float64),
    )
    u = torch.linspace(-20, 20, 40001, dtype=torch.float64)
    x1 = torch.sigmoid(u)
    x = torch.stack([x1, 1 - x1], -1)
    dens = LogisticNormalSoftmax(loc, scale).log_prob(x).exp() * x1 * (1 - x1)
    assert abs(float(torch.trapezoid(dens, u)) - 1) < 1e-8


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="K >= 2"):
        LogisticNormalSoftmax(torch.zeros(1), torch.ones(1))
    with pytest.raises(ValueError, match="scale"):
        LogisticNormalSoftmax(torch.zeros(3), torch.ones(2))
    with pytest.raises(ValueError, match="scale"):
        LogisticNormalSoftmax(torch.zeros(3), -torch.ones(3), validate_args=True)
