"""Ready-made argmax solvers for `perturbed` and `imle`: ``theta (..., n) -> y (..., n)``."""

from __future__ import annotations

from collections.abc import Callable

import torch


def argmax_one_hot(theta: torch.Tensor) -> torch.Tensor:
    """``argmax_{y in one-hot vectors} <y, theta>``: the one-hot of the largest entry.

    Args:
        theta: ``(..., n)`` scores.

    Returns:
        ``(..., n)`` one-hot, dtype and device of ``theta``.
    """
    return torch.zeros_like(theta).scatter_(-1, theta.argmax(-1, keepdim=True), 1.0)


def top_k_k_hot(k: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """A solver for ``argmax_{y in k-hot vectors} <y, theta>``: the k-hot of the k largest.

    Args:
        k: subset size, a positive int.

    Returns:
        ``theta (..., n) -> (..., n)`` k-hot, dtype and device of ``theta``.

    Examples:
        >>> top_k_k_hot(2)(torch.tensor([0.1, 3.0, -1.0, 2.0]))
        tensor([0., 1., 0., 1.])
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k_k_hot: `k` must be a positive int, got {k!r}")

    def solver(theta: torch.Tensor) -> torch.Tensor:
        if theta.shape[-1] < k:
            raise ValueError(f"top_k_k_hot: `k`={k} exceeds the {theta.shape[-1]} items")
        return torch.zeros_like(theta).scatter_(-1, theta.topk(k, -1).indices, 1.0)

    return solver
