"""Instance-wise k-feature selection (L2X, Chen et al. 2018) trained by each k-subset method.

A selector network maps an image ``x`` to logits ``theta(x)`` over its pixels; a k-subset ``z``
of pixels is drawn (or relaxed) by the method; a classifier predicts the label from ``x * z``
alone. Both networks are trained together on the cross-entropy. Evaluation is L2X's post-hoc
accuracy: the classifier's test accuracy on the ``k`` pixels with the largest logits.

`train` runs one method and writes ``metrics.json`` and ``selections.png`` to its output
directory (checkpointing every ``checkpoint_every`` steps, resumable); `compare` runs every
method x seed as its own resumable cell and writes the comparison table (``select.md``,
``select.json``) and picture (``select.png``).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from relaxit.select.data import Labelled, load
from relaxit.select.methods import METHODS


@dataclass
class SelectConfig:
    """One training run."""

    method: str = "simple"
    dataset: str = "digits"
    k: int = 6
    steps: int = 3000
    batch_size: int = 100
    lr: float = 1e-3
    hidden: int = 128
    seed: int = 0
    eval_every: int = 500
    checkpoint_every: int = 1000
    out: str = "runs/select"
    quiet: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Module:
    return nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out))


class Explainer(nn.Module):
    """Selector ``x -> theta`` (n pixels) and classifier ``x * z -> class logits``."""

    def __init__(self, n_pixels: int, n_classes: int, hidden: int):
        super().__init__()
        self.selector = _mlp(n_pixels, hidden, n_pixels)
        self.classifier = _mlp(n_pixels, hidden, n_classes)

    def loss_of(self, x: torch.Tensor, y: torch.Tensor):
        """``z (S, B, n) -> (S, B)``: cross-entropy of the classifier on ``x * z``."""

        def loss(z: torch.Tensor) -> torch.Tensor:
            logits = self.classifier(x * z)
            return nn.functional.cross_entropy(
                logits.flatten(0, 1), y.expand(z.shape[0], -1).flatten(), reduction="none"
            ).view(z.shape[:2])

        return loss

    @torch.no_grad()
    def top_k(self, x: torch.Tensor, k: int) -> torch.Tensor:
        """The k-hot of the k largest selector logits (the deterministic explanation)."""
        theta = self.selector(x)
        return torch.zeros_like(theta).scatter_(-1, theta.topk(k, -1).indices, 1.0)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor, k: int) -> float:
        pred = self.classifier(x * self.top_k(x, k)).argmax(-1)
        return float((pred == y).double().mean())


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def _provenance() -> dict[str, Any]:
    from relaxit.bench.report import machine_info

    return {**machine_info(), "commit": _git_commit()}


def train(c: SelectConfig, data: Labelled | None = None) -> dict[str, Any]:
    """Train one method; returns (and writes to ``c.out/metrics.json``) its metrics."""
    from tqdm.auto import tqdm

    if c.method not in METHODS:
        raise ValueError(
            f"relaxit select: `--method` must be one of {list(METHODS)}, got {c.method!r}"
        )
    data = data or load(c.dataset)
    if not 1 <= c.k < data.n_pixels:
        raise ValueError(f"relaxit select: `--k` must be in [1, {data.n_pixels - 1}], got {c.k}")
    method = METHODS[c.method]
    out = Path(c.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(c.seed)
    model = Explainer(data.n_pixels, int(data.y_train.max()) + 1, c.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=c.lr)
    st: dict[str, Any] = {"step": 0, "history": [], "seconds": 0.0}
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        saved = torch.load(ckpt, weights_only=False)
        if saved["config"] == asdict(c):
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["opt"])
            st = saved["state"]
            torch.set_rng_state(saved["rng"])
    n_train = len(data.x_train)
    bar = tqdm(
        total=c.steps,
        initial=st["step"],
        disable=c.quiet,
        desc=f"select {c.method} k={c.k}",
        file=sys.stderr,
    )
    t0 = time.perf_counter() - st["seconds"]
    running: list[float] = []
    while st["step"] < c.steps:
        gen = torch.Generator().manual_seed(c.seed * 1_000_003 + st["step"])
        idx = torch.randint(n_train, (c.batch_size,), generator=gen)
        x, y = data.x_train[idx], data.y_train[idx]
        loss = method.loss(model.selector(x), c.k, model.loss_of(x, y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        st["step"] += 1
        running.append(loss.item())
        bar.update(1)
        if st["step"] % c.eval_every == 0 or st["step"] == c.steps:
            point = {
                "step": st["step"],
                "train_loss": statistics.fmean(running),
                "test_accuracy_top_k": model.accuracy(data.x_test, data.y_test, c.k),
                "seconds": time.perf_counter() - t0,
            }
            running = []
            st["history"].append(point)
            bar.set_postfix(
                acc=f"{point['test_accuracy_top_k']:.3f}", loss=f"{point['train_loss']:.3f}"
            )
            if c.quiet:
                print(
                    f"select {c.method} step {point['step']}/{c.steps}: "
                    f"loss {point['train_loss']:.4f}, top-k test accuracy "
                    f"{point['test_accuracy_top_k']:.4f}",
                    file=sys.stderr,
                )
        if c.checkpoint_every and st["step"] % c.checkpoint_every == 0 and st["step"] < c.steps:
            st["seconds"] = time.perf_counter() - t0
            torch.save(
                {
                    "config": asdict(c),
                    "model": model.state_dict(),
                    "opt": opt.state_dict(),
                    "state": st,
                    "rng": torch.get_rng_state(),
                },
                ckpt,
            )
    bar.close()
    final = st["history"][-1]
    metrics = {
        "config": asdict(c),
        "method": {"name": method.name, "paper": method.paper, "what": method.what},
        "samples_per_example": method.n_samples,
        "test_accuracy_top_k": final["test_accuracy_top_k"],
        "final_train_loss": final["train_loss"],
        "seconds": final["seconds"],
        "history": st["history"],
        "provenance": _provenance(),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    _plot_selections(out / "selections.png", {c.method: model}, data, c.k)
    if ckpt.exists():
        ckpt.unlink()
    return metrics


def _plot_selections(path: Path, models: dict[str, Explainer], data: Labelled, k: int) -> None:
    """One row per method: 10 test images (one per class when possible), selected pixels red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = []
    for label in range(10):
        hits = (data.y_test == label).nonzero().flatten()
        if len(hits):
            picks.append(int(hits[0]))
    x = data.x_test[picks]
    h, w = data.image_shape
    fig, axes = plt.subplots(
        len(models), len(picks), figsize=(1.1 * len(picks), 1.25 * len(models)), squeeze=False
    )
    for row, (name, model) in enumerate(models.items()):
        z = model.top_k(x, k)
        for col in range(len(picks)):
            grey = x[col].view(h, w).numpy()
            rgb = torch.tensor(grey).unsqueeze(-1).repeat(1, 1, 3).numpy() * 0.6
            mask = z[col].view(h, w).bool().numpy()
            rgb[mask] = (1.0, 0.1, 0.1)
            ax = axes[row][col]
            ax.imshow(rgb, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, fontsize=7)
    fig.suptitle(f"{data.name}: the k = {k} pixels each method selects (red)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def compare(base: SelectConfig, methods: list[str], seeds: list[int], out: Path) -> dict[str, Any]:
    """Every method x seed as its own cell (``out/METHOD-seedS/metrics.json``; an existing cell
    is kept, so an interrupted comparison resumes), then the table and the picture."""
    data = load(base.dataset)
    cells: dict[str, list[dict[str, Any]]] = {}
    summary: dict[str, Any] = {}
    for name in methods:
        for seed in seeds:
            cell = out / f"{name}-seed{seed}"
            if (cell / "metrics.json").exists():
                metrics = json.loads((cell / "metrics.json").read_text())
            else:
                cfg = SelectConfig(
                    **{**asdict(base), "method": name, "seed": seed, "out": str(cell)}
                )
                metrics = train(cfg, data)
            cells.setdefault(name, []).append(metrics)
            summary = _summarize(base, cells)  # the table so far, rewritten after every cell
            (out / "select.json").write_text(json.dumps(summary, indent=2))
            (out / "select.md").write_text(_markdown(summary))
    plot_comparison(out, methods, seeds[0])
    return summary


def _summarize(base: SelectConfig, cells: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    rows = []
    for name, runs in cells.items():
        acc = [r["test_accuracy_top_k"] for r in runs]
        se = statistics.stdev(acc) / math.sqrt(len(acc)) if len(acc) > 1 else float("nan")
        rows.append(
            {
                "method": name,
                "paper": runs[0]["method"]["paper"],
                "seeds": [r["config"]["seed"] for r in runs],
                "test_accuracy_top_k_mean": statistics.fmean(acc),
                "test_accuracy_top_k_se": se,
                "final_train_loss_mean": statistics.fmean(r["final_train_loss"] for r in runs),
                "seconds_mean": statistics.fmean(r["seconds"] for r in runs),
                "samples_per_example": runs[0]["samples_per_example"],
            }
        )
    return {"config": asdict(base), "rows": rows, "provenance": _provenance()}


def _markdown(summary: dict[str, Any]) -> str:
    from relaxit.bench.report import markdown_table

    c, p = summary["config"], summary["provenance"]
    rows = [
        [
            r["method"],
            r["paper"],
            f"{r['test_accuracy_top_k_mean']:.3f} ± {r['test_accuracy_top_k_se']:.3f}",
            ",".join(map(str, r["seeds"])),
            f"{r['final_train_loss_mean']:.3f}",
            r["samples_per_example"],
            f"{r['seconds_mean']:.0f}",
        ]
        for r in sorted(summary["rows"], key=lambda r: -r["test_accuracy_top_k_mean"])
    ]
    return "\n".join(
        [
            f"# `relaxit select`: {c['dataset']}, k = {c['k']} pixels",
            "",
            f"- command: `{p['command']}`",
            f"- commit: {p['commit']}; date (UTC): {p['date_utc']}",
            f"- machine: {p['cpu']}, {p['cpu_count']} CPUs, torch threads {p['torch_threads']}; "
            f"torch {p['torch']}, relaxit {p['relaxit']}",
            f"- setup: {c['steps']} Adam steps (lr {c['lr']}) of batch {c['batch_size']}, "
            f"selector and classifier MLPs with {c['hidden']} hidden units; seeds per method "
            "in the `seeds` column",
            "",
            "Post-hoc accuracy (Chen et al. 2018): the classifier's test accuracy on the k pixels "
            "with the largest selector logits (mean ± standard error over seeds). Training loss: "
            "mean cross-entropy of the last evaluation interval, on the method's own samples.",
            "",
            markdown_table(
                [
                    "method",
                    "paper",
                    "post-hoc test accuracy",
                    "seeds",
                    "final train loss",
                    "samples per example",
                    "seconds",
                ],
                rows,
            ),
            "",
            "![selected pixels](select.png)",
            "",
        ]
    )


def plot_comparison(summary_dir: Path, methods: list[str], seed: int) -> None:
    """``select.png``: the seed-``seed`` cells' selection pictures stacked, one per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import matplotlib.pyplot as plt

    images = [
        mpimg.imread(summary_dir / f"{m}-seed{seed}" / "selections.png")
        for m in methods
        if (summary_dir / f"{m}-seed{seed}" / "selections.png").exists()
    ]
    if not images:
        return
    fig, axes = plt.subplots(len(images), 1, figsize=(11, 1.6 * len(images)), squeeze=False)
    for ax, im in zip(axes[:, 0], images, strict=True):
        ax.imshow(im)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(summary_dir / "select.png", dpi=100)
    plt.close(fig)
