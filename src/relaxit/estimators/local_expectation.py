"""IndeCateR / local expectation gradients: each variable's values summed exactly, the others
sampled."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from relaxit.estimators._protocol import (
    BERNOULLI,
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
)
from relaxit.estimators.registry import register_estimator


@register_estimator
class IndeCateR(Estimator):
    r"""Sum over each variable's values with the other variables sampled (local expectations).

    De Smet, Sansone & Zuidberg Dos Martires (2023), "Differentiable sampling of categorical
    distributions using the CatLog-derivative trick" (IndeCateR), NeurIPS; for factorized
    distributions it is the local expectation gradient of Titsias & Lázaro-Gredilla (2015),
    "Local expectation gradients for black box variational inference", NeurIPS. For an item's
    joint variable of ``D`` independent variables ``b_1..b_D`` (``K`` values each, Bernoulli:
    ``K = 2``), the gradient w.r.t. variable ``d``'s logits only needs the expectation over
    ``b_d`` given the others, which is a sum over its ``K`` values:

    $$
    \nabla_{\phi_d} \mathbb E[f(b)] = \mathbb E_{b_{-d}}\Big[\sum_{k=1}^K
    \nabla_{\phi_d} q_d(k)\, f(b_{-d}, b_d = k)\Big],\qquad
    \hat g_{\phi_{d,j}} = \frac1n \sum_{i=1}^n q_{d,j}\Big(F^{(i)}_{d,j}
    - \sum_k q_{d,k} F^{(i)}_{d,k}\Big),
    $$

    with ``F^{(i)}_{d,k} = f(b^{(i)}`` with variable ``d`` set to ``k)`` and ``q_d`` the softmax
    of ``phi_d`` (for Bernoulli logits, ``g = sigma(phi)(1 - sigma(phi)) (F_1 - F_0)``).
    **Unbiased**, and never noisier than REINFORCE with the same samples: each variable's own
    randomness is integrated out. Exact when the item has one variable.

    **Cost**: ``f`` is called twice (once when the variables have one value each), first on the
    ``n_samples`` samples (``m`` and the loss value come from it), then, without a graph, on the
    substituted rows: ``n_samples * D`` rows for Bernoulli (each variable flipped; the sample
    itself gives the other value) and ``n_samples * D * (K - 1)`` for categorical (a variable's
    own sampled value gives ``f(b)``, already known), every item substituted at once. ``D`` is
    the number of variables per item (the batch dims beyond the ``m`` that ``f`` keeps, times
    the event dims for Bernoulli), so the cost grows with the joint variable's size. Both
    families; no hyper-parameters. The loss value is the mean of ``f`` over the ``n_samples``
    samples.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> IndeCateR()(lambda b: (b - 0.45).pow(2).sum(-1), dist, n_samples=2).backward()
        >>> logits.grad  # exact here: f is additive, sigma'(0) (F_1 - F_0) = 0.25 * 0.1
        tensor([0.0250, 0.0250, 0.0250])
    """

    name = "indecater"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = True
    evaluations_per_sample = None
    f_calls = 2
    paper = "De Smet, Sansone & Zuidberg Dos Martires 2023"
    min_samples = 1

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi.detach()
        b = problem.sample(n_samples)
        out, m = evaluate(f, b, problem)
        items = problem.batch_shape[:m]
        # the item's variables: the batch dims after the m items (and, for Bernoulli, events)
        var_shape = b.shape[1 + m :] if problem.is_bernoulli else b.shape[1 + m : -1]
        d = math.prod(var_shape)
        flat = b.reshape(n_samples, *items, d, -1)  # (n,) + items + (D, 1 or K)
        if problem.is_bernoulli:
            base = flat.unsqueeze(1)  # broadcast to (n, D) + items + (D, 1) by the where
            which = torch.eye(d, dtype=torch.bool, device=b.device)
            which = which.reshape(1, d, *(1,) * len(items), d, 1)
            rows = torch.where(which, 1 - base, base)
            values = self._evaluate(f, rows, b.shape, problem, n_samples, d, items)
            q = torch.sigmoid(phi)
            f_b = out.detach().reshape(n_samples, 1, *items)
            diff = self._one_minus_zero(f_b, values, flat.squeeze(-1).movedim(-1, 1))
            signal = diff.movedim(1, -1).reshape(n_samples, *b.shape[1:])
            grad = (q * (1 - q) * signal).mean(0)
        else:
            k = flat.shape[-1]
            if k == 1:  # one value per variable: nothing to sum, the gradient is 0
                return attach(out.mean(0), torch.zeros_like(phi), problem.phi, m)
            others = self._other_values(flat.argmax(-1, keepdim=True), k)
            value = F.one_hot(others, k).to(b.dtype).movedim((-3, -2), (1, 2)).unsqueeze(-2)
            which = torch.eye(d, dtype=torch.bool, device=b.device)
            which = which.reshape(1, d, 1, *(1,) * len(items), d, 1)
            # (n, D, K - 1) + items + (D, K), built once by broadcasting
            rows = torch.where(which, value, flat.unsqueeze(1).unsqueeze(1))
            values = self._evaluate(f, rows, b.shape, problem, n_samples, d * (k - 1), items)
            values = values.reshape(n_samples, d, k - 1, *items).movedim((1, 2), (-2, -1))
            f_b = out.detach().reshape(n_samples, *items, 1, 1).expand(*others.shape[:-1], k)
            values = f_b.scatter(-1, others, values)  # (n,) + items + (D, K)
            q = torch.softmax(phi, -1).reshape(*items, d, k)
            grad = self._softmax_jacobian_times(values, q).mean(0).reshape(phi.shape)
        return attach(out.mean(0), grad, problem.phi, m)

    @staticmethod
    def _other_values(sampled: Tensor, k: int) -> Tensor:
        """The ``K - 1`` values other than each variable's sampled one (whose ``F`` is
        ``f(b)``): ``j = i + [i >= sampled]``, ``(..., 1) -> (..., K - 1)``."""
        i = torch.arange(k - 1, device=sampled.device)
        return i + (i >= sampled)

    @staticmethod
    def _one_minus_zero(f_b: Tensor, f_flipped: Tensor, b: Tensor) -> Tensor:
        """``F_1 - F_0`` of every Bernoulli variable from ``f(b)`` and ``f`` with it flipped."""
        return (f_b - f_flipped) * (2 * b - 1)

    @staticmethod
    def _softmax_jacobian_times(values: Tensor, q: Tensor) -> Tensor:
        """``sum_k d q_k / d phi_j F_k = q_j (F_j - sum_k q_k F_k)`` over the last dim."""
        return q * (values - (q * values).sum(-1, keepdim=True))

    @staticmethod
    def _evaluate(
        f: Objective,
        rows: Tensor,
        shape: torch.Size,
        problem: Problem,
        n: int,
        per_sample: int,
        items: torch.Size,
    ) -> Tensor:
        """f on the substituted rows, ``(n, per_sample) + items``, without a graph."""
        with torch.no_grad():
            flat = rows.reshape(n * per_sample, *shape[1:])
            values, _ = evaluate(f, flat, problem)
        return values.reshape(n, per_sample, *items)
