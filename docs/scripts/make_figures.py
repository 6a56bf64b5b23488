"""Draw the gallery's pictures into docs/figures/ (matplotlib, Agg backend, no network).

Run from the repository root: ``python docs/scripts/make_figures.py``. Each figure is drawn only if
its class exists in the installed ``relaxit``; missing ones are listed and skipped. Densities come
from each class's own ``log_prob``; atoms (point masses) are drawn as stems at their positions with
height equal to their mass (right axis).
"""

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


def main() -> None:
    OUT.mkdir(exist_ok=True)
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
    print("wrote", sorted(p.name for p in OUT.glob("*.png")))
    if missing:
        print("skipped (class not in relaxit yet):", ", ".join(missing))


if __name__ == "__main__":
    main()
