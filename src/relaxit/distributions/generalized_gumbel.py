"""Generalized Gumbel-Softmax (Joo et al. 2020): Gumbel-Softmax over a finite set of values."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch.distributions import Distribution, constraints

from relaxit.distributions._categorical import ProbsOrLogits, logits_from, one_hot_argmax
from relaxit.distributions._gumbel import concrete_log_density, gumbel_like
from relaxit.distributions._numerics import simplex
from relaxit.distributions._params import (
    CheckedDistribution,
    broadcast_batch,
    finite_positive,
    finite_real_vector,
    float_params,
    resolve_alias,
)


class GeneralizedGumbelSoftmax(ProbsOrLogits, CheckedDistribution):
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

    Args: ``values`` (finite; NaN or inf is a ``ValueError`` when validating); ``probs`` or
    ``logits`` (finite); ``temperature`` (or the paper's name ``tau``; default 0.5) finite and
    > 0, broadcast with ``batch``; ``hard``.

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
        "probs": simplex,
        "logits": finite_real_vector,
        "temperature": finite_positive,
        "tau": finite_positive,  # the paper's name, an alias of temperature
    }
    has_rsample = True

    def __init__(
        self,
        values,
        probs=None,
        logits=None,
        tau=None,
        hard=False,
        validate_args=None,
        *,
        temperature=None,
    ):
        owner = type(self).__name__
        temperature, t_name = resolve_alias(
            owner, "temperature", temperature, "tau", tau, default=0.5
        )
        tensor, is_probs = logits_from(probs, logits, owner)
        which = "probs" if is_probs else "logits"
        params = float_params(owner, _=tensor, values=values, **{t_name: temperature})
        values, temperature = params["values"], params[t_name]
        values = values.to(dtype=tensor.dtype)
        if values.dim() < 1 or values.shape[-1] != tensor.shape[-1]:
            raise ValueError(
                f"{owner}: `values` has shape {tuple(values.shape)} but `{which}` has "
                f"{tensor.shape[-1]} categories in its last dimension; they must match"
            )
        k = tensor.shape[-1]
        batch_shape = broadcast_batch(
            owner,
            {
                f"{which}[..., :-1]": tensor.shape[:-1],
                "values[..., :-1]": values.shape[:-1],
                t_name: temperature.shape,
            },
        )
        if is_probs:
            self.probs = tensor.expand((*batch_shape, k))
        else:
            self.logits = tensor.expand((*batch_shape, k))
        self.values = values.expand((*batch_shape, k))
        self.temperature = temperature.expand(batch_shape)
        self.hard = bool(hard)
        self._init_checked(
            batch_shape, torch.Size((k,)), validate_args, names={"temperature": t_name}
        )
        if self._validate_args and not bool(torch.isfinite(self.values.detach()).all()):
            raise ValueError(f"{owner}: `values` must be finite, got {self.values}")

    @property
    def tau(self) -> torch.Tensor:
        """The paper's name for ``temperature``."""
        return self.temperature

    @property
    def support(self):
        return constraints.one_hot if self.hard else simplex

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
        new.temperature = self.temperature.expand(batch_shape)
        new.hard = self.hard
        new._init_expanded(batch_shape, k, self._validate_args)
        return new

    @property
    def mean(self) -> torch.Tensor:
        if self.hard:
            return self.probs
        raise NotImplementedError

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        logits = self.logits
        shape = self._extended_shape(sample_shape)
        scores = logits + gumbel_like(logits, shape)
        w = torch.softmax(scores / self.temperature.unsqueeze(-1), -1)
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
        return concrete_log_density(logits, self.temperature, value)


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
        tau=None,
        eta: float | None = None,
        hard: bool = False,
        validate_args=None,
        *,
        temperature=None,
    ):
        if not isinstance(dist, Distribution) or dist.event_shape != torch.Size():
            raise ValueError(
                "GeneralizedGumbelSoftmaxNP: `dist` must be a scalar torch Distribution"
            )
        values = torch.as_tensor(values)
        if values.dim() != 1 or values.numel() == 0:
            raise ValueError(
                "GeneralizedGumbelSoftmaxNP: `values` must be 1-D with at least one value, got "
                f"shape {tuple(values.shape)}"
            )
        nb = len(dist.batch_shape)
        log_mass = dist.log_prob(values.reshape((-1,) + (1,) * nb)).movedim(0, -1)  # (*batch, K)
        if not bool((log_mass < float("inf")).all() & (log_mass == log_mass).all()):
            raise ValueError("GeneralizedGumbelSoftmaxNP: `dist.log_prob(values)` is NaN or +inf")
        if not bool(torch.isfinite(log_mass).all()):
            raise ValueError(
                "GeneralizedGumbelSoftmaxNP: some `values` have zero mass under `dist` (outside "
                "its support); keep only values in the support"
            )
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
            temperature=temperature,
        )

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(GeneralizedGumbelSoftmaxNP, _instance)
        new = super().expand(batch_shape, _instance=new)
        new.dist, new.eta = self.dist, self.eta
        return new
