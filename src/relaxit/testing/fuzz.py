"""Bad and extreme inputs for every registered distribution `Example` and estimator.

The fuzz suite (``tests/test_fuzz.py``) runs these over `relaxit.testing.registry.EXAMPLES` and
`relaxit.estimators.registry`, so a newly registered method is fuzzed without new tests:

* `bad_parameter_cases`: each floating parameter of an example replaced by NaN, ``+inf`` or
  ``-inf`` (where the class declares a constraint for it), by a tensor of the wrong trailing
  size, or given as an integer tensor. Construction with ``validate_args=True`` must raise
  ``ValueError``/``TypeError`` naming the parameter (integer tensors may also be accepted and
  promoted to a floating dtype).
* `extreme_parameters`: valid parameters at the contract's extremes, drawn per element from a
  small set by constraint (real: ``+-50``; positive: 0.05 or 50; unit interval: exactly 0 or 1;
  simplex: the softmax of logits ``+-50``). Samples, ``log_prob`` (of the sample and of its
  copies) and gradients must stay finite in float32 and float64.
* `extreme_logits` / `masked_logits`: estimator inputs at logits ``+-50`` and with masked
  (``-inf``) categories.
"""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.distributions import Distribution, constraints

from relaxit.testing.example import Example

REAL_EXTREMES = (-50.0, 0.0, 50.0)
POSITIVE_EXTREMES = (0.05, 1.0, 50.0)
UNIT_EXTREMES = (0.0, 0.5, 1.0)


def _base(constraint: constraints.Constraint) -> constraints.Constraint:
    """The elementwise constraint under ``independent``/``Finite`` wrappers."""
    while True:
        if isinstance(constraint, constraints.independent):
            constraint = constraint.base_constraint
        elif hasattr(constraint, "base") and isinstance(constraint.base, constraints.Constraint):
            constraint = constraint.base
        else:
            return constraint


def _pick(values: tuple[float, ...], like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    index = torch.randint(len(values), like.shape, generator=gen)
    return torch.tensor(values, dtype=like.dtype)[index]


def extreme_value(
    constraint: constraints.Constraint | None, like: torch.Tensor, gen: torch.Generator
) -> torch.Tensor | None:
    """A valid value shaped like ``like`` at the extremes of ``constraint``, or ``None`` when
    the constraint has no generic extreme (correlation matrices, Cholesky factors...)."""
    if constraint is None:
        return None
    base = _base(constraint)
    if base is constraints.real or type(base) is type(constraints.real):
        return _pick(REAL_EXTREMES, like, gen)
    if isinstance(base, constraints.greater_than):
        return base.lower_bound + _pick(POSITIVE_EXTREMES, like, gen)
    if isinstance(base, constraints.less_than):
        return base.upper_bound - _pick(POSITIVE_EXTREMES, like, gen)
    if isinstance(base, constraints.interval) and (base.lower_bound, base.upper_bound) == (0, 1):
        return _pick(UNIT_EXTREMES, like, gen)
    if isinstance(base, type(constraints.simplex)):
        return torch.softmax(_pick(REAL_EXTREMES, like, gen), -1)
    return None


def extreme_parameters(
    example: Example, dtype: torch.dtype, seed: int
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Constructor arguments of ``example`` with every float parameter that has a generic
    extreme replaced by one, in ``dtype``; returns ``(kwargs, leaves)`` where ``leaves`` are
    the float parameters (as leaves that require grad)."""
    gen = torch.Generator().manual_seed(seed)
    declared = getattr(example.dist_class, "arg_constraints", {})
    kwargs = example.build_params(dtype=dtype)
    leaves = {}
    for name in example.float_param_names:
        value = extreme_value(declared.get(name), kwargs[name], gen)
        leaf = (kwargs[name] if value is None else value.to(dtype)).detach().clone()
        kwargs[name] = leaves[name] = leaf.requires_grad_(True)
    return kwargs, leaves


COPIES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "detach": lambda x: x.detach(),
    "clone": lambda x: x.detach().clone(),
    "index": lambda x: x.detach()[:],
    "times one": lambda x: x.detach() * 1,
    "dtype round trip": lambda x: x.detach().double().to(x.dtype),
    "deepcopy": lambda x: copy.deepcopy(x.detach()),
    "pickle": lambda x: pickle.loads(pickle.dumps(x.detach())),
    "stack": lambda x: torch.stack(list(x.detach().unbind(0))),
}
"""Ways a user copies a sample; each loses a straight-through sample's ``_unquantize``."""


def check_extremes_finite(example: Example, dtype: torch.dtype, seed: int) -> None:
    """Samples, log-probs (of the sample and its copies) and gradients are finite at
    `extreme_parameters`; raises ``AssertionError`` naming what broke."""
    kwargs, leaves = extreme_parameters(example, dtype, seed)
    where = f"{example.name} ({dtype}, seed {seed}, params {_short(leaves)})"
    dist = example.dist_class(**kwargs)
    torch.manual_seed(seed)
    x = dist.rsample((32,)) if dist.has_rsample else dist.sample((32,))
    assert bool(torch.isfinite(x).all()), f"{where}: non-finite samples"
    loss = (x * torch.randn(x.shape, dtype=x.dtype)).sum() if x.is_floating_point() else 0.0
    if example.law != "none":
        lp = dist.log_prob(x)
        assert bool(torch.isfinite(lp).all()), f"{where}: non-finite log_prob of its sample"
        loss = loss + lp.sum()
        for name, copy_of in COPIES.items():
            lp_copy = dist.log_prob(copy_of(x))
            assert bool(torch.isfinite(lp_copy).all()), f"{where}: non-finite log_prob ({name})"
        for name, edge in support_edges(dist, x).items():
            lp_edge = dist.log_prob(edge)
            assert bool(torch.isfinite(lp_edge).all()), f"{where}: non-finite log_prob ({name})"
    if torch.is_tensor(loss) and loss.requires_grad:
        loss.backward()
    for name, leaf in leaves.items():
        if leaf.grad is not None:
            assert bool(torch.isfinite(leaf.grad).all()), f"{where}: non-finite grad of {name}"


def support_edges(dist: Distribution, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Points on the boundary of a closed declared support (where a copied straight-through
    sample lands): exactly 0 and 1 for ``[0, 1]``-valued laws, a vertex for simplex laws."""
    try:
        base = _base(dist.support)
    except NotImplementedError:
        return {}
    x = x.detach()
    if isinstance(base, constraints.interval) and (base.lower_bound, base.upper_bound) == (0, 1):
        return {"value 0": torch.zeros_like(x), "value 1": torch.ones_like(x)}
    if isinstance(base, type(constraints.simplex)):
        return {"a vertex": torch.zeros_like(x).index_fill_(-1, torch.tensor([0]), 1.0)}
    return {}


def _short(leaves: dict[str, torch.Tensor]) -> str:
    return ", ".join(f"{k}={v.detach().flatten()[:6].tolist()}" for k, v in leaves.items())


def bad_parameter_cases(example: Example) -> Iterator[tuple[str, str, Any]]:
    """``(param, description, bad_value)`` for every float parameter of ``example`` that the
    class constrains: NaN, +inf, -inf and a wrong trailing size (where another parameter has
    the same last dim)."""
    for name in example.float_param_names:
        value = example.params[name]
        for bad in (math.nan, math.inf, -math.inf):  # torch's real/positive allow inf: not ours
            filled = value.detach().clone()
            if filled.numel() == 0:
                continue
            filled.view(-1)[0] = bad
            yield name, f"{bad}", filled
        aligned = [
            k
            for k in example.float_param_names
            if k != name
            and example.params[k].dim() == value.dim() >= 1
            and example.params[k].shape[-1] == value.shape[-1] > 1
        ]
        if aligned:  # another parameter shares this last dim: a longer one cannot broadcast
            wrong = torch.cat([value, value[..., :1]], -1).detach()
            yield name, "wrong trailing size", wrong


def integer_version(value: torch.Tensor) -> torch.Tensor:
    """``value`` rounded to an integer tensor (as a user passing ``tensor([1, 2])`` would)."""
    return value.detach().round().to(torch.int64)


def build_raises_naming(example: Example, name: str, value: Any) -> str | None:
    """Construct ``example`` with ``name=value`` and ``validate_args=True``; the error message
    when it raises ``ValueError``/``TypeError`` naming ``name``, ``None`` when it is accepted.
    Any other exception, or an error that does not name the parameter, is re-raised as an
    ``AssertionError``."""
    overrides = {name: value}
    counterpart = {"probs": "logits", "logits": "probs"}.get(name)
    if counterpart in example.params:
        overrides[counterpart] = None
    try:
        dist: Distribution = example.make(validate_args=True, **overrides)
    except (ValueError, TypeError) as err:
        message = str(err)
        assert name in message, (
            f"{example.name}: bad {name} gave an error that does not name it: {message}"
        )
        return message
    except Exception as err:  # any other exception is the finding
        raise AssertionError(
            f"{example.name}: bad {name} raised {type(err).__name__}, not ValueError: {err}"
        ) from err
    del dist
    return None


def extreme_logits(family: str, dtype: torch.dtype, seed: int, masked: bool) -> torch.Tensor:
    """Estimator logits of shape ``(2, 3)`` (Bernoulli) or ``(2, 4)`` (categorical) at
    ``+-50`` and 0; with ``masked`` (categorical), some categories at ``-inf`` (never a whole
    row)."""
    gen = torch.Generator().manual_seed(seed)
    k = 3 if family == "bernoulli" else 4
    logits = _pick(REAL_EXTREMES, torch.empty(2, k, dtype=dtype), gen)
    if masked and family == "categorical":
        mask = torch.rand(2, k, generator=gen) < 0.5
        mask[:, int(torch.randint(k, (), generator=gen))] = False  # one category stays
        logits = logits.masked_fill(mask, -math.inf)
    return logits
