"""Relaxed permutation matrices: Gumbel-Sinkhorn and (stochastic) NeuralSort."""

from __future__ import annotations

import torch

from relaxit._sampling import gumbel_like


def _positive(value, name: str, where: str) -> None:
    bad = (value <= 0).any() if torch.is_tensor(value) else not value > 0
    if bad:
        raise ValueError(f"{where}: `{name}` must be positive, got {value!r}")


def _square(log_alpha: torch.Tensor) -> None:
    if log_alpha.dim() < 2 or log_alpha.shape[-1] != log_alpha.shape[-2]:
        raise ValueError(
            f"gumbel_sinkhorn: `log_alpha` must be (..., n, n), got {tuple(log_alpha.shape)}"
        )


def log_sinkhorn(log_alpha: torch.Tensor, n_iters: int = 20) -> torch.Tensor:
    """Sinkhorn normalization in log space: alternately normalize rows and columns.

    ``L <- L - logsumexp_cols(L)`` (rows sum to 1), then ``L <- L - logsumexp_rows(L)``
    (columns sum to 1), ``n_iters`` times. The result converges to the log of the doubly
    stochastic matrix of the form ``diag(u) exp(log_alpha) diag(v)`` (Sinkhorn 1964).

    Args:
        log_alpha: ``(..., n, n)``.
        n_iters: number of row-and-column passes (>= 1).

    Returns:
        ``(..., n, n)`` log of a matrix whose columns sum to 1 exactly and rows approximately.
    """
    for _ in range(n_iters):
        log_alpha = log_alpha - log_alpha.logsumexp(-1, keepdim=True)
        log_alpha = log_alpha - log_alpha.logsumexp(-2, keepdim=True)
    return log_alpha


def _matching(scores: torch.Tensor) -> torch.Tensor:
    """Permutation matrices maximizing ``sum_i scores[i, pi(i)]`` (Hungarian algorithm)."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as e:  # pragma: no cover - scipy is in the `structured` extra
        raise ImportError(
            "gumbel_sinkhorn(hard=True) needs scipy (pip install 'relaxit[structured]')"
        ) from e
    n = scores.shape[-1]
    flat = scores.detach().reshape(-1, n, n).to("cpu", torch.float64).numpy()
    cols = torch.stack([torch.as_tensor(linear_sum_assignment(-m)[1], device="cpu") for m in flat])
    cols = cols.reshape(scores.shape[:-1]).to(scores.device)
    return torch.zeros_like(scores).scatter_(-1, cols.unsqueeze(-1), 1.0)


def gumbel_sinkhorn(
    log_alpha: torch.Tensor,
    tau: float | torch.Tensor = 1.0,
    n_iters: int = 20,
    noise: bool = True,
    hard: bool = False,
    sample_shape: torch.Size = torch.Size(),
) -> torch.Tensor:
    r"""Relaxed permutation matrices by the Gumbel-Sinkhorn operator (Mena et al. 2018).

    Method: G. Mena, D. Belanger, S. Linderman, J. Snoek (2018), "Learning Latent Permutations
    with Gumbel-Sinkhorn Networks", ICLR. With ``G`` i.i.d. Gumbel(0, 1) noise of shape
    ``(n, n)``,

    ``S(X) = Sinkhorn((log_alpha + G) / tau)``,

    a doubly stochastic matrix; as ``tau -> 0`` it converges to the permutation matrix that
    maximizes ``<P, log_alpha + G>`` (the matching), a sample of the Gumbel-Matching law
    (their Thm. 1). ``hard=True`` returns that matching (Hungarian algorithm on ``S``, scipy)
    forward and the gradient of ``S`` backward (straight-through). ``noise=False`` gives the
    deterministic Sinkhorn operator.

    Args:
        log_alpha: ``(*batch, n, n)`` scores; ``log_alpha[i, j]`` favours sending row i to
            column j.
        tau: positive temperature (number or tensor broadcastable to ``batch + (1, 1)``).
        n_iters: Sinkhorn iterations (20 in the paper's experiments).
        noise: add Gumbel noise (the stochastic operator) or not.
        hard: permutation matrix forward, straight-through gradient backward.
        sample_shape: leading dims of independent draws.

    Returns:
        ``sample_shape + batch + (n, n)``: columns sum to 1 exactly, rows to 1 up to the
        Sinkhorn tolerance (exact permutation matrices when ``hard``).

    Examples:
        >>> import torch
        >>> p = gumbel_sinkhorn(torch.randn(4, 4), tau=1.0, n_iters=100)
        >>> ones = torch.ones(4)
        >>> bool(p.sum(-2).allclose(ones)), bool(p.sum(-1).allclose(ones, atol=1e-3))
        (True, True)
    """
    _square(log_alpha)
    _positive(tau, "tau", "gumbel_sinkhorn")
    if isinstance(n_iters, bool) or not isinstance(n_iters, int) or n_iters < 1:
        raise ValueError(f"gumbel_sinkhorn: `n_iters` must be a positive int, got {n_iters!r}")
    shape = torch.Size(sample_shape) + log_alpha.shape
    x = log_alpha.expand(shape)
    if noise:
        x = x + gumbel_like(log_alpha, shape)
    soft = log_sinkhorn(x / tau, n_iters).exp()
    if not hard:
        return soft
    return _matching(soft) + (soft - soft.detach())


def neural_sort(
    scores: torch.Tensor,
    tau: float | torch.Tensor = 1.0,
    hard: bool = False,
    descending: bool = True,
) -> torch.Tensor:
    r"""Relaxed sorting permutation matrix (NeuralSort, Grover et al. 2019).

    Method: A. Grover, E. Wang, A. Zweig, S. Ermon (2019), "Stochastic Optimization of Sorting
    Networks via Continuous Relaxations", ICLR, Eq. (5): with ``A_{jk} = |s_j - s_k|``,

    ``P_hat[i, :] = softmax(((n + 1 - 2 i) s - A 1) / tau)``, ``i = 1..n``,

    a unimodal row-stochastic matrix whose row i concentrates on the item of rank i (largest
    first); as ``tau -> 0`` it converges to the sorting permutation matrix ``P[i, j] = 1`` iff
    item j has rank i (their Thm. 4). ``hard=True`` returns that permutation matrix forward
    (computed by ``argsort``, which is the row-wise argmax of ``P_hat`` in exact arithmetic and
    always a permutation) and the gradient of ``P_hat`` backward (straight-through).
    ``descending=False`` orders the rows smallest first. ``P @ s`` is the sorted vector.
    Cost O(n^2) per row of ``scores``.

    Args:
        scores: ``(*batch, n)`` real scores.
        tau: positive temperature (number or tensor broadcastable to ``batch + (1, 1)``).
        hard: straight-through permutation matrix.
        descending: row 0 is the largest item (default) or the smallest.

    Returns:
        ``batch + (n, n)``; rows index ranks, columns index items.

    Examples:
        >>> import torch
        >>> s = torch.tensor([0.3, 2.0, -1.0])
        >>> neural_sort(s, tau=0.01) @ s
        tensor([ 2.0000,  0.3000, -1.0000])
    """
    if scores.dim() < 1:
        raise ValueError("neural_sort: `scores` must have at least one dimension (the items)")
    _positive(tau, "tau", "neural_sort")
    n = scores.shape[-1]
    spread = (scores.unsqueeze(-1) - scores.unsqueeze(-2)).abs().sum(-1)  # A 1, (..., n)
    ranks = torch.arange(1, n + 1, dtype=scores.dtype, device=scores.device)
    weight = (n + 1 - 2 * ranks).unsqueeze(-1)  # (n, 1)
    logits = weight * scores.unsqueeze(-2) - spread.unsqueeze(-2)  # (..., n, n)
    soft = torch.softmax(logits / tau, -1)
    if not descending:
        soft = soft.flip(-2)
    if not hard:
        return soft
    order = scores.detach().argsort(-1, descending=descending)
    perm = torch.zeros_like(soft).scatter_(-1, order.unsqueeze(-1), 1.0)
    return perm + (soft - soft.detach())


def stochastic_neural_sort(
    logits: torch.Tensor,
    tau: float | torch.Tensor = 1.0,
    hard: bool = False,
    sample_shape: torch.Size = torch.Size(),
) -> torch.Tensor:
    r"""Relaxed Plackett-Luce ranking: NeuralSort of Gumbel-perturbed log-scores.

    Grover et al. (2019), Sec. 4: with ``g`` i.i.d. Gumbel(0, 1), ``sort(logits + g)`` (largest
    first) is an exact `relaxit.distributions.PlackettLuce` ranking; replacing the sort by
    `neural_sort` gives a reparameterized relaxed sample, differentiable in ``logits``. With
    ``hard=True`` the forward value is the permutation matrix of that exact Plackett-Luce
    ranking (``P[i, j] = 1`` iff item j has rank i) and the backward is NeuralSort's.

    Args:
        logits: ``(*batch, n)`` Plackett-Luce log-weights.
        tau: positive temperature.
        hard: straight-through permutation matrix.
        sample_shape: leading dims of independent draws.

    Returns:
        ``sample_shape + batch + (n, n)``.
    """
    shape = torch.Size(sample_shape) + logits.shape
    perturbed = logits.expand(shape) + gumbel_like(logits, shape)
    return neural_sort(perturbed, tau=tau, hard=hard)
