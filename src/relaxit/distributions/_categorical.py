"""Parameter handling shared by the categorical-type classes (`probs` or `logits`, last dim K)."""

from __future__ import annotations

import torch
from torch.distributions.utils import lazy_property, logits_to_probs, probs_to_logits

from relaxit._sampling import one_hot_argmax as one_hot_argmax  # the shared core
from relaxit.distributions._params import float_params, probs_or_logits


def logits_from(probs, logits, name: str) -> tuple[torch.Tensor, bool]:
    """The one parameter given, as a floating tensor with a category dim, and whether it is
    ``probs``.

    ``probs`` are renormalized over the last dim, as ``torch.distributions.Categorical`` does;
    integer/bool tensors are promoted to the default float dtype. Raises ``ValueError`` naming
    ``name`` unless exactly one of the two is given with >= 1 dim and >= 1 category.
    """
    which, tensor = probs_or_logits(name, probs, logits)
    is_probs = which == "probs"
    (tensor,) = float_params(name, **{which: tensor}).values()
    if tensor.dim() < 1 or tensor.shape[-1] < 1:
        raise ValueError(
            f"{name}: `{which}` must have a last dimension of at least one category, "
            f"got shape {tuple(tensor.shape)}"
        )
    if is_probs:
        tensor = tensor / tensor.sum(-1, keepdim=True)
    return tensor, is_probs


class ProbsOrLogits:
    """Mixin: a categorical parameter stored as ``probs`` or ``logits`` (shape ``batch + (K,)``).

    Exactly one is set at construction; the other is computed lazily, as in
    ``torch.distributions.Categorical``.
    """

    @lazy_property
    def logits(self) -> torch.Tensor:
        return probs_to_logits(self.probs)

    @lazy_property
    def probs(self) -> torch.Tensor:
        return logits_to_probs(self.logits)

    def _normalized_logits(self) -> torch.Tensor:
        """Log-probabilities, ``batch + (K,)``."""
        # `probs_to_logits` already normalizes; user logits need a log-softmax.
        if "logits" in self.__dict__ and "probs" not in self.__dict__:
            return self.logits - self.logits.logsumexp(-1, keepdim=True)
        return self.logits

    def _expand_probs_or_logits(self, new: ProbsOrLogits, shape: torch.Size) -> None:
        """Set on ``new`` whichever of ``probs``/``logits`` this instance holds, expanded."""
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(shape)
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(shape)
