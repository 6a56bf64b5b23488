"""Training loop of ``relaxit vae``: one process, or one rank of ``torchrun`` with
DistributedDataParallel (gloo on CPU, nccl on CUDA); only rank 0 writes."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from relaxit._hardware import device_name
from relaxit._io import check_out_dir
from relaxit.vae.config import (
    ACTIVATIONS,
    ARCHS,
    BINARIZATIONS,
    LATENTS,
    OBJECTIVES,
    PRIORS,
    VAEConfig,
)
from relaxit.vae.data import Dataset, binarize_fixed, load_dataset
from relaxit.vae.methods import EXACT_MAX_STATES, METHODS, get_method, n_latent_states
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
    choices = {
        "binarize": (c.binarize, BINARIZATIONS),
        "activation": (c.activation, ACTIVATIONS),
        "prior": (c.prior, PRIORS),
        "select": (c.select, (None, "valid")),
    }
    for name, (value, allowed) in choices.items():
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    c.hidden_layers()  # validates hidden_sizes
    at_least_one = {
        "lr_decay_every": c.lr_decay_every,
        "anneal_every": c.anneal_every,
        "eval_every": 1 if c.eval_every is None else c.eval_every,
    }
    for name, value in at_least_one.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1; got {value}")
    if not 0 < c.lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1]; got {c.lr_decay}")
    if c.prior_lr is not None and not c.prior_lr > 0:
        raise ValueError(f"prior_lr must be > 0; got {c.prior_lr}")
    if c.prior_lr is not None and c.prior != "learned":
        raise ValueError("prior_lr needs prior='learned'")
    if c.valid_examples < 0 or c.checkpoint_every < 0:
        raise ValueError("valid_examples and checkpoint_every must be >= 0")
    if c.select == "valid" and c.valid_examples < 1:
        raise ValueError("select='valid' needs valid_examples >= 1 held-out training images")
    if c.objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}; got {c.objective!r}")
    if method.objective != c.objective:
        multi = ", ".join(m.name for m in METHODS.values() if m.objective == "iwae")
        raise ValueError(
            f"objective {c.objective!r} needs a method that trains it; method {c.method!r} "
            f"trains the {method.objective!r} objective (objective={method.objective!r})"
            + (f" (the iwae objective's methods: {multi})" if c.objective == "iwae" else "")
        )
    if c.objective == "iwae" and c.n_samples < 2:
        raise ValueError(f"objective 'iwae' needs n_samples >= 2; got {c.n_samples}")
    if c.eval_examples is not None and c.eval_examples < 1:
        raise ValueError(f"eval_examples must be >= 1 (or omitted for all); got {c.eval_examples}")
    for f in fields(c):
        value = getattr(c, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{f.name} must be finite; got {value}")
    check_device(c.device)
    if c.method == "exact":
        states = n_latent_states(c.latent, c.bits, c.n_vars, c.n_classes)
        if states > EXACT_MAX_STATES:
            raise ValueError(
                f"method 'exact' enumerates all {states:.3g} latent states; at most "
                f"{EXACT_MAX_STATES} are allowed (use e.g. --bits 8)"
            )
    return c


def temperature(c: VAEConfig, step: int) -> float:
    """tau = max(tau_min, tau0 * exp(-anneal_rate * t)) with t the step rounded down to a
    multiple of ``anneal_every`` (Jang et al. 2017)."""
    t = c.anneal_every * (step // c.anneal_every)
    return max(c.tau_min, c.tau0 * math.exp(-c.anneal_rate * t))


def learning_rate(c: VAEConfig, step: int) -> float:
    """lr * lr_decay ** (step // lr_decay_every): piecewise constant decay."""
    return c.lr * c.lr_decay ** (step // c.lr_decay_every)


def prepare_data(
    c: VAEConfig, data: Dataset
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """(train, valid, test) images as the run sees them (see `VAEConfig`): ``dynamic`` keeps
    the training grey levels (binarized at each use) and binarizes validation and test once;
    ``fixed`` binarizes all three once; ``threshold`` thresholds at 1/2; ``grey`` keeps grey
    levels. The fixed binarizations use ``binarize_seed`` (default: ``seed``) for the test set,
    ``+1`` for validation and ``+2`` for training, so the test images do not depend on the
    validation split."""
    train, valid = data.train, None
    if c.valid_examples:
        if c.valid_examples >= len(train):
            raise ValueError(
                f"valid_examples {c.valid_examples} must be below the {len(train)} training images"
            )
        train, valid = train[: -c.valid_examples], train[-c.valid_examples :]
    seed = c.seed if c.binarize_seed is None else c.binarize_seed
    if c.binarize in ("dynamic", "fixed"):
        test = binarize_fixed(data.test, seed=seed)
        valid = None if valid is None else binarize_fixed(valid, seed=seed + 1)
        if c.binarize == "fixed":
            train = binarize_fixed(train, seed=seed + 2)
        return train, valid, test
    if c.binarize == "threshold":
        thr = lambda x: (x > 0.5).to(x.dtype)  # noqa: E731
        return thr(train), None if valid is None else thr(valid), thr(data.test)
    return train, valid, data.test


def _dist_env() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def check_device(name: str) -> None:
    """``ValueError`` unless ``name`` is ``auto`` or a device of this machine (``cpu``,
    ``cuda``/``cuda:i`` with a GPU ``i``, ...)."""
    if name == "auto":
        return
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be auto, cpu or cuda[:i]; got {name!r}") from err
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ValueError(f"device {name!r}: no CUDA GPU is available (use cpu or auto)")
        if device.index is not None and device.index >= count:
            raise ValueError(f"device {name!r}: this machine has {count} CUDA GPU(s)")
    elif device.type not in ("cpu", "meta"):
        available = getattr(torch, device.type, None)
        if available is None or not available.is_available():
            raise ValueError(f"device {name!r} is not available on this machine")


def _device(c: VAEConfig, local_rank: int) -> torch.device:
    """This process's device. ``auto``: its own GPU (``cuda:LOCAL_RANK``) when every process on
    the node has one, else the CPU for all of them (two ranks on one GPU would break NCCL);
    ``cuda`` without an index under ``torchrun``: ``cuda:LOCAL_RANK``."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if c.device == "auto":
        per_node = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        return torch.device("cuda", local_rank) if per_node <= gpus else torch.device("cpu")
    device = torch.device(c.device)
    if device.type == "cuda" and device.index is None:
        if local_rank >= gpus:
            raise ValueError(
                f"device cuda: process {local_rank} on this node has no GPU of its own "
                f"({gpus} GPU(s)); start at most {gpus} processes per node, or use cpu"
            )
        return torch.device("cuda", local_rank)
    return device


def default_out(c: VAEConfig, dataset: Dataset) -> Path:
    return Path("runs") / f"vae-{dataset.name}-{c.method}-{c.latent}-{c.arch}-seed{c.seed}"


CHECKPOINT = "checkpoint.pt"
_FREE_ON_RESUME = {"steps", "epochs", "resume", "quiet", "out", "checkpoint_every", "device"}
"""Settings a resumed run may change: how long it runs and how it reports, nothing it learns
from."""


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a kill mid-write leaves the previous checkpoint intact


def _load_checkpoint(path: Path, c: VAEConfig) -> dict[str, Any]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    # a setting the checkpoint does not know (added to VAEConfig since) had its default then
    saved = {**VAEConfig().to_dict(), **state["config"]}
    now = c.to_dict()
    diff = sorted(k for k in now if k not in _FREE_ON_RESUME and saved[k] != now[k])
    if diff:
        raise ValueError(
            f"{path} was written by a run with other settings ({', '.join(diff)}: "
            + ", ".join(f"{saved[k]!r} there, {now[k]!r} now" for k in diff)
            + "); resume it with the same settings or remove it"
        )
    return state


def train(config: VAEConfig) -> dict[str, Any]:
    """Train the VAE that ``config`` describes; write metrics.json and the PNGs (rank 0) to
    ``config.out`` and return the metrics dict (on every rank).

    Adam on the per-example loss (method's surrogate of E_q[-log p(x|b)] + exact KL), dynamic
    binarization of the training images, a fixed binarization of the test images; after each
    epoch a one-sample test -ELBO, at the end the -ELBO and the ``eval_samples``-sample
    importance-weighted bound on ``eval_examples`` test images. Under ``torchrun`` each rank
    takes every ``world_size``-th image of each global batch (DistributedSampler-style), DDP
    averages the gradients, and the metrics are summed over ranks.

    With ``checkpoint_every`` the run checkpoints its model, optimizers, loop state and random
    generator; with ``resume`` it continues from there, on this device or another (a CPU
    checkpoint on a GPU, say): the metrics' ``hardware`` lists each stretch of steps with what
    it ran on and its time, so that a run's ms/step is never a silent mix of machines.

    Examples:
        >>> m = train(VAEConfig(dataset="digits", steps=3, bits=8, hidden=16, batch_size=50,
        ...                     eval_samples=4, quiet=True, out="/tmp/relaxit-vae-doc"))
        >>> m["steps"], m["examples_seen"], sorted(m["final"])[-4:]
        (3, 150, ['test_neg_elbo', 'test_neg_iw_bound', 'test_neg_k_bound',
         'test_relaxed_objective'])
    """
    c = resolve(config)
    check_out_dir(Path(c.out) if c.out else Path("runs"), "out")  # before any training
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
        with flushed_denormals():
            metrics = _train(c, world, rank, device)
        if world > 1:
            # Tear down together: a gloo rank whose peer destroys the group while it is still
            # busy (rank 0 writing its files) can abort at exit ("terminate called without an
            # active exception"), seen about once in ten 2-process runs without this barrier.
            # Collect first: the DistributedDataParallel wrapper holds the group through
            # reference cycles, and a group still alive at interpreter exit aborts the same way.
            gc.collect()
            dist.barrier()
        return metrics
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


@contextlib.contextmanager
def flushed_denormals() -> Iterator[None]:
    """Flush denormal floats to zero on the CPU while training, restoring the setting after.

    Adam's moment estimates of parameters that get no gradient (weights of MNIST's always-black
    border pixels) decay geometrically into the denormal range, where x86 arithmetic is about
    100x slower: without flushing, the optimizer step of the 512-256 VAE at batch 20 took 15 of
    its 20 ms after 1000 steps. Values below 1.2e-38 change nothing measurable (a 3000-step run
    gave the same test -ELBO to every printed digit).
    """
    was_on = (torch.tensor(1e-40) * 1.0).item() == 0.0  # torch has no getter for the flag
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(was_on)


def _all_sum(values: list[float], world: int, device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


def _train(c: VAEConfig, world: int, rank: int, device: torch.device) -> dict[str, Any]:
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    data = load_dataset(c.dataset)
    out = Path(c.out) if c.out else default_out(c, data)
    if c.checkpoint_every and world > 1:
        raise ValueError("checkpoint_every works in one process only (not under torchrun)")
    torch.manual_seed(c.seed)
    train_cpu, valid_cpu, test_cpu = prepare_data(c, data)
    train_x, test_x = train_cpu.to(device), test_cpu.to(device)
    valid_x = None if valid_cpu is None else valid_cpu.to(device)
    latent_shape = (c.bits,) if c.latent == "bernoulli" else (c.n_vars, c.n_classes)
    method = get_method(c.method)
    objective = method.make(c.latent, math.prod(latent_shape))
    model = DiscreteVAE(
        data.n_pixels,
        c.latent,
        latent_shape,
        c.arch,
        c.hidden_layers() or c.hidden,
        objective,
        train_cpu.mean(0) if c.mean_init else None,
        activation=c.activation,
        negative_slope=c.negative_slope,
        prior=c.prior,
        signed_inputs=c.signed_inputs,
    ).to(device)
    ddp = model
    if world > 1:
        ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    prior_params = [] if model.prior_logits is None else [model.prior_logits]
    rest = [p for p in model.parameters() if all(p is not q for q in prior_params)]
    optimizers = [torch.optim.Adam(rest if c.prior_lr else list(model.parameters()), lr=c.lr)]
    if c.prior_lr:  # Dong et al. 2020 train the prior logits by plain SGD
        optimizers.append(torch.optim.SGD(prior_params, lr=c.prior_lr))
    torch.manual_seed(c.seed + 1000 * rank)  # each rank its own noise, same model

    steps_per_epoch = len(train_x) // c.batch_size
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {c.batch_size} exceeds the {len(train_x)} training images")
    total = c.steps if c.steps is not None else c.epochs * steps_per_epoch
    n_eval = len(test_x) if c.eval_examples is None else min(c.eval_examples, len(test_x))
    eval_idx = torch.arange(rank, n_eval, world, device=device)

    def evaluate(images: torch.Tensor, idx: torch.Tensor, n: int, n_samples: int):
        model.eval()
        sums = [0.0, 0.0]
        for chunk in idx.split(max(1, 20000 // max(1, min(n_samples, 100)))):
            neg_elbo, neg_iw = model.bounds(images[chunk], n_samples)
            sums[0] += neg_elbo.sum().item()
            sums[1] += neg_iw.sum().item()
        model.train()
        total_elbo, total_iw = _all_sum(sums, world, device)
        return total_elbo / n, total_iw / n

    st: dict[str, Any] = {
        "step": 0,
        "epoch": 0,
        "start_i": 0,
        "epoch_sum": 0.0,
        "epoch_n": 0,
        "step_losses": [],
        "epochs": [],
        "seen_local": 0,
        "running": None,
        "t_train": 0.0,
        "best": None,
        "segments": [],
    }
    resumed_from = None
    ckpt_path = out / CHECKPOINT
    if c.resume and ckpt_path.is_file():
        saved = _load_checkpoint(ckpt_path, c)
        model.load_state_dict(saved["model"])
        for opt, opt_state in zip(optimizers, saved["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
        st = saved["loop"]
        resumed_from = st["step"]
        if saved.get("rng_device", "cpu") == device.type:
            torch.set_rng_state(saved["rng"])
            if device.type == "cuda":
                torch.cuda.set_rng_state(saved["cuda_rng"], device)
        else:  # the other device's generator state means nothing here: a fresh stream
            torch.manual_seed(c.seed + 1000 * rank + 1_000_003 * resumed_from)
        if "segments" not in st:  # written before runs recorded their hardware
            st["segments"] = [{"from_step": 0, "hardware": None, "train_s": st["t_train"]}]
    # what this process trains on, from which step: a run resumed elsewhere says so
    st["segments"].append(
        {"from_step": st["step"], "hardware": device_name(device), "train_s": 0.0}
    )

    def checkpoint(i_next: int) -> None:
        if rank == 0:
            loop = {**st, "start_i": i_next}
            _save_checkpoint(
                ckpt_path,
                {
                    "config": c.to_dict(),
                    "model": model.state_dict(),
                    "optimizers": [o.state_dict() for o in optimizers],
                    "rng": torch.get_rng_state(),
                    "rng_device": device.type,
                    "cuda_rng": (
                        torch.cuda.get_rng_state(device) if device.type == "cuda" else None
                    ),
                    "loop": loop,
                },
            )

    def record_eval() -> None:
        train_sum, train_n = _all_sum([st["epoch_sum"], float(st["epoch_n"])], world, device)
        test_elbo, _ = evaluate(test_x, eval_idx, n_eval, 1)
        point = {
            "epoch": st["epoch"],
            "step": st["step"],
            "examples": int(train_n),
            "train_loss": train_sum / max(train_n, 1.0),
            "test_neg_elbo": test_elbo,
        }
        msg = f"epoch {st['epoch']} step {st['step']}: test -ELBO {test_elbo:.2f}"
        if c.quiet and st["step"] < total:  # the progress bar's ETA is off: say it here
            per_step = st["t_train"] / max(1, len(st["step_losses"]))
            left = int(per_step * (total - st["step"]))
            msg = (
                f"epoch {st['epoch']} step {st['step']}/{total} ({per_step * 1e3:.0f} ms/step, "
                f"ETA {left // 3600}h{left % 3600 // 60:02d}m): test -ELBO {test_elbo:.2f}"
            )
        if valid_x is not None:
            valid_idx = torch.arange(rank, len(valid_x), world, device=device)
            point["valid_neg_elbo"], _ = evaluate(valid_x, valid_idx, len(valid_x), 1)
            msg += f", valid -ELBO {point['valid_neg_elbo']:.2f}"
            best = st["best"]
            if c.select == "valid" and (best is None or point["valid_neg_elbo"] < best["value"]):
                st["best"] = {
                    "value": point["valid_neg_elbo"],
                    "step": st["step"],
                    "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                }
        st["epochs"].append(point)
        log(msg)

    bar = tqdm(
        total=total,
        initial=min(st["step"], total),
        disable=c.quiet or rank != 0,
        desc=f"vae {c.method}",
        file=sys.stderr,
    )

    def log(msg: str) -> None:
        if rank == 0:
            bar.write(msg, file=sys.stderr)

    if resumed_from is not None:
        log(f"resumed from {ckpt_path} at step {resumed_from}")
    while st["step"] < total:
        perm = torch.randperm(
            len(train_x), generator=torch.Generator().manual_seed(c.seed + st["epoch"])
        ).to(device)
        start_i, st["start_i"] = st["start_i"], 0
        if start_i == 0:
            st["epoch_sum"], st["epoch_n"] = 0.0, 0
        for i in range(start_i, steps_per_epoch):
            if st["step"] >= total:
                break
            step = st["step"]
            t0 = time.perf_counter()
            idx = perm[i * c.batch_size : (i + 1) * c.batch_size][rank::world]  # this rank's shard
            x = torch.bernoulli(train_x[idx]) if c.binarize == "dynamic" else train_x[idx]
            tau = temperature(c, step)
            lr = learning_rate(c, step)
            for group in optimizers[0].param_groups:
                group["lr"] = lr
            loss = ddp(x, c.n_samples, tau).mean()
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optimizers:
                opt.step()
            seconds = time.perf_counter() - t0
            st["t_train"] += seconds
            st["segments"][-1]["train_s"] += seconds
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"{c.method}: non-finite training loss {value} at step {step}"
                )
            st["step_losses"].append(value)
            st["epoch_sum"] += value * len(idx)
            st["epoch_n"] += len(idx)
            st["seen_local"] += len(idx)
            run = st["running"]
            st["running"] = value if run is None else 0.98 * run + 0.02 * value
            st["step"] += 1
            bar.update(1)
            bar.set_postfix(loss=f"{st['running']:.2f}", tau=f"{tau:.3f}")
            if c.eval_every and st["step"] % c.eval_every == 0:
                record_eval()
            if c.checkpoint_every and st["step"] % c.checkpoint_every == 0:
                checkpoint(i + 1)
        st["epoch"] += 1
        if not c.eval_every or (st["step"] >= total and st["step"] % c.eval_every):
            record_eval()
    bar.close()
    step = st["step"]
    selected = st["best"]
    if selected is not None:
        model.load_state_dict(selected["state"])
    final_elbo, final_iw = evaluate(test_x, eval_idx, n_eval, c.eval_samples)
    _, final_k = evaluate(test_x, eval_idx, n_eval, c.n_samples)
    relaxed = None
    if method.kind == "relaxation":
        # The training objective on the test images at the final temperature (relaxed latents
        # in the decoder, exact KL): what a relaxation's own code reports (Jang et al.'s
        # notebook prints it), not a bound on the discrete model's likelihood. In its own
        # random stream, so that it changes nothing else.
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(c.seed)
            tau_final = temperature(c, step - 1)
            loss_sum = sum(
                model(test_x[chunk], 10, tau_final).sum().item() for chunk in eval_idx.split(500)
            )
        relaxed = _all_sum([loss_sum], world, device)[0] / n_eval
    (examples_seen,) = _all_sum([float(st["seen_local"])], world, device)
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
            "n_train": len(train_x),
            "n_valid": 0 if valid_x is None else len(valid_x),
            "n_test": len(test_x),
            "image_shape": list(data.image_shape),
            "n_eval": n_eval,
        },
        "world_size": world,
        "steps": step,
        "examples_seen": int(examples_seen),
        "tau_final": temperature(c, step - 1),
        "lr_final": learning_rate(c, step - 1),
        "resumed_from_step": resumed_from,
        "selected_step": None if selected is None else selected["step"],
        "epochs": st["epochs"],
        "train_loss_per_step": st["step_losses"],
        "final": {
            "test_neg_elbo": final_elbo,
            "test_neg_iw_bound": final_iw,
            "test_relaxed_objective": relaxed,
            "test_neg_k_bound": final_k,
            "k_samples": c.n_samples,
            "eval_samples": c.eval_samples,
            "eval_examples": n_eval,
        },
        "wall_time_per_step_s": st["t_train"] / step,
        "hardware": _hardware_segments(st["segments"], step),
        "wall_time_total_s": time.perf_counter() - t_start,
    }
    if rank == 0:
        metrics["out"] = str(out)
        _write_outputs(out, metrics, model, test_x, data.image_shape, c.seed)
    return metrics


def _hardware_segments(segments: list[dict[str, Any]], steps: int) -> list[dict[str, Any]]:
    """Each stretch of training one process did: its first step, its number of steps, what
    it ran on (`relaxit._hardware.device_name`; None: not recorded, a checkpoint from before
    runs recorded it) and its seconds in training steps. Stretches of no steps are left out."""
    ends = [s["from_step"] for s in segments[1:]] + [steps]
    out = [{**s, "steps": end - s["from_step"]} for s, end in zip(segments, ends, strict=True)]
    return [s for s in out if s["steps"] > 0]


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
    torch.save(model.state_dict(), out / "model.pt")  # the parameters evaluated
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
