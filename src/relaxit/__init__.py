"""relaxit: relaxations and gradient estimators for discrete random variables (PyTorch, Pyro)."""

__version__ = "0.1.0"
