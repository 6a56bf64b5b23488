"""The Binary Concrete relaxation used by REBAR, with a log-density that matches its sampler."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch.distributions import constraints

from relaxit.distributions._binary_concrete import BinaryConcreteCore
from relaxit.distributions._params import finite_positive, probs_or_logits, resolve_alias


class RebarRelaxation(BinaryConcreteCore):
    r"""REBAR's continuous relaxation of a Bernoulli(theta) variable.

    Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), "REBAR: Low-variance, unbiased
    gradient estimates for discrete latent variable models" (NeurIPS), section 2:

    $$
    z = \sigma\big((\log\tfrac{\theta}{1-\theta} + \log\tfrac{u}{1-u}) / \lambda\big),
    \qquad u \sim U(0, 1),
    $$

    so ``H(z - 1/2) ~ Bernoulli(theta)`` for every ``lambda``. Both the logit of ``theta`` and the
    noise are divided by ``lambda``, which makes ``z`` exactly a Binary Concrete variable
    (Maddison et al. 2017) with logits ``logit(theta)`` and temperature ``lambda``: this class is
    a thin parametrization of the shared Binary Concrete core (`BinaryConcreteCore`), and
    ``log_prob`` is that density w.r.t. Lebesgue measure on (0, 1):

    $$
    \log p(z) = \log\lambda + \log\sigma(t) + \log\sigma(-t) - \log z - \log(1-z),
    \qquad t = \lambda\,\mathrm{logit}(z) - \mathrm{logit}(\theta).
    $$

    (A widely used implementation scales the logit by ``1/lambda`` in the sampler but not in the
    density, so the two describe different laws; here both come from the formula above.)
    ``theta`` in {0, 1} is clamped to ``[eps, 1 - eps]`` as ``torch.distributions`` does.
    ``log_prob`` at exactly 0 or 1 (in the declared support ``[0, 1]``) is the finite density at
    the nearest point the sampler returns (``tiny``, ``1 - eps``), never NaN.

    Args:
        theta: Bernoulli probability, any shape; the paper's name for ``probs``.
        lambd: temperature ``lambda > 0`` (finite), broadcast with ``theta``; the paper's name
            for ``temperature``.
        temperature: same as ``lambd`` (give one of the two).
        probs: same as ``theta``; or give ``logits`` (``logit(theta)``, finite) instead.

    Samples have shape ``sample_shape + batch_shape`` with values in (0, 1).

    Examples:
        >>> import torch
        >>> z = RebarRelaxation(torch.tensor([0.3, 0.8]), 0.5).rsample((1000,))
        >>> z.shape
        torch.Size([1000, 2])
        >>> RebarRelaxation(temperature=0.5, logits=torch.zeros(3)).rsample().shape
        torch.Size([3])
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        **BinaryConcreteCore.arg_constraints,
        # the paper's names, as aliases (checked under the name the user passed)
        "theta": constraints.unit_interval,
        "lambd": finite_positive,
    }

    def __init__(
        self,
        theta: torch.Tensor | float | None = None,
        lambd: torch.Tensor | float | None = None,
        validate_args: bool | None = None,
        *,
        temperature: torch.Tensor | float | None = None,
        probs: torch.Tensor | float | None = None,
        logits: torch.Tensor | float | None = None,
    ) -> None:
        owner = type(self).__name__
        temperature, t_name = resolve_alias(owner, "temperature", temperature, "lambd", lambd)
        probs, p_name = resolve_alias(owner, "probs", probs, "theta", theta, default=None)
        which, param = probs_or_logits(owner, probs, logits)
        names = {"temperature": t_name, "probs": p_name}
        self._init_core(temperature, which, param, validate_args, names)

    @property
    def theta(self) -> torch.Tensor:
        """The paper's name for ``probs``."""
        return self.probs

    @property
    def lambd(self) -> torch.Tensor:
        """The paper's name for ``temperature``."""
        return self.temperature

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        return self._relaxed(torch.Size(sample_shape))[1]
