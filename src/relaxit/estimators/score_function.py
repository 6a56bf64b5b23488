"""REINFORCE (score function) with a constant, leave-one-out, moving-average or learned baseline."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

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
)
from relaxit.estimators.registry import register_estimator


@register_estimator
class REINFORCE(Estimator):
    r"""Score-function (REINFORCE) estimator with an optional baseline.

    Williams (1992), "Simple statistical gradient-following algorithms for connectionist
    reinforcement learning", Machine Learning 8. With ``b_1..b_n ~ p_phi`` (``n = n_samples``)
    and a baseline ``c_i`` independent of ``b_i``:

    $$
    \hat g = \frac1n \sum_{i=1}^n \big(f(b_i) - c_i\big)\,\nabla_\phi \log p_\phi(b_i),
    \qquad \nabla_\phi \log p_\phi(b) = b - \sigma(\phi)\ \text{or}\ b - \mathrm{softmax}(\phi).
    $$

    Baselines:

    * ``None``: ``c_i = 0``;
    * a number ``c``: ``c_i = c``;
    * ``"loo"``: leave-one-out, ``c_i = mean_{j != i} f(b_j)`` per item (Kool, van Hoof & Welling
      2019, "Buy 4 REINFORCE samples, get a baseline for free!"); needs ``n_samples >= 2``;
    * ``"ema"``: an exponential moving average of the mean of ``f`` over the previous calls,
      ``c <- decay * c + (1 - decay) * mean f`` (a scalar, shared by all items). The first call
      has no history and uses ``c = 0``. The state is ``self.ema`` (``None`` until then);
    * ``"learned"`` or a callable ``c``: a learned, input-dependent baseline (NVIL: Mnih &
      Gregor 2014, "Neural variational inference and learning in belief networks", ICML,
      section 3.1). ``c`` receives each item's logits, detached and flattened, shape
      ``batch_shape[:m] + (J,)`` (``J`` numbers per item), and returns one value per item,
      shape ``batch_shape[:m]`` (the loss's shape). It sees no sample, so the estimator stays
      unbiased whatever it computes. ``"learned"`` builds `LearnedBaseline` (the paper's
      one-hidden-layer MLP with 100 tanh units), a sub-module of the estimator; an
      ``nn.Module`` given as ``c`` is registered as a sub-module too. The baseline is trained,
      as NVIL's, on its own squared error ``E[(f(b) - c)^2]``: `loss_and_variance` returns that
      error with a graph to the baseline's parameters (the loss itself sends them nothing).
      When the logits come from an encoder, ``phi = enc(x)``, ``c(phi)`` is a function of the
      data ``x``: this is how ``relaxit vae --method nvil`` gets its input-dependent baseline
      (`LearnedBaseline` of the encoder's logits, trained with the estimator's other tuned
      parameters). A baseline that needs ``x`` itself can close over it. NVIL's running
      centring and scaling of the learning signal are not applied.

    **Unbiased** for every baseline (the baseline of sample ``i`` never depends on ``b_i``).
    **Cost**: one evaluation of ``f`` per sample (``f`` is called once, on all samples). Works
    for Bernoulli and one-hot categorical ``dist`` of any batch shape. ``f`` need not be
    differentiable. The loss value is the mean of ``f`` over the ``n_samples`` discrete samples,
    shape ``batch_shape[:m]``; it also carries ``f``'s own gradient (e.g. a decoder's).

    Args:
        baseline: ``None``, a finite number, ``"loo"``, ``"ema"``, ``"learned"`` or a
            callable (an ``nn.Module`` is registered as a sub-module).
        decay: the moving average's decay in ``[0, 1)``, used by ``"ema"`` only.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> loss = REINFORCE(baseline="loo")(lambda b: (b - 0.45).pow(2).sum(-1), dist, n_samples=8)
        >>> loss.backward()
        >>> loss.shape, logits.grad.shape
        (torch.Size([]), torch.Size([3]))
    """

    name = "reinforce"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = True
    evaluations_per_sample = 1
    paper = (
        "Williams 1992; leave-one-out baseline: Kool, van Hoof & Welling 2019; "
        "learned baseline (NVIL): Mnih & Gregor 2014"
    )
    min_samples = 1
    objective = "mean"

    def __init__(
        self,
        baseline: float | str | Callable[[Tensor], Tensor] | None = None,
        decay: float = 0.9,
    ) -> None:
        super().__init__()
        learned = callable(baseline)
        valid_number = isinstance(baseline, Real) and not isinstance(baseline, bool)
        if valid_number and not torch.isfinite(torch.tensor(float(baseline))):
            valid_number = False
        named = isinstance(baseline, str) and baseline in ("loo", "ema", "learned")
        if not (baseline is None or learned or valid_number or named):
            raise ValueError(
                'baseline must be None, a finite number, "loo", "ema", "learned" or a callable, '
                f"got {baseline!r}"
            )
        if not (isinstance(decay, Real) and 0 <= decay < 1):
            raise ValueError(f"decay must be a number in [0, 1), got {decay!r}")
        self.baseline = LearnedBaseline() if baseline == "learned" else baseline
        self.decay = float(decay)
        self.min_samples = 2 if baseline == "loo" else 1
        self.ema: Tensor | None = None

    def _describe(self) -> str:
        learned = callable(self.baseline)
        return f"REINFORCE(baseline={'<learned>' if learned else repr(self.baseline)})"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        return self._estimate(f, problem, n_samples)[0]

    def _estimate(
        self, f: Objective, problem: Problem, n_samples: int
    ) -> tuple[Tensor, Tensor, Tensor | float]:
        """``(loss, f(b) detached, baseline)``; a learned baseline keeps its graph."""
        phi = problem.phi
        b = problem.sample(n_samples)
        fb, m = evaluate(f, b, problem)
        baseline = self._baseline(fb.detach(), phi.detach().reshape((*fb.shape[1:], -1)))
        weight = fb.detach() - (baseline.detach() if isinstance(baseline, Tensor) else baseline)
        grad = (right_pad(weight, b.dim()) * problem.score(b, phi.detach())).mean(0)
        return attach(fb.mean(0), grad, phi, m), fb.detach(), baseline

    def loss_and_variance(
        self, f: Objective, dist: Distribution, n_samples: int
    ) -> tuple[Tensor, Tensor]:
        r"""``(loss, error)`` for a learned baseline: the usual loss, and NVIL's training
        objective for the baseline ``c``, ``error = sum_items mean_i (f(b_i) - c)^2`` (Mnih &
        Gregor 2014, section 3.1), with a graph to ``c``'s parameters only (``f`` is detached).

        Minimising it fits ``c`` to ``E[f(b)]`` per item, the baseline that (nearly) minimises
        the estimator's variance; the method is named like ``RELAX.loss_and_variance`` so that
        trainers tune every estimator the same way (``relaxit.vae`` does). Any other baseline:
        ``TypeError``.
        """
        if not callable(self.baseline):
            raise TypeError(
                f"loss_and_variance needs a learned (callable) baseline; got {self._describe()}"
            )
        problem = self._problem(dist)
        with torch.enable_grad():
            loss, fb, baseline = self._estimate(f, problem, self._check_n(n_samples))
        return loss, (fb - baseline).pow(2).mean(0).sum()

    def _baseline(self, fb: Tensor, phi_items: Tensor) -> Tensor | float:
        """The baseline for ``f(b)`` (detached, ``(n,) + items``); ``phi_items`` are each item's
        flattened logits, ``items + (J,)``."""
        if self.baseline is None:
            return 0.0
        if callable(self.baseline):
            return input_dependent_baseline(self.baseline, phi_items, fb)
        if self.baseline == "loo":
            n = fb.shape[0]
            return (fb.sum(0) - fb) / (n - 1)
        if self.baseline == "ema":
            previous = 0.0 if self.ema is None else self.ema.to(fb)
            mean = fb.mean()
            self.ema = mean if self.ema is None else self.decay * previous + (1 - self.decay) * mean
            return previous
        return float(self.baseline)


def input_dependent_baseline(
    baseline: Callable[[Tensor], Tensor], phi_items: Tensor, fb: Tensor
) -> Tensor:
    """``baseline(phi_items)`` in ``fb``'s dtype, checked to hold one value per item: shape
    ``fb.shape[1:]`` (``fb``: ``(n,) + items``; ``phi_items``: ``items + (J,)``), else
    ``ValueError``. Keeps its graph to the baseline's parameters."""
    c = baseline(phi_items)
    if not isinstance(c, Tensor) or c.shape != fb.shape[1:]:
        got = tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__
        raise ValueError(
            f"baseline must return one value per item, shape {tuple(fb.shape[1:])} "
            f"(f's output without the sample dim); got {got}"
        )
    return c.to(fb)


class LearnedBaseline(nn.Module):
    """NVIL's input-dependent baseline: an MLP of each item's flattened logits.

    Mnih & Gregor (2014), section 5: one hidden layer of ``hidden`` tanh units (100 in the
    paper). Maps ``items + (J,)`` to ``items``. The output layer starts at zero (the baseline
    starts as ``c = 0``, plain REINFORCE). Computes in its parameters' dtype and returns the
    input's.

    Args:
        n_inputs: ``J``, the logits per item; ``None`` infers it at the first call (a lazy
            layer: run one call before building an optimiser over its parameters).
        hidden: hidden units.

    Examples:
        >>> import torch
        >>> c = LearnedBaseline(n_inputs=6)
        >>> c(torch.zeros(5, 6)).shape
        torch.Size([5])
    """

    def __init__(self, n_inputs: int | None = None, hidden: int = 100) -> None:
        super().__init__()
        first = nn.LazyLinear(hidden) if n_inputs is None else nn.Linear(n_inputs, hidden)
        self.net = nn.Sequential(first, nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, phi_items: Tensor) -> Tensor:
        out = self.net(phi_items.to(self.net[-1].weight.dtype)).squeeze(-1)
        return out.to(phi_items.dtype)


register_estimator(REINFORCE, name="reinforce-loo", baseline="loo")
register_estimator(REINFORCE, name="reinforce-ema", baseline="ema")
register_estimator(REINFORCE, name="nvil", baseline="learned")
