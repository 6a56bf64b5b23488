"""Regression tests for bugs found by running Pyro's and relaxit 1.2.1's test suites (issue 12)."""

import math

import pyro
import pyro.distributions as pdist
import pytest
import torch
from pyro.infer import SVI, TraceEnum_ELBO, config_enumerate
from pyro.optim import Adam

from relaxit.distributions import (
    CorrelatedRelaxedBernoulli,
    DecoupledStraightThroughGumbelSoftmax,
    GeneralizedGumbelSoftmax,
    GumbelSoftmaxTopK,
    OneHotCategorical,
    RebarRelaxation,
    RelaxedBernoulliStraightThrough,
)
from relaxit.distributions._binary_concrete import clamp_open_unit

# ------------------------------------------------------------- enumeration in TraceEnum_ELBO

_PROBS = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
_MEANS = torch.tensor([-2.0, 0.0, 3.0], dtype=torch.float64)
_X = torch.tensor(1.0, dtype=torch.float64)


def _exact_negative_log_evidence() -> float:
    """-log sum_k p_k N(x; mu_k, 1): what an exactly enumerated ELBO with no guide equals."""
    log_joint = _PROBS.log() + pdist.Normal(_MEANS, 1.0).log_prob(_X)
    return -float(log_joint.logsumexp(0))


_ENUMERABLE = {
    "DecoupledSTGumbelSoftmax": lambda: DecoupledStraightThroughGumbelSoftmax(
        1.0, 0.5, probs=_PROBS
    ),
    "GeneralizedGumbelSoftmax(hard=True)": lambda: GeneralizedGumbelSoftmax(
        _MEANS, probs=_PROBS, tau=0.5, hard=True
    ),
}


@pytest.mark.parametrize("make", _ENUMERABLE.values(), ids=_ENUMERABLE.keys())
def test_trace_enum_elbo_enumerates_exactly(make):
    """With ``has_enumerate_support`` True, ``config_enumerate`` sums the K values out: the loss
    is the exact -log p(x) on every run. (Reported as False, Pyro sampled them: 2.0-2.5.)"""
    assert make().has_enumerate_support

    @config_enumerate
    def model():
        z = pyro.sample("z", make())
        pyro.sample("x", pdist.Normal((z * _MEANS).sum(-1), 1.0), obs=_X)

    def guide():
        pass

    pyro.clear_param_store()
    elbo = TraceEnum_ELBO(max_plate_nesting=0)
    losses = [elbo.loss(model, guide) for _ in range(5)]
    for loss in losses:
        assert loss == pytest.approx(_exact_negative_log_evidence(), abs=1e-10)
    svi = SVI(model, guide, Adam({"lr": 0.01}), elbo)
    assert svi.step() == pytest.approx(_exact_negative_log_evidence(), abs=1e-10)


def test_relaxed_generalized_gumbel_softmax_is_not_enumerated():
    d = GeneralizedGumbelSoftmax(_MEANS, probs=_PROBS, tau=0.5, hard=False)
    assert not d.has_enumerate_support
    assert d.expand((2,)).has_enumerate_support is False
    assert GeneralizedGumbelSoftmax(_MEANS, probs=_PROBS, hard=True).expand((2,)).hard


# ---------------------------------------------------------------- log_prob at exactly 0 and 1

_BOUNDARY_CLASSES = {
    "RelaxedBernoulliStraightThrough": lambda tau: RelaxedBernoulliStraightThrough(
        tau, logits=torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    ),
    "RebarRelaxation": lambda tau: RebarRelaxation(
        torch.tensor([0.6, 0.2], dtype=torch.float64, requires_grad=True), tau
    ),
}


@pytest.mark.parametrize("tau", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("make", _BOUNDARY_CLASSES.values(), ids=_BOUNDARY_CLASSES.keys())
def test_log_prob_at_exactly_zero_and_one_is_finite_and_follows_the_limit(make, tau):
    d = make(torch.tensor(tau, dtype=torch.float64))
    edges = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    lp = d.log_prob(edges)
    assert bool(torch.isfinite(lp).all()), lp
    leaf = d.logits if "logits" in d.__dict__ else d.theta
    (grad,) = torch.autograd.grad(lp.sum(), leaf, retain_graph=True)
    assert bool(torch.isfinite(grad).all()), grad
    # The value is the density at the nearest point the sampler returns.
    torch.testing.assert_close(lp, d.log_prob(clamp_open_unit(edges)))
    # ... so it follows the limit: the density near 0 and 1 grows like z^(tau - 1).
    near = torch.tensor([[1e-12, 1e-12], [1 - 1e-12, 1 - 1e-12]], dtype=torch.float64)
    if tau < 1:
        assert bool((lp > d.log_prob(near)).all())
    elif tau > 1:
        assert bool((lp < d.log_prob(near)).all())
    else:  # tau = 1: a finite, nonzero limit
        torch.testing.assert_close(lp, d.log_prob(near), atol=1e-6, rtol=0)


def test_straight_through_log_prob_of_detached_hard_sample_is_finite():
    """``log_prob(x.detach())`` drops ``_unquantize`` and sees the hard 0/1 values."""
    d = RelaxedBernoulliStraightThrough(0.5, logits=torch.tensor([-50.0, 0.0, 50.0]))
    x = d.rsample((100,))
    assert bool(((x == 0) | (x == 1)).all())
    assert bool(torch.isfinite(d.log_prob(x.detach())).all())


def test_correlated_log_prob_at_exactly_zero_and_one_is_finite():
    pi = torch.tensor([0.3, 0.6], dtype=torch.float64, requires_grad=True)
    tau = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    r = torch.tensor([[1.0, 0.7], [0.7, 1.0]], dtype=torch.float64)
    d = CorrelatedRelaxedBernoulli(pi, r, tau, validate_args=True)
    values = torch.tensor(
        [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.4]], dtype=torch.float64
    )
    lp = d.log_prob(values)
    assert bool(torch.isfinite(lp).all()), lp
    torch.testing.assert_close(lp, d.log_prob(clamp_open_unit(values)))
    lp.sum().backward()
    assert bool(torch.isfinite(pi.grad).all()) and bool(torch.isfinite(tau.grad).all())


# ---------------------------------------------------------------- Decoupled mean / variance


def test_decoupled_mean_and_variance_are_the_one_hot_moments():
    logits = torch.tensor([[0.5, -1.0, 0.2], [2.0, 0.0, -2.0]], dtype=torch.float64)
    d = DecoupledStraightThroughGumbelSoftmax(0.7, 0.3, logits=logits)
    ref = OneHotCategorical(logits=logits)
    torch.testing.assert_close(d.mean, ref.mean)
    torch.testing.assert_close(d.variance, ref.variance)
    # Independently of the formula: the hard samples' moments, within 5 standard errors.
    torch.manual_seed(0)
    n = 40_000
    x = d.sample((n,))
    se = (d.variance / n).sqrt()
    assert bool(((x.mean(0) - d.mean).abs() < 5 * se + 1e-12).all())
    assert bool(((x.var(0) - d.variance).abs() < 5 * (d.variance / n).sqrt() + 1e-3).all())
    assert d.mean.shape == d.batch_shape + d.event_shape


# ---------------------------------------------------------------------- top-k K as a tensor


def test_topk_accepts_an_integer_zero_dim_tensor_k():
    logits = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    d = GumbelSoftmaxTopK(logits=logits, K=torch.tensor(5))
    assert d.K == 5 and isinstance(d.K, int)
    x = d.sample((3,))
    assert bool((x.sum(-1) == 5).all())
    ref = GumbelSoftmaxTopK(logits=logits, K=5)
    torch.testing.assert_close(d.log_prob(x), ref.log_prob(x))


@pytest.mark.parametrize(
    "k", [torch.tensor(2.0), torch.tensor(True), torch.tensor([2]), torch.tensor(0)]
)
def test_topk_refuses_non_integer_k_tensors(k):
    with pytest.raises(ValueError, match="K"):
        GumbelSoftmaxTopK(logits=torch.zeros(4), K=k)


def test_boundary_helpers_are_consistent():
    """`clamp_open_unit` maps 0 and 1 to the interior points the sampler can return."""
    z = clamp_open_unit(torch.tensor([0.0, 1.0]))
    assert float(z[0]) == torch.finfo(torch.float32).tiny
    assert float(z[1]) == 1 - torch.finfo(torch.float32).eps
    assert math.isfinite(float(z.logit()[0]))
