"""``relaxit laplace-bridge``: a Dirichlet, its Laplace-bridge logistic normal, and back.

Draws three densities on the 2-simplex side by side (Hobbhahn et al. 2020): ``Dir(alpha)``, the
``LogisticNormalSoftmax`` that `lognorm_approximation_fn` maps it to, and the Dirichlet that
`dirichlet_approximation_fn` maps that back to. Densities are w.r.t. Lebesgue measure on the
first two coordinates, as everywhere in relaxit.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

# The triangle's corners in the plane: vertex k is where x_k = 1.
_CORNERS = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]], dtype=torch.float64)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "laplace-bridge",
        help="plot a Dirichlet, its Laplace-bridge logistic normal, and the Dirichlet mapped back",
        description=__doc__.splitlines()[0].split(": ", 1)[-1],
    )
    p.add_argument(
        "--concentration",
        default="2,3,5",
        help="three positive Dirichlet concentrations, comma-separated (default: 2,3,5)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("laplace_bridge.png"),
        help="output PNG path (default: laplace_bridge.png)",
    )
    p.add_argument(
        "--resolution", type=int, default=150, help="grid points per simplex edge (default: 150)"
    )
    p.set_defaults(func=run)


def parse_concentration(text: str) -> torch.Tensor:
    """``"2,3,5"`` -> tensor; a clear ``ValueError`` unless there are three positive numbers."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--concentration must be numbers like 2,3,5, got {text!r}") from None
    if len(values) != 3 or not all(v > 0 and math.isfinite(v) for v in values):
        raise ValueError(f"--concentration needs three positive numbers, got {text!r}")
    return torch.tensor(values, dtype=torch.float64)


def simplex_grid(resolution: int) -> torch.Tensor:
    """Interior points of the 2-simplex on a triangular lattice, shape (N, 3)."""
    i, j = torch.meshgrid(torch.arange(resolution + 1), torch.arange(resolution + 1), indexing="ij")
    keep = i + j <= resolution
    a = (i[keep].double() + 1 / 3) / (resolution + 1)
    b = (j[keep].double() + 1 / 3) / (resolution + 1)
    return torch.stack([a, b, 1 - a - b], -1)


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.tri import Triangulation

    from relaxit.distributions import Dirichlet
    from relaxit.distributions.approx import dirichlet_approximation_fn, lognorm_approximation_fn

    try:
        alpha = parse_concentration(args.concentration)
    except ValueError as e:
        print(f"relaxit laplace-bridge: error: {e}", file=sys.stderr)
        return 2
    if args.resolution < 10:
        print("relaxit laplace-bridge: error: --resolution must be at least 10", file=sys.stderr)
        return 2
    dirichlet = Dirichlet(alpha)
    lognorm = lognorm_approximation_fn(dirichlet)
    back = dirichlet_approximation_fn(lognorm)
    x = simplex_grid(args.resolution)
    xy = x @ _CORNERS
    tri = Triangulation(xy[:, 0].numpy(), xy[:, 1].numpy())

    def fmt(a: torch.Tensor) -> str:
        return ", ".join(f"{v:.3g}" for v in a.tolist())

    panels = [
        (f"Dirichlet({fmt(alpha)})", dirichlet),
        (
            f"Laplace bridge: logistic normal\nloc=({fmt(lognorm.loc)})\n"
            f"scale=({fmt(lognorm.scale)})",
            lognorm,
        ),
        (f"mapped back: Dirichlet({fmt(back.concentration)})", back),
    ]
    densities = [dist.log_prob(x).exp().nan_to_num(0.0) for _, dist in panels]
    # One colour scale for the three panels, clipped at a high quantile so that the corner
    # spikes of concentrations below 1 do not wash out the rest.
    top = max(float(torch.quantile(d, 0.995)) for d in densities)
    levels = torch.linspace(0, top, 41).tolist()
    fig, axes = plt.subplots(1, 3, figsize=(15, 5), constrained_layout=True)
    for ax, (title, _), density in zip(axes, panels, densities, strict=True):
        filled = ax.tricontourf(tri, density.clamp(max=top).numpy(), levels=levels, cmap="viridis")
        ax.plot(*_CORNERS[[0, 1, 2, 0]].T.numpy(), color="black", linewidth=0.8)
        for k, (cx, cy) in enumerate(_CORNERS.tolist()):
            ax.annotate(
                f"$x_{k + 1}$",
                (cx, cy),
                ha="center",
                va="center",
                xytext=(0, -12 if cy == 0 else 10),
                textcoords="offset points",
            )
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
        ax.axis("off")
    fig.colorbar(filled, ax=axes, shrink=0.8, label="density (Lebesgue on $x_1, x_2$)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f"wrote {args.out}")
    return 0
