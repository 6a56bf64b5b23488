"""Straight-through Gumbel-Softmax categoricals: one-hot forward, relaxed gradient backward."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch.distributions import constraints

from relaxit.distributions._categorical import ProbsOrLogits, logits_from, one_hot_argmax
from relaxit.distributions._gumbel import concrete_log_density, gumbel_like
from relaxit.distributions._numerics import simplex
from relaxit.distributions._params import (
    CheckedDistribution,
    broadcast_batch,
    finite_positive,
    finite_real_vector,
    float_params,
)


class _TemperedCategorical(ProbsOrLogits, CheckedDistribution):
    """Common parameter handling: ``logits``/``probs`` over K categories and temperatures that
    broadcast with the batch shape of the logits."""

    has_rsample = True
    _temperature_names: tuple[str, ...] = ()

    def __init__(self, temperatures: dict, probs=None, logits=None, validate_args=None):
        owner = type(self).__name__
        tensor, is_probs = logits_from(probs, logits, owner)
        temps = float_params(owner, _=tensor, **temperatures)
        del temps["_"]  # (the logits give the temperatures' dtype and device)
        which = "probs" if is_probs else "logits"
        batch_shape = broadcast_batch(
            owner,
            {f"{which}[..., :-1]": tensor.shape[:-1], **{k: t.shape for k, t in temps.items()}},
        )
        k = tensor.shape[-1]
        if is_probs:
            self.probs = tensor.expand((*batch_shape, k))
            self._param = self.probs
        else:
            self.logits = tensor.expand((*batch_shape, k))
            self._param = self.logits
        for name, t in temps.items():
            setattr(self, name, t.expand(batch_shape))
        self._init_checked(batch_shape, torch.Size((k,)), validate_args=validate_args)

    @property
    def param_shape(self) -> torch.Size:
        return self._param.shape

    def expand(self, batch_shape, _instance=None):
        new = self._get_checked_instance(type(self), _instance)
        batch_shape = torch.Size(batch_shape)
        k = self.event_shape
        if "probs" in self.__dict__:
            new.probs = self.probs.expand(batch_shape + k)
            new._param = new.probs
        if "logits" in self.__dict__:
            new.logits = self.logits.expand(batch_shape + k)
            new._param = new.logits
        for name in self._temperature_names:
            setattr(new, name, getattr(self, name).expand(batch_shape))
        new._init_expanded(batch_shape, k, self._validate_args)
        return new

    def _relaxed(self, sample_shape: torch.Size, temperature: torch.Tensor) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        scores = logits + gumbel_like(logits, shape)
        return torch.softmax(scores / temperature.unsqueeze(-1), -1), scores


class RelaxedOneHotCategoricalStraightThrough(_TemperedCategorical):
    r"""Straight-through Gumbel-Softmax with Pyro's semantics.

    Method: Jang, Gu & Poole (2017), "Categorical Reparameterization with Gumbel-Softmax" (the
    ST variant), Maddison, Mnih & Teh (2017), "The Concrete Distribution". A relaxed sample
    ``y = softmax((logits + g) / temperature)``, ``g`` i.i.d. Gumbel(0, 1), is quantized to the
    one-hot ``one_hot(argmax y)`` in the forward pass; the backward pass uses ``dy/dparams``
    (``x = hard + y - y.detach()``). As in Pyro's ``RelaxedOneHotCategoricalStraightThrough``,
    the relaxed value is kept on the returned tensor as ``x._unquantize`` and
    ``log_prob(x)`` evaluates the Concrete density at it:

    ``log p(y) = lgamma(K) + (K-1) log T + sum_k (l_k - (T+1) log y_k)
    - K logsumexp_k(l_k - T log y_k)``

    Base measure: Lebesgue measure on the first K-1 coordinates of the simplex. The hard values
    follow ``OneHotCategorical(logits)``.

    Unlike torch's/Pyro's class, ``temperature`` broadcasts with the batch shape of the logits.

    ``_unquantize`` is a Python attribute: ``x.detach()``, ``x.clone()``, indexing and
    arithmetic do not carry it, and ``log_prob`` of such a tensor is the Concrete density at the
    tensor itself (entries clamped to the smallest normal number: finite, but not the density of
    the relaxed value). Call ``log_prob`` on the tensor ``rsample`` returned. A function that
    samples and calls ``log_prob`` under ``torch.compile`` keeps the attribute (checked with
    torch 2.13 on CPU).

    Shapes: ``logits``/``probs`` ``(*batch, K)``, ``temperature`` broadcastable to ``batch``;
    ``rsample(sample_shape)`` is ``sample_shape + batch + (K,)``; ``log_prob`` is
    ``sample_shape + batch``.

    Examples:
        >>> import torch
        >>> d = RelaxedOneHotCategoricalStraightThrough(0.5, logits=torch.zeros(4, 3))
        >>> x = d.rsample((2,))
        >>> x.shape, d.log_prob(x).shape
        (torch.Size([2, 4, 3]), torch.Size([2, 4]))
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "probs": simplex,
        "logits": finite_real_vector,
        "temperature": finite_positive,
    }
    support = simplex
    _temperature_names = ("temperature",)

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        super().__init__(
            {"temperature": temperature}, probs=probs, logits=logits, validate_args=validate_args
        )

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        soft, _ = self._relaxed(torch.Size(sample_shape), self.temperature)
        hard = one_hot_argmax(soft.detach())
        out = hard + (soft - soft.detach())
        out._unquantize = soft
        return out

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        value = getattr(value, "_unquantize", value)
        if self._validate_args:
            self._validate_sample(value)
        return concrete_log_density(self._normalized_logits(), self.temperature, value)


class DecoupledStraightThroughGumbelSoftmax(_TemperedCategorical):
    r"""Decoupled straight-through Gumbel-Softmax: one temperature forward, another backward.

    Method: Shah, Widmann & Jenssen (2024), "Improving Discrete Optimisation Via Decoupled
    Straight-Through Gumbel-Softmax". With one Gumbel draw ``g`` shared by both passes:

    * forward: ``hard = one_hot(argmax softmax((logits + g) / temperature_forward))``;
    * backward: the gradient of ``y_b = softmax((logits + g) / temperature_backward)``,
      i.e. ``x = hard + y_b - y_b.detach()``.

    Because the forward value is one-hot and ``argmax`` is invariant to a positive scale,
    ``temperature_forward`` does not change the sampled value (it is kept for the paper's
    interface and validated); all the method's effect is through ``temperature_backward``.

    ``log_prob`` of a one-hot value is the categorical log-mass ``log p_k`` (base measure:
    counting measure on the K one-hot vectors); the hard samples follow ``OneHotCategorical``.

    Shapes: ``logits``/``probs`` ``(*batch, K)``, temperatures broadcast to ``batch``;
    ``rsample(sample_shape)`` is ``sample_shape + batch + (K,)``.

    Examples:
        >>> import torch
        >>> d = DecoupledStraightThroughGumbelSoftmax(1.0, 0.3, logits=torch.zeros(4, 3))
        >>> x = d.rsample((2,))
        >>> x.shape, d.log_prob(x).shape
        (torch.Size([2, 4, 3]), torch.Size([2, 4]))
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {
        "probs": simplex,
        "logits": finite_real_vector,
        "temperature_forward": finite_positive,
        "temperature_backward": finite_positive,
    }
    support = constraints.one_hot
    has_enumerate_support = True  # Pyro's TraceEnum_ELBO enumerates the K one-hot values
    _temperature_names = ("temperature_forward", "temperature_backward")

    def __init__(
        self, temperature_forward, temperature_backward, probs=None, logits=None, validate_args=None
    ):
        super().__init__(
            {
                "temperature_forward": temperature_forward,
                "temperature_backward": temperature_backward,
            },
            probs=probs,
            logits=logits,
            validate_args=validate_args,
        )

    def rsample(self, sample_shape=torch.Size()) -> torch.Tensor:
        soft_b, scores = self._relaxed(torch.Size(sample_shape), self.temperature_backward)
        # argmax of softmax(scores / temperature_forward) == argmax of scores.
        hard = one_hot_argmax(scores.detach())
        return hard + (soft_b - soft_b.detach())

    @property
    def mean(self) -> torch.Tensor:
        """``probs``: the forward value is one-hot with ``P(x_k = 1) = p_k``."""
        return self.probs

    @property
    def variance(self) -> torch.Tensor:
        """``probs * (1 - probs)``, per coordinate of the one-hot value."""
        return self.probs * (1 - self.probs)

    def enumerate_support(self, expand: bool = True) -> torch.Tensor:
        k = self.event_shape[0]
        values = torch.eye(k, dtype=self._param.dtype, device=self._param.device)
        values = values.reshape((k,) + (1,) * len(self.batch_shape) + (k,))
        if expand:
            values = values.expand((k, *self.batch_shape, k))
        return values

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits = self._normalized_logits()
        value, logits = torch.broadcast_tensors(value, logits)
        return logits.gather(-1, value.argmax(-1, keepdim=True)).squeeze(-1)
