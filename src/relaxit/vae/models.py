"""The discrete-latent VAE: MLP encoder to posterior logits, MLP decoder to Bernoulli pixel
logits, a uniform prior, and the exact discrete KL."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from relaxit.vae.objectives import LatentObjective


def mlp(n_in: int, n_out: int, arch: str, hidden: int) -> nn.Sequential:
    """``linear``: one affine map; ``nonlinear``: two hidden layers of ``hidden`` LeakyReLUs."""
    if arch == "linear":
        return nn.Sequential(nn.Linear(n_in, n_out))
    if arch == "nonlinear":
        return nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, n_out),
        )
    raise ValueError(f"arch must be 'linear' or 'nonlinear'; got {arch!r}")


class DiscreteVAE(nn.Module):
    """q(b|x) factorized Bernoulli over ``latent_shape = (D,)`` or one-hot categorical over
    ``(N, K)``; p(b) uniform; p(x|b) factorized Bernoulli over the pixels.

    ``forward(x, n_samples, tau)`` returns the per-example training loss, shape (B,): the method's
    surrogate of E_q[-log p(x|b)] plus the exact KL(q(b|x) || p(b)). Everything that carries a
    gradient happens inside ``forward`` so that DistributedDataParallel sees it.
    """

    def __init__(
        self,
        n_pixels: int,
        latent: str,
        latent_shape: tuple[int, ...],
        arch: str,
        hidden: int,
        objective: LatentObjective,
        pixel_mean: torch.Tensor | None = None,
    ):
        super().__init__()
        self.latent = latent
        self.latent_shape = tuple(latent_shape)
        self.n_latent = math.prod(self.latent_shape)
        self.encoder = mlp(n_pixels, self.n_latent, arch, hidden)
        self.decoder = mlp(self.n_latent, n_pixels, arch, hidden)
        self.objective = objective
        if pixel_mean is not None:  # start the decoder at the data's mean image
            with torch.no_grad():
                self.decoder[-1].bias.copy_(torch.logit(pixel_mean.clamp(1e-3, 1 - 1e-3)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output, (B, *latent_shape)."""
        return self.encoder(x).view(x.shape[0], *self.latent_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of p(x|z) for latents (..., *latent_shape) -> (..., n_pixels)."""
        return self.decoder(z.flatten(z.dim() - len(self.latent_shape)))

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

    def log_prior(self) -> float:
        """log p(b), the same for every b under the uniform prior."""
        if self.latent == "bernoulli":
            return -self.n_latent * math.log(2.0)
        n_vars, n_classes = self.latent_shape
        return -n_vars * math.log(n_classes)

    def kl(self, discrete_logits: torch.Tensor) -> torch.Tensor:
        """KL(q(b|x) || uniform), exact, shape (B,)."""
        if self.latent == "bernoulli":
            q = torch.sigmoid(discrete_logits)
            neg_entropy = q * F.logsigmoid(discrete_logits) + (1 - q) * F.logsigmoid(
                -discrete_logits
            )
        else:
            logp = torch.log_softmax(discrete_logits, -1)
            neg_entropy = (logp.exp() * logp).sum(-1)
        return neg_entropy.flatten(1).sum(-1) - self.log_prior()

    def sample_posterior(self, discrete_logits: torch.Tensor, n: int) -> torch.Tensor:
        """n exact discrete samples b ~ q(b|x): (n, B, *latent_shape)."""
        if self.latent == "bernoulli":
            return torch.bernoulli(torch.sigmoid(discrete_logits).expand(n, *discrete_logits.shape))
        return torch.distributions.OneHotCategorical(logits=discrete_logits).sample((n,))

    def sample_prior(self, n: int) -> torch.Tensor:
        """n latents from the uniform prior: (n, *latent_shape)."""
        p = self.decoder[0].weight
        if self.latent == "bernoulli":
            return torch.bernoulli(
                torch.full((n, *self.latent_shape), 0.5, dtype=p.dtype, device=p.device)
            )
        idx = torch.randint(self.latent_shape[1], (n, self.latent_shape[0]), device=p.device)
        return F.one_hot(idx, self.latent_shape[1]).to(p.dtype)

    def forward(self, x: torch.Tensor, n_samples: int, tau: float) -> torch.Tensor:
        logits = self.logits(x)
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
            log_w = -nll + self.log_prior() - self.log_q(dl, b)
            nll_sum += nll.sum(0)
            lse = torch.logaddexp(lse, torch.logsumexp(log_w, 0))
            done += k
        neg_elbo = nll_sum / n_samples + self.kl(dl)
        neg_iw = -(lse - math.log(n_samples))
        return neg_elbo, neg_iw
