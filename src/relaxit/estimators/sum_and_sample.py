"""Sum-and-sample: REINFORCE Rao-Blackwellized over the most probable categories (Liu et al.)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from relaxit.estimators._protocol import (
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
    uniform,
)
from relaxit.estimators.registry import register_estimator


@register_estimator
class SumAndSample(Estimator):
    r"""Sum-and-sample REINFORCE: the top categories summed exactly, the rest sampled.

    Liu, Regier, Tripuraneni, Jordan & McAuliffe (2019), "Rao-Blackwellized stochastic
    gradients for discrete distributions", ICML. ``C`` is the set of the ``n_summed`` most
    probable categories (chosen from ``phi``, so it is not random), ``q_R = 1 - q(C)`` the rest's
    mass, and ``z_1..z_n`` are drawn from ``q`` restricted to the rest (Gumbel-max with the
    summed categories masked):

    $$
    \hat g_\phi = \frac1n\sum_{i=1}^n\Big[\sum_{c\in C} q_c\,(f(c) - b_i)(e_c - q)
    + q_R\,\big(f(z_i) - b_i\big)(e_{z_i} - q)\Big],
    $$

    the paper's Rao-Blackwellization of REINFORCE (``e_z - q`` is the gradient of ``log q_z``
    w.r.t. the logits). Its mean is ``sum_z q_z f(z) (e_z - q)``, the exact gradient, for any
    baseline ``b_i`` independent of ``z_i`` (the bracket's score terms sum to zero in
    expectation). The baseline here is the Rao-Blackwellized estimate of ``E[f]`` from the
    other samples, ``b_i = sum_{c in C} q_c f(c) + q_R mean_{j != i} f(z_j)``, and with one
    sample ``b = mean_{c in C} q_c f(c) / q(C)``.

    **Joint variables are refused**: ``f`` must keep every batch dim but dims of size 1 (one
    categorical per item); summing over the most probable values of a joint variable of
    several categoricals is not implemented (``ValueError`` after ``f``'s first call).

    **Unbiased.** **Cost**: ``n_summed + n_samples`` evaluations of ``f`` per call (one call
    on all rows: the summed categories first). Categorical only; ``1 <= n_summed < K``
    (``ValueError`` otherwise). The loss value is the Rao-Blackwellized estimate
    ``sum_{c in C} q_c f(c) + q_R mean_i f(z_i)`` of ``E[f]`` (``q`` detached), shape
    ``batch_shape``; it also carries ``f``'s own gradient.

    Args:
        n_summed: number of most probable categories summed exactly.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(2, 5, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b @ torch.arange(5.0) - 1.2).pow(2)
        >>> SumAndSample(n_summed=2)(f, dist, n_samples=2).sum().backward()
        >>> logits.grad.shape
        torch.Size([2, 5])
    """

    name = "sum-and-sample"
    families = (CATEGORICAL,)
    unbiased = True
    evaluations_per_sample = None  # n_summed + n_samples rows per call
    paper = "Liu et al. 2019"
    min_samples = 1
    objective = "mean"
    joint_variables = False

    def __init__(self, n_summed: int = 1) -> None:
        super().__init__()
        if isinstance(n_summed, bool) or not isinstance(n_summed, int) or n_summed < 1:
            raise ValueError(f"n_summed must be an int >= 1, got {n_summed!r}")
        self.n_summed = n_summed

    def _describe(self) -> str:
        return f"SumAndSample(n_summed={self.n_summed})"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi.detach()
        k, s, n = phi.shape[-1], self.n_summed, n_samples
        if s >= k:
            raise ValueError(
                f"n_summed must be < the number of categories ({k}) for SumAndSample, got {s}"
            )
        log_q = torch.log_softmax(phi, -1)
        top = log_q.topk(s, -1).indices  # (…, s)
        log_rest = log_q.scatter(-1, top, float("-inf"))
        u = uniform((n, *phi.shape), phi)
        sampled = (log_rest - torch.log(-u.log())).argmax(-1)  # (n,) + batch
        b = F.one_hot(torch.cat([top.movedim(-1, 0), sampled]), k).to(phi.dtype)
        fb, m = evaluate(f, b, problem)
        if math.prod(problem.batch_shape[m:]) != 1:
            raise ValueError(
                "SumAndSample supports one categorical per item: f must return shape "
                f"(rows,) + dist.batch_shape = {(s + n, *problem.batch_shape)}, got "
                f"{tuple(fb.shape)} (a joint variable of several categoricals is not supported)"
            )
        f_all = fb.reshape(s + n, *problem.batch_shape)  # joint dims of size 1, if any
        f_top, f_smp = f_all[:s], f_all[s:]  # (s,) + batch, (n,) + batch
        q_top = log_q.gather(-1, top).exp().movedim(-1, 0)
        q_rest = log_rest.logsumexp(-1).exp()
        summed = (q_top * f_top.detach()).sum(0)
        if n > 1:
            others = (f_smp.detach().sum(0) - f_smp.detach()) / (n - 1)
            baseline = summed + q_rest * others  # (n,) + batch
        else:
            baseline = (summed / q_top.sum(0)).unsqueeze(0)
        q = log_q.exp()
        score_top = b[:s] - q  # (s,) + batch + (K,)
        weight_top = q_top * (f_top.detach() - baseline.mean(0))
        grad = (weight_top.unsqueeze(-1) * score_top).sum(0)
        weight_smp = q_rest * (f_smp.detach() - baseline)
        grad = grad + (weight_smp.unsqueeze(-1) * (b[s:] - q)).mean(0)
        value = ((q_top * f_top).sum(0) + q_rest * f_smp.mean(0)).reshape(fb.shape[1:])
        return attach(value, grad, problem.phi, m)
