"""MuProp: REINFORCE with a first-order Taylor control variate at the mean."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

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
from relaxit.estimators.score_function import LearnedBaseline, input_dependent_baseline


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

    Optional variance reduction (both keep it unbiased; neither is on by default):

    * ``baseline``: an input-dependent baseline ``c`` subtracted from the residual learning
      signal, the "-IDB" variant of Gu et al. (section 2.2, after NVIL: Mnih & Gregor 2014).
      ``"learned"`` builds `LearnedBaseline` (one hidden layer of 100 tanh units); a callable
      receives each item's detached, flattened logits ``batch_shape[:m] + (J,)`` and returns
      one value per item, exactly as ``REINFORCE(baseline=...)``.
    * ``scales=True``: learned scales ``eta_0, eta_1 = 2 sigmoid(theta)`` in ``(0, 2)``
      (starting at 1) on the two Taylor terms, as in the MuProp of Tucker et al.'s REBAR code
      (github.com/tensorflow/models, ``research/rebar/rebar.py``, ``get_muprop_gradient``).
      With both, the learning signal and the estimate are

      $$
      r_i = f(b_i) - \eta_0 f(\mu) - \eta_1 f'(\mu)^\top (b_i - \mu) - c(\phi),
      \qquad \hat g = \frac1n \sum_i r_i \nabla_\phi \log p_\phi(b_i)
      + \eta_1 \Big(\frac{\partial \mu}{\partial \phi}\Big)^{\!\top} f'(\mu),
      $$

      unbiased for every ``eta`` and ``c`` (neither sees the samples; ``eta_1`` scales the
      control variate and its expectation alike). They are trained, like NVIL's baseline, on
      the squared learning signal ``sum_items mean_i r_i^2`` that `loss_and_variance` returns
      (Tucker et al.'s code does the same).

    The papers' running variance normalization ("-VN": dividing the centred signal by a
    running estimate of its standard deviation) is not offered: it rescales the sampled term
    but not the analytic one, so the estimate stops being unbiased.

    **Unbiased** for every ``f`` (``f(mu)`` and ``f'(mu)`` do not depend on the samples), with
    low variance when ``f`` is close to linear on the support. ``f`` **must accept relaxed
    inputs**: it is evaluated at the non-binary point ``mu`` (and differentiated there by
    autograd); an ``f`` that is not differentiable at ``mu`` (its output there has no graph to
    its input) gets slope ``0``, and MuProp is then REINFORCE with the baseline ``f(mu)``.
    **Cost**: two evaluations of ``f``-rows: ``f`` is called once on ``n_samples + 1`` rows
    (the samples and ``mu``) plus one backward pass through the ``mu`` row. The loss value is
    the mean of ``f`` over the ``n_samples`` discrete samples (it also carries ``f``'s own
    gradient, from those samples only).

    Args:
        baseline: ``None``, ``"learned"`` or a callable (an ``nn.Module`` is registered as a
            sub-module), as described above.
        scales: learn the scales ``eta_0, eta_1`` of the Taylor terms.

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

    def __init__(
        self,
        baseline: str | Callable[[Tensor], Tensor] | None = None,
        scales: bool = False,
    ) -> None:
        super().__init__()
        if not (baseline is None or baseline == "learned" or callable(baseline)):
            raise ValueError(f'baseline must be None, "learned" or a callable, got {baseline!r}')
        if not isinstance(scales, bool):
            raise ValueError(f"scales must be a bool, got {scales!r}")
        self.baseline = LearnedBaseline() if baseline == "learned" else baseline
        self.scale_logits = nn.Parameter(torch.zeros(2)) if scales else None

    def _describe(self) -> str:
        baseline = None if self.baseline is None else "<learned>"
        return f"MuProp(baseline={baseline}, scales={self.scale_logits is not None})"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        return self._estimate(f, problem, n_samples)[0]

    def loss_and_variance(
        self, f: Objective, dist: Distribution, n_samples: int
    ) -> tuple[Tensor, Tensor]:
        """``(loss, error)``: the usual loss, and the squared learning signal
        ``error = sum_items mean_i r_i^2`` with a graph to the baseline's parameters and the
        scales only (``f`` is detached), on which they are trained. Without either:
        ``TypeError``."""
        if self.baseline is None and self.scale_logits is None:
            raise TypeError(f"loss_and_variance needs a baseline or scales; got {self._describe()}")
        problem = self._problem(dist)
        with torch.enable_grad():
            loss, signal = self._estimate(f, problem, self._check_n(n_samples))
        return loss, signal.pow(2).mean(0).sum()

    def _estimate(self, f: Objective, problem: Problem, n_samples: int) -> tuple[Tensor, Tensor]:
        """``(loss, r)``: the learning signal ``r``, ``(n,) + items``, keeps its graph to the
        baseline and the scales."""
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
        eta_mu, eta_slope = self._scales(f_b)
        linear = sum_joint(slope * (b - mu), 1 + m)
        signal = f_b.detach() - eta_mu * f_mu.detach() - eta_slope * linear
        if self.baseline is not None:
            items = phi.detach().reshape((*f_b.shape[1:], -1))
            signal = signal - input_dependent_baseline(self.baseline, items, f_b)
        weight = right_pad(signal.detach(), b.dim())
        grad = (weight * problem.score(b, phi.detach())).mean(0)
        analytic = self._analytic_term(problem, slope, eta_slope.detach())
        return attach(f_b.mean(0), grad + analytic, phi, m), signal

    def _analytic_term(self, problem: Problem, slope: Tensor, eta_slope: Tensor) -> Tensor:
        """The control variate's expectation, ``eta_1 (d mu / d phi)^T f'(mu)``."""
        return self._mean_term(problem, slope) * eta_slope

    def _scales(self, f_b: Tensor) -> tuple[Tensor, Tensor]:
        """``(eta_0, eta_1)``, 0-dim in ``f``'s dtype: ``2 sigmoid(theta)`` or ones."""
        if self.scale_logits is None:
            one = torch.ones((), dtype=f_b.dtype, device=f_b.device)
            return one, one
        eta = 2 * torch.sigmoid(self.scale_logits.to(f_b))
        return eta[0], eta[1]

    @staticmethod
    def _mean_term(problem: Problem, slope: Tensor) -> Tensor:
        """``(d mu / d phi)^T f'(mu)``: ``sigma'(phi) f'(mu)`` or the softmax Jacobian's product."""
        phi = problem.phi.detach()
        if problem.family == CATEGORICAL:
            mu = torch.softmax(phi, -1)
            return mu * (slope - (mu * slope).sum(-1, keepdim=True))
        return torch.sigmoid(phi) * torch.sigmoid(-phi) * slope


register_estimator(MuProp, name="muprop-idb", baseline="learned", scales=True)
