"""The fused Gumbel-Rao average ``Family.conditional_relaxation_mean`` (used by `GumbelRao`).

* For the same uniform draws it equals the composite ``relax(conditional(...)).mean(0)`` whose
  conditional sampler is checked against the truncated law in ``test_estimators_exactness``:
  values and gradients agree to float64 rounding, at temperatures 0.05 to 2 and logits up to
  +-50. A backward with a dropped term, or without the ``1 / tau``, fails the comparison.
* Its written-out backward is the derivative of its forward (``gradcheck`` in float64 in the
  logit shift, the noise held fixed); a wrong backward fails ``gradcheck``.
* Independently of the library's sampler, one draw of the fused average follows the law of the
  relaxation of unconditional noise restricted to ``H(z) = b`` (rejection sampling): two-sample
  KS per coordinate for each ``b``; an average that ignores ``b`` or swaps it fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from relaxit import _sampling
from relaxit._sampling import BERNOULLI_FAMILY, CATEGORICAL_FAMILY, Family

FAMILIES = {"bernoulli": BERNOULLI_FAMILY, "categorical": CATEGORICAL_FAMILY}
LEVEL = 1e-6
TEMPERATURES = [0.05, 0.35, 1.0, torch.tensor(2.0, dtype=torch.float64)]


def _logits(family: Family) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    shape = (4, 5) if family is BERNOULLI_FAMILY else (4, 3, 5)
    phi = 3 * torch.randn(shape, generator=gen, dtype=torch.float64)
    phi.view(-1)[:2] = torch.tensor([50.0, -50.0], dtype=torch.float64)
    return phi.requires_grad_(True)


def _value_and_grad(family: Family, temperature, fused: bool) -> tuple[torch.Tensor, ...]:
    """The average and the gradient of a fixed linear function of it, from seed 1's draws."""
    phi = _logits(family)
    torch.manual_seed(0)
    b = family.sample(2, phi)
    weights = torch.randn(b.shape, dtype=phi.dtype)
    torch.manual_seed(1)
    if fused:
        y = family.conditional_relaxation_mean(phi, b, 7, temperature)
    else:
        z = family.conditional(phi.detach(), b, (7,)) + (phi - phi.detach())
        y = family.relax(z, temperature).mean(0)
    (grad,) = torch.autograd.grad((y * weights).sum(), phi)
    return y.detach(), grad


def _gap(family: Family, temperature) -> float:
    fused = _value_and_grad(family, temperature, True)
    composite = _value_and_grad(family, temperature, False)
    return max(float((a - c).abs().max()) for a, c in zip(fused, composite, strict=True))


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("temperature", TEMPERATURES, ids=lambda t: f"tau={float(t)}")
def test_the_fused_average_equals_the_composite_for_the_same_draws(name, temperature):
    assert _gap(FAMILIES[name], temperature) < 1e-10


def _categorical_without_centering(ctx, grad):
    _, y = ctx.saved_tensors
    return y * grad / ctx.temperature, None, None, None


def _bernoulli_without_temperature(ctx, grad):
    (h,) = ctx.saved_tensors
    return grad * torch.addcmul(h, h, h, value=-1).mean(0), None, None, None, None


PLANTED = {
    "categorical": ("_CategoricalRelaxationMean", _categorical_without_centering),
    "bernoulli": ("_BernoulliRelaxationMean", _bernoulli_without_temperature),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_the_comparison_rejects_a_wrong_backward(name, monkeypatch):
    function, backward = PLANTED[name]
    monkeypatch.setattr(getattr(_sampling, function), "backward", staticmethod(backward))
    assert _gap(FAMILIES[name], 0.35) > 1e-3


def _function_of_shift(name: str):
    """The fused Function as a function of the logit shift alone, its noise drawn once."""
    gen = torch.Generator().manual_seed(2)
    phi = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    if name == "bernoulli":
        b = (torch.rand(3, 4, generator=gen, dtype=torch.float64) < 0.5).double()
        v = torch.rand(5, 3, 4, generator=gen, dtype=torch.float64)
        c = torch.exp((2 * b - 1) * phi)
        return lambda shift: _sampling._BernoulliRelaxationMean.apply(shift, v, b, c, 0.7)
    b = torch.nn.functional.one_hot(torch.randint(4, (3,), generator=gen), 4).double()
    log_u = torch.rand(5, 3, 4, generator=gen, dtype=torch.float64).log()
    ratio = log_u / (log_u * b).sum(-1, keepdim=True)
    weight = torch.where(b > 0, 0.0, torch.exp(-torch.log_softmax(phi, -1)))
    return lambda shift: _sampling._CategoricalRelaxationMean.apply(shift, ratio, weight, 0.7)


@pytest.mark.parametrize("name", FAMILIES)
def test_the_written_backward_is_the_derivative_of_the_forward(name):
    shift = (0.3 * torch.randn(3, 4, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(_function_of_shift(name), (shift,))


@pytest.mark.parametrize("name", FAMILIES)
def test_gradcheck_rejects_a_wrong_backward(name, monkeypatch):
    function, backward = PLANTED[name]
    monkeypatch.setattr(getattr(_sampling, function), "backward", staticmethod(backward))
    shift = (0.3 * torch.randn(3, 4, dtype=torch.float64)).requires_grad_(True)
    assert not torch.autograd.gradcheck(_function_of_shift(name), (shift,), raise_exception=False)


# ------------------------------------------------ the law, against rejection sampling

TAU = 0.5
N = 20_000
PHI = {
    "bernoulli": torch.tensor([0.7], dtype=torch.float64),
    "categorical": torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64),
}


def _library(family: Family, phi: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return family.conditional_relaxation_mean(phi, b, 1, TAU)


def _ignores_b(family: Family, phi: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return family.relax(phi + family.noise(b.shape[0], phi), TAU)


def _swapped(family: Family, phi: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    other = 1 - b if family is BERNOULLI_FAMILY else b.roll(1, -1)
    return family.conditional_relaxation_mean(phi, other, 1, TAU)


def _rejection_sample(family: Family, phi: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Relaxations of unconditional noise kept where ``H(z)`` equals ``b``'s value (row 0)."""
    z = phi + family.noise(40 * N, phi)  # the rarest value tested has probability 0.035
    kept = (family.hard(z) == b[0]).all(-1)
    return family.relax(z[kept][:N], TAU).numpy()


def _pvalues(average, name: str) -> list[float]:
    family, phi = FAMILIES[name], PHI[name]
    values = (
        [torch.zeros(N, 1), torch.ones(N, 1)]
        if name == "bernoulli"
        else [torch.nn.functional.one_hot(torch.full((N,), k), 4) for k in range(4)]
    )
    out = []
    for b in values:
        b = b.to(phi.dtype)
        fused = average(family, phi, b).numpy()
        reference = _rejection_sample(family, phi, b)
        for j in range(fused.shape[-1]):
            out.append(stats.ks_2samp(fused[:, j], reference[:, j]).pvalue)
    return out


@pytest.mark.parametrize("name", FAMILIES)
def test_one_draw_follows_the_relaxation_restricted_to_b(name):
    torch.manual_seed(7)
    pvalues = _pvalues(_library, name)
    assert min(pvalues) >= LEVEL / len(pvalues), pvalues


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("broken", [_ignores_b, _swapped], ids=lambda f: f.__name__)
def test_the_law_test_rejects_an_average_that_ignores_or_swaps_b(name, broken):
    torch.manual_seed(8)
    pvalues = _pvalues(broken, name)
    assert min(pvalues) < LEVEL / len(pvalues), pvalues
