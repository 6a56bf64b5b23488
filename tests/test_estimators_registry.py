"""The estimator registry: every estimator is registered, its declared facts are true, and bad
registrations are refused."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch.distributions import Bernoulli, OneHotCategorical

import relaxit.estimators as E
from relaxit.estimators import (
    BERNOULLI,
    CATEGORICAL,
    REINFORCE,
    Estimator,
    attach,
    evaluate,
    register_estimator,
    registry,
)


def make(family: str, logits: torch.Tensor):
    return Bernoulli(logits=logits) if family == BERNOULLI else OneHotCategorical(logits=logits)


def measured_evaluations(est: Estimator, family: str, n: int) -> float:
    """Rows of ``b`` that ``f`` receives per requested sample, counted (``f`` keeps the item dim
    for an estimator without ``joint_variables``)."""
    rows = []
    keep = 0 if est.joint_variables else 1

    def f(b):
        rows.append(b.shape[0])
        x = b.flatten(1 + keep)
        return (x * torch.arange(1.0, 1 + x.shape[-1])).sum(-1).sin()

    shape = (3, 6) if family == CATEGORICAL else (3,)
    est(f, make(family, torch.randn(shape, requires_grad=True)), n).sum().backward()
    return sum(rows) / n


def declared_facts_hold(build) -> list[str]:
    """The facts that estimators from ``build()`` declare and a measurement contradicts (empty
    when all hold). A fresh estimator per family (a RELAX control sizes itself at first use)."""
    wrong = []
    for family in (BERNOULLI, CATEGORICAL):
        est = build()
        if family not in est.families:
            with pytest.raises(TypeError):
                est(lambda b: b.sum(-1), make(family, torch.zeros(3, 2)), 2)
            continue
        for n in (est.min_samples, est.min_samples + 3):
            if est.evaluations_per_sample is not None:
                got = measured_evaluations(build(), family, n)
                if got != est.evaluations_per_sample:
                    wrong.append(f"{family}: {got} evaluations per sample at n={n}")
        if not est.joint_variables:
            joint = make(family, torch.zeros(3, 6))
            with pytest.raises(ValueError, match="joint variable"):
                est(lambda b: b.sum((-2, -1)), joint, est.min_samples)
        if est.min_samples > 1:
            with pytest.raises(ValueError, match="n_samples"):
                est(lambda b: b.sum(-1), make(family, torch.zeros(3, 2)), est.min_samples - 1)
    return wrong


@pytest.mark.parametrize("entry", registry.entries(), ids=lambda e: e.name)
def test_declared_facts_are_true(entry):
    torch.manual_seed(0)
    assert declared_facts_hold(entry.build) == []


class _AcceptsOne(REINFORCE):
    """Planted bug: the leave-one-out baseline claims ``min_samples = 2`` but never checks it."""

    def __init__(self) -> None:
        super().__init__(baseline="loo")

    def _check_n(self, n_samples: int) -> int:
        return n_samples


def test_a_wrong_declaration_is_caught():
    """Planted bugs: DisARM claiming one evaluation per sample, REINFORCE claiming a minimum
    number of samples that it does not enforce."""

    class LyingDisARM(E.DisARM):
        evaluations_per_sample = 1

    torch.manual_seed(0)
    assert declared_facts_hold(LyingDisARM) != []
    with pytest.raises(pytest.fail.Exception):
        declared_facts_hold(_AcceptsOne)


def test_every_public_estimator_class_is_registered_under_its_name():
    classes = {
        obj
        for obj in vars(E).values()
        if inspect.isclass(obj) and issubclass(obj, Estimator) and obj is not Estimator
    }
    assert classes, "no estimator classes found"
    for cls in classes:
        entry = registry.get(cls.name)
        assert entry.cls is cls and not entry.kwargs, cls.__name__
    assert {e.cls for e in registry.entries()} <= classes


def test_variants_and_queries():
    loo = registry.get("reinforce-loo")
    assert loo.cls is REINFORCE and dict(loo.kwargs) == {"baseline": "loo"}
    assert loo.min_samples == 2 and loo.config == "REINFORCE(baseline='loo')"
    est = loo.build()
    assert isinstance(est, REINFORCE) and est.baseline == "loo"
    assert loo.build(baseline="ema").baseline == "ema"
    assert loo.build() is not est  # a fresh instance per build (state such as EMA not shared)
    assert registry.get("st-gumbel-softmax").build().hard is True
    assert all(e.supports(BERNOULLI) for e in registry.entries(family=BERNOULLI))
    assert [
        e.name for e in registry.entries(family=CATEGORICAL) if e.name in ("arm", "disarm")
    ] == []
    assert all(e.unbiased for e in registry.entries(unbiased=True))
    assert [e.name for e in registry.entries(exact=True)] == ["exact"]
    assert list(registry.ESTIMATORS) == registry.names()
    with pytest.raises(ValueError, match=r"unknown estimator 'nope'.*reinforce"):
        registry.get("nope")


class _Valid(Estimator):
    name = "throwaway-valid"
    families = (BERNOULLI,)
    unbiased = True
    evaluations_per_sample = 1
    paper = "nobody 2026"
    min_samples = 1
    objective = "mean"

    def _loss(self, f, problem, n_samples):
        b = problem.sample(n_samples)
        fb, m = evaluate(f, b, problem)
        return attach(fb.mean(0), torch.zeros_like(problem.phi), problem.phi, m)


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("name", "Not Kebab", "kebab-case"),
        ("name", "", "kebab-case"),
        ("families", (), "families"),
        ("families", ("poisson",), "families"),
        ("unbiased", "yes", "unbiased"),
        ("evaluations_per_sample", 0, "evaluations_per_sample"),
        ("paper", "", "paper"),
        ("min_samples", 0, "min_samples"),
        ("objective", "median", "objective"),
    ],
)
def test_malformed_declarations_are_refused(attribute, value, message):
    bad = type("Bad", (_Valid,), {attribute: value})
    with pytest.raises(ValueError, match=message):
        register_estimator(bad)
    assert "throwaway-valid" not in registry.names()


def test_registration_decorator_variants_duplicates_and_unregister():
    try:
        assert register_estimator(_Valid) is _Valid
        assert registry.get("throwaway-valid").cls is _Valid
        with pytest.raises(ValueError, match="already registered"):
            register_estimator(_Valid)
        with pytest.raises(ValueError, match="already registered"):
            register_estimator(REINFORCE, name="reinforce-loo", baseline="loo")
        with pytest.raises(TypeError):  # constructor arguments the class rejects
            register_estimator(_Valid, name="throwaway-bad-kwargs", nonsense=1)
        assert "throwaway-bad-kwargs" not in registry.names()
        with pytest.raises(TypeError, match="subclass of Estimator"):
            register_estimator(torch.nn.Linear)

        @register_estimator(name="throwaway-decorated")
        class Decorated(_Valid):
            pass

        assert registry.get("throwaway-decorated").cls is Decorated
    finally:
        for name in ("throwaway-valid", "throwaway-decorated"):
            if name in registry.names():
                registry.unregister(name)
    assert not [n for n in registry.names() if n.startswith("throwaway")]
