"""Spanning trees: `max_spanning_tree`, `spanning_tree_marginals`, `gumbel_spanning_tree`.

References are computed independently, by enumerating every spanning tree of small complete
graphs (16 on 4 vertices, 125 on 5):

* the maximum spanning tree is the enumerated tree of largest score;
* the Gibbs marginals are sums of ``softmax(score(T) / tau)`` over the trees holding each edge;
* the law of ``max_spanning_tree(w + Gumbel)`` is that of Kruskal's algorithm on the edges in a
  Plackett-Luce order with weights ``exp(w_e)`` (the Gumbel-perturbed scores sorted), summed over
  all ``6! = 720`` orders of the 4-vertex graph's edges.

Planted variants (a greedy "top n - 1 edges" solver, the textbook effective-resistance formula
through an LU inverse, an elimination without its fill-in, noise of the wrong scale, a
`SpanningTree` that samples the perturb-and-MST law instead of its Gibbs law) are rejected by the
same checks. The sampling test is a chi-square test at level 1e-4.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy.stats import chi2

from relaxit.distributions import SpanningTree
from relaxit.structured import (
    gumbel_spanning_tree,
    max_spanning_tree,
    perturbed,
    spanning_tree_marginals,
)
from relaxit.structured import spanning_trees as st
from relaxit.testing import Example, check_sample_law

F64 = torch.float64


def edges_of(n: int) -> list[tuple[int, int]]:
    return [(i, j) for i in range(n) for j in range(i + 1, n)]


def kruskal(order: list[tuple[int, int]], n: int) -> tuple[tuple[int, int], ...]:
    """The spanning tree that Kruskal's algorithm keeps when it visits edges in ``order``."""
    root = list(range(n))

    def find(x: int) -> int:
        while root[x] != x:
            x = root[x]
        return x

    kept = []
    for i, j in order:
        a, b = find(i), find(j)
        if a != b:
            root[a] = b
            kept.append((i, j))
    return tuple(sorted(kept))


def all_trees(n: int, present: set[tuple[int, int]] | None = None) -> list[tuple]:
    """Every spanning tree of the complete graph (or of its ``present`` edges)."""
    edges = [e for e in edges_of(n) if present is None or e in present]
    return [
        sub for sub in itertools.combinations(edges, n - 1) if len(kruskal(list(sub), n)) == n - 1
    ]


def as_matrix(tree: tuple, n: int) -> torch.Tensor:
    y = torch.zeros(n, n, dtype=F64)
    for i, j in tree:
        y[i, j] = 1.0
    return y


def tree_score(w: torch.Tensor, tree: tuple) -> torch.Tensor:
    return sum(w[i, j] for i, j in tree)


def enumerated_mst(w: torch.Tensor) -> torch.Tensor:
    n = w.shape[-1]
    present = {e for e in edges_of(n) if w[e] > -math.inf}
    trees = all_trees(n, present)
    return as_matrix(max(trees, key=lambda t: tree_score(w, t).item()), n)


def enumerated_marginals(w: torch.Tensor, tau: float) -> torch.Tensor:
    n = w.shape[-1]
    trees = all_trees(n)
    p = torch.softmax(torch.stack([tree_score(w, t) for t in trees]) / tau, 0)
    return sum(pi * as_matrix(t, n) for pi, t in zip(p, trees, strict=True))


def perturb_and_mst_law(w: torch.Tensor) -> dict[tuple, float]:
    """P(max_spanning_tree(w + G) = T): Kruskal on a Plackett-Luce order of the edges."""
    n = w.shape[-1]
    edges = edges_of(n)
    law: dict[tuple, float] = {}
    for order in itertools.permutations(range(len(edges))):
        scores = torch.stack([w[edges[k]] for k in order])
        log_p = (scores - scores.flip(0).logcumsumexp(0).flip(0)).sum().item()
        tree = kruskal([edges[k] for k in order], n)
        law[tree] = law.get(tree, 0.0) + math.exp(log_p)
    return law


def mst_matches_enumeration(solver, graphs: torch.Tensor) -> bool:
    return all(torch.equal(solver(w), enumerated_mst(w)) for w in graphs)


# --- max_spanning_tree ------------------------------------------------------------------------


def greedy_top_edges(w: torch.Tensor) -> torch.Tensor:
    """Planted bug: the n - 1 best edges, which may close a cycle and miss a vertex."""
    n = w.shape[-1]
    flat = st._edges(w).flatten(-2)
    y = torch.zeros_like(flat).scatter_(-1, flat.topk(n - 1, -1).indices, 1.0)
    return y.reshape(w.shape)


def test_max_spanning_tree_is_the_best_enumerated_tree():
    torch.manual_seed(0)
    graphs = torch.randn(30, 5, 5, dtype=F64)
    batched = max_spanning_tree(graphs)
    assert all(torch.equal(b, enumerated_mst(w)) for b, w in zip(batched, graphs, strict=True))
    assert mst_matches_enumeration(max_spanning_tree, graphs)
    assert not mst_matches_enumeration(greedy_top_edges, graphs)  # the planted bug
    # the lower triangle and the diagonal are not read
    noisy = graphs + torch.randn_like(graphs).tril()
    assert torch.equal(max_spanning_tree(noisy), batched)


def test_max_spanning_tree_on_a_sparse_graph_and_disconnected_graphs():
    torch.manual_seed(1)
    w = torch.randn(5, 5, dtype=F64)
    for i, j in [(0, 1), (0, 2), (1, 3), (2, 4)]:  # remove 4 of the 10 edges
        w[i, j] = -math.inf
    tree = max_spanning_tree(w)
    assert torch.equal(tree, enumerated_mst(w))
    assert (w[tree.bool()] > -math.inf).all()
    cut = w.clone()
    cut[:, 4] = -math.inf  # vertex 4 isolated
    with pytest.raises(ValueError, match="disconnected"):
        max_spanning_tree(cut)
    with pytest.raises(ValueError, match="disconnected"):
        spanning_tree_marginals(cut)


# --- spanning_tree_marginals ------------------------------------------------------------------


def lu_marginals(weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """Planted variant: the textbook formula a_ij (R_ii + R_jj - 2 R_ij) with R the inverse of
    the reduced Laplacian (an LU factorization): right at moderate temperatures, wrong once the
    Laplacian's condition number ~ exp(spread / tau) exhausts float64."""
    n = weights.shape[-1]
    s = st._edges(weights.double()) / temperature
    a = (s - s.amax()).exp()
    lap = torch.diag_embed((a + a.mT).sum(-1)) - (a + a.mT)
    r = torch.nn.functional.pad(torch.linalg.inv(lap[1:, 1:]), (1, 0, 1, 0))
    d = r.diagonal()
    return a * (d[:, None] + d[None, :] - 2 * r) * torch.ones(n, n, dtype=F64).triu(1)


def no_fill_in_marginals(weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """Planted bug: vertices are deleted instead of eliminated (no Schur complement fill-in
    ``a_ik a_kj / d`` between the eliminated vertex's neighbours), so ``log Z`` becomes a sum
    of log-degrees of shrinking graphs."""

    def wrong(log_a):
        log_z = log_a.new_zeros(log_a.shape[0])
        for _ in range(log_a.shape[-1] - 1):
            log_z = log_z + log_a[:, 0, 1:].logsumexp(-1)
            log_a = log_a[:, 1:, 1:]
        return log_z

    original = st._log_partition
    st._log_partition = wrong
    try:
        return spanning_tree_marginals(weights, temperature)
    finally:
        st._log_partition = original


def marginals_error(fn, w: torch.Tensor, tau: float) -> float:
    """Largest error against the enumeration; ``inf`` when ``fn`` fails or returns NaN."""
    try:
        mu = fn(w, tau)
    except RuntimeError:  # e.g. torch.linalg.LinAlgError: a numerically singular Laplacian
        return math.inf
    error = (mu - enumerated_marginals(w, tau)).abs().max().item()
    return math.inf if math.isnan(error) else error


@pytest.mark.parametrize("n", [4, 5])
@pytest.mark.parametrize("scale", [1.0, 20.0])
def test_marginals_match_the_enumerated_gibbs_law(n, scale):
    torch.manual_seed(n)
    w = scale * torch.randn(n, n, dtype=F64)
    taus = (2.0, 0.5, 0.05, 0.01)
    for tau in taus:
        assert marginals_error(spanning_tree_marginals, w, tau) < 1e-9, tau
    # planted bug: at low temperatures every law concentrates on the same tree, so it shows at
    # the high ones
    assert marginals_error(no_fill_in_marginals, w, 2.0) > 1e-3


def test_the_textbook_lu_formula_fails_where_the_elimination_does_not():
    """The planted LU variant is right while exp(spread / tau) fits float64's precision and
    wrong (or singular) beyond; the log-space elimination stays exact there."""
    torch.manual_seed(5)
    w = 20 * torch.randn(5, 5, dtype=F64)
    assert marginals_error(lu_marginals, w, 2.0) < 1e-6
    assert marginals_error(lu_marginals, w, 0.01) > 1e-3
    assert marginals_error(spanning_tree_marginals, w, 0.01) < 1e-9


def test_marginals_lie_in_the_spanning_tree_polytope_and_tend_to_the_mst():
    torch.manual_seed(2)
    w = torch.randn(3, 7, 7, dtype=F64)
    for tau in (1.0, 0.1):
        mu = spanning_tree_marginals(w, tau)
        torch.testing.assert_close(mu.sum((-2, -1)), torch.full((3,), 6.0, dtype=F64))
        assert (mu >= 0).all() and (mu <= 1 + 1e-12).all()
        assert (mu.tril() == 0).all()
    torch.testing.assert_close(spanning_tree_marginals(w, 1e-3), max_spanning_tree(w))


def test_marginals_gradcheck_in_weights_and_temperature():
    torch.manual_seed(3)
    w = torch.randn(2, 5, 5, dtype=F64, requires_grad=True)
    tau = torch.tensor([0.7, 1.3], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(spanning_tree_marginals, (w, tau))
    assert torch.autograd.gradgradcheck(spanning_tree_marginals, (w, tau))
    sparse = w.detach().clone()
    sparse[:, 0, 3] = -math.inf
    sparse.requires_grad_(True)
    assert torch.autograd.gradcheck(spanning_tree_marginals, (sparse, tau))


# --- gumbel_spanning_tree ---------------------------------------------------------------------


def sampled_law(w: torch.Tensor, n_draws: int, scale: float = 1.0) -> dict[tuple, int]:
    n = w.shape[-1]
    if scale == 1.0:
        trees = gumbel_spanning_tree(w, hard=True, sample_shape=(n_draws,))
    else:  # planted: Gumbel noise of the wrong scale
        g = scale * st.gumbel_like(w, torch.Size((n_draws, *w.shape)))
        trees = max_spanning_tree(w + g)
    counts: dict[tuple, int] = {}
    for y in trees:
        key = tuple(sorted(map(tuple, y.nonzero().tolist())))
        assert len(key) == n - 1
        counts[key] = counts.get(key, 0) + 1
    return counts


def chi_square_p(counts: dict[tuple, int], law: dict[tuple, float]) -> float:
    total = sum(counts.values())
    assert set(counts) <= set(law)
    stat = sum((counts.get(t, 0) - total * p) ** 2 / (total * p) for t, p in law.items())
    return float(chi2.sf(stat, len(law) - 1))


def test_hard_samples_follow_the_perturb_and_mst_law():
    torch.manual_seed(4)
    w = torch.tensor(
        [[0, 0.5, -0.3, 1.0], [0, 0, 0.2, -0.8], [0, 0, 0, 0.4], [0, 0, 0, 0]], dtype=F64
    )
    law = perturb_and_mst_law(w)
    assert len(law) == 16 and abs(sum(law.values()) - 1) < 1e-12
    assert chi_square_p(sampled_law(w, 20_000), law) > 1e-4
    assert chi_square_p(sampled_law(w, 20_000, scale=2.0), law) < 1e-4  # planted


def test_hard_is_the_tree_forward_and_the_relaxation_backward():
    torch.manual_seed(5)
    w = torch.randn(6, 6, dtype=F64, requires_grad=True)
    c = torch.randn(6, 6, dtype=F64)
    hard = gumbel_spanning_tree(w, 0.3, hard=True, noise=False)
    assert torch.equal(hard.detach(), max_spanning_tree(w.detach()))
    (g_hard,) = torch.autograd.grad((hard * c).sum(), w)
    soft = gumbel_spanning_tree(w, 0.3, noise=False)
    torch.testing.assert_close(soft, spanning_tree_marginals(w, 0.3))
    (g_soft,) = torch.autograd.grad((soft * c).sum(), w)
    torch.testing.assert_close(g_hard, g_soft)
    samples = gumbel_spanning_tree(w, 0.3, hard=True, sample_shape=(4, 2))
    assert samples.shape == (4, 2, 6, 6) and (samples.sum((-2, -1)) == 5).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.float64])
def test_extreme_scores_and_low_temperature_stay_finite(dtype):
    torch.manual_seed(6)
    w = (50 * torch.randn(4, 6, 6)).to(dtype).requires_grad_(True)
    y = gumbel_spanning_tree(w, 0.05)
    (y * torch.randn(6, 6, dtype=dtype)).sum().backward()
    assert torch.isfinite(y).all() and torch.isfinite(w.grad).all()
    assert torch.allclose(y.sum((-2, -1)).double(), torch.full((4,), 5.0, dtype=F64), atol=1e-2)


def test_max_spanning_tree_as_the_solver_of_perturbed():
    """``perturbed`` with Gumbel noise and sigma = 1 estimates the perturb-and-MST marginals."""
    torch.manual_seed(7)
    w = torch.tensor(
        [[0, 0.5, -0.3, 1.0], [0, 0, 0.2, -0.8], [0, 0, 0, 0.4], [0, 0, 0, 0]], dtype=F64
    )
    law = perturb_and_mst_law(w)
    expected = sum(p * as_matrix(t, 4) for t, p in law.items())
    y = perturbed(max_spanning_tree, sigma=1.0, n_samples=20_000, event_dims=2)(w)
    # each entry is a mean of 20 000 Bernoulli draws: sd <= 0.0036
    assert (y - expected).abs().max() < 0.02


def test_bad_inputs_raise_value_errors():
    w = torch.randn(4, 4)
    cases = [
        (lambda: max_spanning_tree(torch.randn(4, 3)), "n, n"),
        (lambda: max_spanning_tree(torch.randn(1, 1)), "n >= 2"),
        (lambda: spanning_tree_marginals(torch.ones(3, 3, dtype=torch.long)), "floating"),
        (lambda: spanning_tree_marginals(w.triu(1) * math.nan), "NaN"),
        (lambda: spanning_tree_marginals(torch.full((3, 3), math.inf)), r"\+inf"),
        (lambda: spanning_tree_marginals(w, 0.0), "temperature"),
        (lambda: gumbel_spanning_tree(w, -1.0), "temperature"),
        (lambda: gumbel_spanning_tree(w, math.nan), "temperature"),
        (lambda: spanning_tree_marginals(torch.full((3, 3), -math.inf)), "disconnected"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


# --- SpanningTree (the Gibbs law) -------------------------------------------------------------


class PerturbAndMSTSpanningTree(SpanningTree):
    """Planted bug: sampling the maximum spanning tree of Gumbel-perturbed scores, a natural
    confusion: that perturb-and-MAP law differs from the Gibbs law ``log_prob`` describes."""

    def sample(self, sample_shape=torch.Size()):
        return gumbel_spanning_tree(self.edge_logits, hard=True, sample_shape=sample_shape).detach()


def test_the_kit_rejects_a_perturb_and_mst_sampler_and_accepts_the_exact_one():
    scores = torch.tensor(
        [[0, 1.5, -0.3, 1.0], [0, 0, 0.2, -0.8], [0, 0, 0, 0.4], [0, 0, 0, 0]], dtype=F64
    )
    gibbs = SpanningTree(scores)
    law = perturb_and_mst_law(scores)
    trees = gibbs.enumerate_support()
    gibbs_p = gibbs.log_prob(trees).exp()
    mst_p = torch.tensor([law[tuple(map(tuple, t.nonzero().tolist()))] for t in trees])
    assert (gibbs_p - mst_p).abs().max() > 0.01  # the two laws differ on this graph
    check_sample_law(Example("exact", SpanningTree, {"edge_logits": scores}, law="discrete"))
    planted = Example("planted", PerturbAndMSTSpanningTree, {"edge_logits": scores}, law="discrete")
    with pytest.raises(AssertionError, match="sample_law"):
        check_sample_law(planted)
