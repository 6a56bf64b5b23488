"""Every registered distribution example passes every conformance check."""

import pytest

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
