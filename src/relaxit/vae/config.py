"""`VAEConfig`: every setting of a ``relaxit vae`` run (the command line maps onto it 1:1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LATENTS = ("bernoulli", "categorical")
ARCHS = ("linear", "nonlinear")


@dataclass
class VAEConfig:
    """One training run of a discrete-latent VAE.

    Latents: ``bernoulli`` (``bits`` independent bits, 200 in the literature) or ``categorical``
    (``n_vars`` one-hot variables of ``n_classes`` classes, 20 x 10 in Jang et al. 2017).
    ``arch="linear"`` is 784-D-784 (one linear map each way); ``"nonlinear"`` adds two hidden
    layers of ``hidden`` LeakyReLU units on each side (784-200-200-D-200-200-784).

    ``None`` in ``latent``, ``tau0``, ``tau_min``, ``anneal_rate`` and ``n_samples`` means the
    method's default (`relaxit.vae.methods.METHODS`). The temperature at step t is
    ``max(tau_min, tau0 * exp(-anneal_rate * t))`` (Jang et al. 2017). ``steps`` (if given)
    overrides ``epochs``. ``mean_init`` starts the decoder's output bias at the logit of the mean
    training image. ``eval_samples`` importance samples give the final test bound on
    ``eval_examples`` test images (all when ``None``).
    """

    dataset: str = "mnist"
    method: str = "gumbel-softmax"
    latent: str | None = None
    arch: str = "nonlinear"
    bits: int = 200
    n_vars: int = 20
    n_classes: int = 10
    hidden: int = 200
    mean_init: bool = True
    epochs: int = 10
    steps: int | None = None
    batch_size: int = 100
    lr: float = 1e-3
    seed: int = 0
    out: str | None = None
    tau0: float | None = None
    tau_min: float | None = None
    anneal_rate: float | None = None
    n_samples: int | None = None
    eval_samples: int = 1000
    eval_examples: int | None = None
    quiet: bool = False
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
