"""`Example`: one registered instance of a distribution class for the conformance kit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch.distributions import Distribution, constraints

Law = Literal["continuous", "discrete", "straight_through", "none"]


@dataclass(frozen=True)
class Example:
    """A distribution class with concrete constructor arguments, plus what the kit must know.

    Attributes:
        name: a short id, used as the pytest id (``"HardConcrete/batched"``).
        dist_class: the class under test.
        params: keyword arguments of the constructor. Floating-point tensors among them are the
            differentiable parameters: the kit casts them to other dtypes/devices and makes them
            require grad. A distribution-valued parameter (``GeneralizedGumbelSoftmaxNP``'s
            ``dist``) is rebuilt with its tensor parameters cast. Python numbers, ints and other
            objects are passed unchanged.
        law: what ``log_prob`` describes, so the kit knows how to test samples against it:

            * ``"continuous"``: a density w.r.t. Lebesgue measure on ``dist.support`` (through
              ``biject_to(dist.support)``), plus point masses at ``atoms`` (scalar events only).
            * ``"discrete"``: a mass function on a finite set, enumerated by ``support_values``
              (default ``dist.enumerate_support()``).
            * ``"straight_through"``: Pyro's straight-through semantics. ``rsample`` returns hard
              values whose law is ``hard_view(dist)``; the relaxed value they came from is
              ``soft_sample(x)`` (Pyro's ``x._unquantize``) and ``log_prob`` is its continuous
              density. The kit tests both parts.
            * ``"none"``: no tractable density (``law_reason`` must say why); the statistical
              checks are skipped, every other check runs.
        atoms: locations of point masses of a scalar continuous law (e.g. ``(0.0, 1.0)``).
        support_values: ``dist -> Tensor[n, *batch_shape, *event_shape]`` for discrete laws.
        hard_view: ``dist -> Distribution`` with ``enumerate_support``: the law of the hard
            forward values of a straight-through class.
        soft_sample: ``x -> Tensor``: the relaxed value behind a straight-through sample.
        hard_map: ``soft -> hard``: how a straight-through class quantizes its relaxed value
            (threshold at 1/2, one-hot argmax); the kit checks ``hard == hard_map(soft)`` per
            draw. Required with ``law="straight_through"``.
        statistical: run normalization and sample-law checks on this example (keep event dims
            small and batch small: these draw tens of thousands of samples).
        grad_params: parameters ``rsample`` must back-propagate to (default: every float tensor
            in ``params`` that has an entry in ``dist_class.arg_constraints``).
        pathwise_exclude: float parameters whose ``rsample`` gradient is deliberately not the
            gradient of ``E[g(x)]`` (a control variate's own parameters, e.g. AVF's
            ``control_var``); the pathwise-gradient check skips them.
        invalid_params: ``(name, bad_value)`` pairs: constructing with ``params[name] = bad_value``
            and ``validate_args=True`` must raise ``ValueError`` naming ``name``.
        invalid_values: values ``log_prob`` must reject with ``ValueError`` when validating.
        extreme: an extreme-but-valid setting (logits +-50, temperature 0.05): the kit checks that
            samples, log-probs and gradients stay finite.
        pyro: run the Pyro SVI check.
        law_reason: for ``law == "none"``, why no density is available.
    """

    name: str
    dist_class: type[Distribution]
    params: Mapping[str, Any]
    law: Law = "continuous"
    atoms: Sequence[float] = ()
    support_values: Callable[[Distribution], torch.Tensor] | None = None
    hard_view: Callable[[Distribution], Distribution] | None = None
    soft_sample: Callable[[torch.Tensor], torch.Tensor] = field(
        default=lambda x: x._unquantize  # Pyro's convention for straight-through samples
    )
    hard_map: Callable[[torch.Tensor], torch.Tensor] | None = None
    statistical: bool = True
    grad_params: tuple[str, ...] | None = None
    pathwise_exclude: tuple[str, ...] = ()
    invalid_params: tuple[tuple[str, Any], ...] = ()
    invalid_values: tuple[Any, ...] = ()
    extreme: bool = False
    pyro: bool = True
    law_reason: str = ""

    def __post_init__(self) -> None:
        if self.law == "none" and not self.law_reason:
            raise ValueError(f"{self.name}: law='none' needs a law_reason")
        if self.law == "straight_through" and (self.hard_view is None or self.hard_map is None):
            raise ValueError(f"{self.name}: law='straight_through' needs hard_view and hard_map")

    def __repr__(self) -> str:
        return f"Example({self.name})"

    @property
    def float_param_names(self) -> tuple[str, ...]:
        """Names of the floating-point tensor parameters that the class declares constraints for."""
        declared = getattr(self.dist_class, "arg_constraints", {})
        return tuple(
            k
            for k, v in self.params.items()
            if torch.is_tensor(v) and v.is_floating_point() and k in declared
        )

    @property
    def rsample_grad_params(self) -> tuple[str, ...]:
        return self.float_param_names if self.grad_params is None else self.grad_params

    @property
    def pathwise_params(self) -> tuple[str, ...]:
        """Every floating-point tensor parameter (declared in ``arg_constraints`` or not, the
        temperature included) except ``pathwise_exclude``."""
        return tuple(
            k
            for k, v in self.params.items()
            if torch.is_tensor(v) and v.is_floating_point() and k not in self.pathwise_exclude
        )

    def build_params(
        self,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        requires_grad: bool = False,
        overrides: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The constructor arguments, float tensors cast and made leaves as asked."""
        out: dict[str, Any] = {}
        for k, v in self.params.items():
            if torch.is_tensor(v) and v.is_floating_point():
                v = v.to(dtype=dtype or v.dtype, device=device).detach().clone()
                if requires_grad and k in self.float_param_names:
                    v.requires_grad_(True)
            elif torch.is_tensor(v) and device is not None:
                v = v.to(device)
            elif isinstance(v, Distribution):
                v = _cast_distribution(v, dtype, device)
            out[k] = v
        out.update(overrides or {})
        return out

    def make_with_leaves(
        self, dtype: torch.dtype | None = None
    ) -> tuple[Distribution, dict[str, torch.Tensor]]:
        """Build the distribution from fresh leaf parameters that require grad; return both."""
        kwargs = self.build_params(dtype, requires_grad=True)
        leaves = {k: kwargs[k] for k in self.float_param_names}
        return self.dist_class(**kwargs), leaves

    def make(
        self,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        requires_grad: bool = False,
        validate_args: bool | None = None,
        **overrides: Any,
    ) -> Distribution:
        """Build the distribution (see `build_params`)."""
        kwargs = self.build_params(dtype, device, requires_grad, overrides)
        if validate_args is not None:
            kwargs["validate_args"] = validate_args
        return self.dist_class(**kwargs)


def _cast_distribution(
    dist: Distribution, dtype: torch.dtype | None, device: torch.device | str | None
) -> Distribution:
    """A distribution-valued parameter rebuilt with its float parameters cast (no grad)."""
    kwargs = {
        k: getattr(dist, k).to(dtype=dtype or getattr(dist, k).dtype, device=device)
        for k in dist.arg_constraints
        if k in dist.__dict__ and torch.is_tensor(getattr(dist, k))
    }
    return type(dist)(**kwargs)


def constraint_event_dim(constraint: constraints.Constraint) -> int:
    """Number of rightmost dims a parameter constraint treats as one event."""
    return int(getattr(constraint, "event_dim", 0))
