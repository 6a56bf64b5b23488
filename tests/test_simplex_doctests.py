"""The docstring examples of the simplex and Gaussian-estimator modules run and print what they
say."""

import doctest
import importlib

import pytest

MODULES = [
    "relaxit.distributions.invertible_gaussian",
    "relaxit.distributions.logistic_normal",
    "relaxit.distributions.approx",
    "relaxit.distributions.omt_avf",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, extraglobs={"torch": importlib.import_module("torch")})
    assert result.attempted > 0 and result.failed == 0, result
