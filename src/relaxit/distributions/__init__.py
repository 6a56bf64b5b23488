"""Discrete, relaxed and simplex-valued distributions, all from one entry point.

Every class is a Pyro distribution (and so a ``torch.distributions.Distribution``) and works in
``pyro.sample``. PyTorch's own discrete and relaxed classes are re-exported through Pyro's
wrappers so that they support ``.to_event``/``.expand_by`` like the rest.
"""

from pyro.distributions import (  # noqa: I001 (one section per family, in this order)
    Bernoulli,
    Categorical,
    Dirichlet,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)

# --- Bernoulli-type relaxations
from relaxit.distributions.correlated import CorrelatedRelaxedBernoulli
from relaxit.distributions.gates import GaussianRelaxedBernoulli, HardConcrete
from relaxit.distributions.rebar import RebarRelaxation
from relaxit.distributions.straight_through_bernoulli import (
    RelaxedBernoulliStraightThrough,
    StochasticTimesSmooth,
    StraightThroughBernoulli,
)

# --- categorical-type relaxations
from relaxit.distributions.generalized_gumbel import (
    GeneralizedGumbelSoftmax,
    GeneralizedGumbelSoftmaxNP,
)
from relaxit.distributions.straight_through_categorical import (
    DecoupledStraightThroughGumbelSoftmax,
    RelaxedOneHotCategoricalStraightThrough,
)
from relaxit.distributions.topk import GumbelSoftmaxTopK

# --- structured: subsets, rankings and spanning trees
from relaxit.distributions.permutations import PlackettLuce
from relaxit.distributions.subsets import KSubset
from relaxit.distributions.trees import Arborescence, SpanningTree

# --- simplex-valued distributions
from relaxit.distributions.invertible_gaussian import InvertibleGaussian
from relaxit.distributions.logistic_normal import LogisticNormalSoftmax

# --- Gaussians for gradient estimation
from relaxit.distributions.omt_avf import AVFMultivariateNormal, OMTMultivariateNormal

__all__ = [  # noqa: RUF022 (one section per family)
    "Bernoulli",
    "Categorical",
    "Dirichlet",
    "MultivariateNormal",
    "Normal",
    "OneHotCategorical",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    # --- Bernoulli-type relaxations
    "CorrelatedRelaxedBernoulli",
    "GaussianRelaxedBernoulli",
    "HardConcrete",
    "RebarRelaxation",
    "RelaxedBernoulliStraightThrough",
    "StochasticTimesSmooth",
    "StraightThroughBernoulli",
    # --- categorical-type relaxations
    "DecoupledStraightThroughGumbelSoftmax",
    "GeneralizedGumbelSoftmax",
    "GeneralizedGumbelSoftmaxNP",
    "GumbelSoftmaxTopK",
    "RelaxedOneHotCategoricalStraightThrough",
    # --- structured: subsets, rankings and spanning trees
    "KSubset",
    "SpanningTree",
    "Arborescence",
    "PlackettLuce",
    # --- simplex-valued distributions
    "InvertibleGaussian",
    "LogisticNormalSoftmax",
    # --- Gaussians for gradient estimation
    "AVFMultivariateNormal",
    "OMTMultivariateNormal",
]
