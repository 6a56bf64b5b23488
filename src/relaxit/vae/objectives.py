"""What a training step minimises for the discrete latent: the per-example loss
E_q[-log p(x|b)] of one method, whose gradient with respect to the encoder's logits is the
method's -- a relaxation's reparametrized sample (`Relaxation`) or a gradient estimator of
`relaxit.estimators` (`Estimated`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.distributions import Bernoulli, OneHotCategorical

from relaxit.estimators import BERNOULLI, Estimator

NLL = Callable[[torch.Tensor], torch.Tensor]
"""Maps latents (S, B, *latent_shape) to -log p(x|z) of shape (S, B)."""


class LatentObjective(nn.Module):
    """Per-example training loss E_q[-log p(x|b)] of one method, shape (B,), whose gradient with
    respect to the encoder's logits is the method's estimator. Holds the estimator's state."""

    def discrete_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits of the discrete posterior q(b|x) that this method's samples threshold to."""
        return logits

    def forward(
        self, logits: torch.Tensor, nll: NLL, n_samples: int, tau: float
    ) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class Relaxation(LatentObjective):
    """``z = dist(logits, tau).rsample((S,))`` fed to the decoder; the loss is the mean of
    -log p(x|z) over the S samples."""

    def __init__(
        self,
        make_dist: Callable[[torch.Tensor, torch.Tensor], Any],
        to_discrete: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        self.make_dist = make_dist
        self.to_discrete = to_discrete

    def discrete_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits if self.to_discrete is None else self.to_discrete(logits)

    def forward(self, logits: torch.Tensor, nll: NLL, n_samples: int, tau: float) -> torch.Tensor:
        temperature = torch.tensor(tau, dtype=logits.dtype, device=logits.device)
        z = self.make_dist(logits, temperature).rsample((n_samples,))
        return nll(z).mean(0)


class Estimated(LatentObjective):
    """``est(f, q, S)`` of ``relaxit.estimators`` with f = -log p(x|b) per sample and data item
    (m = 1). The estimator's ``temperature``, when it has one, follows the annealing schedule.

    An estimator with trainable parameters (REBAR's ``eta`` and ``log_temperature``, RELAX's
    control network) is tuned as their papers do (Tucker et al. 2017 adapt eta and the
    temperature online; Grathwohl et al. 2018, section 3.3): those parameters descend the
    variance surrogate of
    ``est.loss_and_variance``, while the model's parameters descend the loss, in one backward
    pass (so that DistributedDataParallel sees every gradient): the returned loss carries the
    extra term ``sum_p <p - p.detach(), dV/dp>``, zero in value, whose gradient is ``dV/dp`` for
    the estimator's parameters and nothing for the rest.
    """

    def __init__(self, estimator: Estimator, latent: str, anneal: bool = True):
        super().__init__()
        self.estimator = estimator
        self.latent = latent
        self.anneal = anneal

    @property
    def multi_sample(self) -> bool:
        """Whether the estimator trains a multi-sample bound (``objective == "log-mean-exp"``):
        then ``f`` is given log-weights ``log p(x, b) - log q(b|x)`` and returns the bound."""
        return self.estimator.objective == "log-mean-exp"

    @property
    def tuned(self) -> list[nn.Parameter]:
        """The estimator's parameters tuned on its variance surrogate: those of an estimator
        with ``loss_and_variance`` (REBAR, RELAX) that require grad; none for the others."""
        if not hasattr(self.estimator, "loss_and_variance"):
            return []
        return [p for p in self.estimator.parameters() if p.requires_grad]

    def forward(self, logits: torch.Tensor, nll: NLL, n_samples: int, tau: float) -> torch.Tensor:
        if (
            self.anneal
            and hasattr(self.estimator, "temperature")
            and not isinstance(self.estimator.temperature, torch.Tensor)
        ):
            self.estimator.temperature = tau
        dist = (
            Bernoulli(logits=logits)
            if self.latent == BERNOULLI
            else OneHotCategorical(logits=logits)
        )
        tuned = self.tuned
        if not (tuned and torch.is_grad_enabled()):
            return self.estimator(nll, dist, n_samples)
        loss, variance = self.estimator.loss_and_variance(nll, dist, n_samples)
        grads = torch.autograd.grad(variance, tuned, retain_graph=True, allow_unused=True)
        tuning = sum(
            ((p - p.detach()) * g).sum() for p, g in zip(tuned, grads, strict=True) if g is not None
        )
        return loss + tuning
