"""GumbelSoftmaxTopK: exact set probabilities, sample frequencies, relaxed k-hot invariants."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from relaxit.distributions import GumbelSoftmaxTopK
from relaxit.distributions.topk import MAX_EXACT_K


def _k_hot(n, idx, dtype=torch.float64):
    v = torch.zeros(n, dtype=dtype)
    v[list(idx)] = 1.0
    return v


def _brute_force_set_prob(p, subset):
    """Plackett-Luce: sum over the K! orders of drawing ``subset`` without replacement."""
    total = 0.0
    for order in itertools.permutations(subset):
        prob, left = 1.0, 1.0
        for i in order:
            prob *= p[i] / left
            left -= p[i]
        total += prob
    return total


P = [0.05, 0.1, 0.15, 0.2, 0.22, 0.28]


def test_log_prob_matches_permutation_sum_and_normalizes():
    p = torch.tensor(P, dtype=torch.float64)
    d = GumbelSoftmaxTopK(probs=p, K=3)
    sets = list(itertools.combinations(range(6), 3))
    values = torch.stack([_k_hot(6, s) for s in sets])
    probs = d.log_prob(values).exp()
    expected = torch.tensor([_brute_force_set_prob(P, s) for s in sets], dtype=torch.float64)
    torch.testing.assert_close(probs, expected, rtol=1e-10, atol=0)
    assert abs(probs.sum().item() - 1.0) < 1e-12


def test_log_prob_logits_equal_probs_and_k10_normalizes_over_a_small_n():
    logits = torch.randn(11, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    d = GumbelSoftmaxTopK(logits=logits, K=10)
    values = torch.stack([_k_hot(11, s) for s in itertools.combinations(range(11), 10)])
    assert abs(d.log_prob(values).exp().sum().item() - 1.0) < 1e-10
    d2 = GumbelSoftmaxTopK(probs=logits.softmax(-1), K=10)
    torch.testing.assert_close(d.log_prob(values), d2.log_prob(values))


def test_set_frequencies_chi_square_and_inclusion_probabilities():
    torch.manual_seed(0)
    p = torch.tensor(P, dtype=torch.float64)
    d = GumbelSoftmaxTopK(probs=p, K=2)
    n = 40_000
    x = d.sample((n,))
    assert bool((x.sum(-1) == 2).all())
    sets = list(itertools.combinations(range(6), 2))
    values = torch.stack([_k_hot(6, s) for s in sets])
    mass = d.log_prob(values).exp().numpy()
    idx = (x.unsqueeze(1) == values).all(-1).double().argmax(1).numpy()
    counts = np.bincount(idx, minlength=len(sets))
    # One test at p >= 1e-4: a correct sampler fails it 1 time in 10 000.
    assert stats.chisquare(counts, mass * n).pvalue > 1e-4
    # Inclusion probability of category i: sum of the masses of the sets that contain it.
    incl = (values * torch.tensor(mass).unsqueeze(-1)).sum(0).numpy()
    freq = x.mean(0).numpy()
    se = np.sqrt(incl * (1 - incl) / n)
    # 4.9 standard errors: two-sided p = 1e-6 per category, 6 categories.
    assert np.all(np.abs(freq - incl) < 4.9 * se), (freq, incl)


def test_hard_forward_is_top_k_of_perturbed_logits_with_relaxed_backward():
    logits = torch.randn(4, 7, dtype=torch.float64, requires_grad=True)
    d = GumbelSoftmaxTopK(logits=logits, K=3, tau=0.5)
    torch.manual_seed(1)
    x = d.rsample((5,))
    torch.manual_seed(1)
    soft = GumbelSoftmaxTopK(logits=logits, K=3, tau=0.5, hard=False).rsample((5,))
    assert x.shape == (5, 4, 7)
    assert bool(((x == 0) | (x == 1)).all()) and bool((x.sum(-1) == 3).all())
    # The hard set is the top-k of the perturbed scores, recomputed from the same draw.
    torch.manual_seed(1)
    from relaxit.distributions._gumbel import gumbel_like

    scores = logits.log_softmax(-1) + gumbel_like(logits, torch.Size((5, 4, 7)))
    top = scores.topk(3, -1).indices
    assert bool((x.gather(-1, top) == 1).all())
    w = torch.randn(5, 4, 7, dtype=torch.float64)
    (g_hard,) = torch.autograd.grad((x * w).sum(), logits)
    (g_soft,) = torch.autograd.grad((soft * w).sum(), logits)
    torch.testing.assert_close(g_hard, g_soft)


@pytest.mark.parametrize("tau", [0.05, 0.5, 5.0, 50.0])
def test_relaxed_k_hot_entries_in_unit_interval_and_sum_to_k(tau):
    torch.manual_seed(2)
    logits = torch.tensor([3.0, 2.0, 0.0, -1.0, -5.0])
    for k in range(1, 6):
        y = GumbelSoftmaxTopK(logits=logits, K=k, tau=tau, hard=False).rsample((2000,))
        assert bool(torch.isfinite(y).all())
        assert y.min() >= 0 and y.max() <= 1 + 1e-6
        torch.testing.assert_close(y.sum(-1), torch.full((2000,), float(k)), atol=1e-5, rtol=0)


def test_relaxed_k_hot_concentrates_on_the_hard_set_at_low_temperature():
    torch.manual_seed(3)
    logits = torch.randn(200, 8, dtype=torch.float64)
    d = GumbelSoftmaxTopK(logits=logits, K=3, tau=1e-3, hard=False)
    y = d.rsample()
    hard = torch.zeros_like(y).scatter_(-1, y.topk(3, -1).indices, 1.0)
    # A row stays soft only if its K-th and (K+1)-th perturbed scores are within ~tau*log(1e3)
    # (= 0.007) of each other: probability well under 1% per row for these logits.
    close = ((y - hard).abs().amax(-1) < 1e-3).double().mean()
    assert close > 0.95, close


def test_too_large_k_and_bad_k_raise():
    d = GumbelSoftmaxTopK(logits=torch.zeros(20), K=MAX_EXACT_K + 1)
    assert d.rsample().sum() == MAX_EXACT_K + 1  # sampling still works
    with pytest.raises(ValueError, match="K <= 12"):
        d.log_prob(d.sample())
    for bad in (0, 21, 2.5):
        with pytest.raises(ValueError, match="K"):
            GumbelSoftmaxTopK(logits=torch.zeros(20), K=bad)


def test_uniform_set_probability():
    d = GumbelSoftmaxTopK(logits=torch.zeros(8, dtype=torch.float64), K=4)
    assert abs(d.log_prob(_k_hot(8, (0, 2, 5, 7))).item() + math.log(math.comb(8, 4))) < 1e-12
