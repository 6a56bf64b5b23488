"""Gradient estimators of ``grad E_{b ~ dist}[f(b)]`` for Bernoulli and one-hot ``b``.

Every estimator follows one protocol::

    est = REINFORCE(baseline="loo")      # hyper-parameters in the constructor
    loss = est(f, dist, n_samples=8)     # loss.sum().backward() fills the parameters' .grad

* ``dist`` is a ``torch.distributions.Bernoulli`` or ``OneHotCategorical`` (or their Pyro
  wrappers, e.g. ``relaxit.distributions.Bernoulli``) of any batch shape, built from parameters
  that require grad. An estimator that does not support the family raises ``TypeError``.
* ``f(b)`` gets ``b`` of shape ``(S,) + batch_shape + event_shape`` and returns
  ``(S,) + batch_shape[:m]`` for some ``m >= 0``: the first ``m`` batch dims are independent
  items, the other batch dims and the event dims one joint variable per item. ``S`` is
  ``n_samples`` times the estimator's evaluations per sample: ``f`` is called once on all of
  them (e.g. ARM's antithetic pairs are stacked along dim 0; `IndeCateR`, whose rows depend on
  ``m``, calls it twice). Any other shape: ``ValueError``.
* ``loss`` has shape ``batch_shape[:m]``: the Monte-Carlo mean of ``f`` at the discrete samples
  (``GumbelSoftmax(hard=False)`` evaluates ``f`` at relaxed samples; ``Exact`` returns the
  expectation). Its gradient w.r.t. the distribution's parameters is the estimator averaged
  over ``n_samples``; it also carries ``f``'s own gradient (e.g. a decoder's).
* Work is in logit space, so logits of +-50 give finite gradients, and dtype/device follow the
  logits.

``gradient_samples`` returns per-run gradient estimates, for bias/variance studies.

Every estimator class declares its facts (``name``, ``families``, ``unbiased``,
``evaluations_per_sample``, ``paper``, ``min_samples``, ``objective``) and is registered in
`relaxit.estimators.registry`, the one list that the tests, the benchmarks, the VAE's methods
and the docs' tables iterate. To write your own, subclass `Estimator`, implement
``_loss(f, problem, n_samples)`` with `evaluate` and `attach`, and decorate it with
`register_estimator` (see CONTRIBUTING.md).
"""

from relaxit.estimators import registry
from relaxit.estimators._protocol import (
    BERNOULLI,
    CATEGORICAL,
    OBJECTIVES,
    Estimator,
    Objective,
    Problem,
    attach,
    check_temperature,
    evaluate,
    right_pad,
    sum_joint,
    uniform,
)
from relaxit.estimators.controls import ObjectiveControl, RelaxControl
from relaxit.estimators.diagnostics import gradient_samples
from relaxit.estimators.registry import RegisteredEstimator, register_estimator

# isort: off
# Modules register their estimators when imported: this order is the registry's, so that of
# every list made from it (tables, benchmarks, the VAE's methods): the ground truth, the
# score-function family, antithetic and control-variate estimators, the multi-sample bound,
# then the relaxation-based (biased) estimators.
from relaxit.estimators.exact import Exact
from relaxit.estimators.score_function import REINFORCE, LearnedBaseline
from relaxit.estimators.antithetic import ARM, DisARM
from relaxit.estimators.arms import ARMS
from relaxit.estimators.arsm import ARSM
from relaxit.estimators.carms import CARMS
from relaxit.estimators.unordered_set import UnorderedSet
from relaxit.estimators.sum_and_sample import SumAndSample
from relaxit.estimators.local_expectation import IndeCateR
from relaxit.estimators.control_variates import REBAR, RELAX
from relaxit.estimators.muprop import MuProp
from relaxit.estimators.vimco import VIMCO
from relaxit.estimators.disarm_iw import DisARMIW
from relaxit.estimators.relaxed import GumbelRao, GumbelSoftmax, ReinMax, StraightThrough
from relaxit.estimators.gapped import GST
from relaxit.estimators.zgr import ZGR
# isort: on

__all__ = [
    "ARM",
    "ARMS",
    "ARSM",
    "BERNOULLI",
    "CARMS",
    "CATEGORICAL",
    "GST",
    "OBJECTIVES",
    "REBAR",
    "REINFORCE",
    "RELAX",
    "VIMCO",
    "ZGR",
    "DisARM",
    "DisARMIW",
    "Estimator",
    "Exact",
    "GumbelRao",
    "GumbelSoftmax",
    "IndeCateR",
    "LearnedBaseline",
    "MuProp",
    "Objective",
    "ObjectiveControl",
    "Problem",
    "RegisteredEstimator",
    "ReinMax",
    "RelaxControl",
    "StraightThrough",
    "SumAndSample",
    "UnorderedSet",
    "attach",
    "check_temperature",
    "evaluate",
    "gradient_samples",
    "register_estimator",
    "registry",
    "right_pad",
    "sum_joint",
    "uniform",
]
