"""The one list of gradient estimators: every consumer iterates it.

An estimator class declares its facts as class attributes (see `Estimator`) and registers its
default configuration with the decorator; a named variant registers constructor arguments::

    @register_estimator
    class MyEstimator(Estimator):
        name = "my-estimator"
        ...

    register_estimator(REINFORCE, name="reinforce-loo", baseline="loo")

The protocol and unbiasedness tests, ``relaxit bench estimators``, ``relaxit bench speed``,
``relaxit vae --list-methods`` and the README/docs tables all read `entries()`, so a registered
estimator appears in each of them without further edits.

Examples:
    >>> from relaxit.estimators import registry
    >>> entry = registry.get("reinforce-loo")
    >>> entry.config, entry.unbiased, entry.evaluations_per_sample
    ("REINFORCE(baseline='loo')", True, 1)
    >>> "disarm" in registry.names()
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, overload

from relaxit.estimators._protocol import BERNOULLI, CATEGORICAL, OBJECTIVES, Estimator

E = TypeVar("E", bound=type[Estimator])

_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True)
class RegisteredEstimator:
    """One registry entry: an estimator class and the constructor arguments of this name.

    The facts (families, unbiased, evaluations per sample, ...) are read from the class, or from
    a freshly built instance where a constructor argument can change them (``min_samples`` of
    ``REINFORCE(baseline="loo")``, ``evaluations_per_sample`` of ``RELAX`` with a control that
    does not call ``f``).
    """

    name: str
    cls: type[Estimator]
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def build(self, **overrides: Any) -> Estimator:
        """A new estimator of this configuration; ``overrides`` replace constructor arguments."""
        return self.cls(**{**self.kwargs, **overrides})

    @property
    def config(self) -> str:
        """The constructor call this name stands for, e.g. ``REINFORCE(baseline='loo')``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.cls.__name__}({args})"

    @property
    def families(self) -> tuple[str, ...]:
        return self.cls.families

    @property
    def unbiased(self) -> bool:
        return self.cls.unbiased

    @property
    def exact(self) -> bool:
        return self.cls.exact

    @property
    def paper(self) -> str:
        return self.cls.paper

    @property
    def objective(self) -> str:
        return self.cls.objective

    @property
    def joint_variables(self) -> bool:
        return self.cls.joint_variables

    @property
    def min_samples(self) -> int:
        return self.build().min_samples

    @property
    def evaluations_per_sample(self) -> int | None:
        return self.build().evaluations_per_sample

    def supports(self, family: str) -> bool:
        """Whether ``family`` (``BERNOULLI`` or ``CATEGORICAL``) is supported."""
        return family in self.cls.families


_REGISTRY: dict[str, RegisteredEstimator] = {}

ESTIMATORS: Mapping[str, RegisteredEstimator] = MappingProxyType(_REGISTRY)
"""Read-only view: registry name -> `RegisteredEstimator`, in registration order."""


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _check_class(cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Estimator)):
        raise TypeError(f"register_estimator needs a subclass of Estimator, got {cls!r}")
    who = cls.__name__
    if not (isinstance(cls.name, str) and _NAME.match(cls.name)):
        raise ValueError(f"{who}.name must be a kebab-case string, got {cls.name!r}")
    fams = cls.families
    if not (isinstance(fams, tuple) and fams and set(fams) <= {BERNOULLI, CATEGORICAL}):
        raise ValueError(
            f"{who}.families must be a non-empty tuple of BERNOULLI / CATEGORICAL, got {fams!r}"
        )
    if not isinstance(cls.unbiased, bool):
        raise ValueError(f"{who}.unbiased must be True or False, got {cls.unbiased!r}")
    evals = cls.evaluations_per_sample
    if evals is not None and not _positive_int(evals):
        raise ValueError(f"{who}.evaluations_per_sample must be an int >= 1, got {evals!r}")
    if not (isinstance(cls.paper, str) and cls.paper.strip()):
        raise ValueError(f"{who}.paper must name the paper (a short citation)")
    if cls.objective not in OBJECTIVES:
        raise ValueError(f"{who}.objective must be one of {OBJECTIVES}, got {cls.objective!r}")
    if not isinstance(cls.joint_variables, bool):
        raise ValueError(f"{who}.joint_variables must be a bool, got {cls.joint_variables!r}")
    if not _positive_int(cls.min_samples):
        raise ValueError(f"{who}.min_samples must be an int >= 1, got {cls.min_samples!r}")


def _register(cls: E, name: str | None, kwargs: dict[str, Any]) -> E:
    _check_class(cls)
    name = cls.name if name is None else name
    if not (isinstance(name, str) and _NAME.match(name)):
        raise ValueError(f"estimator name must be a kebab-case string, got {name!r}")
    if name in _REGISTRY:
        raise ValueError(
            f"estimator name {name!r} is already registered ({_REGISTRY[name].config}); "
            "pick another name or unregister it first"
        )
    entry = RegisteredEstimator(name, cls, MappingProxyType(dict(kwargs)))
    entry.build()  # fail at registration, not in a consumer, if the arguments are wrong
    _REGISTRY[name] = entry
    return cls


@overload
def register_estimator(cls: E, /, *, name: str | None = None, **kwargs: Any) -> E: ...
@overload
def register_estimator(
    cls: None = None, /, *, name: str | None = None, **kwargs: Any
) -> Callable[[E], E]: ...
def register_estimator(
    cls: E | None = None, /, *, name: str | None = None, **kwargs: Any
) -> E | Callable[[E], E]:
    """Register an estimator configuration under ``name`` (default ``cls.name``).

    Usable as a bare decorator (``@register_estimator``: the default configuration under
    ``cls.name``), as a decorator with arguments (``@register_estimator(name=..., **kwargs)``),
    or as a call for a named variant (``register_estimator(REINFORCE, name="reinforce-loo",
    baseline="loo")``). Returns the class unchanged.

    Args:
        cls: a subclass of `Estimator` declaring ``name``, ``families``, ``unbiased``,
            ``evaluations_per_sample``, ``paper``, ``min_samples`` and ``objective``.
        name: the registry (and CLI) name, kebab-case; default ``cls.name``.
        **kwargs: constructor arguments of this configuration.

    Raises:
        TypeError: ``cls`` is not an `Estimator` subclass.
        ValueError: a missing or malformed class attribute, a name already taken, or
            constructor arguments that ``cls`` rejects.
    """
    if cls is None:
        return lambda c: _register(c, name, kwargs)
    return _register(cls, name, kwargs)


def unregister(name: str) -> RegisteredEstimator:
    """Remove ``name`` from the registry and return its entry (``KeyError`` if absent)."""
    return _REGISTRY.pop(name)


def get(name: str) -> RegisteredEstimator:
    """The entry called ``name``; ``ValueError`` listing the registered names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown estimator {name!r}; registered: {', '.join(_REGISTRY)}"
        ) from None


def names() -> list[str]:
    """Every registered name, in registration order."""
    return list(_REGISTRY)


def entries(
    family: str | None = None, unbiased: bool | None = None, exact: bool | None = None
) -> list[RegisteredEstimator]:
    """The registered entries, optionally only those supporting ``family``, with the given
    ``unbiased`` flag, or (not) exact."""
    return [
        e
        for e in _REGISTRY.values()
        if (family is None or e.supports(family))
        and (unbiased is None or e.unbiased == unbiased)
        and (exact is None or e.exact == exact)
    ]


def gallery_page(cls: type[Estimator]) -> str:
    """The docs' gallery page of an estimator class, relative to ``docs/gallery/estimators/``:
    its ``name`` with underscores (``straight-through`` -> ``straight_through.md``)."""
    return cls.name.replace("-", "_") + ".md"


_FAMILY_WORDS = {(BERNOULLI,): "Bernoulli", (CATEGORICAL,): "categorical"}


def markdown_table(page_prefix: str = "docs/gallery/estimators/") -> str:
    """The table of every registered estimator, one row per name, as the README and the docs'
    gallery show it (``docs/scripts/update_tables.py`` writes it there; a test compares).

    Args:
        page_prefix: path from the page holding the table to the gallery's estimator pages.

    Returns:
        A Markdown table: name, configuration (linked to the class's gallery page),
        families, unbiased, evaluations of ``f`` per sample ("varies" where it is not a
        multiple of ``n_samples``: the class's page says how many), paper.
    """
    rows = [
        "| name | configuration | families | unbiased | f evaluations per sample | paper |",
        "|---|---|---|---|---|---|",
    ]
    for e in _REGISTRY.values():
        families = _FAMILY_WORDS.get(tuple(e.families), "both")
        unbiased = "exact" if e.exact else ("yes" if e.unbiased else "no")
        if e.objective != "mean":
            unbiased += f" (for the {e.objective} bound)"
        evals = e.evaluations_per_sample
        evals_text = str(evals) if evals is not None else "the support" if e.exact else "varies"
        config = f"[`{e.config}`]({page_prefix}{gallery_page(e.cls)})"
        cells = [f"`{e.name}`", config, families, unbiased, evals_text, e.paper]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
