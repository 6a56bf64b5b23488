"""The call protocol of relaxit.estimators: shapes, loss values, errors, numerics, Exact, noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.distributions import Bernoulli, Normal, OneHotCategorical

import relaxit.distributions as rd
from relaxit.estimators import (
    ARM,
    REBAR,
    REINFORCE,
    RELAX,
    DisARM,
    Exact,
    GumbelRao,
    GumbelSoftmax,
    ReinMax,
    StraightThrough,
    registry,
)
from relaxit.estimators._protocol import BERNOULLI, CATEGORICAL, Problem


class SumControl(nn.Module):
    """A control that keeps the first ``m`` batch dims: a weighted sum of the rest."""

    def __init__(self, m: int):
        super().__init__()
        self.m = m
        self.scale = nn.Parameter(torch.tensor(0.3))

    def forward(self, z):
        return self.scale * z.reshape((*z.shape[: 1 + self.m], -1)).pow(2).sum(-1)


def estimators(family: str, m: int = 0) -> dict[str, nn.Module]:
    """Every registered estimator supporting ``family`` (default configuration of each name),
    plus configurations the registry does not name: a constant baseline and RELAX with a plain
    control that ignores ``f``."""
    ests = {e.name: e.build() for e in registry.entries(family=family)}
    return ests | {"reinforce(0.5)": REINFORCE(0.5), "relax(sum-control)": RELAX(SumControl(m))}


def make(family: str, logits: torch.Tensor):
    return Bernoulli(logits=logits) if family == BERNOULLI else OneHotCategorical(logits=logits)


def quadratic(m: int):
    """f keeping the first m batch dims, nonlinear in the rest."""

    def f(b):
        joint = b.reshape((*b.shape[: 1 + m], -1))
        return ((joint * torch.arange(1.0, 1 + joint.shape[-1])).sum(-1) - 1.3).pow(2)

    return f


@pytest.mark.parametrize("family", [BERNOULLI, CATEGORICAL])
@pytest.mark.parametrize("m", [0, 1, 2])
def test_loss_and_gradient_shapes(family, m):
    shape = (2, 3, 4) if family == CATEGORICAL else (2, 3)
    for name, est in estimators(family, m).items():
        torch.manual_seed(0)
        logits = torch.randn(shape, requires_grad=True)
        if not est.joint_variables and m < 2:  # one variable per item only: refused clearly
            with pytest.raises(ValueError, match="joint variable"):
                est(quadratic(m), make(family, logits), n_samples=4)
            continue
        loss = est(quadratic(m), make(family, logits), n_samples=4)
        assert loss.shape == (2, 3)[:m], name
        loss.sum().backward()
        assert logits.grad.shape == shape, name
        assert torch.isfinite(logits.grad).all(), name
        assert logits.grad.abs().sum() > 0, name


WEIGHTED_VALUE = {"unordered-set", "sum-and-sample"}
"""Estimators whose loss value is a weighted estimate of E[f] rather than the mean of f over
the samples (documented on the class and checked in their own tests)."""


@pytest.mark.parametrize("family", [BERNOULLI, CATEGORICAL])
def test_f_is_called_as_declared_and_loss_is_its_mean_at_discrete_samples(family):
    n = 3  # UnorderedSet draws at most K = 4 distinct categories
    shape = (3, 4) if family == CATEGORICAL else (3,)
    for name, est in estimators(family).items():
        if est.exact:
            continue
        calls = []
        keep = 1 if est.joint_variables else 2  # sample dim (+ the item dim)

        def f(b, calls=calls, keep=keep):
            calls.append(b.detach().clone())
            x = b.flatten(keep)
            return (x * torch.arange(1.0, 1 + x.shape[-1])).sum(-1).sin()

        logits = torch.randn(shape, requires_grad=True)
        loss = est(f, make(family, logits), n_samples=n)
        assert len(calls) == est.f_calls, name
        b = calls[0]
        if est.evaluations_per_sample is None:  # not a multiple of n: the class's own tests
            continue
        assert b.shape == (est.evaluations_per_sample * n, *shape), name
        # the loss is the mean of f at the discrete rows: all rows (antithetic pairs), or the
        # first n (then relaxed rows for the control variate); an estimator whose rows are all
        # relaxed (GumbelSoftmax(hard=False)) evaluates f there, as documented
        is_discrete = ((b == 0) | (b == 1)).flatten(1).all(-1)
        if family == CATEGORICAL:
            is_discrete &= (b.sum(-1) == 1).flatten(1).all(-1)
        if is_discrete.all():
            rows = b
        elif is_discrete[:n].all():
            rows = b[:n]
        else:
            assert not is_discrete.any(), name
            rows = b
        if name in WEIGHTED_VALUE:
            continue
        if est.objective == "log-mean-exp":  # f gives log-weights; loss = the n-sample bound
            # of the first n rows (DisARM-IW's partners, rows n..2n, only enter its gradient)
            expected = torch.logsumexp(f(b[:n]), 0) - math.log(n)
        else:
            expected = f(rows).mean(0)
        assert torch.allclose(loss, expected), name


def test_loss_carries_the_gradient_of_f_own_parameters():
    """A decoder inside f gets the mean of its gradient over the discrete samples."""
    w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    calls = []

    def f(b):
        calls.append(b.detach())
        return (b * w).sum(-1)

    logits = torch.zeros(3, requires_grad=True)
    REINFORCE("loo")(f, Bernoulli(logits=logits), n_samples=6).backward()
    assert torch.allclose(w.grad, calls[0].mean(0))


def test_pyro_wrapped_and_probs_parameterised_distributions():
    # f = prod(b) is 0 for all 4 samples with probability 0.86**4 = 0.55 (a zero gradient): a
    # seed, and an f that differs between any two configurations
    torch.manual_seed(0)
    probs = torch.tensor([0.2, 0.7], requires_grad=True)
    for est in (REINFORCE("loo"), DisARM(), REBAR(), Exact()):
        probs.grad = None
        f = lambda b: b.prod(-1) + b @ torch.tensor([0.5, 0.25])  # noqa: E731
        est(f, rd.Bernoulli(probs=probs), 4).backward()
        assert torch.isfinite(probs.grad).all() and probs.grad.abs().sum() > 0
    logits = torch.zeros(3, requires_grad=True)
    GumbelRao()(lambda b: b[..., 0], rd.OneHotCategorical(logits=logits), 4).backward()
    assert torch.isfinite(logits.grad).all()


def test_unsupported_family_raises_type_error_naming_the_supported_ones():
    cat = OneHotCategorical(logits=torch.zeros(3))
    for est in (ARM(), DisARM()):
        with pytest.raises(TypeError, match=r"supports torch\.distributions\.Bernoulli"):
            est(lambda b: b.sum(-1), cat, 2)
    with pytest.raises(TypeError, match=r"Bernoulli and torch\.distributions\.OneHotCategorical"):
        REINFORCE()(lambda b: b, Normal(0.0, 1.0), 2)


@pytest.mark.parametrize("n", [0, -1, 1.5, True, "2"])
def test_bad_n_samples(n):
    with pytest.raises(ValueError, match="n_samples"):
        REINFORCE()(lambda b: b.sum(-1), Bernoulli(logits=torch.zeros(2)), n)


def test_leave_one_out_needs_two_samples():
    with pytest.raises(ValueError, match=r"n_samples must be >= 2.*loo"):
        REINFORCE("loo")(lambda b: b.sum(-1), Bernoulli(logits=torch.zeros(2)), 1)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.inf, math.nan, "hot", torch.tensor([1.0])])
def test_bad_temperature(bad):
    for cls in (GumbelSoftmax, GumbelRao, ReinMax, REBAR):
        with pytest.raises(ValueError, match="temperature"):
            cls(temperature=bad)
    with pytest.raises(ValueError, match="temperature"):
        RELAX(SumControl(0), temperature=bad)
    est = GumbelSoftmax()
    with pytest.raises(ValueError, match="temperature"):
        est.temperature = bad


def test_bad_hyper_parameters():
    with pytest.raises(ValueError, match="baseline"):
        REINFORCE("mean")
    with pytest.raises(ValueError, match="baseline"):
        REINFORCE(math.nan)
    with pytest.raises(ValueError, match="decay"):
        REINFORCE("ema", decay=1.0)
    with pytest.raises(ValueError, match="n_rao"):
        GumbelRao(n_rao=0)
    with pytest.raises(ValueError, match="eta"):
        REBAR(eta=math.inf)
    with pytest.raises(TypeError, match="control"):
        RELAX(lambda z: z.sum(-1))
    with pytest.raises(ValueError, match="max_support"):
        Exact(max_support=0)


@pytest.mark.parametrize(
    "f",
    [
        lambda b: b,  # keeps the event dim of a categorical / too many dims
        lambda b: b.sum((0, -1)),  # no sample dim
        lambda b: b[:1].sum(-1),  # wrong sample count
        lambda b: float(b.detach().sum()),  # not a tensor
        lambda b: b.sum(-1).transpose(0, 1),  # batch dims in the wrong order
    ],
)
def test_bad_f_output_shape_says_the_expected_shapes(f):
    dist = OneHotCategorical(logits=torch.zeros(2, 3, 4))
    for est in (REINFORCE(), REBAR(), GumbelSoftmax(), Exact()):
        with pytest.raises(
            ValueError, match=r"f must return .* one of \(\d+,\), \(\d+, 2\), \(\d+, 2, 3\)"
        ):
            est(f, dist, 4)


def test_relax_control_output_shape_is_checked():
    with pytest.raises(ValueError, match="control must return"):
        RELAX(SumControl(0))(lambda b: b.sum(-1), Bernoulli(logits=torch.zeros(2, 3)), 4)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("family", [BERNOULLI, CATEGORICAL])
def test_extreme_logits_and_low_temperature_give_finite_gradients_in_the_logits_dtype(
    dtype, family
):
    raw = torch.tensor([[50.0, -50.0, 0.0], [-50.0, 50.0, 3.0]], dtype=dtype)
    for name, est in estimators(family).items():
        if not est.joint_variables:  # f below couples every variable; refusal tested above
            continue
        if hasattr(est, "_temperature"):
            est.temperature = 0.05
        est = est.to(dtype)
        torch.manual_seed(0)
        logits = raw.clone().requires_grad_(True)
        loss = est(lambda b: (b.flatten(1) - 0.45).pow(2).sum(-1), make(family, logits), 8)
        loss.backward()
        assert loss.dtype == dtype, name
        assert logits.grad.dtype == dtype, name
        assert torch.isfinite(loss).all() and torch.isfinite(logits.grad).all(), name
        if hasattr(est, "loss_and_variance") and list(est.parameters()):
            _, variance = est.loss_and_variance(
                lambda b: (b.flatten(1) - 0.45).pow(2).sum(-1), make(family, logits), 8
            )
            variance.backward(inputs=list(est.parameters()))
            assert torch.isfinite(variance), name
            assert all(torch.isfinite(p.grad).all() for p in est.parameters()), name


def test_control_variate_estimators_send_no_gradient_to_their_own_parameters():
    """loss.backward() is the estimator only; the variance surrogate tunes the parameters."""
    logits = torch.zeros(3, requires_grad=True)
    for est in (REBAR(), RELAX(), RELAX(SumControl(0))):
        f = lambda b: (b - 0.45).pow(2).sum(-1)  # noqa: E731
        est(f, Bernoulli(logits=logits), 4).backward()
        assert all(p.grad is None or (p.grad == 0).all() for p in est.parameters())
        _, variance = est.loss_and_variance(f, Bernoulli(logits=logits), 4)
        assert variance.dim() == 0
        variance.backward(inputs=list(est.parameters()))
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in est.parameters())


def test_ema_baseline_state():
    est = REINFORCE("ema", decay=0.5)
    logits = torch.zeros(2)
    est(lambda b: torch.full(b.shape[:1], 2.0), Bernoulli(logits=logits), 3)
    assert est.ema.item() == pytest.approx(2.0)
    est(lambda b: torch.full(b.shape[:1], 4.0), Bernoulli(logits=logits), 3)
    assert est.ema.item() == pytest.approx(3.0)


def test_works_without_gradients():
    with torch.no_grad():
        for est in estimators(CATEGORICAL).values():
            loss = est(lambda b: b[..., 0], OneHotCategorical(logits=torch.zeros(3)), 2)
            assert loss.shape == ()


# --- Exact


def test_exact_matches_hand_derived_gradients():
    # Bernoulli: E[b0 b1 + 2 b0] = p0 p1 + 2 p0, d/dphi_i p_i = p_i (1 - p_i)
    x = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    loss = Exact()(lambda b: b[..., 0] * b[..., 1] + 2 * b[..., 0], Bernoulli(logits=x), 1)
    loss.backward()
    p = torch.sigmoid(x.detach())
    assert loss.item() == pytest.approx((p[0] * p[1] + 2 * p[0]).item(), rel=1e-12)
    expected = torch.stack([p[0] * (1 - p[0]) * (p[1] + 2), p[1] * (1 - p[1]) * p[0]])
    assert torch.allclose(x.grad, expected, rtol=1e-12)
    # categorical: E[v_b] = sum p_k v_k, d/dphi_j = p_j (v_j - E)
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    v = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
    loss = Exact()(lambda b: b @ v, OneHotCategorical(logits=x), 1)
    loss.backward()
    p = torch.softmax(x.detach(), -1)
    mean = (p * v).sum()
    assert loss.item() == pytest.approx(mean.item(), rel=1e-12)
    assert torch.allclose(x.grad, p * (v - mean), rtol=1e-12)


def test_exact_items_and_chunks():
    """Per-item expectations (m = 1), the same for any chunk size."""
    x = torch.randn(3, 2, 4, dtype=torch.float64)
    f = lambda b: (b.flatten(2) * torch.arange(8.0, dtype=b.dtype)).sum(-1).cos()  # noqa: E731
    grads = []
    for chunk in (1, 7, 1024):
        xx = x.clone().requires_grad_(True)
        loss = Exact(chunk_size=chunk)(f, OneHotCategorical(logits=xx), 1)
        assert loss.shape == (3,)
        loss.sum().backward()
        grads.append((loss.detach(), xx.grad))
    for loss, grad in grads[:2]:
        assert torch.allclose(loss, grads[-1][0]) and torch.allclose(grad, grads[-1][1])
    # item 0 by brute force: 4 x 4 joint values
    p = torch.softmax(x[0], -1)
    eye = torch.eye(4, dtype=x.dtype)
    brute = sum(
        p[0, i] * p[1, j] * f(torch.stack([eye[i], eye[j]])[None, None]).squeeze()
        for i in range(4)
        for j in range(4)
    )
    assert grads[-1][0][0].item() == pytest.approx(brute.item(), rel=1e-12)


def test_exact_refuses_supports_beyond_its_limit():
    dist = Bernoulli(logits=torch.zeros(17))
    with pytest.raises(ValueError, match=r"2\*\*17 = 131072 values .* max_support=65536"):
        Exact()(lambda b: b.sum(-1), dist, 1)
    assert Exact(max_support=2**17)(lambda b: b.sum(-1), dist, 1).item() == pytest.approx(8.5)
    # the same 17 variables as independent items (m = 1) are 17 supports of size 2
    assert Exact()(lambda b: b, dist, 1).shape == (17,)


# --- noise


def test_conditional_noise_has_the_right_law():
    """Drawing b ~ p, then z~ ~ p(z | b), must give z ~ phi + logistic / Gumbel noise (KS test
    at level 1e-6 per coordinate; 5 tests)."""
    torch.manual_seed(0)
    n = 20_000
    phi = torch.tensor([0.7], dtype=torch.float64)
    problem = Problem(BERNOULLI, phi, phi.shape, torch.Size())
    z = problem.conditional(phi, problem.sample(n)).numpy()[:, 0]
    assert stats.kstest(z, stats.logistic(loc=0.7).cdf).pvalue > 1e-6
    phi = torch.log_softmax(torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64), -1)
    problem = Problem(CATEGORICAL, phi, torch.Size(), phi.shape)
    z = problem.conditional(phi, problem.sample(n)).numpy()
    for k in range(4):
        assert stats.kstest(z[:, k], stats.gumbel_r(loc=phi[k].item()).cdf).pvalue > 1e-6
    assert np.all(np.isfinite(z))


def test_straight_through_is_exact_for_linear_f():
    """For f linear in b the ST gradient is E's gradient, for every sample."""
    w = torch.tensor([0.5, -1.0, 2.0])
    x = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    StraightThrough()(lambda b: b @ w, Bernoulli(logits=x), 3).backward()
    p = torch.sigmoid(x.detach())
    assert torch.allclose(x.grad, w * p * (1 - p))
    x.grad = None
    StraightThrough()(lambda b: b @ w, OneHotCategorical(logits=x), 3).backward()
    p = torch.softmax(x.detach(), -1)
    assert torch.allclose(x.grad, p * (w - (p * w).sum()))
