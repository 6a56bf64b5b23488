"""Gradient estimators of ``grad E_{b ~ dist}[f(b)]`` for Bernoulli and one-hot ``b``."""
