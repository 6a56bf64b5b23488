"""ZGR: the zero-temperature limit of Gumbel-Rao, half straight-through and half DARN."""

from __future__ import annotations

import torch
from torch import Tensor

from relaxit.estimators._protocol import BERNOULLI, CATEGORICAL, Problem
from relaxit.estimators.registry import register_estimator
from relaxit.estimators.relaxed import _PathwiseEstimator


@register_estimator
class ZGR(_PathwiseEstimator):
    r"""ZGR ("Gumbel-Rao at zero temperature").

    Shekhovtsov (2023), "Cold analysis of Rao-Blackwellized straight-through Gumbel-Softmax
    gradient estimator", ICML. As ``tau -> 0`` the Gumbel-Rao estimator tends to the average of
    the straight-through Jacobian and the DARN Jacobian (Gregor et al. 2014). ``f`` receives the
    sample ``b ~ p_phi`` carrying that Jacobian:

    $$
    x = b + d - \mathrm{sg}(d),\qquad
    d = \tfrac12\big(p + \mathrm{sg}(b - p)\,\log p_b\big),
    \qquad p = \mathrm{softmax}(\phi),
    $$

    i.e. $\partial x/\partial\phi = \tfrac12\big(\partial p/\partial\phi + (b - p)
    \nabla_\phi \log p_b^\top\big)$. For Bernoulli (the two-class case) this is
    $\partial x/\partial\phi = \tfrac12\,\sigma\big((1 - 2b)\,\phi\big)$, i.e.
    ``(1 - p) / 2`` at ``b = 1`` and ``p / 2`` at ``b = 0``.

    **Biased** in general, but **exact in expectation when ``f`` is a polynomial of degree at
    most 2 in each variable** (the trapezoid rule ``f(1) - f(0) = (f'(0) + f'(1)) / 2``; for one-hot
    variables likewise), where plain straight-through is exact only for linear ``f``. No
    hyper-parameters, no temperature; ``f`` must be differentiable. Its Jacobian equals
    `ReinMax`'s at ``temperature=1`` (Liu et al. 2023's: they differ by
    ``diag(b) - b b^T = 0`` for one-hot ``b``), so the two give the same gradient on the same
    draws; this class computes it without ReinMax's extra softmax. **Cost**: one evaluation of
    ``f`` per sample. The loss value is the mean of ``f`` at the discrete samples.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(4, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b * torch.arange(4.0)).sum(-1)
        >>> ZGR()(f, dist, n_samples=8).backward()
        >>> logits.grad.shape
        torch.Size([4])
    """

    name = "zgr"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = False
    evaluations_per_sample = 1
    paper = "Shekhovtsov 2023"
    min_samples = 1
    objective = "mean"

    def _sample(self, problem: Problem, n: int) -> Tensor:
        phi = problem.phi
        b = problem.sample(n)
        if problem.is_bernoulli:
            jacobian = 0.5 * torch.sigmoid((1 - 2 * b) * phi.detach())
            return b + jacobian * (phi - phi.detach())
        p = problem.probs(phi)
        log_p_b = (b * torch.log_softmax(phi, -1)).sum(-1, keepdim=True)
        d = 0.5 * (p + (b - p.detach()) * log_p_b)
        return b + (d - d.detach())
