"""Perturbed optimizers (Berthet et al. 2020): differentiable argmax of any solver."""

from __future__ import annotations

from collections.abc import Callable

import torch

from relaxit._sampling import gumbel_like

Solver = Callable[[torch.Tensor], torch.Tensor]

NOISES = ("gumbel", "normal")


def _check(sigma: float, n_samples: int, noise: str, event_dims: int, where: str) -> None:
    if not (isinstance(sigma, int | float) and not isinstance(sigma, bool) and sigma > 0):
        raise ValueError(f"{where}: `sigma` must be a positive number, got {sigma!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"{where}: `n_samples` must be a positive int, got {n_samples!r}")
    if noise not in NOISES:
        raise ValueError(f"{where}: `noise` must be one of {NOISES}, got {noise!r}")
    if isinstance(event_dims, bool) or not isinstance(event_dims, int) or event_dims < 0:
        raise ValueError(f"{where}: `event_dims` must be a non-negative int, got {event_dims!r}")


def _sample_noise(noise: str, like: torch.Tensor, n_samples: int) -> torch.Tensor:
    shape = torch.Size((n_samples, *like.shape))
    if noise == "gumbel":
        return gumbel_like(like, shape)
    return torch.randn(shape, dtype=like.dtype, device=like.device)


def _noise_score(noise: str, z: torch.Tensor) -> torch.Tensor:
    """``grad nu(z)`` with ``nu = -log density`` of the noise: the Jacobian estimator's weight."""
    if noise == "gumbel":  # nu(z) = z + exp(-z)
        return 1.0 - (-z).exp()
    return z  # nu(z) = z^2 / 2


def _solve(solver: Solver, theta: torch.Tensor, where: str) -> torch.Tensor:
    with torch.no_grad():
        y = solver(theta)
    if not torch.is_tensor(y) or y.shape != theta.shape:
        got = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
        raise ValueError(
            f"{where}: `solver` must map a tensor of shape {tuple(theta.shape)} to the same "
            f"shape, got {got}"
        )
    return y.to(theta.dtype)


class _Perturbed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, solver, sigma, n_samples, noise, event_dims):
        z = _sample_noise(noise, theta, n_samples)
        y = _solve(solver, theta.detach() + sigma * z, "perturbed")  # (S, *theta.shape)
        ctx.save_for_backward(y, _noise_score(noise, z))
        ctx.sigma, ctx.event_dims = sigma, event_dims
        return y.mean(0)

    @staticmethod
    def backward(ctx, grad_out):
        y, score = ctx.saved_tensors
        dims = tuple(range(-ctx.event_dims, 0))
        # <grad_out, y_s> per problem, times grad nu(Z_s) / sigma, averaged over the samples.
        inner = (grad_out * y).sum(dims, keepdim=True) if dims else grad_out * y
        return (inner * score).mean(0) / ctx.sigma, None, None, None, None, None


def perturbed(
    solver: Solver,
    sigma: float = 1.0,
    n_samples: int = 100,
    noise: str = "gumbel",
    event_dims: int = 1,
) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""Wrap an argmax solver into its differentiable perturbed expectation.

    Method: Q. Berthet, M. Blondel, O. Teboul, M. Cuturi, J.-P. Vert, F. Bach (2020),
    "Learning with Differentiable Perturbed Optimizers", NeurIPS. For a solver
    ``y*(theta) = argmax_{y in C} <y, theta>`` over a finite set ``C`` (one-hot vectors,
    k-hot vectors, paths, matchings), the perturbed optimizer is

    ``y_sigma(theta) = E_Z[y*(theta + sigma Z)]``   (their Eq. 1),

    smooth in ``theta``, with Jacobian (their Prop. 3.1)

    ``J y_sigma(theta) = E_Z[y*(theta + sigma Z) grad nu(Z)^T] / sigma``,

    ``nu = -log density`` of the noise: ``grad nu(z) = z`` for ``noise="normal"`` and
    ``1 - exp(-z)`` for ``noise="gumbel"``. The returned function computes the Monte-Carlo
    mean of ``n_samples`` solver calls forward and that Monte-Carlo Jacobian (transposed, times
    the upstream gradient) backward; both are unbiased for ``y_sigma`` and its Jacobian. With
    Gumbel noise, ``sigma = 1`` and the one-hot argmax, ``y_sigma = softmax(theta)``.

    Args:
        solver: ``theta (..., *event) -> y (..., *event)``, called once on a tensor with
            ``n_samples`` leading draws (shape ``(n_samples, *theta.shape)``), so it must
            accept extra leading dims; it is called without a graph.
        sigma: noise scale (> 0).
        n_samples: Monte-Carlo draws per call.
        noise: ``"gumbel"`` or ``"normal"``.
        event_dims: trailing dims of ``theta`` forming one problem (the others are
            independent problems; the Jacobian never mixes them).

    Returns:
        ``theta -> y_sigma(theta)``, same shape as ``theta``.

    Examples:
        >>> import torch
        >>> from relaxit.structured import argmax_one_hot
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> theta = torch.tensor([1.0, 0.0, -1.0], requires_grad=True)
        >>> y = perturbed(argmax_one_hot, n_samples=20000)(theta)  # about softmax(theta)
        >>> bool(torch.allclose(y, theta.softmax(-1), atol=0.02))
        True
    """
    _check(sigma, n_samples, noise, event_dims, "perturbed")

    def perturbed_solver(theta: torch.Tensor) -> torch.Tensor:
        if theta.dim() < event_dims:
            raise ValueError(f"perturbed: `theta` needs at least {event_dims} dims")
        return _Perturbed.apply(theta, solver, float(sigma), n_samples, noise, event_dims)

    return perturbed_solver


def fenchel_young_loss(
    solver: Solver,
    theta: torch.Tensor,
    target: torch.Tensor,
    sigma: float = 1.0,
    n_samples: int = 100,
    noise: str = "gumbel",
    event_dims: int = 1,
) -> torch.Tensor:
    r"""The Fenchel-Young loss of the perturbed optimizer (Berthet et al. 2020, Sec. 4).

    ``L(theta; y) = F_sigma(theta) + Omega(y) - <theta, y>``, with
    ``F_sigma(theta) = E_Z[max_{y' in C} <y', theta + sigma Z>]`` and ``Omega`` its Fenchel dual.
    ``L >= 0``, it is convex in ``theta`` and its gradient is ``y_sigma(theta) - y`` (their
    Prop. 4.1), so no Jacobian is needed. ``Omega(y)`` does not depend on ``theta`` and has no
    closed form; the value returned is ``F_sigma(theta) - <theta, y>`` (Monte-Carlo estimate),
    i.e. the loss up to that constant, and its gradient is the Monte-Carlo ``mean_s y*(theta +
    sigma Z_s) - y`` (Danskin: the gradient of the max is the maximizer).

    Args:
        solver: as in `perturbed`.
        theta: ``(*batch, *event)`` scores.
        target: the observed structure, same shape as ``theta``.
        sigma: noise scale, as in `perturbed`.
        n_samples: Monte-Carlo draws, as in `perturbed`.
        noise: ``"gumbel"`` or ``"normal"``, as in `perturbed`.
        event_dims: trailing dims of ``theta`` forming one problem, as in `perturbed`.

    Returns:
        ``batch`` (``theta.shape[:-event_dims]``) losses.
    """
    _check(sigma, n_samples, noise, event_dims, "fenchel_young_loss")
    if target.shape != theta.shape:
        raise ValueError(
            f"fenchel_young_loss: `target` shape {tuple(target.shape)} != `theta` shape "
            f"{tuple(theta.shape)}"
        )
    z = _sample_noise(noise, theta, n_samples)
    perturbed_theta = theta + sigma * z
    y = _solve(solver, perturbed_theta.detach(), "fenchel_young_loss")
    dims = tuple(range(-event_dims, 0))
    f_sigma = (y * perturbed_theta).sum(dims).mean(0) if dims else (y * perturbed_theta).mean(0)
    linear = (theta * target).sum(dims) if dims else theta * target
    return f_sigma - linear
