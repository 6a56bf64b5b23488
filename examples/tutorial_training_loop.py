"""Tutorial: a gradient estimator inside your own nn.Module training loop.

A model with a discrete bottleneck: an encoder maps x to the logits of `bits` Bernoulli
variables, a decoder reconstructs x from the sampled bits. The sampling step has no gradient, so
the encoder is trained with an estimator of grad E_b[f(b)], where f is the rest of the network
and its loss, wrapped as a function of the bits:

    f(b): b of shape (S, B, bits) -> reconstruction error per sample and data point, (S, B)

Returning one value per data point (the first batch dim) tells the estimator that data points
are independent items (m = 1) and the `bits` of one data point are one joint variable.

Shown here: the estimators with trainable parameters (REBAR's eta and temperature, RELAX's
control network) tuned by their variance with `loss_and_variance` in the same backward pass as
the model, and temperature annealing for a relaxation (Gumbel-Softmax). Run:

    python examples/tutorial_training_loop.py --estimator rebar
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn
from torch.distributions import Bernoulli

from relaxit.estimators import REBAR, REINFORCE, RELAX, DisARM, GumbelSoftmax, RelaxControl


def make_data(n: int, dim: int, clusters: int, generator: torch.Generator) -> torch.Tensor:
    """x = one of `clusters` random centres + small noise: `log2(clusters)` bits can encode it."""
    centres = 2 * torch.randn(clusters, dim, generator=generator)
    which = torch.randint(clusters, (n,), generator=generator)
    return centres[which] + 0.1 * torch.randn(n, dim, generator=generator)


class BinaryAutoencoder(nn.Module):
    def __init__(self, dim: int, bits: int, hidden: int = 64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, bits))
        self.decoder = nn.Sequential(nn.Linear(bits, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def objective(self, x: torch.Tensor):
        """f for this minibatch: (S, B, bits) -> squared error per sample and data point (S, B).
        It must also accept relaxed bits in [0, 1] (REBAR, RELAX, Gumbel-Softmax evaluate it
        there), which a decoder taking floats does."""

        def f(b: torch.Tensor) -> torch.Tensor:
            return (self.decoder(b) - x).pow(2).sum(-1)

        return f

    @torch.no_grad()
    def reconstruction_error(self, x: torch.Tensor) -> float:
        """Mean squared error with the most likely code (b = 1[logit > 0])."""
        b = (self.encoder(x) > 0).to(x.dtype)
        return (self.decoder(b) - x).pow(2).sum(-1).mean().item()


def make_estimator(name: str, bits: int) -> nn.Module:
    if name == "rebar":
        return REBAR(temperature=0.5, eta=1.0)
    if name == "relax":
        # The paper's control c(z) = f(z) + r(z) (Grathwohl et al. 2018, section 3.3), r an MLP
        # of the item's `bits` relaxed values; n_joint builds r now, before the optimizer.
        return RELAX(RelaxControl(n_joint=bits), temperature=0.5)
    if name == "gumbel-softmax":
        return GumbelSoftmax(temperature=1.0, hard=True)
    if name == "disarm":
        return DisARM()
    if name == "nvil":
        # REINFORCE with a learned, input-dependent baseline (Mnih & Gregor 2014), trained on
        # its own squared error through the same loss_and_variance call.
        return REINFORCE(baseline="learned")
    raise ValueError(f"unknown estimator {name!r}")


def training_loss(model, estimator, x: torch.Tensor, n_samples: int) -> torch.Tensor:
    """The scalar to call .backward() on, for the model and the estimator together."""
    dist = Bernoulli(logits=model.encoder(x))  # batch_shape (B, bits)
    f = model.objective(x)
    tuned = [p for p in estimator.parameters() if p.requires_grad]
    if not tuned:  # ARM, DisARM, Gumbel-Softmax, REINFORCE(baseline="loo"), ...: the loss only
        return estimator(f, dist, n_samples).mean()
    # REBAR / RELAX / NVIL: `variance` is a differentiable surrogate of the estimator's variance
    # (NVIL: the baseline's squared error); its gradient w.r.t. the estimator's own parameters
    # (eta, log_temperature, the control, the baseline) tunes them. The extra term below is zero
    # in value; its gradient is dV/dp for those parameters only, so one backward pass (and one
    # optimizer) trains the model on the loss and the estimator on the variance (one backward
    # also keeps DistributedDataParallel happy).
    loss, variance = estimator.loss_and_variance(f, dist, n_samples)
    grads = torch.autograd.grad(variance, tuned, retain_graph=True, allow_unused=True)
    tuning = sum(
        (p - p.detach()).mul(g).sum() for p, g in zip(tuned, grads, strict=True) if g is not None
    )
    return loss.mean() + tuning


def anneal(step: int, start: float = 1.0, end: float = 0.5, rate: float = 1e-2) -> float:
    """Jang et al. (2017)'s schedule: tau = max(end, start * exp(-rate * step))."""
    return max(end, start * math.exp(-rate * step))


def train(
    estimator: str = "rebar",
    steps: int = 400,
    batch: int = 64,
    n_samples: int = 4,
    bits: int = 3,
    dim: int = 16,
    seed: int = 0,
    log_every: int = 100,
) -> dict:
    torch.manual_seed(seed)
    data = make_data(4096, dim, 2**bits, torch.Generator().manual_seed(seed))
    test = data[:512]
    model = BinaryAutoencoder(dim, bits)
    est = make_estimator(estimator, bits)
    # One optimizer for both: the estimator's parameters (if any) get the variance gradient.
    opt = torch.optim.Adam([*model.parameters(), *est.parameters()], lr=3e-3)
    initial = model.reconstruction_error(test)
    for step in range(steps):
        if isinstance(est, GumbelSoftmax):
            est.temperature = anneal(step)  # a settable attribute: anneal between steps
        x = data[torch.randint(len(data), (batch,))]
        loss = training_loss(model, est, x, n_samples)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log_every and (step + 1) % log_every == 0:
            extra = ""
            if isinstance(est, REBAR):
                extra = f"  eta {est.eta.item():.3f}  temperature {est.temperature.item():.3f}"
            elif isinstance(est, GumbelSoftmax):
                extra = f"  temperature {est.temperature:.3f}"
            print(f"step {step + 1:4d}  loss {loss.item():8.3f}{extra}")
    final = model.reconstruction_error(test)
    variance = test.var(0).sum().item()
    print(f"{estimator}: test error {initial:.2f} -> {final:.2f} (data variance {variance:.2f})")
    return {"initial": initial, "final": final, "variance": variance, "estimator": est}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--estimator",
        default="rebar",
        choices=["rebar", "relax", "gumbel-softmax", "disarm", "nvil"],
    )
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.estimator, steps=args.steps, seed=args.seed)
