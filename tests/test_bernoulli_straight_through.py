"""Straight-through Bernoulli variants and the REBAR relaxation: values, surrogate gradients, laws.

Statistical tests use fixed seeds and reject at two-sided p < 1e-6 (a correct implementation
fails each with probability below 1e-6 over seeds; fewer than 50 such tests here).
"""

import math

import pytest
import torch
from scipy import stats
from torch.distributions import RelaxedBernoulli

from relaxit.distributions import (
    RebarRelaxation,
    RelaxedBernoulliStraightThrough,
    StochasticTimesSmooth,
    StraightThroughBernoulli,
)

P_MIN = 1e-6


def _binomial_ok(k: torch.Tensor, n: int, p: torch.Tensor) -> bool:
    return all(
        stats.binomtest(int(ki), n, float(pi)).pvalue > P_MIN
        for ki, pi in zip(k.flatten(), p.flatten(), strict=True)
    )


# ----------------------------------------------------------------- StraightThroughBernoulli


def test_straight_through_forward_is_exact_and_gradient_is_one():
    torch.manual_seed(0)
    p = torch.tensor([0.1, 0.5, 0.93], requires_grad=True)
    b = StraightThroughBernoulli(probs=p).rsample((500,))
    assert ((b == 0) | (b == 1)).all()
    weights = torch.randn(b.shape)
    (b * weights).sum().backward()
    torch.testing.assert_close(p.grad, weights.sum(0))  # d b / d p = 1 per sample


def test_straight_through_gradient_reaches_logits_through_sigmoid():
    torch.manual_seed(1)
    logits = torch.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    StraightThroughBernoulli(logits=logits).rsample((10,)).sum().backward()
    p = torch.sigmoid(logits.detach())
    torch.testing.assert_close(logits.grad, 10 * p * (1 - p))


def test_straight_through_frequency_and_log_prob():
    torch.manual_seed(2)
    p = torch.tensor([0.2, 0.7])
    d = StraightThroughBernoulli(probs=p)
    n = 50_000
    assert _binomial_ok(d.rsample((n,)).sum(0), n, p)
    torch.testing.assert_close(d.log_prob(torch.tensor([1.0, 0.0])), torch.tensor([0.2, 0.3]).log())


# -------------------------------------------------------------------- StochasticTimesSmooth


def test_stochastic_times_smooth_values_law_and_gradient():
    torch.manual_seed(3)
    p = torch.tensor([0.0, 0.09, 0.5, 1.0], requires_grad=True)
    d = StochasticTimesSmooth(probs=p)
    n = 50_000
    out = d.rsample((n,))
    sqrt_p = p.detach().sqrt()
    assert ((out == 0) | (out == sqrt_p)).all()
    assert _binomial_ok((out != 0).sum(0), n, sqrt_p)  # b ~ Bernoulli(sqrt p)
    weights = torch.randn(out.shape)
    (out * weights).sum().backward()
    b = (out != 0).float()
    expected = (b * weights)[:, 1:].sum(0) / (2 * sqrt_p[1:])
    assert p.grad[0] == 0  # p = 0: b is always 0, no NaN from sqrt'(0)
    torch.testing.assert_close(p.grad[1:], expected)


def test_stochastic_times_smooth_log_prob_is_the_two_point_law():
    p = torch.tensor([0.04, 0.25, 0.81], dtype=torch.float64)
    for d in (StochasticTimesSmooth(probs=p), StochasticTimesSmooth(logits=p.logit())):
        at_zero = d.log_prob(torch.zeros(3, dtype=torch.float64)).exp()
        at_root = d.log_prob(p.sqrt()).exp()
        torch.testing.assert_close(at_zero, 1 - p.sqrt())
        torch.testing.assert_close(at_root, p.sqrt())
    torch.testing.assert_close(StochasticTimesSmooth(probs=p).mean, p)


def test_stochastic_times_smooth_log_prob_at_p_0_and_1():
    p = torch.tensor([0.0, 1.0], requires_grad=True)
    d = StochasticTimesSmooth(probs=p)
    lp = d.log_prob(torch.tensor([[0.0, 1.0], [0.0, 0.0]]))
    torch.testing.assert_close(lp, torch.tensor([[0.0, 0.0], [0.0, -math.inf]]))
    d.log_prob(torch.tensor([0.0, 1.0])).sum().backward()
    # d/dp log sqrt(p) = 1/(2p) = 1/2 at p = 1; p = 0 sits on the clamp (gradient 0, not NaN)
    torch.testing.assert_close(p.grad, torch.tensor([0.0, 0.5]))


def test_stochastic_times_smooth_logits_50_is_finite():
    logits = torch.tensor([-50.0, 50.0], requires_grad=True)
    d = StochasticTimesSmooth(logits=logits)
    x = d.rsample((100,))
    lp = d.log_prob(x)
    assert torch.isfinite(x).all() and torch.isfinite(lp).all()
    (lp.sum() + x.sum()).backward()
    assert torch.isfinite(logits.grad).all()


def test_stochastic_times_smooth_rejects_values_off_its_support():
    d = StochasticTimesSmooth(probs=torch.tensor([0.25, 0.25]), validate_args=True)
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.tensor([0.5, 0.3]))
    lp = StochasticTimesSmooth(probs=torch.tensor(0.25), validate_args=False).log_prob(
        torch.tensor(0.3)
    )
    assert lp == -math.inf


# ---------------------------------------------------------- RelaxedBernoulliStraightThrough


def test_relaxed_straight_through_backward_is_the_concrete_gradient():
    torch.manual_seed(4)
    logits = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    temperature = torch.tensor([[0.3], [1.0]], requires_grad=True)
    d = RelaxedBernoulliStraightThrough(temperature, logits=logits)
    assert d.batch_shape == (2, 3)  # temperature broadcasts with logits
    x = d.rsample((200,))
    assert ((x == 0) | (x == 1)).all()
    soft = x._unquantize.detach()
    assert ((soft > 0.5) == (x == 1)).all()
    x.sum().backward()
    # z = sigmoid((logits + L)/tau): dz/dlogits = z(1-z)/tau; dz/dtau = -z(1-z) logit(z)/tau
    tau = temperature.detach()
    dz = soft * (1 - soft)
    torch.testing.assert_close(logits.grad, (dz / tau).sum((0, 1)), rtol=1e-4, atol=1e-4)
    expected_tau = (-dz * soft.logit() / tau).sum((0, 2)).unsqueeze(-1)
    torch.testing.assert_close(temperature.grad, expected_tau, rtol=1e-4, atol=1e-4)


def test_relaxed_straight_through_log_prob_is_torchs_concrete_density():
    torch.manual_seed(5)
    logits = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    d = RelaxedBernoulliStraightThrough(torch.tensor(0.6, dtype=torch.float64), logits=logits)
    x = d.rsample((100,))
    reference = RelaxedBernoulli(torch.tensor(0.6, dtype=torch.float64), logits=logits)
    torch.testing.assert_close(d.log_prob(x), reference.log_prob(x._unquantize))


def test_relaxed_straight_through_hard_frequency():
    torch.manual_seed(6)
    probs = torch.tensor([0.15, 0.6])
    d = RelaxedBernoulliStraightThrough(torch.tensor([0.1, 2.0]), probs=probs)
    n = 50_000
    assert _binomial_ok(d.sample((n,)).sum(0), n, probs)


# ----------------------------------------------------------------------------- REBAR


@pytest.mark.parametrize("lambd", [0.1, 0.5, 2.0])
def test_rebar_log_prob_is_binary_concrete_and_threshold_is_bernoulli(lambd):
    torch.manual_seed(7)
    theta = torch.tensor([0.1, 0.45, 0.8], dtype=torch.float64)
    d = RebarRelaxation(theta, lambd)
    n = 50_000
    z = d.sample((n,))
    # H(z - 1/2) ~ Bernoulli(theta) for every temperature
    assert _binomial_ok((z > 0.5).sum(0), n, theta)
    # Same law as Binary Concrete(logit theta, lambda): logit scaled by 1/lambda in both.
    reference = RelaxedBernoulli(torch.tensor(lambd, dtype=torch.float64), probs=theta)
    torch.testing.assert_close(d.log_prob(z[:100]), reference.log_prob(z[:100]))
    # and the samples follow it, with CDF P(z <= c) = sigmoid(lambda logit(c) - logit(theta)).
    # Samples above the largest float below 1 are stored as that float (at lambda = 0.1 about 2%
    # of them): a binomial test of that atom, and a KS test of the rest against the CDF
    # conditioned on staying below it.
    top = torch.tensor(1 - torch.finfo(torch.float64).eps, dtype=torch.float64)
    for k in range(3):
        logit_theta = theta[k].logit()
        below_top = float(torch.sigmoid(lambd * top.logit() - logit_theta))
        at_top = z[:, k] == top
        assert stats.binomtest(int(at_top.sum()), n, 1 - below_top).pvalue > P_MIN

        def cdf(c, logit_theta=logit_theta, below_top=below_top):
            c = torch.as_tensor(c)
            return (torch.sigmoid(lambd * c.logit() - logit_theta) / below_top).numpy()

        assert stats.kstest(z[~at_top, k].numpy(), cdf).pvalue > P_MIN


def test_rebar_theta_from_logits_50_is_finite():
    torch.manual_seed(8)
    for dtype in (torch.float32, torch.float64):
        theta = torch.sigmoid(torch.tensor([-50.0, 50.0], dtype=dtype)).requires_grad_()
        lambd = torch.tensor(0.05, dtype=dtype, requires_grad=True)
        d = RebarRelaxation(theta, lambd)
        z = d.rsample((256,))
        lp = d.log_prob(z)
        assert torch.isfinite(z).all() and torch.isfinite(lp).all()
        (lp.sum() + z.sum()).backward()
        assert torch.isfinite(theta.grad).all() and torch.isfinite(lambd.grad)
