"""The VAE's pictures (matplotlib, Agg backend): reconstructions, prior samples, loss curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from relaxit.vae.models import DiscreteVAE


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(images: torch.Tensor, rows: int, cols: int, shape: tuple[int, int]) -> np.ndarray:
    """Tile ``(>= rows*cols, h*w)`` images into one ``(rows*h, cols*w)`` array for ``imshow``."""
    h, w = shape
    return (
        images[: rows * cols]
        .reshape(rows, cols, h, w)
        .permute(0, 2, 1, 3)
        .reshape(rows * h, cols * w)
        .numpy(force=True)
    )


@torch.no_grad()
def plot_reconstructions(
    path: Path, model: DiscreteVAE, x: torch.Tensor, shape: tuple[int, int]
) -> Path:
    """Rows of test inputs, each followed by a row of their reconstructions (pixel means of
    p(x|b) at one discrete b ~ q(b|x))."""
    model.eval()
    dl = model.objective.discrete_logits(model.logits(x))
    recon = torch.sigmoid(model.decode(model.sample_posterior(dl, 1)[0])).cpu()
    cols = 10
    rows = x.shape[0] // cols
    pairs = torch.stack(
        [x.cpu()[: rows * cols].view(rows, cols, -1), recon[: rows * cols].view(rows, cols, -1)], 1
    )
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(cols * 0.8, 2 * rows * 0.8))
    ax.imshow(
        _grid(pairs.reshape(-1, x.shape[1]), 2 * rows, cols, shape), cmap="gray_r", vmin=0, vmax=1
    )
    ax.set_title("test inputs (odd rows) and reconstructions (even rows)")
    ax.axis("off")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    model.train()
    return path


@torch.no_grad()
def plot_prior_samples(path: Path, model: DiscreteVAE, shape: tuple[int, int], n: int = 8) -> Path:
    """An n x n grid of decoder means at latents drawn from the uniform prior."""
    images = torch.sigmoid(model.decode(model.sample_prior(n * n))).cpu()
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(n * 0.8, n * 0.8))
    ax.imshow(_grid(images, n, n, shape), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title("samples from the prior (decoder means)")
    ax.axis("off")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_loss_curves(path: Path, metrics: dict[str, Any]) -> Path:
    """Training loss per step (and its moving average) with the per-epoch test -ELBO."""
    losses = torch.tensor(metrics["train_loss_per_step"], dtype=torch.float64)
    window = max(1, min(100, len(losses) // 10))
    smooth = losses.unfold(0, window, 1).mean(1) if len(losses) >= window else losses
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(
        range(1, len(losses) + 1),
        losses.numpy(),
        color="C0",
        alpha=0.25,
        lw=0.8,
        label="train loss (step)",
    )
    ax.plot(
        range(window, window + len(smooth)),
        smooth.numpy(),
        color="C0",
        label=f"train loss ({window}-step mean)",
    )
    ep = metrics["epochs"]
    ax.plot(
        [e["step"] for e in ep],
        [e["test_neg_elbo"] for e in ep],
        "o-",
        color="C3",
        label="test -ELBO",
    )
    lo = min(float(smooth.min()), min(e["test_neg_elbo"] for e in ep))
    ax.set_ylim(lo - 5, max(lo + 10, float(smooth[0]) + 5))
    ax.set_xlabel("step")
    ax.set_ylabel("nats per image")
    ax.set_title(
        f"{metrics['method']['name']} ({metrics['config']['latent']}) "
        f"on {metrics['dataset']['name']}"
    )
    ax.legend()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
