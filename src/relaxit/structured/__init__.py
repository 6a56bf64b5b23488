"""Gradients through structured discrete choices: permutations, sorting and argmax solvers.

* `gumbel_sinkhorn`: relaxed permutation matrices by Sinkhorn normalization (Mena et al. 2018).
* `neural_sort`, `stochastic_neural_sort`: relaxed sorting (Grover et al. 2019).
* `perturbed`, `fenchel_young_loss`: perturbed optimizers (Berthet et al. 2020) around any
  user-supplied argmax solver.
* `imle`: Implicit Maximum Likelihood Estimation (Niepert, Minervini & Franceschi 2021) around
  any user-supplied argmax (MAP) solver, with `sum_of_gamma_noise` for k-subsets.
* `argmax_one_hot`, `top_k_k_hot`: two ready-made solvers.
* `gumbel_spanning_tree`: the stochastic softmax trick for spanning trees (Paulus et al. 2020),
  built on `spanning_tree_marginals` (the Gibbs law's edge marginals by the matrix-tree
  theorem) and `max_spanning_tree` (also a solver for `perturbed` and `imle`).
* `gumbel_arborescence`: the same for arborescences (rooted directed spanning trees), built on
  `arborescence_marginals` (Tutte's directed matrix-tree theorem) and `max_arborescence`
  (Chu-Liu/Edmonds).

For distributions over subsets and rankings with exact likelihoods see
`relaxit.distributions.KSubset` and `relaxit.distributions.PlackettLuce`.
"""

from relaxit.structured.arborescences import (
    arborescence_marginals,
    gumbel_arborescence,
    max_arborescence,
)
from relaxit.structured.implicit_mle import imle, sum_of_gamma_noise
from relaxit.structured.perturbation import fenchel_young_loss, perturbed
from relaxit.structured.solvers import argmax_one_hot, top_k_k_hot
from relaxit.structured.sorting import gumbel_sinkhorn, neural_sort, stochastic_neural_sort
from relaxit.structured.spanning_trees import (
    gumbel_spanning_tree,
    max_spanning_tree,
    spanning_tree_marginals,
)

__all__ = [
    "arborescence_marginals",
    "argmax_one_hot",
    "fenchel_young_loss",
    "gumbel_arborescence",
    "gumbel_sinkhorn",
    "gumbel_spanning_tree",
    "imle",
    "max_arborescence",
    "max_spanning_tree",
    "neural_sort",
    "perturbed",
    "spanning_tree_marginals",
    "stochastic_neural_sort",
    "sum_of_gamma_noise",
    "top_k_k_hot",
]
