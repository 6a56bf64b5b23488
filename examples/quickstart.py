"""Quickstart: sample relaxed discrete variables, back-propagate, and see what the gradients are."""

import torch

from relaxit.distributions import RelaxedBernoulli, RelaxedOneHotCategorical

torch.manual_seed(0)
logits = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)

gates = RelaxedBernoulli(temperature=torch.tensor(0.5), logits=logits)
z = gates.rsample((1000,))
loss = ((z - 0.45) ** 2).mean()
loss.backward()
print("relaxed Bernoulli gates, 1000 samples of 3 gates")
print("  sample mean       :", [round(v, 3) for v in z.mean(0).tolist()])
print("  sigmoid(logits)   :", [round(v, 3) for v in torch.sigmoid(logits).tolist()])
print("  d loss / d logits :", [round(v, 4) for v in logits.grad.tolist()])

logits = torch.zeros(4, requires_grad=True)
cat = RelaxedOneHotCategorical(temperature=torch.tensor(0.3), logits=logits)
y = cat.rsample((5,))
print("relaxed one-hot samples (rows sum to 1):")
print(y.detach().round(decimals=3))
(y[:, 0]).sum().backward()
print("  d sum(y[:, 0]) / d logits :", [round(v, 4) for v in logits.grad.tolist()])
