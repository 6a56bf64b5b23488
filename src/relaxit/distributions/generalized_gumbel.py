"""Generalized Gumbel-Softmax (Joo et al. 2020): Gumbel-Softmax over a finite set of values."""

from __future__ import annotations

from typing import ClassVar

import torch
from pyro.distributions import TorchDistribution
from torch.distributions import Distribution, constraints

from relaxit.distributions._categorical import ProbsOrLogits, logits_from, one_hot_argmax
from relaxit.distributions._gumbel import concrete_log_density, gumbel_like


class GeneralizedGumbelSoftmax(ProbsOrLogits, TorchDistribution):
    r"""Gumbel-Softmax relaxation of a discrete variable taking finitely many ``values``.

    Method: Joo, Kim, Kim, Ryu & Moon (2020), "Generalized Gumbel-Softmax Gradient Estimator for
    Generic Discrete Random Variables". The variable takes ``values[k]`` with probability
    ``p_k``; ``rsample`` returns relaxed one-hot weights
    ``w = softmax((log p + g) / tau)`` (``g`` Gumbel(0, 1)), or with ``hard=True`` the one-hot
    ``one_hot(argmax w)`` forward with the gradient of ``w`` (straight-through).
    ``rsample_value`` returns ``sum_k w_k * values[k]``.

    ``log_prob``: ``hard=False``: the Concrete density of ``w`` (base measure: Lebesgue measure
    on the first K-1 simplex coordinates); ``hard=True``: the categorical log-mass of a one-hot
    value (counting measure on the K one-hot vectors).

    Shapes: ``values`` ``(K,)`` or ``(*batch, K)``; ``probs``/``logits`` ``(*batch, K)``;
    ``rsample(sample_shape)`` is ``sample_shape + batch + (K,)``, ``rsample_value`` is
    ``sample_shape + batch``.

    Examples:
        >>> import torch
        >>> d = GeneralizedGumbelSoftmax(torch.arange(3.0), probs=torch.tensor([0.2, 0.3, 0.5]))
        >>> d.rsample((5,)).shape, d.rsample_value((5,)).shape
        (torch.Size([5, 3]), torch.Size([5]))
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "probs": constraints.simplex,
        "logits": constraints.real_vector,
        "tau": constraints.positive,
    }
    has_rsample = True

    def __init__(self, values, probs=None, logits=None, tau=0.5, hard=False, validate_args=None):
        tensor, is_probs = logits_from(probs, logits, type(self).__name__)
        values = torch.as_tensor(values, dtype=tensor.dtype, device=tensor.device)
        if values.dim() < 1 or values.shape[-1] != tensor.shape[-1]:
            raise ValueError(
                f"GeneralizedGumbelSoftmax: `values` has shape {tuple(values.shape)} but "
                f"`{'probs' if is_probs else 'logits'}` has {tensor.shape[-1]} categories in its "
                "last dimension; they must match"
            )
        tau = (
            tau
            if torch.is_tensor(tau)
            else torch.tensor(tau, dtype=tensor.dtype, device=tensor.device)
        )
        k = tensor.shape[-1]
        batch_shape = torch.broadcast_shapes(tensor.shape[:-1], values.shape[:-1], tau.shape)
        if is_probs:
            self.probs = tensor.expand((*batch_shape, k))
        else:
            self.logits = tensor.expand((*batch_shape, k))
        self.values = values.expand((*batch_shape, k))
        self.tau = tau.expand(batch_shape)
        self.hard = bool(hard)
        super().__init__(batch_shape, torch.Size((k,)), validate_args=validate_args)

    @property
    def support(self):
        return constraints.one_hot if self.hard else constraints.simplex

    @property
    def has_enumerate_support(self) -> bool:
        """``hard=True`` takes K one-hot values, which Pyro's ``TraceEnum_ELBO`` enumerates."""
        return self.hard

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(GeneralizedGumbelSoftmax, _instance)
        batch_shape = torch.Size(batch_shape)
        k = self.event_shape
        self._expand_probs_or_logits(new, batch_shape + k)
        new.values = self.values.expand(batch_shape + k)
        new.tau = self.tau.expand(batch_shape)
        new.hard = self.hard
        super(GeneralizedGumbelSoftmax, new).__init__(batch_shape, k, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> torch.Tensor:
        if self.hard:
            return self.probs
        raise NotImplementedError

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        logits = self.logits
        shape = self._extended_shape(sample_shape)
        w = torch.softmax((logits + gumbel_like(logits, shape)) / self.tau.unsqueeze(-1), -1)
        if self.hard:
            return one_hot_argmax(w.detach()) + (w - w.detach())
        return w

    def rsample_value(self, sample_shape=torch.Size()) -> torch.Tensor:
        """``sum_k w_k * values[k]`` for relaxed (or one-hot) weights ``w`` from ``rsample``."""
        return (self.rsample(sample_shape) * self.values).sum(-1)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        if not self.hard:
            raise NotImplementedError("the relaxed (hard=False) law is continuous")
        k = self.event_shape[0]
        values = torch.eye(k, dtype=self.values.dtype, device=self.values.device)
        values = values.reshape((k,) + (1,) * len(self.batch_shape) + (k,))
        return values.expand((k, *self.batch_shape, k)) if expand else values

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits = self._normalized_logits()
        if self.hard:
            value, logits = torch.broadcast_tensors(value, logits)
            return logits.gather(-1, value.argmax(-1, keepdim=True)).squeeze(-1)
        return concrete_log_density(logits, self.tau, value)


class GeneralizedGumbelSoftmaxNP(GeneralizedGumbelSoftmax):
    r"""`GeneralizedGumbelSoftmax` built from any torch distribution over ``values``.

    Method: Joo et al. (2020), the truncation of a (possibly infinite-support) discrete law
    (Poisson, Geometric, Binomial, ...). The masses are ``dist.log_prob(values)``; when ``eta``
    is given, ``values`` is cut to its smallest prefix ``values[:m]`` whose mass reaches ``eta``
    (for every batch element: ``m`` is the largest over the batch), and the masses are
    renormalized over the kept values.

    Shapes: ``values`` ``(K,)`` (1-D, evaluated by ``dist`` with its batch shape broadcast in
    front): ``dist.log_prob(values.reshape(K, 1, ..., 1))`` gives ``(K, *dist.batch_shape)``.

    Examples:
        >>> import torch
        >>> d = GeneralizedGumbelSoftmaxNP(torch.distributions.Poisson(torch.tensor(2.0)),
        ...                                torch.arange(20.0), eta=0.99)
        >>> d.values.shape
        torch.Size([7])
    """

    def __init__(
        self,
        dist: Distribution,
        values,
        tau=0.5,
        eta: float | None = None,
        hard: bool = False,
        validate_args=None,
    ):
        if not isinstance(dist, Distribution) or dist.event_shape != torch.Size():
            raise ValueError(
                "GeneralizedGumbelSoftmaxNP: `dist` must be a scalar torch Distribution"
            )
        values = torch.as_tensor(values)
        if values.dim() != 1:
            raise ValueError(
                f"GeneralizedGumbelSoftmaxNP: `values` must be 1-D, got {tuple(values.shape)}"
            )
        nb = len(dist.batch_shape)
        log_mass = dist.log_prob(values.reshape((-1,) + (1,) * nb)).movedim(0, -1)  # (*batch, K)
        if eta is not None:
            if not 0.0 < float(eta) <= 1.0:
                raise ValueError(f"GeneralizedGumbelSoftmaxNP: `eta` must be in (0, 1], got {eta}")
            cum = log_mass.exp().cumsum(-1)
            reached = cum >= float(eta)
            if not bool(reached[..., -1].all()):
                raise ValueError(
                    "GeneralizedGumbelSoftmaxNP: `values` holds less than mass `eta`; extend it"
                )
            m = int(reached.float().argmax(-1).max()) + 1  # first index reaching eta, +1
            values, log_mass = values[:m], log_mass[..., :m]
        self.dist, self.eta = dist, eta
        super().__init__(
            values.to(log_mass.dtype),
            logits=log_mass,  # renormalized over the kept values where needed (log_prob)
            tau=tau,
            hard=hard,
            validate_args=validate_args,
        )

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(GeneralizedGumbelSoftmaxNP, _instance)
        new = super().expand(batch_shape, _instance=new)
        new.dist, new.eta = self.dist, self.eta
        return new
