"""Categorical-type relaxations: straight-through, decoupled, top-k, generalized Gumbel-Softmax."""

import itertools

import torch
from pyro.distributions import OneHotCategorical, Poisson

from relaxit.distributions import (
    DecoupledStraightThroughGumbelSoftmax,
    GeneralizedGumbelSoftmax,
    GeneralizedGumbelSoftmaxNP,
    GumbelSoftmaxTopK,
    RelaxedOneHotCategoricalStraightThrough,
)
from relaxit.distributions._categorical import one_hot_argmax
from relaxit.testing.example import Example


def _one_hot_view(dist):
    return OneHotCategorical(logits=dist.logits.expand(dist.batch_shape + dist.event_shape))


def _k_hot_support(dist):
    n, k = dist.event_shape[0], dist.K
    rows = []
    for c in itertools.combinations(range(n), k):
        v = torch.zeros(n, dtype=dist.logits.dtype)
        v[list(c)] = 1.0
        rows.append(v)
    s = torch.stack(rows).reshape(len(rows), *[1] * len(dist.batch_shape), n)
    return s.expand(len(rows), *dist.batch_shape, n)


_BAD_PROBS = torch.tensor([0.2, -0.1, 0.9])
_ST = RelaxedOneHotCategoricalStraightThrough
_DST = DecoupledStraightThroughGumbelSoftmax
_GGS = GeneralizedGumbelSoftmax

EXAMPLES = (
    # ---------------------------------------------------------------- straight-through
    Example(
        "RelaxedOneHotCategoricalST/K3",
        _ST,
        {"temperature": torch.tensor(0.7), "probs": torch.tensor([0.2, 0.3, 0.5])},
        law="straight_through",
        hard_view=_one_hot_view,
        hard_map=one_hot_argmax,
        invalid_params=(("probs", _BAD_PROBS), ("temperature", torch.tensor(-1.0))),
        invalid_values=([0.5, 0.6, 0.1],),
    ),
    Example(
        "RelaxedOneHotCategoricalST/batched-temperature",
        _ST,
        {"temperature": torch.tensor([0.5, 1.5]), "logits": torch.tensor([[0.3, -1.0, 0.5]])},
        law="straight_through",
        hard_view=_one_hot_view,
        hard_map=one_hot_argmax,
        invalid_params=(("temperature", torch.tensor([0.5, 0.0])),),
    ),
    Example(
        "RelaxedOneHotCategoricalST/K2",
        _ST,
        {"temperature": torch.tensor(0.8), "logits": torch.tensor([0.4, -0.4])},
        law="straight_through",
        hard_view=_one_hot_view,
        hard_map=one_hot_argmax,
    ),
    Example(
        "RelaxedOneHotCategoricalST/extreme",
        _ST,
        {"temperature": torch.tensor(0.05), "logits": torch.tensor([[50.0, -50.0, 49.95]])},
        law="straight_through",
        hard_view=_one_hot_view,
        hard_map=one_hot_argmax,
        statistical=False,
        extreme=True,
    ),
    Example(
        "RelaxedOneHotCategoricalST/large-K",
        _ST,
        {
            "temperature": torch.tensor(0.5),
            "logits": torch.randn(4, 300, generator=torch.Generator().manual_seed(0)),
        },
        law="straight_through",
        hard_view=_one_hot_view,
        hard_map=one_hot_argmax,
        statistical=False,
    ),
    # ---------------------------------------------------------------- decoupled
    Example(
        "DecoupledSTGumbelSoftmax/K3",
        _DST,
        {
            "temperature_forward": torch.tensor(1.0),
            "temperature_backward": torch.tensor(0.5),
            "probs": torch.tensor([0.2, 0.3, 0.5]),
        },
        law="discrete",
        grad_params=("probs", "temperature_backward"),
        invalid_params=(
            ("probs", _BAD_PROBS),
            ("temperature_forward", torch.tensor(0.0)),
            ("temperature_backward", torch.tensor(-0.5)),
        ),
        invalid_values=([0.5, 0.5, 0.0], [1.0, 1.0, 0.0]),
    ),
    Example(
        "DecoupledSTGumbelSoftmax/batched",
        _DST,
        {
            "temperature_forward": torch.tensor([2.0, 0.5]),
            "temperature_backward": torch.tensor(1.0),
            "logits": torch.tensor([[1.0, -0.5], [0.0, 2.0]]),
        },
        law="discrete",
        grad_params=("logits", "temperature_backward"),
    ),
    Example(
        "DecoupledSTGumbelSoftmax/extreme",
        _DST,
        {
            "temperature_forward": torch.tensor(0.05),
            "temperature_backward": torch.tensor(0.05),
            "logits": torch.tensor([50.0, -50.0, 49.95]),
        },
        law="discrete",
        grad_params=("logits", "temperature_backward"),
        statistical=False,
        extreme=True,
    ),
    Example(
        "DecoupledSTGumbelSoftmax/large-K",
        _DST,
        {
            "temperature_forward": torch.tensor(1.0),
            "temperature_backward": torch.tensor(2.0),
            "logits": torch.randn(2, 500, generator=torch.Generator().manual_seed(1)),
        },
        law="discrete",
        grad_params=("logits", "temperature_backward"),
        statistical=False,
    ),
    # ---------------------------------------------------------------- top-k
    Example(
        "GumbelSoftmaxTopK/n5-K2",
        GumbelSoftmaxTopK,
        {"probs": torch.tensor([0.1, 0.15, 0.2, 0.25, 0.3]), "K": 2, "tau": torch.tensor(0.5)},
        law="discrete",
        support_values=_k_hot_support,
        invalid_params=(
            ("probs", torch.tensor([0.2, -0.1, 0.9, 0.0, 0.0])),
            ("tau", torch.tensor(0.0)),
        ),
        invalid_values=([1.0, 1.0, 1.0, 0.0, 0.0], [0.5, 0.5, 1.0, 0.0, 0.0]),
    ),
    Example(
        "GumbelSoftmaxTopK/batched-K3",
        GumbelSoftmaxTopK,
        {
            "logits": torch.tensor([[0.0, 1.0, -1.0, 0.5], [2.0, 0.0, 0.0, -2.0]]),
            "K": 3,
            "tau": torch.tensor(1.0),
        },
        law="discrete",
        support_values=_k_hot_support,
    ),
    Example(
        "GumbelSoftmaxTopK/K1",
        GumbelSoftmaxTopK,
        {"logits": torch.tensor([0.3, -0.2, 0.1]), "K": 1, "tau": torch.tensor(0.3)},
        law="discrete",
        support_values=_k_hot_support,
    ),
    Example(
        "GumbelSoftmaxTopK/extreme",
        GumbelSoftmaxTopK,
        {"logits": torch.tensor([50.0, -50.0, 0.0, 50.0]), "K": 2, "tau": torch.tensor(0.05)},
        law="discrete",
        support_values=_k_hot_support,
        statistical=False,
        extreme=True,
    ),
    Example(
        "GumbelSoftmaxTopK/large-K10",
        GumbelSoftmaxTopK,
        {
            "logits": torch.randn(3, 200, generator=torch.Generator().manual_seed(2)),
            "K": 10,
            "tau": torch.tensor(0.2),
        },
        law="discrete",
        statistical=False,
    ),
    Example(
        "GumbelSoftmaxTopK/relaxed",
        GumbelSoftmaxTopK,
        {
            "probs": torch.tensor([0.1, 0.2, 0.3, 0.4]),
            "K": 2,
            "tau": torch.tensor(0.5),
            "hard": False,
        },
        law="none",
        law_reason="the relaxed k-hot of K successive softmaxes has no tractable density; "
        "log_prob gives the set mass of the value's top-K set",
        invalid_values=([1.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.5, 0.0]),
    ),
    # ---------------------------------------------------------------- generalized
    Example(
        "GeneralizedGumbelSoftmax/K3",
        _GGS,
        {
            "values": torch.tensor([0.0, 1.0, 5.0]),
            "probs": torch.tensor([0.2, 0.3, 0.5]),
            "tau": torch.tensor(0.7),
        },
        invalid_params=(("probs", _BAD_PROBS), ("tau", torch.tensor(-0.1))),
        invalid_values=([0.5, 0.6, 0.1],),
    ),
    Example(
        "GeneralizedGumbelSoftmax/K2",
        _GGS,
        {
            "values": torch.tensor([-1.0, 1.0]),
            "logits": torch.tensor([0.5, -0.2]),
            "tau": torch.tensor(1.2),
        },
    ),
    Example(
        "GeneralizedGumbelSoftmax/hard-batched",
        _GGS,
        {
            "values": torch.tensor([1.0, 2.0, 3.0]),
            "logits": torch.tensor([[0.0, 1.0, -1.0], [0.5, 0.5, 0.0]]),
            "tau": torch.tensor(0.5),
            "hard": True,
        },
        law="discrete",
        invalid_values=([0.5, 0.5, 0.0],),
    ),
    Example(
        "GeneralizedGumbelSoftmax/extreme",
        _GGS,
        {
            "values": torch.tensor([0.0, 1.0, 2.0]),
            "logits": torch.tensor([50.0, -50.0, 49.95]),
            "tau": torch.tensor(0.05),
        },
        statistical=False,
        extreme=True,
    ),
    Example(
        "GeneralizedGumbelSoftmax/large-K",
        _GGS,
        {
            "values": torch.arange(400.0),
            "logits": torch.randn(2, 400, generator=torch.Generator().manual_seed(3)),
            "tau": torch.tensor(0.5),
        },
        statistical=False,
    ),
    # ------------------------------------------------ generalized, from a torch law
    Example(
        "GeneralizedGumbelSoftmaxNP/poisson-eta",
        GeneralizedGumbelSoftmaxNP,
        # Poisson(1) truncated to its smallest prefix of mass 0.9: values {0, 1, 2}.
        {
            "dist": Poisson(torch.tensor([1.0, 0.7])),
            "values": torch.arange(12.0),
            "tau": torch.tensor(0.6),
            "eta": 0.9,
        },
    ),
    Example(
        "GeneralizedGumbelSoftmaxNP/geometric-hard",
        GeneralizedGumbelSoftmaxNP,
        {
            "dist": torch.distributions.Geometric(torch.tensor(0.5)),
            "values": torch.arange(4.0),
            "tau": torch.tensor(0.5),
            "hard": True,
        },
        law="discrete",
    ),
)
