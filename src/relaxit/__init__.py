"""relaxit: relaxations and gradient estimators for discrete random variables in PyTorch and Pyro."""

__version__ = "0.1.0"
