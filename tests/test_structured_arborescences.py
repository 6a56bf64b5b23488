"""Arborescences: `max_arborescence`, `arborescence_marginals`, `gumbel_arborescence`.

References are computed independently by enumerating every arborescence of small complete
digraphs (each non-root vertex picks a parent; the 16 choices on 4 vertices and 125 on 5 that
reach the root): the best one, and the Gibbs marginals ``softmax(score / tau)`` summed over the
arborescences holding each edge. The hard samples are compared (two-sample chi-square at level
1e-4) with the argmax over the enumerated arborescences of freshly perturbed scores.

Planted variants are rejected by the same checks: a greedy "best parent" solver without
Edmonds' cycle contraction, marginals from the out-degree Laplacian (arborescences directed
towards the root instead of away from it), and an `Arborescence` that samples the
perturb-and-MAP law instead of its Gibbs law (the conformance kit's sample-law check).
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy.stats import chi2_contingency

from relaxit.distributions import Arborescence
from relaxit.structured import (
    arborescence_marginals,
    gumbel_arborescence,
    max_arborescence,
    perturbed,
)
from relaxit.structured import arborescences as ab
from relaxit.testing import Example, check_sample_law

F64 = torch.float64


def all_arborescences(n: int, root: int) -> list[tuple[tuple[int, int], ...]]:
    """Every arborescence rooted at ``root`` as its edges ``(parent, child)``."""
    others = [v for v in range(n) if v != root]
    found = []
    for parents in itertools.product(range(n), repeat=len(others)):
        parent = dict(zip(others, parents, strict=True))
        if any(parent[v] == v for v in others):
            continue

        def reaches_root(v: int, parent=parent) -> bool:
            for _ in range(n):
                if v == root:
                    return True
                v = parent[v]
            return v == root

        if all(reaches_root(v) for v in others):
            found.append(tuple((parent[v], v) for v in others))
    return found


def as_matrix(arb, n: int) -> torch.Tensor:
    y = torch.zeros(n, n, dtype=F64)
    for i, j in arb:
        y[i, j] = 1.0
    return y


def scores(w: torch.Tensor, arbs) -> torch.Tensor:
    return torch.stack([sum(w[i, j] for i, j in a) for a in arbs])


def enumerated_best(w: torch.Tensor, root: int) -> torch.Tensor:
    arbs = all_arborescences(w.shape[-1], root)
    return as_matrix(arbs[int(scores(w, arbs).argmax())], w.shape[-1])


def enumerated_marginals(w: torch.Tensor, tau: float, root: int) -> torch.Tensor:
    arbs = all_arborescences(w.shape[-1], root)
    p = torch.softmax(scores(w, arbs) / tau, 0)
    return sum(pi * as_matrix(a, w.shape[-1]) for pi, a in zip(p, arbs, strict=True))


def test_enumeration_counts_match_cayley():
    assert len(all_arborescences(4, 0)) == 16 and len(all_arborescences(5, 3)) == 125


# --- max_arborescence -------------------------------------------------------------------------


def greedy_parents(w: torch.Tensor, root: int = 0) -> torch.Tensor:
    """Planted bug: every vertex takes its best parent, without contracting the cycles."""
    n = w.shape[-1]
    scores_ = w.masked_fill(~ab._edge_mask(n, root, w.device), -math.inf)
    y = torch.zeros_like(w).scatter_(-2, scores_.argmax(-2, keepdim=True), 1.0)
    y[..., root] = 0.0
    return y


@pytest.mark.parametrize(("n", "root"), [(4, 0), (5, 2)])
def test_max_arborescence_is_the_best_enumerated_one(n, root):
    torch.manual_seed(n + root)
    graphs = 3 * torch.randn(40, n, n, dtype=F64)
    expected = torch.stack([enumerated_best(w, root) for w in graphs])
    assert torch.equal(max_arborescence(graphs, root), expected)
    planted = greedy_parents(graphs, root)
    assert not torch.equal(planted, expected)  # cycles among the best parents do occur


def test_max_arborescence_on_sparse_and_unreachable_graphs():
    torch.manual_seed(1)
    w = torch.randn(5, 5, dtype=F64)
    for i, j in [(0, 1), (2, 1), (0, 3), (4, 2)]:
        w[i, j] = -math.inf
    best = max_arborescence(w)
    assert torch.equal(best, enumerated_best(w, 0)) and (w[best.bool()] > -math.inf).all()
    cut = w.clone()
    cut[:, 4] = -math.inf  # nothing enters vertex 4
    with pytest.raises(ValueError, match="reached"):
        max_arborescence(cut)
    with pytest.raises(ValueError, match="reached"):
        arborescence_marginals(cut)
    island = torch.full((4, 4), -math.inf, dtype=F64)
    island[0, 1] = island[2, 3] = island[3, 2] = 0.0  # 2 and 3 only reach each other
    with pytest.raises(ValueError, match="reached"):
        max_arborescence(island)


# --- arborescence_marginals -------------------------------------------------------------------


def out_degree_marginals(weights, temperature, root=0):
    """Planted bug: the out-degree Laplacian (edges towards the root), i.e. the transpose."""
    n = weights.shape[-1]
    mu = arborescence_marginals(weights.mT.contiguous(), temperature, root)
    return mu.mT * ab._edge_mask(n, root, weights.device)


@pytest.mark.parametrize(("n", "root"), [(4, 0), (5, 2)])
@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_marginals_match_the_enumerated_gibbs_law(n, root, scale):
    torch.manual_seed(10 * n + root)
    w = scale * torch.randn(n, n, dtype=F64)
    for tau in (2.0, 0.5, 0.05, 0.01):
        got = arborescence_marginals(w, tau, root)
        assert (got - enumerated_marginals(w, tau, root)).abs().max() < 1e-9, tau
    wrong = out_degree_marginals(w, 2.0, root)
    assert (wrong - enumerated_marginals(w, 2.0, root)).abs().max() > 1e-3  # planted


def test_marginals_give_one_parent_per_vertex_and_tend_to_the_best():
    torch.manual_seed(2)
    w = torch.randn(3, 7, 7, dtype=F64)
    mu = arborescence_marginals(w, 0.7, root=3)
    expected = torch.ones(7, dtype=F64)
    expected[3] = 0.0
    torch.testing.assert_close(mu.sum(-2), expected.expand(3, 7))
    assert (mu.diagonal(dim1=-2, dim2=-1) == 0).all() and (mu >= 0).all()
    torch.testing.assert_close(arborescence_marginals(w, 1e-3, 3), max_arborescence(w, 3))


def test_marginals_gradcheck():
    torch.manual_seed(3)
    w = torch.randn(2, 5, 5, dtype=F64, requires_grad=True)
    tau = torch.tensor([0.7, 1.3], dtype=F64, requires_grad=True)

    def fn(w, tau):
        return arborescence_marginals(w, tau, root=2)

    assert torch.autograd.gradcheck(fn, (w, tau))
    assert torch.autograd.gradgradcheck(fn, (w, tau))


# --- gumbel_arborescence ----------------------------------------------------------------------


def test_hard_samples_follow_the_enumerated_perturb_and_map_law():
    torch.manual_seed(4)
    n, root, draws = 4, 0, 20_000
    w = torch.randn(n, n, dtype=F64)
    arbs = all_arborescences(n, root)
    index = {a: k for k, a in enumerate(arbs)}

    def key(y: torch.Tensor) -> int:
        return index[tuple((int(y[:, v].argmax()), v) for v in range(n) if v != root)]

    ours = gumbel_arborescence(w, root=root, hard=True, sample_shape=(draws,))
    counts_ours = torch.bincount(torch.tensor([key(y) for y in ours]), minlength=len(arbs))
    # reference: the argmax over all enumerated arborescences of freshly perturbed scores
    g = ab.gumbel_like(w, torch.Size((draws, n, n)))
    reference = torch.empty(draws, len(arbs), dtype=F64)
    for k, a in enumerate(arbs):
        reference[:, k] = sum((w[i, j] + g[:, i, j]) for i, j in a)
    counts_ref = torch.bincount(reference.argmax(-1), minlength=len(arbs))
    table = torch.stack([counts_ours, counts_ref]).numpy()
    table = table[:, table.sum(0) > 0]
    assert chi2_contingency(table).pvalue > 1e-4


def test_hard_is_the_arborescence_forward_and_the_relaxation_backward():
    torch.manual_seed(5)
    w = torch.randn(6, 6, dtype=F64, requires_grad=True)
    c = torch.randn(6, 6, dtype=F64)
    hard = gumbel_arborescence(w, 0.3, root=1, hard=True, noise=False)
    assert torch.equal(hard.detach(), max_arborescence(w.detach(), 1))
    (g_hard,) = torch.autograd.grad((hard * c).sum(), w)
    soft = gumbel_arborescence(w, 0.3, root=1, noise=False)
    (g_soft,) = torch.autograd.grad((soft * c).sum(), w)
    torch.testing.assert_close(g_hard, g_soft)
    samples = gumbel_arborescence(w, 0.3, hard=True, sample_shape=(4,))
    assert samples.shape == (4, 6, 6) and (samples.sum(-2)[:, 1:] == 1).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_extreme_scores_and_low_temperature_stay_finite(dtype):
    torch.manual_seed(6)
    w = (50 * torch.randn(3, 6, 6)).to(dtype).requires_grad_(True)
    y = gumbel_arborescence(w, 0.05, hard=True)
    (y * torch.randn(6, 6, dtype=dtype)).sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(w.grad).all()


def test_max_arborescence_as_the_solver_of_perturbed():
    torch.manual_seed(7)
    w = torch.randn(4, 4, dtype=F64)
    y = perturbed(lambda t: max_arborescence(t), sigma=1.0, n_samples=2000, event_dims=2)(w)
    assert torch.allclose(y.sum(-2), torch.tensor([0.0, 1.0, 1.0, 1.0], dtype=F64))


def test_bad_inputs_raise_value_errors():
    w = torch.randn(4, 4)
    cases = [
        (lambda: max_arborescence(torch.randn(4, 3)), "n, n"),
        (lambda: max_arborescence(w, root=4), "root"),
        (lambda: arborescence_marginals(w, root=-1), "root"),
        (lambda: arborescence_marginals(torch.ones(3, 3, dtype=torch.long)), "floating"),
        (lambda: arborescence_marginals(w * math.nan), "NaN"),
        (lambda: arborescence_marginals(torch.full((3, 3), math.inf)), r"\+inf"),
        (lambda: gumbel_arborescence(w, 0.0), "temperature"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


# --- Arborescence (the Gibbs law) -------------------------------------------------------------


class PerturbAndMapArborescence(Arborescence):
    """Planted bug: the maximum arborescence of Gumbel-perturbed scores, whose law differs from
    the Gibbs law that ``log_prob`` describes."""

    def sample(self, sample_shape=torch.Size()):
        return gumbel_arborescence(
            self.edge_logits, root=self.root, hard=True, sample_shape=sample_shape
        ).detach()


def test_the_kit_rejects_a_perturb_and_map_sampler_and_accepts_the_exact_one():
    scores = torch.tensor(
        [[0, 1.5, -0.3, 1.0], [0.2, 0, 0.2, -0.8], [1.0, 0.3, 0, 0.4], [0, -0.5, 0.7, 0]],
        dtype=F64,
    )
    params = {"edge_logits": scores, "root": 0}
    check_sample_law(Example("exact", Arborescence, params, law="discrete", grad_params=()))
    planted = Example("planted", PerturbAndMapArborescence, params, law="discrete", grad_params=())
    with pytest.raises(AssertionError, match="sample_law"):
        check_sample_law(planted)
