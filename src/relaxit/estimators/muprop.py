"""MuProp: REINFORCE with a first-order Taylor control variate at the mean."""

from __future__ import annotations

import torch
from torch import Tensor

from relaxit.estimators._protocol import (
    BERNOULLI,
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
    right_pad,
    sum_joint,
)
from relaxit.estimators.registry import register_estimator


@register_estimator
class MuProp(Estimator):
    r"""MuProp: the likelihood-ratio estimator with a Taylor-expansion control variate.

    Gu, Levine, Sutskever & Mnih (2016), "MuProp: Unbiased backpropagation for stochastic
    neural networks", ICLR, section 3. With ``b ~ p_phi``, the mean ``mu = E[b]``
    (``sigma(phi)`` or ``softmax(phi)``, the "mean-field" input) and ``f'(mu)`` the gradient of
    ``f`` at ``mu`` (held fixed), the control variate is the first-order Taylor expansion of
    ``f`` around ``mu``, whose expectation is known in closed form:

    $$
    \hat g = \frac1n\sum_{i=1}^n \big(f(b_i) - f(\mu) - f'(\mu)^\top(b_i - \mu)\big)
    \nabla_\phi \log p_\phi(b_i) \;+\; \Big(\frac{\partial \mu}{\partial \phi}\Big)^{\!\top}
    f'(\mu),
    $$

    because $\mathbb E[f'(\mu)^\top (b - \mu)\,\nabla_\phi \log p_\phi(b)]
    = (\partial\mu/\partial\phi)^\top f'(\mu)$. The inner products run over the joint variable
    of each item.

    **Unbiased** for every ``f`` (``f(mu)`` and ``f'(mu)`` do not depend on the samples), with
    low variance when ``f`` is close to linear on the support. ``f`` **must accept relaxed
    inputs**: it is evaluated at the non-binary point ``mu`` (and differentiated there by
    autograd); an ``f`` that is not differentiable at ``mu`` (its output there has no graph to
    its input) gets slope ``0``, and MuProp is then REINFORCE with the baseline ``f(mu)``.
    **Cost**: two evaluations of ``f``-rows: ``f`` is called once on ``n_samples + 1`` rows
    (the samples and ``mu``) plus one backward pass through the ``mu`` row. The loss value is
    the mean of ``f`` over the ``n_samples`` discrete samples (it also carries ``f``'s own
    gradient, from those samples only).

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> MuProp()(lambda b: (b - 0.45).pow(2).sum(-1), dist, n_samples=4).backward()
        >>> logits.grad.shape
        torch.Size([3])
    """

    name = "muprop"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = True
    evaluations_per_sample = None  # n_samples + 1 rows: the samples and the mean
    paper = "Gu, Levine, Sutskever & Mnih 2016"
    min_samples = 1
    objective = "mean"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi
        b = problem.sample(n_samples)
        with torch.enable_grad():
            mu = problem.probs(phi.detach()).requires_grad_(True)
            out, m = evaluate(f, torch.cat([b, mu.unsqueeze(0)]), problem)
            f_mu = out[n_samples:]
            slope = torch.zeros_like(mu)
            if f_mu.requires_grad:
                (used,) = torch.autograd.grad(f_mu.sum(), mu, retain_graph=True, allow_unused=True)
                slope = slope if used is None else used
        f_b = out[:n_samples]
        mu = mu.detach()
        taylor = f_mu.detach() + sum_joint(slope * (b - mu), 1 + m)
        weight = right_pad(f_b.detach() - taylor, b.dim())
        grad = (weight * problem.score(b, phi.detach())).mean(0)
        return attach(f_b.mean(0), grad + self._mean_term(problem, slope), phi, m)

    @staticmethod
    def _mean_term(problem: Problem, slope: Tensor) -> Tensor:
        """``(d mu / d phi)^T f'(mu)``: ``sigma'(phi) f'(mu)`` or the softmax Jacobian's product."""
        phi = problem.phi.detach()
        if problem.family == CATEGORICAL:
            mu = torch.softmax(phi, -1)
            return mu * (slope - (mu * slope).sum(-1, keepdim=True))
        return torch.sigmoid(phi) * torch.sigmoid(-phi) * slope
