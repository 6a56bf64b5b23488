"""Tutorial: hard attention with a straight-through categorical.

A query attends to exactly one of L memory slots (hard attention): the forward pass reads one
slot's value, as at test time, and the backward pass uses the Gumbel-Softmax gradient of the
attention weights (`RelaxedOneHotCategoricalStraightThrough`: one-hot forward, relaxed backward).

The task: each example has L keys and L scalar values; the query is a noisy copy of one key and
the target is that slot's value. The model learns the query/key projections that make the right
slot the most likely; soft attention would blur values, hard attention must pick one. Run:

    python examples/tutorial_hard_attention.py
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from relaxit.distributions import RelaxedOneHotCategoricalStraightThrough


def make_batch(n: int, slots: int, dim: int, generator: torch.Generator):
    keys = torch.randn(n, slots, dim, generator=generator)
    values = torch.randn(n, slots, generator=generator)
    target_slot = torch.randint(slots, (n,), generator=generator)
    query = keys[torch.arange(n), target_slot] + 0.3 * torch.randn(n, dim, generator=generator)
    return query, keys, values, target_slot


class HardAttention(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)

    def scores(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Attention logits, (B, L): scaled dot products of the projected query and keys."""
        return torch.einsum("bd,bld->bl", self.q(query), self.k(keys)) / keys.shape[-1] ** 0.5

    def forward(self, query, keys, values, temperature: float) -> torch.Tensor:
        """Reads one slot per example, (B,). The attention is a sample of a categorical over the
        L slots (event_shape (L,)): exactly one-hot in the forward pass, differentiable in the
        logits through the Gumbel-Softmax relaxation at `temperature` in the backward pass."""
        attention = RelaxedOneHotCategoricalStraightThrough(
            torch.tensor(temperature), logits=self.scores(query, keys)
        )
        weights = attention.rsample()  # (B, L), one-hot values
        return (weights * values).sum(-1)


def train(
    steps: int = 600,
    batch: int = 64,
    slots: int = 8,
    dim: int = 16,
    seed: int = 0,
    temperature: float = 0.5,
    log_every: int = 100,
) -> dict:
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = HardAttention(dim)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    test = make_batch(1000, slots, dim, torch.Generator().manual_seed(seed + 1))

    def accuracy() -> float:
        query, keys, _, target_slot = test
        with torch.no_grad():
            return (model.scores(query, keys).argmax(-1) == target_slot).float().mean().item()

    initial = accuracy()
    for step in range(steps):
        query, keys, values, slot = make_batch(batch, slots, dim, generator)
        target = values[torch.arange(batch), slot]
        loss = (model(query, keys, values, temperature) - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:4d}  loss {loss.item():.3f}  accuracy {accuracy():.3f}")
    final = accuracy()
    print(f"picks the right slot: {initial:.3f} -> {final:.3f} (chance {1 / slots:.3f})")
    return {"initial": initial, "final": final, "chance": 1 / slots}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--temperature", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.steps, temperature=args.temperature, seed=args.seed)
