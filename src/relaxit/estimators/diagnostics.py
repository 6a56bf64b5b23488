"""Per-run gradients of an estimator, for tests and benchmarks (bias and variance vs ``Exact``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.distributions import Distribution

from relaxit.estimators._protocol import Estimator, Objective


def gradient_samples(
    est: Estimator,
    f: Objective,
    make_dist: Callable[[Tensor], Distribution],
    params: Tensor,
    n_samples: int,
    n_runs: int,
    vectorize: bool = True,
) -> Tensor:
    """``n_runs`` independent gradient estimates of ``sum(E[f(b)])`` w.r.t. ``params``.

    Each run builds ``dist = make_dist(params)``, calls ``est(f, dist, n_samples)`` and
    backpropagates ``loss.sum()``. Returns a tensor of shape ``(n_runs,) + params.shape`` in
    ``params``'s dtype (``params`` itself is not modified). The mean over runs estimates the
    expected gradient (compare with ``gradient_samples(Exact(), ..., n_runs=1)[0]``); the
    variance over runs is the estimator's variance at this ``n_samples``.

    With ``vectorize=True`` (default) all runs are made in one call: ``params`` is repeated
    along a new leading dim of size ``n_runs``, which ``f`` must treat as an extra item dim (it
    is called with ``b`` of shape ``(S, n_runs) + batch_shape + event_shape`` and must return
    ``(S, n_runs) + batch_shape[:m]``) -- e.g. an ``f`` that reduces over trailing dims only.
    Runs are then independent because every estimator treats items independently. Stateful
    estimators (``REINFORCE(baseline="ema")``) see one call. With ``vectorize=False`` the runs
    are made one after another (any ``f``). An ``f`` that reduces the run dim under
    ``vectorize=True`` (e.g. ``b.sum((1, 2))``, or ``.sum(-1)`` of a scalar-batch Bernoulli)
    would mix the runs: it raises ``ValueError``. Integer ``params`` raise ``ValueError``.

    Examples:
        >>> import torch
        >>> from relaxit.estimators import DisARM
        >>> make = lambda x: torch.distributions.Bernoulli(logits=x)
        >>> f = lambda b: (b - 0.45).pow(2).sum(-1)
        >>> gradient_samples(DisARM(), f, make, torch.zeros(3), n_samples=2, n_runs=100).shape
        torch.Size([100, 3])
    """
    if isinstance(n_runs, bool) or not isinstance(n_runs, int) or n_runs < 1:
        raise ValueError(f"n_runs must be an int >= 1, got {n_runs!r}")
    if not torch.is_tensor(params) or not params.is_floating_point():
        got = params.dtype if torch.is_tensor(params) else type(params).__name__
        raise ValueError(f"params must be a floating-point tensor, got {got}")
    base = params.detach()
    if vectorize:
        x = base.unsqueeze(0).repeat((n_runs,) + (1,) * base.dim()).requires_grad_(True)
        est(_keeping_run_dim(f, n_runs), make_dist(x), n_samples).sum().backward()
        return x.grad
    grads = []
    for _ in range(n_runs):
        x = base.clone().requires_grad_(True)
        est(f, make_dist(x), n_samples).sum().backward()
        grads.append(x.grad)
    return torch.stack(grads)


def _keeping_run_dim(f: Objective, n_runs: int) -> Objective:
    """``f``, checked to keep the run dim (dim 1) that ``vectorize=True`` adds."""

    def checked(b: Tensor) -> Tensor:
        out = f(b)
        if not isinstance(out, Tensor) or out.dim() < 2 or out.shape[1] != n_runs:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(
                "gradient_samples(vectorize=True): f must keep the run dim, returning "
                f"(S, n_runs={n_runs}, ...) for b of shape {tuple(b.shape)}; it returned {got}, "
                "which mixes the runs. Reduce trailing dims only, or pass vectorize=False"
            )
        return out

    return checked
