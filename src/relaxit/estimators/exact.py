"""Exact expectation and gradient by enumerating the support (the ground truth)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from relaxit.estimators._protocol import (
    BERNOULLI,
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    evaluate,
    sum_joint,
)
from relaxit.estimators.registry import register_estimator


@register_estimator
class Exact(Estimator):
    r"""Exact ``E[f(b)]`` and its gradient, by enumerating every value of the joint variable.

    $$
    \mathbb E_{b\sim p_\phi}[f(b)] = \sum_{b} p_\phi(b) f(b),\qquad
    \nabla_\phi \mathbb E[f(b)] = \sum_b f(b)\,\nabla_\phi p_\phi(b).
    $$

    The joint variable of one item is everything after the first ``m`` batch dims (see the
    package docstring): ``D`` Bernoulli variables have ``2**D`` values, ``L`` categorical
    variables with ``K`` classes have ``K**L``. All items are enumerated at once (they share the
    enumeration index), ``chunk_size`` values at a time, so memory is bounded by ``chunk_size``
    samples; ``f`` is called once per chunk plus once on a single probe value (all zeros /
    class 0) that tells ``m``. ``log p(b)`` is computed in logit space
    (``b phi - softplus(phi)``, ``log_softmax``), so logits of +-50 are fine.

    The returned loss *is* the expectation (shape ``batch_shape[:m]``) and its gradient is exact
    (it also reaches ``f``'s own parameters). ``n_samples`` is validated but otherwise unused.

    Args:
        max_support: largest number of joint values per item that is enumerated; a larger
            support raises ``ValueError`` (default ``2**16``: 16 Bernoulli variables, or e.g. 4
            categorical variables with 16 classes).
        chunk_size: values evaluated per call of ``f``.

    Reference: the definition of the expectation; the ground truth of every estimator paper.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> loss = Exact()(lambda b: b.sum(-1), torch.distributions.Bernoulli(logits=logits), 1)
        >>> loss.backward()
        >>> print(round(loss.item(), 6), logits.grad)
        1.5 tensor([0.2500, 0.2500, 0.2500])
    """

    name = "exact"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = True
    exact = True
    evaluations_per_sample = None  # the support's size, not a multiple of n_samples
    paper = "exhaustive enumeration (the ground truth)"
    min_samples = 1
    objective = "mean"

    def __init__(self, max_support: int = 2**16, chunk_size: int = 1024) -> None:
        super().__init__()
        for name, value in (("max_support", max_support), ("chunk_size", chunk_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.max_support = max_support
        self.chunk_size = chunk_size

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi
        batch, event = problem.batch_shape, problem.event_shape
        sampler = problem.sampler
        n_values = sampler.n_values(event)
        first = torch.zeros((1, *batch), dtype=torch.long, device=phi.device)
        probe = sampler.encode(first, n_values).to(phi.dtype)  # every variable at value 0
        _, m = evaluate(f, probe, problem)
        joint = batch[m:]
        n_vars = math.prod(joint)
        support = n_values**n_vars
        if support > self.max_support:
            raise ValueError(
                f"Exact: the joint variable has {n_values}**{n_vars} = {support} values per item, "
                f"more than max_support={self.max_support}; raise max_support or use an estimator"
            )
        digits = n_values ** torch.arange(n_vars, device=phi.device)
        total = torch.zeros((), dtype=phi.dtype, device=phi.device)
        for start in range(0, support, self.chunk_size):
            index = torch.arange(start, min(start + self.chunk_size, support), device=phi.device)
            values = (index[:, None] // digits) % n_values  # (c, n_vars)
            b = sampler.encode(values, n_values).to(phi.dtype).reshape((-1, *joint, *event))
            b = b.reshape((b.shape[0],) + (1,) * m + b.shape[1:]).expand((-1, *batch, *event))
            fb, _ = evaluate(f, b, problem)
            log_p = sum_joint(problem.log_prob(b, phi), 1 + m)
            total = total + (log_p.exp() * fb).sum(0)
        return total
