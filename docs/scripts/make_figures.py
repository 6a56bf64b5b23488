"""Draw the gallery's pictures into docs/figures/ (matplotlib, Agg backend, no network).

Run from the repository root: ``python docs/scripts/make_figures.py`` (about a minute on 2 cores;
``--only estimators`` or ``--only distributions`` for one half). Each figure is drawn only if its
class exists in the installed ``relaxit``; missing ones are listed and skipped. Densities come
from each class's own ``log_prob``; atoms (point masses) are drawn as stems at their positions with
height equal to their mass (right axis). Every estimator of ``relaxit.estimators.registry`` gets
a histogram of its gradient estimates against the exact gradient, drawn on the picture of its
gallery page (``ESTIMATOR_PAGES``).
"""

import argparse
import importlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

OUT = Path(__file__).resolve().parents[1] / "figures"
TEMPERATURES = (0.1, 0.5, 1.0, 2.0)
GRID = torch.linspace(1e-3, 1 - 1e-3, 999, dtype=torch.float64)


def get(name: str):
    module = importlib.import_module("relaxit.distributions")
    return getattr(module, name, None)


def one_d_figure(filename: str, title: str, make, label: str, atoms: tuple) -> None:
    """``make(t)`` builds the distribution for setting t (labelled ``label.format(t)``); ``atoms``
    are the points where the class's ``log_prob`` returns a point mass rather than a density."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    twin = None
    for i, t in enumerate(TEMPERATURES):
        d = make(t)
        (line,) = ax.plot(GRID, d.log_prob(GRID).exp(), label=label.format(t))
        for a in atoms:
            mass = d.log_prob(torch.tensor(a, dtype=torch.float64)).exp().item()
            if mass > 1e-4:
                twin = twin or ax.twinx()
                x = a + (i - 1.5) * 0.008
                twin.vlines(x, 0, mass, color=line.get_color(), lw=2)
                twin.plot(x, mass, "o", color=line.get_color())
    if twin is not None:
        twin.set_ylim(0, 1)
        twin.set_ylabel("atom mass (stems)")
    ax.set_ylim(0, 4)
    ax.set_xlabel("z")
    ax.set_ylabel("density on (0, 1)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / filename, dpi=100)
    plt.close(fig)


def simplex_figure(filename: str, title: str, make, label: str, n: int = 1500) -> None:
    """Samples of a 3-category distribution in barycentric coordinates, one panel per setting."""
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, 3**0.5 / 2]], dtype=torch.float64)
    fig, axes = plt.subplots(1, len(TEMPERATURES), figsize=(3 * len(TEMPERATURES), 3))
    for ax, t in zip(axes, TEMPERATURES, strict=True):
        y = make(t).sample((n,)).to(torch.float64)
        xy = y @ corners
        ax.fill(*corners.T, facecolor="none", edgecolor="k", lw=0.8)
        ax.scatter(xy[:, 0], xy[:, 1], s=2, alpha=0.3)
        ax.set_title(label.format(t), fontsize=9)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(OUT / filename, dpi=100)
    plt.close(fig)


def _save(fig, filename: str) -> None:
    fig.tight_layout()
    fig.savefig(OUT / filename, dpi=100)
    plt.close(fig)


def straight_through_figure(filename: str, title: str, make, exact_mean) -> None:
    """Mean pathwise gradient d/dp E[f(sample)] of a straight-through class (4000 samples per p)
    against the exact d/dp E[f] of the law it samples, f(z) = (z - 0.45)^2, for p in (0, 1)."""
    ps = torch.linspace(0.02, 0.98, 49, dtype=torch.float64)
    estimated, exact = [], []
    for p in ps:
        p = p.clone().requires_grad_(True)
        z = make(p).rsample((4000,))
        (g,) = torch.autograd.grad(((z - 0.45) ** 2).mean(), p)
        estimated.append(g.item())
        (g,) = torch.autograd.grad(exact_mean(p), p)
        exact.append(g.item())
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(ps, estimated, label="class's rsample: mean gradient (4000 samples)")
    ax.plot(ps, exact, "k--", label="exact d E[f] / dp")
    ax.set_xlabel("p")
    ax.set_ylabel("d/dp of E[(z - 0.45)^2]")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, filename)


def decoupled_figure(cls) -> None:
    """Decoupled ST Gumbel-Softmax on 3 classes: mean gradient of E[f] w.r.t. logit_0 against
    the exact one, for several backward temperatures (forward temperature 1)."""
    c = torch.tensor([1.0, 0.2, 0.6], dtype=torch.float64)
    grid = torch.linspace(-3, 3, 41, dtype=torch.float64)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for tb in (0.3, 1.0, 3.0):
        means = []
        for l0 in grid:
            logits = torch.stack(
                [l0, torch.zeros((), dtype=l0.dtype), torch.zeros((), dtype=l0.dtype)]
            )
            logits.requires_grad_(True)
            b = cls(1.0, tb, logits=logits).rsample((4000,))
            (g,) = torch.autograd.grad((((b * c).sum(-1) - 0.45) ** 2).mean(), logits)
            means.append(g[0].item())
        ax.plot(grid, means, label=f"temperature_backward {tb}")
    exact = []
    for l0 in grid:
        logits = torch.stack([l0, torch.zeros((), dtype=l0.dtype), torch.zeros((), dtype=l0.dtype)])
        logits.requires_grad_(True)
        (g,) = torch.autograd.grad((logits.softmax(-1) * (c - 0.45) ** 2).sum(), logits)
        exact.append(g[0].item())
    ax.plot(grid, exact, "k--", label="exact")
    ax.set_xlabel("logit of class 0 (others 0)")
    ax.set_ylabel("d E[f] / d logit_0")
    ax.set_title("Decoupled ST Gumbel-Softmax, 3 classes, f(b) = (b.c - 0.45)^2", fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, "decoupled_st_gumbel_softmax.png")


def correlated_figure(cls) -> None:
    """Samples of two correlated gates (pi = 0.5, tau = 0.5) for three copula correlations."""
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    for ax, rho in zip(axes, (-0.8, 0.0, 0.8), strict=True):
        R = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
        z = cls(torch.tensor([0.5, 0.5], dtype=torch.float64), R, 0.5).sample((1500,))
        ax.scatter(z[:, 0], z[:, 1], s=2, alpha=0.4)
        ax.set_title(f"rho = {rho}", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlabel("z_1")
    axes[0].set_ylabel("z_2")
    fig.suptitle("CorrelatedRelaxedBernoulli: pi = (0.5, 0.5), tau = 0.5")
    _save(fig, "correlated_relaxed_bernoulli.png")


def generalized_gumbel_figure(cls) -> None:
    """Relaxed values sum(w * values) of a Poisson(3) truncated to 0..9, at three temperatures,
    with the Poisson masses as stems."""
    values = torch.arange(10, dtype=torch.float64)
    pois = torch.distributions.Poisson(torch.tensor(3.0, dtype=torch.float64))
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for tau in (0.1, 0.5, 1.0):
        x = cls(pois, values, tau=tau).rsample_value((20000,))
        ax.hist(x.numpy(), bins=90, range=(0, 9), density=True, histtype="step", label=f"tau {tau}")
    twin = ax.twinx()
    twin.vlines(values, 0, pois.log_prob(values).exp(), color="k", lw=2)
    twin.set_ylim(0, None)
    twin.set_ylabel("Poisson(3) mass (stems)")
    ax.set_xlabel("relaxed value")
    ax.set_title("GeneralizedGumbelSoftmaxNP of a Poisson(3) on 0..9", fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, "generalized_gumbel_softmax.png")


def subset_figure(filename: str, title: str, exact, samples, n: int) -> None:
    """Inclusion probability of each item: exact (bars) and the frequency in samples (dots)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    items = torch.arange(n)
    ax.bar(items, exact, color="lightgray", label="exact")
    ax.plot(items, samples.mean(0), "o", label=f"frequency in {len(samples)} samples")
    ax.set_xlabel("item")
    ax.set_ylabel("P(item in the subset)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, filename)


def topk_figure(cls) -> None:
    import itertools

    logits = torch.tensor([1.0, 0.5, 0.0, -0.5, -1.0, 0.2], dtype=torch.float64)
    d = cls(logits=logits, K=2, hard=True)
    exact = torch.zeros(6, dtype=torch.float64)
    for i, j in itertools.combinations(range(6), 2):
        v = torch.zeros(6, dtype=torch.float64)
        v[[i, j]] = 1.0
        exact += d.log_prob(v).exp() * v
    subset_figure(
        "gumbel_softmax_topk.png",
        "GumbelSoftmaxTopK, K = 2 of 6 (exact from log_prob)",
        exact,
        d.sample((20000,)),
        6,
    )


def ksubset_figure(cls) -> None:
    logits = torch.tensor([1.5, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, 0.3], dtype=torch.float64)
    d = cls(logits, 3)
    subset_figure(
        "ksubset.png", "KSubset, k = 3 of 8 (exact marginals)", d.marginals, d.sample((20000,)), 8
    )


def plackett_luce_figure(cls) -> None:
    """P(item i at rank r) estimated from samples, for 5 items with decreasing logits."""
    logits = torch.tensor([2.0, 1.0, 0.5, 0.0, -1.0], dtype=torch.float64)
    perms = cls(logits).sample((20000,))  # (N, 5): item indices, best first
    counts = torch.zeros(5, 5, dtype=torch.float64)
    for rank in range(5):
        counts[:, rank] = torch.bincount(perms[:, rank], minlength=5).to(counts.dtype)
    fig, ax = plt.subplots(figsize=(4.5, 3.8))
    im = ax.imshow(counts / len(perms), cmap="viridis", vmin=0, vmax=1)
    ax.set_xlabel("rank (0 = best)")
    ax.set_ylabel("item (logits 2, 1, 0.5, 0, -1)")
    ax.set_title("PlackettLuce: P(item at rank), 20000 samples", fontsize=10)
    fig.colorbar(im, ax=ax)
    _save(fig, "plackett_luce.png")


def omt_avf_figure(omt, avf) -> None:
    """Gradient of E[sum z^2 + z_0 z_1] w.r.t. an off-diagonal entry of the Cholesky factor:
    the reparameterization, OMT and AVF (control 0.1) estimates, one sample each."""
    loc = torch.zeros(2, dtype=torch.float64)
    L = torch.tensor([[1.0, 0.0], [0.5, 0.8]], dtype=torch.float64)
    builds = {
        "MultivariateNormal (reparameterization)": lambda s: torch.distributions.MultivariateNormal(
            loc, scale_tril=s
        ),
        "OMTMultivariateNormal": lambda s: omt(loc, s),
        "AVFMultivariateNormal (control 0.1)": lambda s: avf(
            loc, s, torch.full((2, 1, 2), 0.1, dtype=torch.float64)
        ),
    }
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, build in builds.items():
        grads = []
        for _ in range(2000):
            s = L.clone().requires_grad_(True)
            z = build(s).rsample()
            (g,) = torch.autograd.grad((z**2).sum() + z[0] * z[1], s)
            grads.append(g[1, 0].item())
        g = torch.tensor(grads)
        ax.hist(
            g.numpy(),
            bins=80,
            density=True,
            histtype="step",
            label=f"{label}: mean {g.mean():.2f}, sd {g.std():.2f}",
        )
    ax.set_xlabel("one-sample gradient w.r.t. L[1, 0]")
    ax.set_yticks([])
    ax.set_title("2-D normal, f(z) = |z|^2 + z_0 z_1", fontsize=10)
    ax.legend(fontsize=7)
    _save(fig, "omt_avf_mvn.png")


def distribution_figures(missing: list[str]) -> None:
    """The pictures of the pages that have no density to draw: straight-through gradients,
    correlated samples, subsets, rankings, Gaussian gradient variance."""
    st = get("StraightThroughBernoulli")
    if st:
        straight_through_figure(
            "straight_through_bernoulli.png",
            "StraightThroughBernoulli: d b / d p = 1, biased for a nonlinear f",
            lambda p: st(probs=p),
            lambda p: p * 0.55**2 + (1 - p) * 0.45**2,
        )
    sts = get("StochasticTimesSmooth")
    if sts:
        straight_through_figure(
            "stochastic_times_smooth.png",
            "StochasticTimesSmooth: output b sqrt(p), b ~ Bernoulli(sqrt p)",
            lambda p: sts(probs=p),
            lambda p: p.sqrt() * (p.sqrt() - 0.45) ** 2 + (1 - p.sqrt()) * 0.45**2,
        )
    builders = {
        "DecoupledStraightThroughGumbelSoftmax": decoupled_figure,
        "CorrelatedRelaxedBernoulli": correlated_figure,
        "GeneralizedGumbelSoftmaxNP": generalized_gumbel_figure,
        "GumbelSoftmaxTopK": topk_figure,
        "KSubset": ksubset_figure,
        "PlackettLuce": plackett_luce_figure,
    }
    for name, build in builders.items():
        cls = get(name)
        if cls is None:
            missing.append(name)
            continue
        torch.manual_seed(0)
        build(cls)
    omt, avf = get("OMTMultivariateNormal"), get("AVFMultivariateNormal")
    if omt and avf:
        torch.manual_seed(0)
        omt_avf_figure(omt, avf)


def matrix_panels(filename: str, title: str, matrices: dict, xlabel: str, ylabel: str) -> None:
    fig, axes = plt.subplots(1, len(matrices), figsize=(3.2 * len(matrices), 3.3))
    for ax, (label, m) in zip(axes, matrices.items(), strict=True):
        ax.imshow(m.detach().numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    _save(fig, filename)


def structured_figures(missing: list[str]) -> None:
    """Relaxed permutation matrices (NeuralSort, Gumbel-Sinkhorn) across temperatures, and the
    smoothing of an argmax solver by perturbation (Berthet et al.) and I-MLE's gradient."""
    try:
        from relaxit import structured
    except ImportError:
        missing.append("relaxit.structured")
        return
    f64 = torch.float64
    scores = torch.tensor([0.3, 2.0, -1.0, 1.2, 0.0], dtype=f64)
    matrix_panels(
        "neural_sort.png",
        "neural_sort: relaxed sorting matrix of scores (0.3, 2, -1, 1.2, 0)",
        {f"tau {t}": structured.neural_sort(scores, tau=t) for t in (5.0, 1.0, 0.1)},
        "item",
        "rank (0 = largest)",
    )
    torch.manual_seed(0)
    log_alpha = torch.randn(5, 5, dtype=f64)
    panels = {
        f"tau {t}, no noise": structured.gumbel_sinkhorn(log_alpha, tau=t, noise=False)
        for t in (1.0, 0.3, 0.05)
    }
    panels["tau 0.3, one noisy sample"] = structured.gumbel_sinkhorn(log_alpha, tau=0.3)
    matrix_panels(
        "gumbel_sinkhorn.png",
        "gumbel_sinkhorn of a random 5 x 5 log_alpha: doubly stochastic, a permutation as tau -> 0",
        panels,
        "column",
        "row",
    )
    torch.manual_seed(0)
    weights = torch.randn(6, 6, dtype=f64)
    panels = {f"tau {t}": structured.spanning_tree_marginals(weights, t) for t in (2.0, 0.5, 0.1)}
    panels["max_spanning_tree"] = structured.max_spanning_tree(weights)
    matrix_panels(
        "spanning_tree.png",
        "spanning_tree_marginals of a random 6-vertex graph: edge marginals summing to 5, "
        "the max spanning tree as tau -> 0",
        panels,
        "vertex j",
        "vertex i",
    )
    panels = {f"tau {t}": structured.arborescence_marginals(weights, t) for t in (2.0, 0.5, 0.1)}
    panels["max_arborescence"] = structured.max_arborescence(weights)
    matrix_panels(
        "arborescence.png",
        "arborescence_marginals rooted at vertex 0 (row = parent, column = child):\n"
        "one parent per column, the max arborescence as tau -> 0",
        panels,
        "child",
        "parent",
    )
    from relaxit.distributions import Arborescence, SpanningTree

    law = Arborescence(weights)
    torch.manual_seed(0)
    matrix_panels(
        "arborescence_law.png",
        "Arborescence rooted at vertex 0 of the same digraph:\n"
        "exact edge marginals and sample frequencies",
        {"mean (matrix-tree theorem)": law.mean, "20 000 samples": law.sample((20_000,)).mean(0)},
        "child",
        "parent",
    )

    law = SpanningTree(weights)
    torch.manual_seed(0)
    matrix_panels(
        "spanning_tree_law.png",
        "SpanningTree of the same graph:\nexact edge marginals and sample frequencies",
        {"mean (matrix-tree theorem)": law.mean, "20 000 samples": law.sample((20_000,)).mean(0)},
        "vertex j",
        "vertex i",
    )

    grid = torch.linspace(-3, 3, 61, dtype=f64)
    theta = torch.zeros(len(grid), 3, dtype=f64)
    theta[:, 0] = grid
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(grid, (grid > 0).to(f64), "k", lw=1, label="argmax (hard solver)")
    for sigma in (0.2, 0.5, 1.0):
        torch.manual_seed(0)
        y = structured.perturbed(structured.argmax_one_hot, sigma=sigma, n_samples=4000)(theta)
        ax.plot(grid, y[:, 0], label=f"perturbed, sigma {sigma}")
    ax.set_xlabel("theta_0 (theta_1 = theta_2 = 0)")
    ax.set_ylabel("output y_0")
    ax.set_title("perturbed(argmax_one_hot): the expected argmax under Gumbel noise", fontsize=10)
    ax.legend(fontsize=8)
    _save(fig, "perturbed.png")

    c = torch.tensor([1.0, 0.0, 0.5], dtype=f64)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    exact = []
    for t0 in grid:
        th = torch.stack([t0, torch.zeros((), dtype=f64), torch.zeros((), dtype=f64)])
        th.requires_grad_(True)
        (g,) = torch.autograd.grad((th.softmax(-1) * c).sum(), th)
        exact.append(g[0].item())
    for lam in (0.5, 2.0, 10.0):
        torch.manual_seed(0)
        runs = theta.unsqueeze(0).repeat(2000, 1, 1).requires_grad_(True)
        z = structured.imle(structured.argmax_one_hot, noise="gumbel", lambda_=lam)(runs)
        (z * c).sum().backward()
        ax.plot(grid, runs.grad[..., 0].mean(0) / lam, label=f"I-MLE / lambda, lambda {lam}")
    ax.plot(grid, exact, "k--", label="d E[<c, z>] / d theta_0 (Gumbel perturb-and-MAP)")
    ax.set_xlabel("theta_0 (theta_1 = theta_2 = 0)")
    ax.set_ylabel("gradient w.r.t. theta_0")
    ax.set_title(
        "imle(argmax_one_hot), loss <c, z> with c = (1, 0, 0.5), mean of 2000", fontsize=10
    )
    ax.legend(fontsize=7)
    _save(fig, "imle.png")


# Gallery page (docs/gallery/estimators/<stem>.md) -> the registry names drawn on its picture,
# estimator-<stem>.png. A registered name not listed here goes on the page named like it
# (dashes as underscores); tests/test_docs_figures.py checks that every name has a page.
ESTIMATOR_PAGES = {
    "gumbel_softmax": ("gumbel-softmax", "st-gumbel-softmax"),
    "reinforce": ("reinforce", "reinforce-loo", "reinforce-ema"),
    "vimco": ("vimco", "reinforce-bound"),
    "disarm_iw": ("disarm-iw", "vimco"),
}


def estimator_pages(names: list[str]) -> dict[str, tuple[str, ...]]:
    """Every registry name assigned to one page stem."""
    listed = {n for group in ESTIMATOR_PAGES.values() for n in group}
    pages = dict(ESTIMATOR_PAGES)
    for name in names:
        if name not in listed:
            pages[name.replace("-", "_")] = (name,)
    return pages


def toy_problem(family: str):
    """The problem every estimator picture uses: 3 Bernoulli bits with logits (0, 1, -1) and
    Tucker et al.'s f(b) = sum (b - 0.45)^2, or one 4-class categorical with f(b) = (b.c - 0.45)^2
    for c = (0, 0.3, 0.6, 1) (nonlinear in the relaxed sample, so relaxations are biased)."""
    from torch.distributions import Bernoulli, OneHotCategorical

    if family == "bernoulli":
        logits = torch.tensor([0.0, 1.0, -1.0], dtype=torch.float64)
        return logits, (lambda x: Bernoulli(logits=x)), (lambda b: ((b - 0.45) ** 2).sum(-1))
    c = torch.tensor([0.0, 0.3, 0.6, 1.0], dtype=torch.float64)
    logits = torch.tensor([0.5, 0.0, -0.5, 0.2], dtype=torch.float64)
    return (
        logits,
        (lambda x: OneHotCategorical(logits=x)),
        (lambda b: ((b * c).sum(-1) - 0.45) ** 2),
    )


def estimator_figure(stem: str, names: tuple[str, ...], n_runs: int = 4000) -> None:
    """Histograms of the estimates of d E[f] / d logit_0, one per registry name, with the exact
    gradient (Exact()) as a dashed line; the legend gives each one's mean and standard deviation
    at its n_samples (the smallest it allows, at least 2)."""
    from relaxit.estimators import Exact, gradient_samples, registry

    entries = [registry.get(n) for n in names]
    family = "bernoulli" if all(e.supports("bernoulli") for e in entries) else "categorical"
    logits, make, f = toy_problem(family)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    samples = {}
    for entry in entries:
        torch.manual_seed(0)
        n = max(2, entry.min_samples)
        est = entry.build().double()
        # A running baseline (EMA) needs the runs one after another to have a history.
        sequential = "ema" in entry.config
        g = gradient_samples(est, f, make, logits, n, n_runs, vectorize=not sequential)
        samples[entry.name, n] = g[:, 0]
    values = torch.cat(list(samples.values()))
    lo, hi = torch.quantile(values, torch.tensor([0.005, 0.995], dtype=values.dtype)).tolist()
    exact = None
    if entries[0].objective == "mean":
        exact = gradient_samples(Exact(), f, make, logits, n_samples=1, n_runs=1)[0, 0].item()
        lo, hi = min(lo, exact), max(hi, exact)
    lo, hi = (lo - 0.05, hi + 0.05) if hi - lo < 1e-6 else (lo, hi)
    bins = torch.linspace(lo, hi, 81).numpy()
    for (name, n), g in samples.items():
        if g.std() < 1e-9:  # deterministic (Exact)
            ax.axvline(g[0].item(), lw=2, label=f"{name}: {g[0]:.3f} (deterministic)")
        else:
            label = f"{name} (n={n}): mean {g.mean():.3f}, sd {g.std():.3f}"
            ax.hist(g.numpy(), bins=bins, density=True, histtype="step", lw=1.5, label=label)
    if exact is not None:
        ax.axvline(exact, color="k", ls="--", lw=1, label=f"exact {exact:.3f}")
        what = "d E[f(b)] / d logit_0"
    else:
        what = "d E[log mean exp f(b)] / d logit_0 (multi-sample bound)"
    ax.set_xlim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    problem = (
        "3 Bernoulli bits, f = sum (b - 0.45)^2"
        if family == "bernoulli"
        else ("4-class categorical, f = (b.c - 0.45)^2")
    )
    ax.set_title(f"{problem}\n{n_runs} estimates of {what}", fontsize=9)
    ax.set_yticks([])
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / f"estimator-{stem}.png", dpi=100)
    plt.close(fig)


def estimator_figures() -> list[str]:
    from relaxit.estimators import registry

    drawn = []
    for stem, names in estimator_pages(registry.names()).items():
        if (Path(__file__).resolve().parents[1] / "gallery" / "estimators" / f"{stem}.md").exists():
            estimator_figure(stem, names)
            drawn.append(stem)
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description="Draw the gallery's pictures.")
    parser.add_argument("--only", choices=["distributions", "estimators"], default=None)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    if args.only != "distributions":
        print("estimator pictures:", ", ".join(estimator_figures()))
    if args.only == "estimators":
        return
    torch.manual_seed(0)
    f64 = {"dtype": torch.float64}
    logit = torch.tensor(0.5, **f64)
    probs3 = torch.tensor([0.2, 0.3, 0.5], **f64)
    one_d = {
        "relaxed_bernoulli.png": (
            "RelaxedBernoulli",
            "Binary Concrete, logit 0.5",
            lambda c, t: c(torch.tensor(t, **f64), logits=logit),
            "temperature {}",
            (),
        ),
        "rebar_relaxation.png": (
            "RebarRelaxation",
            "REBAR relaxation, theta 0.62",
            lambda c, t: c(torch.sigmoid(logit), torch.tensor(t, **f64)),
            "lambda {}",
            (),
        ),
        "hard_concrete.png": (
            "HardConcrete",
            "Hard Concrete, alpha 1, xi 1.1, gamma -0.1",
            lambda c, t: c(
                torch.tensor(1.0, **f64),
                torch.tensor(t, **f64),
                torch.tensor(1.1, **f64),
                torch.tensor(-0.1, **f64),
            ),
            "beta {}",
            (0.0, 1.0),
        ),
        "gaussian_relaxed_bernoulli.png": (
            "GaussianRelaxedBernoulli",
            "Gaussian stochastic gate, loc 0.5",
            lambda c, t: c(torch.tensor(0.5, **f64), torch.tensor(t / 2, **f64)),
            "scale {}/2",
            (0.0, 1.0),
        ),
    }
    simplex = {
        "relaxed_one_hot_simplex.png": (
            "RelaxedOneHotCategorical",
            "Gumbel-Softmax (Concrete), probs (0.2, 0.3, 0.5)",
            lambda c, t: c(torch.tensor(t, **f64), probs=probs3),
            "temperature {}",
        ),
        "invertible_gaussian_simplex.png": (
            "InvertibleGaussian",
            "Invertible Gaussian reparameterization, loc 0, scale 1",
            lambda c, t: c(torch.zeros(2, **f64), torch.ones(2, **f64), torch.tensor(t, **f64)),
            "temperature {}",
        ),
        "logistic_normal_softmax_simplex.png": (
            "LogisticNormalSoftmax",
            "Logistic-normal (softmax), loc log(probs)",
            lambda c, t: c(probs3.log(), torch.full((3,), t, **f64)),
            "scale {}",
        ),
    }
    missing = []
    for filename, (name, title, build, label, atoms) in one_d.items():
        cls = get(name)
        if cls is None:
            missing.append(name)
            continue
        one_d_figure(filename, title, lambda t, cls=cls, build=build: build(cls, t), label, atoms)
    for filename, (name, title, build, label) in simplex.items():
        cls = get(name)
        if cls is None:
            missing.append(name)
            continue
        simplex_figure(filename, title, lambda t, cls=cls, build=build: build(cls, t), label)
    distribution_figures(missing)
    structured_figures(missing)
    print("wrote", sorted(p.name for p in OUT.glob("*.png")))
    if missing:
        print("skipped (class not in relaxit yet):", ", ".join(missing))


if __name__ == "__main__":
    main()
