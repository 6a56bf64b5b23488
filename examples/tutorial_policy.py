"""Tutorial: a discrete-action policy trained with REINFORCE and a leave-one-out baseline.

A contextual bandit: each round shows a context x (8 numbers); the policy picks one of 4 actions;
the reward is 1 for the action a hidden linear rule prefers and 0 otherwise. The reward is not
differentiable in the action (there is no relaxed action to feed it), so the policy is trained
by a score-function estimator: REINFORCE with the leave-one-out baseline of Kool, van Hoof &
Welling (2019), which draws n >= 2 actions per context and uses the mean reward of the others as
each action's baseline.

Estimators **minimise** E[f(b)]: to maximise the reward, f is the cost, f(b) = -reward(b). Run:

    python examples/tutorial_policy.py
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.distributions import OneHotCategorical

from relaxit.estimators import REINFORCE


class Bandit:
    """Reward 1 for the action argmax(x @ rule), else 0."""

    def __init__(self, dim: int, actions: int, generator: torch.Generator):
        self.rule = torch.randn(dim, actions, generator=generator)
        self.generator = generator

    def contexts(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.rule.shape[0], generator=self.generator)

    def reward(self, x: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """x (B, dim), action one-hot (S, B, actions) -> reward (S, B)."""
        best = (x @ self.rule).argmax(-1)  # (B,)
        return action.argmax(-1).eq(best).to(x.dtype)


def train(
    steps: int = 500,
    batch: int = 64,
    n_samples: int = 4,
    dim: int = 8,
    actions: int = 4,
    seed: int = 0,
    log_every: int = 100,
) -> dict:
    torch.manual_seed(seed)
    env = Bandit(dim, actions, torch.Generator().manual_seed(seed))
    policy = nn.Sequential(nn.Linear(dim, 32), nn.Tanh(), nn.Linear(32, actions))
    opt = torch.optim.Adam(policy.parameters(), lr=1e-2)
    estimator = REINFORCE(baseline="loo")
    test = env.contexts(2000)

    def mean_reward() -> float:
        """Expected reward of the stochastic policy on held-out contexts (exact, not sampled)."""
        with torch.no_grad():
            probs = policy(test).softmax(-1)
            return (probs * torch.eye(actions)[(test @ env.rule).argmax(-1)]).sum(-1).mean().item()

    initial = mean_reward()
    for step in range(steps):
        x = env.contexts(batch)
        dist = OneHotCategorical(logits=policy(x))  # batch_shape (B,), event_shape (actions,)

        def cost(b: torch.Tensor, x: torch.Tensor = x) -> torch.Tensor:
            return -env.reward(x, b)  # (S, B, actions) -> (S, B): minimise the negative reward

        loss = estimator(cost, dist, n_samples)  # (B,): minus the mean sampled reward
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1:4d}  sampled reward {-loss.mean().item():.3f}")
    final = mean_reward()
    print(f"expected reward: {initial:.3f} -> {final:.3f} (random policy {1 / actions:.3f})")
    return {"initial": initial, "final": final, "chance": 1 / actions}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--samples", type=int, default=4, help="actions drawn per context (>= 2)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.steps, n_samples=args.samples, seed=args.seed)
