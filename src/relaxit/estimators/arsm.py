"""ARSM: augment-REINFORCE-swap-merge for categorical variables (Yin, Yue & Zhou 2019)."""

from __future__ import annotations

from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor

from relaxit.estimators._protocol import (
    CATEGORICAL,
    Estimator,
    Objective,
    Problem,
    attach,
    evaluate,
    uniform,
)
from relaxit.estimators.registry import register_estimator


@cache
def _swaps(k: int) -> tuple[Tensor, Tensor]:
    """The identity and the ``k(k-1)/2`` transpositions of ``k`` entries, shape ``(P, k)``, and
    ``slot`` ``(k, k)``: the row of the transposition ``c <-> j`` (row 0, the identity, for
    ``c == j``)."""
    pairs = [(c, j) for c in range(k) for j in range(c + 1, k)]
    perms = torch.arange(k).repeat(len(pairs) + 1, 1)
    slot = torch.zeros(k, k, dtype=torch.long)
    for row, (c, j) in enumerate(pairs, start=1):
        perms[row, c], perms[row, j] = j, c
        slot[c, j] = slot[j, c] = row
    return perms, slot


@register_estimator
class ARSM(Estimator):
    r"""Augment-REINFORCE-Swap-Merge estimator for categorical variables.

    Yin, Yue & Zhou (2019), "ARSM: Augment-REINFORCE-swap-merge estimator for gradient
    backpropagation through categorical variables", ICML. With ``K`` categories and
    ``varpi ~ Dirichlet(1_K)``, ``z = argmin_i (log varpi_i - phi_i)`` is ``Categorical(
    softmax(phi))`` (a Gumbel-max sample). Swapping entries ``c`` and ``j`` of ``varpi`` gives the
    pseudo action ``z^{c<->j}`` (``z^{c<->c} = z``); with ``fbar^j = (1/K) sum_m f(z^{m<->j})``,

    $$
    \hat g_{\phi_c} = \sum_{j=1}^K \big(f(z^{c\leftrightarrow j}) - \bar f^{j}\big)
    \Big(\frac1K - \varpi_j\Big),
    $$

    averaged over ``n_samples`` independent ``varpi``. It is the augment-REINFORCE estimator
    ``f(z)(1 - K varpi_c)`` averaged over the ``K`` swaps (each swap leaves the Dirichlet
    invariant) with the swap mean as a baseline. For several categoricals in the joint
    variable (batch dims beyond the ``m`` item dims) the same pair is swapped in every variable
    at once, as in the paper's multivariate ARSM (supported, unbiased).

    **Unbiased.** **Cost**: ``K(K-1)/2 + 1`` evaluations of ``f`` per sample (the true
    action and one pseudo action per pair), made in one call of ``f`` on
    ``n_samples * (K(K-1)/2 + 1)`` rows; the paper evaluates only the distinct pseudo actions,
    which needs a data-dependent call and is not done here. Categorical only (``TypeError``
    otherwise); all variables of ``dist`` share ``K``. The loss value is the mean of ``f`` over
    every evaluated action (each is ``Categorical(softmax(phi))`` distributed), shape
    ``batch_shape[:m]``.

    Examples:
        >>> import torch
        >>> logits = torch.zeros(2, 4, requires_grad=True)
        >>> dist = torch.distributions.OneHotCategorical(logits=logits)
        >>> f = lambda b: (b @ torch.arange(4.0) - 1.2).pow(2)
        >>> ARSM()(f, dist, n_samples=2).sum().backward()
        >>> logits.grad.shape
        torch.Size([2, 4])
    """

    name = "arsm"
    families = (CATEGORICAL,)
    unbiased = True
    evaluations_per_sample = None  # K(K-1)/2 + 1, set by the number of categories
    paper = "Yin, Yue & Zhou 2019"
    min_samples = 1
    objective = "mean"

    def _loss(self, f: Objective, problem: Problem, n_samples: int) -> Tensor:
        phi = problem.phi.detach()
        k = phi.shape[-1]
        perms, slot = (t.to(phi.device) for t in _swaps(k))
        n_swaps = perms.shape[0]
        log_e = (-uniform((n_samples, *phi.shape), phi).log()).log()  # log Exp(1)
        # argmin_i (log varpi^{swap}_i - phi_i): the normaliser of varpi does not matter
        keys = phi.unsqueeze(-2) - log_e[..., perms]  # (n,) + batch + (P, K)
        b = F.one_hot(keys.argmax(-1), k).to(phi.dtype)
        b = b.movedim(-2, 1).reshape(n_samples * n_swaps, *phi.shape)
        fb, m = evaluate(f, b, problem)
        items = tuple(fb.shape[1:])
        f_pair = fb.detach().reshape(n_samples, n_swaps, *items)[:, slot]  # (n, K, K) + items
        f_pair = f_pair - f_pair.mean(1, keepdim=True)  # minus fbar^j
        f_pair = f_pair.movedim((1, 2), (-2, -1))
        n_joint = phi.dim() - 1 - m
        f_pair = f_pair.reshape(n_samples, *items, *(1,) * n_joint, k, k)
        varpi = torch.softmax(log_e, -1)  # E / sum E: Dirichlet(1_K)
        grad = (f_pair * (1 / k - varpi).unsqueeze(-2)).sum(-1).mean(0)
        return attach(fb.mean(0), grad, problem.phi, m)
