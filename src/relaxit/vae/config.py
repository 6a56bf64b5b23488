"""`VAEConfig`: every setting of a ``relaxit vae`` run (the command line maps onto it 1:1)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

LATENTS = ("bernoulli", "categorical")
ARCHS = ("linear", "nonlinear")
BINARIZATIONS = ("dynamic", "fixed", "threshold", "grey")
ACTIVATIONS = ("leaky_relu", "relu", "tanh")
PRIORS = ("uniform", "learned")
OBJECTIVES = ("elbo", "iwae")


@dataclass
class VAEConfig:
    """One training run of a discrete-latent VAE.

    Latents: ``bernoulli`` (``bits`` independent bits, 200 in the literature) or ``categorical``
    (``n_vars`` one-hot variables of ``n_classes`` classes, 20 x 10 in Jang et al. 2017).
    ``arch="linear"`` is 784-D-784 (one linear map each way); ``"nonlinear"`` adds hidden layers
    on each side: ``hidden_sizes`` (comma-separated encoder sizes, mirrored in the decoder, e.g.
    ``"512,256"`` gives 784-512-256-D-256-512-784) or, when it is ``None``, two layers of
    ``hidden`` units; ``activation`` (with ``negative_slope`` for ``leaky_relu``) between them.
    ``signed_inputs`` feeds the networks ``2x-1`` and ``2b-1`` instead of x and b (Yin & Zhou's
    code).

    Data: ``binarize`` is ``dynamic`` (a fresh ``bernoulli(x)`` every time a training image is
    used), ``fixed`` (every split binarized once, under ``binarize_seed``), ``threshold``
    (``x > 0.5``) or ``grey`` (grey levels as targets of the Bernoulli likelihood). Validation
    and test images are binarized once under ``binarize_seed`` (the run's ``seed`` when
    ``None``) except for ``threshold`` and ``grey``. ``valid_examples`` holds out the last
    images of the training set for validation (10 000 on MNIST is the standard 50k/10k split).

    Prior: ``uniform`` or ``learned`` (logits trained with the model; by SGD at ``prior_lr``
    when given, as Dong et al. 2020 do, else with Adam at ``lr``). The learning rate is
    ``lr * lr_decay ** (step // lr_decay_every)``.

    ``None`` in ``latent``, ``tau0``, ``tau_min``, ``anneal_rate`` and ``n_samples`` means the
    method's default (`relaxit.vae.methods.METHODS`). The temperature at step t is
    ``max(tau_min, tau0 * exp(-anneal_rate * t'))`` with ``t' = anneal_every * (t //
    anneal_every)`` (Jang et al. 2017 update it every 1000 steps). ``steps`` (if given)
    overrides ``epochs``. ``mean_init`` starts the decoder's output bias at the logit of the mean
    training image. ``eval_samples`` importance samples give the final test bound on
    ``eval_examples`` test images (all when ``None``).

    Objective: ``elbo`` (the evidence lower bound, KL exact; every method) or ``iwae`` (the
    ``n_samples``-sample importance-weighted bound of Burda et al. 2016,
    ``log (1/K) sum_k p(x, b_k) / q(b_k | x)``, trained by a multi-sample method: ``vimco``, or
    ``reinforce-bound``, its no-baseline reference). Either way the final metrics report the
    test -ELBO, the ``n_samples``-sample bound and the ``eval_samples``-sample bound.

    Curves and selection: every ``eval_every`` steps (each epoch when ``None``) the one-sample
    -ELBO is measured on the test images (and on the validation images when there are any);
    with ``select="valid"`` the final evaluation uses the parameters of the evaluation with the
    lowest validation -ELBO (Yin & Zhou 2019 select this way). ``checkpoint_every`` steps the
    full training state is written to ``OUT/checkpoint.pt``; ``resume`` continues from it.
    ``preset`` names the `relaxit.vae.presets` entry the settings came from (record only).
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
    binarize: str = "dynamic"
    binarize_seed: int | None = None
    hidden_sizes: str | None = None
    activation: str = "leaky_relu"
    negative_slope: float = 0.01
    signed_inputs: bool = False
    prior: str = "uniform"
    prior_lr: float | None = None
    lr_decay: float = 1.0
    lr_decay_every: int = 1000
    anneal_every: int = 1
    valid_examples: int = 0
    eval_every: int | None = None
    select: str | None = None
    checkpoint_every: int = 0
    resume: bool = False
    preset: str | None = None
    objective: str = "elbo"

    def hidden_layers(self) -> tuple[int, ...]:
        """Encoder hidden-layer sizes (the decoder mirrors them); ``()`` for ``linear``."""
        if self.arch == "linear":
            return ()
        if self.hidden_sizes is None:
            return (self.hidden, self.hidden)
        try:
            sizes = tuple(int(s) for s in self.hidden_sizes.split(",") if s.strip())
        except ValueError:
            raise ValueError(
                f"hidden_sizes must be comma-separated integers; got {self.hidden_sizes!r}"
            ) from None
        if not sizes or min(sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive integers; got {self.hidden_sizes!r}")
        return sizes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
