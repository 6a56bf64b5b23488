"""The ways to train a discrete latent: relaxations (a reparametrized sample fed to the decoder)
and gradient estimators of ``relaxit.estimators`` (the decoder sees exact 0/1 or one-hot samples).

Every method trains the *same* discrete model: an encoder gives logits ``l`` of a factorized
posterior q(b|x) over D bits or N one-hot variables with K classes, the prior is uniform, and the
KL term is the exact discrete KL(q || prior). Only the gradient of
``E_q[-log p(x|b)]`` differs between methods, and the test bounds are always evaluated with exact
discrete samples, so numbers are comparable across methods (as in Jang et al. 2017).

Relaxations whose natural parameter is not a logit are wired so that thresholding the relaxed
sample at 1/2 gives the discrete latent b: ``gaussian-gate`` uses loc = 1/2 + sigma*l (so
P(b=1) = Phi(l)), ``hard-concrete`` uses log alpha = l with the symmetric stretch (-0.1, 1.1) (so
P(b=1) = sigmoid(l)), ``stochastic-times-smooth`` draws b ~ Bernoulli(sigmoid(l)) and feeds the
decoder b*sigmoid(l) (Bengio et al.'s p is sigmoid(l)^2); that input hands the decoder
sigmoid(l) itself, a continuous channel that the discrete model evaluated at test time lacks, so
its test bounds can worsen as training goes on (its gallery page gives the jang2017 figures).

The estimator methods are every entry of `relaxit.estimators.registry` (a registered estimator
appears here without edits), under the registry's name except where ``VAE_NAMES`` keeps this
command's earlier names; ``ESTIMATOR_SETTINGS`` holds the VAE's training settings for some of
them (samples per item, temperature schedule, constructor arguments that need the latent size).

``exact`` (enumerating the support) is only allowed for latents with at most 2^12 states: with
200 bits or 10^20 categorical configurations it is impossible; it is there as ground truth for
tiny models.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from relaxit.distributions import (
    DecoupledStraightThroughGumbelSoftmax,
    GaussianRelaxedBernoulli,
    HardConcrete,
    RebarRelaxation,
    RelaxedBernoulli,
    RelaxedBernoulliStraightThrough,
    RelaxedOneHotCategorical,
    RelaxedOneHotCategoricalStraightThrough,
    StochasticTimesSmooth,
    StraightThroughBernoulli,
)
from relaxit.estimators import BERNOULLI, CATEGORICAL, LearnedBaseline, RelaxControl, registry
from relaxit.estimators.registry import RegisteredEstimator
from relaxit.vae.objectives import Estimated, LatentObjective, Relaxation

EXACT_MAX_STATES = 2**12


@dataclass(frozen=True)
class Method:
    """A named way to train the latent: which latent kinds it supports, its paper, its defaults
    (temperature schedule, training samples per data item) and how to build it."""

    name: str
    kind: str  # "relaxation" or "estimator"
    latents: tuple[str, ...]
    uses: str  # the relaxit class(es) behind it
    reference: str
    build: Callable[[str, int], LatentObjective] = field(repr=False)
    tau0: float = 1.0
    tau_min: float = 0.5
    anneal_rate: float = 1e-4
    n_samples: int = 1
    uses_tau: bool = True
    objective: str = "elbo"  # "iwae": the multi-sample bound (a log-mean-exp estimator)

    def make(self, latent: str, n_latent: int) -> LatentObjective:
        """Build the objective for ``latent`` with ``n_latent`` numbers per data item."""
        if latent not in self.latents:
            raise ValueError(
                f"method {self.name!r} supports latent {' or '.join(self.latents)}, not {latent!r}"
            )
        return self.build(latent, n_latent)

    def describe(self) -> str:
        """One line of ``--list-methods``."""
        if not self.uses_tau:
            sched = "no temperature"
        elif self.anneal_rate:
            sched = f"tau {self.tau0:g}->{self.tau_min:g} (r={self.anneal_rate:g})"
        else:
            sched = f"tau {self.tau0:.3g}"
        latents = "/".join(self.latents)
        return (
            f"{self.name:28s} {self.kind:10s} {latents:21s} {self.uses}; {sched}; "
            f"S={self.n_samples}; {self.reference}"
            + ("; objective iwae" if self.objective == "iwae" else "")
        )


def _by_latent(bernoulli: Any, categorical: Any) -> Callable[[str, int], Relaxation]:
    def build(latent: str, n_latent: int) -> Relaxation:
        cls = bernoulli if latent == BERNOULLI else categorical
        return Relaxation(lambda logits, tau: cls(tau, logits=logits))

    return build


def _gaussian_gate(latent: str, n_latent: int, sigma: float = 0.5) -> Relaxation:
    return Relaxation(
        lambda logits, tau: GaussianRelaxedBernoulli(
            0.5 + sigma * logits, torch.full_like(logits, sigma)
        ),
        to_discrete=lambda logits: torch.special.log_ndtr(logits) - torch.special.log_ndtr(-logits),
    )


def _hard_concrete(latent: str, n_latent: int) -> Relaxation:
    return Relaxation(
        lambda logits, tau: HardConcrete(log_alpha=logits, beta=tau, xi=1.1, gamma=-0.1)
    )


def _stochastic_times_smooth(latent: str, n_latent: int) -> Relaxation:
    # p = sigmoid(l)^2 so that sqrt(p) = sigmoid(l); logit(p) computed without leaving log space.
    return Relaxation(
        lambda logits, tau: StochasticTimesSmooth(
            logits=2 * F.logsigmoid(logits)
            - F.logsigmoid(-logits)
            - torch.log1p(torch.sigmoid(logits))
        )
    )


def _straight_through_bernoulli(latent: str, n_latent: int) -> Relaxation:
    return Relaxation(lambda logits, tau: StraightThroughBernoulli(logits=logits))


def _rebar_relaxation(latent: str, n_latent: int) -> Relaxation:
    return Relaxation(lambda logits, tau: RebarRelaxation(torch.sigmoid(logits), tau))


def _decoupled(latent: str, n_latent: int, tau_backward: float = 1.0) -> Relaxation:
    return Relaxation(
        lambda logits, tau: DecoupledStraightThroughGumbelSoftmax(
            tau, torch.full_like(tau, tau_backward), logits=logits
        )
    )


NO_TAU: dict[str, Any] = {"uses_tau": False, "anneal_rate": 0.0}
BOTH = (BERNOULLI, CATEGORICAL)
BERN = (BERNOULLI,)
CAT = (CATEGORICAL,)

RELAXATIONS = [
    # --- relaxations: a reparametrized sample goes through the decoder
    Method(
        "gumbel-softmax",
        "relaxation",
        BOTH,
        "RelaxedBernoulli / RelaxedOneHotCategorical",
        "Jang et al. 2017; Maddison et al. 2017",
        _by_latent(RelaxedBernoulli, RelaxedOneHotCategorical),
    ),
    Method(
        "st-gumbel-softmax",
        "relaxation",
        BOTH,
        "RelaxedBernoulliStraightThrough / RelaxedOneHotCategoricalStraightThrough",
        "Jang et al. 2017 (straight-through)",
        _by_latent(RelaxedBernoulliStraightThrough, RelaxedOneHotCategoricalStraightThrough),
    ),
    Method(
        "decoupled-st-gumbel-softmax",
        "relaxation",
        CAT,
        "DecoupledStraightThroughGumbelSoftmax (backward tau 1)",
        "Shah et al. 2024",
        _decoupled,
    ),
    Method(
        "rebar-relaxation",
        "relaxation",
        BERN,
        "RebarRelaxation",
        "Tucker et al. 2017",
        _rebar_relaxation,
    ),
    Method(
        "hard-concrete",
        "relaxation",
        BERN,
        "HardConcrete (beta = tau, stretch -0.1..1.1)",
        "Louizos et al. 2018",
        _hard_concrete,
        tau0=2 / 3,
        tau_min=2 / 3,
        anneal_rate=0.0,
    ),
    Method(
        "gaussian-gate",
        "relaxation",
        BERN,
        "GaussianRelaxedBernoulli (sigma 0.5)",
        "Yamada et al. 2020",
        _gaussian_gate,
        **NO_TAU,
    ),
    Method(
        "straight-through-bernoulli",
        "relaxation",
        BERN,
        "StraightThroughBernoulli",
        "Bengio et al. 2013",
        _straight_through_bernoulli,
        **NO_TAU,
    ),
    Method(
        "stochastic-times-smooth",
        "relaxation",
        BERN,
        "StochasticTimesSmooth",
        "Bengio et al. 2013",
        _stochastic_times_smooth,
        **NO_TAU,
    ),
]
"""Relaxations: a reparametrized sample goes through the decoder."""

VAE_NAMES = {
    "reinforce-loo": "reinforce",
    "reinforce": "reinforce-no-baseline",
    "gumbel-softmax": "gumbel-softmax-est",
    "st-gumbel-softmax": "st-gumbel-softmax-est",
}
"""Registry name -> method name, where the method had another name before the registry (or
where a relaxation has the registry's name)."""


@dataclass(frozen=True)
class EstimatorSettings:
    """How the VAE trains with one registered estimator; ``None`` fields take the defaults of
    `estimator_method` (at least the estimator's minimum samples, the `Method` schedule when
    the estimator has a settable temperature, else none). ``kwargs`` replace the registered
    constructor arguments; ``build_kwargs(n_latent)`` adds those that need the latent size."""

    n_samples: int | None = None
    tau: dict[str, float] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    build_kwargs: Callable[[int], dict[str, Any]] | None = None
    anneal: bool = True
    note: str = ""
    reference: str = ""


ESTIMATOR_SETTINGS: dict[str, EstimatorSettings] = {
    "reinforce-loo": EstimatorSettings(n_samples=4),
    "rebar": EstimatorSettings(
        tau={"tau0": 0.5, "tau_min": 0.5, "anneal_rate": 0.0}, note="eta and temperature tuned"
    ),
    "relax": EstimatorSettings(
        build_kwargs=lambda n_latent: {"control": RelaxControl(n_latent)},
        anneal=False,
        note="control f(sigma(z)) + MLP, tuned",
    ),
    "reinmax": EstimatorSettings(tau={"tau0": 1.0, "tau_min": 1.0, "anneal_rate": 0.0}),
    "arms": EstimatorSettings(n_samples=4),
    "carms": EstimatorSettings(n_samples=4),
    "arsm": EstimatorSettings(note="K(K-1)/2 + 1 = 46 evaluations per sample at K = 10"),
    "gst": EstimatorSettings(tau={"tau0": 1.0, "tau_min": 1.0, "anneal_rate": 0.0}),
    "nvil": EstimatorSettings(
        build_kwargs=lambda n_latent: {"baseline": LearnedBaseline(n_inputs=n_latent)},
        note="a LearnedBaseline of the encoder's logits, tuned",
    ),
    "muprop-idb": EstimatorSettings(
        build_kwargs=lambda n_latent: {"baseline": LearnedBaseline(n_inputs=n_latent)},
        note="a LearnedBaseline of the encoder's logits and the Taylor terms' scales, tuned",
    ),
    "vimco": EstimatorSettings(n_samples=5, note="on log p(x,b) - log q(b|x)"),
    "reinforce-bound": EstimatorSettings(n_samples=5, note="REINFORCE on the bound"),
    "disarm-iw": EstimatorSettings(
        n_samples=5, note="S antithetic pairs: the S-sample bound, 2S decoder passes"
    ),
    "exact": EstimatorSettings(note=f"at most {EXACT_MAX_STATES} latent states"),
}
"""The VAE's settings per registry name, where they differ from `estimator_method`'s defaults."""

VAE_VARIANTS: dict[str, tuple[str, EstimatorSettings]] = {
    "gumbel-rao-100": (
        "gumbel-rao",
        EstimatorSettings(kwargs={"n_rao": 100}, reference="GR-MC100"),
    ),
    "gumbel-rao-1000": (
        "gumbel-rao",
        EstimatorSettings(kwargs={"n_rao": 1000}, reference="GR-MC1000"),
    ),
}
"""Methods of the VAE only (papers' settings): method name -> (registry name, settings); listed
after the registry entry they vary."""


def estimator_method(
    entry: RegisteredEstimator, name: str | None = None, settings: EstimatorSettings | None = None
) -> Method:
    """The `Method` that trains with the registered estimator ``entry`` (under ``name``, default
    the registry's name as `VAE_NAMES` maps it, with ``settings``, default the registry name's
    entry of `ESTIMATOR_SETTINGS`)."""
    s = settings or ESTIMATOR_SETTINGS.get(entry.name, EstimatorSettings())
    configured = RegisteredEstimator(entry.name, entry.cls, {**entry.kwargs, **s.kwargs})
    probe = configured.build()
    settable_tau = hasattr(probe, "temperature") and not isinstance(probe.temperature, torch.Tensor)
    if s.tau is not None:
        schedule: dict[str, Any] = dict(s.tau)
    else:
        schedule = {} if settable_tau else dict(NO_TAU)

    def build(latent: str, n_latent: int) -> Estimated:
        kwargs = {} if s.build_kwargs is None else s.build_kwargs(n_latent)
        return Estimated(configured.build(**kwargs), latent, anneal=s.anneal)

    return Method(
        name or VAE_NAMES.get(entry.name, entry.name),
        "estimator",
        entry.families,
        configured.config + (f", {s.note}" if s.note else ""),
        entry.paper + (f" ({s.reference})" if s.reference else ""),
        build,
        n_samples=s.n_samples or probe.min_samples,
        objective="iwae" if entry.objective == "log-mean-exp" else "elbo",
        **schedule,
    )


def all_methods() -> dict[str, Method]:
    """Every method name -> `Method`: the relaxations, then every registered estimator (each
    followed by its `VAE_VARIANTS`) that can train this VAE: its ``f`` is a function of the
    joint of all of a data item's latents, so estimators of one variable per item
    (``joint_variables = False``) are left out. Multi-sample bounds (``objective =
    "log-mean-exp"``) train the importance-weighted bound (``relaxit vae --objective iwae``)."""
    methods = list(RELAXATIONS)
    for entry in registry.entries():
        if not entry.joint_variables:
            continue
        methods.append(estimator_method(entry))
        for name, (base, settings) in VAE_VARIANTS.items():
            if base == entry.name:
                methods.append(estimator_method(entry, name, settings))
    return {m.name: m for m in methods}


class _Methods(Mapping[str, Method]):
    """A read-only mapping that reads `all_methods` at each access (so it follows the
    estimator registry)."""

    def __getitem__(self, name: str) -> Method:
        return all_methods()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(all_methods())

    def __len__(self) -> int:
        return len(all_methods())


METHODS: Mapping[str, Method] = _Methods()
"""Every method name -> `Method`, in the order ``relaxit vae --list-methods`` prints them."""


def get_method(name: str) -> Method:
    """The `Method` called ``name``; ``ValueError`` listing the valid names otherwise."""
    methods = all_methods()
    try:
        return methods[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(methods)}") from None


def n_latent_states(latent: str, bits: int, n_vars: int, n_classes: int) -> float:
    """Number of joint latent configurations (as a float: it overflows int64 for 200 bits)."""
    return 2.0**bits if latent == "bernoulli" else math.pow(n_classes, n_vars)
