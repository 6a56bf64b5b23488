"""The discrete-latent VAE: MLP encoder to posterior logits, MLP decoder to Bernoulli pixel
logits, a uniform or learned factorized prior, and the exact discrete KL."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from relaxit.vae.objectives import LatentObjective


def mlp(
    n_in: int,
    n_out: int,
    arch: str,
    hidden: int | tuple[int, ...],
    activation: str = "leaky_relu",
    negative_slope: float = 0.01,
) -> nn.Sequential:
    """``linear``: one affine map; ``nonlinear``: hidden layers of the given sizes (an int means
    two layers of that size) with ``activation`` (``leaky_relu``, ``relu`` or ``tanh``) between
    them and a linear output layer."""
    if arch == "linear":
        return nn.Sequential(nn.Linear(n_in, n_out))
    if arch != "nonlinear":
        raise ValueError(f"arch must be 'linear' or 'nonlinear'; got {arch!r}")
    sizes = (hidden, hidden) if isinstance(hidden, int) else tuple(hidden)
    make = {
        "leaky_relu": lambda: nn.LeakyReLU(negative_slope),
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
    }
    if activation not in make:
        raise ValueError(f"activation must be one of {tuple(make)}; got {activation!r}")
    layers: list[nn.Module] = []
    for size in sizes:
        layers += [nn.Linear(n_in, size), make[activation]()]
        n_in = size
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class DiscreteVAE(nn.Module):
    """q(b|x) factorized Bernoulli over ``latent_shape = (D,)`` or one-hot categorical over
    ``(N, K)``; p(b) factorized over the same shape, uniform (``prior="uniform"``) or with
    learned logits ``prior_logits`` (``prior="learned"``, zero at the start, i.e. uniform);
    p(x|b) factorized Bernoulli over the pixels. ``hidden`` is the encoder's hidden-layer sizes
    (mirrored in the decoder). With ``signed_inputs`` the encoder sees ``2x-1`` and the decoder
    ``2b-1`` (Yin & Zhou 2019's code).

    ``forward(x, n_samples, tau)`` returns the per-example training loss, shape (B,): for a
    multi-sample method (VIMCO) the negative ``n_samples``-sample bound; otherwise the method's
    surrogate of E_q[-log p(x|b)] plus the exact KL(q(b|x) || p(b)). Everything that carries a
    gradient happens inside ``forward`` so that DistributedDataParallel sees it.
    """

    def __init__(
        self,
        n_pixels: int,
        latent: str,
        latent_shape: tuple[int, ...],
        arch: str,
        hidden: int | tuple[int, ...],
        objective: LatentObjective,
        pixel_mean: torch.Tensor | None = None,
        activation: str = "leaky_relu",
        negative_slope: float = 0.01,
        prior: str = "uniform",
        signed_inputs: bool = False,
    ):
        super().__init__()
        if prior not in ("uniform", "learned"):
            raise ValueError(f"prior must be 'uniform' or 'learned'; got {prior!r}")
        self.latent = latent
        self.latent_shape = tuple(latent_shape)
        self.n_latent = math.prod(self.latent_shape)
        sizes = (hidden, hidden) if isinstance(hidden, int) else tuple(hidden)
        act = (activation, negative_slope)
        self.encoder = mlp(n_pixels, self.n_latent, arch, sizes, *act)
        self.decoder = mlp(self.n_latent, n_pixels, arch, tuple(reversed(sizes)), *act)
        self.objective = objective
        self.signed_inputs = signed_inputs
        self.prior_logits = (
            nn.Parameter(torch.zeros(self.latent_shape)) if prior == "learned" else None
        )
        if pixel_mean is not None:  # start the decoder at the data's mean image
            with torch.no_grad():
                self.decoder[-1].bias.copy_(torch.logit(pixel_mean.clamp(1e-3, 1 - 1e-3)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output, (B, *latent_shape)."""
        h = 2 * x - 1 if self.signed_inputs else x
        return self.encoder(h).view(x.shape[0], *self.latent_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of p(x|z) for latents (..., *latent_shape) -> (..., n_pixels)."""
        z = z.flatten(z.dim() - len(self.latent_shape))
        return self.decoder(2 * z - 1 if self.signed_inputs else z)

    def nll(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) for x (B, P) and z (S, B, *latent_shape): shape (S, B)."""
        logits = self.decode(z)
        return F.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none"
        ).sum(-1)

    def log_q(self, discrete_logits: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """log q(b|x) of discrete samples b (S, B, *latent_shape): shape (S, B)."""
        if self.latent == "bernoulli":
            lp = -F.binary_cross_entropy_with_logits(
                discrete_logits.expand_as(b), b, reduction="none"
            )
        else:
            lp = (b * torch.log_softmax(discrete_logits, -1)).sum(-1)
        return lp.flatten(2).sum(-1)

    def _log_prior_probs(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(log p(b_i = 1), log p(b_i = 0)) for Bernoulli, or (log p per class, unused) for
        categorical, under the learned prior; ``None`` under the uniform prior."""
        if self.prior_logits is None:
            return None
        if self.latent == "bernoulli":
            return F.logsigmoid(self.prior_logits), F.logsigmoid(-self.prior_logits)
        return torch.log_softmax(self.prior_logits, -1), self.prior_logits

    def log_prior(self, b: torch.Tensor | None = None) -> torch.Tensor | float:
        """log p(b) of latents b (..., *latent_shape), shape (...). Under the uniform prior it
        is the same for every b, and ``log_prior()`` returns that number."""
        probs = self._log_prior_probs()
        if probs is None:
            if self.latent == "bernoulli":
                value = -self.n_latent * math.log(2.0)
            else:
                n_vars, n_classes = self.latent_shape
                value = -n_vars * math.log(n_classes)
            if b is None:
                return value
            return torch.full(b.shape[: b.dim() - len(self.latent_shape)], value).to(b)
        if b is None:
            raise ValueError("log_prior() needs latents b under a learned prior")
        lp = b * probs[0] + (1 - b) * probs[1] if self.latent == "bernoulli" else b * probs[0]
        return lp.flatten(b.dim() - len(self.latent_shape)).sum(-1)

    def kl(self, discrete_logits: torch.Tensor) -> torch.Tensor:
        """KL(q(b|x) || p(b)), exact, shape (B,)."""
        probs = self._log_prior_probs()
        if self.latent == "bernoulli":
            q = torch.sigmoid(discrete_logits)
            log_q1, log_q0 = F.logsigmoid(discrete_logits), F.logsigmoid(-discrete_logits)
            if probs is None:
                terms = q * log_q1 + (1 - q) * log_q0 + math.log(2.0)
            else:
                terms = q * (log_q1 - probs[0]) + (1 - q) * (log_q0 - probs[1])
        else:
            logq = torch.log_softmax(discrete_logits, -1)
            log_p = (
                torch.full_like(logq, -math.log(self.latent_shape[-1]))
                if probs is None
                else probs[0]
            )
            terms = logq.exp() * (logq - log_p)
        return terms.flatten(1).sum(-1)

    def sample_posterior(self, discrete_logits: torch.Tensor, n: int) -> torch.Tensor:
        """n exact discrete samples b ~ q(b|x): (n, B, *latent_shape)."""
        if self.latent == "bernoulli":
            return torch.bernoulli(torch.sigmoid(discrete_logits).expand(n, *discrete_logits.shape))
        return torch.distributions.OneHotCategorical(logits=discrete_logits).sample((n,))

    def sample_prior(self, n: int) -> torch.Tensor:
        """n latents from the prior: (n, *latent_shape)."""
        p = self.decoder[0].weight
        logits = (
            torch.zeros(self.latent_shape, dtype=p.dtype, device=p.device)
            if self.prior_logits is None
            else self.prior_logits.detach()
        )
        if self.latent == "bernoulli":
            return torch.bernoulli(torch.sigmoid(logits).expand(n, *self.latent_shape))
        return torch.distributions.OneHotCategorical(logits=logits).sample((n,))

    def forward(self, x: torch.Tensor, n_samples: int, tau: float) -> torch.Tensor:
        logits = self.logits(x)
        if getattr(self.objective, "multi_sample", False):
            # -log (1/K) sum_k p(x, b_k) / q(b_k|x): the estimator gets the log-weights; log q
            # reads the encoder's logits, so its pathwise gradient is part of the bound's
            def log_w(b: torch.Tensor) -> torch.Tensor:
                return -self.nll(x, b) + self.log_prior(b) - self.log_q(logits, b)

            return -self.objective(logits, log_w, n_samples, tau)
        recon = self.objective(logits, lambda z: self.nll(x, z), n_samples, tau)
        return recon + self.kl(self.objective.discrete_logits(logits))

    @torch.no_grad()
    def bounds(
        self, x: torch.Tensor, n_samples: int, chunk: int = 100
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Negative ELBO (KL exact, reconstruction averaged over ``n_samples`` discrete samples)
        and the importance-weighted bound -log (1/K) sum_k p(x, b_k)/q(b_k|x) with K = n_samples
        (Burda et al. 2016; the "marginal likelihood" bound of Jang et al. 2017). Both (B,)."""
        dl = self.objective.discrete_logits(self.logits(x))
        nll_sum = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        lse = torch.full_like(nll_sum, -math.inf)
        done = 0
        while done < n_samples:
            k = min(chunk, n_samples - done)
            b = self.sample_posterior(dl, k)
            nll = self.nll(x, b)
            log_w = -nll + self.log_prior(b) - self.log_q(dl, b)
            nll_sum += nll.sum(0)
            lse = torch.logaddexp(lse, torch.logsumexp(log_w, 0))
            done += k
        neg_elbo = nll_sum / n_samples + self.kl(dl)
        neg_iw = -(lse - math.log(n_samples))
        return neg_elbo, neg_iw
