"""Gradients through structured discrete choices: permutations, sorting and argmax solvers.

* `gumbel_sinkhorn`: relaxed permutation matrices by Sinkhorn normalization (Mena et al. 2018).
* `neural_sort`, `stochastic_neural_sort`: relaxed sorting (Grover et al. 2019).
* `perturbed`, `fenchel_young_loss`: perturbed optimizers (Berthet et al. 2020) around any
  user-supplied argmax solver.
* `imle`: Implicit Maximum Likelihood Estimation (Niepert, Minervini & Franceschi 2021) around
  any user-supplied argmax (MAP) solver, with `sum_of_gamma_noise` for k-subsets.
* `argmax_one_hot`, `top_k_k_hot`: two ready-made solvers.

For distributions over subsets and rankings with exact likelihoods see
`relaxit.distributions.KSubset` and `relaxit.distributions.PlackettLuce`.
"""

from relaxit.structured.implicit_mle import imle, sum_of_gamma_noise
from relaxit.structured.perturbation import fenchel_young_loss, perturbed
from relaxit.structured.solvers import argmax_one_hot, top_k_k_hot
from relaxit.structured.sorting import gumbel_sinkhorn, neural_sort, stochastic_neural_sort

__all__ = [
    "argmax_one_hot",
    "fenchel_young_loss",
    "gumbel_sinkhorn",
    "imle",
    "neural_sort",
    "perturbed",
    "stochastic_neural_sort",
    "sum_of_gamma_noise",
    "top_k_k_hot",
]
