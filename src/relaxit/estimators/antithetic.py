"""Antithetic estimators for Bernoulli variables: ARM and DisARM."""

from __future__ import annotations

import torch
from torch import Tensor

from relaxit.estimators._protocol import (
    BERNOULLI,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
    right_pad,
    uniform,
)
from relaxit.estimators.registry import register_estimator


def _antithetic_pair(f: Objective, problem: Problem, n: int) -> tuple[Tensor, ...]:
    """u ~ U(0,1); b = 1[u < sigma(phi)], b~ = 1[1 - u < sigma(phi)] = 1[u > sigma(-phi)].

    Both are evaluated in one call of ``f`` on the ``2n`` samples ``cat([b, b~])``. Returns
    ``(u, b, b~, f(b), f(b~), mean of f over the 2n samples, m)``.
    """
    phi = problem.phi.detach()
    u = uniform((n, *phi.shape), phi)
    b = (u < torch.sigmoid(phi)).to(phi.dtype)
    b_anti = (u > torch.sigmoid(-phi)).to(phi.dtype)
    out, m = evaluate(f, torch.cat([b, b_anti]), problem)
    return u, b, b_anti, out[:n], out[n:], out.mean(0), m


@register_estimator
class ARM(Estimator):
    r"""Augment-REINFORCE-Merge estimator for Bernoulli variables.

    Yin & Zhou (2019), "ARM: Augment-REINFORCE-Merge gradient for stochastic binary networks",
    ICLR, eq. (5), in logit space: with ``u ~ U(0, 1)`` per variable (shared by the pair),

    $$
    \hat g_\phi = \Big(f\big(\mathbb 1[u > \sigma(-\phi)]\big)
    - f\big(\mathbb 1[u < \sigma(\phi)]\big)\Big)\Big(u - \tfrac12\Big),
    $$

    averaged over ``n_samples`` independent ``u``. **Unbiased.** **Cost**: two evaluations of
    ``f`` per sample (the antithetic pair), made in one call of ``f`` on ``2 * n_samples``
    samples stacked along dim 0. Bernoulli only (``TypeError`` otherwise); no hyper-parameters.
    The loss value is the mean of ``f`` over all ``2 * n_samples`` discrete samples (each is a
    Bernoulli(sigmoid(phi)) draw), shape ``batch_shape[:m]``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> ARM()(lambda b: (b - 0.45).pow(2).sum(-1), dist, n_samples=4).backward()
        >>> logits.grad.shape
        torch.Size([3])
    """

    name = "arm"
    families = (BERNOULLI,)
    unbiased = True
    evaluations_per_sample = 2
    paper = "Yin & Zhou 2019"
    min_samples = 1
    objective = "mean"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        u, _, _, f_b, f_anti, value, m = _antithetic_pair(f, problem, n_samples)
        diff = right_pad((f_anti - f_b).detach(), u.dim())
        return attach(value, (diff * (u - 0.5)).mean(0), problem.phi, m)


@register_estimator
class DisARM(Estimator):
    r"""DisARM: ARM Rao-Blackwellised over the antithetic pair, for Bernoulli variables.

    Dong, Mnih & Tucker (2020), "DisARM: An antithetic gradient estimator for binary latent
    variables", NeurIPS, eq. (7): with ``u ~ U(0, 1)``, ``b = 1[u < sigma(phi)]`` and
    ``b~ = 1[1 - u < sigma(phi)]``,

    $$
    \hat g_{\phi_i} = \tfrac12\big(f(b) - f(\tilde b)\big)\,(-1)^{\tilde b_i}\,
    \mathbb 1[b_i \ne \tilde b_i]\,\sigma(|\phi_i|),
    $$

    averaged over ``n_samples`` pairs. **Unbiased**, with variance never above ARM's.
    **Cost**: two evaluations of ``f`` per sample, in one call on ``2 * n_samples`` stacked
    samples. Bernoulli only; no hyper-parameters. The loss value is the mean of ``f`` over the
    ``2 * n_samples`` discrete samples, shape ``batch_shape[:m]``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> DisARM()(lambda b: (b - 0.45).pow(2).sum(-1), dist, n_samples=4).backward()
        >>> logits.grad.shape
        torch.Size([3])
    """

    name = "disarm"
    families = (BERNOULLI,)
    unbiased = True
    evaluations_per_sample = 2
    paper = "Dong, Mnih & Tucker 2020"
    min_samples = 1
    objective = "mean"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        _, b, b_anti, f_b, f_anti, value, m = _antithetic_pair(f, problem, n_samples)
        phi = problem.phi.detach()
        diff = right_pad((f_b - f_anti).detach(), b.dim())
        sign = 1 - 2 * b_anti  # (-1)^{b~}
        grad = 0.5 * diff * sign * (b != b_anti) * torch.sigmoid(phi.abs())
        return attach(value, grad.mean(0), problem.phi, m)
