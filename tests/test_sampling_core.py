"""The sampling core shared by distributions and estimators: each family object's discrete
samples follow its probabilities, its maps invert each other, and both packages use it."""

from __future__ import annotations

import pytest
import torch
from scipy import stats

from relaxit import _sampling
from relaxit._sampling import BERNOULLI_FAMILY, CATEGORICAL_FAMILY, CategoricalFamily, Family
from relaxit.distributions import _binary_concrete, _categorical

N = 40_000
ALPHA = 1e-4  # per chi-square test; 4 tests here


def frequencies_fit(family: Family, phi: torch.Tensor) -> float:
    """Chi-square p-value of ``hard(phi + noise)`` against ``probs(phi)`` (per variable)."""
    torch.manual_seed(0)
    b = family.sample(N, phi)
    p = family.probs(phi)
    if family.name == "bernoulli":
        observed = torch.stack([N - b.sum(0), b.sum(0)], -1)
        expected = N * torch.stack([1 - p, p], -1)
    else:
        observed, expected = b.sum(0), N * p
    return float(stats.chisquare(observed.flatten().numpy(), expected.flatten().numpy()).pvalue)


@pytest.mark.parametrize(
    ("family", "phi"),
    [
        (BERNOULLI_FAMILY, torch.tensor([-1.5, 0.0, 0.7, 2.0], dtype=torch.float64)),
        (CATEGORICAL_FAMILY, torch.tensor([0.3, -1.0, 1.2, 0.0, -0.4], dtype=torch.float64)),
    ],
)
def test_discrete_samples_follow_the_probabilities(family, phi):
    assert frequencies_fit(family, phi) > ALPHA


def test_a_wrong_noise_is_caught():
    """Planted bug: the categorical family with logistic instead of Gumbel noise."""

    class LogisticCategorical(CategoricalFamily):
        def noise(self, n, phi):
            return _sampling.logistic_noise((n, *phi.shape), phi)

    phi = torch.tensor([0.3, -1.0, 1.2, 0.0, -0.4], dtype=torch.float64)
    assert frequencies_fit(LogisticCategorical(), phi) < ALPHA


@pytest.mark.parametrize("family", [BERNOULLI_FAMILY, CATEGORICAL_FAMILY])
def test_maps(family):
    phi = torch.randn(3, 4, dtype=torch.float64)
    p = family.probs(phi)
    assert torch.allclose(family.probs(family.logits(p)), p)
    z = phi + family.noise(5, phi)
    assert z.shape == (5, 3, 4) and torch.isfinite(z).all()
    hard = family.hard(z)
    relaxed = family.relax(z, 1e-9)
    assert torch.allclose(relaxed, hard, atol=1e-6)  # the relaxed map tends to H as T -> 0
    index = torch.randint(0, family.n_values(phi.shape[-1:]), (2, 3))
    assert family.encode(index, family.n_values(phi.shape[-1:])).shape[:2] == (2, 3)


def test_distributions_and_estimators_share_the_core():
    assert _binary_concrete.logistic_noise is _sampling.logistic_noise
    assert _categorical.one_hot_argmax is _sampling.one_hot_argmax
    from relaxit.distributions import _gumbel
    from relaxit.estimators._protocol import FAMILIES

    assert FAMILIES is _sampling.FAMILIES
    torch.manual_seed(3)
    a = _gumbel.gumbel_like(torch.zeros(4), torch.Size([2, 4]))
    torch.manual_seed(3)
    assert torch.equal(a, _sampling.gumbel_noise((2, 4), torch.zeros(4)))
