"""Regression tests for issue 17's estimator findings: masked (-inf) logits, gradient_samples'
vectorize requirement, constructor errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Bernoulli, OneHotCategorical

from relaxit.estimators import (
    REBAR,
    REINFORCE,
    DisARM,
    Exact,
    GumbelSoftmax,
    _protocol,
    gradient_samples,
)

W = torch.tensor([1.0, -2.0, 0.5, 3.0])
MASK = torch.tensor([False, True, False, True])


def f(b):
    return (b * W).sum(-1)


def _masked_logits():
    return torch.tensor([0.3, -math.inf, -0.7, -math.inf])


def test_exact_on_masked_logits_equals_exact_on_the_unmasked_categories():
    """The independent reference: the same problem with the masked categories removed."""
    full = _masked_logits().requires_grad_(True)
    Exact()(f, OneHotCategorical(logits=full), 1).backward()
    kept = full.detach()[~MASK].clone().requires_grad_(True)
    value = Exact()(lambda b: (b * W[~MASK]).sum(-1), OneHotCategorical(logits=kept), 1)
    value.backward()
    torch.testing.assert_close(full.grad[~MASK], kept.grad)
    assert (full.grad[MASK] == 0).all()


def test_reinforce_on_masked_logits_is_unbiased():
    exact = gradient_samples(
        Exact(), f, lambda x: OneHotCategorical(logits=x), _masked_logits(), 1, 1
    )[0]
    runs = gradient_samples(
        REINFORCE("loo"), f, lambda x: OneHotCategorical(logits=x), _masked_logits(), 8, 4000
    )
    assert torch.isfinite(runs).all() and (runs[:, MASK] == 0).all()
    se = runs.std(0) / math.sqrt(runs.shape[0])
    z = (runs.mean(0) - exact)[~MASK] / se[~MASK]
    assert z.abs().max() < 5, z


def test_bernoulli_infinite_logits_are_certain_values():
    logits = torch.tensor([-math.inf, math.inf, 0.0], requires_grad=True)
    loss = DisARM()(lambda b: (b * W[:3]).sum(-1), Bernoulli(logits=logits), 4)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert (logits.grad[:2] == 0).all()


def test_planted_no_unmasking_gives_nan(monkeypatch):
    """Without `unmask_logits` (the old code) a masked category makes the loss NaN."""
    monkeypatch.setattr(_protocol, "unmask_logits", lambda phi, family: phi)
    loss = REINFORCE()(f, OneHotCategorical(logits=_masked_logits()), 4)
    assert torch.isnan(loss)


def test_all_masked_row_and_positive_inf_are_value_errors():
    """torch normalizes both to NaN logits, which its Categorical rejects; a NaN Bernoulli
    logit built without validation is rejected by the estimator."""
    for logits in (torch.full((4,), -math.inf), torch.tensor([0.0, math.inf, 0, 0])):
        with pytest.raises(ValueError, match=r"(?i)nan"):
            REINFORCE()(f, OneHotCategorical(logits=logits), 4)
    nan = Bernoulli(logits=torch.tensor([math.nan, 0.0]), validate_args=False)
    with pytest.raises(ValueError, match="logits contain NaN"):
        REINFORCE()(lambda b: b.sum(-1), nan, 4)


def test_gradient_samples_requires_the_run_dim_and_float_params():
    make = lambda x: Bernoulli(logits=x)  # noqa: E731
    g = lambda b: (b - 0.45).pow(2)  # noqa: E731
    # keeps the run dim: fine; reducing it (the 4,000x variance) is an error
    assert gradient_samples(DisARM(), g, make, torch.zeros(()), 2, 50).shape == (50,)
    with pytest.raises(ValueError, match="run dim"):
        gradient_samples(DisARM(), lambda b: g(b).sum(-1), make, torch.zeros(()), 2, 50)
    with pytest.raises(ValueError, match="run dim"):
        gradient_samples(DisARM(), lambda b: g(b).sum((1, 2)), make, torch.zeros(3), 2, 50)
    sequential = gradient_samples(
        DisARM(), lambda b: g(b).sum(-1), make, torch.zeros(3), 2, 5, vectorize=False
    )
    assert sequential.shape == (5, 3)
    with pytest.raises(ValueError, match="floating-point"):
        gradient_samples(DisARM(), g, make, torch.zeros(3, dtype=torch.long), 2, 5)


@pytest.mark.parametrize("eta", ["a", None, math.nan, math.inf, True, torch.ones(2)])
def test_rebar_eta_errors(eta):
    with pytest.raises(ValueError, match="eta"):
        REBAR(eta=eta)


def test_rebar_eta_accepts_numbers_and_0dim_tensors():
    assert float(REBAR(eta=-0.5).eta) == -0.5
    assert float(REBAR(eta=torch.tensor(2.0)).eta) == 2.0


@pytest.mark.parametrize("hard", ["a", 1, None])
def test_gumbel_softmax_hard_must_be_bool(hard):
    with pytest.raises(ValueError, match="hard"):
        GumbelSoftmax(hard=hard)
