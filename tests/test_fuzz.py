"""The fuzz suite (issue 17): bad and extreme inputs over every registered distribution Example
and every registered estimator, so a new method is fuzzed without new tests.

Default profile: a few Hypothesis examples per method (seconds in CI); the ``slow`` tests run
the same properties with many more (``make test-slow``).
"""

from __future__ import annotations

import inspect
import math
from typing import ClassVar

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.distributions import Bernoulli, OneHotCategorical

from relaxit.distributions import RebarRelaxation
from relaxit.estimators import registry
from relaxit.testing import fuzz
from relaxit.testing.registry import EXAMPLES

OURS = [e for e in EXAMPLES if not e.name.startswith("torch.")]  # torch's own classes: not ours
DTYPES = (torch.float32, torch.float64)
QUICK = settings(
    max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
LONG = settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
seeds = st.integers(0, 2**31 - 1)


@pytest.fixture(autouse=True)
def _default_validation():
    """torch's default (validation on), whatever an earlier test in the process left."""
    before = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(True)
    yield
    torch.distributions.Distribution.set_default_validate_args(before)


# ------------------------------------------------------------------------- distributions


@pytest.mark.parametrize("example", OURS, ids=lambda e: e.name)
def test_bad_parameters_raise_naming_them(example):
    for name, what, bad in fuzz.bad_parameter_cases(example):
        message = fuzz.build_raises_naming(example, name, bad)
        assert message is not None, f"{example.name}: {name} = {what} was accepted"


@pytest.mark.parametrize("example", OURS, ids=lambda e: e.name)
def test_integer_parameters_are_promoted_or_named(example):
    for name in example.float_param_names:
        ints = fuzz.integer_version(example.params[name])
        if fuzz.build_raises_naming(example, name, ints) is None:
            dist = example.make(**{name: ints})
            x = dist.sample((4,))
            assert torch.isfinite(x.float()).all(), f"{example.name}: int {name}"
            assert getattr(dist, name).is_floating_point(), f"{example.name}: {name} stays int"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("example", OURS, ids=lambda e: e.name)
def test_half_precision_samples_in_their_support(example, dtype):
    params = example.build_params(dtype=dtype)
    if not all(torch.isfinite(params[k]).all() for k in example.float_param_names):
        pytest.skip("a parameter is beyond this dtype's range (an invalid parameter there)")
    torch.manual_seed(0)
    dist = example.make(dtype=dtype, validate_args=True)
    x = dist.rsample((16,)) if dist.has_rsample else dist.sample((16,))
    assert x.dtype in (dtype, torch.long) and torch.isfinite(x.float()).all()
    if example.law != "none":
        assert torch.isfinite(dist.log_prob(x).float()).all()  # validates x against the support


def _extremes(example, dtype, seed):
    fuzz.check_extremes_finite(example, dtype, seed)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("example", OURS, ids=lambda e: e.name)
@QUICK
@given(seed=seeds)
def test_extreme_valid_parameters_stay_finite(example, dtype, seed):
    _extremes(example, dtype, seed)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("example", OURS, ids=lambda e: e.name)
@LONG
@given(seed=seeds)
def test_extreme_valid_parameters_stay_finite_long(example, dtype, seed):
    _extremes(example, dtype, seed)


class _NoFiniteCheckRebar(RebarRelaxation):
    """Planted bug: torch's ``positive`` constraint (accepts inf) instead of the finite one."""

    arg_constraints: ClassVar[dict] = {
        **RebarRelaxation.arg_constraints,
        "lambd": torch.distributions.constraints.positive,
        "temperature": torch.distributions.constraints.positive,
    }


def test_planted_bugs_are_caught_by_the_fuzz_checks():
    (rebar,) = [e for e in OURS if e.name == "RebarRelaxation/batched"]
    planted = type(rebar)(**{**rebar.__dict__, "dist_class": _NoFiniteCheckRebar})
    found = [
        what
        for name, what, bad in fuzz.bad_parameter_cases(planted)
        if fuzz.build_raises_naming(planted, name, bad) is None
    ]
    assert found == ["inf"]  # lambd = inf accepted: the fuzz flags it

    # A log_prob that is NaN at exact 0/1 (the pre-fix density) fails the extreme check.
    class NaNAtEdges(RebarRelaxation):
        def log_prob(self, value):
            return super().log_prob(value) + torch.where((value == 0) | (value == 1), math.nan, 0.0)

    edge = type(rebar)(**{**rebar.__dict__, "dist_class": NaNAtEdges})
    failures = []
    for seed in range(20):
        try:
            fuzz.check_extremes_finite(edge, torch.float32, seed)
        except AssertionError as err:
            failures.append(str(err))
    assert failures and all("non-finite log_prob" in f for f in failures)


# ---------------------------------------------------------------------------- estimators

ENTRIES = [(entry, family) for entry in registry.entries() for family in entry.families]


def _dist(family, logits):
    if family == "bernoulli":
        return Bernoulli(logits=logits, validate_args=False)
    return OneHotCategorical(logits=logits, validate_args=False)


def _estimate(entry, family, logits, n=None):
    est = entry.build()
    weights = torch.linspace(-1.0, 2.0, logits.shape[-1], dtype=logits.dtype)
    n = n or max(4, entry.min_samples)
    loss = est(lambda b: (b * weights).sum(-1), _dist(family, logits), n)
    return loss


def _check_estimator(entry, family, dtype, seed, masked):
    torch.manual_seed(seed)
    logits = fuzz.extreme_logits(family, dtype, seed, masked).requires_grad_(True)
    where = f"{entry.name}/{family} ({dtype}, seed {seed}, logits {logits.tolist()})"
    loss = _estimate(entry, family, logits)
    assert torch.isfinite(loss).all(), f"{where}: loss {loss}"
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all(), f"{where}: grad {logits.grad}"
    masked_at = torch.isinf(logits.detach())
    assert (logits.grad[masked_at] == 0).all(), f"{where}: masked grad {logits.grad}"


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("entry", "family"), ENTRIES, ids=lambda x: getattr(x, "name", x))
@QUICK
@given(seed=seeds, masked=st.booleans())
def test_estimators_at_extreme_and_masked_logits_stay_finite(entry, family, dtype, seed, masked):
    _check_estimator(entry, family, dtype, seed, masked)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(("entry", "family"), ENTRIES, ids=lambda x: getattr(x, "name", x))
@LONG
@given(seed=seeds, masked=st.booleans())
def test_estimators_at_extreme_and_masked_logits_stay_finite_long(
    entry, family, dtype, seed, masked
):
    _check_estimator(entry, family, dtype, seed, masked)


@pytest.mark.parametrize(("entry", "family"), ENTRIES, ids=lambda x: getattr(x, "name", x))
def test_estimator_bad_calls_are_clear_errors(entry, family):
    logits = torch.zeros(2, 3, requires_grad=True)
    est = entry.build()
    f = lambda b: b.sum(-1)  # noqa: E731
    for n in (0, -1, 2.5, True, "4"):
        with pytest.raises(ValueError, match="n_samples"):
            est(f, _dist(family, logits), n)
    if entry.min_samples > 1:
        with pytest.raises(ValueError, match="n_samples"):
            est(f, _dist(family, logits), entry.min_samples - 1)
    n = max(2, entry.min_samples)
    with pytest.raises(ValueError, match="f must return"):
        est(lambda b: b.sum(-1).sum(-1, keepdim=True).expand(-1, 5), _dist(family, logits), n)
    with pytest.raises(ValueError, match="floating"):
        est(lambda b: b.sum(-1).long(), _dist(family, logits), n)
    with pytest.raises(ValueError, match=r"(?i)nan"):
        est(f, _dist(family, torch.full((2, 3), math.nan)), n)
    other = [k for k in ("bernoulli", "categorical") if k not in entry.families]
    for family_ in other:
        with pytest.raises(TypeError, match="supports"):
            est(f, _dist(family_, logits), n)


@pytest.mark.parametrize("cls", sorted({e.cls for e in registry.entries()}, key=str))
def test_estimator_constructor_errors_name_the_argument(cls):
    for name, p in list(inspect.signature(cls.__init__).parameters.items())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        for bad in ("a", math.nan, math.inf):
            with pytest.raises((ValueError, TypeError), match=name):
                cls(**{name: bad})
