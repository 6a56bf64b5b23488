"""The conformance checks. Each takes an `Example` and raises `AssertionError` saying what broke.

Every failure message starts with the check's name (``check_sample_law: ...``). The full list,
in the order `relaxit.testing.check_all` runs them, is `relaxit.testing.ALL_CHECKS`:

========================  ===============================================================
check                     what it asserts
========================  ===============================================================
check_shapes              sample/rsample/log_prob/expand shapes, scalar-parameter
                          broadcasting, ``sample()`` carries no graph
check_normalization       ``exp(log_prob)`` sums/integrates to 1 over the whole support,
                          atoms included; returns the mass found
check_sample_law          samples follow ``exp(log_prob)`` (KS, binomial, chi-square; in
                          several dimensions every coordinate, every pair, and a
                          random-feature MMD against importance-weighted ``log_prob``)
check_independence        batch elements, and draws along every sample dim, independent
                          (`relaxit.testing.joint`)
check_gradients           ``gradcheck`` of ``log_prob`` in float64; ``rsample``
                          back-propagates a finite, nonzero gradient to every parameter
check_pathwise_gradient   the mean ``rsample`` gradient of ``E[g(x)]`` equals the
                          score-function and quadrature gradients from ``log_prob``
                          (`relaxit.testing.pathwise`)
check_straight_through    hard value == ``hard_map(soft value)`` per draw; its gradient is
                          the soft value's (`relaxit.testing.joint`)
check_dtype_device        float32 -> float32, float64 -> float64, float16 sampling finite,
                          nothing created off the parameters' device (meta, and CUDA)
check_validation          ``ValueError`` naming the parameter for bad parameters, for
                          both/neither of ``probs``/``logits``, and for out-of-support values
check_extremes            (extreme examples) finite samples, log-probs and gradients
check_pyro                one SVI step of a model/guide pair using the class in
                          ``pyro.sample``
========================  ===============================================================

How the law checks work (see `relaxit.testing.stats` for the false-alarm budget):

* ``law="discrete"``: the support is enumerated; the masses must sum to 1 (1e-6, float64) and the
  sample counts pass a chi-square test per batch element.
* ``law="continuous"``, one free coordinate (scalar events, 2-simplex): the density is pulled
  back to the unconstrained line by ``biject_to(dist.support)`` and integrated by the trapezoid
  rule on the union of two grids: 20001 points spanning the samples' range widened by 4
  standard deviations on each side, and a fixed wide grid that does not depend on the class
  (`wide_grid`: step 0.005 over [-100, 100], then ``sinh``-spaced to +-1e300, restricted to the
  points whose value a float represents), so mass far from where the samples fall is counted.
  Interior mass plus atom masses must equal 1 within 2e-3. Samples: a binomial test per atom and
  a KS test of the interior samples against the numerically integrated CDF.
* ``law="continuous"``, two or more free coordinates: importance sampling in the unconstrained
  space from a known proposal, half a multivariate Student-t (5 degrees of freedom) fitted to an
  independent set of samples and widened by 1.5, half a multivariate Cauchy 10 times wider whose
  tails are heavier than those of any density decaying faster than ``|y|^-(d+1)``. The estimate
  of the normalizing constant must pass a z-test of being 1 at level ``ALPHA``. Samples: for
  each coordinate, each pair of coordinates (all of them, not only adjacent ones) and 16 random
  Fourier features of a Gaussian kernel (a random-feature MMD), the mean in fresh samples is
  compared with its importance-sampling estimate under ``exp(log_prob)`` (z-tests,
  Bonferroni-corrected).
* ``law="straight_through"``: the hard values pass the discrete checks against ``hard_view``; the
  relaxed values behind them pass the continuous checks against ``log_prob``; and ``log_prob`` of
  the returned tensor equals the density of its relaxed value.

What no check here can see: dependence that leaves the tested statistics unchanged (the
independence check looks at rank correlations of one projection; the multivariate law check
at the listed statistics), errors below the tests' power (about 0.02 in a CDF with the default
sample sizes), mass a float cannot represent, and behaviour at parameters not registered.
"""

from __future__ import annotations

import inspect
import math
import zlib
from collections.abc import Callable

import numpy as np
import torch
from torch.distributions import Distribution, biject_to, transform_to

from relaxit.distributions.permutations import _Permutation
from relaxit.testing.example import Example, constraint_event_dim
from relaxit.testing.stats import (
    ALPHA,
    N_SAMPLES,
    binomial_pvalue,
    check_pvalue,
    chisquare_pvalue,
    ks_pvalue,
    named_check,
    seeded,
    trapezoid_cumulative,
    z_pvalue,
)

NORMALIZATION_TOL_QUADRATURE = 2e-3
NORMALIZATION_TOL_DISCRETE = 1e-6
GRID_POINTS = 20_001
IS_PROPOSAL_DRAWS = 100_000
IS_WIDE_FRACTION = 0.5
IS_WIDE_SCALE = 10.0
MMD_FEATURES = 16
WIDE_GRID_LIMIT = 100.0
WIDE_GRID_UNIFORM = 40_001
WIDE_GRID_FAR = 20_001


def wide_grid(dtype: torch.dtype) -> torch.Tensor:
    """A fixed grid on the unconstrained line that does not depend on the class or its samples.

    ``WIDE_GRID_UNIFORM`` points evenly over ``[-100, 100]`` (step 0.005: logits +-100 of a
    ``(0, 1)`` support, log-values ``e^-100 .. e^100`` of a positive one) and ``WIDE_GRID_FAR``
    points ``sinh``-spaced out to ``+-1e300`` (relative step 3.5%), so a density that puts mass
    anywhere a float64 can represent, away from the samples, is integrated too.
    """
    uniform = torch.linspace(-WIDE_GRID_LIMIT, WIDE_GRID_LIMIT, WIDE_GRID_UNIFORM, dtype=dtype)
    top = math.asinh(1e300)
    far = torch.sinh(torch.linspace(-top, top, WIDE_GRID_FAR, dtype=dtype))
    return torch.cat([uniform, far])


def _representable(
    y: torch.Tensor, transform, batch: torch.Size, free_shape: torch.Size
) -> torch.Tensor:
    """The points of a 1-D unconstrained grid whose value ``transform(y)`` a float represents:
    mapping back gives ``y`` (relative error 1e-6) for every batch element. Beyond them (logit
    37 of a float64 in (0, 1), say) no sample can land and ``log_prob`` sees a rounded value."""
    yy = y.reshape(-1, *[1] * len(batch), *free_shape).expand(-1, *batch, *free_shape)
    with torch.no_grad():
        back = transform.inv(transform(yy))
    ok = torch.isfinite(back) & ((back - yy).abs() <= 1e-6 * (1 + yy.abs()))
    return y[ok.reshape(y.shape[0], -1).all(-1)]


def quadrature_grid(
    lo: torch.Tensor, hi: torch.Tensor, transform, free_shape: torch.Size
) -> torch.Tensor:
    """The 1-D unconstrained grid of the quadratures, ``(GRID_POINTS + W, *batch)``, sorted:
    ``GRID_POINTS`` even points over ``[lo, hi]`` per batch element (fine where the samples
    are) and the representable points of `wide_grid` (everywhere else)."""
    batch = lo.shape
    t = torch.linspace(0, 1, GRID_POINTS, dtype=lo.dtype).reshape(-1, *[1] * len(batch))
    wide = _representable(wide_grid(lo.dtype), transform, batch, free_shape)
    wide = wide.reshape(-1, *[1] * len(batch)).expand(-1, *batch)
    return torch.cat([lo + (hi - lo) * t, wide]).sort(0).values


def _seed(example: Example, salt: str) -> torch.Generator:
    return seeded(zlib.crc32(f"{example.name}/{salt}".encode()))


def _batch_numel(dist: Distribution) -> int:
    return math.prod(dist.batch_shape)


# ----------------------------------------------------------------------------------- shapes


@named_check
def check_shapes(example: Example) -> None:
    """Shapes of ``sample``/``rsample``/``log_prob``, ``expand`` and scalar broadcasting."""
    _seed(example, "shapes")
    dist = example.make(requires_grad=True)
    batch, event = dist.batch_shape, dist.event_shape
    sample_shape = torch.Size([3, 2])
    x = dist.rsample(sample_shape) if dist.has_rsample else dist.sample(sample_shape)
    assert x.shape == sample_shape + batch + event, (
        f"{example.name}: rsample{tuple(sample_shape)} has shape {tuple(x.shape)}, "
        f"expected {tuple(sample_shape + batch + event)}"
    )
    s = dist.sample(sample_shape)
    assert s.shape == x.shape, f"{example.name}: sample() shape {tuple(s.shape)} != rsample's"
    assert not s.requires_grad, f"{example.name}: sample() returned a tensor with a graph"
    lp = dist.log_prob(x)
    assert lp.shape == sample_shape + batch, (
        f"{example.name}: log_prob shape {tuple(lp.shape)}, expected {tuple(sample_shape + batch)}"
    )
    x00 = x[0, 0]
    if example.law == "straight_through":  # indexing drops Pyro's `_unquantize`: carry it over
        x00._unquantize = example.soft_sample(x)[0, 0]
    lp_single = dist.log_prob(x00)
    assert lp_single.shape == batch, (
        f"{example.name}: log_prob of one sample has shape {tuple(lp_single.shape)}, "
        f"expected {tuple(batch)}"
    )

    new_batch = torch.Size([4]) + batch
    expanded = dist.expand(new_batch)
    assert type(expanded) is type(dist), (
        f"{example.name}: expand returned {type(expanded).__name__}, not {type(dist).__name__}"
    )
    assert expanded.batch_shape == new_batch and expanded.event_shape == event, (
        f"{example.name}: expand({tuple(new_batch)}) has batch {tuple(expanded.batch_shape)}"
    )
    xe = expanded.sample(torch.Size([5]))
    assert xe.shape == torch.Size([5]) + new_batch + event, (
        f"{example.name}: expanded sample shape {tuple(xe.shape)}"
    )
    lpe = expanded.log_prob(x00)
    assert lpe.shape == new_batch, f"{example.name}: expanded log_prob shape {tuple(lpe.shape)}"
    torch.testing.assert_close(
        lpe, lp_single.expand(new_batch), msg=f"{example.name}: expand changed log_prob"
    )
    _check_scalar_broadcasting(example, dist)


def _check_scalar_broadcasting(example: Example, dist: Distribution) -> None:
    """Each batch-shaped float parameter may be a Python number instead."""
    declared = example.dist_class.arg_constraints
    for name in example.float_param_names:
        value = example.params[name]
        if constraint_event_dim(declared[name]) != 0 or value.dim() == 0:
            continue
        overrides = {name: float(value.flatten()[0])}
        batch_parts = []
        for other in example.float_param_names:
            if other == name:
                continue
            v = example.params[other]
            batch_parts.append(v.shape[: v.dim() - constraint_event_dim(declared[other])])
        expected = torch.broadcast_shapes(*batch_parts) if batch_parts else torch.Size()
        d = example.make(**overrides)
        assert d.batch_shape == expected, (
            f"{example.name}: with {name} a Python number, batch_shape is "
            f"{tuple(d.batch_shape)}, expected {tuple(expected)}"
        )
        y = d.sample(torch.Size([2]))
        assert y.shape == torch.Size([2]) + d.batch_shape + d.event_shape, (
            f"{example.name}: with {name} a Python number, sample shape {tuple(y.shape)}"
        )
        assert d.log_prob(y).shape == torch.Size([2]) + d.batch_shape


# ------------------------------------------------------------------------ laws: internals


def _draw(example: Example, dist: Distribution, n: int) -> torch.Tensor:
    with torch.no_grad():
        return dist.rsample((n,)) if dist.has_rsample else dist.sample((n,))


def _flat_batch(t: torch.Tensor, lead: int, batch: torch.Size) -> torch.Tensor:
    """Reshape ``lead`` leading dims + batch + rest into ``lead`` dims + (prod batch,) + rest."""
    return t.reshape(*t.shape[:lead], math.prod(batch), *t.shape[lead + len(batch) :])


def _discrete_law(
    name: str,
    log_mass: Callable[[torch.Tensor], torch.Tensor],
    support: torch.Tensor,
    samples: torch.Tensor | None,
    batch: torch.Size,
    event_dims: int,
) -> list[float]:
    masses = log_mass(support).exp()  # (S, *batch)
    total = masses.sum(0)
    worst = (total - 1).abs().max().item()
    assert worst <= NORMALIZATION_TOL_DISCRETE, (
        f"{name}: probability masses sum to {total.flatten().tolist()} (normalization)"
    )
    if samples is None:
        return total.flatten().tolist()
    eq = samples.unsqueeze(1) == support.unsqueeze(0)  # (n, S, *batch, *event)
    if event_dims:
        eq = eq.flatten(-event_dims).all(-1)
    matched = eq.any(1)
    assert bool(matched.all()), f"{name}: samples outside the enumerated support"
    idx = _flat_batch(eq.float().argmax(1), 1, batch)  # (n, B)
    probs = _flat_batch(masses, 1, batch)  # (S, B)
    n_support = support.shape[0]
    for b in range(idx.shape[1]):
        counts = np.bincount(idx[:, b].numpy(), minlength=n_support)
        p = probs[:, b].double().numpy()
        pval = chisquare_pvalue(counts, p / p.sum())
        check_pvalue(
            pval,
            ALPHA,
            f"{name}: samples do not follow log_prob (chi-square p={pval:.2e} at batch "
            f"element {b}; counts {counts.tolist()}, expected {(p * counts.sum()).round(1)})",
            "chi-square",
        )
    return total.flatten().tolist()


def _unconstrained_log_density(dist: Distribution, transform, y: torch.Tensor) -> torch.Tensor:
    x = transform(y)
    return dist.log_prob(x) + transform.log_abs_det_jacobian(y, x)


def _continuous_law(
    example: Example,
    dist: Distribution,
    samples: torch.Tensor,
    fit_samples: torch.Tensor,
    test_samples: bool,
) -> list[float]:
    """Normalization (and, if asked, sample law) of a density on ``dist.support`` plus atoms."""
    name = example.name
    batch, event = dist.batch_shape, dist.event_shape
    transform = biject_to(dist.support)
    free_shape = transform.inverse_shape(event)
    n_free = math.prod(free_shape)
    atoms = torch.tensor(example.atoms, dtype=samples.dtype)
    if len(atoms):
        assert not event, f"{name}: atoms are supported for scalar events only"
        at_atom = (samples.unsqueeze(-1) == atoms).any(-1)
        atom_log_mass = dist.log_prob(atoms.reshape(-1, *[1] * len(batch)).expand(-1, *batch))
        atom_mass = atom_log_mass.exp()  # (A, *batch)
    else:
        at_atom = torch.zeros(samples.shape[: 1 + len(batch)], dtype=torch.bool)
        atom_mass = torch.zeros((0, *batch), dtype=samples.dtype)

    if n_free == 1:
        return _continuous_law_1d(
            example, dist, transform, samples, at_atom, atom_mass, test_samples
        )
    else:
        assert not len(atoms), f"{name}: atoms are supported for scalar events only"
        return _continuous_law_is(example, dist, transform, samples, fit_samples, test_samples)


def _continuous_law_1d(example, dist, transform, samples, at_atom, atom_mass, test_samples):
    name = example.name
    batch, event = dist.batch_shape, dist.event_shape
    free_shape = transform.inverse_shape(event)
    y = transform.inv(samples).reshape(samples.shape[: 1 + len(batch)])  # (n, *batch)
    interior = ~at_atom
    y_in = torch.where(interior, y, torch.nan)
    assert bool(torch.isfinite(y_in[interior]).all()), (
        f"{name}: samples on the boundary of the support where no atom is declared"
    )
    count = interior.sum(0).clamp(min=1)
    mean = torch.nansum(y_in, 0) / count
    std = (torch.nansum((y_in - mean) ** 2, 0) / count).sqrt().clamp(min=1e-3)
    big = torch.finfo(y.dtype).max
    lo = torch.where(interior, y, big).amin(0) - 4 * std
    hi = torch.where(interior, y, -big).amax(0) + 4 * std
    # Parameters for which every sample is an atom: integrate a unit window around 0.
    no_interior = interior.sum(0) == 0
    lo = torch.where(no_interior, -50.0, lo)
    hi = torch.where(no_interior, 50.0, hi)
    grid = quadrature_grid(lo, hi, transform, free_shape)  # (G + W, *batch)
    log_dens = _unconstrained_log_density(
        dist, transform, grid.reshape(grid.shape + free_shape)
    )  # (G, *batch)
    dens = torch.nan_to_num(log_dens.exp(), nan=0.0)
    cdf = trapezoid_cumulative(grid.movedim(0, -1), dens.movedim(0, -1))  # (*batch, G)
    interior_mass = cdf[..., -1]
    total = interior_mass + atom_mass.sum(0)
    worst = (total - 1).abs().max().item()
    assert worst <= NORMALIZATION_TOL_QUADRATURE, (
        f"{name}: exp(log_prob) integrates to {total.flatten().tolist()} "
        f"(interior {interior_mass.flatten().tolist()} + atoms "
        f"{atom_mass.sum(0).flatten().tolist()}) (normalization)"
    )
    if not test_samples:
        return total.flatten().tolist()
    n = samples.shape[0]
    flat_y = _flat_batch(y, 1, batch)
    flat_in = _flat_batch(interior, 1, batch)
    flat_grid = _flat_batch(grid, 1, batch)
    flat_cdf = cdf.reshape(-1, grid.shape[0])
    flat_atoms = atom_mass.reshape(atom_mass.shape[0], flat_y.shape[1])
    atom_hits = _flat_batch(
        (samples.unsqueeze(-1) == torch.tensor(example.atoms, dtype=samples.dtype)), 1, batch
    )  # (n, B, A)
    for b in range(flat_y.shape[1]):
        for a in range(flat_atoms.shape[0]):
            k = int(atom_hits[:, b, a].sum())
            p = float(flat_atoms[a, b])
            pval = binomial_pvalue(k, n, p)
            check_pvalue(
                pval,
                ALPHA,
                f"{name}: samples do not follow log_prob: atom at {example.atoms[a]} has "
                f"frequency {k / n:.4f}, log_prob says {p:.4f} (binomial p={pval:.2e}, "
                f"batch element {b})",
                "atom binomial",
            )
        ys = flat_y[flat_in[:, b], b]
        if ys.numel() < 20:
            continue
        mass = float(flat_cdf[b, -1])
        pval = ks_pvalue(
            ys.numpy(), flat_grid[:, b].numpy(), (flat_cdf[b] / max(mass, 1e-300)).numpy()
        )
        check_pvalue(
            pval,
            ALPHA,
            f"{name}: samples do not follow log_prob (KS p={pval:.2e} on the continuous part, "
            f"batch element {b})",
            "KS",
        )
    return total.flatten().tolist()


def _continuous_law_is(example, dist, transform, samples, fit_samples, test_samples):
    from pyro.distributions import MultivariateStudentT

    name = example.name
    batch, event = dist.batch_shape, dist.event_shape
    free_shape = transform.inverse_shape(event)
    n_free = math.prod(free_shape)

    def to_flat(x: torch.Tensor) -> torch.Tensor:  # (n, *batch, *event) -> (n, B, d)
        y = transform.inv(x)
        return y.reshape(x.shape[0], math.prod(batch), n_free)

    y_fit = to_flat(fit_samples)
    assert bool(torch.isfinite(y_fit).all()), f"{name}: samples on the boundary of the support"
    loc = y_fit.mean(0)
    centered = y_fit - loc
    cov = centered.transpose(0, 1).transpose(1, 2) @ centered.transpose(0, 1) / y_fit.shape[0]
    cov = cov + 1e-9 * torch.eye(n_free, dtype=cov.dtype)
    tril = torch.linalg.cholesky(cov)
    # Two proposals, half the draws each (multiple importance sampling, balance heuristic):
    # a Student-t fitted to the samples, and a Cauchy 10x wider whose polynomial tails are
    # heavier than those of any density decaying faster than |y|^-(d+1): mass far away from
    # the samples is proposed too.
    fitted = MultivariateStudentT(torch.tensor(5.0, dtype=loc.dtype), loc, 1.5 * tril)
    wide = MultivariateStudentT(torch.tensor(1.0, dtype=loc.dtype), loc, IS_WIDE_SCALE * tril)
    n_wide = int(IS_WIDE_FRACTION * IS_PROPOSAL_DRAWS)
    yq = torch.cat(
        [fitted.sample((IS_PROPOSAL_DRAWS - n_wide,)), wide.sample((n_wide,))]
    )  # (M, B, d)
    log_q = torch.logaddexp(
        math.log1p(-IS_WIDE_FRACTION) + fitted.log_prob(yq),
        math.log(IS_WIDE_FRACTION) + wide.log_prob(yq),
    )
    log_p = _unconstrained_log_density(
        dist, transform, yq.reshape(IS_PROPOSAL_DRAWS, *batch, *free_shape)
    ).reshape(IS_PROPOSAL_DRAWS, -1)
    w = torch.nan_to_num((log_p - log_q).exp(), nan=0.0)  # (M, B)
    z_hat = w.mean(0)
    z_se = w.std(0) / math.sqrt(IS_PROPOSAL_DRAWS)
    for b in range(w.shape[1]):
        pval = z_pvalue(float(z_hat[b]) - 1.0, float(z_se[b]))
        check_pvalue(
            pval,
            ALPHA,
            f"{name}: exp(log_prob) integrates to {float(z_hat[b]):.4f} +- {float(z_se[b]):.4f} "
            f"(importance sampling, batch element {b}) (normalization)",
            "IS normalization",
        )
    if not test_samples:
        return z_hat.tolist()
    y_test = to_flat(samples)
    median = y_fit.median(0).values  # (B, d)
    below_test = (y_test <= median).double()  # (n, B, d)
    below_q = (yq <= median).double()
    pairs = [(j, k) for j in range(n_free) for k in range(j + 1, n_free)]
    names = [f"P(y_{j} <= median)" for j in range(n_free)]
    names += [f"P(y_{j}, y_{k} <= median)" for j, k in pairs]
    names += [f"random Fourier feature {j} (MMD)" for j in range(MMD_FEATURES)]
    stats_test = [below_test[..., j] for j in range(n_free)]
    stats_q = [below_q[..., j] for j in range(n_free)]
    stats_test += [below_test[..., j] * below_test[..., k] for j, k in pairs]
    stats_q += [below_q[..., j] * below_q[..., k] for j, k in pairs]
    # A random-feature MMD (Rahimi & Recht 2007 features of a Gaussian kernel in whitened
    # coordinates): the mean embedding of the samples against the importance-weighted one of
    # exp(log_prob). It sees what the frequencies above do not (a wrong scale, say).
    omega = torch.randn(MMD_FEATURES, n_free, dtype=loc.dtype)
    phase = 2 * math.pi * torch.rand(MMD_FEATURES, dtype=loc.dtype)

    def features(y: torch.Tensor) -> torch.Tensor:  # (n, B, d) -> (n, B, J)
        white = torch.linalg.solve_triangular(tril, (y - loc).unsqueeze(-1), upper=False)
        return torch.cos(white.squeeze(-1) @ omega.T + phase)

    f_test, f_q = features(y_test), features(yq)
    stats_test += [f_test[..., j] for j in range(MMD_FEATURES)]
    stats_q += [f_q[..., j] for j in range(MMD_FEATURES)]
    w_sum = w.sum(0)
    for k, (g_s, g_q) in enumerate(zip(stats_test, stats_q, strict=True)):
        mean_s = g_s.mean(0)
        se_s = g_s.std(0) / math.sqrt(g_s.shape[0])
        mean_q = (w * g_q).sum(0) / w_sum
        se_q = ((w**2 * (g_q - mean_q) ** 2).sum(0)).sqrt() / w_sum
        for b in range(w.shape[1]):
            se = math.hypot(float(se_s[b]), float(se_q[b]))
            pval = z_pvalue(float(mean_s[b] - mean_q[b]), se)
            # Bonferroni over the statistics of this batch element.
            check_pvalue(
                pval,
                ALPHA / len(stats_test),
                f"{name}: samples do not follow log_prob ({names[k]}: "
                f"{float(mean_s[b]):.4f} in samples vs {float(mean_q[b]):.4f} under log_prob, "
                f"p={pval:.2e}, batch element {b})",
                "IS joint law",
            )
    return z_hat.tolist()


def _run_law(example: Example, test_samples: bool) -> list[float]:
    """Run the law checks; return the total mass found per batch element."""
    if example.law == "none" or not example.statistical:
        return []
    _seed(example, "law")
    dist = example.make(dtype=torch.float64)
    batch = dist.batch_shape
    x = _draw(example, dist, N_SAMPLES)
    x_fit = _draw(example, dist, N_SAMPLES)
    if example.law == "discrete":
        support = (
            example.support_values(dist)
            if example.support_values is not None
            else dist.enumerate_support(expand=True)
        )
        return _discrete_law(
            example.name,
            dist.log_prob,
            support,
            x if test_samples else None,
            batch,
            len(dist.event_shape),
        )
    elif example.law == "continuous":
        return _continuous_law(example, dist, x, x_fit, test_samples)
    elif example.law == "straight_through":
        hard = example.hard_view(dist)
        _discrete_law(
            f"{example.name} (hard values)",
            hard.log_prob,
            hard.enumerate_support(expand=True),
            x.detach().clone() if test_samples else None,
            batch,
            len(dist.event_shape),
        )
        soft = example.soft_sample(x)
        masses = _continuous_law(example, dist, soft, example.soft_sample(x_fit), test_samples)
        torch.testing.assert_close(
            dist.log_prob(x),
            dist.log_prob(soft.detach().clone()),
            msg=f"{example.name}: log_prob of a straight-through sample != density of its "
            "relaxed value",
        )
        return masses
    else:  # pragma: no cover - Example validates law
        raise AssertionError(f"unknown law {example.law}")


def elementary_test_count(example: Example) -> int:
    """An upper bound on the statistical tests (each at level ``ALPHA``) that the checks of
    `relaxit.testing.ALL_CHECKS` run on ``example``: per batch element, the law tests of
    `check_normalization` and `check_sample_law`; per example, one Bonferroni-corrected family
    for `check_independence` and one for `check_pathwise_gradient`."""
    if not example.statistical:
        return 0
    count = 1  # check_independence (every law)
    if example.law == "none":
        return count
    per_element = {"discrete": 1, "continuous": 2 + len(example.atoms), "straight_through": 3}
    count += math.prod(example.make().batch_shape) * per_element[example.law]
    if example.law in ("continuous", "straight_through") and example.pathwise_params:
        count += 1  # check_pathwise_gradient
    return count


@named_check
def check_normalization(example: Example) -> list[float]:
    """``exp(log_prob)`` is normalized w.r.t. the documented base measure, atoms included.

    Returns the total mass found per batch element (summed over the support, integrated on a
    grid that also spans the whole unconstrained line, or estimated by importance sampling).
    """
    return _run_law(example, test_samples=False)


@named_check
def check_sample_law(example: Example) -> None:
    """Samples follow ``exp(log_prob)`` (implies the normalization check)."""
    _run_law(example, test_samples=True)


# --------------------------------------------------------------------------------- gradients


def _value_for_log_prob(example: Example, dist: Distribution) -> torch.Tensor:
    """A sample to evaluate log_prob at; straight-through samples keep their relaxed value."""
    with torch.no_grad():
        if example.law == "straight_through":
            return dist.rsample()
        return dist.sample()


@named_check
def check_gradients(example: Example) -> None:
    """``gradcheck`` of log_prob (float64); rsample back-propagates to every used parameter."""
    _seed(example, "grad")
    names = example.float_param_names
    dist = example.make(dtype=torch.float64)
    value = _value_for_log_prob(example, dist)
    if names and example.law != "none":
        base = example.build_params(dtype=torch.float64)
        inputs = tuple(base[k].clone().requires_grad_(True) for k in names)

        def log_prob(*args: torch.Tensor) -> torch.Tensor:
            # gradcheck's finite differences perturb every entry, which can step off a
            # parameter's support (an upper entry of a Cholesky factor, a probability vector's
            # sum): skip argument validation here, check_validation tests it.
            kwargs = {**base, **dict(zip(names, args, strict=True)), "validate_args": False}
            return example.dist_class(**kwargs).log_prob(value)

        ok = torch.autograd.gradcheck(
            log_prob, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=False
        )
        assert ok, f"{example.name}: gradcheck of log_prob w.r.t. {names} failed"

    if not example.rsample_grad_params:
        return
    dist, leaves = example.make_with_leaves(dtype=torch.float64)
    assert dist.has_rsample, f"{example.name}: has_rsample is False"
    x = dist.rsample((256,))
    assert x.requires_grad, f"{example.name}: rsample does not back-propagate (no graph)"
    weights = torch.randn(x.shape, dtype=x.dtype)
    (x * weights).sum().backward()
    for name in example.rsample_grad_params:
        grad = leaves[name].grad
        assert grad is not None, f"{example.name}: rsample does not back-propagate to {name}"
        assert bool(torch.isfinite(grad).all()), f"{example.name}: non-finite gradient of {name}"
        assert bool((grad != 0).any()), f"{example.name}: zero gradient of {name} from rsample"


# ----------------------------------------------------------------------------- dtype, device


def _index_dtype(dist: Distribution) -> torch.dtype | None:
    """``torch.long`` where the values are item indices (a ranking), else None."""
    return torch.long if isinstance(dist.support, _Permutation) else None


@named_check
def check_dtype_device(example: Example) -> None:
    """Outputs follow the parameters' dtype and device."""
    _seed(example, "dtype")
    for dtype in (torch.float32, torch.float64):
        dist = example.make(dtype=dtype)
        x = dist.rsample((4,)) if dist.has_rsample else dist.sample((4,))
        assert x.dtype in (dtype, _index_dtype(dist)), (
            f"{example.name}: {dtype} parameters gave {x.dtype} samples"
        )
        lp = dist.log_prob(x)
        assert lp.dtype == dtype, f"{example.name}: {dtype} parameters gave {lp.dtype} log_prob"
        for stat in ("mean", "variance"):
            try:
                v = getattr(dist, stat)
            except NotImplementedError:
                continue
            assert v.dtype == dtype, f"{example.name}: {stat} has dtype {v.dtype}"
    half_params = example.build_params(dtype=torch.float16)
    # A parameter beyond float16's range (alpha = e^50) becomes inf: an invalid parameter.
    if all(bool(torch.isfinite(half_params[k]).all()) for k in example.float_param_names):
        half = example.make(dtype=torch.float16)
        xh = half.sample((64,))
        assert xh.dtype in (torch.float16, _index_dtype(half)), (
            f"{example.name}: float16 parameters gave {xh.dtype}"
        )
        assert bool(torch.isfinite(xh).all()), f"{example.name}: non-finite float16 samples"

    # Tensors created without an explicit device land on the default device. Making that
    # "meta" while the parameters live on the CPU turns any such tensor into a device mismatch.
    dist = example.make(dtype=torch.float64)
    try:
        with torch.device("meta"):
            x = dist.rsample((2,)) if dist.has_rsample else dist.sample((2,))
            value = x if example.law == "straight_through" else x.detach()
            lp = dist.log_prob(value) if example.law != "none" else x
    except (RuntimeError, NotImplementedError) as e:
        raise AssertionError(
            f"{example.name}: a tensor was created on the default device instead of the "
            f"parameters' ({type(e).__name__}: {e})"
        ) from None
    assert x.device.type == "cpu" and lp.device.type == "cpu", (
        f"{example.name}: CPU parameters gave samples on {x.device}, log_prob on {lp.device}"
    )
    if torch.cuda.is_available():
        dist = example.make(device="cuda")
        x = dist.rsample((2,)) if dist.has_rsample else dist.sample((2,))
        value = x if example.law == "straight_through" else x.detach()
        lp = dist.log_prob(value) if example.law != "none" else x
        assert x.device.type == "cuda" and lp.device.type == "cuda", (
            f"{example.name}: CUDA parameters gave samples on {x.device}, log_prob on {lp.device}"
        )


# -------------------------------------------------------------------------------- validation


@named_check
def check_validation(example: Example) -> None:
    """Bad parameters and out-of-support values raise ``ValueError`` when validating."""
    _seed(example, "validation")
    good = example.make(validate_args=True)  # valid parameters must pass validation
    good.log_prob(_value_for_log_prob(example, good))
    counterpart = {"probs": "logits", "logits": "probs"}
    for name, bad in example.invalid_params:
        overrides = {name: bad}
        if counterpart.get(name) in example.params:  # replace, don't add, a probs/logits pair
            overrides[counterpart[name]] = None
        try:
            example.make(validate_args=True, **overrides)
        except ValueError as e:
            assert name in str(e), f"{example.name}: ValueError for bad {name} omits it: {e}"
        else:
            raise AssertionError(f"{example.name}: {name}={bad!r} was accepted")
    sig = inspect.signature(example.dist_class)
    given_pl = [k for k in ("probs", "logits") if k in example.params]
    if "probs" in sig.parameters and "logits" in sig.parameters and given_pl:
        # (an example may use a paper's alias instead, e.g. RebarRelaxation's theta)
        given = given_pl[0]
        v = example.params[given]
        other = torch.sigmoid(v) if given == "logits" else v.clamp(1e-3, 1 - 1e-3).logit()
        both = {"probs": other, "logits": v} if given == "logits" else {"probs": v, "logits": other}
        for overrides, what in ((both, "both"), ({given: None}, "neither")):
            try:
                example.make(validate_args=True, **overrides)
            except ValueError:
                continue
            raise AssertionError(f"{example.name}: {what} of probs/logits was accepted")
    for value in example.invalid_values:
        try:
            good.log_prob(torch.as_tensor(value, dtype=torch.get_default_dtype()))
        except ValueError:
            continue
        raise AssertionError(f"{example.name}: log_prob accepted the out-of-support {value!r}")


# ---------------------------------------------------------------------------------- extremes


@named_check
def check_extremes(example: Example) -> None:
    """Extreme-but-valid parameters keep samples, log-probs and gradients finite."""
    if not example.extreme:
        return
    _seed(example, "extremes")
    for dtype in (torch.float32, torch.float64):
        dist, leaves = example.make_with_leaves(dtype=dtype)
        x = dist.rsample((256,)) if dist.has_rsample else dist.sample((256,))
        assert bool(torch.isfinite(x).all()), f"{example.name}: non-finite samples ({dtype})"
        value = x if example.law == "straight_through" else x.detach()
        lp = dist.log_prob(value) if example.law != "none" else torch.zeros(())
        assert bool(torch.isfinite(lp).all()), f"{example.name}: non-finite log_prob ({dtype})"
        loss = lp.sum() + (x * torch.randn(x.shape, dtype=dtype)).sum()
        if loss.requires_grad:
            loss.backward()
        for name, leaf in leaves.items():
            if leaf.grad is not None:
                assert bool(torch.isfinite(leaf.grad).all()), (
                    f"{example.name}: non-finite gradient of {name} ({dtype})"
                )


# ---------------------------------------------------------------------------------------- pyro


@named_check
def check_pyro(example: Example) -> None:
    """One SVI step of a model/guide pair that samples the class with ``pyro.sample``."""
    if not example.pyro:
        return
    import pyro
    from pyro.distributions.torch_distribution import TorchDistributionMixin
    from pyro.infer import SVI, Trace_ELBO
    from pyro.optim import Adam

    assert issubclass(example.dist_class, TorchDistributionMixin), (
        f"{example.name}: {example.dist_class.__name__} is not a Pyro distribution "
        "(TorchDistributionMixin): no .to_event, .mask, poutine shape handling"
    )

    _seed(example, "pyro")
    pyro.clear_param_store()
    declared = example.dist_class.arg_constraints
    fixed = example.build_params(dtype=torch.float64)
    n_batch = len(example.make().batch_shape)

    def learnable(name: str) -> bool:
        try:
            transform_to(declared[name])
        except NotImplementedError:
            return False
        return True

    def model() -> None:
        pyro.sample("z", example.dist_class(**fixed).to_event(n_batch))

    def guide() -> None:
        params = dict(fixed)
        for name in example.float_param_names:
            if learnable(name):
                params[name] = pyro.param(f"q_{name}", fixed[name], constraint=declared[name])
        pyro.sample("z", example.dist_class(**params).to_event(n_batch))

    svi = SVI(model, guide, Adam({"lr": 1e-3}), Trace_ELBO())
    loss = svi.step()
    assert math.isfinite(loss), f"{example.name}: SVI loss {loss}"
    for name, value in pyro.get_param_store().items():
        assert bool(torch.isfinite(value).all()), f"{example.name}: non-finite param {name}"
