"""The k-subset gradient methods `relaxit select` compares, behind one interface.

Each method turns selector logits ``theta`` (B, n) into the training loss of the whole model,
given ``loss_of(z)``: the classifier's per-example loss on the images masked by k-hot (or
relaxed k-hot) selections ``z`` of shape (S, B, n) -> (S, B).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from relaxit.distributions import GumbelSoftmaxTopK, KSubset
from relaxit.structured import imle, top_k_k_hot

LossOf = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Method:
    """A named way to train through a k-subset choice."""

    name: str
    paper: str
    what: str
    n_samples: int
    loss: Callable[[torch.Tensor, int, LossOf], torch.Tensor]


def _gumbel_topk(theta: torch.Tensor, k: int, loss_of: LossOf, tau: float = 0.5) -> torch.Tensor:
    z = GumbelSoftmaxTopK(logits=theta, K=k, tau=tau, hard=False).rsample()
    return loss_of(z.unsqueeze(0)).mean()


def _simple(theta: torch.Tensor, k: int, loss_of: LossOf) -> torch.Tensor:
    z = KSubset(theta, k).rsample()
    return loss_of(z.unsqueeze(0)).mean()


def _imle(theta: torch.Tensor, k: int, loss_of: LossOf, lambda_: float = 100.0) -> torch.Tensor:
    z = imle(top_k_k_hot(k), noise="sum-of-gamma", k=k, lambda_=lambda_)(theta)
    return loss_of(z.unsqueeze(0)).mean()


def _score_function(
    theta: torch.Tensor, k: int, loss_of: LossOf, n_samples: int = 4
) -> torch.Tensor:
    dist = KSubset(theta, k)
    z = dist.sample((n_samples,))  # (S, B, n), exact k-subsets
    losses = loss_of(z)  # (S, B): pathwise to the classifier
    baseline = (losses.sum(0, keepdim=True) - losses) / (n_samples - 1)  # leave-one-out
    score = ((losses - baseline).detach() * dist.log_prob(z)).mean()
    return losses.mean() + score - score.detach()


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "gumbel-topk",
            "Xie & Ermon 2019 (as in L2X, Chen et al. 2018)",
            "GumbelSoftmaxTopK(tau=0.5, hard=False): relaxed k-hot of K successive softmaxes",
            1,
            _gumbel_topk,
        ),
        Method(
            "simple",
            "Ahmed et al. 2023",
            "KSubset.rsample: exact k-subset sample forward, exact marginals' gradient backward",
            1,
            _simple,
        ),
        Method(
            "imle",
            "Niepert, Minervini & Franceschi 2021",
            "imle(top-k, sum-of-gamma noise, lambda=100): perturb-and-MAP k-hot forward "
            "(lambda=10 left the selector untrained on the planted test task: the paper's "
            "gradient is not divided by lambda)",
            1,
            _imle,
        ),
        Method(
            "score-function",
            "Williams 1992; leave-one-out baseline (Kool et al. 2019)",
            "REINFORCE on KSubset's exact log_prob, 4 samples, leave-one-out baseline",
            4,
            _score_function,
        ),
    )
}
"""The methods, by command-line name."""
