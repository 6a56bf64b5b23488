"""Every registered distribution example passes every conformance check."""

import inspect

import pytest
from torch.distributions import Distribution

import relaxit.distributions
from relaxit.testing import ALL_CHECKS, ALPHA
from relaxit.testing.checks import elementary_test_count
from relaxit.testing.registry import EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_conformance(check, example):
    check(example)


def test_example_names_are_unique():
    names = [e.name for e in EXAMPLES]
    assert len(names) == len(set(names))


def test_false_alarm_budget():
    """Union bound: a correct library fails the statistical checks in < 1 run in 1000."""
    total = sum(elementary_test_count(e) for e in EXAMPLES)
    assert total * ALPHA < 1e-3, f"{total} statistical tests at level {ALPHA}"


def test_every_public_distribution_class_has_an_example():
    """Every class of relaxit's own in ``relaxit.distributions.__all__`` has an Example.

    The re-exported PyTorch/Pyro built-ins (``Bernoulli``, ``Normal``, ...) are not relaxit's.
    """
    registered = {e.dist_class for e in EXAMPLES}
    public = {getattr(relaxit.distributions, name) for name in relaxit.distributions.__all__}
    classes = {
        c
        for c in public
        if inspect.isclass(c)
        and issubclass(c, Distribution)
        and c.__module__.split(".")[0] == "relaxit"
    }
    assert len(classes) >= 15, sorted(c.__name__ for c in classes)
    missing = sorted(c.__name__ for c in classes if c not in registered)
    assert not missing, f"public distribution classes without a kit Example: {missing}"
