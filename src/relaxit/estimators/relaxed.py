"""Biased, low-variance estimators that backpropagate through a (straight-through) relaxation."""

from __future__ import annotations

from torch import Tensor

from relaxit.estimators._protocol import (
    BERNOULLI,
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    check_temperature,
    evaluate,
)
from relaxit.estimators.registry import register_estimator


class _PathwiseEstimator(Estimator):
    """``f`` is called once on ``n_samples`` differentiable samples ``x``; the loss is the mean
    of ``f(x)`` and autograd through ``x`` gives the gradient. Subclasses build ``x``."""

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        out, _ = evaluate(f, self._sample(problem, n_samples), problem)
        return out.mean(0)

    def _sample(self, problem: Problem, n: int) -> Tensor:
        raise NotImplementedError


class _Tempered(_PathwiseEstimator):
    _temperature: float | Tensor

    def __init__(self, temperature: float | Tensor) -> None:
        super().__init__()
        self.temperature = temperature

    @property
    def temperature(self) -> float | Tensor:
        """The relaxation temperature; settable (e.g. for annealing), validated ``> 0``."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float | Tensor) -> None:
        self._temperature = check_temperature(value)


@register_estimator
class StraightThrough(_PathwiseEstimator):
    r"""Straight-through estimator: the discrete sample forward, the identity backward.

    Bengio, Léonard & Courville (2013), "Estimating or propagating gradients through stochastic
    neurons for conditional computation", arXiv:1308.3432. ``f`` receives

    $$
    x = b + p - \mathrm{sg}(p),\qquad b \sim p_\phi,\ p = \sigma(\phi)\
    \text{or}\ \mathrm{softmax}(\phi),
    $$

    whose value is the discrete sample ``b`` and whose gradient is ``d x / d p = I``:
    $\hat g = \nabla_b f(b)\,\partial p / \partial\phi$. **Biased** (exact only for ``f``
    linear in ``b``); ``f`` must be differentiable. **Cost**: one evaluation of ``f`` per sample.
    No hyper-parameters. The loss value is the mean of ``f`` at the discrete samples.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> StraightThrough()(lambda b: (b - 0.45).pow(2).sum(-1), dist, n_samples=4).backward()
        >>> logits.grad.shape
        torch.Size([3])
    """

    name = "straight-through"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = False
    evaluations_per_sample = 1
    paper = "Bengio, Léonard & Courville 2013"
    min_samples = 1
    objective = "mean"

    def _sample(self, problem: Problem, n: int) -> Tensor:
        p = problem.probs(problem.phi)
        return problem.sample(n) + (p - p.detach())


@register_estimator
class GumbelSoftmax(_Tempered):
    r"""Gumbel-Softmax / Concrete relaxation, and its straight-through variant (``hard=True``).

    Jang, Gu & Poole (2017), "Categorical reparameterization with Gumbel-Softmax", ICLR;
    Maddison, Mnih & Teh (2017), "The Concrete distribution", ICLR. With ``g`` Gumbel(0, 1)
    noise (logistic noise for Bernoulli, the binary Concrete):

    $$
    y = \mathrm{softmax}\big((\phi + g)/\tau\big)\ \text{or}\
    \sigma\big((\phi + g)/\tau\big),\qquad
    x = y\ (\texttt{hard=False}),\quad
    x = H(\phi + g) + y - \mathrm{sg}(y)\ (\texttt{hard=True}).
    $$

    ``f`` receives ``x`` and the gradient is the path-wise one through ``y``. **Biased** (the
    bias vanishes as ``tau -> 0`` while the variance grows). **Cost**: one evaluation of ``f``
    per sample. With ``hard=False`` ``f`` is evaluated at the *relaxed* samples, so the loss
    value is the mean of ``f`` at relaxed points (not an estimate of ``E[f(b)]``); with
    ``hard=True`` it is the mean of ``f`` at the discrete samples ``H(phi + g)``.

    Args:
        temperature: ``tau > 0`` (settable, e.g. for annealing).
        hard: straight-through Gumbel-Softmax when ``True``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(4, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b * torch.arange(4.0)).sum(-1)
        >>> GumbelSoftmax(temperature=0.5, hard=True)(f, dist, n_samples=8).backward()
        >>> logits.grad.shape
        torch.Size([4])
    """

    name = "gumbel-softmax"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = False
    evaluations_per_sample = 1
    paper = "Jang et al. 2017; Maddison et al. 2017"
    min_samples = 1
    objective = "mean"

    def __init__(self, temperature: float = 1.0, hard: bool = False) -> None:
        super().__init__(temperature)
        if not isinstance(hard, bool):
            raise ValueError(f"hard must be True or False, got {hard!r}")
        self.hard = hard

    def _sample(self, problem: Problem, n: int) -> Tensor:
        phi = problem.phi
        z = phi + problem.noise(n, phi)
        y = problem.relax(z, self.temperature)
        return problem.hard(z.detach()) + (y - y.detach()) if self.hard else y


register_estimator(GumbelSoftmax, name="st-gumbel-softmax", hard=True)


@register_estimator
class GumbelRao(_Tempered):
    r"""Gumbel-Rao: straight-through Gumbel-Softmax Rao-Blackwellised over the noise.

    Paulus, Maddison & Krause (2021), "Rao-Blackwellizing the straight-through Gumbel-Softmax
    gradient estimator", ICLR, eq. (9): ``f`` receives the discrete sample ``b`` carrying the
    gradient of the average relaxation over ``n_rao`` noises drawn given ``b``,

    $$
    x = b + \bar y - \mathrm{sg}(\bar y),\qquad
    \bar y = \frac1{n_{rao}}\sum_{r=1}^{n_{rao}} \mathrm{softmax}(\tilde z^{(r)}/\tau),\qquad
    \tilde z^{(r)} = \phi + g^{(r)},\ g^{(r)} \sim p(g \mid H(\phi + g) = b),
    $$

    the noise ``g`` drawn by the conditional Gumbel (logistic for Bernoulli) sampler of Tucker et
    al. 2017 and held fixed when differentiating (``d z~ / d phi = I``, as for the unconditional
    sample; differentiating through the conditional sampler would change the expectation).
    **Biased**: same expectation as ``GumbelSoftmax(hard=True)``, lower variance.
    **Cost**: one evaluation of ``f`` per sample; ``n_rao`` relaxations per sample (no extra
    ``f``). The loss value is the mean of ``f`` at the discrete samples.

    Args:
        temperature: ``tau > 0`` (settable).
        n_rao: conditional noises per sample, an int ``>= 1``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(4, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b * torch.arange(4.0)).sum(-1)
        >>> GumbelRao(temperature=1.0, n_rao=10)(f, dist, n_samples=8).backward()
        >>> logits.grad.shape
        torch.Size([4])
    """

    name = "gumbel-rao"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = False
    evaluations_per_sample = 1
    paper = "Paulus, Maddison & Krause 2021"
    min_samples = 1
    objective = "mean"

    def __init__(self, temperature: float = 1.0, n_rao: int = 10) -> None:
        super().__init__(temperature)
        if isinstance(n_rao, bool) or not isinstance(n_rao, int) or n_rao < 1:
            raise ValueError(f"n_rao must be an int >= 1, got {n_rao!r}")
        self.n_rao = n_rao

    def _sample(self, problem: Problem, n: int) -> Tensor:
        phi = problem.phi
        b = problem.sample(n)
        # noise drawn given b, then held fixed: d z / d phi = I as in the unconditional z = phi + g
        y = problem.conditional_relaxation_mean(phi, b, self.n_rao, self.temperature)
        return b + (y - y.detach())


@register_estimator
class ReinMax(_Tempered):
    r"""ReinMax: a second-order (Heun's method) straight-through estimator.

    Liu, Dong, Liu, Yu & Gao (2023), "Bridging discrete and backpropagation: Straight-Through and
    beyond", NeurIPS, Algorithm 2. With ``pi0 = softmax(phi)`` and ``D ~ pi0``:

    $$
    \pi_1 = \mathrm{softmax}\Big(\mathrm{sg}\big[
    \log\tfrac{D + \mathrm{softmax}(\phi/\tau)}{2} - \phi\big] + \phi\Big),
    \quad \pi_2 = 2\pi_1 - \tfrac12\pi_0,\quad
    x = D + \pi_2 - \mathrm{sg}(\pi_2).
    $$

    For Bernoulli the same with sigmoid in place of softmax (the two-class case with ``f``
    depending on the probability of class 1 only). **Biased** (second-order accurate).
    **Cost**: one evaluation of ``f`` per sample, no Gumbel noise. The loss value is the mean
    of ``f`` at the discrete samples.

    Args:
        temperature: ``tau > 0`` (settable); the paper recommends ``tau >= 1``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(4, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b * torch.arange(4.0)).sum(-1)
        >>> ReinMax(temperature=1.0)(f, dist, n_samples=8).backward()
        >>> logits.grad.shape
        torch.Size([4])
    """

    name = "reinmax"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = False
    evaluations_per_sample = 1
    paper = "Liu et al. 2023"
    min_samples = 1
    objective = "mean"

    def __init__(self, temperature: float = 1.0) -> None:
        super().__init__(temperature)

    def _sample(self, problem: Problem, n: int) -> Tensor:
        phi = problem.phi
        d = problem.sample(n)
        pi0 = problem.probs(phi)
        pi1 = 0.5 * (d + problem.probs(phi.detach() / self.temperature))
        family = problem.sampler  # sigmoid/logit or softmax/log
        pi1 = family.probs(family.logits(pi1) - phi.detach() + phi)
        pi2 = 2 * pi1 - 0.5 * pi0
        return d + (pi2 - pi2.detach())
