"""Generalized Gumbel-Softmax and its construction from a torch distribution (NP)."""

import math

import pytest
import torch
from torch.distributions import Binomial, Geometric, Poisson

from relaxit.distributions import GeneralizedGumbelSoftmax, GeneralizedGumbelSoftmaxNP


def test_rsample_value_is_weighted_sum_and_sample_shape_honoured():
    values = torch.tensor([0.0, 2.0, 7.0])
    d = GeneralizedGumbelSoftmax(values, probs=torch.tensor([[0.2, 0.3, 0.5]] * 4), tau=0.5)
    torch.manual_seed(0)
    w = d.rsample((6, 2))
    torch.manual_seed(0)
    v = d.rsample_value((6, 2))
    assert w.shape == (6, 2, 4, 3) and v.shape == (6, 2, 4)
    torch.testing.assert_close(v, (w * values).sum(-1))


def test_hard_is_one_hot_with_categorical_log_mass():
    probs = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    d = GeneralizedGumbelSoftmax(torch.arange(3.0), probs=probs, hard=True)
    x = d.rsample((1000,))
    assert bool((x.sum(-1) == 1).all()) and bool(((x == 0) | (x == 1)).all())
    torch.testing.assert_close(d.log_prob(torch.eye(3, dtype=torch.float64)), probs.log())


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="values"):
        GeneralizedGumbelSoftmax(torch.arange(4.0), probs=torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError, match="probs"):
        GeneralizedGumbelSoftmax(
            torch.arange(2.0), probs=torch.tensor([0.5, 0.5]), logits=torch.zeros(2)
        )


def test_np_truncation_by_hand_poisson():
    rate, eta = 2.0, 0.9
    masses = [math.exp(-rate) * rate**k / math.factorial(k) for k in range(30)]
    cum, m = 0.0, 0
    while cum < eta:
        cum += masses[m]
        m += 1
    # P(X <= 3) = 0.857, P(X <= 4) = 0.947: the prefix {0, ..., 4}.
    assert m == 5
    d = GeneralizedGumbelSoftmaxNP(
        Poisson(torch.tensor(rate, dtype=torch.float64)), torch.arange(30.0), eta=eta
    )
    assert d.values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    expected = torch.tensor(masses[:m], dtype=torch.float64) / cum
    torch.testing.assert_close(d.probs, expected)


def test_np_without_eta_renormalizes_over_values_and_batches():
    geo = Geometric(probs=torch.tensor([0.3, 0.6], dtype=torch.float64))
    d = GeneralizedGumbelSoftmaxNP(geo, torch.arange(4.0))
    assert d.batch_shape == (2,) and d.event_shape == (4,)
    raw = torch.stack([(1 - p) ** torch.arange(4.0, dtype=torch.float64) * p for p in (0.3, 0.6)])
    torch.testing.assert_close(d.probs, raw / raw.sum(-1, keepdim=True))
    bino = GeneralizedGumbelSoftmaxNP(Binomial(10, torch.tensor(0.3)), torch.arange(11.0), eta=0.99)
    assert bino.rsample_value((3,)).shape == (3,)


def test_np_eta_out_of_range_or_not_reached_raises():
    with pytest.raises(ValueError, match="eta"):
        GeneralizedGumbelSoftmaxNP(Poisson(torch.tensor(2.0)), torch.arange(10.0), eta=1.5)
    with pytest.raises(ValueError, match="eta"):
        GeneralizedGumbelSoftmaxNP(Poisson(torch.tensor(20.0)), torch.arange(5.0), eta=0.9)
