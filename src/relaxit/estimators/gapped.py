"""Gapped straight-through (GST): ST-Gumbel-Softmax with a deterministic, gapped perturbation."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from relaxit.estimators._protocol import BERNOULLI, CATEGORICAL, Problem, check_temperature
from relaxit.estimators.registry import register_estimator
from relaxit.estimators.relaxed import _Tempered


def gapped_logits(problem: Problem, phi: Tensor, b: Tensor, gap: float) -> Tensor:
    r"""``phi + m(phi, b)``: the logits moved so that ``b`` is their argmax by at least ``gap``.

    Fan et al. (2022), section 4: for a one-hot ``b`` (sampled class ``d``) and logits
    ``theta``, ``m = m_1 - m_2`` with

    $$
    m_{1,k} = b_k\,(\max_j \theta_j - \theta_k),\qquad
    m_{2,k} = (1 - b_k)\,\mathrm{ReLU}(\theta_k - \max_j \theta_j + \mathrm{gap}),
    $$

    so ``theta + m`` has its maximum ``max_j theta_j`` at ``d`` and every other entry at most
    ``max_j theta_j - gap`` (entries already that low are not moved). For Bernoulli (two classes
    with logits ``(0, phi)``) the logit *difference* becomes ``max(phi, gap)`` when ``b = 1``
    and ``min(phi, -gap)`` when ``b = 0``. ``m`` is a function of ``phi``'s *value*: it is
    returned detached, so ``d (phi + m) / d phi = I``. Shape of ``b``.
    """
    phi = phi.detach()
    if problem.is_bernoulli:
        return torch.where(b > 0, phi.clamp_min(gap), phi.clamp_max(-gap))
    top = phi.max(-1, keepdim=True).values
    return torch.where(b > 0, top, phi - F.relu(phi - top + gap))


@register_estimator
class GST(_Tempered):
    r"""Gapped straight-through estimator (GST-``gap``).

    Fan, Chi, Rudnicky & Ramadge (2022), "Training discrete deep generative models via gapped
    straight-through estimator", ICML, section 4. ST-Gumbel-Softmax feeds ``f`` the discrete
    sample with the gradient of ``softmax((phi + g) / tau)``; GST replaces the random Gumbel
    noise ``g`` by a deterministic perturbation ``m(phi, b)`` of the sampled ``b ~ p_phi``
    (`gapped_logits`): it keeps the properties the paper finds essential in
    ST-Gumbel-Softmax -- the perturbed logits' argmax is ``b`` (consistency), the sampled logit
    beats the others by at least ``gap`` (a strict gap), and the perturbation carries no
    gradient -- without resampling noise. ``f`` receives

    $$
    x = b + y - \mathrm{sg}(y),\qquad
    y = \mathrm{softmax}\big((\phi + \mathrm{sg}[m(\phi, b)])/\tau\big)
    \ \text{or}\ \sigma\big((\phi + \mathrm{sg}[m(\phi, b)])/\tau\big),
    $$

    so $\hat g = \nabla_\phi y^\top \nabla_x f(b)$. Bernoulli is the two-class case with
    logits ``(0, phi)``. **Biased**, no extra variance beyond the draw of ``b``; ``f`` must be
    differentiable. **Cost**: one evaluation of ``f`` per sample, no noise beyond the sample.
    The loss value is the mean of ``f`` at the discrete samples.

    Args:
        temperature: ``tau > 0`` of the softmax (settable); the paper uses ``tau = 1``.
        gap: the margin ``> 0`` (the paper's GST-1.0 has ``gap = 1``).

    Examples:
        >>> import torch
        >>> logits = torch.zeros(4, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b * torch.arange(4.0)).sum(-1)
        >>> GST(temperature=1.0)(f, dist, n_samples=8).backward()
        >>> logits.grad.shape
        torch.Size([4])
    """

    name = "gst"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = False
    evaluations_per_sample = 1
    paper = "Fan, Chi, Rudnicky & Ramadge 2022"
    min_samples = 1
    objective = "mean"

    def __init__(self, temperature: float = 1.0, gap: float = 1.0) -> None:
        super().__init__(temperature)
        self.gap = float(check_temperature(gap, "gap"))

    def _sample(self, problem: Problem, n: int) -> Tensor:
        phi = problem.phi
        b = problem.sample(n)
        z = phi + (gapped_logits(problem, phi, b, self.gap) - phi.detach())
        y = problem.relax(z, self.temperature)
        return b + (y - y.detach())
