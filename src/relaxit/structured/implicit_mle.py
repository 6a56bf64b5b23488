"""Implicit Maximum Likelihood Estimation (I-MLE, Niepert et al. 2021) around an argmax solver."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from relaxit._sampling import gumbel_like
from relaxit.structured.perturbation import Solver, _solve

NOISES = ("sum-of-gamma", "gumbel", "none")

Target = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sum_of_gamma_noise(
    shape: torch.Size | tuple[int, ...],
    k: int,
    n_iterations: int = 10,
    like: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Sum-of-Gamma noise, the perturbation I-MLE uses for k-subsets (Niepert et al. 2021).

    ``eps = (sum_{i=1}^{s} Gamma(shape=1/k, rate=i/k) - log s) / k`` (their Thm. 1, with
    ``s = n_iterations``): the sum of k independent copies is ``sum_i Exp(rate i) - log s``,
    which tends to a standard Gumbel as ``s -> inf``. Perturbing each item's score by ``eps``
    and taking the top k then approximates sampling from the k-subset law ``exp(<theta, z>)``
    better than perturbing by Gumbel noise.

    Args:
        shape: output shape.
        k: subset size (positive int).
        n_iterations: number of Gamma terms ``s``.
        like: a tensor whose dtype and device the noise takes (default: float32 on the CPU).

    Returns:
        ``shape`` noise.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"sum_of_gamma_noise: `k` must be a positive int, got {k!r}")
    if isinstance(n_iterations, bool) or not isinstance(n_iterations, int) or n_iterations < 1:
        raise ValueError(
            f"sum_of_gamma_noise: `n_iterations` must be a positive int, got {n_iterations!r}"
        )
    like = torch.empty(()) if like is None else like
    shape = torch.Size(shape)
    concentration = torch.full(shape, 1.0 / k, dtype=like.dtype, device=like.device)
    standard = torch.distributions.Gamma(concentration, torch.ones_like(concentration))
    total = torch.zeros_like(concentration)
    for i in range(1, n_iterations + 1):
        # Gamma(1/k, rate i/k) = standard Gamma(1/k) * k / i.
        total = total + standard.sample() * (k / i)
    return (total - math.log(n_iterations)) / k


def _perturbation_target(lambda_: float) -> Target:
    def target(theta: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return theta - lambda_ * grad

    return target


class _IMLE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, solver, noise, target):
        y = _solve(solver, theta.detach() + noise, "imle")  # (S, *theta.shape)
        ctx.save_for_backward(theta.detach(), noise, y)
        ctx.solver, ctx.target = solver, target
        return y.mean(0)

    @staticmethod
    def backward(ctx, grad_out):
        theta, noise, y = ctx.saved_tensors
        theta_prime = ctx.target(theta, grad_out)
        y_prime = _solve(ctx.solver, theta_prime + noise, "imle")
        return (y - y_prime).mean(0), None, None, None


def imle(
    solver: Solver,
    noise: str = "sum-of-gamma",
    k: int | None = None,
    n_samples: int = 1,
    noise_temperature: float = 1.0,
    lambda_: float = 10.0,
    target: Target | None = None,
    n_iterations: int = 10,
) -> Callable[[torch.Tensor], torch.Tensor]:
    r"""Wrap a MAP (argmax) solver so that gradients flow through its discrete output (I-MLE).

    Method: M. Niepert, P. Minervini, L. Franceschi (2021), "Implicit MLE: Backpropagating
    Through Discrete Exponential Family Distributions", NeurIPS. The output is a
    perturb-and-MAP sample of ``p(z; theta) ∝ exp(<z, theta>)``,

    ``z = MAP(theta + eps)``  (mean over ``n_samples`` draws; ``eps`` = noise times
    ``noise_temperature``),

    and the backward pass builds the *target distribution* ``q(z; theta')`` with
    ``theta' = theta - lambda dL/dz`` (perturbation-based implicit differentiation, their
    Eq. 10) and returns

    ``dL/dtheta ≈ mu_hat(theta) - mu_hat(theta') = mean_s [MAP(theta + eps_s) -
    MAP(theta' + eps_s)]``

    with the *same* noise draws for both (their Alg. 1-2, as in the paper: not divided by
    ``lambda``; for small ``lambda`` it is about ``lambda`` times a finite-difference Jacobian-
    vector product, so ``lambda`` acts like a step size). ``target`` replaces the map
    ``(theta, dL/dz) -> theta'``.

    Noise: ``"sum-of-gamma"`` (`sum_of_gamma_noise`, for k-subset solvers; needs ``k``),
    ``"gumbel"`` (exact perturb-and-MAP for one-hot argmax), or ``"none"``.

    Args:
        solver: ``theta (..., *event) -> z`` of the same shape, called on ``(n_samples,
            *theta.shape)`` tensors without a graph.
        noise: ``"sum-of-gamma"``, ``"gumbel"`` or ``"none"``.
        k: subset size for the sum-of-gamma noise.
        n_samples: perturb-and-MAP draws per call.
        noise_temperature: scale ``tau`` of the noise.
        lambda_: the target distribution's step ``lambda`` (> 0).
        target: optional ``(theta, dL/dz) -> theta'``.
        n_iterations: Gamma terms of the sum-of-gamma noise.

    Returns:
        ``theta -> z``, same shape as ``theta``.

    Examples:
        >>> import torch
        >>> from relaxit.structured import top_k_k_hot
        >>> select = imle(top_k_k_hot(2), noise="sum-of-gamma", k=2)
        >>> theta = torch.randn(3, 5, requires_grad=True)
        >>> z = select(theta)
        >>> z.sum(-1)
        tensor([2., 2., 2.], grad_fn=<SumBackward1>)
        >>> (z * torch.randn(3, 5)).sum().backward()
        >>> theta.grad.shape
        torch.Size([3, 5])
    """
    if noise not in NOISES:
        raise ValueError(f"imle: `noise` must be one of {NOISES}, got {noise!r}")
    if noise == "sum-of-gamma" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"imle: noise='sum-of-gamma' needs `k`, a positive int; got {k!r}")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"imle: `n_samples` must be a positive int, got {n_samples!r}")
    for name, value in (("noise_temperature", noise_temperature), ("lambda_", lambda_)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"imle: `{name}` must be a positive number, got {value!r}")
    target_map = _perturbation_target(float(lambda_)) if target is None else target

    def imle_solver(theta: torch.Tensor) -> torch.Tensor:
        shape = torch.Size((n_samples, *theta.shape))
        if noise == "sum-of-gamma":
            eps = sum_of_gamma_noise(shape, k, n_iterations, like=theta)
        elif noise == "gumbel":
            eps = gumbel_like(theta, shape)
        else:
            eps = theta.new_zeros(shape)
        return _IMLE.apply(theta, solver, noise_temperature * eps, target_map)

    return imle_solver
