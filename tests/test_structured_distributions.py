"""KSubset and PlackettLuce against brute-force enumeration (subsets of 6, permutations of 5)."""

import itertools
import math

import pytest
import torch

from relaxit.distributions import GumbelSoftmaxTopK, KSubset, PlackettLuce
from relaxit.distributions.subsets import log_marginals
from relaxit.testing import Example, check_normalization, check_sample_law

LOGITS6 = torch.tensor([0.5, -1.0, 0.0, 1.5, -0.3, 0.8], dtype=torch.float64)
LOGITS5 = torch.tensor([1.0, -0.5, 0.3, 0.0, -1.2], dtype=torch.float64)


def _subsets(n, k):
    return list(itertools.combinations(range(n), k))


def _k_hot(n, subset):
    v = torch.zeros(n, dtype=torch.float64)
    v[list(subset)] = 1.0
    return v


def _brute_subset_probs(logits, k):
    """p(S) for every k-subset by direct enumeration: exp(sum) / sum over all subsets."""
    w = [math.exp(sum(float(logits[i]) for i in s)) for s in _subsets(len(logits), k)]
    z = sum(w)
    return [x / z for x in w]


def _brute_marginals(logits, k):
    """Inclusion probabilities from the enumerated subset law (torch ops, differentiable)."""
    n = logits.shape[-1]
    values = torch.stack([_k_hot(n, s) for s in _subsets(n, k)])
    probs = torch.softmax(values @ logits, 0)
    return probs @ values


def _brute_ranking_prob(logits, perm):
    """Plackett-Luce, one position at a time with a Python loop."""
    w = [math.exp(float(x)) for x in logits]
    prob, left = 1.0, sum(w)
    for i in perm:
        prob *= w[i] / left
        left -= w[i]
    return prob


# ------------------------------------------------------------------------------------ KSubset


@pytest.mark.parametrize("k", range(1, 7))
def test_ksubset_log_prob_and_marginals_match_enumeration(k):
    d = KSubset(LOGITS6, k)
    values = torch.stack([_k_hot(6, s) for s in _subsets(6, k)])
    expected = torch.tensor(_brute_subset_probs(LOGITS6, k), dtype=torch.float64)
    torch.testing.assert_close(d.log_prob(values).exp(), expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(d.marginals, _brute_marginals(LOGITS6, k), rtol=1e-10, atol=1e-12)
    assert d.marginals.sum().item() == pytest.approx(k)


def test_ksubset_sample_frequencies_match_enumeration():
    from scipy import stats

    torch.manual_seed(0)
    d = KSubset(LOGITS6, 3)
    n_draws = 40_000
    x = d.sample((n_draws,))
    assert x.shape == (n_draws, 6) and bool((x.sum(-1) == 3).all())
    subsets = _subsets(6, 3)
    index = {s: j for j, s in enumerate(subsets)}
    ids = [index[tuple(row.nonzero().flatten().tolist())] for row in x]
    counts = torch.bincount(torch.tensor(ids), minlength=len(subsets)).numpy()
    expected = n_draws * torch.tensor(_brute_subset_probs(LOGITS6, 3), dtype=torch.float64).numpy()
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def _simple_gradient_check(cls):
    """rsample's backward is J_mu^T w with mu the enumerated marginals (SIMPLE)."""
    torch.manual_seed(1)
    logits = LOGITS6.clone().requires_grad_(True)
    w = torch.randn(5, 6, dtype=torch.float64)
    z = cls(logits, 2).rsample((5,))
    assert bool(((z == 0) | (z == 1)).all()) and bool((z.sum(-1) == 2).all())
    (grad,) = torch.autograd.grad((z * w).sum(), logits)
    ref = LOGITS6.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad((_brute_marginals(ref, 2) * w.sum(0)).sum(), ref)
    torch.testing.assert_close(grad, expected, rtol=1e-10, atol=1e-12)


def test_simple_gradient_is_that_of_the_exact_marginals():
    _simple_gradient_check(KSubset)


def test_ksubset_marginals_gradcheck_and_extremes():
    x = torch.tensor([[0.5, -1.0, 0.0, 1.5, 2.0], [3.0, 0.0, -2.0, 0.1, 0.2]], dtype=torch.float64)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: log_marginals(t, 3), (x,))
    for dtype in (torch.float32, torch.float64):
        big = torch.tensor([50.0, -50.0, 0.0, 50.0, 49.9, -49.0], dtype=dtype, requires_grad=True)
        d = KSubset(big, 3)
        z = d.rsample((64,))
        loss = d.log_prob(z.detach()).sum() + (z * torch.randn_like(z)).sum()
        loss.backward()
        assert bool(torch.isfinite(d.marginals).all()) and bool(torch.isfinite(big.grad).all())
        assert d.marginals.sum().item() == pytest.approx(3, rel=1e-4)


def test_ksubset_k_validation():
    with pytest.raises(ValueError, match="`k`"):
        KSubset(torch.zeros(4), 5)
    with pytest.raises(ValueError, match="`k`"):
        KSubset(torch.zeros(4), 0)
    with pytest.raises(ValueError, match="`k`"):
        KSubset(torch.zeros(4), 2.0)
    with pytest.raises(ValueError, match="`k`"):
        KSubset(torch.zeros(4), True)
    assert KSubset(torch.zeros(4), torch.tensor(2)).k == 2
    with pytest.raises(ValueError, match="logits"):
        KSubset(torch.tensor(1.0), 1)


class KSubsetNormalizerOffByOne(KSubset):
    """Uses e_{k-1} instead of e_k as the normalizer."""

    def log_prob(self, value):
        from relaxit.distributions.subsets import log_partition

        return (value * self.logits).sum(-1) - log_partition(self.logits, self.k - 1)


class KSubsetGumbelTopK(KSubset):
    """Samples the Gumbel top-k (sampling without replacement): a different law on sets."""

    def sample(self, sample_shape=torch.Size()):
        logp = self.logits.log_softmax(-1)
        return GumbelSoftmaxTopK(logits=logp, K=self.k).sample(sample_shape)


class KSubsetSoftmaxMarginals(KSubset):
    """Approximates the marginals by k * softmax (not the exact inclusion probabilities)."""

    @property
    def marginals(self):
        return self.k * self.logits.softmax(-1)


def _ksubset_example(cls):
    return Example(f"planted/{cls.__name__}", cls, {"logits": LOGITS6.float(), "k": 3}, "discrete")


def test_planted_bugs_are_caught():
    with pytest.raises(AssertionError, match="normalization"):
        check_normalization(_ksubset_example(KSubsetNormalizerOffByOne))
    with pytest.raises(AssertionError, match="chi-square"):
        check_sample_law(_ksubset_example(KSubsetGumbelTopK))
    with pytest.raises(AssertionError, match="not close"):
        _simple_gradient_check(KSubsetSoftmaxMarginals)


# ------------------------------------------------------------------------------- PlackettLuce


def test_plackett_luce_log_prob_matches_enumeration():
    d = PlackettLuce(LOGITS5)
    perms = list(itertools.permutations(range(5)))
    expected = torch.tensor([_brute_ranking_prob(LOGITS5, p) for p in perms], dtype=torch.float64)
    got = d.log_prob(torch.tensor(perms)).exp()
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-14)
    assert got.sum().item() == pytest.approx(1.0, abs=1e-12)


def test_plackett_luce_support_and_validation():
    d = PlackettLuce(LOGITS5, validate_args=True)
    assert bool(d.support.check(torch.tensor([4, 2, 0, 1, 3])))
    assert not bool(d.support.check(torch.tensor([4, 2, 2, 1, 3])))
    assert not bool(d.support.check(torch.tensor([0, 1, 2, 3])))
    with pytest.raises(ValueError, match="support"):
        d.log_prob(torch.tensor([0, 1, 2, 3, 3]))
    x = d.sample((7, 2))
    assert x.dtype == torch.long and x.shape == (7, 2, 5)
    assert bool(d.support.check(x).all())


class PlackettLuceAscending(PlackettLuce):
    """Sorts the perturbed scores worst first: the ranking reversed."""

    def sample(self, sample_shape=torch.Size()):
        return super().sample(sample_shape).flip(-1)


class PlackettLuceNoRenormalization(PlackettLuce):
    """Divides every position by the full sum instead of the mass still unranked."""

    def log_prob(self, value):
        ranked = self.logits.expand(value.shape).gather(-1, value.long())
        return (ranked - self.logits.logsumexp(-1, keepdim=True)).sum(-1)


def _pl_example(cls):
    return Example(f"planted/{cls.__name__}", cls, {"logits": LOGITS5.float()}, "discrete")


def test_plackett_luce_planted_bugs_are_caught():
    check_sample_law(_pl_example(PlackettLuce))
    with pytest.raises(AssertionError, match="chi-square"):
        check_sample_law(_pl_example(PlackettLuceAscending))
    with pytest.raises(AssertionError, match="normalization"):
        check_normalization(_pl_example(PlackettLuceNoRenormalization))
