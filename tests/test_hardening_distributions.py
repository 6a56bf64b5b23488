"""Regression tests for issue 17's distribution findings, and the constructor vocabulary.

Each finding of the fuzz report has a test here that fails on the code before the fix (checked
with the planted variants at the end of each section: the old behaviour, rebuilt, is rejected).
"""

from __future__ import annotations

import copy
import math
import pickle

import pyro
import pyro.poutine as poutine
import pytest
import torch
from torch import tensor as t
from torch.distributions import constraints

from relaxit.distributions import (
    AVFMultivariateNormal,
    CorrelatedRelaxedBernoulli,
    DecoupledStraightThroughGumbelSoftmax,
    GaussianRelaxedBernoulli,
    GeneralizedGumbelSoftmax,
    GeneralizedGumbelSoftmaxNP,
    GumbelSoftmaxTopK,
    HardConcrete,
    InvertibleGaussian,
    LogisticNormalSoftmax,
    OMTMultivariateNormal,
    RebarRelaxation,
    RelaxedBernoulliStraightThrough,
    RelaxedOneHotCategoricalStraightThrough,
    StochasticTimesSmooth,
    StraightThroughBernoulli,
)
from relaxit.distributions._binary_concrete import BinaryConcreteCore, logistic_log_density_sum
from relaxit.distributions._numerics import floored_log
from relaxit.distributions._params import finite_positive

INF, NAN = math.inf, math.nan


@pytest.fixture(autouse=True)
def _default_validation():
    """torch's default (validation on), whatever an earlier test in the process left."""
    before = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(True)
    yield
    torch.distributions.Distribution.set_default_validate_args(before)


# ------------------------------------------------------------- 1. copies of samples keep log_prob


COPIES = {
    "detach": lambda x: x.detach(),
    "clone": lambda x: x.detach().clone(),
    "index": lambda x: x[:],
    "times one": lambda x: x * 1,
    "dtype round trip": lambda x: x.double().to(x.dtype),
    "deepcopy": lambda x: copy.deepcopy(x.detach()),
    "pickle": lambda x: pickle.loads(pickle.dumps(x.detach())),
    "stack": lambda x: torch.stack(list(x.unbind(0))),
}

SAMPLED = {
    "RelaxedBernoulliST": lambda: RelaxedBernoulliStraightThrough(0.5, logits=t([0.3, -2.0])),
    "RebarRelaxation/cold": lambda: RebarRelaxation(t([0.3, 0.9]), 0.05),
    "RebarRelaxation/at-0-1": lambda: RebarRelaxation(t([0.3, 0.9]), 0.5),
    "CorrelatedRelaxedBernoulli": lambda: CorrelatedRelaxedBernoulli(
        t([0.3, 0.6]), t([[1.0, 0.5], [0.5, 1.0]]), 0.05
    ),
    "RelaxedOneHotCategoricalST": lambda: RelaxedOneHotCategoricalStraightThrough(
        0.05, logits=t([3.0, -3.0, 0.0])
    ),
    "InvertibleGaussian": lambda: InvertibleGaussian(t([50.0, -50.0]), t([1.0, 1.0]), 0.05),
    "LogisticNormalSoftmax": lambda: LogisticNormalSoftmax(t([150.0, -150.0, 0.0]), 1.0),
    "GumbelSoftmaxTopK": lambda: GumbelSoftmaxTopK(logits=t([1.0, 0.0, -1.0]), K=2),
}


def _nonfinite_copies(dist) -> list[str]:
    """Copy paths whose log_prob is not finite, for samples of ``dist`` (and hard 0/1 values
    for the scalar Bernoulli-type ones, which a straight-through copy holds)."""
    torch.manual_seed(0)
    x = dist.rsample((16,))
    bad = [
        name
        for name, copy_of in COPIES.items()
        if not torch.isfinite(dist.log_prob(copy_of(x))).all()
    ]
    if dist.event_shape == () or isinstance(dist, CorrelatedRelaxedBernoulli):
        for edge in (0.0, 1.0):
            if not torch.isfinite(dist.log_prob(torch.full_like(x, edge))).all():
                bad.append(f"value {edge}")
    return bad


@pytest.mark.parametrize("name", SAMPLED)
def test_every_copy_of_a_sample_has_a_finite_log_prob(name):
    assert _nonfinite_copies(SAMPLED[name]()) == []


def test_zero_coordinate_on_the_closed_simplex_is_finite():
    for dist in (SAMPLED["InvertibleGaussian"](), SAMPLED["LogisticNormalSoftmax"]()):
        value = torch.zeros(dist.event_shape)
        value[0] = 1.0
        assert torch.isfinite(dist.log_prob(value))


def test_pyro_condition_on_a_detached_straight_through_guide_value():
    """``poutine.condition`` with the guide's detached hard values: a finite log_prob_sum."""
    logits = t([0.3, -1.0, 2.0])

    def model():
        pyro.sample("b", RelaxedBernoulliStraightThrough(0.5, logits=logits).to_event(1))

    guide_trace = poutine.trace(model).get_trace()
    value = guide_trace.nodes["b"]["value"].detach()
    assert set(value.tolist()) <= {0.0, 1.0}
    trace = poutine.trace(poutine.condition(model, data={"b": value})).get_trace()
    assert math.isfinite(trace.log_prob_sum().item())


class _UnclampedRebar(RebarRelaxation):
    """Planted bug: the density without reading 0/1 as interior points (the old code)."""

    def log_prob(self, value):
        log_z, log_1mz = value.log(), torch.log1p(-value)
        t_ = self.temperature * (log_z - log_1mz) - self.logits
        return self.temperature.log() + logistic_log_density_sum(t_) - log_z - log_1mz


def test_planted_unclamped_density_fails_the_copy_check():
    assert _nonfinite_copies(_UnclampedRebar(t([0.3, 0.9]), 0.5)) != []


# ------------------------------------------------------ 2. finite gradients at large |loc|


def _grads_of_log_prob_of_rsample(dist_fn, *params):
    leaves = [p.clone().requires_grad_(True) for p in params]
    torch.manual_seed(0)
    dist = dist_fn(*leaves)
    dist.log_prob(dist.rsample((500,))).sum().backward()
    return [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logistic_normal_gradients_finite_at_loc_50(dtype):
    grads = _grads_of_log_prob_of_rsample(
        LogisticNormalSoftmax, t([50.0, -50.0, 0.0], dtype=dtype), t(1.0, dtype=dtype).expand(3)
    )
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("loc", "temperature"), [(50.0, 1.0), (60.0, 1.0), (50.0, 0.05)])
def test_invertible_gaussian_gradients_finite(dtype, loc, temperature):
    grads = _grads_of_log_prob_of_rsample(
        InvertibleGaussian,
        t([loc, -loc], dtype=dtype),
        t([1.0, 1.0], dtype=dtype),
        t(temperature, dtype=dtype),
    )
    assert all(torch.isfinite(g).all() for g in grads)


def test_floored_log_gradient_is_exact_where_representable():
    x = t([1e-30, 0.5, 2.0], requires_grad=True)
    floored_log(x).sum().backward()
    torch.testing.assert_close(x.grad, 1 / x.detach())


class _PlainLogLogisticNormal(LogisticNormalSoftmax):
    """Planted bug: ``value.log()`` (the old code) instead of `floored_log`."""

    def log_prob(self, value):
        log_x = value.log()
        a = log_x - self.loc
        w = self.scale.square().reciprocal()
        a_bar = (w * a).sum(-1, keepdim=True) / w.sum(-1, keepdim=True)
        return -0.5 * (w * (a - a_bar).square()).sum(-1) - log_x.sum(-1)


def test_planted_plain_log_gives_non_finite_gradients():
    grads = _grads_of_log_prob_of_rsample(
        _PlainLogLogisticNormal, t([50.0, -50.0, 0.0]), torch.ones(3)
    )
    assert not all(torch.isfinite(g).all() for g in grads)


# ------------------------------------------------------------------- 7. integer parameters


INT_CASES = {
    "GumbelSoftmaxTopK tau=1.5": (
        lambda: GumbelSoftmaxTopK(logits=t([1, 2, 3]), tau=1.5),
        lambda d: d.temperature,
        1.5,
    ),
    "GumbelSoftmaxTopK tau=0.5": (
        lambda: GumbelSoftmaxTopK(logits=t([1, 2, 3]), tau=0.5),
        lambda d: d.temperature,
        0.5,
    ),
    "GeneralizedGumbelSoftmax": (
        lambda: GeneralizedGumbelSoftmax(t([0, 1, 2]), logits=t([1, 2, 3]), tau=0.7),
        lambda d: d.temperature,
        0.7,
    ),
    "RelaxedOneHotCategoricalST": (
        lambda: RelaxedOneHotCategoricalStraightThrough(0.7, logits=t([1, 2, 3])),
        lambda d: d.temperature,
        0.7,
    ),
    "Decoupled": (
        lambda: DecoupledStraightThroughGumbelSoftmax(0.7, 0.3, logits=t([1, 2, 3])),
        lambda d: d.temperature_backward,
        0.3,
    ),
    "InvertibleGaussian": (
        lambda: InvertibleGaussian(t([1, 2]), t([1, 1]), 0.5),
        lambda d: d.temperature,
        0.5,
    ),
    "CorrelatedRelaxedBernoulli": (
        lambda: CorrelatedRelaxedBernoulli(t([0, 1]), torch.eye(2, dtype=torch.long), 0.5),
        lambda d: d.temperature,
        0.5,
    ),
    "RebarRelaxation": (lambda: RebarRelaxation(t([0, 1]), 0.5), lambda d: d.lambd, 0.5),
    "RelaxedBernoulliST": (
        lambda: RelaxedBernoulliStraightThrough(t(1), logits=t([1, 2])),
        lambda d: d.temperature,
        1.0,
    ),
    "HardConcrete": (lambda: HardConcrete(t([1, 2])), lambda d: d.beta, 2 / 3),
    "GaussianRelaxedBernoulli": (
        lambda: GaussianRelaxedBernoulli(t([0, 1]), t(1)),
        lambda d: d.scale,
        1.0,
    ),
    "LogisticNormalSoftmax": (
        lambda: LogisticNormalSoftmax(t([1, 2]), t([1, 1])),
        lambda d: d.scale,
        1.0,
    ),
    "StochasticTimesSmooth": (
        lambda: StochasticTimesSmooth(logits=t([1, 2])),
        lambda d: d.logits,
        None,
    ),
    "StraightThroughBernoulli": (
        lambda: StraightThroughBernoulli(logits=t([True, False])),
        lambda d: d.logits,
        None,
    ),
    "OMTMultivariateNormal": (
        lambda: OMTMultivariateNormal(t([0, 1]), torch.eye(2, dtype=torch.long)),
        lambda d: d.loc,
        None,
    ),
}


@pytest.mark.parametrize("name", INT_CASES)
def test_integer_parameters_are_promoted_to_the_default_float_dtype(name):
    make, param, expected = INT_CASES[name]
    dist = make()
    value = param(dist)
    assert value.dtype == torch.get_default_dtype()
    if expected is not None:
        torch.testing.assert_close(value, torch.full_like(value, expected))
    x = dist.rsample((3,))
    assert x.dtype == torch.get_default_dtype() and torch.isfinite(x).all()


def test_complex_and_non_numeric_parameters_name_the_parameter():
    with pytest.raises(ValueError, match=r"`temperature`.*complex64"):
        RelaxedBernoulliStraightThrough(t(1.0 + 1j), logits=t([0.0]))
    with pytest.raises(ValueError, match=r"`scale`.*str"):
        GaussianRelaxedBernoulli(0.5, "wide")


# ----------------------------------------------------------------- 8. infinite parameters

INF_CASES = [
    ("temperature", lambda: RelaxedBernoulliStraightThrough(INF, logits=t([1.0]))),
    ("lambd", lambda: RebarRelaxation(t([0.3]), INF)),
    ("temperature", lambda: RebarRelaxation(temperature=INF, probs=t([0.3]))),
    ("beta", lambda: HardConcrete(t([1.0]), INF)),
    ("alpha", lambda: HardConcrete(t([INF]))),
    ("xi", lambda: HardConcrete(t([1.0]), xi=INF)),
    ("gamma", lambda: HardConcrete(t([1.0]), gamma=-INF)),
    ("scale", lambda: GaussianRelaxedBernoulli(t([0.5]), INF)),
    ("loc", lambda: GaussianRelaxedBernoulli(t([INF]), 1.0)),
    ("logits", lambda: StraightThroughBernoulli(logits=t([INF]))),
    ("logits", lambda: StochasticTimesSmooth(logits=t([-INF]))),
    ("logits", lambda: RelaxedBernoulliStraightThrough(1.0, logits=t([INF]))),
    ("logits", lambda: RelaxedOneHotCategoricalStraightThrough(1.0, logits=t([INF, 0.0]))),
    ("temperature", lambda: RelaxedOneHotCategoricalStraightThrough(INF, logits=t([1.0, 0.0]))),
    (
        "temperature_forward",
        lambda: DecoupledStraightThroughGumbelSoftmax(INF, 1.0, logits=t([0.0, 1])),
    ),
    ("tau", lambda: GumbelSoftmaxTopK(logits=t([1.0, 0.0]), tau=INF)),
    (
        "temperature",
        lambda: GeneralizedGumbelSoftmax(t([0.0, 1]), logits=t([1.0, 0]), temperature=INF),
    ),
    ("temperature", lambda: InvertibleGaussian(t([1.0]), t([1.0]), INF)),
    ("delta", lambda: InvertibleGaussian(t([1.0]), t([1.0]), 1.0, delta=INF)),
    ("loc", lambda: InvertibleGaussian(t([INF]), t([1.0]), 1.0)),
    ("loc", lambda: LogisticNormalSoftmax(t([INF, 0.0]), t([1.0, 1.0]))),
    ("scale", lambda: LogisticNormalSoftmax(t([0.0, 0.0]), t([INF, 1.0]))),
    ("tau", lambda: CorrelatedRelaxedBernoulli(t([0.3, 0.5]), torch.eye(2), INF)),
    ("logits", lambda: CorrelatedRelaxedBernoulli(logits=t([INF, 0.5]), R=torch.eye(2), tau=1.0)),
    ("loc", lambda: OMTMultivariateNormal(t([INF, 0.0]), torch.eye(2))),
    ("scale_tril", lambda: OMTMultivariateNormal(t([0.0, 0.0]), torch.eye(2) * INF)),
    (
        "control_var",
        lambda: AVFMultivariateNormal(t([0.0, 0.0]), torch.eye(2), torch.full((2, 1, 2), INF)),
    ),
]


@pytest.mark.parametrize(
    ("name", "make"), INF_CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(INF_CASES)]
)
def test_infinite_parameters_raise_naming_the_parameter(name, make):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        make()


def test_finite_constraint_is_stricter_than_torchs():
    """Planted: torch's ``positive`` lets an infinite temperature through; ours does not."""
    assert bool(constraints.positive.check(t(INF)))
    assert not bool(finite_positive.check(t(INF)))
    assert bool(finite_positive.check(t(0.05)))


def test_infinite_values_are_accepted_without_validation():
    """validate_args=False skips the checks, as in torch (no hidden cost)."""
    RelaxedBernoulliStraightThrough(INF, logits=t([1.0]), validate_args=False)


# -------------------------------------------------------------- 9. NaN in GGS values


def test_generalized_gumbel_rejects_nan_values():
    with pytest.raises(ValueError, match="`values` must be finite"):
        GeneralizedGumbelSoftmax(t([0.0, NAN]), logits=t([1.0, 0.0]))


# ------------------------------------------------------------------ 10. shape mismatches

SHAPE_CASES = [
    (lambda: RebarRelaxation(t([0.3, 0.7]), torch.ones(3)), ("theta", "(2,)", "lambd", "(3,)")),
    (
        lambda: RelaxedBernoulliStraightThrough(torch.ones(3), probs=t([0.3, 0.7])),
        ("probs", "temperature"),
    ),
    (lambda: GaussianRelaxedBernoulli(torch.ones(3), t([0.3, 0.7])), ("loc", "scale")),
    (lambda: HardConcrete(torch.ones(3), t([0.3, 0.7])), ("alpha", "beta")),
    (lambda: HardConcrete(torch.ones(3), temperature=t([0.3, 0.7])), ("alpha", "temperature")),
    (
        lambda: RelaxedOneHotCategoricalStraightThrough(torch.ones(3), logits=torch.zeros(2, 4)),
        ("logits", "temperature"),
    ),
    (
        lambda: DecoupledStraightThroughGumbelSoftmax(1.0, torch.ones(3), logits=torch.zeros(2, 4)),
        ("logits", "temperature_backward"),
    ),
    (lambda: GumbelSoftmaxTopK(logits=torch.zeros(2, 4), tau=torch.ones(3)), ("logits", "tau")),
    (
        lambda: GeneralizedGumbelSoftmax(torch.zeros(3, 4), logits=torch.zeros(2, 4)),
        ("logits", "values"),
    ),
    (
        lambda: CorrelatedRelaxedBernoulli(torch.full((2, 3), 0.5), torch.eye(3), torch.ones(3)),
        ("pi", "tau"),
    ),
    (lambda: InvertibleGaussian(torch.zeros(2, 3), torch.ones(3, 3), 1.0), ("loc", "scale")),
    (
        lambda: InvertibleGaussian(torch.zeros(2, 3), torch.ones(3), torch.ones(4)),
        ("loc", "temperature"),
    ),
    (lambda: LogisticNormalSoftmax(torch.zeros(2, 3), torch.ones(3, 3)), ("loc", "scale")),
]


@pytest.mark.parametrize(("make", "named"), SHAPE_CASES)
def test_shape_mismatch_names_parameters_and_shapes(make, named):
    with pytest.raises(ValueError, match="do not broadcast") as info:
        make()
    message = str(info.value)
    assert "must match the size" not in message
    for word in named:
        assert word in message, message


# ------------------------------------------------------------------- 11. zero categories


@pytest.mark.parametrize(
    "make",
    [
        lambda: RelaxedOneHotCategoricalStraightThrough(1.0, logits=torch.zeros(0)),
        lambda: DecoupledStraightThroughGumbelSoftmax(1.0, 1.0, logits=torch.zeros(0)),
        lambda: GumbelSoftmaxTopK(logits=torch.zeros(0)),
        lambda: GeneralizedGumbelSoftmax(torch.zeros(0), probs=torch.zeros(0)),
        lambda: RelaxedOneHotCategoricalStraightThrough(1.0, logits=torch.zeros(3, 0)),
    ],
)
def test_zero_categories_is_a_value_error(make):
    with pytest.raises(ValueError, match="at least one category"):
        make()


def test_np_with_no_values_or_values_outside_the_support():
    poisson = torch.distributions.Poisson(torch.tensor(2.0), validate_args=False)
    with pytest.raises(ValueError, match="at least one value"):
        GeneralizedGumbelSoftmaxNP(poisson, torch.arange(0.0))
    binomial = torch.distributions.Binomial(3, torch.tensor(0.5), validate_args=False)
    with pytest.raises(ValueError, match="zero mass"):
        GeneralizedGumbelSoftmaxNP(binomial, torch.arange(6.0))


# ----------------------------------------------------------------- 13. half precision

HALF = [
    lambda dt: GaussianRelaxedBernoulli(t([0.5, 2.0], dtype=dt), t(0.5, dtype=dt)),
    lambda dt: CorrelatedRelaxedBernoulli(
        t([0.3, 0.6], dtype=dt), t([[1.0, 0.5], [0.5, 1.0]], dtype=dt), 0.5
    ),
    lambda dt: RelaxedOneHotCategoricalStraightThrough(0.5, logits=torch.zeros(4, 300, dtype=dt)),
    lambda dt: GeneralizedGumbelSoftmax(
        torch.arange(400.0, dtype=dt), logits=torch.zeros(2, 400, dtype=dt)
    ),
    lambda dt: GumbelSoftmaxTopK(logits=torch.zeros(2, 30, dtype=dt), K=4, hard=False),
    lambda dt: InvertibleGaussian(torch.zeros(2, 3, dtype=dt), torch.ones(3, dtype=dt), 0.5),
    lambda dt: LogisticNormalSoftmax(torch.zeros(5, 12, dtype=dt), torch.ones(12, dtype=dt)),
    lambda dt: OMTMultivariateNormal(torch.zeros(3, dtype=dt), torch.eye(3, dtype=dt)),
    lambda dt: AVFMultivariateNormal(
        torch.zeros(3, dtype=dt), torch.eye(3, dtype=dt), torch.zeros(2, 1, 3, dtype=dt)
    ),
]


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("index", range(len(HALF)))
def test_half_precision_samples_are_in_their_own_support(dtype, index):
    torch.manual_seed(index)
    dist = HALF[index](dtype)
    x = dist.rsample((64,))
    assert x.dtype == dtype and torch.isfinite(x).all()
    if not isinstance(dist, GumbelSoftmaxTopK):
        lp = dist.log_prob(x.detach())
        assert lp.dtype == dtype and torch.isfinite(lp).all()
    dist._validate_sample(getattr(x, "_unquantize", x).detach())  # raises if outside


def test_planted_torch_simplex_rejects_half_samples():
    """torch's own simplex check (1e-6) fails half-precision softmax samples: why the support
    of the simplex classes is dtype-aware."""
    torch.manual_seed(0)
    dt = torch.float16
    x = InvertibleGaussian(torch.zeros(2, 3, dtype=dt), torch.ones(3, dtype=dt), 0.5).sample((64,))
    assert not bool(constraints.simplex.check(x).all())


# ----------------------------------------------------------- constructor vocabulary


def test_rebar_is_a_thin_binary_concrete_with_both_vocabularies():
    assert issubclass(RebarRelaxation, BinaryConcreteCore)
    assert issubclass(RelaxedBernoulliStraightThrough, BinaryConcreteCore)
    theta = t([0.3, 0.8])
    torch.manual_seed(0)
    a = RebarRelaxation(theta, 0.5).rsample((5,))
    torch.manual_seed(0)
    b = RebarRelaxation(temperature=0.5, probs=theta).rsample((5,))
    torch.manual_seed(0)
    c = RebarRelaxation(temperature=0.5, logits=torch.logit(theta)).rsample((5,))
    torch.manual_seed(0)
    st = RelaxedBernoulliStraightThrough(0.5, probs=theta).rsample((5,))._unquantize
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)
    torch.testing.assert_close(a, st)
    d = RebarRelaxation(theta, 0.5)
    assert d.theta is d.probs and d.lambd is d.temperature


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: RebarRelaxation(t([0.3]), 0.5, temperature=0.5),
            "`temperature` or its alias `lambd`",
        ),
        (lambda: RebarRelaxation(t([0.3]), 0.5, probs=t([0.3])), "`probs` or its alias `theta`"),
        (
            lambda: RebarRelaxation(t([0.3]), 0.5, logits=t([0.3])),
            "exactly one of `probs` or `logits`",
        ),
        (lambda: RebarRelaxation(lambd=0.5), "exactly one of `probs` or `logits`"),
        (lambda: RebarRelaxation(t([0.3])), "`temperature` \\(or its alias `lambd`\\) is required"),
        (
            lambda: CorrelatedRelaxedBernoulli(t([0.3]), torch.eye(1), 0.5, temperature=1.0),
            "alias `tau`",
        ),
        (lambda: CorrelatedRelaxedBernoulli(logits=t([0.3]), tau=0.5), "`R` is required"),
        (lambda: GumbelSoftmaxTopK(logits=t([0.0, 1]), tau=0.5, temperature=0.5), "alias `tau`"),
        (
            lambda: GeneralizedGumbelSoftmax(
                t([0.0, 1]), logits=t([0.0, 1]), tau=0.5, temperature=0.5
            ),
            "alias `tau`",
        ),
        (lambda: HardConcrete(t([1.0]), beta=0.5, temperature=0.5), "alias `temperature`"),
    ],
)
def test_vocabulary_conflicts_are_value_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_new_names_give_the_same_distributions_as_the_paper_names():
    r = t([[1.0, 0.3], [0.3, 1.0]])
    old = CorrelatedRelaxedBernoulli(t([0.3, 0.6]), r, 0.5)
    new = CorrelatedRelaxedBernoulli(logits=torch.logit(t([0.3, 0.6])), R=r, temperature=0.5)
    assert old.pi is old.probs and old.tau is old.temperature
    z = old.sample((4,))
    torch.testing.assert_close(old.log_prob(z), new.log_prob(z))
    for cls, kwargs in (
        (GumbelSoftmaxTopK, {"logits": t([0.0, 1.0, 2.0]), "K": 2}),
        (GeneralizedGumbelSoftmax, {"values": t([0.0, 1.0, 2.0]), "logits": t([0.0, 1.0, 2.0])}),
    ):
        a, b = cls(**kwargs, tau=0.3), cls(**kwargs, temperature=0.3)
        assert a.tau is a.temperature and float(b.tau) == pytest.approx(0.3)
    hc = HardConcrete(t([1.0, 2.0]), temperature=0.4)
    assert hc.temperature is hc.beta and float(hc.beta[0]) == pytest.approx(0.4)
    np_ = GeneralizedGumbelSoftmaxNP(
        torch.distributions.Poisson(t(2.0)), torch.arange(10.0), temperature=0.2
    )
    assert float(np_.temperature) == pytest.approx(0.2)


def test_alias_errors_under_validation_name_the_alias_used():
    with pytest.raises(ValueError, match=r"theta \(alias of `probs`\)"):
        RebarRelaxation(t([1.5]), 0.5, validate_args=True)
    with pytest.raises(ValueError, match=r"Expected parameter probs \("):
        RebarRelaxation(probs=t([1.5]), temperature=0.5, validate_args=True)
    with pytest.raises(ValueError, match=r"pi \(alias of `probs`\)"):
        CorrelatedRelaxedBernoulli(t([1.5, 0.2]), torch.eye(2), 0.5, validate_args=True)


def test_expand_and_pickle_keep_the_parametrization():
    for dist in (
        RebarRelaxation(temperature=0.5, logits=t([0.0, 1.0])),
        RelaxedBernoulliStraightThrough(0.5, probs=t([0.2, 0.7])),
        StochasticTimesSmooth(logits=t([0.0, 1.0])),
        CorrelatedRelaxedBernoulli(logits=t([0.0, 1.0]), R=torch.eye(2), temperature=0.5),
    ):
        wide = dist.expand((3, *dist.batch_shape))
        assert wide._given == dist._given and wide.batch_shape[0] == 3
        back = pickle.loads(pickle.dumps(dist))
        torch.testing.assert_close(back._param, dist._param)
