"""The conformance kit can fail: deliberately broken classes are reported by the right check.

Every route of every check has a planted bug here, written on top of a PyTorch/Pyro built-in
(or, for the atom route, relaxit's Gaussian gate), and the failure message must name the check.
The six kinds of bug of issue 12 are marked ``(issue 12, kind N)``; each passed the kit v1.
"""

import math

import pytest
import torch
from pyro.distributions import (
    Bernoulli,
    MultivariateNormal,
    OneHotCategorical,
    RelaxedBernoulli,
    RelaxedBernoulliStraightThrough,
    RelaxedOneHotCategorical,
)
from torch.distributions import biject_to, constraints
from torch.distributions.utils import clamp_probs

from relaxit.distributions import GaussianRelaxedBernoulli
from relaxit.testing import (
    Example,
    check_dtype_device,
    check_extremes,
    check_gradients,
    check_independence,
    check_normalization,
    check_pathwise_gradient,
    check_pyro,
    check_sample_law,
    check_shapes,
    check_straight_through,
    check_validation,
)
from relaxit.testing.examples.bernoulli import threshold_half

# ---------------------------------------------------------------- normalization


def _standard_normal_log_density(y):
    return -0.5 * y.square() - 0.5 * math.log(2 * math.pi)


class LogProbOffByConstant(RelaxedBernoulli):
    def log_prob(self, value):
        return super().log_prob(value) + math.log(1.1)


class TailBump(RelaxedBernoulli):
    """(issue 12, kind 2) exp(log_prob) integrates to 1.5: half a unit of mass in a bump at
    logit -60, where samples (|logit| < 30 here) never go."""

    def log_prob(self, value):
        y = torch.logit(value)
        bump = _standard_normal_log_density(y + 60.0) - value.log() - torch.log1p(-value)
        return torch.logaddexp(super().log_prob(value), math.log(0.5) + bump)


class TailBumpSimplex(RelaxedOneHotCategorical):
    """(issue 12, kind 2) the same on the 3-simplex (importance-sampling route): a bump in the
    unconstrained (stick-breaking) coordinates far from every sample."""

    def log_prob(self, value):
        transform = biject_to(constraints.simplex)
        y = transform.inv(value)
        bump = _standard_normal_log_density(y + 25.0).sum(-1)
        bump = bump - transform.log_abs_det_jacobian(y, value)
        return torch.logaddexp(super().log_prob(value), math.log(0.5) + bump)


class MissingJacobianSimplex(RelaxedOneHotCategorical):
    """Forgets the softmax Jacobian term of the Concrete density: not normalized."""

    def log_prob(self, value):
        return super().log_prob(value) + value.log().sum(-1)


class OneHotMassesOff(OneHotCategorical):
    def log_prob(self, value):
        return super().log_prob(value) + math.log(1.05)


# ---------------------------------------------------------------- sample law


class SamplesFromWrongLogits(RelaxedBernoulli):
    def rsample(self, sample_shape=torch.Size()):
        shifted = RelaxedBernoulli(self.temperature, logits=self.logits + 0.3)
        return shifted.rsample(sample_shape)


class SimplexWrongLogits(RelaxedOneHotCategorical):
    def rsample(self, sample_shape=torch.Size()):
        logits = self.logits + torch.tensor([0.0, 0.0, 0.25], dtype=self.logits.dtype)
        return RelaxedOneHotCategorical(self.temperature, logits=logits).rsample(sample_shape)


class BernoulliWrongProbs(Bernoulli):
    def sample(self, sample_shape=torch.Size()):
        return Bernoulli(probs=self.probs * 0.9).sample(sample_shape)


class GateShiftedSampler(GaussianRelaxedBernoulli):
    """Samples ``clamp(loc + 0.15 + scale eps)``: the atoms' frequencies are off."""

    def rsample(self, sample_shape=torch.Size()):
        eps = torch.randn(
            self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device
        )
        return (self.loc + 0.15 + self.scale * eps).clamp(0.0, 1.0)


class StraightThroughWrongThreshold(RelaxedBernoulliStraightThrough):
    """Quantizes at 0.6 instead of 1/2: the hard values do not follow Bernoulli(p)."""

    def rsample(self, sample_shape=torch.Size()):
        soft = RelaxedBernoulli(self.temperature, logits=self.logits).rsample(sample_shape)
        out = (soft > 0.6).to(soft.dtype) + (soft - soft.detach())
        out._unquantize = soft
        return out


class StraightThroughLogProbOfHard(RelaxedBernoulliStraightThrough):
    """log_prob of the returned tensor ignores the relaxed value it carries."""

    def log_prob(self, value):
        return RelaxedBernoulli(self.temperature, logits=self.logits).log_prob(
            clamp_probs(value.detach().clone())
        )


class FarCovarianceWrong(MultivariateNormal):
    """(issue 12, kind 6) samples with correlation 0.6 between coordinates 0 and 3, which
    log_prob says are independent; every adjacent pair and every marginal is right."""

    def rsample(self, sample_shape=torch.Size()):
        tril = self.scale_tril.clone()
        tril[..., 3, 0], tril[..., 3, 3] = 0.6 * tril[..., 3, 3], 0.8 * tril[..., 3, 3]
        return MultivariateNormal(self.loc, scale_tril=tril).rsample(sample_shape)


class WrongScaleMVN(MultivariateNormal):
    """Samples with 1.5 times the scale: every median, and every quadrant frequency, is right;
    only the random-feature MMD sees it."""

    def rsample(self, sample_shape=torch.Size()):
        return MultivariateNormal(self.loc, scale_tril=1.5 * self.scale_tril).rsample(sample_shape)


# ---------------------------------------------------------------- independence


class SharedNoiseAcrossBatch(RelaxedBernoulli):
    """(issue 12, kind 3) one noise draw for all batch elements: right marginals, dependent."""

    def rsample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape) + (1,) * len(self.batch_shape)
        u = clamp_probs(torch.rand(shape, dtype=self.logits.dtype, device=self.logits.device))
        y = (self.logits + u.log() - torch.log1p(-u)) / self.temperature
        return clamp_probs(torch.sigmoid(y))


class BroadcastsSecondSampleDim(RelaxedBernoulli):
    """(issue 12, kind 4) ``rsample((3, 4))`` draws along the first sample dim only."""

    def rsample(self, sample_shape=torch.Size()):
        shape = torch.Size(sample_shape)
        if len(shape) < 2:
            return super().rsample(shape)
        x = super().rsample(shape[:1])
        x = x.reshape(shape[:1] + (1,) * (len(shape) - 1) + self.batch_shape)
        return x.expand(shape + self.batch_shape)


# ---------------------------------------------------------------- straight-through


class UncoupledStraightThrough(RelaxedBernoulliStraightThrough):
    """(issue 12, kind 5) the hard value comes from other noise than the soft value."""

    def rsample(self, sample_shape=torch.Size()):
        soft = RelaxedBernoulli(self.temperature, logits=self.logits).rsample(sample_shape)
        hard = Bernoulli(logits=self.logits).sample(sample_shape)
        out = hard + (soft - soft.detach())
        out._unquantize = soft
        return out


class DoubledSurrogate(RelaxedBernoulliStraightThrough):
    """Backward pass is twice the relaxed value's."""

    def rsample(self, sample_shape=torch.Size()):
        soft = RelaxedBernoulli(self.temperature, logits=self.logits).rsample(sample_shape)
        out = (soft > 0.5).to(soft.dtype) + 2 * (soft - soft.detach())
        out._unquantize = soft
        return out


# ---------------------------------------------------------------- gradients


class DetachedRsample(RelaxedBernoulli):
    def rsample(self, sample_shape=torch.Size()):
        return super().rsample(sample_shape).detach()


class WrongGradient(RelaxedBernoulli):
    """log_prob whose value is right but whose gradient w.r.t. the logits is doubled."""

    def log_prob(self, value):
        lp = super().log_prob(value)
        return lp + (self.logits - self.logits.detach()) * 0.0 + lp - lp.detach()


def _binary_concrete(logits, temperature, shape):
    u = clamp_probs(torch.rand(shape, dtype=logits.dtype, device=logits.device))
    return clamp_probs(torch.sigmoid((logits + u.log() - torch.log1p(-u)) / temperature))


class WrongReparameterization(RelaxedBernoulli):
    """(issue 12, kind 1) right values; d/d logits has the wrong sign, d/d temperature is
    doubled."""

    def rsample(self, sample_shape=torch.Size()):
        logits = 2 * self.logits.detach() - self.logits  # value logits, derivative -1
        temperature = self.temperature**2 / self.temperature.detach()  # derivative 2
        return _binary_concrete(logits, temperature, self._extended_shape(sample_shape))


class DoubledTemperatureGradient(RelaxedBernoulli):
    """Only the temperature's derivative is wrong (doubled): the temperature is checked too."""

    def rsample(self, sample_shape=torch.Size()):
        temperature = self.temperature**2 / self.temperature.detach()
        return _binary_concrete(self.logits, temperature, self._extended_shape(sample_shape))


class SimplexFlippedGradient(RelaxedOneHotCategorical):
    """Right values, gradient w.r.t. the logits of the wrong sign (score-function route)."""

    def rsample(self, sample_shape=torch.Size()):
        logits = 2 * self.logits.detach() - self.logits
        return RelaxedOneHotCategorical(self.temperature, logits=logits).rsample(sample_shape)


# ---------------------------------------------------------------- shapes


class IgnoresSampleShape(RelaxedBernoulli):
    def rsample(self, sample_shape=torch.Size()):
        return super().rsample()


class LogProbSumsBatch(RelaxedBernoulli):
    def log_prob(self, value):
        return super().log_prob(value).sum(-1)


# ---------------------------------------------------------------- dtype / device


class Float32Samples(RelaxedBernoulli):
    def rsample(self, sample_shape=torch.Size()):
        return super().rsample(sample_shape).float()


class Float16Overflow(RelaxedBernoulli):
    """An intermediate scaled by 1e5 overflows float16 (max 65504)."""

    def sample(self, sample_shape=torch.Size()):
        return super().sample(sample_shape) * 1e5 / 1e5


class NoiseOnDefaultDevice(RelaxedBernoulli):
    """Creates its noise without ``device=``: on the default device, not the parameters'."""

    def rsample(self, sample_shape=torch.Size()):
        u = torch.rand(self._extended_shape(sample_shape), dtype=self.logits.dtype)
        u = u.clamp(1e-6, 1 - 1e-6)
        return torch.sigmoid((self.logits + u.log() - torch.log1p(-u)) / self.temperature)


# ---------------------------------------------------------------- validation


class SilentlyClampsProbs(RelaxedBernoulli):
    """Clamps out-of-range probabilities instead of rejecting them."""

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        if probs is not None:
            probs = probs.clamp(0.01, 0.99)
        super().__init__(temperature, probs=probs, logits=logits, validate_args=validate_args)


class VagueError(RelaxedBernoulli):
    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        if probs is not None and bool(((probs < 0) | (probs > 1)).any()):
            raise ValueError("invalid parameter")
        super().__init__(temperature, probs=probs, logits=logits, validate_args=validate_args)


class TakesBothProbsAndLogits(RelaxedBernoulli):
    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        if probs is not None and logits is not None:
            probs = None  # silently prefers the logits
        super().__init__(temperature, probs=probs, logits=logits, validate_args=validate_args)


class NoValueValidation(RelaxedBernoulli):
    def log_prob(self, value):
        return RelaxedBernoulli(self.temperature, logits=self.logits, validate_args=False).log_prob(
            value
        )


# ---------------------------------------------------------------- extremes, Pyro


class NaiveSigmoid(RelaxedBernoulli):
    """``exp(y) / (1 + exp(y))``: inf / inf = NaN once ``y`` overflows (logits 50 / T 0.05)."""

    def rsample(self, sample_shape=torch.Size()):
        shape = self._extended_shape(sample_shape)
        u = clamp_probs(torch.rand(shape, dtype=self.logits.dtype, device=self.logits.device))
        e = torch.exp((self.logits + u.log() - torch.log1p(-u)) / self.temperature)
        return e / (1 + e)


class NotAPyroDistribution(torch.distributions.RelaxedBernoulli):
    """A plain torch distribution: no ``to_event``; the contract asks for a Pyro class."""


# ---------------------------------------------------------------- examples


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


def straight_through(cls):
    return Example(
        cls.__name__,
        cls,
        {"temperature": torch.tensor(0.7), "logits": torch.tensor([-0.5, 1.0])},
        law="straight_through",
        hard_view=lambda d: Bernoulli(logits=d.logits),
        hard_map=threshold_half,
    )


def mvn(cls, d=4):
    return Example(cls.__name__, cls, {"loc": torch.zeros(d), "scale_tril": torch.eye(d)})


_BAD_PROBS = (("probs", torch.tensor([0.5, 1.5])),)
_PROBS = {"temperature": torch.tensor(0.7), "probs": torch.tensor([0.3, 0.8])}

PLANTED = [
    # (example, check, the message must contain)
    (bernoulli(LogProbOffByConstant), check_normalization, "integrates to"),
    (bernoulli(TailBump), check_normalization, "integrates to"),
    (simplex(TailBumpSimplex), check_normalization, "importance sampling"),
    (simplex(MissingJacobianSimplex), check_normalization, "importance sampling"),
    (
        Example(
            "OneHotMassesOff",
            OneHotMassesOff,
            {"probs": torch.tensor([0.2, 0.3, 0.5])},
            law="discrete",
        ),
        check_normalization,
        "masses sum to",
    ),
    (bernoulli(SamplesFromWrongLogits), check_sample_law, "KS"),
    (simplex(SimplexWrongLogits), check_sample_law, "do not follow"),
    (
        Example(
            "BernoulliWrongProbs",
            BernoulliWrongProbs,
            {"probs": torch.tensor([0.3, 0.7])},
            law="discrete",
        ),
        check_sample_law,
        "chi-square",
    ),
    (
        Example(
            "GateShiftedSampler",
            GateShiftedSampler,
            {"loc": torch.tensor([0.3, 0.6]), "scale": torch.tensor(0.5)},
            atoms=(0.0, 1.0),
        ),
        check_sample_law,
        "atom at",
    ),
    (straight_through(StraightThroughWrongThreshold), check_sample_law, "hard values"),
    (straight_through(StraightThroughLogProbOfHard), check_sample_law, "density of its relaxed"),
    (mvn(FarCovarianceWrong), check_sample_law, "P(y_0, y_3 <= median)"),
    (mvn(WrongScaleMVN, d=2), check_sample_law, "MMD"),
    (bernoulli(SharedNoiseAcrossBatch), check_independence, "batch elements 0 and 1"),
    (bernoulli(BroadcastsSecondSampleDim), check_independence, "sample dim"),
    (straight_through(UncoupledStraightThrough), check_straight_through, "coupling"),
    (straight_through(DoubledSurrogate), check_straight_through, "surrogate"),
    (bernoulli(WrongReparameterization), check_pathwise_gradient, "quadrature"),
    (bernoulli(DoubledTemperatureGradient), check_pathwise_gradient, "d temperature"),
    (simplex(SimplexFlippedGradient), check_pathwise_gradient, "score-function"),
    (bernoulli(DetachedRsample), check_gradients, "does not back-propagate"),
    (bernoulli(WrongGradient), check_gradients, "gradcheck"),
    (bernoulli(IgnoresSampleShape), check_shapes, "rsample"),
    (bernoulli(LogProbSumsBatch), check_shapes, "log_prob"),
    (bernoulli(Float32Samples), check_dtype_device, "float64 parameters gave torch.float32"),
    (bernoulli(Float16Overflow), check_dtype_device, "non-finite float16"),
    (bernoulli(NoiseOnDefaultDevice), check_dtype_device, "default device"),
    (bernoulli(SilentlyClampsProbs, invalid_params=_BAD_PROBS), check_validation, "accepted"),
    (bernoulli(VagueError, invalid_params=_BAD_PROBS), check_validation, "omits it"),
    (bernoulli(TakesBothProbsAndLogits), check_validation, "both of probs/logits"),
    (bernoulli(NoValueValidation, invalid_values=(1.5,)), check_validation, "out-of-support"),
    (
        Example(
            "NaiveSigmoid/extreme",
            NaiveSigmoid,
            {"temperature": torch.tensor(0.05), "logits": torch.tensor([-50.0, 50.0])},
            extreme=True,
        ),
        check_extremes,
        "non-finite samples",
    ),
    (bernoulli(NotAPyroDistribution), check_pyro, "not a Pyro distribution"),
]


@pytest.mark.parametrize(
    ("example", "check", "message"),
    PLANTED,
    ids=[f"{check.__name__.removeprefix('check_')}-{e.name}" for e, check, _ in PLANTED],
)
def test_kit_reports_planted_bug(example, check, message):
    with pytest.raises(AssertionError) as info:
        check(example)
    text = str(info.value)
    assert text.startswith(f"{check.__name__}: "), f"the message does not name the check: {text}"
    assert message in text, text


def test_every_check_has_a_planted_bug():
    from relaxit.testing import ALL_CHECKS

    planted = {check for _, check, _ in PLANTED}
    missing = [c.__name__ for c in ALL_CHECKS if c not in planted]
    assert not missing, f"checks without a planted bug: {missing}"


@pytest.mark.parametrize(
    "example",
    [
        bernoulli(RelaxedBernoulli),
        simplex(RelaxedOneHotCategorical),
        straight_through(RelaxedBernoulliStraightThrough),
        mvn(MultivariateNormal),
        mvn(MultivariateNormal, d=2),
    ],
    ids=lambda e: e.name,
)
def test_correct_counterparts_pass(example):
    """The same examples built on the unbroken built-ins pass the same checks."""
    for check in (
        check_normalization,
        check_sample_law,
        check_independence,
        check_shapes,
        check_gradients,
        check_pathwise_gradient,
        check_straight_through,
        check_dtype_device,
    ):
        check(example)


SIX_KINDS = [
    (bernoulli(WrongReparameterization), "check_pathwise_gradient"),
    (bernoulli(TailBump), "check_normalization"),
    (simplex(TailBumpSimplex), "check_normalization"),
    (bernoulli(SharedNoiseAcrossBatch), "check_independence"),
    (bernoulli(BroadcastsSecondSampleDim), "check_independence"),
    (straight_through(UncoupledStraightThrough), "check_straight_through"),
    (mvn(FarCovarianceWrong), "check_sample_law"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("example", "check_name"), SIX_KINDS, ids=lambda v: getattr(v, "name", v))
def test_check_all_rejects_the_six_kinds_of_issue_12_by_the_right_check(example, check_name):
    """The public entry point rejects each, and the first check to fail is the one aimed at the
    bug (so the broken class is otherwise correct: every earlier check passes it)."""
    from relaxit.testing import check_all

    with pytest.raises(AssertionError, match=f"^{check_name}: "):
        check_all(example)
