"""The cases of ``relaxit bench speed``: what is timed, at which sizes, against which floor.

A `Case` is one class (or estimator table) at one size: the candidates to interleave (the
class's ``rsample``, its floor from `relaxit.bench.floors`, PyTorch's or Pyro's built-in for the
same method) and the leaves to differentiate. `all_cases` lists every distribution class of
`relaxit.distributions` (a completeness test checks that every class of the kit's Example
registry has one), `estimator_cases` every registered estimator.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyro.distributions as pyro_dist
import torch
import torch.nn.functional as F

from relaxit import distributions as rd
from relaxit.bench import floors
from relaxit.estimators import BERNOULLI, CATEGORICAL
from relaxit.estimators import registry as estimator_registry

SOFT, ST, TOPK, CORRELATED, GAUSSIAN = "soft", "straight-through", "top-k", "correlated", "gaussian"
STRUCTURED = "structured"
TARGETS = {SOFT: 1.3, ST: 1.3, CORRELATED: 2.0, GAUSSIAN: 3.0}
"""Target ratio of rsample + backward to the floor, per kind of class (issue 7). Gumbel top-k:
1 + K times the categorical floor (issue 16), set per case; structured classes: no target (their
ratio to the categorical floor at the same size is reported)."""

SIZES = {
    "full": {
        "elementwise": (4096, 64),
        "categorical": [(512, 1024), (4096, 10)],
        "D": 64,
        "n": 4096,
        "topk_K": (1, 2, 5, 10),
        "topk_size": (512, 1024),
        "structured": (512, 64),
    },
    "quick": {
        "elementwise": (8, 4),
        "categorical": [(4, 6)],
        "D": 4,
        "n": 8,
        "topk_K": (1, 2),
        "topk_size": (4, 6),
        "structured": (4, 6),
    },
}

Fn = Callable[[], torch.Tensor]


@dataclass
class Case:
    """One class at one size: the candidates to interleave and the leaves to differentiate."""

    name: str
    cls: str
    kind: str
    size: str
    floor: str
    candidates: dict[str, Fn]
    leaves: list[torch.Tensor]
    floor_target: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def target(self) -> float | None:
        return self.floor_target if self.floor_target is not None else TARGETS.get(self.kind)


def _leaf(*shape: int, low: float = -2.0, high: float = 2.0) -> torch.Tensor:
    return (torch.rand(shape) * (high - low) + low).requires_grad_()


def _fixed(value: float) -> torch.Tensor:
    return torch.tensor(value)


def elementwise_cases(b: int, d: int) -> list[Case]:
    size = f"{b}x{d}"
    logits = _leaf(b, d)
    probs = _leaf(b, d, low=0.05, high=0.95)
    tau = _fixed(0.5)
    loc, scale = _leaf(b, d, low=0.2, high=0.8), _leaf(b, d, low=0.3, high=0.6)
    alpha = _leaf(b, d, low=0.3, high=3.0)
    beta, xi, gamma = _fixed(2 / 3), _fixed(1.1), _fixed(-0.1)
    nv = {"validate_args": False}
    rb = torch.distributions.RelaxedBernoulli
    return [
        Case(
            f"GaussianRelaxedBernoulli {size}",
            "GaussianRelaxedBernoulli",
            SOFT,
            size,
            "floor",
            {
                "relaxit": lambda: rd.GaussianRelaxedBernoulli(loc, scale, **nv).rsample(),
                "floor": lambda: floors.gaussian_gate(loc, scale),
            },
            [loc, scale],
        ),
        Case(
            f"HardConcrete {size}",
            "HardConcrete",
            SOFT,
            size,
            "floor",
            {
                "relaxit": lambda: rd.HardConcrete(alpha, beta, xi, gamma, **nv).rsample(),
                "floor": lambda: floors.hard_concrete(alpha, beta, xi, gamma),
            },
            [alpha],
        ),
        Case(
            f"RebarRelaxation {size}",
            "RebarRelaxation",
            SOFT,
            size,
            "floor",
            {
                "relaxit": lambda: rd.RebarRelaxation(probs, tau, **nv).rsample(),
                "floor": lambda: floors.rebar_relaxation(probs, tau),
                "torch RelaxedBernoulli": lambda: rb(tau, probs=probs, **nv).rsample(),
            },
            [probs],
        ),
        Case(
            f"RelaxedBernoulli (torch) {size}",
            "torch RelaxedBernoulli",
            SOFT,
            size,
            "floor",
            {
                "relaxit": lambda: rb(tau, logits=logits, **nv).rsample(),
                "floor": lambda: floors.binary_concrete(logits, tau),
            },
            [logits],
            extra={"reference": True},
        ),
        Case(
            f"StraightThroughBernoulli {size}",
            "StraightThroughBernoulli",
            ST,
            size,
            "floor",
            {
                "relaxit": lambda: rd.StraightThroughBernoulli(probs=probs, **nv).rsample(),
                "floor": lambda: floors.straight_through_bernoulli(probs),
            },
            [probs],
        ),
        Case(
            f"StochasticTimesSmooth {size}",
            "StochasticTimesSmooth",
            ST,
            size,
            "floor",
            {
                "relaxit": lambda: rd.StochasticTimesSmooth(probs=probs, **nv).rsample(),
                "floor": lambda: floors.stochastic_times_smooth(probs),
            },
            [probs],
        ),
        Case(
            f"RelaxedBernoulliStraightThrough {size}",
            "RelaxedBernoulliStraightThrough",
            ST,
            size,
            "floor",
            {
                "relaxit": lambda: rd.RelaxedBernoulliStraightThrough(
                    tau, logits=logits, **nv
                ).rsample(),
                "floor": lambda: floors.binary_concrete_straight_through(logits, tau),
                "pyro RelaxedBernoulliStraightThrough": lambda: (
                    pyro_dist.RelaxedBernoulliStraightThrough(tau, logits=logits, **nv).rsample()
                ),
            },
            [logits],
        ),
    ]


def categorical_cases(b: int, k: int) -> list[Case]:
    size = f"{b}x{k}"
    logits = _leaf(b, k)
    tau = _fixed(0.5)
    values = torch.arange(k, dtype=torch.float32)
    rate = _leaf(b, 1, low=1.0, high=5.0)
    loc, scale = _leaf(b, k), _leaf(b, k, low=0.5, high=1.5)
    loc1, scale1 = _leaf(b, k - 1), _leaf(b, k - 1, low=0.5, high=1.5)
    delta = _fixed(1.0)
    log_delta = delta.log()
    nv = {"validate_args": False}
    rohc = torch.distributions.RelaxedOneHotCategorical
    gs_hard = {
        "torch F.gumbel_softmax(hard=True)": lambda: F.gumbel_softmax(logits, tau=0.5, hard=True)
    }
    # Poisson's masses over K values: only the small-K (truncated) case is meaningful, since at
    # K = 1024 log-masses of about -5000 underflow exp/lgamma into their slow paths.
    poisson = (
        [
            Case(
                f"GeneralizedGumbelSoftmaxNP(Poisson) {size}",
                "GeneralizedGumbelSoftmaxNP",
                SOFT,
                size,
                "floor",
                {
                    "relaxit": lambda: rd.GeneralizedGumbelSoftmaxNP(
                        torch.distributions.Poisson(rate.squeeze(-1), validate_args=False),
                        values,
                        tau=tau,
                        **nv,
                    ).rsample(),
                    "floor": lambda: floors.poisson_gumbel_softmax(rate, values, tau),
                },
                [rate],
            ),
        ]
        if k <= 64
        else []
    )
    return [
        *poisson,
        Case(
            f"RelaxedOneHotCategorical (torch) {size}",
            "torch RelaxedOneHotCategorical",
            SOFT,
            size,
            "floor",
            {
                "relaxit": lambda: rohc(tau, logits=logits, **nv).rsample(),
                "floor": lambda: floors.gumbel_softmax(logits, tau),
                "torch F.gumbel_softmax": lambda: F.gumbel_softmax(logits, tau=0.5),
            },
            [logits],
            extra={"reference": True},
        ),
        Case(
            f"RelaxedOneHotCategoricalStraightThrough {size}",
            "RelaxedOneHotCategoricalStraightThrough",
            ST,
            size,
            "floor",
            {
                "relaxit": lambda: rd.RelaxedOneHotCategoricalStraightThrough(
                    tau, logits=logits, **nv
                ).rsample(),
                "floor": lambda: floors.gumbel_softmax_straight_through(logits, tau),
                **gs_hard,
                "pyro RelaxedOneHotCategoricalStraightThrough": lambda: (
                    pyro_dist.RelaxedOneHotCategoricalStraightThrough(
                        tau, logits=logits, **nv
                    ).rsample()
                ),
            },
            [logits],
        ),
        Case(
            f"DecoupledStraightThroughGumbelSoftmax {size}",
            "DecoupledStraightThroughGumbelSoftmax",
            ST,
            size,
            "floor",
            {
                "relaxit": lambda: rd.DecoupledStraightThroughGumbelSoftmax(
                    tau, 1.0, logits=logits, **nv
                ).rsample(),
                "floor": lambda: floors.gumbel_softmax_straight_through(logits, tau),
                **gs_hard,
            },
            [logits],
        ),
        Case(
            f"GeneralizedGumbelSoftmax {size}",
            "GeneralizedGumbelSoftmax",
            SOFT,
            size,
            "floor",
            {
                "relaxit": lambda: rd.GeneralizedGumbelSoftmax(
                    values, logits=logits, tau=tau, **nv
                ).rsample(),
                "floor": lambda: floors.gumbel_softmax(logits, tau),
                "torch RelaxedOneHotCategorical": lambda: rohc(tau, logits=logits, **nv).rsample(),
                "torch F.gumbel_softmax": lambda: F.gumbel_softmax(logits, tau=0.5),
            },
            [logits],
        ),
        Case(
            f"LogisticNormalSoftmax {size}",
            "LogisticNormalSoftmax",
            SOFT,
            size,
            "floor",
            {
                "relaxit": lambda: rd.LogisticNormalSoftmax(loc, scale, **nv).rsample(),
                "floor": lambda: floors.logistic_normal_softmax(loc, scale),
            },
            [loc, scale],
        ),
        Case(
            f"InvertibleGaussian {size}",
            "InvertibleGaussian",
            SOFT,
            size,
            "floor",
            {
                "relaxit": lambda: rd.InvertibleGaussian(loc1, scale1, tau, delta, **nv).rsample(),
                "floor": lambda: floors.invertible_gaussian(loc1, scale1, tau, log_delta),
            },
            [loc1, scale1],
        ),
    ]


def saved_tensor_bytes(fn: Fn) -> int:
    """Bytes of the distinct tensors autograd saves for the backward pass while ``fn()`` runs."""
    seen: dict[tuple[int, torch.dtype, tuple[int, ...]], int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[(t.data_ptr(), t.dtype, tuple(t.shape))] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def topk_cases(b: int, n: int, ks: tuple[int, ...]) -> list[Case]:
    """Gumbel top-k against the categorical floor; target 1 + K (issue 16). The bytes saved
    for backward are measured next to those of the step-by-step autograd graph of the same
    relaxation (`relaxed_k_hot_functional`)."""
    from relaxit.distributions._topk_relaxation import relaxed_k_hot_functional

    size = f"{b}x{n}"
    logits = _leaf(b, n)
    tau = _fixed(0.5)
    cases = []
    for k in ks:

        def relaxit_fn(k: int = k) -> torch.Tensor:
            return rd.GumbelSoftmaxTopK(logits=logits, K=k, tau=tau, validate_args=False).rsample()

        def step_by_step(k: int = k) -> torch.Tensor:
            return relaxed_k_hot_functional(logits + floors.gumbel(logits), 1 / tau, k)

        cases.append(
            Case(
                f"GumbelSoftmaxTopK K={k} {size}",
                "GumbelSoftmaxTopK",
                TOPK,
                size,
                "categorical floor",
                {
                    "relaxit": relaxit_fn,
                    "categorical floor": lambda: floors.gumbel_softmax(logits, tau),
                },
                [logits],
                floor_target=1.0 + k,
                extra={
                    "K": k,
                    "saved_bytes": saved_tensor_bytes(relaxit_fn),
                    "saved_bytes_step_by_step": saved_tensor_bytes(step_by_step),
                },
            )
        )
    return cases


def structured_cases(b: int, n: int) -> list[Case]:
    """KSubset (SIMPLE), PlackettLuce, gumbel_sinkhorn, neural_sort, SpanningTree,
    gumbel_spanning_tree, Arborescence and gumbel_arborescence next to the categorical floor at
    the same batch and number of items: what one structured sample costs in Gumbel-Softmax
    samples. PlackettLuce, SpanningTree and Arborescence have no rsample: sample + log_prob
    (score function)."""
    from relaxit.structured import (
        gumbel_arborescence,
        gumbel_sinkhorn,
        gumbel_spanning_tree,
        neural_sort,
    )

    size = f"{b}x{n}"
    logits = _leaf(b, n)
    tau = _fixed(0.5)
    side = max(2, math.isqrt(n))
    square = _leaf(b, side, side)
    floor = {"categorical floor": lambda: floors.gumbel_softmax(logits, tau)}
    square_floor = {"categorical floor": lambda: floors.gumbel_softmax(square.reshape(b, -1), tau)}
    k = max(1, n // 8)
    return [
        Case(
            f"KSubset (SIMPLE) k={k} {size}",
            "KSubset",
            STRUCTURED,
            size,
            "categorical floor",
            {"relaxit": lambda: rd.KSubset(logits, k, validate_args=False).rsample(), **floor},
            [logits],
        ),
        Case(
            f"PlackettLuce sample + log_prob {size}",
            "PlackettLuce",
            STRUCTURED,
            size,
            "categorical floor",
            {
                "relaxit": lambda: (d := rd.PlackettLuce(logits, validate_args=False)).log_prob(
                    d.sample()
                ),
                **floor,
            },
            [logits],
        ),
        Case(
            f"neural_sort (stochastic, hard) {size}",
            "neural_sort",
            STRUCTURED,
            size,
            "categorical floor",
            {
                "relaxit": lambda: neural_sort(logits + floors.gumbel(logits), tau, hard=True),
                **floor,
            },
            [logits],
        ),
        Case(
            f"gumbel_sinkhorn 20 iterations {b}x{side}x{side}",
            "gumbel_sinkhorn",
            STRUCTURED,
            f"{b}x{side}x{side}",
            "categorical floor",
            {"relaxit": lambda: gumbel_sinkhorn(square, tau, n_iters=20), **square_floor},
            [square],
        ),
        Case(
            f"SpanningTree sample + log_prob {b}x{side}x{side}",
            "SpanningTree",
            STRUCTURED,
            f"{b}x{side}x{side}",
            "categorical floor",
            {
                "relaxit": lambda: (d := rd.SpanningTree(square, validate_args=False)).log_prob(
                    d.sample()
                ),
                **square_floor,
            },
            [square],
        ),
        Case(
            f"Arborescence sample + log_prob {b}x{side}x{side}",
            "Arborescence",
            STRUCTURED,
            f"{b}x{side}x{side}",
            "categorical floor",
            {
                "relaxit": lambda: (d := rd.Arborescence(square, validate_args=False)).log_prob(
                    d.sample()
                ),
                **square_floor,
            },
            [square],
        ),
        Case(
            f"gumbel_arborescence (hard) {b}x{side}x{side}",
            "gumbel_arborescence",
            STRUCTURED,
            f"{b}x{side}x{side}",
            "categorical floor",
            {"relaxit": lambda: gumbel_arborescence(square, tau, hard=True), **square_floor},
            [square],
        ),
        Case(
            f"gumbel_spanning_tree (hard) {b}x{side}x{side}",
            "gumbel_spanning_tree",
            STRUCTURED,
            f"{b}x{side}x{side}",
            "categorical floor",
            {"relaxit": lambda: gumbel_spanning_tree(square, tau, hard=True), **square_floor},
            [square],
        ),
    ]


def correlated_cases(b: int, d: int) -> list[Case]:
    size = f"{b}x{d}"
    pi = _leaf(b, d, low=0.05, high=0.95)
    logits = torch.logit(pi.detach()).requires_grad_()
    a = torch.randn(d, 2 * d)
    cov = a @ a.T / (2 * d) + 0.1 * torch.eye(d)
    sd = cov.diagonal().sqrt()
    corr = cov / sd[:, None] / sd[None, :]
    scale_tril = torch.linalg.cholesky(corr)
    tau = _fixed(0.5)
    return [
        Case(
            f"CorrelatedRelaxedBernoulli D={d} {size}",
            "CorrelatedRelaxedBernoulli",
            CORRELATED,
            size,
            "floor",
            {
                "relaxit": lambda: rd.CorrelatedRelaxedBernoulli(
                    pi, corr, tau, validate_args=False
                ).rsample(),
                "floor": lambda: floors.correlated_gates(logits, scale_tril, tau),
            },
            [pi],
        ),
    ]


def gaussian_cases(n: int, d: int) -> list[Case]:
    size = f"{n} draws, D={d}"
    loc = _leaf(d)
    a = torch.randn(d, d) / math.sqrt(d)
    scale_tril = (torch.linalg.cholesky(a @ a.T + torch.eye(d))).requires_grad_()
    cv = torch.full((2, 1, d), 0.1, requires_grad=True)
    nv = {"validate_args": False}
    mvn = torch.distributions.MultivariateNormal
    shape = torch.Size((n,))
    builtin = {
        "torch MultivariateNormal": lambda: mvn(loc, scale_tril=scale_tril, **nv).rsample(shape)
    }
    return [
        Case(
            f"OMTMultivariateNormal {size}",
            "OMTMultivariateNormal",
            GAUSSIAN,
            size,
            "floor",
            {
                "relaxit": lambda: rd.OMTMultivariateNormal(loc, scale_tril).rsample(shape),
                "floor": lambda: floors.multivariate_normal(loc, scale_tril, n),
                **builtin,
                "pyro OMTMultivariateNormal": lambda: pyro_dist.OMTMultivariateNormal(
                    loc, scale_tril
                ).rsample(shape),
            },
            [loc, scale_tril],
        ),
        Case(
            f"AVFMultivariateNormal {size}",
            "AVFMultivariateNormal",
            GAUSSIAN,
            size,
            "floor",
            {
                "relaxit": lambda: rd.AVFMultivariateNormal(loc, scale_tril, cv).rsample(shape),
                "floor": lambda: floors.multivariate_normal(loc, scale_tril, n),
                **builtin,
                "pyro AVFMultivariateNormal": lambda: pyro_dist.AVFMultivariateNormal(
                    loc, scale_tril, cv
                ).rsample(shape),
            },
            [loc, scale_tril, cv],
        ),
    ]


def all_cases(quick: bool) -> list[Case]:
    s = SIZES["quick" if quick else "full"]
    cases = elementwise_cases(*s["elementwise"])
    for b, k in s["categorical"]:
        cases += categorical_cases(b, k)
    cases += topk_cases(*s["topk_size"], s["topk_K"])
    cases += structured_cases(*s["structured"])
    cases += correlated_cases(s["elementwise"][0], s["D"])
    cases += gaussian_cases(s["n"], s["D"])
    return cases


def estimator_cases(quick: bool) -> list[Case]:
    """``est(f, dist, n=2)`` + backward at VAE-sized batches (100 x 200 bits, 100 x 20 x 10),
    ``f`` a linear Bernoulli decoder's negative log-likelihood of fixed binary images; ratio to
    ``REINFORCE()``. Every entry of `relaxit.estimators.registry` that samples (not `Exact`:
    2**200 states), supports the family and a joint of several variables (the decoder couples
    all latents of an image), in its default configuration; a multi-sample bound
    (``objective = "log-mean-exp"``, VIMCO) gets the log-weights ``log p(x|b) = -f``."""
    batch, pixels = (4, 6) if quick else (100, 784)
    cases = []
    for family, event in (
        (BERNOULLI, (3,) if quick else (200,)),
        (CATEGORICAL, (2, 3) if quick else (20, 10)),
    ):
        n_latent = math.prod(event)
        logits = _leaf(batch, *event)
        w = torch.randn(n_latent, pixels) / math.sqrt(n_latent)
        x = (torch.rand(batch, pixels) < 0.3).float()

        def f(b: torch.Tensor, w=w, x=x) -> torch.Tensor:
            lin = b.reshape(*b.shape[:2], -1) @ w
            return F.binary_cross_entropy_with_logits(lin, x.expand_as(lin), reduction="none").sum(
                -1
            )

        def make_dist(family=family, logits=logits):
            if family == BERNOULLI:
                return torch.distributions.Bernoulli(logits=logits, validate_args=False)
            return torch.distributions.OneHotCategorical(logits=logits, validate_args=False)

        candidates: dict[str, Fn] = {}
        for entry in estimator_registry.entries(family=family, exact=False):
            if not entry.joint_variables:
                continue
            est = entry.build()
            n = max(2, est.min_samples)
            g = (lambda b, f=f: -f(b)) if est.objective == "log-mean-exp" else f
            est(g, make_dist(), n)  # a first call: lazy parts (a RELAX control) are built
            candidates[entry.name] = lambda est=est, g=g, make_dist=make_dist, n=n: est(
                g, make_dist(), n
            )
        size = f"{batch}x{'x'.join(map(str, event))}, n_samples=2"
        cases.append(
            Case(
                f"estimators {family} {size}",
                f"estimators ({family})",
                "estimator",
                size,
                "reinforce",
                candidates,
                [logits],
            )
        )
    return cases
