"""Tutorial: feature selection with stochastic gates and an L0 penalty.

Each input feature is multiplied by a random gate z_d in [0, 1] that is exactly 0 with positive
probability. The expected number of open gates, sum_d P(z_d != 0), is differentiable in the
gates' parameters (the expected L0 norm), so "use few features" becomes a penalty that gradient
descent can minimise together with the data loss:

    loss = mean squared error of a model on x * z  +  lam * sum_d P(z_d != 0)

Two gates are available: Hard Concrete (Louizos, Welling & Kingma 2018; the learned parameter is
log alpha, the gate's logit) and the Gaussian stochastic gate (STG, Yamada et al. 2020; the
learned parameter is the gate's mean mu, noise sigma = 0.5). At test time the noise is switched
off (`deterministic_gate()`). The data: 20 features, of which only the first 3 matter. Run:

    python examples/tutorial_feature_selection.py --gate hard-concrete
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from relaxit.distributions import GaussianRelaxedBernoulli, HardConcrete

RELEVANT = (0, 1, 2)


def make_data(n: int, dim: int, generator: torch.Generator):
    x = torch.randn(n, dim, generator=generator)
    y = 2.0 * x[:, 0] - 3.0 * x[:, 1] + 1.5 * x[:, 2] + 0.1 * torch.randn(n, generator=generator)
    return x, y


class GatedRegression(nn.Module):
    def __init__(self, dim: int, gate: str):
        super().__init__()
        self.gate = gate
        # Initialised so that every gate starts mostly open.
        init = 2.0 if gate == "hard-concrete" else 0.75
        self.gate_param = nn.Parameter(torch.full((dim,), init))  # log alpha, or STG's mu
        self.linear = nn.Linear(dim, 1)

    def gates(self):
        if self.gate == "hard-concrete":
            # Louizos et al.'s defaults beta = 2/3, stretch (gamma, xi) = (-0.1, 1.1).
            return HardConcrete(log_alpha=self.gate_param)
        return GaussianRelaxedBernoulli(self.gate_param, 0.5)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prediction (B,) with sampled gates, and the expected number of open gates (L0)."""
        gates = self.gates()
        z = gates.rsample(x.shape[:1])  # (B, dim), differentiable in gate_param
        return self.linear(x * z).squeeze(-1), gates.prob_nonzero().sum()

    @torch.no_grad()
    def selected(self) -> list[int]:
        """Features whose test-time gate is open (noise off)."""
        return self.gates().deterministic_gate().nonzero().flatten().tolist()


def train(
    gate: str = "hard-concrete",
    steps: int = 1000,
    batch: int = 128,
    dim: int = 20,
    lam: float = 0.05,
    seed: int = 0,
    log_every: int = 200,
) -> dict:
    torch.manual_seed(seed)
    x, y = make_data(4096, dim, torch.Generator().manual_seed(seed))
    model = GatedRegression(dim, gate)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    for step in range(steps):
        i = torch.randint(len(x), (batch,))
        prediction, l0 = model(x[i])
        loss = (prediction - y[i]).pow(2).mean() + lam * l0
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log_every and (step + 1) % log_every == 0:
            print(
                f"step {step + 1:4d}  loss {loss.item():.3f}  expected open gates {l0.item():.2f}"
            )
    with torch.no_grad():
        gates = model.gates().deterministic_gate()
        mse = (model.linear(x * gates).squeeze(-1) - y).pow(2).mean().item()
    selected = model.selected()
    print(
        f"{gate}: selected features {selected} (relevant {list(RELEVANT)}), test-time MSE {mse:.4f}"
    )
    return {"selected": selected, "mse": mse, "gates": gates}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gate", default="hard-concrete", choices=["hard-concrete", "stg"])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lam", type=float, default=0.05, help="weight of the L0 penalty")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train(args.gate, steps=args.steps, lam=args.lam, seed=args.seed)
