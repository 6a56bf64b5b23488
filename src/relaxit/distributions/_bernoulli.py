"""Parameter handling shared by the Bernoulli-type classes: ``probs`` or ``logits``, elementwise.

The counterpart of `relaxit.distributions._categorical.ProbsOrLogits` for Bernoulli variables
(no category dim; ``probs`` in [0, 1] and finite ``logits``).
"""

from __future__ import annotations

import torch
from torch.distributions.utils import lazy_property


class BernoulliProbsOrLogits:
    """Mixin: a Bernoulli parameter stored as ``probs`` or ``logits``, the other one lazy.

    Exactly one is stored at construction (`_store_probs_or_logits`), as in
    ``torch.distributions.Bernoulli``. ``logits`` computed from ``probs`` clamps ``probs`` in
    {0, 1} to ``[eps, 1 - eps]`` (like ``probs_to_logits``), so they are finite.
    """

    _given: str = "logits"

    @lazy_property
    def logits(self) -> torch.Tensor:
        probs = self.probs
        return torch.logit(probs, eps=torch.finfo(probs.dtype).eps)

    @lazy_property
    def probs(self) -> torch.Tensor:
        return torch.sigmoid(self.logits)

    @property
    def _param(self) -> torch.Tensor:
        """The stored parameter (``probs`` or ``logits``), as ``torch``'s Bernoulli has it."""
        return self.__dict__[self._given]

    def _store_probs_or_logits(self, which: str, tensor: torch.Tensor) -> None:
        """Store ``tensor`` as ``which`` (``"probs"`` or ``"logits"``)."""
        self._given = which
        setattr(self, which, tensor)

    def _expand_probs_or_logits(self, new: BernoulliProbsOrLogits, shape: torch.Size) -> None:
        """Store this instance's parameter on ``new``, expanded to ``shape``."""
        new._store_probs_or_logits(self._given, self._param.expand(shape))
