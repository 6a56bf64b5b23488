"""InvertibleGaussian: the softmax++ map, its Jacobian, and the exact KL (Potapczynski et al.)."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from relaxit.distributions import InvertibleGaussian


def softmax_pp(y: torch.Tensor, temperature: float, delta: float) -> torch.Tensor:
    """The paper's softmax++ (written directly), with the residual coordinate appended."""
    e = (y / temperature).exp()
    first = e / (e.sum(-1, keepdim=True) + delta)
    return torch.cat([first, 1 - first.sum(-1, keepdim=True)], -1)


@pytest.mark.parametrize(("temperature", "delta"), [(1.0, 1.0), (0.4, 2.5), (2.0, 0.3)])
def test_log_prob_is_gaussian_density_over_autograd_jacobian(temperature, delta):
    gen = torch.Generator().manual_seed(0)
    k1 = 4
    loc = torch.randn(k1, generator=gen, dtype=torch.float64)
    scale = torch.rand(k1, generator=gen, dtype=torch.float64) + 0.3
    d = InvertibleGaussian(loc, scale, temperature, delta)
    for _ in range(5):
        y = loc + scale * torch.randn(k1, generator=gen, dtype=torch.float64)
        jac = torch.autograd.functional.jacobian(
            lambda v: softmax_pp(v, temperature, delta)[:k1], y
        )
        expected = Normal(loc, scale).log_prob(y).sum() - torch.linalg.slogdet(jac).logabsdet
        torch.testing.assert_close(d.log_prob(softmax_pp(y, temperature, delta)), expected)


def test_rsample_is_softmax_pp_of_the_gaussian_draw():
    loc = torch.tensor([[0.3, -0.2], [1.0, 0.5]], dtype=torch.float64)
    scale = torch.tensor([0.5, 2.0], dtype=torch.float64)
    d = InvertibleGaussian(loc, scale, 0.7, 1.5)
    torch.manual_seed(1)
    x = d.rsample((6,))
    torch.manual_seed(1)
    eps = torch.randn(6, 2, 2, dtype=torch.float64)
    torch.testing.assert_close(x, softmax_pp(loc + scale * eps, 0.7, 1.5))
    torch.testing.assert_close(x.sum(-1), torch.ones(6, 2, dtype=torch.float64))


def test_temperature_gets_a_gradient():
    t = torch.tensor(0.5, requires_grad=True)
    InvertibleGaussian(torch.zeros(3), torch.ones(3), t).rsample((10,))[..., 0].sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad) and t.grad != 0


def test_kl_equals_gaussian_kl_for_equal_temperature_and_delta():
    loc_p, loc_q = torch.tensor([0.2, -1.0, 0.4]), torch.tensor([1.0, 0.0, -0.5])
    s_p, s_q = torch.tensor([0.5, 1.0, 2.0]), torch.tensor([1.0, 0.7, 1.5])
    p = InvertibleGaussian(loc_p, s_p, 0.3, 2.0)
    q = InvertibleGaussian(loc_q, s_q, 0.3, 2.0)
    expected = kl_divergence(Normal(loc_p, s_p), Normal(loc_q, s_q)).sum(-1)
    torch.testing.assert_close(kl_divergence(p, q), expected)
    torch.testing.assert_close(kl_divergence(p, p), torch.zeros(()))


@pytest.mark.parametrize(
    ("tq", "dq"), [(0.5, 1.0), (0.8, 1.0), (0.5, 3.0)], ids=["same", "temperature", "delta"]
)
def test_kl_matches_monte_carlo(tq, dq):
    """E_p[log p - log q] from 200000 samples of p, batched; 5 standard errors (two-sided
    p = 5.7e-7 per element, 2 elements x 3 cases: < 4e-6 false alarms)."""
    torch.manual_seed(7)
    loc_p = torch.tensor([[0.2, -1.0], [0.5, 0.5]], dtype=torch.float64)
    loc_q = torch.tensor([[0.6, -0.4], [0.0, 1.0]], dtype=torch.float64)
    s_p = torch.tensor([0.6, 1.1], dtype=torch.float64)
    s_q = torch.tensor([0.9, 0.8], dtype=torch.float64)
    p = InvertibleGaussian(loc_p, s_p, 0.5, 1.0)
    q = InvertibleGaussian(loc_q, s_q, tq, dq)
    n = 200_000
    x = p.sample((n,))
    ratio = p.log_prob(x) - q.log_prob(x)
    se = ratio.std(0) / math.sqrt(n)
    z = (ratio.mean(0) - kl_divergence(p, q)) / se
    assert bool(z.abs().max() < 5), z


def test_shapes_and_broadcasting():
    d = InvertibleGaussian(torch.zeros(4, 1, 2), torch.ones(2), torch.tensor([0.5, 1.0, 2.0]))
    assert d.batch_shape == (4, 3) and d.event_shape == (3,)
    assert d.rsample((2,)).shape == (2, 4, 3, 3)


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="scale"):
        InvertibleGaussian(torch.zeros(3), torch.ones(2), 1.0)
    with pytest.raises(ValueError, match="K-1"):
        InvertibleGaussian(0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="temperature"):
        InvertibleGaussian(torch.zeros(2, 3), torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match="temperature"):
        InvertibleGaussian(torch.zeros(3), torch.ones(3), -1.0, validate_args=True)


def test_extreme_temperature_float32_is_finite():
    loc = torch.tensor([40.0, -40.0, 0.0], requires_grad=True)
    d = InvertibleGaussian(loc, torch.ones(3), 0.05)
    x = d.rsample((1000,))
    lp = d.log_prob(x.detach())
    assert bool(torch.isfinite(x).all() and torch.isfinite(lp).all())
    (lp.sum() + x[..., 0].sum()).backward()
    assert bool(torch.isfinite(loc.grad).all())
