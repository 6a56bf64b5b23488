"""REBAR and RELAX: REINFORCE with a reparameterised control variate on the relaxed sample."""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import Tensor, nn

from relaxit.estimators._protocol import (
    BERNOULLI,
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    attach,
    check_temperature,
    evaluate,
    right_pad,
)
from relaxit.estimators.controls import ObjectiveControl, RelaxControl
from relaxit.estimators.registry import register_estimator


class _RelaxedControlVariate(Estimator):
    r"""Shared machinery of REBAR and RELAX (Grathwohl et al. 2018, eq. 8), in logit space:

    $$
    \hat g = \big(f(b) - c(\tilde z)\big)\,\nabla_\phi \log p(b)
    + \nabla_\phi c(z) - \nabla_\phi c(\tilde z),
    $$

    ``z = phi + noise`` (logistic or Gumbel), ``b = H(z)``, ``z~ ~ p(z | b)`` reparameterised in
    ``phi`` (``Problem.conditional``), ``c`` evaluated at the relaxed samples
    ``sigma(z / temperature)`` / ``softmax(z / temperature)``. The reparameterised terms are
    taken w.r.t. a detached copy of ``phi`` with ``torch.autograd.grad`` and attached to ``phi``
    like the closed-form score term, so ``loss.backward()`` sends the estimator to the
    distribution's parameters and nothing to the control's parameters.

    Subclasses implement ``_values(f, b, relaxed, relaxed_tilde, problem)`` returning
    ``(f(b), c(z), c(z~), m)``.
    """

    log_temperature: nn.Parameter

    @property
    def temperature(self) -> Tensor:
        """The relaxation's temperature ``exp(log_temperature)`` (a tunable tensor)."""
        return self.log_temperature.exp()

    def _values(
        self, f: Objective, b: Tensor, relaxed: Tensor, relaxed_tilde: Tensor, problem: Problem
    ) -> tuple[Tensor, Tensor, Tensor, int]:
        raise NotImplementedError

    def _estimate(
        self, f: Objective, problem: Problem, n: int, create_graph: bool
    ) -> tuple[Tensor, Tensor, int]:
        """Returns ``(loss value, estimated gradient w.r.t. phi, m)``; with ``create_graph`` the
        gradient is differentiable w.r.t. the estimator's parameters."""
        phi = problem.phi
        with torch.enable_grad():
            leaf = phi.detach().requires_grad_(True)
            z = leaf + problem.noise(n, leaf)
            b = problem.hard(z.detach())
            z_tilde = problem.conditional(leaf, b)
            temperature = self.temperature.to(leaf)
            relaxed = problem.relax(z, temperature)
            relaxed_tilde = problem.relax(z_tilde, temperature)
            f_b, c_z, c_tilde, m = self._values(f, b, relaxed, relaxed_tilde, problem)
            reparam = torch.zeros_like(leaf)
            difference = (c_z - c_tilde).sum()
            if difference.requires_grad:
                (used,) = torch.autograd.grad(
                    difference,
                    leaf,
                    create_graph=create_graph,
                    retain_graph=True,
                    allow_unused=True,
                )
                reparam = reparam if used is None else used
        c_tilde = c_tilde if create_graph else c_tilde.detach()
        weight = right_pad(f_b.detach() - c_tilde, b.dim())
        grad = (weight * problem.score(b, phi.detach())).mean(0) + reparam / n
        return f_b.mean(0), grad, m

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        value, grad, m = self._estimate(f, problem, n_samples, create_graph=False)
        return attach(value, grad, problem.phi, m)

    def loss_and_variance(
        self, f: Objective, dist: torch.distributions.Distribution, n_samples: int
    ) -> tuple[Tensor, Tensor]:
        r"""``(loss, variance)``: the usual loss, and a differentiable variance surrogate.

        ``variance`` is ``sum(g_hat ** 2)`` over every logit of ``dist``, where ``g_hat`` is the
        estimate carried by ``loss`` (averaged over ``n_samples``; for one-hot categoricals,
        projected onto the sum-zero directions that reach the parameters). Its expectation is
        ``tr Cov(g_hat) + |E g_hat|^2`` and ``E g_hat`` does not depend on this estimator's
        parameters (it is unbiased for all of them), so descending
        ``variance`` w.r.t. ``self.parameters()`` (control network, ``log_temperature``,
        ``eta``) minimises the estimator's variance (Grathwohl et al. 2018, section 3.3).
        ``variance`` also depends on ``dist``'s parameters and ``f``'s; backpropagate it with
        ``variance.backward(inputs=list(est.parameters()))`` or use separate optimisers::

            loss, variance = est.loss_and_variance(f, dist, n_samples)
            model_opt.zero_grad(); loss.sum().backward(retain_graph=True); model_opt.step()
            est_opt.zero_grad(); variance.backward(inputs=list(est.parameters())); est_opt.step()

        Costs the same evaluations of ``f`` as one call, plus a double backward.
        """
        problem = self._problem(dist)
        value, grad, m = self._estimate(f, problem, self._check_n(n_samples), create_graph=True)
        if problem.family == CATEGORICAL:
            grad = grad - problem.probs(problem.phi.detach()) * grad.sum(-1, keepdim=True)
        return attach(value, grad.detach(), problem.phi, m), grad.pow(2).sum()


@register_estimator
class REBAR(_RelaxedControlVariate):
    r"""REBAR: REINFORCE with the relaxed objective as a reparameterised control variate.

    Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein (2017), "REBAR: Low-variance, unbiased
    gradient estimates for discrete latent variable models", NeurIPS, eq. (5)-(6):

    $$
    \hat g = \big(f(b) - \eta f(\sigma_\lambda(\tilde z))\big)\nabla_\phi \log p(b)
    + \eta\nabla_\phi f(\sigma_\lambda(z)) - \eta\nabla_\phi f(\sigma_\lambda(\tilde z)),
    $$

    where ``z = phi + logistic noise`` (Bernoulli) or ``phi + Gumbel noise`` (categorical),
    ``b = H(z)``, ``z~ ~ p(z | b)`` by the conditional reparameterisation of Tucker et al.'s
    appendix, and ``sigma_lambda`` is ``sigmoid(z / lambda)`` / ``softmax(z / lambda)``.

    **Unbiased** for every ``eta`` and ``lambda`` (``f`` must accept relaxed inputs and be
    differentiable there). **Cost**: three evaluations of ``f`` per sample, made in one call
    of ``f`` on ``3 * n_samples`` samples ``cat([b, sigma(z), sigma(z~)])``. Bernoulli and
    one-hot categorical. The loss value is the mean of ``f`` over the ``n_samples`` discrete
    samples ``b`` (the relaxed evaluations only enter the gradient).

    Hyper-parameters ``eta`` and ``log_temperature`` are ``nn.Parameter``\s; tune them by
    minimising the variance with `loss_and_variance` (the loss itself sends them no
    gradient). The VAE of Tucker et al. uses a per-layer ``eta`` and ``lambda``; here they are
    scalars.

    Args:
        temperature: initial ``lambda > 0``.
        eta: initial control-variate scale (a finite number).

    Examples:
        >>> import torch
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> est = REBAR(temperature=0.5, eta=1.0)
        >>> est(lambda b: (b - 0.45).pow(2).sum(-1), dist, n_samples=4).backward()
        >>> logits.grad.shape
        torch.Size([3])
    """

    name = "rebar"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = True
    evaluations_per_sample = 3
    paper = "Tucker et al. 2017"
    min_samples = 1
    objective = "mean"

    def __init__(self, temperature: float = 0.5, eta: float = 1.0) -> None:
        super().__init__()
        check_temperature(temperature)
        is_number = isinstance(eta, Real) and not isinstance(eta, bool)
        is_scalar = isinstance(eta, torch.Tensor) and eta.dim() == 0 and eta.is_floating_point()
        if not (is_number or is_scalar) or not math.isfinite(float(eta)):
            raise ValueError(f"eta must be a finite number, got {eta!r}")
        self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())
        self.eta = nn.Parameter(torch.tensor(float(eta)))

    def _values(
        self, f: Objective, b: Tensor, relaxed: Tensor, relaxed_tilde: Tensor, problem: Problem
    ) -> tuple[Tensor, Tensor, Tensor, int]:
        n = b.shape[0]
        out, m = evaluate(f, torch.cat([b, relaxed, relaxed_tilde]), problem)
        eta = self.eta.to(out)
        return out[:n], eta * out[n : 2 * n], eta * out[2 * n :], m


@register_estimator
class RELAX(_RelaxedControlVariate):
    r"""RELAX: REINFORCE with a learned, reparameterised control variate ``c``.

    Grathwohl, Choi, Wu, Roeder & Duvenaud (2018), "Backpropagation through the void: optimizing
    control variates for black-box gradient estimation", ICLR, eq. (8) (discrete case):

    $$
    \hat g = \big(f(b) - c(\sigma_\lambda(\tilde z))\big)\nabla_\phi \log p(b)
    + \nabla_\phi c(\sigma_\lambda(z)) - \nabla_\phi c(\sigma_\lambda(\tilde z)),
    $$

    with ``z``, ``b = H(z)``, ``z~ ~ p(z | b)`` and ``sigma_lambda`` as in `REBAR`.
    ``control`` is a ``torch.nn.Module`` that takes relaxed samples shaped like ``b``,
    ``(S,) + batch_shape + event_shape``, and returns ``(S,) + batch_shape[:m]`` like ``f``
    (it must not mix items: item ``i``'s value may depend only on item ``i``'s sample; its
    inputs have the logits' dtype and device, so move it there, e.g. ``control.double()``).
    The paper's choice ``c = f(sigma_lambda(z)) + r_rho(z)`` is `RelaxControl`, the
    default: a control derived from `ObjectiveControl` is called as
    ``control(z, f(z))``, ``f`` being evaluated at the relaxed samples in the same call of ``f``
    as the discrete ones.

    **Unbiased** for every control and temperature. With a plain control ``f`` may be a black
    box (it is only evaluated at discrete samples); **cost**: one evaluation of ``f`` per sample
    (one call on ``n_samples`` samples) plus two of ``control`` (one call on ``2 * n_samples``).
    With an `ObjectiveControl` (the default) ``f`` must accept relaxed inputs and is
    evaluated three times per sample, in one call on ``cat([b, sigma(z), sigma(z~)])``, like
    `REBAR`. The loss value is the mean of ``f`` over the ``n_samples`` discrete samples.

    Tuning: the control's parameters and ``log_temperature`` are trained by minimising the
    variance surrogate of `loss_and_variance` (the loss sends them no gradient).

    Args:
        control: the control variate ``c`` (an ``nn.Module``, registered as a sub-module);
            default ``RelaxControl()``.
        temperature: initial ``lambda > 0`` of the relaxation fed to ``control``.

    Examples:
        >>> import torch
        >>> control = torch.nn.Sequential(
        ...     torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1), torch.nn.Flatten(-2)
        ... )
        >>> logits = torch.zeros(3, requires_grad=True)
        >>> dist = torch.distributions.Bernoulli(logits=logits)
        >>> est = RELAX(control)
        >>> loss, variance = est.loss_and_variance(lambda b: (b - 0.45).pow(2).sum(-1), dist, 4)
        >>> variance.backward(inputs=list(est.parameters()))
        >>> loss.shape, est.log_temperature.grad.shape
        (torch.Size([]), torch.Size([]))
    """

    name = "relax"
    families = (BERNOULLI, CATEGORICAL)
    unbiased = True
    evaluations_per_sample = 3  # with the default control; 1 with a control that ignores f
    paper = "Grathwohl et al. 2018"
    min_samples = 1
    objective = "mean"

    def __init__(self, control: nn.Module | None = None, temperature: float = 0.5) -> None:
        super().__init__()
        control = RelaxControl() if control is None else control
        if not isinstance(control, nn.Module):
            raise TypeError(f"control must be a torch.nn.Module, got {type(control).__name__}")
        check_temperature(temperature)
        self.control = control
        self.evaluations_per_sample = 3 if isinstance(control, ObjectiveControl) else 1
        self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())

    def _values(
        self, f: Objective, b: Tensor, relaxed: Tensor, relaxed_tilde: Tensor, problem: Problem
    ) -> tuple[Tensor, Tensor, Tensor, int]:
        n = b.shape[0]
        z = torch.cat([relaxed, relaxed_tilde])
        if isinstance(self.control, ObjectiveControl):
            out, m = evaluate(f, torch.cat([b, z]), problem)
            f_b, c = out[:n], self.control(z, out[n:])
        else:
            f_b, m = evaluate(f, b, problem)
            c = self.control(z)
        if not isinstance(c, Tensor) or c.shape != (2 * n, *f_b.shape[1:]):
            got = tuple(c.shape) if isinstance(c, Tensor) else type(c).__name__
            raise ValueError(
                f"control must return the shape of f's output, {(2 * n, *f_b.shape[1:])} "
                f"for these {2 * n} relaxed samples; got {got}"
            )
        c = c.to(f_b)
        return f_b, c[:n], c[n:], m
