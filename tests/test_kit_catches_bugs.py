"""The conformance kit can fail: deliberately broken classes are reported by the right check."""

import math

import pytest
import torch
from pyro.distributions import RelaxedBernoulli, RelaxedOneHotCategorical

from relaxit.testing import (
    Example,
    check_gradients,
    check_normalization,
    check_sample_law,
    check_shapes,
    check_validation,
)


class LogProbOffByConstant(RelaxedBernoulli):
    def log_prob(self, value):
        return super().log_prob(value) + math.log(1.1)


class SamplesFromWrongLogits(RelaxedBernoulli):
    def rsample(self, sample_shape=torch.Size()):
        shifted = RelaxedBernoulli(self.temperature, logits=self.logits + 0.3)
        return shifted.rsample(sample_shape)


class IgnoresSampleShape(RelaxedBernoulli):
    def rsample(self, sample_shape=torch.Size()):
        return super().rsample()


class LogProbSumsBatch(RelaxedBernoulli):
    def log_prob(self, value):
        return super().log_prob(value).sum(-1)


class MissingJacobianSimplex(RelaxedOneHotCategorical):
    """Forgets the softmax Jacobian term of the Concrete density: not normalized."""

    def log_prob(self, value):
        return super().log_prob(value) + value.log().sum(-1)


class SimplexWrongLogits(RelaxedOneHotCategorical):
    def rsample(self, sample_shape=torch.Size()):
        logits = self.logits + torch.tensor([0.0, 0.0, 0.25], dtype=self.logits.dtype)
        return RelaxedOneHotCategorical(self.temperature, logits=logits).rsample(sample_shape)


class SilentlyClampsProbs(RelaxedBernoulli):
    """Clamps out-of-range probabilities instead of rejecting them."""

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        if probs is not None:
            probs = probs.clamp(0.01, 0.99)
        super().__init__(temperature, probs=probs, logits=logits, validate_args=validate_args)


class DetachedRsample(RelaxedBernoulli):
    def rsample(self, sample_shape=torch.Size()):
        return super().rsample(sample_shape).detach()


class WrongGradient(RelaxedBernoulli):
    """log_prob whose value is right but whose gradient w.r.t. the logits is doubled."""

    def log_prob(self, value):
        lp = super().log_prob(value)
        return lp + (self.logits - self.logits.detach()) * 0.0 + lp - lp.detach()


def bernoulli(cls, **kw):
    return Example(
        cls.__name__,
        cls,
        {"temperature": torch.tensor(0.7), "logits": torch.tensor([-0.5, 1.0])},
        **kw,
    )


def simplex(cls):
    return Example(
        cls.__name__,
        cls,
        {"temperature": torch.tensor(0.8), "logits": torch.tensor([0.2, -0.4, 0.5])},
    )


@pytest.mark.parametrize(
    ("example", "check", "message"),
    [
        (bernoulli(LogProbOffByConstant), check_normalization, "normalization"),
        (bernoulli(SamplesFromWrongLogits), check_sample_law, "do not follow"),
        (simplex(MissingJacobianSimplex), check_normalization, "normalization"),
        (simplex(SimplexWrongLogits), check_sample_law, "do not follow"),
        (bernoulli(IgnoresSampleShape), check_shapes, "rsample"),
        (bernoulli(LogProbSumsBatch), check_shapes, "log_prob"),
        (
            bernoulli(SilentlyClampsProbs, invalid_params=(("probs", torch.tensor([0.5, 1.5])),)),
            check_validation,
            "accepted",
        ),
        (bernoulli(DetachedRsample), check_gradients, "does not back-propagate"),
        (bernoulli(WrongGradient), check_gradients, "gradcheck"),
    ],
    ids=lambda v: getattr(v, "name", getattr(v, "__name__", None)),
)
def test_kit_reports_planted_bug(example, check, message):
    with pytest.raises(AssertionError, match=message):
        check(example)


def test_correct_counterparts_pass():
    """The same examples built on the unbroken classes pass the same checks."""
    for example in (bernoulli(RelaxedBernoulli), simplex(RelaxedOneHotCategorical)):
        check_normalization(example)
        check_sample_law(example)
        check_shapes(example)
        check_gradients(example)
