"""Every registered distribution example passes every conformance check."""

import pytest

from relaxit.testing import ALL_CHECKS
from relaxit.testing.registry import EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.name)
@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__.removeprefix("check_"))
def test_conformance(check, example):
    check(example)


def test_example_names_are_unique():
    names = [e.name for e in EXAMPLES]
    assert len(names) == len(set(names))
