"""Training loop of ``relaxit vae``: one process, or one rank of ``torchrun`` with
DistributedDataParallel (gloo on CPU, nccl on CUDA); only rank 0 writes."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from relaxit.vae.config import ARCHS, LATENTS, VAEConfig
from relaxit.vae.data import Dataset, binarize_fixed, load_dataset
from relaxit.vae.methods import EXACT_MAX_STATES, get_method, n_latent_states
from relaxit.vae.models import DiscreteVAE


def resolve(config: VAEConfig) -> VAEConfig:
    """Fill the method's defaults into ``None`` fields and validate every setting."""
    method = get_method(config.method)
    c = replace(
        config,
        latent=config.latent or method.latents[0],
        tau0=method.tau0 if config.tau0 is None else config.tau0,
        tau_min=method.tau_min if config.tau_min is None else config.tau_min,
        anneal_rate=method.anneal_rate if config.anneal_rate is None else config.anneal_rate,
        n_samples=method.n_samples if config.n_samples is None else config.n_samples,
    )
    if c.latent not in LATENTS:
        raise ValueError(f"latent must be one of {LATENTS}; got {c.latent!r}")
    if c.latent not in method.latents:
        raise ValueError(
            f"method {c.method!r} supports latent {'/'.join(method.latents)}, not {c.latent!r}"
        )
    if c.arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}; got {c.arch!r}")
    positive = {
        "bits": c.bits,
        "n_vars": c.n_vars,
        "hidden": c.hidden,
        "batch_size": c.batch_size,
        "n_samples": c.n_samples,
        "eval_samples": c.eval_samples,
    }
    for name, value in positive.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1; got {value}")
    if c.n_classes < 2:
        raise ValueError(f"n_classes must be >= 2; got {c.n_classes}")
    if (c.steps is None and c.epochs < 1) or (c.steps is not None and c.steps < 1):
        raise ValueError(f"epochs and steps must be >= 1; got epochs={c.epochs}, steps={c.steps}")
    if not (c.lr > 0 and c.tau0 > 0 and c.tau_min > 0 and c.anneal_rate >= 0):
        raise ValueError("lr, tau0, tau_min must be > 0 and anneal_rate >= 0")
    if c.method == "exact":
        states = n_latent_states(c.latent, c.bits, c.n_vars, c.n_classes)
        if states > EXACT_MAX_STATES:
            raise ValueError(
                f"method 'exact' enumerates all {states:.3g} latent states; at most "
                f"{EXACT_MAX_STATES} are allowed (use e.g. --bits 8)"
            )
    return c


def temperature(c: VAEConfig, step: int) -> float:
    """tau = max(tau_min, tau0 * exp(-anneal_rate * step)) (Jang et al. 2017)."""
    return max(c.tau_min, c.tau0 * math.exp(-c.anneal_rate * step))


def _dist_env() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def _device(c: VAEConfig, local_rank: int) -> torch.device:
    if c.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    return torch.device(c.device)


def default_out(c: VAEConfig, dataset: Dataset) -> Path:
    return Path("runs") / f"vae-{dataset.name}-{c.method}-{c.latent}-{c.arch}-seed{c.seed}"


def train(config: VAEConfig) -> dict[str, Any]:
    """Train the VAE that ``config`` describes; write metrics.json and the PNGs (rank 0) to
    ``config.out`` and return the metrics dict (on every rank).

    Adam on the per-example loss (method's surrogate of E_q[-log p(x|b)] + exact KL), dynamic
    binarization of the training images, a fixed binarization of the test images; after each
    epoch a one-sample test -ELBO, at the end the -ELBO and the ``eval_samples``-sample
    importance-weighted bound on ``eval_examples`` test images. Under ``torchrun`` each rank
    takes every ``world_size``-th image of each global batch (DistributedSampler-style), DDP
    averages the gradients, and the metrics are summed over ranks.

    Examples:
        >>> m = train(VAEConfig(dataset="digits", steps=3, bits=8, hidden=16, batch_size=50,
        ...                     eval_samples=4, quiet=True, out="/tmp/relaxit-vae-doc"))
        >>> m["steps"], m["examples_seen"], sorted(m["final"])
        (3, 150, ['eval_examples', 'eval_samples', 'test_neg_elbo', 'test_neg_iw_bound'])
    """
    c = resolve(config)
    world, rank, local_rank = _dist_env()
    device = _device(c, local_rank)
    if world > 1:
        if c.batch_size % world:
            raise ValueError(
                f"batch_size {c.batch_size} must be divisible by the {world} processes"
            )
        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    try:
        metrics = _train(c, world, rank, device)
        if world > 1:
            # Tear down together: a gloo rank whose peer destroys the group while it is still
            # busy (rank 0 writing its files) can abort at exit ("terminate called without an
            # active exception"), seen about once in ten 2-process runs without this barrier.
            dist.barrier()
        return metrics
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _all_sum(values: list[float], world: int, device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


def _train(c: VAEConfig, world: int, rank: int, device: torch.device) -> dict[str, Any]:
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    data = load_dataset(c.dataset)
    torch.manual_seed(c.seed)
    train_x = data.train.to(device)
    test_x = binarize_fixed(data.test, seed=c.seed).to(device)
    latent_shape = (c.bits,) if c.latent == "bernoulli" else (c.n_vars, c.n_classes)
    method = get_method(c.method)
    objective = method.make(c.latent, math.prod(latent_shape))
    model = DiscreteVAE(
        data.n_pixels,
        c.latent,
        latent_shape,
        c.arch,
        c.hidden,
        objective,
        data.train.mean(0) if c.mean_init else None,
    ).to(device)
    ddp = model
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = torch.optim.Adam(model.parameters(), lr=c.lr)
    torch.manual_seed(c.seed + 1000 * rank)  # each rank its own noise, same model

    steps_per_epoch = len(train_x) // c.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {c.batch_size} exceeds the {len(train_x)} training images")
    total = c.steps if c.steps is not None else c.epochs * steps_per_epoch
    n_eval = len(test_x) if c.eval_examples is None else min(c.eval_examples, len(test_x))
    eval_idx = torch.arange(rank, n_eval, world, device=device)

    def evaluate(n_samples: int) -> tuple[float, float]:
        model.eval()
        sums = [0.0, 0.0]
        for chunk in eval_idx.split(max(1, 20000 // max(1, min(n_samples, 100)))):
            neg_elbo, neg_iw = model.bounds(test_x[chunk], n_samples)
            sums[0] += neg_elbo.sum().item()
            sums[1] += neg_iw.sum().item()
        model.train()
        total_elbo, total_iw = _all_sum(sums, world, device)
        return total_elbo / n_eval, total_iw / n_eval

    bar = tqdm(total=total, disable=c.quiet or rank != 0, desc=f"vae {c.method}", file=sys.stderr)

    def log(msg: str) -> None:
        if rank == 0:
            bar.write(msg, file=sys.stderr)

    step_losses: list[float] = []
    epochs: list[dict[str, Any]] = []
    seen_local = 0
    running = None
    t_train = 0.0
    step = 0
    epoch = 0
    while step < total:
        perm = torch.randperm(
            len(train_x), generator=torch.Generator().manual_seed(c.seed + epoch)
        ).to(device)
        epoch_sum, epoch_n = 0.0, 0
        for i in range(steps_per_epoch):
            if step >= total:
                break
            t0 = time.perf_counter()
            idx = perm[i * c.batch_size : (i + 1) * c.batch_size][rank::world]  # this rank's shard
            x = torch.bernoulli(train_x[idx])  # dynamic binarization
            tau = temperature(c, step)
            loss = ddp(x, c.n_samples, tau).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            t_train += time.perf_counter() - t0
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"{c.method}: non-finite training loss {value} at step {step}"
                )
            step_losses.append(value)
            epoch_sum += value * len(idx)
            epoch_n += len(idx)
            seen_local += len(idx)
            running = value if running is None else 0.98 * running + 0.02 * value
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{running:.2f}", tau=f"{tau:.3f}")
        epoch += 1
        train_sum, train_n = _all_sum([epoch_sum, float(epoch_n)], world, device)
        test_elbo, _ = evaluate(1)
        epochs.append(
            {
                "epoch": epoch,
                "step": step,
                "examples": int(train_n),
                "train_loss": train_sum / train_n,
                "test_neg_elbo": test_elbo,
            }
        )
        log(
            f"epoch {epoch} step {step}: train loss {train_sum / train_n:.2f}, "
            f"test -ELBO {test_elbo:.2f}"
        )
    bar.close()
    final_elbo, final_iw = evaluate(c.eval_samples)
    (examples_seen,) = _all_sum([float(seen_local)], world, device)
    metrics: dict[str, Any] = {
        "config": c.to_dict(),
        "method": {
            "name": method.name,
            "kind": method.kind,
            "uses": method.uses,
            "reference": method.reference,
        },
        "dataset": {
            "name": data.name,
            "n_train": len(data.train),
            "n_test": len(data.test),
            "image_shape": list(data.image_shape),
            "n_eval": n_eval,
        },
        "world_size": world,
        "steps": step,
        "examples_seen": int(examples_seen),
        "tau_final": temperature(c, step - 1),
        "epochs": epochs,
        "train_loss_per_step": step_losses,
        "final": {
            "test_neg_elbo": final_elbo,
            "test_neg_iw_bound": final_iw,
            "eval_samples": c.eval_samples,
            "eval_examples": n_eval,
        },
        "wall_time_per_step_s": t_train / step,
        "wall_time_total_s": time.perf_counter() - t_start,
    }
    if rank == 0:
        out = Path(c.out) if c.out else default_out(c, data)
        metrics["out"] = str(out)
        _write_outputs(out, metrics, model, test_x, data.image_shape, c.seed)
    return metrics


def _write_outputs(
    out: Path,
    metrics: dict[str, Any],
    model: DiscreteVAE,
    test_x: torch.Tensor,
    image_shape: tuple[int, int],
    seed: int,
) -> None:
    from relaxit.vae.plots import plot_loss_curves, plot_prior_samples, plot_reconstructions

    out.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):  # pictures do not change the training stream
        torch.manual_seed(seed)
        metrics["pictures"] = {
            "reconstructions": str(
                plot_reconstructions(out / "reconstructions.png", model, test_x[:40], image_shape)
            ),
            "prior_samples": str(plot_prior_samples(out / "prior_samples.png", model, image_shape)),
            "loss_curves": str(plot_loss_curves(out / "loss_curves.png", metrics)),
        }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
