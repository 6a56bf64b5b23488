"""IndeCateR (local expectation gradients): unbiased against ``Exact()``, exact with one variable
per item, its substituted rows (never one that repeats the sample), planted bugs rejected, and
its variance below REINFORCE's.

The registry-driven z-tests of ``test_estimators_unbiased.py`` also cover it; here the planted
bugs (the softmax Jacobian without its ``q_j`` factor, no sign for a Bernoulli sample at 0, the
categorical values substituted off by one) are rejected by the same kind of z-test (``Z = 5``;
``test_number_of_z_tests`` bounds this file's false alarms below 1e-3).
"""

from __future__ import annotations

import math

import pytest
import torch
from bound_problems import DTYPE, PROBLEMS, Problem, z_test_bound

from relaxit.estimators import REINFORCE, Exact, IndeCateR, gradient_samples

Z = 5.0
N_RUNS = 4000
JOINT = [p for p in PROBLEMS if math.prod(p.joint) > 1]  # several variables per item


def exact_gradient(problem: Problem, logits: torch.Tensor) -> torch.Tensor:
    return gradient_samples(Exact(), problem.f, problem.make_dist, logits, 1, 1)[0]


def z_scores(est, problem: Problem, n: int = 2) -> torch.Tensor:
    logits = problem.logits()
    grads = gradient_samples(est, problem.f, problem.make_dist, logits, n, N_RUNS)
    return (grads.mean(0) - exact_gradient(problem, logits)) / (grads.std(0) / N_RUNS**0.5)


def test_number_of_z_tests():
    count = sum(math.prod(p.shape) for p in JOINT)  # unbiasedness
    count += 2 * sum(math.prod(p.shape) for p in JOINT if p.family == "bernoulli")  # n = 1, 3
    assert z_test_bound(count, Z) < 1e-3


@pytest.mark.parametrize("problem", JOINT, ids=lambda p: p.name)
def test_unbiased_on_joint_variables(problem):
    torch.manual_seed(sum(map(ord, problem.name)))
    z = z_scores(IndeCateR(), problem)
    assert torch.isfinite(z).all() and z.abs().max() <= Z, z.flatten().tolist()
    if problem.family == "bernoulli":
        for n in (1, 3):
            assert z_scores(IndeCateR(), problem, n).abs().max() <= Z


@pytest.mark.parametrize("problem", [p for p in PROBLEMS if math.prod(p.joint) == 1])
def test_exact_with_one_variable_per_item(problem):
    torch.manual_seed(0)
    logits = problem.logits()
    grads = gradient_samples(IndeCateR(), problem.f, problem.make_dist, logits, 1, 50)
    torch.testing.assert_close(grads, exact_gradient(problem, logits).expand_as(grads))


class UnweightedIndeCateR(IndeCateR):
    """Planted bug: ``F_j - sum_k q_k F_k`` without the factor ``q_j`` of the softmax Jacobian.
    (Dropping the centring instead would not be a bug: a shift shared by all the classes of a
    variable vanishes through the normalization of the logits.)"""

    @staticmethod
    def _softmax_jacobian_times(values, q):
        return values - (q * values).sum(-1, keepdim=True)


class UnsignedIndeCateR(IndeCateR):
    """Planted bug: ``f(b) - f(flipped)`` taken as ``F_1 - F_0`` for samples at 0 too."""

    @staticmethod
    def _one_minus_zero(f_b, f_flipped, b):
        return f_b - f_flipped


class OffByOneIndeCateR(IndeCateR):
    """Planted bug: the values substituted for a categorical variable skip the one after its
    sampled value and repeat the sampled one, so one ``F`` is ``f(b)`` in the wrong slot."""

    @staticmethod
    def _other_values(sampled, k):
        i = torch.arange(k - 1)
        return i + (i > sampled)


def test_planted_bugs_are_rejected():
    torch.manual_seed(3)
    categorical = next(p for p in JOINT if p.family == "categorical")
    assert z_scores(UnweightedIndeCateR(), categorical).abs().max() > Z
    assert z_scores(OffByOneIndeCateR(), categorical).abs().max() > Z
    bernoulli = next(p for p in JOINT if p.family == "bernoulli" and not p.items)
    assert z_scores(UnsignedIndeCateR(), bernoulli).abs().max() > Z


@pytest.mark.parametrize("family", ["bernoulli", "categorical"])
def test_second_call_substitutes_one_variable_per_row(family):
    torch.manual_seed(1)
    shape = (2, 3) if family == "bernoulli" else (2, 3, 4)  # 2 items of 3 variables
    logits = torch.randn(shape, dtype=DTYPE, requires_grad=True)
    dist = (
        torch.distributions.Bernoulli(logits=logits)
        if family == "bernoulli"
        else torch.distributions.OneHotCategorical(logits=logits)
    )
    calls = []

    def f(b):
        calls.append(b)
        x = b if family == "bernoulli" else b @ torch.arange(4.0, dtype=DTYPE)
        return (x * torch.tensor([1.0, -2.0, 0.5], dtype=DTYPE)).sum(-1).sin()

    IndeCateR()(f, dist, 2).sum().backward()
    assert len(calls) == 2
    base, rows = calls
    per_sample = 3 if family == "bernoulli" else 3 * 3  # the sample's own values are f(b)
    assert rows.shape == (2 * per_sample, *shape)
    rows = rows.reshape(2, per_sample, *shape)
    changed = rows != base.unsqueeze(1)  # (sample, row) + (item, variable) [+ class]
    if family == "categorical":
        changed = changed.any(-1)
    per_item = changed.sum(-1)  # variables changed in each item of each row
    assert (per_item == 1).all()  # never a row that repeats the sample


def test_variance_below_leave_one_out_reinforce():
    torch.manual_seed(9)
    for problem in JOINT:
        args = (problem.f, problem.make_dist, problem.logits(), 2, N_RUNS)
        ours = gradient_samples(IndeCateR(), *args).var(0).sum()
        loo = gradient_samples(REINFORCE(baseline="loo"), *args).var(0).sum()
        assert ours < 0.5 * loo, (problem.name, ours.item(), loo.item())


def test_a_single_class_gives_a_zero_gradient_and_no_second_call():
    logits = torch.zeros(2, 3, 1, dtype=DTYPE, requires_grad=True)
    calls = []
    f = lambda b: (calls.append(b), b.sum((-2, -1)))[1]  # noqa: E731
    IndeCateR()(f, torch.distributions.OneHotCategorical(logits=logits), 2).sum().backward()
    assert len(calls) == 1 and (logits.grad == 0).all()


@pytest.mark.parametrize("family", ["bernoulli", "categorical"])
def test_extreme_logits_stay_finite(family):
    logits = torch.tensor([[-50.0, 50.0, 0.0]], requires_grad=True)
    if family == "bernoulli":
        dist = torch.distributions.Bernoulli(logits=logits)
    else:
        dist = torch.distributions.OneHotCategorical(logits=logits.unsqueeze(0))
    loss = IndeCateR()(lambda b: -30 * b.flatten(1).sum(-1), dist, 2)
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(logits.grad).all()
