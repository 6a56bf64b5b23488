"""DisARM-IW (Dong, Mnih & Tucker 2020; ``local-disarm`` in their code) against the exact
gradient of the expected multi-sample bound.

The reference is the one of ``test_estimators_vimco.py``: ``Exact()`` over every ``n``-tuple of
samples, the objective of one tuple being ``log mean_k exp f(b_k)``. DisARM-IW's ``n_samples``
is the number of antithetic pairs, which is the size of the bound.

False alarms: every z-test uses ``Z = 5`` (``5.7e-7`` each); ``test_number_of_z_tests`` counts
them and bounds the file's false-alarm probability below ``1e-3``. Planted bugs (a global
instead of a local learning signal, an average instead of the sum over the pairs) are rejected
by the same tests.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import pytest
import torch
from bound_problems import DTYPE, PROBLEMS, z_test_bound
from test_estimators_vimco import N_RUNS, many, pathwise_z_scores, z_scores

import relaxit.estimators.disarm_iw as DISARM_IW
from relaxit.estimators import VIMCO, DisARMIW, gradient_samples
from relaxit.estimators.disarm_iw import _swap_one_bound

Z = 5.0
BERNOULLI = [p for p in PROBLEMS if p.family == "bernoulli"]
SETTINGS = [(False, 2), (True, 2), (False, 4), (True, 3)]


@contextmanager
def patched(module, name: str, value):
    """``module.name = value`` inside the block (the planted variants swap one helper)."""
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def test_number_of_z_tests():
    per_problem = sum(math.prod(p.shape) for p in BERNOULLI)
    count = len(SETTINGS) * per_problem + 2 * per_problem  # sharper logits, n = 2 and many
    count += 2 * (4 + 3)  # the pathwise test, both settings: theta (4) and the logits (3)
    assert count == 68
    assert z_test_bound(count, Z) < 1e-3


@pytest.mark.parametrize("problem", BERNOULLI, ids=lambda p: p.name)
def test_disarm_iw_matches_the_exact_gradient_of_the_bound(problem):
    torch.manual_seed(11 + sum(map(ord, problem.name)))
    for symmetrized, n in SETTINGS:
        z = z_scores(DisARMIW(symmetrized=symmetrized), problem, n, problem.logits())
        assert torch.isfinite(z).all()
        assert z.abs().max() <= Z, f"symmetrized={symmetrized}, n={n}: {z.flatten().tolist()}"


@pytest.mark.parametrize("problem", BERNOULLI, ids=lambda p: p.name)
def test_disarm_iw_with_two_and_many_pairs_and_sharper_logits(problem):
    torch.manual_seed(13 + sum(map(ord, problem.name)))
    for n in (2, many(problem)):
        z = z_scores(DisARMIW(), problem, n, problem.logits(scale=2.0))
        assert z.abs().max() <= Z, f"n={n}: {z.flatten().tolist()}"


class GlobalSignalDisARMIW(DisARMIW):
    """Not a bug but the variant the paper improves on: every pair gets the global signal
    ``L(b) - L(b~)`` instead of its local one. Still unbiased (the other pairs are independent
    of pair k and b, b~ have the same law), with more variance."""

    def _loss(self, f, problem, n_samples):
        def global_bound(log_w, log_w_swap):
            return (torch.logsumexp(log_w_swap, 0) - math.log(log_w.shape[0])).expand_as(log_w)

        with patched(DISARM_IW, "_swap_one_bound", global_bound):
            return super()._loss(f, problem, n_samples)


class MisalignedPairsDisARMIW(DisARMIW):
    """Planted bug: sample k is paired with the partner of sample k + 1 (an off-by-one in a
    reshape), so the pair is independent rather than antithetic: biased."""

    def _loss(self, f, problem, n_samples):
        pair = DISARM_IW._antithetic_pair

        def misaligned(f, problem, n):
            u, b, b_anti, f_b, f_anti, value, m = pair(f, problem, n)
            return u, b, b_anti.roll(1, 0), f_b, f_anti.roll(1, 0), value, m

        with patched(DISARM_IW, "_antithetic_pair", misaligned):
            return super()._loss(f, problem, n_samples)


class AveragingDisARMIW(DisARMIW):
    """Planted bug: the pairs' terms averaged instead of summed (the gradient of the bound is
    a sum over its samples)."""

    def _loss(self, f, problem, n_samples):
        loss = super()._loss(f, problem, n_samples)
        return loss.detach() + (loss - loss.detach()) / n_samples  # same value, gradient / n


@pytest.mark.parametrize("bug", [MisalignedPairsDisARMIW, AveragingDisARMIW])
def test_planted_bugs_are_rejected(bug):
    torch.manual_seed(3)
    problem = BERNOULLI[0]
    z = z_scores(bug(), problem, 4, problem.logits())
    assert z.abs().max() > Z, z.tolist()


def test_swapped_bounds_against_a_loop():
    """``_swap_one_bound``: entry k is the bound with w_k replaced by its partner's weight."""
    torch.manual_seed(0)
    log_w, log_w_swap = torch.randn(5, 3, dtype=DTYPE), torch.randn(5, 3, dtype=DTYPE)
    for k in range(5):
        swapped = log_w.clone()
        swapped[k] = log_w_swap[k]
        expected = torch.logsumexp(swapped, 0) - math.log(5)
        torch.testing.assert_close(_swap_one_bound(log_w, log_w_swap)[k], expected)


@pytest.mark.parametrize("symmetrized", [False, True])
def test_pathwise_gradient_inside_f_and_f_reading_the_logits(symmetrized):
    """A decoder parameter inside ``f`` and an ``f`` that subtracts ``log q(b)`` of the same
    logits: both total gradients match the enumeration (the check of the VIMCO tests)."""
    torch.manual_seed(5)
    z = pathwise_z_scores(DisARMIW(symmetrized=symmetrized))
    assert z.abs().max() <= Z, z.tolist()


def test_variance_below_vimco_and_the_global_signal():
    """Both VIMCO and DisARM-IW estimate the gradient of the same n-sample bound; DisARM-IW's
    antithetic partners (n more evaluations) leave it well below VIMCO's variance here, and its
    local learning signal below the global one's (the paper's reason for it)."""
    torch.manual_seed(9)
    for problem in BERNOULLI:
        args = (problem.f, problem.make_dist, problem.logits(), 4, N_RUNS)
        local = gradient_samples(DisARMIW(), *args).var(0).sum().item()
        vimco = gradient_samples(VIMCO(), *args).var(0).sum().item()
        global_ = gradient_samples(GlobalSignalDisARMIW(), *args).var(0).sum().item()
        assert local < 0.8 * vimco, (problem.name, local, vimco)
        assert local < 0.8 * global_, (problem.name, local, global_)


def test_loss_value_is_the_bound_and_errors():
    logits = torch.zeros(2, 3, requires_grad=True)
    dist = torch.distributions.Bernoulli(logits=logits)
    seen = {}

    def f(b):
        seen["b"] = b
        return -(b - 0.3).pow(2).sum(-1)

    loss = DisARMIW()(f, dist, 4)
    assert seen["b"].shape == (8, 2, 3)  # the 4 samples, then their 4 antithetic partners
    log_w = f(seen["b"])
    torch.testing.assert_close(loss, torch.logsumexp(log_w[:4], 0) - math.log(4))
    symmetric = DisARMIW(symmetrized=True)(f, dist, 4)
    log_w = f(seen["b"])
    bounds = torch.logsumexp(log_w.reshape(2, 4, 2), 1) - math.log(4)
    torch.testing.assert_close(symmetric, bounds.mean(0))
    assert DisARMIW.objective == "log-mean-exp" and DisARMIW.min_samples == 2
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        DisARMIW()(f, dist, 1)
    with pytest.raises(ValueError, match="symmetrized"):
        DisARMIW(symmetrized="yes")
    with pytest.raises(TypeError, match="Bernoulli"):
        DisARMIW()(f, torch.distributions.OneHotCategorical(logits=logits), 2)


@pytest.mark.parametrize("symmetrized", [False, True])
def test_extreme_logits_stay_finite(symmetrized):
    logits = torch.tensor([[-50.0, 50.0, 0.0]], requires_grad=True)
    dist = torch.distributions.Bernoulli(logits=logits)
    loss = DisARMIW(symmetrized=symmetrized)(lambda b: -30 * b.sum(-1), dist, 4)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logits.grad).all()
