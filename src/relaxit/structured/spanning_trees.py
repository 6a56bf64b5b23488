r"""Spanning trees: the maximum spanning tree, the Gibbs law's edge marginals by the matrix-tree
theorem, and the stochastic softmax trick built from them (Paulus et al. 2020).

A graph on ``n`` vertices is given by a score matrix ``weights`` of shape ``(..., n, n)``: entry
``[i, j]`` with ``i < j`` scores the edge ``{i, j}``; entries on and below the diagonal are not
read (a symmetric matrix can be passed as is), and ``-inf`` removes an edge. A spanning tree is
returned the same way: ``(..., n, n)`` with ``1`` at ``[i, j]``, ``i < j``, for each of its
``n - 1`` edges (``y + y.mT`` is its adjacency matrix), so that ``<y, weights>`` is the tree's
score and `max_spanning_tree` is an argmax solver for `relaxit.structured.perturbed` and
`relaxit.structured.imle`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from relaxit._sampling import gumbel_like

NO_EDGE = -1e30
"""The log-weight that stands for a missing edge inside the elimination: ``exp`` of it is exactly
0 next to any real score, and unlike ``-inf`` it sends no NaN through the gradients of
``logsumexp``."""


def check_graph_scores(
    weights: torch.Tensor, where: str, edge_mask: Callable[[int, torch.device], torch.Tensor]
) -> int:
    """Validate ``(..., n, n)`` floating scores with ``n >= 2``, and no NaN or ``+inf`` on the
    edges that ``edge_mask(n, device)`` marks; returns ``n``. Shared by the (directed) tree
    functions."""
    if not torch.is_tensor(weights) or not weights.is_floating_point():
        raise ValueError(f"{where}: `weights` must be a floating tensor (..., n, n)")
    if weights.dim() < 2 or weights.shape[-1] != weights.shape[-2] or weights.shape[-1] < 2:
        raise ValueError(
            f"{where}: `weights` must be (..., n, n) with n >= 2 vertices, "
            f"got {tuple(weights.shape)}"
        )
    n = weights.shape[-1]
    edges = weights.masked_fill(~edge_mask(n, weights.device), 0.0)
    if torch.isnan(edges).any():
        raise ValueError(f"{where}: `weights` contains NaN on an edge")
    if (edges == torch.inf).any():
        raise ValueError(f"{where}: `weights` must be finite or -inf (no edge), got +inf")
    return n


# torch.compile cannot trace the torch.autograd.grad below: running this eagerly (a graph break)
# lets a compiled model call the tree relaxations (tests/test_structured_compile.py)
@torch.compiler.disable
def gibbs_marginals(
    weights: torch.Tensor,
    temperature: float | torch.Tensor,
    edge_mask: torch.Tensor,
    log_partition: Callable[[torch.Tensor], torch.Tensor],
    disconnected: str,
) -> torch.Tensor:
    """``d log Z / d (w_e / temperature)`` for the edges of ``edge_mask``, in float64, returned in
    the dtype of ``weights``, differentiable when ``weights`` or ``temperature`` require grad.

    ``log_partition`` maps the scaled scores (``(..., n, n)``, `NO_EDGE` off the edges) to
    ``log Z`` of shape ``(B,)``; ``disconnected`` is the error when some ``Z`` is 0.
    """
    tau = _temperature(temperature, weights)
    differentiable = torch.is_grad_enabled() and (weights.requires_grad or tau.requires_grad)
    with torch.enable_grad():
        w = weights.double()
        edge = edge_mask & (w > -torch.inf)
        # divide the present edges only: -inf / tau would send NaN to a tensor temperature
        s = (w.masked_fill(~edge, 0.0) / tau.double()[..., None, None]).masked_fill(~edge, NO_EDGE)
        if not s.requires_grad:
            s = s.detach().requires_grad_(True)
        log_z = log_partition(s)
        if (log_z < NO_EDGE / 2).any():
            raise ValueError(disconnected)
        (mu,) = torch.autograd.grad(log_z.sum(), s, create_graph=differentiable)
    return (mu * edge_mask).to(weights.dtype)


def _check_weights(weights: torch.Tensor, where: str) -> int:
    return check_graph_scores(weights, where, _upper)


def _upper(n: int, device: torch.device) -> torch.Tensor:
    """``(n, n)`` bool mask of the edges ``[i, j]``, ``i < j``."""
    return torch.ones(n, n, dtype=torch.bool, device=device).triu(1)


def _edges(weights: torch.Tensor) -> torch.Tensor:
    """The scores on the upper triangle, ``-inf`` elsewhere."""
    return weights.masked_fill(~_upper(weights.shape[-1], weights.device), -torch.inf)


def max_spanning_tree(weights: torch.Tensor) -> torch.Tensor:
    """The spanning tree of largest total score (Prim's algorithm, batched).

    ``n - 1`` steps, each a tensor operation over the whole batch: the vertex outside the tree
    with the best edge into it joins through that edge. Ties go to the lowest index. No
    gradient (use it as the solver of `perturbed` or `imle`, or through
    `gumbel_spanning_tree(hard=True)`).

    Args:
        weights: ``(..., n, n)`` edge scores on the upper triangle (see the module docstring);
            ``-inf`` for a missing edge.

    Returns:
        ``(..., n, n)``: 1 at ``[i, j]`` (``i < j``) for the ``n - 1`` tree edges, 0 elsewhere;
        dtype and device of ``weights``. ``ValueError`` when a graph is disconnected.

    Examples:
        >>> w = torch.tensor([[0.0, 3.0, 1.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])
        >>> max_spanning_tree(w)
        tensor([[0., 1., 0.],
                [0., 0., 1.],
                [0., 0., 0.]])
    """
    n = _check_weights(weights, "max_spanning_tree")
    upper = _edges(weights.detach())
    scores = torch.maximum(upper, upper.mT).reshape(-1, n, n)  # symmetric, -inf diagonal
    rows = torch.arange(scores.shape[0], device=weights.device)
    in_tree = torch.zeros(scores.shape[:2], dtype=torch.bool, device=weights.device)
    in_tree[:, 0] = True
    best = scores[:, 0].clone()  # best score of an edge from the tree to each vertex
    parent = torch.zeros(scores.shape[:2], dtype=torch.long, device=weights.device)
    tree = torch.zeros_like(scores)
    for _ in range(n - 1):
        candidates = best.masked_fill(in_tree, -torch.inf)
        v = candidates.argmax(-1)
        if (candidates[rows, v] == -torch.inf).any():
            raise ValueError("max_spanning_tree: a graph is disconnected (no spanning tree)")
        p = parent[rows, v]
        tree[rows, torch.minimum(p, v), torch.maximum(p, v)] = 1.0
        in_tree[rows, v] = True
        row = scores[rows, v]
        closer = row > best
        best = torch.where(closer, row, best)
        parent = torch.where(closer, v.unsqueeze(-1), parent)
    return tree.reshape(weights.shape)


def _log_partition(log_a: torch.Tensor) -> torch.Tensor:
    """``log det`` of the reduced Laplacian of the graph with log-weights ``log_a`` (``(B, n, n)``,
    symmetric, `NO_EDGE` for no edge), by eliminating vertices 0..n-2 in log space.

    Eliminating a vertex of weighted degree ``d`` replaces the graph on the others by its Schur
    complement (Kron reduction), ``a_ij <- a_ij + a_ik a_kj / d``, and multiplies the
    determinant by ``d``. Every step adds positive terms, so in log space (``logaddexp``,
    ``logsumexp``) nothing cancels or underflows at any spread of the scores.
    """
    log_z = log_a.new_zeros(log_a.shape[0])
    for _ in range(log_a.shape[-1] - 1):
        row = log_a[:, 0, 1:]  # the eliminated vertex's edges (its diagonal is a self-loop)
        log_d = row.logsumexp(-1)
        log_z = log_z + log_d
        fill = row.unsqueeze(-1) + row.unsqueeze(-2) - log_d[:, None, None]
        # logsumexp, not logaddexp: the latter's double backward overflows next to NO_EDGE
        log_a = torch.stack((log_a[:, 1:, 1:], fill)).logsumexp(0)
    return log_z


def spanning_tree_marginals(
    weights: torch.Tensor, temperature: float | torch.Tensor = 1.0
) -> torch.Tensor:
    r"""Edge marginals of the Gibbs law over spanning trees, by the matrix-tree theorem.

    For ``P(T) ∝ exp(sum_{e in T} w_e / temperature)``, Kirchhoff's matrix-tree theorem gives
    the normalizer ``Z = det`` of the Laplacian of ``a_e = exp(w_e / temperature)`` with one
    vertex's row and column removed, and the probability that edge ``e`` is in the tree is

    $$
    \mu_e = \frac{\partial \log Z}{\partial (w_e / \tau)}
    $$

    (``a_e`` times the effective resistance across ``e``). ``mu`` lies in the spanning-tree
    polytope (it sums to ``n - 1``) and tends to the maximum spanning tree as
    ``temperature -> 0``. It is the entropy-regularized argmax that Paulus et al. (2020) use for
    spanning trees (their "exponential family entropy" relaxation). ``log Z`` is computed by
    eliminating the vertices one by one in log space (`_log_partition`), which stays exact
    where an LU factorization of the Laplacian loses every digit (its condition number grows
    like ``exp(spread / temperature)``), and ``mu`` is its gradient (autograd, with a graph
    when ``weights`` or ``temperature`` require grad, so ``mu`` is differentiable). Float64
    inside, returned in the dtype of ``weights``. Cost: ``O(n^3)`` per graph, ``n - 1`` batched
    steps.

    Args:
        weights: ``(..., n, n)`` edge scores on the upper triangle; ``-inf`` for no edge.
        temperature: positive number or tensor broadcastable to ``weights.shape[:-2]``.

    Returns:
        ``(..., n, n)`` marginals on the upper triangle, 0 elsewhere. ``ValueError`` when a
        graph is disconnected.

    Examples:
        >>> mu = spanning_tree_marginals(torch.zeros(4, 4))  # uniform law on the 16 trees
        >>> round(mu[0, 1].item(), 4), round(mu.sum().item(), 4)  # 3 edges out of 6
        (0.5, 3.0)
    """
    n = _check_weights(weights, "spanning_tree_marginals")
    upper = _upper(n, weights.device)

    def log_partition(s: torch.Tensor) -> torch.Tensor:
        return _log_partition(torch.where(upper, s, s.mT).reshape(-1, n, n))  # symmetric

    return gibbs_marginals(
        weights,
        temperature,
        upper,
        log_partition,
        "spanning_tree_marginals: a graph is disconnected",
    )


def gumbel_spanning_tree(
    weights: torch.Tensor,
    temperature: float | torch.Tensor = 1.0,
    hard: bool = False,
    noise: bool = True,
    sample_shape: torch.Size = torch.Size(),
) -> torch.Tensor:
    r"""Stochastic softmax trick for spanning trees (Paulus et al. 2020).

    Method: M. B. Paulus, D. Choi, D. Tarlow, A. Krause, C. J. Maddison (2020), "Gradient
    Estimation with Stochastic Softmax Tricks", NeurIPS. With ``G`` i.i.d. Gumbel(0, 1) per
    edge and ``U = weights + G``, the sample is the maximum spanning tree of ``U``
    (perturb-and-MAP: Kruskal's algorithm on ``U`` visits the edges in a Plackett-Luce order
    with weights ``exp(w_e)``), and its relaxation is the entropy-regularized argmax

    $$
    X = \arg\max_{x \in \mathrm{conv}(\text{trees})} \langle U, x\rangle + \tau H(x),
    $$

    with ``H`` the entropy of the spanning-tree exponential family: the edge marginals of the
    Gibbs law with parameters ``U / tau`` (`spanning_tree_marginals`), which tend to the
    sample as ``tau -> 0``. This follows the authors' code (``exp_family_entropy`` in
    github.com/choidami/sst, read for reference), which computes the same marginals as the
    gradient of the log-determinant. ``hard=True`` returns the sample forward and the
    relaxation's gradient backward (straight-through). ``noise=False`` drops ``G``
    (deterministic). No density: the law of the tree has no closed form in general.

    Args:
        weights: ``(*batch, n, n)`` edge scores on the upper triangle; ``-inf`` for no edge.
        temperature: positive number or tensor broadcastable to ``batch``.
        hard: spanning tree forward, straight-through gradient backward.
        noise: add Gumbel noise (the stochastic trick) or not.
        sample_shape: leading dims of independent draws.

    Returns:
        ``sample_shape + batch + (n, n)`` on the upper triangle: marginals summing to
        ``n - 1``, or 0/1 spanning trees when ``hard``.

    Examples:
        >>> w = torch.randn(5, 5, requires_grad=True)
        >>> tree = gumbel_spanning_tree(w, temperature=0.5, hard=True)
        >>> int(tree.sum()), bool(((tree + tree.mT).sum(-1) >= 1).all())  # 4 edges, no isolated
        (4, True)
        >>> (tree * torch.randn(5, 5)).sum().backward()
    """
    _check_weights(weights, "gumbel_spanning_tree")
    shape = torch.Size(sample_shape) + weights.shape
    u = weights.expand(shape)
    if noise:
        u = u + gumbel_like(weights, shape)
    soft = spanning_tree_marginals(u, temperature)
    if not hard:
        return soft
    return max_spanning_tree(u) + (soft - soft.detach())


def _temperature(temperature: float | torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``temperature`` as a tensor of ``weights``'s dtype; ``ValueError`` unless positive."""
    tau = torch.as_tensor(temperature, dtype=weights.dtype, device=weights.device)
    if not tau.is_floating_point() or not (torch.isfinite(tau) & (tau > 0)).all():
        raise ValueError(
            f"spanning trees: `temperature` must be finite and > 0, got {temperature!r}"
        )
    return tau
