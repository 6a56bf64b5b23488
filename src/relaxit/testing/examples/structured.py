"""Structured distributions: k-subsets (`KSubset`), rankings (`PlackettLuce`), spanning trees
(`SpanningTree`) and arborescences (`Arborescence`)."""

import torch

from relaxit.distributions import Arborescence, KSubset, PlackettLuce, SpanningTree
from relaxit.testing.example import Example

_NAN_LOGITS = torch.tensor([0.0, float("nan"), 1.0, 0.0, 0.5, -0.5])

EXAMPLES = (
    # ---------------------------------------------------------------- k-subsets
    Example(
        "KSubset/n6-k3",
        KSubset,
        {"logits": torch.tensor([0.5, -1.0, 0.0, 1.5, -0.3, 0.8]), "k": 3},
        law="discrete",
        invalid_params=(("logits", _NAN_LOGITS),),
        invalid_values=([1.0, 1.0, 1.0, 1.0, 0.0, 0.0], [0.5, 0.5, 1.0, 1.0, 0.0, 0.0]),
    ),
    Example(
        "KSubset/batched-k2",
        KSubset,
        {"logits": torch.tensor([[0.0, 1.0, -1.0, 0.5], [2.0, 0.0, 0.0, -2.0]]), "k": 2},
        law="discrete",
    ),
    Example(
        "KSubset/k1",
        KSubset,
        {"logits": torch.tensor([0.3, -0.2, 0.1]), "k": 1},
        law="discrete",
    ),
    Example(
        "KSubset/extreme",
        KSubset,
        {"logits": torch.tensor([50.0, -50.0, 0.0, 50.0, 49.95]), "k": 2},
        law="discrete",
        statistical=False,
        extreme=True,
    ),
    Example(
        "KSubset/large-k10",
        KSubset,
        {"logits": torch.randn(3, 200, generator=torch.Generator().manual_seed(4)), "k": 10},
        law="discrete",
        statistical=False,
    ),
    # ---------------------------------------------------------------- rankings
    Example(
        "PlackettLuce/n5",
        PlackettLuce,
        {"logits": torch.tensor([1.0, -0.5, 0.3, 0.0, -1.2])},
        law="discrete",
        grad_params=(),
        invalid_params=(("logits", torch.tensor([0.0, float("nan"), 1.0])),),
        invalid_values=([0, 0, 1, 2, 3], [0, 1, 2, 3, 5], [0.5, 1, 2, 3, 4]),
    ),
    Example(
        "PlackettLuce/batched-n3",
        PlackettLuce,
        {"logits": torch.tensor([[0.0, 1.0, -1.0], [2.0, 0.0, 0.5]])},
        law="discrete",
        grad_params=(),
    ),
    Example(
        "PlackettLuce/extreme",
        PlackettLuce,
        {"logits": torch.tensor([50.0, -50.0, 0.0, 49.95])},
        law="discrete",
        grad_params=(),
        statistical=False,
        extreme=True,
    ),
    Example(
        "PlackettLuce/large-n",
        PlackettLuce,
        {"logits": torch.randn(2, 300, generator=torch.Generator().manual_seed(5))},
        law="discrete",
        grad_params=(),
        statistical=False,
    ),
    # ---------------------------------------------------------------- spanning trees
    Example(
        "SpanningTree/n4",
        SpanningTree,
        {
            "edge_logits": torch.tensor(
                [[0.0, 0.5, -0.3, 1.0], [0.0, 0.0, 0.2, -0.8], [0.0, 0.0, 0.0, 0.4], [0.0] * 4]
            )
        },
        law="discrete",
        grad_params=(),
        invalid_params=(("edge_logits", torch.tensor([[0.0, float("nan")], [0.0, 0.0]])),),
        invalid_values=(
            [[0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]],  # a cycle, vertex 3 alone
            [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]],  # two edges only
            [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 0, 0, 0]],  # below the diagonal
            [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0.5], [0, 0, 0, 0]],  # not 0/1
        ),
    ),
    Example(
        "SpanningTree/batched-n3",
        SpanningTree,
        {"edge_logits": torch.tensor([[[0.0, 1.0, -1.0], [0.0, 0.0, 0.5], [0.0, 0.0, 0.0]]] * 2)},
        law="discrete",
        grad_params=(),
    ),
    Example(
        "SpanningTree/extreme",
        SpanningTree,
        {
            "edge_logits": torch.tensor(
                [
                    [0.0, 50.0, -50.0, 0.0],
                    [0.0, 0.0, 49.95, -50.0],
                    [0.0, 0.0, 0.0, 50.0],
                    [0.0] * 4,
                ]
            )
        },
        law="discrete",
        grad_params=(),
        statistical=False,
        extreme=True,
    ),
    Example(
        "SpanningTree/large-n12",
        SpanningTree,
        {"edge_logits": torch.randn(2, 12, 12, generator=torch.Generator().manual_seed(6))},
        law="discrete",
        grad_params=(),
        statistical=False,
    ),
    # ---------------------------------------------------------------- arborescences
    Example(
        "Arborescence/n4-root1",
        Arborescence,
        {
            "edge_logits": torch.tensor(
                [
                    [0.0, 0.5, -0.3, 1.0],
                    [0.2, 0.0, 0.2, -0.8],
                    [1.0, 0.3, 0.0, 0.4],
                    [0.0, -0.5, 0.7, 0.0],
                ]
            ),
            "root": 1,
        },
        law="discrete",
        grad_params=(),
        invalid_params=(("edge_logits", torch.tensor([[0.0, float("nan")], [0.0, 0.0]])),),
        invalid_values=(
            [[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],  # 2 and 3 parent each other
            [[0, 0, 1, 0], [1, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]],  # vertex 2 has two parents
            [[0, 1, 1, 0], [1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]],  # an edge into the root
            [[0, 0, 0, 0], [1, 0, 0.5, 1], [0, 0, 0, 0], [0, 0, 0, 0]],  # not 0/1
        ),
    ),
    Example(
        "Arborescence/batched-n3",
        Arborescence,
        {"edge_logits": torch.tensor([[[0.0, 1.0, -1.0], [0.3, 0.0, 0.5], [0.1, -0.2, 0.0]]] * 2)},
        law="discrete",
        grad_params=(),
    ),
    Example(
        "Arborescence/extreme",
        Arborescence,
        {
            "edge_logits": torch.tensor(
                [
                    [0.0, 50.0, -50.0, 0.0],
                    [-50.0, 0.0, 49.95, -50.0],
                    [50.0, 0.0, 0.0, 50.0],
                    [0.0] * 4,
                ]
            )
        },
        law="discrete",
        grad_params=(),
        statistical=False,
        extreme=True,
    ),
    Example(
        "Arborescence/large-n10",
        Arborescence,
        {
            "edge_logits": torch.randn(2, 10, 10, generator=torch.Generator().manual_seed(7)),
            "root": 3,
        },
        law="discrete",
        grad_params=(),
        statistical=False,
    ),
)
