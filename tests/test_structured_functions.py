"""relaxit.structured against exact references: enumeration, closed forms, brute-force matching.

Monte-Carlo quantities are compared with z-tests on independent replicates (|z| <= Z_MAX per
coordinate, a false alarm well below 1e-3 per test with the fixed seeds used); every check has a
planted-bug twin that it rejects.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

import relaxit.structured.perturbation as perturbation
from relaxit.distributions import GumbelSoftmaxTopK, PlackettLuce
from relaxit.structured import (
    argmax_one_hot,
    fenchel_young_loss,
    gumbel_sinkhorn,
    imle,
    neural_sort,
    perturbed,
    stochastic_neural_sort,
    sum_of_gamma_noise,
    top_k_k_hot,
)
from relaxit.structured.sorting import log_sinkhorn

Z_MAX = 4.5
THETA = torch.tensor([0.8, -0.4, 0.1, 1.2, -1.0, 0.3], dtype=torch.float64)
G = torch.tensor([1.0, -2.0, 0.5, 0.3, -0.7, 1.5], dtype=torch.float64)


def _z_check(samples, expected, what):
    """samples: (R, ...) independent replicates of an unbiased estimate of ``expected``."""
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(samples.shape[0])
    z = (mean - expected) / se.clamp_min(1e-12)
    assert bool((z.abs() <= Z_MAX).all()), f"{what}: mean {mean}, expected {expected}, z {z}"


def _replicated_vjp(fn, theta, g, reps):
    """Forward values and VJPs of ``fn`` on ``reps`` independent copies of ``theta``."""
    leaf = theta.expand(reps, -1).clone().requires_grad_(True)
    y = fn(leaf)
    (y * g).sum().backward()
    return y.detach(), leaf.grad


# ---------------------------------------------------------------------------------- perturbed


def _check_perturbed_argmax_is_softmax():
    torch.manual_seed(0)
    theta = THETA[:4]
    y, grad = _replicated_vjp(perturbed(argmax_one_hot, n_samples=200), theta, G[:4], 300)
    ref = theta.clone().requires_grad_(True)
    (expected_grad,) = torch.autograd.grad((ref.softmax(-1) * G[:4]).sum(), ref)
    _z_check(y, theta.softmax(-1), "perturbed argmax mean")
    _z_check(grad, expected_grad, "perturbed argmax Jacobian")


def test_perturbed_argmax_with_gumbel_noise_is_softmax():
    _check_perturbed_argmax_is_softmax()


def test_perturbed_top_k_matches_enumeration():
    """Gumbel top-k inclusion probabilities (sampling without replacement), enumerated."""
    torch.manual_seed(1)
    n, k = 6, 3
    y, grad = _replicated_vjp(perturbed(top_k_k_hot(k), n_samples=200), THETA, G, 300)
    ref = THETA.clone().requires_grad_(True)
    sets = torch.stack(
        [
            torch.zeros(n, dtype=torch.float64).index_fill(0, torch.tensor(c), 1.0)
            for c in itertools.combinations(range(n), k)
        ]
    )
    marginals = GumbelSoftmaxTopK(logits=ref, K=k).log_prob(sets).exp().unsqueeze(-1) * sets
    marginals = marginals.sum(0)
    (expected_grad,) = torch.autograd.grad((marginals * G).sum(), ref)
    _z_check(y, marginals.detach(), "perturbed top-k mean")
    _z_check(grad, expected_grad, "perturbed top-k Jacobian")


def test_perturbed_normal_noise_two_items_closed_form():
    """argmax of theta + sigma Z, Z ~ N(0, I), picks item 0 with Phi((t0 - t1) / (sigma sqrt 2))."""
    torch.manual_seed(2)
    sigma = 0.7
    theta = torch.tensor([0.3, -0.2], dtype=torch.float64)
    g = torch.tensor([1.0, -0.5], dtype=torch.float64)
    fn = perturbed(argmax_one_hot, sigma=sigma, n_samples=200, noise="normal")
    y, grad = _replicated_vjp(fn, theta, g, 300)
    ref = theta.clone().requires_grad_(True)
    p0 = torch.special.ndtr((ref[0] - ref[1]) / (sigma * math.sqrt(2)))
    expected = torch.stack([p0, 1 - p0])
    (expected_grad,) = torch.autograd.grad((expected * g).sum(), ref)
    _z_check(y, expected.detach(), "perturbed normal mean")
    _z_check(grad, expected_grad, "perturbed normal Jacobian")


def test_perturbed_planted_wrong_noise_score_is_caught(monkeypatch):
    """Using the normal score z for Gumbel noise biases the Jacobian."""
    monkeypatch.setattr(perturbation, "_noise_score", lambda noise, z: z)
    with pytest.raises(AssertionError, match="Jacobian"):
        _check_perturbed_argmax_is_softmax()


def test_fenchel_young_loss_value_and_gradient():
    """argmax + Gumbel: F(theta) = logsumexp(theta) + Euler's gamma, gradient softmax - y."""
    torch.manual_seed(3)
    theta, y_true = THETA[:4], torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)
    leaf = theta.expand(300, -1).clone().requires_grad_(True)
    loss = fenchel_young_loss(argmax_one_hot, leaf, y_true.expand(300, -1), n_samples=200)
    loss.sum().backward()
    expected = theta.logsumexp(-1) + np.euler_gamma - (theta * y_true).sum()
    _z_check(loss.detach(), expected, "Fenchel-Young value")
    _z_check(leaf.grad, theta.softmax(-1) - y_true, "Fenchel-Young gradient")
    with pytest.raises(ValueError, match="target"):
        fenchel_young_loss(argmax_one_hot, theta, y_true[:3])


def test_perturbed_validation():
    with pytest.raises(ValueError, match="sigma"):
        perturbed(argmax_one_hot, sigma=0.0)
    with pytest.raises(ValueError, match="noise"):
        perturbed(argmax_one_hot, noise="cauchy")
    with pytest.raises(ValueError, match="n_samples"):
        perturbed(argmax_one_hot, n_samples=0)
    with pytest.raises(ValueError, match="solver"):
        perturbed(lambda t: t.argmax(-1))(THETA)


# --------------------------------------------------------------------------------------- imle


def _check_imle_argmax(imle_fn):
    """E[grad] = softmax(theta) - softmax(theta - lambda g) for Gumbel perturb-and-MAP."""
    torch.manual_seed(4)
    lam, theta, g = 0.5, THETA[:4], G[:4]
    fn = imle_fn(argmax_one_hot, noise="gumbel", n_samples=100, lambda_=lam)
    y, grad = _replicated_vjp(fn, theta, g, 300)
    _z_check(y, theta.softmax(-1), "imle forward mean")
    _z_check(grad, theta.softmax(-1) - (theta - lam * g).softmax(-1), "imle gradient")


def test_imle_gradient_is_the_target_distribution_difference():
    _check_imle_argmax(imle)


def test_imle_planted_sign_flip_is_caught():
    def flipped(solver, **kwargs):
        lam = kwargs["lambda_"]
        return imle(solver, target=lambda theta, grad: theta + lam * grad, **kwargs)

    with pytest.raises(AssertionError, match="imle gradient"):
        _check_imle_argmax(flipped)


def _sum_of_k_copies_pvalue(noise_fn, k):
    torch.manual_seed(5)
    eps = noise_fn((10_000, k), k).double().sum(-1)
    return stats.kstest(eps.numpy(), stats.gumbel_r.cdf).pvalue


def test_sum_of_gamma_noise_sums_to_gumbel():
    """k copies of SoG(k, s) sum to sum_i Exp(i) - log s, a Gumbel as s grows (s = 200)."""
    assert _sum_of_k_copies_pvalue(lambda s, k: sum_of_gamma_noise(s, k, 200), 5) > 1e-3


def test_sum_of_gamma_planted_wrong_rate_is_caught():
    def wrong_rate(shape, k):  # Gamma(1/k, rate k/i) instead of rate i/k
        gamma = torch.distributions.Gamma(torch.full(shape, 1.0 / k), torch.ones(shape))
        total = sum(gamma.sample() * (i / k) for i in range(1, 201))
        return (total - math.log(200)) / k

    assert _sum_of_k_copies_pvalue(wrong_rate, 5) < 1e-6


def test_imle_top_k_shapes_and_noise_free_forward():
    theta = torch.randn(3, 7, requires_grad=True)
    z = imle(top_k_k_hot(2), noise="none", n_samples=2)(theta)
    torch.testing.assert_close(z, top_k_k_hot(2)(theta.detach()))
    z = imle(top_k_k_hot(2), k=2, n_samples=4)(theta)
    assert z.shape == (3, 7) and torch.allclose(z.sum(-1), torch.full((3,), 2.0))
    (z * torch.randn(3, 7)).sum().backward()
    assert theta.grad.shape == (3, 7) and bool(torch.isfinite(theta.grad).all())
    with pytest.raises(ValueError, match="`k`"):
        imle(top_k_k_hot(2))
    with pytest.raises(ValueError, match="lambda_"):
        imle(argmax_one_hot, noise="gumbel", lambda_=-1.0)


# ----------------------------------------------------------------------------- gumbel_sinkhorn


def _best_permutation(scores):
    n = scores.shape[-1]
    best = max(
        itertools.permutations(range(n)), key=lambda p: sum(scores[i, p[i]] for i in range(n))
    )
    return torch.eye(n, dtype=scores.dtype)[list(best)]


def _check_doubly_stochastic(sinkhorn_fn):
    torch.manual_seed(6)
    p = sinkhorn_fn(torch.randn(3, 5, 5, dtype=torch.float64), 1.0, 200)
    ones = torch.ones(3, 5, dtype=torch.float64)
    torch.testing.assert_close(p.sum(-1), ones, atol=1e-8, rtol=0)
    torch.testing.assert_close(p.sum(-2), ones, atol=1e-8, rtol=0)


def test_sinkhorn_is_doubly_stochastic():
    _check_doubly_stochastic(lambda x, tau, it: gumbel_sinkhorn(x, tau, it))


def test_sinkhorn_planted_rows_only_is_caught():
    def rows_only(x, tau, it):
        return (x / tau).softmax(-1)

    with pytest.raises(AssertionError):
        _check_doubly_stochastic(rows_only)


def test_sinkhorn_converges_to_the_matching_as_tau_goes_to_zero():
    torch.manual_seed(7)
    scores = torch.randn(5, 5, dtype=torch.float64)
    best = _best_permutation(scores)
    errors = [
        (gumbel_sinkhorn(scores, tau=tau, n_iters=1000, noise=False) - best).abs().max().item()
        for tau in (1.0, 0.1, 0.02)
    ]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2, errors
    hard = gumbel_sinkhorn(scores, tau=1.0, noise=False, hard=True)
    torch.testing.assert_close(hard.detach(), _best_permutation(scores))


def test_sinkhorn_hard_is_a_permutation_with_the_soft_gradient():
    torch.manual_seed(8)
    x = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 4, 4, dtype=torch.float64)
    torch.manual_seed(9)
    hard = gumbel_sinkhorn(x, tau=0.5, hard=True, sample_shape=(2,))
    assert bool(((hard == 0) | (hard == 1)).all())
    assert bool((hard.sum(-1) == 1).all() and (hard.sum(-2) == 1).all())
    (g_hard,) = torch.autograd.grad((hard * w).sum(), x)
    torch.manual_seed(9)
    soft = gumbel_sinkhorn(x, tau=0.5, sample_shape=(2,))
    (g_soft,) = torch.autograd.grad((soft * w).sum(), x)
    torch.testing.assert_close(g_hard, g_soft)
    assert torch.autograd.gradcheck(lambda t: log_sinkhorn(t, 5), (x,))


def test_sinkhorn_validation():
    with pytest.raises(ValueError, match="log_alpha"):
        gumbel_sinkhorn(torch.randn(3, 4))
    with pytest.raises(ValueError, match="tau"):
        gumbel_sinkhorn(torch.randn(3, 3), tau=0.0)
    with pytest.raises(ValueError, match="n_iters"):
        gumbel_sinkhorn(torch.randn(3, 3), n_iters=0)


# -------------------------------------------------------------------------------- neural_sort


def _check_sorts(sort_fn):
    torch.manual_seed(10)
    s = torch.randn(4, 6, dtype=torch.float64)
    p = sort_fn(s, 1e-3)
    torch.testing.assert_close(p.sum(-1), torch.ones(4, 6, dtype=torch.float64))
    expected = s.sort(-1, descending=True).values
    torch.testing.assert_close(p @ s.unsqueeze(-1), expected.unsqueeze(-1), atol=1e-6, rtol=0)


def test_neural_sort_converges_to_the_sort_as_tau_goes_to_zero():
    _check_sorts(lambda s, tau: neural_sort(s, tau))


def test_neural_sort_planted_sign_flip_is_caught():
    def ascending_by_mistake(s, tau):  # (2i - n - 1) instead of (n + 1 - 2i)
        return neural_sort(-s, tau)

    with pytest.raises(AssertionError):
        _check_sorts(ascending_by_mistake)


def test_neural_sort_hard_and_ascending():
    s = torch.tensor([[0.3, 2.0, -1.0, 0.5]], dtype=torch.float64, requires_grad=True)
    hard = neural_sort(s, tau=1.0, hard=True)
    torch.testing.assert_close(
        hard.detach() @ s.detach().unsqueeze(-1),
        s.detach().sort(-1, descending=True).values.unsqueeze(-1),
    )
    asc = neural_sort(s, tau=1e-3, descending=False)
    torch.testing.assert_close(
        asc @ s.detach().unsqueeze(-1), s.detach().sort(-1).values.unsqueeze(-1), atol=1e-6, rtol=0
    )
    w = torch.randn(1, 4, 4, dtype=torch.float64)
    (g_hard,) = torch.autograd.grad((hard * w).sum(), s)
    (g_soft,) = torch.autograd.grad((neural_sort(s, tau=1.0) * w).sum(), s)
    torch.testing.assert_close(g_hard, g_soft)
    assert torch.autograd.gradcheck(lambda t: neural_sort(t, 0.5), (s,))
    with pytest.raises(ValueError, match="tau"):
        neural_sort(s, tau=-1.0)


def test_stochastic_neural_sort_hard_samples_follow_plackett_luce():
    torch.manual_seed(11)
    logits = torch.tensor([1.0, -0.5, 0.3, 0.0], dtype=torch.float64)
    n_draws = 20_000
    p = stochastic_neural_sort(logits, tau=1.0, hard=True, sample_shape=(n_draws,))
    ranking = p.argmax(-1)  # item at each rank
    perms = list(itertools.permutations(range(4)))
    index = {q: j for j, q in enumerate(perms)}
    counts = np.bincount([index[tuple(r)] for r in ranking.tolist()], minlength=len(perms))
    expected = PlackettLuce(logits).log_prob(torch.tensor(perms)).exp().numpy() * n_draws
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_dtype_and_device_follow_the_inputs():
    """Nothing is created on the default device or in float32 behind the caller's back."""
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    sq = torch.randn(2, 4, 4, dtype=torch.float64, requires_grad=True)
    with torch.device("meta"):  # a tensor made without the inputs' device lands on "meta"
        outs = [
            gumbel_sinkhorn(sq, 0.5),
            gumbel_sinkhorn(sq, 0.5, hard=True),
            neural_sort(x, 0.5, hard=True),
            stochastic_neural_sort(x, 0.5, sample_shape=(2,)),
            perturbed(top_k_k_hot(2), n_samples=3)(x),
            perturbed(argmax_one_hot, n_samples=3, noise="normal")(x),
            fenchel_young_loss(argmax_one_hot, x, argmax_one_hot(x.detach())),
            imle(top_k_k_hot(2), k=2)(x),
            imle(argmax_one_hot, noise="gumbel")(x),
        ]
        sum(out.sum() for out in outs).backward()
    for out in outs:
        assert out.device.type == "cpu" and out.dtype == torch.float64
    assert x.grad.device.type == "cpu" and sq.grad.dtype == torch.float64
