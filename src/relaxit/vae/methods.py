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
decoder b*sigmoid(l) (Bengio et al.'s p is sigmoid(l)^2).

``exact`` (enumerating the support) is only allowed for latents with at most 2^12 states: with
200 bits or 10^20 categorical configurations it is impossible; it is there as ground truth for
tiny models.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, OneHotCategorical

EXACT_MAX_STATES = 2**12

NLL = Callable[[torch.Tensor], torch.Tensor]
"""Maps latents (S, B, *latent_shape) to -log p(x|z) of shape (S, B)."""


class LatentObjective(nn.Module):
    """Per-example training loss E_q[-log p(x|b)] of one method, shape (B,), whose gradient with
    respect to the encoder's logits is the method's estimator. Holds the estimator's state."""

    def discrete_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits of the discrete posterior q(b|x) that this method's samples threshold to."""
        return logits

    def forward(
        self, logits: torch.Tensor, nll: NLL, n_samples: int, tau: float
    ) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Relaxation(LatentObjective):
    """``z = dist(logits, tau).rsample((S,))`` fed to the decoder; the loss is the mean of
    -log p(x|z) over the S samples."""

    def __init__(
        self,
        make_dist: Callable[[torch.Tensor, torch.Tensor], Any],
        to_discrete: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        self.make_dist = make_dist
        self.to_discrete = to_discrete

    def discrete_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits if self.to_discrete is None else self.to_discrete(logits)

    def forward(self, logits: torch.Tensor, nll: NLL, n_samples: int, tau: float) -> torch.Tensor:
        temperature = torch.tensor(tau, dtype=logits.dtype, device=logits.device)
        z = self.make_dist(logits, temperature).rsample((n_samples,))
        return nll(z).mean(0)


class Estimated(LatentObjective):
    """``est(f, q, S)`` of ``relaxit.estimators`` with f = -log p(x|b) per sample and data item
    (m = 1). The estimator's ``temperature``, when it has one, follows the annealing schedule.

    An estimator with trainable parameters (REBAR's ``eta`` and ``log_temperature``, RELAX's
    control network) is tuned as their papers do (Tucker et al. 2017 adapt eta and the
    temperature online; Grathwohl et al. 2018, section 3.3): those parameters descend the
    variance surrogate of
    ``est.loss_and_variance``, while the model's parameters descend the loss, in one backward
    pass (so that DistributedDataParallel sees every gradient): the returned loss carries the
    extra term ``sum_p <p - p.detach(), dV/dp>``, zero in value, whose gradient is ``dV/dp`` for
    the estimator's parameters and nothing for the rest.
    """

    def __init__(self, estimator: Any, latent: str, anneal: bool = True):
        super().__init__()
        self.estimator = estimator
        self.latent = latent
        self.anneal = anneal

    @property
    def multi_sample(self) -> bool:
        """Whether the estimator trains a multi-sample bound (``objective == "log-mean-exp"``):
        then ``f`` is given log-weights ``log p(x, b) - log q(b|x)`` and returns the bound."""
        return getattr(self.estimator, "objective", "mean") == "log-mean-exp"

    @property
    def tuned(self) -> list[nn.Parameter]:
        """The estimator's trainable parameters (none for most estimators)."""
        if not isinstance(self.estimator, nn.Module):
            return []
        return [p for p in self.estimator.parameters() if p.requires_grad]

    def forward(self, logits: torch.Tensor, nll: NLL, n_samples: int, tau: float) -> torch.Tensor:
        if (
            self.anneal
            and hasattr(self.estimator, "temperature")
            and not isinstance(self.estimator.temperature, torch.Tensor)
        ):
            self.estimator.temperature = tau
        dist = (
            Bernoulli(logits=logits)
            if self.latent == "bernoulli"
            else OneHotCategorical(logits=logits)
        )
        control = getattr(self.estimator, "control", None)
        if isinstance(control, RelaxControl):
            control.f = nll
        tuned = self.tuned
        if not (tuned and torch.is_grad_enabled()):
            return self.estimator(nll, dist, n_samples)
        loss, variance = self.estimator.loss_and_variance(nll, dist, n_samples)
        grads = torch.autograd.grad(variance, tuned, retain_graph=True, allow_unused=True)
        tuning = sum(
            ((p - p.detach()) * g).sum() for p, g in zip(tuned, grads, strict=True) if g is not None
        )
        return loss + tuning


class RelaxControl(nn.Module):
    """RELAX's control variate as the paper builds it for its VAE experiments (Grathwohl et al.
    2018, section 3.3): ``c(z) = f(z) + r(z)``, the objective at the relaxed latent plus a
    one-hidden-layer MLP ``r`` of the flattened relaxed latent, (S, B, *latent_shape) -> (S, B).
    ``f`` (this batch's -log p(x|.)) is bound by `Estimated` before each call; ``r`` starts at
    zero, so the control starts as REBAR's with eta = 1."""

    def __init__(self, n_latent: int, hidden: int = 50):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_latent, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)
        self.f: NLL | None = None

    def forward(self, z: torch.Tensor, *_: Any) -> torch.Tensor:
        r = self.net(z.flatten(2)).squeeze(-1)
        return r if self.f is None else self.f(z) + r


def _lookup(module: str, name: str) -> Any:
    import importlib

    try:
        return getattr(importlib.import_module(module), name)
    except AttributeError:
        raise ImportError(f"this method needs {module}.{name}, which is not available") from None


def _dist(name: str) -> Any:
    return _lookup("relaxit.distributions", name)


def _est(name: str) -> Any:
    return _lookup("relaxit.estimators", name)


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


def _by_latent(bernoulli: str | None, categorical: str | None) -> Callable[[str, int], Relaxation]:
    def build(latent: str, n_latent: int) -> Relaxation:
        cls = _dist(bernoulli if latent == "bernoulli" else categorical)
        return Relaxation(lambda logits, tau: cls(tau, logits=logits))

    return build


def _gaussian_gate(latent: str, n_latent: int, sigma: float = 0.5) -> Relaxation:
    cls = _dist("GaussianRelaxedBernoulli")
    return Relaxation(
        lambda logits, tau: cls(0.5 + sigma * logits, torch.full_like(logits, sigma)),
        to_discrete=lambda logits: torch.special.log_ndtr(logits) - torch.special.log_ndtr(-logits),
    )


def _hard_concrete(latent: str, n_latent: int) -> Relaxation:
    cls = _dist("HardConcrete")
    return Relaxation(lambda logits, tau: cls(logits.exp(), tau, 1.1, -0.1))


def _stochastic_times_smooth(latent: str, n_latent: int) -> Relaxation:
    cls = _dist("StochasticTimesSmooth")
    # p = sigmoid(l)^2 so that sqrt(p) = sigmoid(l); logit(p) computed without leaving log space.
    return Relaxation(
        lambda logits, tau: cls(
            logits=2 * F.logsigmoid(logits)
            - F.logsigmoid(-logits)
            - torch.log1p(torch.sigmoid(logits))
        )
    )


def _straight_through_bernoulli(latent: str, n_latent: int) -> Relaxation:
    cls = _dist("StraightThroughBernoulli")
    return Relaxation(lambda logits, tau: cls(logits=logits))


def _rebar_relaxation(latent: str, n_latent: int) -> Relaxation:
    cls = _dist("RebarRelaxation")
    return Relaxation(lambda logits, tau: cls(torch.sigmoid(logits), tau))


def _decoupled(latent: str, n_latent: int, tau_backward: float = 1.0) -> Relaxation:
    cls = _dist("DecoupledStraightThroughGumbelSoftmax")
    return Relaxation(
        lambda logits, tau: cls(tau, torch.full_like(tau, tau_backward), logits=logits)
    )


def _estimator(name: str, **kwargs: Any) -> Callable[[str, int], Estimated]:
    def build(latent: str, n_latent: int) -> Estimated:
        return Estimated(_est(name)(**kwargs), latent)

    return build


def _relax(latent: str, n_latent: int) -> Estimated:
    return Estimated(_est("RELAX")(RelaxControl(n_latent)), latent, anneal=False)


def _nvil(latent: str, n_latent: int) -> Estimated:
    baseline = _est("LearnedBaseline")(n_inputs=n_latent)
    return Estimated(_est("REINFORCE")(baseline=baseline), latent)


def _exact(latent: str, n_latent: int) -> Estimated:
    return Estimated(_est("Exact")(), latent)


NO_TAU: dict[str, Any] = {"uses_tau": False, "anneal_rate": 0.0}
BOTH = ("bernoulli", "categorical")
BERN = ("bernoulli",)
CAT = ("categorical",)

_ALL = [
    # --- relaxations: a reparametrized sample goes through the decoder
    Method(
        "gumbel-softmax",
        "relaxation",
        BOTH,
        "RelaxedBernoulli / RelaxedOneHotCategorical",
        "Jang et al. 2017; Maddison et al. 2017",
        _by_latent("RelaxedBernoulli", "RelaxedOneHotCategorical"),
    ),
    Method(
        "st-gumbel-softmax",
        "relaxation",
        BOTH,
        "RelaxedBernoulliStraightThrough / RelaxedOneHotCategoricalStraightThrough",
        "Jang et al. 2017 (straight-through)",
        _by_latent("RelaxedBernoulliStraightThrough", "RelaxedOneHotCategoricalStraightThrough"),
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
    # --- estimators: the decoder sees exact discrete samples
    Method(
        "reinforce",
        "estimator",
        BOTH,
        "REINFORCE(baseline='loo')",
        "Williams 1992",
        _estimator("REINFORCE", baseline="loo"),
        n_samples=4,
        **NO_TAU,
    ),
    Method("arm", "estimator", BERN, "ARM()", "Yin & Zhou 2019", _estimator("ARM"), **NO_TAU),
    Method(
        "disarm",
        "estimator",
        BERN,
        "DisARM()",
        "Dong, Mnih & Tucker 2020",
        _estimator("DisARM"),
        **NO_TAU,
    ),
    Method(
        "arms",
        "estimator",
        BERN,
        "ARMS()",
        "Dimitriev & Zhou 2021",
        _estimator("ARMS"),
        n_samples=4,
        **NO_TAU,
    ),
    Method(
        "carms",
        "estimator",
        CAT,
        "CARMS()",
        "Dimitriev & Zhou 2021",
        _estimator("CARMS"),
        n_samples=4,
        **NO_TAU,
    ),
    Method(
        "arsm",
        "estimator",
        CAT,
        "ARSM() (K(K-1)/2 + 1 = 46 evaluations per sample at K = 10)",
        "Yin, Yue & Zhou 2019",
        _estimator("ARSM"),
        **NO_TAU,
    ),
    Method(
        "rebar",
        "estimator",
        BOTH,
        "REBAR(temperature=0.5, eta=1.0), both tuned",
        "Tucker et al. 2017",
        _estimator("REBAR", temperature=0.5, eta=1.0),
        tau0=0.5,
        tau_min=0.5,
        anneal_rate=0.0,
    ),
    Method(
        "relax",
        "estimator",
        BOTH,
        "RELAX(control f(sigma(z)) + MLP, tuned)",
        "Grathwohl et al. 2018",
        _relax,
        **NO_TAU,
    ),
    Method(
        "straight-through",
        "estimator",
        BOTH,
        "StraightThrough()",
        "Bengio et al. 2013",
        _estimator("StraightThrough"),
        **NO_TAU,
    ),
    Method(
        "gumbel-softmax-est",
        "estimator",
        BOTH,
        "GumbelSoftmax(hard=False)",
        "Jang et al. 2017; Maddison et al. 2017",
        _estimator("GumbelSoftmax", hard=False),
    ),
    Method(
        "st-gumbel-softmax-est",
        "estimator",
        BOTH,
        "GumbelSoftmax(hard=True)",
        "Jang et al. 2017",
        _estimator("GumbelSoftmax", hard=True),
    ),
    Method(
        "gumbel-rao",
        "estimator",
        BOTH,
        "GumbelRao(n_rao=10)",
        "Paulus et al. 2021",
        _estimator("GumbelRao", n_rao=10),
    ),
    Method(
        "gumbel-rao-100",
        "estimator",
        BOTH,
        "GumbelRao(n_rao=100)",
        "Paulus et al. 2021 (GR-MC100)",
        _estimator("GumbelRao", n_rao=100),
    ),
    Method(
        "gumbel-rao-1000",
        "estimator",
        BOTH,
        "GumbelRao(n_rao=1000)",
        "Paulus et al. 2021 (GR-MC1000)",
        _estimator("GumbelRao", n_rao=1000),
    ),
    Method(
        "reinmax",
        "estimator",
        BOTH,
        "ReinMax()",
        "Liu et al. 2023",
        _estimator("ReinMax"),
        tau0=1.0,
        tau_min=1.0,
        anneal_rate=0.0,
    ),
    Method(
        "gst",
        "estimator",
        BOTH,
        "GST(temperature=1.0, gap=1.0)",
        "Fan et al. 2022",
        _estimator("GST"),
        tau0=1.0,
        tau_min=1.0,
        anneal_rate=0.0,
    ),
    Method("zgr", "estimator", BOTH, "ZGR()", "Shekhovtsov 2023", _estimator("ZGR"), **NO_TAU),
    Method(
        "muprop",
        "estimator",
        BOTH,
        "MuProp()",
        "Gu et al. 2016",
        _estimator("MuProp"),
        **NO_TAU,
    ),
    Method(
        "nvil",
        "estimator",
        BOTH,
        "REINFORCE(baseline=LearnedBaseline of the encoder's logits, tuned)",
        "Mnih & Gregor 2014",
        _nvil,
        **NO_TAU,
    ),
    # --- the multi-sample (importance-weighted) bound: relaxit vae --objective iwae
    Method(
        "vimco",
        "estimator",
        BOTH,
        "VIMCO() on log p(x,b) - log q(b|x)",
        "Mnih & Rezende 2016",
        _estimator("VIMCO"),
        n_samples=5,
        objective="iwae",
        **NO_TAU,
    ),
    Method(
        "reinforce-bound",
        "estimator",
        BOTH,
        "VIMCO(baseline=None): REINFORCE on the bound",
        "Mnih & Rezende 2016 (reference)",
        _estimator("VIMCO", baseline=None),
        n_samples=5,
        objective="iwae",
        **NO_TAU,
    ),
    Method(
        "exact",
        "estimator",
        BOTH,
        f"Exact() (at most {EXACT_MAX_STATES} latent states)",
        "exhaustive enumeration",
        _exact,
        **NO_TAU,
    ),
]

METHODS: dict[str, Method] = {m.name: m for m in _ALL}
"""Every method name -> `Method`, in the order ``relaxit vae --list-methods`` prints them."""


def get_method(name: str) -> Method:
    """The `Method` called ``name``; ``ValueError`` listing the valid names otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}") from None


def n_latent_states(latent: str, bits: int, n_vars: int, n_classes: int) -> float:
    """Number of joint latent configurations (as a float: it overflows int64 for 200 bits)."""
    return 2.0**bits if latent == "bernoulli" else math.pow(n_classes, n_vars)
