"""Straight-through and decoupled straight-through Gumbel-Softmax: forward, backward, log_prob."""

import pytest
import torch
from torch.distributions import RelaxedOneHotCategorical

from relaxit.distributions import (
    DecoupledStraightThroughGumbelSoftmax,
    RelaxedOneHotCategoricalStraightThrough,
)
from relaxit.distributions._gumbel import gumbel_like


def test_st_forward_is_one_hot_of_relaxed_and_backward_is_relaxed():
    logits = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    d = RelaxedOneHotCategoricalStraightThrough(0.7, logits=logits)
    x = d.rsample((4,))
    soft = x._unquantize
    assert bool((x.detach() == torch.nn.functional.one_hot(soft.argmax(-1), 5)).all())
    w = torch.randn_like(soft)
    g_x = torch.autograd.grad((x * w).sum(), logits, retain_graph=True)[0]
    g_s = torch.autograd.grad((soft * w).sum(), logits)[0]
    torch.testing.assert_close(g_x, g_s)


def test_st_log_prob_is_torch_concrete_density_of_the_relaxed_value():
    logits = torch.randn(3, 4, dtype=torch.float64)
    temps = torch.tensor([0.3, 1.0, 2.0], dtype=torch.float64)
    d = RelaxedOneHotCategoricalStraightThrough(temps, logits=logits)
    x = d.rsample((6,))
    lp = d.log_prob(x)
    for b in range(3):  # torch's class takes one temperature per instance
        ref = RelaxedOneHotCategorical(temps[b], logits=logits[b]).log_prob(x._unquantize[:, b])
        torch.testing.assert_close(lp[:, b], ref)


def test_st_temperature_broadcasts_with_logits():
    d = RelaxedOneHotCategoricalStraightThrough(
        torch.tensor([[0.5], [1.0]]), logits=torch.zeros(3, 4)
    )
    assert d.batch_shape == (2, 3) and d.rsample((5,)).shape == (5, 2, 3, 4)


def test_st_detach_and_clone_drop_the_relaxed_value():
    """Documented limitation shared with Pyro: `_unquantize` is a plain attribute."""
    d = RelaxedOneHotCategoricalStraightThrough(0.5, logits=torch.zeros(3))
    x = d.rsample()
    assert not hasattr(x.detach(), "_unquantize") and not hasattr(x.clone(), "_unquantize")
    # log_prob of the bare one-hot is the (clamped) density at a vertex: finite, not the
    # density of the relaxed value.
    assert torch.isfinite(d.log_prob(x.detach()))
    assert not torch.isclose(d.log_prob(x.detach()), d.log_prob(x))


@pytest.mark.parametrize("tau_f", [0.1, 1.0, 10.0])
def test_decoupled_backward_matches_the_softmax_jacobian_at_the_backward_temperature(tau_f):
    logits = torch.randn(2, 5, dtype=torch.float64, requires_grad=True)
    tau_b = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
    d = DecoupledStraightThroughGumbelSoftmax(tau_f, tau_b, logits=logits)
    torch.manual_seed(7)
    x = d.rsample((3,))
    torch.manual_seed(7)  # the same draw, by hand
    g = gumbel_like(logits, torch.Size((3, 2, 5)))
    z = logits.detach() + g
    y_b = torch.softmax(z / 0.4, -1)
    # Forward: one-hot at argmax of softmax(z / tau_f) (= argmax z).
    expected_hard = torch.nn.functional.one_hot(torch.softmax(z / tau_f, -1).argmax(-1), 5)
    assert bool((x.detach() == expected_hard).all())
    w = torch.randn(3, 2, 5, dtype=torch.float64)
    g_logits, g_tau = torch.autograd.grad((x * w).sum(), (logits, tau_b))
    # Backward: d y_b / d logits = (diag(y_b) - y_b y_b^T) / tau_b; logits are not normalized
    # (a shift of all logits changes nothing), so the Jacobian applies to the raw logits.
    jw = (y_b * (w - (w * y_b).sum(-1, keepdim=True))) / 0.4
    torch.testing.assert_close(g_logits, jw.sum(0))
    # d y_b / d tau_b = -(z / tau_b^2) . softmax Jacobian
    dz = -(z / 0.4**2)
    g_tau_expected = (y_b * (dz - (dz * y_b).sum(-1, keepdim=True)) * w).sum()
    torch.testing.assert_close(g_tau, g_tau_expected)


def test_decoupled_log_prob_is_categorical_mass():
    probs = torch.tensor([[0.1, 0.6, 0.3], [0.5, 0.25, 0.25]], dtype=torch.float64)
    d = DecoupledStraightThroughGumbelSoftmax(1.0, 0.5, probs=probs)
    eye = torch.eye(3, dtype=torch.float64).unsqueeze(1)
    torch.testing.assert_close(d.log_prob(eye), probs.log().T)
