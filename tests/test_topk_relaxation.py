"""The fused relaxed top-k step of GumbelSoftmaxTopK against the step-by-step autograd reference.

The reference below is the relaxation written as plain tensor code, differentiated by autograd
(the implementation before the fused `autograd.Function`): values and gradients (logits and
temperature) must agree, in the capping regime (high temperature) too, over several blocks of
rows with a partial last block. Planted bugs (no capping; no gradient through ``log r``) are
rejected by the same comparison.
"""

import pytest
import torch

import relaxit.distributions._topk_relaxation as fused
from relaxit.distributions import GumbelSoftmaxTopK
from relaxit.distributions._topk_relaxation import relaxed_k_hot, relaxed_k_hot_functional


def reference(scores, tau, k):
    """K softmax steps; a step takes at most what is left, the excess goes to the headroom."""
    tiny = torch.finfo(scores.dtype).tiny
    inv_tau = tau.reciprocal().unsqueeze(-1)
    left, total = torch.ones_like(scores), torch.zeros_like(scores)
    for _ in range(k):
        a = torch.softmax((scores + left.clamp_min(tiny).log()) * inv_tau, -1)
        capped = torch.minimum(a, left)
        headroom = left - capped
        excess = (1.0 - capped.sum(-1, keepdim=True)).clamp_min(0.0)
        a = capped + excess * headroom / headroom.sum(-1, keepdim=True).clamp_min(tiny)
        total = total + a
        left = (left - a).clamp_min(0.0)
    return total


def without_capping(scores, tau, k):
    """Planted bug: successive softmaxes with the mask, but no cap at what is left."""
    tiny = torch.finfo(scores.dtype).tiny
    left, total = torch.ones_like(scores), torch.zeros_like(scores)
    for _ in range(k):
        a = torch.softmax((scores + left.clamp_min(tiny).log()) / tau.unsqueeze(-1), -1)
        total, left = total + a, (left - a).clamp_min(0.0)
    return total


def mask_without_gradient(scores, tau, k):
    """Planted bug: treats what is left as a constant in the backward pass."""
    tiny = torch.finfo(scores.dtype).tiny
    left = torch.ones_like(scores)
    for _ in range(k):
        a = torch.softmax((scores + left.detach().clamp_min(tiny).log()) / tau.unsqueeze(-1), -1)
        h = (left - a).clamp_min(0.0)
        excess = 1.0 - torch.minimum(a, left).sum(-1, keepdim=True)
        left = h * (1.0 - excess / h.sum(-1, keepdim=True).clamp_min(tiny))
    return 1.0 - left


def fused_soft(scores, tau, k):
    return relaxed_k_hot(scores, torch.zeros_like(scores), tau, k, hard=False)


def _compare(candidate, tau_value, k, rows=37, n=9, per_row_tau=True):
    gen = torch.Generator().manual_seed(int(100 * tau_value) + k)
    base = 3 * torch.randn(rows, n, generator=gen, dtype=torch.float64)
    tau_base = torch.full((rows,) if per_row_tau else (), tau_value, dtype=torch.float64)
    if per_row_tau:
        tau_base = tau_base * torch.linspace(0.7, 1.3, rows, dtype=torch.float64)
    w = torch.randn(rows, n, generator=gen, dtype=torch.float64)
    grads = []
    for fn in (reference, candidate):
        s, t = base.clone().requires_grad_(True), tau_base.clone().requires_grad_(True)
        y = fn(s, t, k)
        grads.append((y.detach(), *torch.autograd.grad((y * w).sum(), (s, t))))
    for name, ref, got in zip(("value", "d/dlogits", "d/dtau"), grads[0], grads[1], strict=True):
        torch.testing.assert_close(got, ref, rtol=1e-7, atol=1e-9, msg=f"{name} differs")


@pytest.fixture
def small_blocks(monkeypatch):
    """Four rows of 9 categories per block: 37 rows make 10 blocks, the last one partial."""
    monkeypatch.setattr(fused, "BLOCK_ELEMENTS", 4 * 9)


@pytest.mark.parametrize("tau", [0.05, 0.3, 1.0, 5.0])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_fused_matches_the_autograd_reference(small_blocks, tau, k):
    _compare(fused_soft, tau, k)
    _compare(fused_soft, tau, k, per_row_tau=False)


def test_high_temperature_exercises_capping():
    """At tau = 5 some rows cap: dropping the cap changes the values."""
    with pytest.raises(AssertionError, match="value differs"):
        _compare(without_capping, 5.0, 3)


def test_planted_gradient_bug_is_caught():
    with pytest.raises(AssertionError, match="d/dlogits differs"):
        _compare(mask_without_gradient, 0.5, 3)


def test_functional_path_matches_fused():
    """The torch.compile path (plain tensor code) computes the same relaxation."""

    def functional(s, t, k):
        return relaxed_k_hot_functional(s, t.reciprocal().unsqueeze(-1), k)

    _compare(functional, 0.5, 4)


def test_hard_forward_is_the_top_k_with_the_relaxed_gradient():
    torch.manual_seed(0)
    logits = torch.randn(5, 8, dtype=torch.float64, requires_grad=True)
    noise = torch.randn(5, 8, dtype=torch.float64)
    tau = torch.tensor(0.4, dtype=torch.float64)
    w = torch.randn(5, 8, dtype=torch.float64)
    hard = relaxed_k_hot(logits, noise.clone(), tau, 3, hard=True)
    expected = torch.zeros(5, 8, dtype=torch.float64).scatter_(
        -1, (logits + noise).topk(3).indices, 1.0
    )
    torch.testing.assert_close(hard.detach(), expected)
    (g_hard,) = torch.autograd.grad((hard * w).sum(), logits)
    (g_ref,) = torch.autograd.grad((reference(logits + noise, tau, 3) * w).sum(), logits)
    torch.testing.assert_close(g_hard, g_ref)


def test_gradcheck():
    torch.manual_seed(1)
    logits = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    tau = torch.tensor([0.5, 1.5, 4.0], dtype=torch.float64, requires_grad=True)
    noise = torch.randn(3, 6, dtype=torch.float64)
    assert torch.autograd.gradcheck(
        lambda s, t: relaxed_k_hot(s, noise.clone(), t, 3, hard=False), (logits, tau)
    )


def saved_bytes(fn):
    """Bytes of the tensors autograd saves for the backward pass while ``fn()`` runs."""
    seen = {}

    def pack(t):
        seen[(t.data_ptr(), t.dtype, tuple(t.shape))] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def test_saved_tensors_are_o_n_not_o_k_n():
    logits = torch.randn(64, 256, requires_grad=True)
    one_sample = 64 * 256 * 4

    def rsample(k):
        return GumbelSoftmaxTopK(logits=logits, K=k, tau=0.5).rsample()

    assert saved_bytes(lambda: rsample(10)) <= 1.1 * one_sample  # the perturbed scores
    assert saved_bytes(lambda: rsample(10)) == saved_bytes(lambda: rsample(2))
    # The step-by-step graph saves several tensors per step: the measure sees the difference.
    step_by_step = saved_bytes(lambda: reference(logits + 0.0, torch.tensor(0.5), 10))
    assert step_by_step > 10 * one_sample
