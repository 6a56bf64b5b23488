r"""Arborescences (rooted directed spanning trees): the maximum arborescence, the Gibbs law's edge
marginals by Tutte's directed matrix-tree theorem, and the stochastic softmax trick built from
them (Paulus et al. 2020).

A directed graph on ``n`` vertices is a score matrix ``weights`` of shape ``(..., n, n)``:
``weights[i, j]`` scores the edge ``i -> j`` (``i`` is the parent of ``j``); the diagonal and the
edges into ``root`` are not read, and ``-inf`` removes an edge. An arborescence rooted at
``root`` gives every other vertex exactly one parent and reaches every vertex from the root; it
is returned as ``(..., n, n)`` with ``1`` at ``[parent, child]`` for its ``n - 1`` edges, so that
``<y, weights>`` is its score and `max_arborescence` is an argmax solver for
`relaxit.structured.perturbed` and `relaxit.structured.imle`.
"""

from __future__ import annotations

import numpy as np
import torch

from relaxit._sampling import gumbel_like
from relaxit.structured.spanning_trees import check_graph_scores, gibbs_marginals


def _check(weights: torch.Tensor, root: int, where: str) -> int:
    """Validate the scores (see `check_graph_scores`) and the root; returns ``n``."""
    if torch.is_tensor(weights) and weights.dim() >= 1:
        n = weights.shape[-1]
        if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < n:
            raise ValueError(f"{where}: `root` must be a vertex index in [0, {n}), got {root!r}")
    return check_graph_scores(weights, where, lambda n, device: _edge_mask(n, root, device))


def _edge_mask(n: int, root: int, device: torch.device) -> torch.Tensor:
    """``(n, n)`` bool: the edges ``i -> j`` an arborescence may use (no loop, none into root)."""
    mask = ~torch.eye(n, dtype=torch.bool, device=device)
    mask[:, root] = False
    return mask


def _edmonds(w: np.ndarray, root: int) -> np.ndarray:
    """Parents of a maximum arborescence of the score matrix ``w`` (``-inf``: no edge), by
    Chu-Liu/Edmonds: every vertex takes its best incoming edge; a cycle among those choices is
    contracted into one vertex whose incoming scores are reduced by the cycle edge they would
    replace, the smaller problem is solved, and the cycle is opened where the chosen edge
    enters it. Returns ``parent`` (``parent[root] = -1``)."""
    n = w.shape[0]
    w = w.copy()
    np.fill_diagonal(w, -np.inf)
    w[:, root] = -np.inf
    parent = w.argmax(0)
    parent[root] = -1
    if any(w[parent[v], v] == -np.inf for v in range(n) if v != root):
        raise ValueError("max_arborescence: a vertex cannot be reached from the root")
    cycle = _find_cycle(parent, root)
    if cycle is None:
        return parent
    in_cycle = np.zeros(n, dtype=bool)
    in_cycle[cycle] = True
    rest = [v for v in range(n) if not in_cycle[v]]
    c = len(rest)  # index of the contracted vertex
    index = {v: k for k, v in enumerate(rest)}
    small = np.full((c + 1, c + 1), -np.inf)
    small[:c, :c] = w[np.ix_(rest, rest)]
    # into the cycle: u -> v replaces the cycle edge parent[v] -> v
    gain = w[np.ix_(rest, cycle)] - w[parent[cycle], cycle][None, :]
    enter = gain.argmax(1)  # for each outside u, the cycle vertex it would enter
    small[:c, c] = gain[np.arange(c), enter]
    # out of the cycle: the best edge from any cycle vertex
    leave = w[np.ix_(cycle, rest)].argmax(0)
    small[c, :c] = w[np.ix_(cycle, rest)][leave, np.arange(c)]
    small_root = index[root]
    small_parent = _edmonds(small, small_root)
    out = np.full(n, -1)
    for k, v in enumerate(rest):
        p = small_parent[k]
        if p == -1:
            continue
        out[v] = cycle[leave[k]] if p == c else rest[p]
    u = small_parent[c]  # the outside vertex whose edge enters the cycle
    v_entry = cycle[enter[u]]
    for v in cycle:
        out[v] = parent[v]
    out[v_entry] = rest[u]
    return out


def _find_cycle(parent: np.ndarray, root: int) -> list[int] | None:
    """A cycle of the parent pointers (vertices in order), or None."""
    n = len(parent)
    state = np.zeros(n, dtype=np.int8)  # 0 unseen, 1 on the current path, 2 done
    for start in range(n):
        path = []
        v = start
        while v != root and v != -1 and state[v] == 0:
            state[v] = 1
            path.append(v)
            v = parent[v]
        if v != root and v != -1 and state[v] == 1:
            return path[path.index(v) :]
        for u in path:
            state[u] = 2
    return None


def max_arborescence(weights: torch.Tensor, root: int = 0) -> torch.Tensor:
    """The arborescence rooted at ``root`` of largest total score (Chu-Liu/Edmonds).

    Run on the CPU in float64 (NumPy), one graph after another: ``O(n^3)`` per graph. No
    gradient (use it as the solver of `perturbed` or `imle`, or through
    `gumbel_arborescence(hard=True)`).

    Args:
        weights: ``(..., n, n)``, ``weights[i, j]`` the score of ``i -> j``; ``-inf`` for no
            edge.
        root: the root vertex.

    Returns:
        ``(..., n, n)``: 1 at ``[parent, child]`` for the ``n - 1`` edges, dtype and device of
        ``weights``. ``ValueError`` when a vertex cannot be reached from the root.

    Examples:
        >>> w = torch.tensor([[0.0, 1.0, 5.0], [0.0, 0.0, 0.0], [0.0, 4.0, 0.0]])
        >>> max_arborescence(w)  # 0 -> 2 -> 1
        tensor([[0., 0., 1.],
                [0., 0., 0.],
                [0., 1., 0.]])
    """
    n = _check(weights, root, "max_arborescence")
    flat = weights.detach().reshape(-1, n, n).to("cpu", torch.float64).numpy()
    out = np.zeros_like(flat)
    for b, w in enumerate(flat):
        parent = _edmonds(w, root)
        children = [v for v in range(n) if v != root]
        out[b, parent[children], children] = 1.0
    return torch.from_numpy(out).to(weights.device, weights.dtype).reshape(weights.shape)


def _log_partition_directed(log_a: torch.Tensor) -> torch.Tensor:
    """``log det`` of the reduced in-degree Laplacian (root last, its row and column removed) of
    the digraph with log-weights ``log_a`` (``(B, n, n)``, ``[i, j]`` for ``i -> j``,
    `NO_EDGE` for no edge), by eliminating vertices 0..n-2 in log space.

    Eliminating vertex ``k`` of in-degree ``d_k = sum_i a_ik`` (the root's edges included)
    replaces the graph on the others by its Schur complement, ``a_ij <- a_ij + a_ik a_kj / d_k``
    (the paths ``i -> k -> j``), again an in-degree Laplacian, and multiplies the determinant by
    ``d_k`` (Tutte's theorem: that determinant sums the arborescences' weights). All terms are
    positive, so nothing cancels or underflows in log space.
    """
    log_z = log_a.new_zeros(log_a.shape[0])
    for _ in range(log_a.shape[-1] - 1):
        into = log_a[:, 1:, 0]  # edges i -> k from the remaining vertices (root included)
        out_of = log_a[:, 0, 1:]  # edges k -> j
        log_d = into.logsumexp(-1)
        log_z = log_z + log_d
        fill = into.unsqueeze(-1) + out_of.unsqueeze(-2) - log_d[:, None, None]
        log_a = torch.stack((log_a[:, 1:, 1:], fill)).logsumexp(0)
    return log_z


def arborescence_marginals(
    weights: torch.Tensor, temperature: float | torch.Tensor = 1.0, root: int = 0
) -> torch.Tensor:
    r"""Edge marginals of the Gibbs law over arborescences, by Tutte's matrix-tree theorem.

    For ``P(A) ∝ exp(sum_{e in A} w_e / temperature)`` over the arborescences rooted at
    ``root``, ``Z`` is the determinant of the in-degree Laplacian of ``exp(w / temperature)``
    with the root's row and column removed (Tutte 1948; Koo et al. 2007), and the marginal of
    edge ``e`` is ``mu_e = d log Z / d (w_e / temperature)``. It is the entropy-regularized
    argmax over the arborescence polytope that Paulus et al. (2020) use for arborescences, and
    it tends to the maximum arborescence as ``temperature -> 0``. ``log Z`` is computed by
    eliminating vertices in log space (`_log_partition_directed`), exact at any spread of the
    scores; ``mu`` is its gradient (differentiable again when ``weights`` or ``temperature``
    require grad). Float64 inside, returned in the dtype of ``weights``.

    Args:
        weights: ``(..., n, n)``, ``weights[i, j]`` the score of ``i -> j``; ``-inf`` for no
            edge.
        temperature: positive number or tensor broadcastable to ``weights.shape[:-2]``.
        root: the root vertex.

    Returns:
        ``(..., n, n)`` marginals: each non-root column sums to 1 (one parent), the root's
        column and the diagonal are 0. ``ValueError`` when a vertex cannot be reached.

    Examples:
        >>> mu = arborescence_marginals(torch.zeros(3, 3))  # 3 arborescences rooted at 0
        >>> mu.sum(0)
        tensor([0., 1., 1.])
    """
    n = _check(weights, root, "arborescence_marginals")
    order = [v for v in range(n) if v != root] + [root]  # the root is eliminated last (never)

    def log_partition(s: torch.Tensor) -> torch.Tensor:
        return _log_partition_directed(s[..., order, :][..., :, order].reshape(-1, n, n))

    return gibbs_marginals(
        weights,
        temperature,
        _edge_mask(n, root, weights.device),
        log_partition,
        "arborescence_marginals: a vertex cannot be reached from the root",
    )


def gumbel_arborescence(
    weights: torch.Tensor,
    temperature: float | torch.Tensor = 1.0,
    root: int = 0,
    hard: bool = False,
    noise: bool = True,
    sample_shape: torch.Size = torch.Size(),
) -> torch.Tensor:
    r"""Stochastic softmax trick for arborescences (Paulus et al. 2020).

    Method: M. B. Paulus, D. Choi, D. Tarlow, A. Krause, C. J. Maddison (2020), "Gradient
    Estimation with Stochastic Softmax Tricks", NeurIPS. With ``G`` i.i.d. Gumbel(0, 1) per
    edge and ``U = weights + G``, the sample is the maximum arborescence of ``U``
    (Chu-Liu/Edmonds) and its relaxation is the entropy-regularized argmax over the
    arborescence polytope, the edge marginals of the Gibbs law with parameters ``U / tau``
    (`arborescence_marginals`), which tend to the sample as ``tau -> 0``. ``hard=True`` returns
    the sample forward and the relaxation's gradient backward (straight-through);
    ``noise=False`` drops ``G``. No density: the law of the sample has no closed form.

    Args:
        weights: ``(*batch, n, n)``, ``weights[i, j]`` the score of ``i -> j``; ``-inf`` for no
            edge.
        temperature: positive number or tensor broadcastable to ``batch``.
        root: the root vertex.
        hard: arborescence forward, straight-through gradient backward.
        noise: add Gumbel noise (the stochastic trick) or not.
        sample_shape: leading dims of independent draws.

    Returns:
        ``sample_shape + batch + (n, n)``: marginals whose non-root columns sum to 1, or 0/1
        arborescences when ``hard``.

    Examples:
        >>> w = torch.randn(5, 5, requires_grad=True)
        >>> a = gumbel_arborescence(w, temperature=0.5, hard=True)
        >>> a.sum(0).tolist()  # one parent for every vertex but the root
        [0.0, 1.0, 1.0, 1.0, 1.0]
        >>> (a * torch.randn(5, 5)).sum().backward()
    """
    _check(weights, root, "gumbel_arborescence")
    shape = torch.Size(sample_shape) + weights.shape
    u = weights.expand(shape)
    if noise:
        u = u + gumbel_like(weights, shape)
    soft = arborescence_marginals(u, temperature, root)
    if not hard:
        return soft
    return max_arborescence(u, root) + (soft - soft.detach())
