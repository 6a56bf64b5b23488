"""REINFORCE (score function) with a constant, leave-one-out or moving-average baseline."""

from __future__ import annotations

from numbers import Real

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
      has no history and uses ``c = 0``. The state is ``self.ema`` (``None`` until then).

    **Unbiased** for every baseline (the baseline of sample ``i`` never depends on ``b_i``).
    **Cost**: one evaluation of ``f`` per sample (``f`` is called once, on all samples). Works
    for Bernoulli and one-hot categorical ``dist`` of any batch shape. ``f`` need not be
    differentiable. The loss value is the mean of ``f`` over the ``n_samples`` discrete samples,
    shape ``batch_shape[:m]``; it also carries ``f``'s own gradient (e.g. a decoder's).

    Args:
        baseline: ``None``, a finite number, ``"loo"`` or ``"ema"``.
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
    paper = "Williams 1992; leave-one-out baseline: Kool, van Hoof & Welling 2019"
    min_samples = 1
    objective = "mean"

    def __init__(self, baseline: float | str | None = None, decay: float = 0.9) -> None:
        super().__init__()
        valid_number = isinstance(baseline, Real) and not isinstance(baseline, bool)
        if valid_number and not torch.isfinite(torch.tensor(float(baseline))):
            valid_number = False
        if not (baseline is None or valid_number or baseline in ("loo", "ema")):
            raise ValueError(
                f'baseline must be None, a finite number, "loo" or "ema", got {baseline!r}'
            )
        if not (isinstance(decay, Real) and 0 <= decay < 1):
            raise ValueError(f"decay must be a number in [0, 1), got {decay!r}")
        self.baseline = baseline
        self.decay = float(decay)
        self.min_samples = 2 if baseline == "loo" else 1
        self.ema: Tensor | None = None

    def _describe(self) -> str:
        return f"REINFORCE(baseline={self.baseline!r})"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi
        b = problem.sample(n_samples)
        fb, m = evaluate(f, b, problem)
        weight = fb.detach() - self._baseline(fb.detach())
        grad = (right_pad(weight, b.dim()) * problem.score(b, phi.detach())).mean(0)
        return attach(fb.mean(0), grad, phi, m)

    def _baseline(self, fb: Tensor) -> Tensor | float:
        if self.baseline is None:
            return 0.0
        if self.baseline == "loo":
            n = fb.shape[0]
            return (fb.sum(0) - fb) / (n - 1)
        if self.baseline == "ema":
            previous = 0.0 if self.ema is None else self.ema.to(fb)
            mean = fb.mean()
            self.ema = mean if self.ema is None else self.decay * previous + (1 - self.decay) * mean
            return previous
        return float(self.baseline)


register_estimator(REINFORCE, name="reinforce-loo", baseline="loo")
register_estimator(REINFORCE, name="reinforce-ema", baseline="ema")
