"""Constructor checks shared by every relaxit distribution: one place for bad-input errors.

Every class builds its parameters with `float_params` (numbers and integer/bool tensors become
floating tensors, anything else a ``ValueError`` naming the parameter and its dtype or type),
broadcasts them with `broadcast_batch` (a ``ValueError`` naming every parameter and its shape)
and initialises with `CheckedDistribution._init_checked`, which validates ``arg_constraints``
under the names the user passed (``theta``, not ``probs``, when the alias was used).

The constraints here are stricter than ``torch``'s ``real``/``positive``, which let ``inf``
through (an infinite temperature or logit turns into NaN samples or log-densities):
`finite` wraps any constraint (`finite_real`, `finite_positive`, `finite_real_vector`...).
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Number
from typing import Any

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import Distribution, biject_to, constraints, transform_to


class _Finite(constraints.Constraint):
    """``base`` restricted to finite values (``torch``'s ``real``, ``positive``,
    ``greater_than``... let ``inf`` through)."""

    def __init__(self, base: constraints.Constraint) -> None:
        self.base = base
        self.event_dim = base.event_dim
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        finite = torch.isfinite(value)
        if self.event_dim:
            finite = finite.flatten(-self.event_dim).all(-1)
        return finite & self.base.check(value)

    def __repr__(self) -> str:
        return f"Finite({self.base!r})"


def finite(base: constraints.Constraint) -> constraints.Constraint:
    """The constraint ``base`` with every value also finite."""
    return _Finite(base)


finite_real = finite(constraints.real)
finite_positive = finite(constraints.positive)
finite_real_vector = finite(constraints.real_vector)
finite_positive_vector = finite(constraints.independent(constraints.positive, 1))

# Learnable in Pyro (``pyro.param(..., constraint=...)``) with the base's unconstraining map.
transform_to.register(_Finite)(lambda c: transform_to(c.base))
biject_to.register(_Finite)(lambda c: biject_to(c.base))

_MISSING: Any = object()


def resolve_alias(
    owner: str, name: str, value: Any, alias: str, alias_value: Any, default: Any = _MISSING
) -> tuple[Any, str]:
    """The value of a parameter given by its name or by its (paper's) alias, and the name used.

    Raises ``ValueError`` when both are given, or when neither is and there is no default.
    """
    if value is not None and alias_value is not None:
        raise ValueError(f"{owner}: pass `{name}` or its alias `{alias}`, not both")
    if value is not None:
        return value, name
    if alias_value is not None:
        return alias_value, alias
    if default is _MISSING:
        raise ValueError(f"{owner}: `{name}` (or its alias `{alias}`) is required")
    return default, name


def probs_or_logits(owner: str, probs: Any, logits: Any) -> tuple[str, Any]:
    """``("probs", probs)`` or ``("logits", logits)``; ``ValueError`` unless exactly one given."""
    if (probs is None) == (logits is None):
        raise ValueError(f"{owner}: pass exactly one of `probs` or `logits`")
    return ("probs", probs) if probs is not None else ("logits", logits)


def _as_float(owner: str, name: str, value: Any) -> torch.Tensor | Number:
    """A floating tensor or a real Python number; ``ValueError`` naming ``name`` otherwise."""
    if torch.is_tensor(value):
        if value.is_floating_point():
            return value
        if value.is_complex():
            raise ValueError(f"{owner}: `{name}` must be real, got a tensor of dtype {value.dtype}")
        # int and bool tensors: the default float dtype (as torch.tensor(1.0) would be), so a
        # float temperature is never rounded to the integer dtype of the logits.
        return value.to(torch.get_default_dtype())
    if isinstance(value, bool) or not isinstance(value, Number) or isinstance(value, complex):
        try:
            tensor = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(
                f"{owner}: `{name}` must be a number or a tensor, got {type(value).__name__}"
            ) from e
        return _as_float(owner, name, tensor)
    return value


def float_params(owner: str, **params: Any) -> dict[str, torch.Tensor]:
    """Each parameter as a floating tensor; numbers take the dtype/device of the tensor ones.

    Integer and bool tensors (and lists of them) are promoted to the default float dtype;
    complex values and non-numeric objects raise ``ValueError`` naming the parameter. Python
    numbers take the dtype and device of the first floating tensor among ``params`` (the
    default dtype on the CPU if none), like ``torch.distributions.utils.broadcast_all``.
    """
    converted = {k: _as_float(owner, k, v) for k, v in params.items()}
    ref = next((v for v in converted.values() if torch.is_tensor(v)), None)
    dtype = ref.dtype if ref is not None else torch.get_default_dtype()
    device = ref.device if ref is not None else None
    return {
        k: v if torch.is_tensor(v) else torch.tensor(v, dtype=dtype, device=device)
        for k, v in converted.items()
    }


def broadcast_batch(owner: str, shapes: Mapping[str, torch.Size | tuple[int, ...]]) -> torch.Size:
    """The broadcast of the parameters' batch shapes; ``ValueError`` naming each one otherwise."""
    try:
        return torch.broadcast_shapes(*shapes.values())
    except RuntimeError as e:
        listed = ", ".join(f"`{k}` {tuple(s)}" for k, s in shapes.items())
        raise ValueError(f"{owner}: parameter batch shapes do not broadcast: {listed}") from e


def check_params(dist: Distribution, names: Mapping[str, str] | None = None) -> None:
    """Check every stored parameter against ``arg_constraints``, naming it as the user did.

    ``names`` maps a stored (canonical) name to the name the user passed, e.g.
    ``{"probs": "theta"}``. Parameters that are not stored (lazy counterparts, aliases) are
    skipped, as in ``torch.distributions.Distribution.__init__``.
    """
    names = names or {}
    for param, constraint in dist.arg_constraints.items():
        if param not in dist.__dict__:
            continue
        value = dist.__dict__[param]
        if not torch.is_tensor(value):
            continue
        # detached: isfinite's abs would save the parameter for a backward pass otherwise
        if not bool(constraint.check(value.detach()).all()):
            shown = names.get(param, param)
            alias = f" (alias of `{param}`)" if shown != param else ""
            raise ValueError(
                f"Expected parameter {shown}{alias} (Tensor of shape {tuple(value.shape)}) of "
                f"distribution {type(dist).__name__} to satisfy the constraint {constraint!r}, "
                f"but found invalid values:\n{value}"
            )


class CheckedDistribution(TorchDistribution):
    """A Pyro distribution whose constructor checks its parameters with `check_params`."""

    def _init_checked(
        self,
        batch_shape: torch.Size,
        event_shape: torch.Size = torch.Size(),
        validate_args: bool | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        """``Distribution.__init__`` with the parameter check of `check_params`.

        ``validate_args=None`` takes ``Distribution``'s default at construction (the one
        ``set_default_validate_args`` sets).
        """
        default = Distribution._validate_args
        super().__init__(batch_shape, event_shape, validate_args=False)
        self._validate_args = default if validate_args is None else validate_args
        if self._validate_args:
            check_params(self, names)

    def _init_expanded(
        self, batch_shape: torch.Size, event_shape: torch.Size, validate_args: bool
    ) -> None:
        """``Distribution.__init__`` of an expanded copy (``expand``): no checks, the
        original's ``validate_args``."""
        super().__init__(batch_shape, event_shape, validate_args=False)
        self._validate_args = validate_args
