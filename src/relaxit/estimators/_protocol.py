"""The call protocol shared by every estimator: ``loss = est(f, dist, n_samples)``.

Terms used throughout the package:

* ``phi`` -- the distribution's logits, shape ``batch_shape + event_shape``. For
  ``OneHotCategorical`` these are torch's normalised logits, a differentiable function of the
  user's parameters, so a gradient attached to ``phi`` reaches them by the chain rule.
* ``m`` -- the number of leading batch dims that ``f`` keeps: ``f`` maps samples of shape
  ``(S,) + batch_shape + event_shape`` to ``(S,) + batch_shape[:m]``. Those ``m`` dims are
  independent items; the remaining batch dims and the event dims form one joint variable per item.
* An estimator's gradient ``g`` w.r.t. ``phi`` is delivered by
  ``value + sum_joint(g.detach() * (phi - phi.detach()))``: the value is unchanged and
  ``d loss_i / d phi_i = g_i`` for every item ``i``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from numbers import Real

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, OneHotCategorical

from relaxit._sampling import BERNOULLI as BERNOULLI
from relaxit._sampling import BERNOULLI_FAMILY as BERNOULLI_FAMILY
from relaxit._sampling import CATEGORICAL as CATEGORICAL
from relaxit._sampling import CATEGORICAL_FAMILY as CATEGORICAL_FAMILY
from relaxit._sampling import FAMILIES, Family
from relaxit._sampling import uniform as uniform

Objective = Callable[[Tensor], Tensor]
"""``f``: samples ``(S,) + batch_shape + event_shape`` -> values ``(S,) + batch_shape[:m]``."""

OBJECTIVES = ("mean", "log-mean-exp")
"""What ``loss`` estimates: ``E[f(b)]`` (``"mean"``) or a multi-sample bound
``E[log mean_k exp f(b_k)]`` whose ``f`` returns log-weights (``"log-mean-exp"``)."""
_FAMILY_NAMES = {
    BERNOULLI: "torch.distributions.Bernoulli",
    CATEGORICAL: "torch.distributions.OneHotCategorical",
}


def check_temperature(value: float | Tensor, name: str = "temperature") -> float | Tensor:
    """Return ``value`` if it is a finite positive number or 0-dim tensor, else ``ValueError``."""
    if isinstance(value, Tensor):
        if value.dim() != 0 or not value.is_floating_point():
            raise ValueError(f"{name} must be a positive number or a 0-dim float tensor")
        ok = bool(torch.isfinite(value) & (value > 0))
    elif isinstance(value, Real) and not isinstance(value, bool):
        ok = 0 < float(value) < float("inf")
    else:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not ok:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return value


@dataclass
class Problem:
    """A validated ``dist`` seen in logit space: its family, logits ``phi`` and shapes.

    The sampling maps (noise, hard threshold / argmax, relaxed map, conditional noise, score,
    log-probability) are those of the family's `relaxit._sampling.Family` object, ``sampler``
    (shared with `relaxit.distributions`); the methods below forward to it.
    """

    family: str
    phi: Tensor
    batch_shape: torch.Size
    event_shape: torch.Size

    @property
    def sampler(self) -> Family:
        """The family's sampling core (`BERNOULLI_FAMILY` or `CATEGORICAL_FAMILY`)."""
        return FAMILIES[self.family]

    @property
    def is_bernoulli(self) -> bool:
        return self.family == BERNOULLI

    def probs(self, phi: Tensor) -> Tensor:
        """sigmoid(phi) or softmax(phi): the mean of the one-hot / 0-1 variable."""
        return self.sampler.probs(phi)

    def noise(self, n: int, phi: Tensor) -> Tensor:
        """Logistic (Bernoulli) or Gumbel (categorical) noise, shape ``(n,) + phi.shape``."""
        return self.sampler.noise(n, phi)

    def hard(self, z: Tensor) -> Tensor:
        """H(z): ``1[z > 0]`` (Bernoulli) or the one-hot argmax (categorical), ``z``'s dtype."""
        return self.sampler.hard(z)

    def relax(self, z: Tensor, temperature: float | Tensor) -> Tensor:
        """sigma(z / temperature) or softmax(z / temperature)."""
        return self.sampler.relax(z, temperature)

    def sample(self, n: int) -> Tensor:
        """``n`` discrete samples (no graph): H(phi + noise)."""
        return self.sampler.sample(n, self.phi)

    def score(self, b: Tensor, phi: Tensor) -> Tensor:
        """d log p(b) / d phi per variable: ``b - probs`` (shape of ``b``)."""
        return self.sampler.score(b, phi)

    def log_prob(self, b: Tensor, phi: Tensor) -> Tensor:
        """log p(b) per variable, summed over the event dim for one-hot: shape of ``b[..., 0]``
        (categorical) or of ``b`` (Bernoulli). Logit space: ``b phi - softplus(phi)``."""
        return self.sampler.log_prob(b, phi)

    def conditional(self, phi: Tensor, b: Tensor, extra: tuple[int, ...] = ()) -> Tensor:
        """z~ ~ p(z | H(z) = b), reparameterised in ``phi`` (Tucker et al. 2017, appendix; the
        formulas are on `BernoulliFamily.conditional` and `CategoricalFamily.conditional`).
        Shape ``extra + b.shape``."""
        return self.sampler.conditional(phi, b, extra)

    def conditional_relaxation_mean(
        self, phi: Tensor, b: Tensor, n: int, temperature: float | Tensor
    ) -> Tensor:
        """``mean_r relax(z~_r / temperature)`` over ``n`` conditional noises given ``b``,
        differentiable in ``phi`` with the noise held fixed (see
        `relaxit._sampling.Family.conditional_relaxation_mean`). Shape of ``b``."""
        return self.sampler.conditional_relaxation_mean(phi, b, n, temperature)


MASK_GAP = 1e4
"""How far below the row's largest logit a masked (``-inf``) logit is placed: ``exp(-1e4)`` is
exactly 0 in float32 and float64, so the law, samples and gradients are unchanged."""


def unmask_logits(phi: Tensor, family: str) -> Tensor:
    """``phi`` with masked logits made finite, so that no ``inf - inf`` makes a NaN.

    A categorical logit of ``-inf`` (the usual mask of an invalid action) becomes the row's
    largest finite logit minus `MASK_GAP`; a Bernoulli logit of ``-inf``/``+inf`` becomes
    ``-/+MASK_GAP``. Their probabilities stay exactly 0 (or 1), and their gradient is exactly 0
    (``torch.where`` sends no gradient to the replaced entries). ``NaN`` raises ``ValueError``
    (``OneHotCategorical`` normalizes a ``+inf`` logit, or a row with every category masked, to
    NaN). Finite logits are returned as is.
    """
    finite = torch.isfinite(phi.detach())
    if bool(finite.all()):
        return phi
    if bool(torch.isnan(phi.detach()).any()):
        raise ValueError("dist's logits contain NaN")
    if family == BERNOULLI:
        return torch.where(finite, phi, MASK_GAP * torch.sign(phi.detach()))
    top = phi.detach().masked_fill(~finite, -torch.inf).amax(-1, keepdim=True)
    return torch.where(finite, phi, (top - MASK_GAP).expand_as(phi))


def right_pad(x: Tensor, ndim: int) -> Tensor:
    """View ``x`` with trailing singleton dims up to ``ndim`` dims (for broadcasting)."""
    return x.reshape(x.shape + (1,) * (ndim - x.dim()))


def sum_joint(x: Tensor, n_leading: int) -> Tensor:
    """Sum ``x`` over every dim after the first ``n_leading`` (the joint variable's dims)."""
    dims = tuple(range(n_leading, x.dim()))
    return x.sum(dims) if dims else x


class Estimator(nn.Module):
    """Base class: validates ``dist``, ``n_samples`` and ``f``'s output, then delegates.

    Subclasses implement ``_loss(f, problem, n_samples) -> Tensor`` of shape
    ``batch_shape[:m]`` (see `evaluate` and `attach`) and declare their facts as class
    attributes, which `relaxit.estimators.registry` and every consumer read:

    Attributes:
        name: registry / CLI name, kebab-case (e.g. ``"disarm"``).
        families: the supported families, a subset of ``(BERNOULLI, CATEGORICAL)``; any other
            ``dist`` raises ``TypeError``.
        unbiased: whether the gradient is unbiased (the tests then compare it with `Exact`).
        exact: ``True`` only for `Exact`, which enumerates instead of sampling.
        evaluations_per_sample: rows of ``b`` that ``f`` receives per requested sample (``f``
            is called once on ``evaluations_per_sample * n_samples`` rows); ``None`` when it
            is not proportional to ``n_samples`` (`Exact`, or a cost that depends on the
            variables per item, `IndeCateR`). An instance may override it when a constructor
            argument changes it.
        f_calls: how many times one estimate calls ``f``: 1 (every row in one call) except
            where the second call's rows depend on what the first returned (`IndeCateR` needs
            ``m`` to know the variables of an item).
        paper: short citation of the method.
        min_samples: smallest valid ``n_samples`` (an instance may raise it, e.g.
            ``REINFORCE(baseline="loo")``).
        objective: ``"mean"`` (``loss`` estimates ``E[f(b)]``) or ``"log-mean-exp"``
            (multi-sample bounds: ``f`` returns log-weights, ``loss`` is
            ``log mean_k exp f(b_k)``).
        joint_variables: whether an item's joint variable may hold several variables (batch
            dims beyond the ``m`` that ``f`` keeps). ``False``: ``f`` must keep every batch dim
            (one variable per item), else ``ValueError``.
    """

    name: str = ""
    families: tuple[str, ...] = (BERNOULLI, CATEGORICAL)
    unbiased: bool = False
    exact: bool = False
    evaluations_per_sample: int | None = 1
    f_calls: int = 1
    paper: str = ""
    min_samples: int = 1
    objective: str = "mean"
    joint_variables: bool = True

    def forward(self, f: Objective, dist: Distribution, n_samples: int) -> Tensor:
        """``loss = est(f, dist, n_samples)``; see the package docstring for the contract."""
        return self._loss(f, self._problem(dist), self._check_n(n_samples))

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        raise NotImplementedError

    def _problem(self, dist: Distribution) -> Problem:
        family = None
        if isinstance(dist, Bernoulli):
            family = BERNOULLI
        elif isinstance(dist, OneHotCategorical):
            family = CATEGORICAL
        if family not in self.families:
            names = " and ".join(_FAMILY_NAMES[k] for k in self.families)
            raise TypeError(
                f"{type(self).__name__} supports {names} (and their Pyro wrappers); "
                f"got {type(dist).__module__}.{type(dist).__name__}"
            )
        phi = dist.logits
        if not phi.is_floating_point():
            raise TypeError(f"dist's logits must be floating point, got {phi.dtype}")
        return Problem(family, unmask_logits(phi, family), dist.batch_shape, dist.event_shape)

    def _check_n(self, n_samples: int) -> int:
        if isinstance(n_samples, bool) or not isinstance(n_samples, int):
            raise ValueError(f"n_samples must be an int, got {n_samples!r}")
        if n_samples < self.min_samples:
            raise ValueError(
                f"n_samples must be >= {self.min_samples} for {self._describe()}, got {n_samples}"
            )
        return n_samples

    def _describe(self) -> str:
        return type(self).__name__


def evaluate(f: Objective, b: Tensor, problem: Problem) -> tuple[Tensor, int]:
    """``f(b)`` with its shape checked; returns ``(values, m)``.

    ``b`` has shape ``(N,) + batch_shape + event_shape``; ``f(b)`` must have shape
    ``(N,) + batch_shape[:m]`` for some ``0 <= m <= len(batch_shape)``.
    """
    out = f(b)
    n = b.shape[0]
    batch = problem.batch_shape
    ok = (
        isinstance(out, Tensor)
        and out.is_floating_point()
        and 1 <= out.dim() <= len(batch) + 1
        and out.shape[0] == n
        and out.shape[1:] == batch[: out.dim() - 1]
    )
    if not ok:
        allowed = ", ".join(str(tuple((n, *batch[:m]))) for m in range(len(batch) + 1))
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            "f must return a floating tensor of shape (n_samples,) + dist.batch_shape[:m], "
            f"i.e. one of {allowed} for these {n} samples; got {got}"
        )
    return out, out.dim() - 1


def attach(value: Tensor, grad: Tensor, phi: Tensor, m: int) -> Tensor:
    """``value`` with ``grad`` (shape of ``phi``) as its gradient w.r.t. ``phi``, per item."""
    return value + sum_joint(grad.detach() * (phi - phi.detach()), m)
