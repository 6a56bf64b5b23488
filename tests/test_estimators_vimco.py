"""VIMCO (Mnih & Rezende 2016) against the exact gradient of the expected multi-sample bound.

The reference enumerates every ``n``-tuple of samples with ``Exact()``: the ``n`` draws are ``n``
copies of the distribution along a new batch dim placed after the item dims (a joint variable),
and the objective of one tuple is ``log mean_k exp f(b_k)``. Its gradient (to the logits and to
parameters inside ``f``) is the ground truth for ``E[L_hat]``.

False alarms: every z-test uses ``Z = 5`` (``5.7e-7`` each); ``test_number_of_z_tests`` counts
them and bounds the file's false-alarm probability below ``1e-3``. Planted bugs (a stand-in that
peeks at ``b_j``, an average instead of the sum over samples) are rejected by the same tests.
"""

from __future__ import annotations

import math

import pytest
import torch
from bound_problems import DTYPE, PROBLEMS, Problem, z_test_bound

from relaxit.estimators import VIMCO, Exact, gradient_samples

Z = 5.0
N_RUNS = 4000
SETTINGS = [("geometric", 2), ("geometric", 4), ("arithmetic", 3), (None, 2)]
TUPLE_LIMIT = 2**14  # values of one item's n-tuple that the reference enumerates


def bound_objective(problem: Problem, f, n: int):
    """Objective of one tuple: ``b`` is ``(S,) + items + (n,) + joint``; returns ``(S,) + items``
    as ``log mean_k exp f(b_k)``."""
    axis = 1 + len(problem.items)

    def objective(b: torch.Tensor) -> torch.Tensor:
        tuples = b.movedim(axis, 0)  # (n, S) + items + joint
        log_w = f(tuples.reshape((-1, *tuples.shape[2:]))).reshape(
            tuples.shape[: 2 + len(problem.items)]
        )
        return torch.logsumexp(log_w, 0) - math.log(n)

    return objective


def exact_bound_gradient(problem: Problem, logits: torch.Tensor, n: int, f=None) -> torch.Tensor:
    """Gradient of ``E[log mean_k exp f(b_k)]`` w.r.t. ``logits`` by enumerating n-tuples."""
    x = logits.detach().clone().requires_grad_(True)
    axis = len(problem.items)
    tuples = x.unsqueeze(axis).expand((*x.shape[:axis], n, *x.shape[axis:]))
    objective = bound_objective(problem, f or problem.f, n)
    Exact(max_support=TUPLE_LIMIT)(objective, problem.make_dist(tuples), 1).sum().backward()
    return x.grad


def many(problem: Problem) -> int:
    """The largest n <= 6 whose n-tuples the reference can enumerate."""
    support = (problem.k or 2) ** math.prod(problem.joint)
    return max(n for n in range(2, 7) if support**n <= TUPLE_LIMIT)


def z_scores(est, problem: Problem, n: int, logits: torch.Tensor, runs: int = N_RUNS):
    grads = gradient_samples(est, problem.f, problem.make_dist, logits, n, runs)
    exact = exact_bound_gradient(problem, logits, n)
    return (grads.mean(0) - exact) / (grads.std(0) / math.sqrt(runs))


def test_number_of_z_tests():
    count = len(SETTINGS) * sum(math.prod(p.shape) for p in PROBLEMS)
    count += 2 * sum(math.prod(p.shape) for p in PROBLEMS)  # sharper logits, n = 2 and many
    count += 4 + 3  # the pathwise test: theta (4) and the logits (3)
    assert count == 157
    assert z_test_bound(count, Z) < 1e-3


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_vimco_matches_the_exact_gradient_of_the_bound(problem):
    torch.manual_seed(sum(map(ord, problem.name)))
    for baseline, n in SETTINGS:
        z = z_scores(VIMCO(baseline=baseline), problem, n, problem.logits())
        assert torch.isfinite(z).all()
        assert z.abs().max() <= Z, f"{baseline}, n={n}: {z.flatten().tolist()}"


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: p.name)
def test_vimco_with_two_and_many_samples_and_sharper_logits(problem):
    torch.manual_seed(7 + sum(map(ord, problem.name)))
    for n in (2, many(problem)):
        z = z_scores(VIMCO(), problem, n, problem.logits(scale=2.0))
        assert z.abs().max() <= Z, f"n={n}: {z.flatten().tolist()}"


class PeekingVIMCO(VIMCO):
    """Planted bug: the stand-in for w_j is the geometric mean of *all* samples, b_j included."""

    def _leave_one_out(self, log_w):
        n = log_w.shape[0]
        table = log_w.unsqueeze(0).expand((n, *log_w.shape))
        eye = torch.eye(n, dtype=torch.bool).reshape((n, n) + (1,) * (log_w.dim() - 1))
        table = torch.where(eye, log_w.mean(0), table)
        return torch.logsumexp(table, 1) - math.log(n)


class AveragingVIMCO(VIMCO):
    """Planted bug: the score terms averaged over the n samples instead of summed."""

    def _leave_one_out(self, log_w):
        bound = torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])
        correct = super()._leave_one_out(log_w)
        return bound - (bound - correct) / log_w.shape[0]


@pytest.mark.parametrize("bug", [PeekingVIMCO, AveragingVIMCO])
def test_planted_bugs_are_rejected(bug):
    torch.manual_seed(3)
    problem = PROBLEMS[0]
    z = z_scores(bug(), problem, 4, problem.logits())
    assert z.abs().max() > Z, z.tolist()


def pathwise_z_scores(est, n: int = 3, runs: int = N_RUNS) -> torch.Tensor:
    """z-scores of a bound estimator's total gradients to a decoder parameter ``theta`` inside
    ``f`` and to the logits, when ``f`` also subtracts ``log q(b)`` of the same logits (as the
    IWAE bound does), against the gradients of the enumerated n-tuples."""
    problem = PROBLEMS[0]
    logits = problem.logits()
    theta0 = torch.tensor([0.3, -0.8, 1.1, 0.4], dtype=DTYPE)

    def make_f(theta, x):
        def f(b):
            log_q = torch.distributions.Bernoulli(logits=x).log_prob(b).sum(-1)
            return problem.f(b) * theta[..., 0] + (b * theta[..., 1:]).sum(-1) - log_q

        return f

    # reference: both gradients by enumerating n-tuples
    theta = theta0.clone().requires_grad_(True)
    x = logits.clone().requires_grad_(True)
    tuples = x.unsqueeze(0).expand((n, *x.shape))
    objective = bound_objective(problem, make_f(theta, x), n)
    Exact()(objective, problem.make_dist(tuples), 1).backward()
    exact = torch.cat([theta.grad, x.grad])

    # runs: one theta and one copy of the logits per run (items of one call)
    theta_r = theta0.repeat(runs, 1).requires_grad_(True)
    x_r = logits.repeat(runs, 1).requires_grad_(True)
    est(make_f(theta_r, x_r), problem.make_dist(x_r), n).sum().backward()
    grads = torch.cat([theta_r.grad, x_r.grad], 1)
    return (grads.mean(0) - exact) / (grads.std(0) / math.sqrt(runs))


def test_pathwise_gradient_inside_f_and_f_reading_the_logits():
    """A decoder parameter ``theta`` inside ``f``, and an ``f`` that subtracts ``log q(b)`` of
    the same logits (as the IWAE bound does): both total gradients match the enumeration."""
    torch.manual_seed(5)
    z = pathwise_z_scores(VIMCO())
    assert z.abs().max() <= Z, z.tolist()


def test_vimco_has_lower_variance_than_reinforce_on_the_bound():
    """Mnih & Rezende 2016, figure 1: VIMCO's leave-one-out baseline removes most of the
    variance of the plain score-function estimator of the bound (``baseline=None``)."""
    torch.manual_seed(9)
    for problem in (PROBLEMS[0], PROBLEMS[2]):
        args = (problem.f, problem.make_dist, problem.logits(), 5, N_RUNS)
        vimco = gradient_samples(VIMCO(), *args).var(0).sum()
        plain = gradient_samples(VIMCO(baseline=None), *args).var(0).sum()
        # measured ratios are below 0.1; 4000 runs estimate each variance within a few percent
        assert vimco < 0.5 * plain, (problem.name, vimco.item(), plain.item())


def test_loss_value_is_the_bound_and_errors():
    logits = torch.zeros(2, 3, requires_grad=True)
    dist = torch.distributions.Bernoulli(logits=logits)
    seen = {}

    def f(b):
        seen["b"] = b
        return -(b - 0.3).pow(2).sum(-1)

    loss = VIMCO()(f, dist, 5)
    log_w = f(seen["b"])
    torch.testing.assert_close(loss, torch.logsumexp(log_w, 0) - math.log(5))
    assert VIMCO.objective == "log-mean-exp" and VIMCO.min_samples == 2
    with pytest.raises(ValueError, match="n_samples must be >= 2"):
        VIMCO()(f, dist, 1)
    with pytest.raises(ValueError, match="baseline"):
        VIMCO(baseline="loo")


@pytest.mark.parametrize("family", ["bernoulli", "categorical"])
def test_extreme_logits_stay_finite(family):
    logits = torch.tensor([[-50.0, 50.0, 0.0]], requires_grad=True)
    dist = (
        Problem("x", family, (), (), 3).make_dist(logits)
        if family == "categorical"
        else (torch.distributions.Bernoulli(logits=logits))
    )
    loss = VIMCO()(lambda b: -30 * b.sum(-1), dist, 4)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logits.grad).all()
