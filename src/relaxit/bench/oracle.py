r"""Closed-form gradient variances on the one-bit Tucker toy, the benchmark's exact oracle.

Objective ``f(b) = (b - t)^2``, ``b ~ Bernoulli(p)``, ``p = sigmoid(phi)``. With
``f_0 = t^2``, ``f_1 = (1 - t)^2``, ``Δ = f_1 - f_0 = 1 - 2t`` and ``q = 1 - p``, the true
gradient is ``g = d/dphi E f = p q Δ`` and each single-draw estimator ``ĝ`` has variance
``E[ĝ^2] - g^2`` with (derivations in the docstrings below)

* REINFORCE, 1 sample, no baseline: ``ĝ = f(b)(b - p)``,
  ``E ĝ^2 = p q^2 f_1^2 + q p^2 f_0^2``;
* REINFORCE, 2 samples, leave-one-out baseline (Kool et al. 2019):
  ``ĝ = ½ (f(b_1) - f(b_2))(b_1 - b_2)`` is ``Δ/2`` when the draws differ (probability
  ``2pq``) and 0 otherwise, so ``E ĝ^2 = (Δ/2)^2 · 2pq``;
* ARM (Yin & Zhou 2019), one ``u ~ U(0,1)`` (two evaluations of ``f``):
  ``ĝ = (f(1[u > q]) - f(1[u < p]))(u - ½)`` is ``Δ(u - ½)`` on ``u > max(p, q)``,
  ``-Δ(u - ½)`` on ``u < min(p, q)`` and 0 in between; with ``a = |p - ½|``,
  ``E ĝ^2 = (2/3) Δ^2 (1/8 - a^3)``;
* DisARM (Dong et al. 2020), same ``u``: ``ĝ = ½ (f(b) - f(b̃)) (-1)^{b̃} 1[b ≠ b̃]
  sigmoid(|phi|)`` is ``Δ max(p, q) / 2`` in absolute value on the event ``b ≠ b̃`` of
  probability ``2 min(p, q)``, so ``E ĝ^2 = Δ^2 max(p,q)^2 min(p,q) / 2``.

At ``t = 0.45``, ``phi = 1`` these give 1.03e-2, 5.97e-4, 3.65e-4 and 3.32e-4 (issue 7).
"""

from __future__ import annotations

import math

import torch

ORACLE_T, ORACLE_PHI = 0.45, 1.0


def true_gradient(t: float, phi: float) -> float:
    """``d/dphi E[(b - t)^2]`` for ``b ~ Bernoulli(sigmoid(phi))``: ``p (1 - p) (1 - 2t)``."""
    p = 1.0 / (1.0 + math.exp(-phi))
    return p * (1.0 - p) * (1.0 - 2.0 * t)


def closed_form_variances(t: float = ORACLE_T, phi: float = ORACLE_PHI) -> dict[str, float]:
    """Exact variances of the four single-estimate gradient estimators (module docstring)."""
    p = 1.0 / (1.0 + math.exp(-phi))
    q = 1.0 - p
    f0, f1 = t * t, (1.0 - t) ** 2
    delta = f1 - f0
    g2 = true_gradient(t, phi) ** 2
    a = abs(p - 0.5)
    return {
        "REINFORCE (1 sample)": p * q * q * f1 * f1 + q * p * p * f0 * f0 - g2,
        "REINFORCE loo (2 samples)": (delta / 2) ** 2 * 2 * p * q - g2,
        "ARM": 2.0 / 3.0 * delta * delta * (1.0 / 8.0 - a**3) - g2,
        "DisARM": delta * delta * max(p, q) ** 2 * min(p, q) / 2.0 - g2,
    }


def reference_gradients(
    name: str, n: int, t: float = ORACLE_T, phi: float = ORACLE_PHI, generator=None
) -> torch.Tensor:
    """``n`` independent draws of each estimator, from the formulas above in plain tensor code
    (float64). Used to check the closed forms without the library's estimators."""
    p = torch.sigmoid(torch.tensor(phi, dtype=torch.float64))
    u = torch.rand(n, 2, dtype=torch.float64, generator=generator)

    def f(b: torch.Tensor) -> torch.Tensor:
        return (b - t) ** 2

    if name == "REINFORCE (1 sample)":
        b = (u[:, 0] < p).double()
        return f(b) * (b - p)
    if name == "REINFORCE loo (2 samples)":
        b1, b2 = (u[:, 0] < p).double(), (u[:, 1] < p).double()
        return 0.5 * (f(b1) - f(b2)) * (b1 - b2)
    u = u[:, 0]
    b, b_anti = (u < p).double(), (u > 1 - p).double()
    if name == "ARM":
        return (f(b_anti) - f(b)) * (u - 0.5)
    if name == "DisARM":
        sign = 1 - 2 * b_anti
        return 0.5 * (f(b) - f(b_anti)) * sign * (b != b_anti) * torch.sigmoid(p.logit().abs())
    raise ValueError(f"unknown estimator {name!r}")


def variance_with_se(g: torch.Tensor) -> tuple[float, float]:
    """Sample variance of ``g`` and its standard error ``sqrt((m4 - s^4) / n)`` (m4 the
    central fourth moment; the large-n delta-method formula)."""
    g = g.double().flatten()
    n = g.numel()
    c = g - g.mean()
    var = float(c.pow(2).sum() / (n - 1))
    m4 = float(c.pow(4).mean())
    return var, math.sqrt(max(m4 - var * var, 0.0) / n)
