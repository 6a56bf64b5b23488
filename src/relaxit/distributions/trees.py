"""Spanning trees and arborescences: the Gibbs laws over the (directed) spanning trees of a
complete graph."""

from __future__ import annotations

import itertools
from typing import ClassVar

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

from relaxit.distributions._params import finite
from relaxit.structured.arborescences import _log_partition_directed, arborescence_marginals
from relaxit.structured.spanning_trees import NO_EDGE, _log_partition, spanning_tree_marginals

MAX_ENUMERATED_TREES = 16_807
"""Largest support (n^(n-2) trees, n = 7) that `SpanningTree.enumerate_support` builds."""

finite_real_matrix = finite(constraints.independent(constraints.real, 2))


def _edge_logits(edge_logits, owner: str) -> torch.Tensor:
    """``edge_logits`` as a floating tensor of shape ``(..., n, n)``, ``n >= 2``."""
    if not torch.is_tensor(edge_logits):
        edge_logits = torch.as_tensor(edge_logits, dtype=torch.get_default_dtype())
    if not edge_logits.is_floating_point():
        edge_logits = edge_logits.to(torch.get_default_dtype())
    if edge_logits.dim() < 2 or edge_logits.shape[-1] != edge_logits.shape[-2]:
        raise ValueError(
            f"{owner}: `edge_logits` must be (..., n, n), got {tuple(edge_logits.shape)}"
        )
    if edge_logits.shape[-1] < 2:
        raise ValueError(f"{owner}: `edge_logits` needs n >= 2 vertices")
    return edge_logits


class _SpanningTrees(constraints.Constraint):
    """0/1 ``(n, n)`` matrices on the upper triangle whose ``n - 1`` edges connect all vertices
    (by the matrix-tree theorem: exactly one spanning tree inside the edge set)."""

    is_discrete = True
    event_dim = 2

    def __init__(self, n: int):
        self.n = n
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        n = self.n
        if value.shape[-2:] != (n, n):
            return torch.zeros(value.shape[:-2], dtype=torch.bool, device=value.device)
        upper = torch.ones(n, n, dtype=torch.bool, device=value.device).triu(1)
        binary = ((value == 0) | (value == 1)).flatten(-2).all(-1)
        inside = (value.masked_fill(upper, 0) == 0).flatten(-2).all(-1)
        counted = value.sum((-2, -1)) == n - 1
        a = value.double().masked_fill(~upper, 0)
        a = a + a.mT
        laplacian = torch.diag_embed(a.sum(-1)) - a
        one_tree = (torch.linalg.det(laplacian[..., 1:, 1:]) - 1).abs() < 0.5
        return binary & inside & counted & one_tree


class _GibbsTrees(TorchDistribution):
    """What the Gibbs laws over (directed) spanning trees share: ``log p(T) = <T, theta> - log Z``
    over the edges of `_edge_mask`, ``mean`` the edge marginals, ``variance = mu (1 - mu)``,
    ``entropy = log Z - <theta, mu>``. Subclasses give the edges, ``log Z`` and ``mean``."""

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "edge_logits": finite_real_matrix
    }
    has_enumerate_support = True
    edge_logits: torch.Tensor

    @property
    def n(self) -> int:
        """Number of vertices."""
        return self.event_shape[-1]

    def _edge_mask(self) -> torch.Tensor:
        raise NotImplementedError

    def log_partition(self) -> torch.Tensor:
        raise NotImplementedError

    def _theta(self) -> torch.Tensor:
        """``edge_logits`` with 0 off the edges."""
        return self.edge_logits.masked_fill(~self._edge_mask(), 0)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return (value * self._theta()).sum((-2, -1)) - self.log_partition()

    @property
    def variance(self) -> torch.Tensor:
        mu = self.mean
        return mu * (1 - mu)

    def entropy(self) -> torch.Tensor:
        return self.log_partition() - (self._theta() * self.mean).sum((-2, -1))


class SpanningTree(_GibbsTrees):
    r"""Spanning trees of the complete graph on n vertices, with probability proportional to
    ``exp`` of the tree's total edge score (the Gibbs, or product-of-edge-weights, law).

    ``log p(T) = sum_{i<j} T_ij theta_ij - log Z``, ``Z = sum_T exp(sum_{e in T} theta_e)``.
    Kirchhoff's matrix-tree theorem gives ``Z`` as the determinant of the Laplacian of
    ``exp(theta)`` with one vertex removed; relaxit computes ``log Z`` by eliminating one vertex
    at a time in log space (`relaxit.structured.spanning_trees._log_partition`), exact at any
    spread of the scores. Base measure: counting measure on the ``n^(n-2)`` spanning trees
    (Cayley's formula). ``mean`` is the vector of edge marginals
    (`relaxit.structured.spanning_tree_marginals`), ``entropy`` is ``log Z - <theta, mean>``.

    Sampling is exact: the edges are decided one at a time, each with its probability given the
    decisions so far, ``P(e in T | ...) = 1 - Z(without e) / Z`` (deleting ``e`` sets its score
    to minus infinity; keeping it adds a constant that dominates every other tree's score, which
    conditions on it). That is ``n (n - 1) / 2`` eliminations per draw, all draws and batch
    elements at once. There is no ``rsample`` (a tree is discrete); the stochastic softmax trick
    `relaxit.structured.gumbel_spanning_tree` relaxes the related perturb-and-MAP law (the
    maximum spanning tree of Gumbel-perturbed scores), which is a different law from this one.

    A tree is a ``(n, n)`` matrix with 1 at ``[i, j]``, ``i < j``, for each of its ``n - 1``
    edges (``T + T.mT`` is the adjacency matrix); ``edge_logits[i, j]`` with ``i < j`` scores
    edge ``{i, j}``, and the entries on and below the diagonal are not read.

    Shapes: ``edge_logits`` ``(*batch, n, n)``; ``sample(sample_shape)`` is ``sample_shape +
    batch + (n, n)`` in the logits' dtype; ``log_prob`` is ``sample_shape + batch``.

    Args:
        edge_logits: ``(*batch, n, n)`` finite edge scores, ``n >= 2``.
        validate_args: as in ``torch.distributions``; ``log_prob`` then rejects values that are
            not spanning trees.

    Examples:
        >>> import torch
        >>> d = SpanningTree(torch.zeros(4, 4))  # uniform on the 4^2 = 16 trees
        >>> t = d.sample()
        >>> int(t.sum()), round(d.log_prob(t).exp().item(), 4)
        (3, 0.0625)
    """

    def __init__(self, edge_logits, validate_args=None):
        edge_logits = _edge_logits(edge_logits, "SpanningTree")
        self.edge_logits = edge_logits
        super().__init__(edge_logits.shape[:-2], edge_logits.shape[-2:], validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=2)
    def support(self) -> constraints.Constraint:
        return _SpanningTrees(self.n)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(SpanningTree, _instance)
        batch_shape = torch.Size(batch_shape)
        new.edge_logits = self.edge_logits.expand(batch_shape + self.event_shape)
        super(SpanningTree, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _edge_mask(self) -> torch.Tensor:
        return torch.ones(self.n, self.n, dtype=torch.bool, device=self.edge_logits.device).triu(1)

    def _log_weights(self, scores: torch.Tensor) -> torch.Tensor:
        """Symmetric float64 log-weights, `NO_EDGE` on the diagonal, shape ``(B, n, n)``."""
        upper = self._edge_mask()
        s = scores.double().masked_fill(~upper, NO_EDGE)
        return torch.where(upper, s, s.mT).reshape(-1, self.n, self.n)

    def log_partition(self) -> torch.Tensor:
        """``log Z``, shape ``batch_shape``, differentiable in ``edge_logits``."""
        log_z = _log_partition(self._log_weights(self.edge_logits))
        return log_z.reshape(self.batch_shape).to(self.edge_logits.dtype)

    @property
    def mean(self) -> torch.Tensor:
        return spanning_tree_marginals(self.edge_logits)

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        n, device = self.n, self.edge_logits.device
        with torch.no_grad():
            log_w = self._log_weights(self.edge_logits.expand(shape))
            draws = torch.arange(log_w.shape[0], device=device)
            iu = torch.triu_indices(n, n, 1, device=device)
            scores = log_w[:, iu[0], iu[1]]
            # a bonus above every other tree's total score: keeping an edge conditions on it
            bonus = 1e3 + 2 * (n - 1) * (scores.amax(-1) - scores.amin(-1))
            log_z = _log_partition(log_w)
            component = torch.arange(n, device=device).expand(log_w.shape[0], n)
            tree = torch.zeros_like(log_w)
            u = torch.rand(log_w.shape[0], iu.shape[1], dtype=torch.float64, device=device)
            for k, (i, j) in enumerate(iu.T.tolist()):
                deleted = log_w.clone()
                deleted[:, i, j] = deleted[:, j, i] = NO_EDGE
                log_z_deleted = _log_partition(deleted)
                p_in = -torch.expm1(log_z_deleted - log_z)  # 1 - Z(without e) / Z
                # an edge between two vertices the kept edges already join would close a cycle
                p_in = torch.where(component[:, i] == component[:, j], 0.0, p_in.clamp(0, 1))
                keep = u[:, k] < p_in
                tree[:, i, j] = keep.double()
                kept = log_w[:, i, j] + bonus
                log_w = torch.where(keep[:, None, None], log_w, deleted)
                log_w[draws, i, j] = log_w[draws, j, i] = torch.where(keep, kept, log_w[:, i, j])
                log_z = torch.where(keep, log_z + p_in.log() + bonus, log_z_deleted)
                joined = keep[:, None] & (component == component[:, j : j + 1])
                component = torch.where(joined, component[:, i : i + 1], component)
            return tree.reshape(shape).to(self.edge_logits.dtype)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        n = self.n
        count = n ** (n - 2)
        if count > MAX_ENUMERATED_TREES:
            raise ValueError(
                f"SpanningTree: enumerate_support would build {n}^{n - 2} = {count} trees "
                f"(limit {MAX_ENUMERATED_TREES})"
            )
        edges = list(itertools.combinations(range(n), 2))
        trees = [t for t in itertools.combinations(edges, n - 1) if _connects(t, n)]
        values = torch.zeros(len(trees), n, n, dtype=self.edge_logits.dtype)
        for k, tree in enumerate(trees):
            values[k, [i for i, _ in tree], [j for _, j in tree]] = 1
        values = values.to(self.edge_logits.device)
        values = values.reshape(len(trees), *(1,) * len(self.batch_shape), n, n)
        return values.expand(len(trees), *self.batch_shape, n, n) if expand else values


def _connects(edges: tuple[tuple[int, int], ...], n: int) -> bool:
    """Whether ``edges`` join all ``n`` vertices (union-find)."""
    root = list(range(n))

    def find(v: int) -> int:
        while root[v] != v:
            v = root[v]
        return v

    for i, j in edges:
        root[find(i)] = find(j)
    return len({find(v) for v in range(n)}) == 1


class _Arborescences(constraints.Constraint):
    """0/1 ``(n, n)`` matrices (``[parent, child]``) giving every vertex but the root one parent,
    with the root reaching every vertex (Tutte's theorem: exactly one arborescence inside)."""

    is_discrete = True
    event_dim = 2

    def __init__(self, n: int, root: int):
        self.n, self.root = n, root
        super().__init__()

    def check(self, value: torch.Tensor) -> torch.Tensor:
        n, root = self.n, self.root
        if value.shape[-2:] != (n, n):
            return torch.zeros(value.shape[:-2], dtype=torch.bool, device=value.device)
        allowed = ~torch.eye(n, dtype=torch.bool, device=value.device)
        allowed[:, root] = False
        binary = ((value == 0) | (value == 1)).flatten(-2).all(-1)
        inside = (value.masked_fill(allowed, 0) == 0).flatten(-2).all(-1)
        parents = value.sum(-2)
        one_parent = (parents.masked_fill(~allowed.any(0), 1) == 1).all(-1)
        a = value.double().masked_fill(~allowed, 0)
        laplacian = torch.diag_embed(a.sum(-2)) - a  # in-degree Laplacian
        keep = [v for v in range(n) if v != root]
        reduced = laplacian[..., keep, :][..., :, keep]
        one_tree = (torch.linalg.det(reduced) - 1).abs() < 0.5
        return binary & inside & one_parent & one_tree


class Arborescence(_GibbsTrees):
    r"""Arborescences (rooted directed spanning trees) of the complete digraph on n vertices, with
    probability proportional to ``exp`` of the total edge score (the Gibbs law).

    ``log p(A) = sum_{i != j} A_ij theta_ij - log Z``: ``A[i, j] = 1`` when ``i`` is the parent
    of ``j``; every vertex but ``root`` has one parent and the root reaches every vertex. Tutte's
    directed matrix-tree theorem gives ``Z`` as the determinant of the in-degree Laplacian of
    ``exp(theta)`` without the root's row and column (Koo et al. 2007); relaxit computes
    ``log Z`` by eliminating vertices in log space
    (`relaxit.structured.arborescences._log_partition_directed`), exact at any spread of the
    scores. Base measure: counting measure on the ``n^(n-2)`` arborescences with the given root.
    ``mean`` is the matrix of edge marginals (`relaxit.structured.arborescence_marginals`);
    ``entropy`` is ``log Z - <theta, mean>``.

    Sampling is exact: the vertices pick their parents in turn, each from the marginals of its
    column under the law conditioned on the parents picked so far (conditioning removes the
    other edges into that vertex). ``n - 1`` marginal computations per draw, all draws and
    batch elements at once. No ``rsample``; the stochastic softmax trick
    `relaxit.structured.gumbel_arborescence` relaxes the perturb-and-MAP law (the maximum
    arborescence of Gumbel-perturbed scores), a different law from this one.

    Shapes: ``edge_logits`` ``(*batch, n, n)`` (``[i, j]`` scores ``i -> j``; the diagonal and the
    column of ``root`` are not read); ``sample(sample_shape)`` is ``sample_shape + batch + (n,
    n)`` in the logits' dtype; ``log_prob`` is ``sample_shape + batch``.

    Args:
        edge_logits: ``(*batch, n, n)`` finite edge scores, ``n >= 2``.
        root: the root vertex.
        validate_args: as in ``torch.distributions``; ``log_prob`` then rejects values that are
            not arborescences rooted at ``root``.

    Examples:
        >>> import torch
        >>> d = Arborescence(torch.zeros(3, 3))  # uniform on the 3 arborescences rooted at 0
        >>> a = d.sample()
        >>> a.sum(0).tolist(), round(d.log_prob(a).exp().item(), 4)
        ([0.0, 1.0, 1.0], 0.3333)
    """

    def __init__(self, edge_logits, root: int = 0, validate_args=None):
        edge_logits = _edge_logits(edge_logits, "Arborescence")
        n = edge_logits.shape[-1]
        if isinstance(root, bool) or not isinstance(root, int) or not 0 <= root < n:
            raise ValueError(
                f"Arborescence: `root` must be a vertex index in [0, {n}), got {root!r}"
            )
        self.edge_logits = edge_logits
        self.root = root
        super().__init__(edge_logits.shape[:-2], edge_logits.shape[-2:], validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=2)
    def support(self) -> constraints.Constraint:
        return _Arborescences(self.n, self.root)

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(Arborescence, _instance)
        batch_shape = torch.Size(batch_shape)
        new.edge_logits = self.edge_logits.expand(batch_shape + self.event_shape)
        new.root = self.root
        super(Arborescence, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def _edge_mask(self) -> torch.Tensor:
        allowed = ~torch.eye(self.n, dtype=torch.bool, device=self.edge_logits.device)
        allowed[:, self.root] = False
        return allowed

    def log_partition(self) -> torch.Tensor:
        """``log Z``, shape ``batch_shape``, differentiable in ``edge_logits``."""
        order = [v for v in range(self.n) if v != self.root] + [self.root]
        s = self.edge_logits.double().masked_fill(~self._edge_mask(), NO_EDGE)
        log_a = s[..., order, :][..., :, order].reshape(-1, self.n, self.n)
        log_z = _log_partition_directed(log_a)
        return log_z.reshape(self.batch_shape).to(self.edge_logits.dtype)

    @property
    def mean(self) -> torch.Tensor:
        return arborescence_marginals(self.edge_logits, root=self.root)

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        n = self.n
        with torch.no_grad():
            scores = self.edge_logits.expand(shape).double().reshape(-1, n, n)
            scores = scores.masked_fill(~self._edge_mask(), -torch.inf)
            for child in (v for v in range(n) if v != self.root):
                column = arborescence_marginals(scores, root=self.root)[:, :, child]
                parent = torch.multinomial(column.clamp_min(0), 1).squeeze(-1)
                keep = torch.zeros_like(column, dtype=torch.bool).scatter_(
                    -1, parent[:, None], True
                )
                scores[:, :, child] = scores[:, :, child].masked_fill(~keep, -torch.inf)
            tree = (scores > -torch.inf) & self._edge_mask()
            return tree.reshape(shape).to(self.edge_logits.dtype)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        n, root = self.n, self.root
        count = n ** (n - 2)
        if count > MAX_ENUMERATED_TREES:
            raise ValueError(
                f"Arborescence: enumerate_support would build {n}^{n - 2} = {count} "
                f"arborescences (limit {MAX_ENUMERATED_TREES})"
            )
        others = [v for v in range(n) if v != root]
        found = []
        for parents in itertools.product(range(n), repeat=len(others)):
            parent = dict(zip(others, parents, strict=True))
            if all(_reaches(parent, v, root, n) for v in others):
                found.append(parent)
        values = torch.zeros(len(found), n, n, dtype=self.edge_logits.dtype)
        for k, parent in enumerate(found):
            values[k, list(parent.values()), list(parent.keys())] = 1
        values = values.to(self.edge_logits.device)
        values = values.reshape(len(found), *(1,) * len(self.batch_shape), n, n)
        return values.expand(len(found), *self.batch_shape, n, n) if expand else values


def _reaches(parent: dict[int, int], v: int, root: int, n: int) -> bool:
    """Whether following ``parent`` from ``v`` reaches ``root`` (no self-loop, no cycle)."""
    for _ in range(n):
        if v == root:
            return True
        if parent[v] == v:
            return False
        v = parent[v]
    return v == root
